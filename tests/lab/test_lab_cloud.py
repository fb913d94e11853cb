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

import pytest
from labcloud import (BOOT_LINE, CLOUD, INVENTORY, ROOT, active, compute_service, computes, delete, guests, podman,
                      rebuilt_on, runs_under_kvm, wait)
from labcloud import boot as _boot

pytestmark = pytest.mark.skipif(
    os.environ.get("HASTACK_LAB_TESTS") != "1", reason="lab cloud test: run by `make test-full`"
)


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


def test_every_compute_service_is_up(cloud):
    services = {service.host: service for service in cloud.compute.services(binary="nova-compute")}
    for host in computes():
        assert host in services, f"{host} has no nova-compute service"
        assert services[host].state == "up" and services[host].status == "enabled", services[host]
    hypervisors = {hypervisor.name for hypervisor in cloud.compute.hypervisors()}
    assert set(computes()) <= {name.split(".")[0] for name in hypervisors}


def test_instance_on_each_compute_runs_under_kvm(cloud):
    servers = [_boot(cloud, f"hastack-test-kvm-{host}", host) for host in computes()]
    try:
        for server, host in zip(active(cloud, servers), computes(), strict=True):
            assert server.compute_host == host
            name = server.instance_name
            assert runs_under_kvm(host, name), f"{server.name}: no QEMU process of {name} using /dev/kvm on {host}"
            console = wait(lambda s=server: BOOT_LINE in (cloud.compute.get_server_console_output(s)["output"] or ""),
                           60, what=f"the boot line on {server.name}'s console")
            assert console
    finally:
        delete(cloud, servers)
    for host in computes():
        assert "guest=" not in podman("exec", host, "pgrep", "-a", "-f", "qemu-system", check=False).stdout


def _evacuate_all(conn, count):
    """Boot `count` instances on the first compute, crash it, evacuate them by hand; return seconds."""
    source, target = computes()[0], computes()[1]
    servers = active(conn, [_boot(conn, f"hastack-test-evac{count}-{i}", source) for i in range(count)])
    assert all(server.compute_host == source for server in servers)
    service = compute_service(conn, source)
    try:
        podman("kill", source)
        started = time.monotonic()
        conn.compute.update_service_forced_down(service, source, "nova-compute", forced=True)
        with ThreadPoolExecutor(max_workers=count) as pool:
            list(pool.map(lambda server: _evacuate(conn, server), servers))
        moved = rebuilt_on(conn, servers, target)
        seconds = time.monotonic() - started
        for server in moved:
            assert runs_under_kvm(target, server.instance_name), f"{server.name} does not run on {target}"
        return seconds, moved
    finally:
        # Repair the source: power it on, let nova-compute clean up the evacuated guests, un-force it.
        podman("start", source)
        podman("exec", source, "systemctl", "is-system-running", "--wait", check=False)
        # Nova refuses to un-force the host until its restarted nova-compute has cleaned up the evacuated guests.
        wait(lambda: _force_up(conn, service, source), 300, 5, f"{source} accepted as up again by Nova")
        wait(lambda: compute_service(conn, source).state == "up", 300, 5, f"{source}'s nova-compute up again")


@pytest.mark.parametrize("count", [1, 4])
def test_manual_evacuation_rebuilds_instances_on_the_other_compute(cloud, count):
    seconds, moved = _evacuate_all(cloud, count)
    print(f"\nevacuated {count} instance(s) from {computes()[0]}: all ACTIVE on {computes()[1]} after {seconds:.1f} s")
    # The source, back up, must not run a second copy of any evacuated instance.
    source = computes()[0]
    wait(lambda: not {server.instance_name for server in moved} & guests(source),
         180, 5, "nova-compute on the repaired source removing the evacuated guests")
    running = podman("exec", source, "pgrep", "-a", "-f", "qemu-system", check=False).stdout
    assert not any(f"guest={server.instance_name}," in running for server in moved)
    delete(cloud, moved)
