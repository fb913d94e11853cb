"""The AWX path of the event-driven recovery on the lab (issue 8): the rulebook hastack.openstack.recover_awx
(extensions/eda/rulebooks/recover_awx.yml) launches an AWX job template (run_job_template) of
hastack.openstack.recover instead of running the playbook itself.

AWX cannot run on the lab machines (it needs Kubernetes or Docker and a registry), so tests/lab/files/fake_awx.py, a
contract fake of the API that ansible-rulebook 1.3.2 (the version roles/recover_rulebook installs) uses, stands in
for it on the controller that runs the rulebook. Its job template runs what an AWX job template on
hastack.openstack.recover with "Prompt on launch" for variables runs: ansible-playbook of the collection's playbook
with the event as extra variables, here with the rulebook's own inventory and clouds.yaml (/etc/hastack/rulebook) and
the recovery_timeline callback, from the rulebook's virtualenv. Meanwhile the rulebook's Pacemaker resource is
stopped and ansible-rulebook runs recover_awx.yml in a transient unit with the resource unit's command and
environment, pointed at the fake (--controller-url, --controller-token, hastack_eda_job_template and
hastack_eda_organization). A guest's QEMU killed: exactly one launch for that event, the job successful (and
ansible-rulebook saw it so), the instance ACTIVE in a new QEMU, a VM timeline written by that job. Needs `make lab`
and `ansible-playbook -i inventories/lab playbooks/recover_rulebook.yml`; HASTACK_LAB_TESTS=1 only.
"""

import json
import os
import re
import secrets
import shlex

import pytest
import yaml
from labcloud import (CLOUD, ROOT, active, boot, computes, delete, kill_guest, podman, rulebook_node, segment_host,
                      set_rulebook, update_segment, utc, wait)

pytestmark = pytest.mark.skipif(
    os.environ.get("HASTACK_LAB_TESTS") != "1", reason="lab AWX rulebook test: run by `make test-full`"
)

TIMELINES = "/var/lib/hastack/timelines"
RULEBOOK_UNIT = "hastack-recover-rulebook"  # roles/recover_rulebook: the unit the Pacemaker resource runs
FAKE_AWX = ROOT / "tests" / "lab" / "files" / "fake_awx.py"
WORK = "/var/lib/hastack/test-fake-awx"  # on the controller; removed afterwards
STATE = f"{WORK}/state"
PORT = 8052
AWX_UNIT = "hastack-test-fake-awx"
AWX_RULEBOOK_UNIT = "hastack-test-awx-rulebook"
# recover_awx.yml's defaults of hastack_eda_job_template and hastack_eda_organization, set explicitly anyway.
TEMPLATE = "hastack.openstack recover"
ORGANIZATION = "Default"
COMPLETED = ("successful", "failed", "error", "canceled")
PROBE = (
    "import sys, urllib.error, urllib.request\n"
    f"base = 'http://127.0.0.1:{PORT}/api/v2/'\n"
    "urllib.request.urlopen(base + 'ping/', timeout=2)\n"
    "try:\n"
    "    urllib.request.urlopen(base + 'config/', timeout=2)\n"
    "except urllib.error.HTTPError as error:\n"
    "    sys.exit(0 if error.code == 401 else 1)\n"
    "sys.exit(1)\n"
)


def sh(node, script, check=True):
    return podman("exec", node, "sh", "-c", script, check=check).stdout


def unit_property(node, name):
    return podman("exec", node, "systemctl", "show", "--property", name, "--value", RULEBOOK_UNIT).stdout.strip()


def rulebook_unit(node):
    """The command, environment and working directory of the rulebook's systemd unit (the role's)."""
    exec_start = re.search(r"argv\[\]=(.*?) ;", unit_property(node, "ExecStart"))
    assert exec_start, f"no command in {RULEBOOK_UNIT}'s ExecStart: {unit_property(node, 'ExecStart')}"
    env = dict(item.partition("=")[::2] for item in shlex.split(unit_property(node, "Environment")))
    return shlex.split(exec_start.group(1)), env, unit_property(node, "WorkingDirectory")


def option(argv, name):
    return argv[argv.index(name) + 1]


def replaced(argv, name, value):
    argv = list(argv)
    argv[argv.index(name) + 1] = value
    return argv


