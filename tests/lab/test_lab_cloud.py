"""The lab's own OpenStack (issue: lab cloud), against the full lab of inventories/lab.

Real services only: Keystone, Glance, Placement, neutron-server and Nova from Debian 13 behind the HA control
plane, nova-compute with libvirt/KVM in the compute containers. Brings the lab up with `make lab` (a no-op
converge when it is already up), then:

- boots one instance on each compute and finds its qemu process running under KVM there, with the test
  image's line on its serial console;
- evacuates by hand (the primitive every later recovery uses): compute container killed, its nova-compute
  service forced down, `evacuate` for each instance -> every instance ACTIVE on the other compute. Prints the
  seconds for 1 and for 4 instances.

Slow (a whole cloud), so it runs in `make test-full` only, or when HASTACK_LAB_TESTS=1.
"""

import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = "inventories/lab"
CLOUD = "hastack-lab"
IMAGE = "hastack-test"
FLAVOR = "hastack.tiny"
BOOT_LINE = "hastack-lab test instance: booted"

pytestmark = pytest.mark.skipif(
    os.environ.get("HASTACK_LAB_TESTS") != "1", reason="lab cloud test: run by `make test-full`"
)


def _computes():
    hosts = yaml.safe_load((ROOT / INVENTORY / "hosts.yml").read_text())
    return list(hosts["all"]["children"]["computes"]["hosts"])


def _podman(*args, check=True):
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=300)


