"""`make lab` / `make lab-destroy` on a real (small) lab: it comes up, converges with changed=0 on a
second run, answers on its services, and leaves no container, network or volume behind.

Slow (it deploys a whole lab), so it runs in `make test-full` only, or when HASTACK_LAB_TESTS=1.
"""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = os.environ.get("HASTACK_LAB_INVENTORY", "inventories/lab-small")

pytestmark = pytest.mark.skipif(
    os.environ.get("HASTACK_LAB_TESTS") != "1", reason="lab lifecycle test: run by `make test-full`"
)


def _make(target):
    started = time.monotonic()
    result = subprocess.run(
        ["make", target, f"INVENTORY={INVENTORY}", "ANSIBLE_FORCE_COLOR=0"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    elapsed = time.monotonic() - started
    print(f"make {target} INVENTORY={INVENTORY}: {elapsed:.0f} s")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


def _recap(output):
    return {
        host: {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counters)}
        for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.MULTILINE)
    }


def _inventory():
    hosts = yaml.safe_load((ROOT / INVENTORY / "hosts.yml").read_text())
    group_vars = yaml.safe_load((ROOT / INVENTORY / "group_vars" / "all.yml").read_text())
    members = {}
    for group in hosts["all"]["children"].values():
        members.update(group.get("hosts", {}))
    return members, group_vars


def _podman_json(*args):
    return json.loads(subprocess.run(["podman", *args, "--format", "json"], capture_output=True, text=True,
                                     check=True).stdout or "[]")


def test_lab_up_converges_and_destroys_cleanly():
    members, group_vars = _inventory()
    network = group_vars["lab_network_name"]

    volumes_before = set(_volumes())
    first = _make("lab")
    for name, host in members.items():
        assert f"{host['hastack_mgmt_address']}  {name}" in first, f"lab summary lacks {name}"
    running = {c["Names"][0] for c in _podman_json("ps")}
    assert set(members) <= running

    second = _make("lab")
    recap = _recap(second)
    assert set(members) <= set(recap)
    changed = {host: counters["changed"] for host, counters in recap.items() if counters["changed"]}
    assert not changed, f"second `make lab` changed something: {changed}"

    _make("lab-destroy")
    left = {c["Names"][0] for c in _podman_json("ps", "--all")} & set(members)
    assert not left, f"containers left behind: {left}"
    assert network not in {n["name"] for n in _podman_json("network", "ls")}
    assert set(_volumes()) == volumes_before, "volumes left behind"


def _volumes():
    return subprocess.run(["podman", "volume", "ls", "--quiet"], capture_output=True, text=True,
                          check=True).stdout.split()