def copy_file(node, tmp_path, name, data):
    local = tmp_path / name
    local.write_text(json.dumps(data, indent=2) if name.endswith(".json") else yaml.safe_dump(data))
    podman("cp", str(local), f"{node}:{WORK}/{name}")
    return f"{WORK}/{name}"


def systemd_run(node, unit, argv, env, cwd, log):
    setenv = [f"--setenv={name}={value}" for name, value in env.items()]
    podman("exec", node, "systemd-run", f"--unit={unit}", "--collect", "--quiet",
           f"--property=WorkingDirectory={cwd}", f"--property=StandardOutput=append:{log}",
           f"--property=StandardError=append:{log}", *setenv, "--", *argv)


def launches(node):
    text = sh(node, f"cat {STATE}/launches.jsonl 2>/dev/null", check=False)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def finished_job(node, job_id):
    """The job as the fake's API shows it, once it has ended; else None."""
    text = sh(node, f"cat {STATE}/jobs/{job_id}/job.json 2>/dev/null", check=False)
    data = json.loads(text) if text.strip() else {}
    return data if data.get("status") in COMPLETED else None


def timelines(node):
    return set(sh(node, f"ls -1 {TIMELINES}/*.json 2>/dev/null", check=False).split())


def diagnostics(node):
    return sh(node, f"for f in {WORK}/rulebook.log {WORK}/fake-awx.log {STATE}/launches.jsonl {STATE}/jobs/*/job.json"
                    f" {STATE}/jobs/*/stdout.txt; do [ -f $f ] && echo \"=== $f\" && tail -n 60 $f; done",
              check=False)[-12000:]


@pytest.fixture()
def cloud():
    import openstack  # pylint: disable=import-outside-toplevel  # from the project's venv

    conn = openstack.connect(cloud=CLOUD)
    segment = segment_host(conn, computes()[0])[0]
    update_segment(conn, segment.uuid, is_enabled=False)
    yield conn
    update_segment(conn, segment.uuid, is_enabled=True)


@pytest.fixture()
def awx_rulebook(tmp_path):
    """The fake AWX and ansible-rulebook with recover_awx.yml on the controller that ran the rulebook's resource,
    the resource stopped meanwhile; everything stopped, removed and started again afterwards."""
    node = rulebook_node()
    assert node, "the rulebook does not run: ansible-playbook -i inventories/lab playbooks/recover_rulebook.yml"
    argv, env, cwd = rulebook_unit(node)
    collections = env["ANSIBLE_COLLECTIONS_PATH"]
    rulebook_file = f"{collections}/ansible_collections/hastack/openstack/extensions/eda/rulebooks/recover_awx.yml"
    assert podman("exec", node, "test", "-f", rulebook_file, check=False).returncode == 0, \
        f"{rulebook_file} missing on {node}: ansible-playbook -i inventories/lab playbooks/recover_rulebook.yml"
    token = secrets.token_hex(16)
    try:
        set_rulebook(False)
        podman("exec", node, "mkdir", "-p", "-m", "0700", STATE)
        podman("cp", str(FAKE_AWX), f"{node}:{WORK}/fake_awx.py")
        # The job template: what AWX would run for hastack.openstack.recover, with the rulebook's inventory (its
        # recover_cloud and recover_pacemaker_hosts) and the unit's environment (clouds.yaml, collections, callback).
        config = copy_file(node, tmp_path, "fake-awx.json", {"token": token, "job_templates": [{
            "name": TEMPLATE, "organization": ORGANIZATION, "id": 7, "playbook": "playbooks/recover.yml",
            "ask_variables_on_launch": True,  # "Prompt on launch" for variables, as recover_awx.yml asks
            "allow_simultaneous": True,  # recoveries of different hosts in parallel, as with run_playbook
            "command": [os.path.join(os.path.dirname(argv[0]), "ansible-playbook"), "-i", option(argv, "-i"),
                        "hastack.openstack.recover"],
            "env": env, "cwd": cwd,
        }]})
        systemd_run(node, AWX_UNIT, ["/usr/bin/python3", f"{WORK}/fake_awx.py", "--config", config, "--port", str(PORT),
                                     "--state-dir", STATE], {}, WORK, f"{WORK}/fake-awx.log")
        wait(lambda: podman("exec", node, "python3", "-c", PROBE, check=False).returncode == 0, 30, 1,
             "the fake AWX answering (ping, and 401 without the token)")

        variables = yaml.safe_load(podman("exec", node, "cat", option(argv, "--vars")).stdout) or {}
        # lookback 0: the source starts before the fault; older notifications (earlier tests) are not launched.
        variables.update(hastack_eda_job_template=TEMPLATE, hastack_eda_organization=ORGANIZATION,
                         hastack_eda_lookback=0)
        command = replaced(replaced(argv, "--rulebook", "hastack.openstack.recover_awx"), "--vars",
                           copy_file(node, tmp_path, "vars.yml", variables))
        command += ["-v", "--controller-url", f"http://127.0.0.1:{PORT}", "--controller-token", token]
        systemd_run(node, AWX_RULEBOOK_UNIT, command, env, cwd, f"{WORK}/rulebook.log")
        try:
            wait(lambda: "Polling Masakari notifications every" in sh(node, f"cat {WORK}/rulebook.log", check=False),
                 180, 2, "ansible-rulebook with recover_awx.yml polling Masakari")
        except AssertionError:
            print(diagnostics(node))
            raise
        yield {"node": node, "token": token}
    finally:
        for unit in (AWX_RULEBOOK_UNIT, AWX_UNIT):
            podman("exec", node, "systemctl", "stop", unit, check=False)
            podman("exec", node, "systemctl", "reset-failed", unit, check=False)
        podman("exec", node, "rm", "-rf", WORK, check=False)
        set_rulebook(True)


