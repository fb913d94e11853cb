"""Second topology: the database VIP on the controllers, the API VIP on the load balancer, each independent."""

import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

testinfra_hosts = ["ansible://controllers"]

API_VIP = "10.203.15.10"
DB_VIP = "10.203.15.9"
LOAD_BALANCERS = ["dlb1"]
CONTROLLERS = ["dctl1", "dctl2", "dctl3"]
API = f"http://{API_VIP}:5000/"
# The database stand-in speaks HTTP on the Galera port and answers with its host name.
DATABASE = f"http://{DB_VIP}:3306/"
FAILOVER_LIMIT = 5.0


def _podman(*args, check=True, timeout=120):
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=timeout)


def vip_holders(vip, hosts=tuple(LOAD_BALANCERS + CONTROLLERS)):
    holders = []
    for name in hosts:
        result = _podman("exec", name, "ip", "-o", "addr", "show", check=False, timeout=10)
        if result.returncode == 0 and f" {vip}/" in result.stdout:
            holders.append(name)
    return holders


def answer(url, timeout=1.0):
    """The host name that answered a request, or None."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - test traffic to the lab network
            return response.read().decode().strip() if response.status == 200 else None
    except (OSError, urllib.error.URLError):
        return None


def wait_for(predicate, timeout, interval=0.1):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


def wait_until_stable(timeout=150):
    """All hosts booted, HAProxy and keepalived up, each VIP on exactly one host, both answering."""
    deadline = time.monotonic() + timeout
    for name in LOAD_BALANCERS + CONTROLLERS:
        _podman("exec", name, "systemctl", "is-system-running", "--wait", check=False, timeout=timeout)
        for unit in ("haproxy", "keepalived"):
            while _podman("exec", name, "systemctl", "is-active", unit, check=False).returncode != 0:
                assert time.monotonic() < deadline, f"{unit} on {name} is not active"
                time.sleep(0.5)
    stable_since = None
    while time.monotonic() < deadline:
        if (
            vip_holders(DB_VIP) == ["dctl1"]
            and vip_holders(API_VIP) == ["dlb1"]
            and answer(DATABASE) == "dctl1"
            and answer(API) is not None
        ):
            stable_since = stable_since or time.monotonic()
            if time.monotonic() - stable_since >= 3:
                return
        else:
            stable_since = None
        time.sleep(0.3)
    pytest.fail(f"not stable within {timeout} s: DB VIP on {vip_holders(DB_VIP)}, API VIP on {vip_holders(API_VIP)}")


def _peer(host, name):
    return host.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def test_controllers_serve_only_the_database(host):
    config = host.check_output("cat /etc/haproxy/haproxy.cfg")
    assert f"bind {DB_VIP}:3306" in config
    assert "listen galera" in config
    assert "listen keystone" not in config
    modes = host.check_output("stat -c '%U %G %a' /etc/haproxy/haproxy.cfg /etc/keepalived/keepalived.conf").splitlines()
    assert modes[0].split()[:2] == ["root", "haproxy"]
    for line in modes:
        assert int(line.split()[2], 8) & 0o137 == 0, line
    keepalived = host.check_output("cat /etc/keepalived/keepalived.conf")
    assert DB_VIP in keepalived
    assert API_VIP not in keepalived


def test_load_balancer_serves_only_the_apis(host):
    lb = _peer(host, "dlb1")
    config = lb.check_output("cat /etc/haproxy/haproxy.cfg")
    assert f"bind {API_VIP}:5000" in config
    assert "listen galera" not in config
    keepalived = lb.check_output("cat /etc/keepalived/keepalived.conf")
    assert API_VIP in keepalived
    assert DB_VIP not in keepalived


def test_each_vip_on_exactly_one_host():
    assert vip_holders(DB_VIP) == ["dctl1"], "the first controller (highest priority) holds the database VIP"
    assert vip_holders(API_VIP) == ["dlb1"]


def test_database_vip_sends_everything_to_one_writer():
    answers = [answer(DATABASE) for _attempt in range(6)]
    assert answers == ["dctl1"] * 6, answers
    assert answer(API) in CONTROLLERS


def test_unsynced_node_is_taken_out_by_clustercheck():
    _podman("exec", "dctl1", "systemctl", "stop", "hastack-test-clustercheck")
    try:
        seconds = wait_for(lambda: answer(DATABASE) == "dctl2", timeout=30, interval=0.2)
        print(f"\nclustercheck down on dctl1: database traffic on backup dctl2 after {seconds:.1f} s")
        answers = [answer(DATABASE) for _attempt in range(6)]
        assert answers == ["dctl2"] * 6, "one backup takes all writes"
        assert vip_holders(DB_VIP) == ["dctl1"], "a failed backend check does not move the VIP"
    finally:
        _podman("exec", "dctl1", "systemctl", "start", "hastack-test-clustercheck")
    wait_for(lambda: answer(DATABASE) == "dctl1", timeout=30, interval=0.2)


def test_crash_of_database_vip_holder_moves_only_the_database_vip():
    wait_until_stable()
    try:
        start = time.monotonic()
        _podman("kill", "dctl1")
        wait_for(lambda: vip_holders(DB_VIP, ["dctl2", "dctl3"]) == ["dctl2"], timeout=30)
        vip_seconds = time.monotonic() - start
        print(f"\ncontroller crash (dctl1 killed): database VIP on dctl2 after {vip_seconds:.2f} s")
        wait_for(lambda: answer(DATABASE, timeout=0.5) == "dctl2", timeout=30)
        seconds = time.monotonic() - start
        # Includes HAProxy on dctl2 marking the dead writer down (check inter 2s fall 2) and the next one taking over.
        print(f"controller crash: database answered through the VIP (writer dctl2) after {seconds:.2f} s")
        assert vip_holders(DB_VIP) == ["dctl2"], "the next controller in inventory order holds the database VIP"
        assert vip_holders(API_VIP) == ["dlb1"], "the API VIP stays on the load balancer"
        api_seconds = wait_for(lambda: answer(API, timeout=2) in ("dctl2", "dctl3"), timeout=30)
        print(f"controller crash: API VIP still on dlb1, answering from a live controller {api_seconds:.2f} s later")
        assert vip_seconds <= FAILOVER_LIMIT, f"database VIP failover took {vip_seconds:.2f} s"
        assert seconds <= 3 * FAILOVER_LIMIT, f"database through the VIP took {seconds:.2f} s"
    finally:
        _podman("start", "dctl1")
        wait_until_stable()
    print("dctl1 restarted: database VIP back on dctl1 (preemption), API VIP on dlb1")
