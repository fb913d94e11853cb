"""hastack.openstack.recover refuses a malformed event, and hastack.openstack.host_restore a missing host, before
they talk to any cloud or cluster.

The playbook runs for real (ansible-playbook, implicit localhost); a bad event must fail in the role's argument
validation or preflight with a message naming what is wrong, before the first task that reaches OpenStack
("Find the host in Masakari") - the cloud named here does not exist, so reaching it would fail differently.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = ROOT / ".venv" / "bin" / "ansible-playbook"
FIRST_CLOUD_TASK = "Find the host in Masakari"


def run(extra, playbook="recover.yml"):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(ANSIBLE_PLAYBOOK), str(ROOT / "playbooks" / playbook), "-e", json.dumps(extra)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300)


GOOD = {"type": "COMPUTE_HOST", "hostname": "cmp1", "payload": {"event": "STOPPED", "host_status": "NORMAL"}}


@pytest.mark.parametrize(("extra", "message"), [
    ({"recover_cloud": "nowhere"}, "recover_event"),
    ({"recover_cloud": "nowhere", "recover_event": "cmp1 died"}, "recover_event"),
    ({"recover_cloud": "nowhere", "recover_event": dict(GOOD, type="HOST")}, "type COMPUTE_HOST, VM or PROCESS"),
    ({"recover_cloud": "nowhere", "recover_event": dict(GOOD, hostname="")}, "a hostname"),
    ({"recover_cloud": "nowhere", "recover_event": dict(GOOD, payload="STOPPED")}, "a payload"),
    ({"recover_event": GOOD}, "recover_cloud must name the cloud"),
], ids=["no-event", "event-not-a-dict", "unknown-type", "no-hostname", "payload-not-a-dict", "no-cloud"])
def test_a_malformed_event_fails_before_any_cloud_call(extra, message):
    result = run(extra)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert message in output, output[-3000:]
    assert FIRST_CLOUD_TASK not in output, output[-3000:]


def test_a_valid_event_gets_past_preflight_to_the_cloud():
    """The same run with a valid event reaches the first cloud task (and fails there: the cloud does not exist)."""
    result = run({"recover_cloud": "nowhere", "recover_event": GOOD})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert FIRST_CLOUD_TASK in output, output[-3000:]


@pytest.mark.parametrize(("extra", "message"), [
    ({"recover_cloud": "nowhere"}, "recover_restore_host must name the compute host"),
    ({"recover_cloud": "nowhere", "recover_restore_host": ["cmp1"]}, "recover_restore_host"),
    ({"recover_restore_host": "cmp1"}, "recover_cloud the cloud"),
], ids=["no-host", "host-not-a-string", "no-cloud"])
def test_host_restore_without_a_host_fails_before_any_cloud_call(extra, message):
    result = run(extra, "host_restore.yml")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert message in output, output[-3000:]
    assert FIRST_CLOUD_TASK not in output, output[-3000:]


def test_host_restore_with_a_host_gets_to_the_cloud():
    result = run({"recover_cloud": "nowhere", "recover_restore_host": "cmp1"}, "host_restore.yml")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert FIRST_CLOUD_TASK in output, output[-3000:]
