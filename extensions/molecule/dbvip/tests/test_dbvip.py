"""Second topology: the database VIP on the controllers, the API VIP on the load balancer, each independent."""

import os
import time

from hastack_testlib import answer, podman, vip_holders, wait_for
from hastack_testlib import wait_until_stable as _wait_until_stable

testinfra_hosts = ["ansible://controllers"]

API_VIP = "10.203.15.10"
DB_VIP = "10.203.15.9"
LOAD_BALANCERS = ["dlb1"]
CONTROLLERS = ["dctl1", "dctl2", "dctl3"]
ALL_HOSTS = LOAD_BALANCERS + CONTROLLERS
API = f"http://{API_VIP}:5000/"
# The database stand-in speaks HTTP on the Galera port and answers with its host name.
DATABASE = f"http://{DB_VIP}:3306/"
FAILOVER_LIMIT = 5.0


def wait_until_stable(timeout=150):
    """All hosts booted, HAProxy and keepalived up, each VIP on exactly one host, both answering."""
    _wait_until_stable(
        ALL_HOSTS,
        lambda: (
            vip_holders(DB_VIP, ALL_HOSTS) == ["dctl1"]
            and vip_holders(API_VIP, ALL_HOSTS) == ["dlb1"]
            and answer(DATABASE) == "dctl1"
            and answer(API) is not None
        ),
        timeout=timeout,
        describe=lambda: f"DB VIP on {vip_holders(DB_VIP, ALL_HOSTS)}, API VIP on {vip_holders(API_VIP, ALL_HOSTS)}",
    )


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
    assert vip_holders(DB_VIP, ALL_HOSTS) == ["dctl1"], "the first controller (highest priority) holds the database VIP"
    assert vip_holders(API_VIP, ALL_HOSTS) == ["dlb1"]


def test_database_vip_sends_everything_to_one_writer():
    answers = [answer(DATABASE) for _attempt in range(6)]
    assert answers == ["dctl1"] * 6, answers
    assert answer(API) in CONTROLLERS


def test_unsynced_node_is_taken_out_by_clustercheck():
    podman("exec", "dctl1", "systemctl", "stop", "hastack-test-clustercheck")
    try:
        seconds = wait_for(lambda: answer(DATABASE) == "dctl2", timeout=30, interval=0.2)
        print(f"\nclustercheck down on dctl1: database traffic on backup dctl2 after {seconds:.1f} s")
        answers = [answer(DATABASE) for _attempt in range(6)]
        assert answers == ["dctl2"] * 6, "one backup takes all writes"
        assert vip_holders(DB_VIP, ALL_HOSTS) == ["dctl1"], "a failed backend check does not move the VIP"
    finally:
        podman("exec", "dctl1", "systemctl", "start", "hastack-test-clustercheck")
    wait_for(lambda: answer(DATABASE) == "dctl1", timeout=30, interval=0.2)


def test_crash_of_database_vip_holder_moves_only_the_database_vip():
    wait_until_stable()
    try:
        start = time.monotonic()
        podman("kill", "dctl1")
        wait_for(lambda: vip_holders(DB_VIP, ["dctl2", "dctl3"]) == ["dctl2"], timeout=30)
        vip_seconds = time.monotonic() - start
        print(f"\ncontroller crash (dctl1 killed): database VIP on dctl2 after {vip_seconds:.2f} s")
        wait_for(lambda: answer(DATABASE, timeout=0.5) == "dctl2", timeout=30)
        seconds = time.monotonic() - start
        # Includes HAProxy on dctl2 marking the dead writer down (check inter 2s fall 2) and the next one taking over.
        print(f"controller crash: database answered through the VIP (writer dctl2) after {seconds:.2f} s")
        assert vip_holders(DB_VIP, ALL_HOSTS) == ["dctl2"], "the next controller in inventory order holds the database VIP"
        assert vip_holders(API_VIP, ALL_HOSTS) == ["dlb1"], "the API VIP stays on the load balancer"
        api_seconds = wait_for(lambda: answer(API, timeout=2) in ("dctl2", "dctl3"), timeout=30)
        print(f"controller crash: API VIP still on dlb1, answering from a live controller {api_seconds:.2f} s later")
        assert vip_seconds <= FAILOVER_LIMIT, f"database VIP failover took {vip_seconds:.2f} s"
        assert seconds <= 3 * FAILOVER_LIMIT, f"database through the VIP took {seconds:.2f} s"
    finally:
        podman("start", "dctl1")
        wait_until_stable()
    print("dctl1 restarted: database VIP back on dctl1 (preemption), API VIP on dlb1")
