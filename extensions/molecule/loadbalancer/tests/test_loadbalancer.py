"""keepalived + HAProxy: one VIP holder, requests through the VIP, failover on a crash and on a dead HAProxy."""

import time
import urllib.error

import pytest
from hastack_testlib import answer, http_get, podman, wait_for
from hastack_testlib import vip_holders as _vip_holders
from hastack_testlib import wait_until_stable as _wait_until_stable

testinfra_hosts = ["ansible://loadbalancers"]

VIP = "10.203.14.10"
LOAD_BALANCERS = ["vlb1", "vlb2"]
BACKENDS = {"vapi1": "10.203.14.21", "vapi2": "10.203.14.22"}
KEYSTONE = f"http://{VIP}:5000/"
STATS_USER, STATS_PASSWORD = "hastack", "molecule-stats-secret"
FAILOVER_LIMIT = 5.0


def vip_holders():
    """The load balancers holding the VIP."""
    return _vip_holders(VIP, LOAD_BALANCERS)


def answering_backend(url=KEYSTONE, timeout=1.0):
    """The backend name a request through the VIP reached, or None when the request failed."""
    return answer(url, timeout=timeout)


def backend_status(lb, service, server):
    address = {"vlb1": "10.203.14.11", "vlb2": "10.203.14.12"}[lb]
    _status, csv = http_get(f"http://{address}:1936/;csv", timeout=3, auth=(STATS_USER, STATS_PASSWORD))
    for line in csv.splitlines():
        fields = line.split(",")
        if fields[:2] == [service, server]:
            return fields[17]
    return None


def wait_until_stable(timeout=120):
    """Every load balancer booted with HAProxy and keepalived up, exactly one VIP holder, the VIP answering."""

    def single_answering_holder():
        holders = vip_holders()
        return holders[0] if len(holders) == 1 and answering_backend() is not None else None

    return _wait_until_stable(
        LOAD_BALANCERS,
        single_answering_holder,
        timeout=timeout,
        describe=lambda: f"no stable VIP holder (holders: {vip_holders()})",
    )


def test_services_running_and_enabled(host):
    states = host.run("systemctl is-active haproxy keepalived; systemctl is-enabled haproxy keepalived").stdout.split()
    assert states == ["active", "active", "enabled", "enabled"], states


def file_modes(host, *paths):
    """path -> (owner, group, mode) in one round trip."""
    lines = host.check_output("stat -c '%%U %%G %%a %%n'" + " %s" * len(paths), *paths).splitlines()
    return {line.split()[3]: (line.split()[0], line.split()[1], int(line.split()[2], 8)) for line in lines}


def listening(host):
    """Set of 'address:port' of listening TCP sockets in one round trip."""
    return {line.split()[3] for line in host.check_output("ss -Hltn").splitlines()}


def test_config_files_not_world_readable(host):
    modes = file_modes(host, "/etc/haproxy/haproxy.cfg", "/etc/keepalived/keepalived.conf")
    owner, group, mode = modes["/etc/haproxy/haproxy.cfg"]
    assert (owner, group) == ("root", "haproxy")
    assert mode & 0o137 == 0, oct(mode)
    owner, _group, mode = modes["/etc/keepalived/keepalived.conf"]
    assert owner == "root"
    assert mode & 0o137 == 0, oct(mode)


def test_standby_may_bind_the_vip(host):
    assert host.sysctl("net.ipv4.ip_nonlocal_bind") == 1


def test_frontends_listen_on_the_vip_on_every_lb(host):
    sockets = listening(host)
    missing = [port for port in (5000, 8774, 8775, 8778, 9292, 9696, 80, 15868, 3306, 8080) if f"{VIP}:{port}" not in sockets]
    assert not missing, f"not listening on {VIP}: {missing}"


def test_stats_page_on_management_address_needs_credentials(host):
    address = host.ansible.get_variables()["hastack_mgmt_address"]
    with pytest.raises(urllib.error.HTTPError) as denied:
        http_get(f"http://{address}:1936/", timeout=3)
    assert denied.value.code == 401
    status, body = http_get(f"http://{address}:1936/;csv", timeout=3, auth=(STATS_USER, STATS_PASSWORD))
    assert status == 200
    assert "keystone,vapi1," in body
    assert [socket for socket in listening(host) if socket.endswith(":1936")] == [f"{address}:1936"]


def test_keepalived_runs_track_script_unprivileged(host):
    conf = host.check_output("cat /etc/keepalived/keepalived.conf")
    assert "enable_script_security" in conf
    assert "script_user keepalived_script" in conf
    assert host.check_output("getent passwd keepalived_script").endswith(":/usr/sbin/nologin")


def test_vip_on_exactly_one_load_balancer():
    assert len(vip_holders()) == 1, vip_holders()


def test_request_through_vip_reaches_every_backend():
    seen = {answering_backend() for _attempt in range(6)}
    assert seen == set(BACKENDS), seen


def test_operator_extra_service_answers():
    assert answering_backend(f"http://{VIP}:8080/") in BACKENDS


def test_only_healthy_backends_get_requests():
    holder = vip_holders()[0]
    podman("exec", "vapi1", "systemctl", "stop", "hastack-test-api")
    try:
        seconds = wait_for(lambda: backend_status(holder, "keystone", "vapi1") == "DOWN", timeout=30, interval=0.2)
        print(f"\nHTTP check marked stopped backend vapi1 DOWN after {seconds:.1f} s")
        answers = [answering_backend() for _attempt in range(10)]
        assert answers == ["vapi2"] * 10, answers
    finally:
        podman("exec", "vapi1", "systemctl", "start", "hastack-test-api")
    wait_for(lambda: backend_status(holder, "keystone", "vapi1") == "UP", timeout=30, interval=0.2)
    assert {answering_backend() for _attempt in range(6)} == set(BACKENDS)


def test_crash_of_active_load_balancer_moves_vip():
    active = wait_until_stable()
    survivor = next(name for name in LOAD_BALANCERS if name != active)
    try:
        start = time.monotonic()
        podman("kill", active)
        wait_for(lambda: answering_backend(timeout=0.5) is not None, timeout=30)
        seconds = time.monotonic() - start
        print(f"\nLB crash ({active} killed): VIP answered again through {survivor} after {seconds:.2f} s")
        assert vip_holders() == [survivor]
        assert seconds <= FAILOVER_LIMIT, f"failover took {seconds:.2f} s"
    finally:
        podman("start", active)
        wait_until_stable()
    assert len(vip_holders()) == 1


def test_stopped_haproxy_moves_vip():
    active = wait_until_stable()
    other = next(name for name in LOAD_BALANCERS if name != active)
    try:
        start = time.monotonic()
        podman("exec", active, "systemctl", "stop", "haproxy")
        wait_for(lambda: vip_holders() == [other], timeout=30)
        seconds = time.monotonic() - start
        print(f"\nHAProxy stopped on {active}: VIP moved to {other} after {seconds:.2f} s")
        wait_for(lambda: answering_backend(timeout=0.5) is not None, timeout=10)
        print(f"HAProxy stopped on {active}: VIP answered again after {time.monotonic() - start:.2f} s")
        assert seconds <= FAILOVER_LIMIT, f"VIP move took {seconds:.2f} s"
    finally:
        podman("exec", active, "systemctl", "start", "haproxy")
        wait_until_stable()
    assert len(vip_holders()) == 1
