"""The lab's virtual BMC speaks real IPMI (ipmitool, lanplus) and maps power control onto podman.

podman is replaced by a small script that keeps one container's state in a file, so this test needs no
container; the fencing path with real containers is exercised by the pacemaker molecule scenario.
"""

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

VBMC = Path(__file__).resolve().parents[2] / "roles" / "lab" / "files" / "vbmc.py"

FAKE_PODMAN = """#!/bin/sh
state="$(dirname "$0")/state"
echo "$*" >> "$(dirname "$0")/calls"
case "$1" in
  inspect) [ -f "$state" ] && cat "$state" || echo false ;;
  kill|stop) echo false > "$state" ;;
  start) echo true > "$state" ;;
esac
"""

pytestmark = pytest.mark.skipif(shutil.which("ipmitool") is None, reason="ipmitool is installed by .ci/run")


def _free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def bmc(tmp_path, monkeypatch):
    podman = tmp_path / "podman"
    podman.write_text(FAKE_PODMAN)
    podman.chmod(0o755)
    (tmp_path / "state").write_text("true\n")
    port = _free_udp_port()
    config = tmp_path / "vbmc.json"
    config.write_text(json.dumps({"bmcs": [{"name": "cmp9", "container": "cmp9", "address": "127.0.0.1",
                                            "port": port, "user": "admin", "password": "pw-of-cmp9"}]}))
    env = {"VBMC_PODMAN": str(podman), "PATH": "/usr/bin:/bin"}
    pidfile = tmp_path / "vbmc.pid"
    start = [sys.executable, str(VBMC), "start", f"--config={config}", f"--pidfile={pidfile}",
             f"--logfile={tmp_path / 'vbmc.log'}"]
    first = subprocess.run(start, env=env, capture_output=True, text=True, check=True, timeout=30)
    second = subprocess.run(start, env=env, capture_output=True, text=True, check=True, timeout=30)
    yield {"port": port, "dir": tmp_path, "starts": (first.stdout.strip(), second.stdout.strip())}
    subprocess.run([sys.executable, str(VBMC), "stop", f"--pidfile={pidfile}"], check=True, timeout=30)


def ipmi(bmc, *command, password="pw-of-cmp9"):
    return subprocess.run(
        ["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(bmc["port"]), "-U", "admin", "-P", password,
         "-R", "1", "-N", "2", *command],
        capture_output=True, text=True, timeout=30, check=False,
    )


def test_start_is_idempotent(bmc):
    assert bmc["starts"] == ("started", "unchanged")


def test_power_cycle_maps_onto_the_container(bmc):
    assert "Chassis Power is on" in ipmi(bmc, "power", "status").stdout
    assert ipmi(bmc, "power", "off").returncode == 0
    assert (bmc["dir"] / "state").read_text().strip() == "false"
    assert "Chassis Power is off" in ipmi(bmc, "power", "status").stdout
    assert ipmi(bmc, "power", "on").returncode == 0
    assert "Chassis Power is on" in ipmi(bmc, "power", "status").stdout
    calls = (bmc["dir"] / "calls").read_text().split("\n")
    assert "kill cmp9" in calls and "start cmp9" in calls


def test_wrong_password_is_refused_and_changes_nothing(bmc):
    result = ipmi(bmc, "power", "off", password="not-the-password")
    assert result.returncode != 0
    assert (bmc["dir"] / "state").read_text().strip() == "true"