def _wait(predicate, timeout, interval=1.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="module")
def cloud():
    import openstack  # from the project's venv

    if os.environ.get("HASTACK_LAB_REUSE") == "1":  # a lab already made by `make lab`, as it is
        conn = openstack.connect(cloud=CLOUD)
        yield conn
        _cleanup(conn)
        return
    started = time.monotonic()
    result = subprocess.run(
        ["make", "lab", f"INVENTORY={INVENTORY}", "ANSIBLE_FORCE_COLOR=0"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    print(f"\nmake lab INVENTORY={INVENTORY}: {time.monotonic() - started:.0f} s")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    recap = dict(re.findall(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", result.stdout, re.MULTILINE))
    print(f"changed per host: {recap}")
    conn = openstack.connect(cloud=CLOUD)
    yield conn
    _cleanup(conn)


def _cleanup(conn):
    for server in conn.compute.servers(all_projects=True, name="^hastack-test-"):
        conn.compute.delete_server(server, force=True)


def _boot(conn, name, host):
    image = conn.image.find_image(IMAGE, ignore_missing=False)
    flavor = conn.compute.find_flavor(FLAVOR, ignore_missing=False)
    return conn.compute.create_server(
        name=name, image_id=image.id, flavor_id=flavor.id, networks="none",
        availability_zone=f"nova:{host}", metadata={"HA_Enabled": "True"},
    )


def _active(conn, servers, timeout=300):
    done = []
    for server in servers:
        done.append(conn.compute.wait_for_server(conn.compute.get_server(server), status="ACTIVE", wait=timeout))
    return done


def _runs_under_kvm(host, instance_name):
    """The guest's QEMU process exists on that host and holds /dev/kvm open (hardware virtualisation)."""
    pids = _podman("exec", host, "pgrep", "-f", f"guest={instance_name},", check=False).stdout.split()
    if not pids:
        return False
    fds = _podman("exec", host, "sh", "-c", f"readlink /proc/{pids[0]}/fd/*", check=False).stdout
    return "/dev/kvm" in fds.split()


def _rebuilt_on(conn, servers, target, timeout=600):
    """Wait until every server is ACTIVE on target; fail at once on ERROR, with Nova's fault."""
    deadline = time.monotonic() + timeout
    pending = {server.id for server in servers}
    done = {}
    while pending and time.monotonic() < deadline:
        for server_id in list(pending):
            server = conn.compute.get_server(server_id)
            assert server.status != "ERROR", f"{server.name}: ERROR {server.fault}"
            if server.status == "ACTIVE" and server.compute_host == target and not server.task_state:
                done[server_id] = server
                pending.discard(server_id)
        time.sleep(1)
    assert not pending, f"not ACTIVE on {target} after {timeout} s: {sorted(pending)}"
    return [done[server.id] for server in servers]


def _force_up(conn, service, host):
    import openstack  # from the project's venv

    try:
        conn.compute.update_service_forced_down(service, host, "nova-compute", forced=False)
    except openstack.exceptions.BadRequestException:
        return False
    return True


def _evacuate(conn, server):
    """Evacuate as Masakari does: compute API 2.94 at most. From 2.95 Nova leaves the rebuilt instance SHUTOFF."""
    response = conn.compute.post(f"/servers/{server.id}/action", json={"evacuate": {}}, microversion="2.94")
    assert response.status_code == 200, response.text


def _service(conn, host):
    return next(conn.compute.services(binary="nova-compute", host=host))


def test_every_compute_service_is_up(cloud):
    services = {service.host: service for service in cloud.compute.services(binary="nova-compute")}
    for host in _computes():
        assert host in services, f"{host} has no nova-compute service"
        assert services[host].state == "up" and services[host].status == "enabled", services[host]
    hypervisors = {hypervisor.name for hypervisor in cloud.compute.hypervisors()}
    assert set(_computes()) <= {name.split(".")[0] for name in hypervisors}


def test_instance_on_each_compute_runs_under_kvm(cloud):
    servers = [_boot(cloud, f"hastack-test-kvm-{host}", host) for host in _computes()]
    try:
        for server, host in zip(_active(cloud, servers), _computes(), strict=True):
            assert server.compute_host == host
            name = server.instance_name
            assert _runs_under_kvm(host, name), f"{server.name}: no QEMU process of {name} using /dev/kvm on {host}"
            console = _wait(lambda s=server: BOOT_LINE in (cloud.compute.get_server_console_output(s)["output"] or ""),
                            60, what=f"the boot line on {server.name}'s console")
            assert console
    finally:
        for server in servers:
            cloud.compute.delete_server(server)
        for server in servers:
            cloud.compute.wait_for_delete(server, wait=120)
    for host in _computes():
        assert "guest=" not in _podman("exec", host, "pgrep", "-a", "-f", "qemu-system", check=False).stdout


def _evacuate_all(conn, count):
    """Boot `count` instances on the first compute, crash it, evacuate them by hand; return seconds."""
    source, target = _computes()[0], _computes()[1]
    servers = _active(conn, [_boot(conn, f"hastack-test-evac{count}-{i}", source) for i in range(count)])
    assert all(server.compute_host == source for server in servers)
    service = _service(conn, source)
    try:
        _podman("kill", source)
        started = time.monotonic()
        conn.compute.update_service_forced_down(service, source, "nova-compute", forced=True)
        with ThreadPoolExecutor(max_workers=count) as pool:
            list(pool.map(lambda server: _evacuate(conn, server), servers))
        moved = _rebuilt_on(conn, servers, target)
        seconds = time.monotonic() - started
        for server in moved:
            assert _runs_under_kvm(target, server.instance_name), f"{server.name} does not run on {target}"
        return seconds, moved
    finally:
        # Repair the source: power it on, let nova-compute clean up the evacuated guests, un-force it.
        _podman("start", source)
        _podman("exec", source, "systemctl", "is-system-running", "--wait", check=False)
        # Nova refuses to un-force the host until its restarted nova-compute has cleaned up the evacuated guests.
        _wait(lambda: _force_up(conn, service, source), 300, 5, f"{source} accepted as up again by Nova")
        _wait(lambda: _service(conn, source).state == "up", 300, 5, f"{source}'s nova-compute up again")


@pytest.mark.parametrize("count", [1, 4])
def test_manual_evacuation_rebuilds_instances_on_the_other_compute(cloud, count):
    seconds, moved = _evacuate_all(cloud, count)
    print(f"\nevacuated {count} instance(s) from {_computes()[0]}: all ACTIVE on {_computes()[1]} after {seconds:.1f} s")
    # The source, back up, must not run a second copy of any evacuated instance.
    source = _computes()[0]
    _wait(lambda: not set(server.instance_name for server in moved)
          & set(_podman("exec", source, "virsh", "list", "--all", "--name", check=False).stdout.split()),
          180, 5, "nova-compute on the repaired source removing the evacuated guests")
    running = _podman("exec", source, "pgrep", "-a", "-f", "qemu-system", check=False).stdout
    assert not any(f"guest={server.instance_name}," in running for server in moved)
    for server in moved:
        cloud.compute.delete_server(server)
    for server in moved:
        cloud.compute.wait_for_delete(server, wait=120)