def test_instance_failure_recovered_through_awx(cloud, awx_rulebook):
    node = awx_rulebook["node"]
    before = timelines(node)
    host = computes()[1]
    server = active(cloud, [boot(cloud, "hastack-awxtest-vm", host)])[0]
    try:
        fault, recovered = kill_guest(cloud, host, server)

        def for_this_event():
            return [item for item in launches(node)
                    if item["extra_vars"].get("recover_event", {}).get("payload", {}).get("instance_uuid") == server.id]

        first = wait(for_this_event, 120, 2, "the fake AWX's launch for the instance's event")[0]
        finished = wait(lambda: finished_job(node, first["job"]), 600, 2, f"job {first['job']} finished")
        # ansible-rulebook polls the job (every 10 s by default) and logs what it found.
        seen = wait(lambda: re.search(rf"Job template '{re.escape(TEMPLATE)}' (completed successfully|failed|error|"
                                      rf"was canceled).*job_id: {first['job']}\b",
                                      sh(node, f"cat {WORK}/rulebook.log", check=False)), 60, 2,
                    "ansible-rulebook reporting the job's end")
        new = wait(lambda: timelines(node) - before, 120, 2, "a timeline written by the job")
        records = [json.loads(podman("exec", node, "cat", path).stdout) for path in sorted(new)]

        this_event = for_this_event()
        assert len(this_event) == 1, f"{len(this_event)} launches for one failure: {this_event}"
        event = first["extra_vars"]["recover_event"]
        assert event["type"] == "VM" and event["hostname"] == host, event
        assert first["template"] == {"id": 7, "name": TEMPLATE, "organization": ORGANIZATION}, first["template"]
        assert "extra_vars" not in first["ignored_fields"], first["ignored_fields"]
        assert first["extra_vars"]["ansible_eda"]["rule"] == "Instance failure", first["extra_vars"]["ansible_eda"]
        assert finished["status"] == "successful", finished
        assert seen.group(1) == "completed successfully", seen.group(0)
        record = next((item for item in records if item["event"]["type"] == "VM"
                       and item["event"].get("id") == event["id"]), None)
        assert record, f"no VM timeline of the launched event: {records}"
        assert record["outcome"] == "recovered" and record["instances"][0]["id"] == server.id, record
        launched = utc(first["time"]).timestamp() - fault
        print(f"\nAWX path (fake AWX on {node}): instance ACTIVE in a new QEMU {recovered:.1f} s after the kill; "
              f"job {first['job']} launched {launched:.0f} s after the kill, {finished['status']} in "
              f"{finished['elapsed']:.1f} s")
    except AssertionError:
        print(diagnostics(node))
        raise
    finally:
        delete(cloud, [server])
