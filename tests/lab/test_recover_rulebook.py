"""Rulebook mode on the lab (issue 8): ansible-rulebook runs on a controller as a Pacemaker resource
(playbooks/recover_rulebook.yml), polls Masakari, and launches hastack.openstack.recover by itself.

Nothing is launched by the tests: the lab segment is disabled (Masakari's engine ignores it) and the tests only
watch. cmp1 killed with HA_Enabled instances: they must come back ACTIVE on cmp2, and the timeline the callback
wrote on the controller running the rulebook must agree with Nova; the same with the segment's recovery_method
reserved_host (the reserved cmp2 enabled and used). A guest's QEMU killed: the instance must run again in a new
QEMU, recorded in a VM timeline. nova-compute killed and unrestartable: its service disabled, the host in
maintenance, then hastack.openstack.host_restore brings it back. Needs `make lab` and
`ansible-playbook -i inventories/lab playbooks/recover_rulebook.yml`; slow: HASTACK_LAB_TESTS=1 only.
"""

import json
import os
import time

import pytest
from labcloud import (CLOUD, active, boot, compute_service, computes, delete, host_restore, kill_guest,
                      nova_compute_without_systemd_restart, podman, power_loss, rebuilt_on, reserved_spare, restore,
                      rulebook_node, segment_host, update_segment, wait)

pytestmark = pytest.mark.skipif(
    os.environ.get("HASTACK_LAB_TESTS") != "1", reason="lab rulebook test: run by `make test-full`"
)

TIMELINES = "/var/lib/hastack/timelines"


def timelines(node):
    listing = podman("exec", node, "sh", "-c", f"ls -1 {TIMELINES}/*.json 2>/dev/null", check=False).stdout
    return set(listing.split())


@pytest.fixture()
def cloud():
    import openstack  # pylint: disable=import-outside-toplevel  # from the project's venv

    conn = openstack.connect(cloud=CLOUD)
    segment = segment_host(conn, computes()[0])[0]
    update_segment(conn, segment.uuid, is_enabled=False)
    yield conn
    update_segment(conn, segment.uuid, is_enabled=True)


def new_records(node, before):
    new = wait(lambda: timelines(node) - before, 120, 2, "a timeline written by the rulebook's run")
    return [json.loads(podman("exec", node, "cat", path).stdout) for path in sorted(new)]


def test_host_failure_recovered_by_the_rulebook(cloud):
    node = rulebook_node()
    assert node, "the rulebook does not run: ansible-playbook -i inventories/lab playbooks/recover_rulebook.yml"
    before = timelines(node)
    source, target = computes()
    servers = active(cloud, [boot(cloud, f"hastack-ebtest-{i}", source) for i in range(2)])
    fault = power_loss(cloud, source)
    try:
        rebuilt_on(cloud, servers, target, timeout=600)
        recovered = time.time() - fault
        record = next(item for item in new_records(node, before) if item["outcome"] == "recovered")
        assert record["event"]["hostname"] == source and record["event"]["type"] == "COMPUTE_HOST", record["event"]
        by_id = {item["id"]: item for item in record["instances"]}
        for server in servers:
            assert cloud.compute.get_server(server.id).compute_host == target
            assert by_id[server.id]["target_host"] == target, by_id[server.id]
        print(f"\nrulebook mode on {node}: 2 instances ACTIVE on {target} {recovered:.1f} s after the power loss; "
              f"milestones {record['milestones']}")
    finally:
        restore(cloud, source, servers)


def test_instance_failure_recovered_by_the_rulebook(cloud):
    node = rulebook_node()
    assert node, "the rulebook does not run: ansible-playbook -i inventories/lab playbooks/recover_rulebook.yml"
    before = timelines(node)
    host = computes()[1]
    server = active(cloud, [boot(cloud, "hastack-ebtest-vm", host)])[0]
    try:
        recovered = kill_guest(cloud, host, server)[1]
        record = next(item for item in new_records(node, before) if item["event"]["type"] == "VM")
        assert record["outcome"] == "recovered" and record["instances"][0]["id"] == server.id, record
        print(f"\nrulebook mode, instance failure: ACTIVE in a new QEMU {recovered:.1f} s after the kill")
    finally:
        delete(cloud, [server])


def test_reserved_host_recovered_by_the_rulebook(cloud):
    node = rulebook_node()
    assert node, "the rulebook does not run: ansible-playbook -i inventories/lab playbooks/recover_rulebook.yml"
    source, spare = computes()
    servers = active(cloud, [boot(cloud, f"hastack-ebtest-rh-{i}", source) for i in range(2)])
    before = timelines(node)
    try:
        with reserved_spare(cloud, spare) as spare_used:
            fault = power_loss(cloud, source)
            rebuilt_on(cloud, servers, spare, timeout=600)
            recovered = time.time() - fault
            spare_used(next(item for item in new_records(node, before) if item["outcome"] == "recovered"))
            print(f"\nrulebook mode, reserved_host: 2 instances ACTIVE on the reserved {spare} {recovered:.1f} s after "
                  f"the power loss")
    finally:
        restore(cloud, source, servers)


def test_process_failure_recovered_by_the_rulebook(cloud):
    node = rulebook_node()
    assert node, "the rulebook does not run: ansible-playbook -i inventories/lab playbooks/recover_rulebook.yml"
    host = computes()[1]
    before = timelines(node)
    try:
        with nova_compute_without_systemd_restart(host, unrestartable=True, restart_monitor=False):
            fault = time.time()
            podman("exec", host, "pkill", "-9", "-f", "^/usr/bin/python3 /usr/bin/nova-compute")
            wait(lambda: compute_service(cloud, host).status == "disabled" and segment_host(cloud, host)[1].on_maintenance,
                 600, 2, f"{host}'s compute service disabled and the host in maintenance")
            disabled = time.time() - fault
            record = next(item for item in new_records(node, before) if item["event"]["type"] == "PROCESS")
            assert record["event"]["payload"] == {"event": "STOPPED", "process_name": "nova-compute"}, record["event"]
            assert record["outcome"] == "recovered", record
            print(f"\nrulebook mode, process failure: service disabled {disabled:.1f} s after the kill")
    finally:
        host_restore(host)
