"""The collection's own recovery (issue 8) on the lab: hastack.openstack.recover acting on the events that
Masakari's monitors really sent, with real Pacemaker fencing through the virtual BMC and real Nova evacuations.

The lab's segment is switched to the playbook for these tests (`enabled: false`): Masakari's engine then marks
every notification of its hosts `ignored` - the tests assert that it did, so the engine and the playbook never both
act - and the playbook is launched with the notification's fields, as the rulebook in extensions/eda launches it.

- Host failure, 4 HA_Enabled instances on cmp1, cmp1 killed (power loss): the first run of the playbook is killed
  in the middle of the evacuations, the second finishes the job, a third (a duplicate event) changes nothing; every
  instance ends ACTIVE on cmp2 with exactly one evacuation in Nova's migration records, and the timeline JSON/SVG
  written by the callback agrees with `openstack server show`.
- The same with the segment's recovery_method reserved_host and cmp2 reserved (its compute service disabled):
  cmp2 is enabled, taken out of `reserved` and receives the instances.
- Fencing impossible (cmp1's fence device pointed at a port where no BMC answers): the run fails saying cmp1 is not
  confirmed fenced, and nothing is evacuated or forced down.
- Instance failure (kill -9 of QEMU) and process failure (nova-compute killed, its restart made to fail) through the
  same playbook.
- hastack.openstack.host_restore brings the host back after a process failure (process monitor restarted) and after
  a host failure (powered on through its fence device, service forced up and enabled, a new instance lands there).

Every test restores what it broke. Slow: `make test-full` only, or HASTACK_LAB_TESTS=1.
"""

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
from labcloud import (CLOUD, RESTART_PROCESS_MONITOR, active, boot, compute_service, computes, delete, evacuations,
                      event_of, guests, host_restore, hosts, launch, notifications,
                      nova_compute_without_systemd_restart, podman, power_loss, power_on, qemu_pid, rebuilt_on, recover,
                      reserved_spare, restore, restore_host, rulebook_node, segment_host, set_rulebook, stopped,
                      update_segment, wait)

pytestmark = pytest.mark.skipif(
    os.environ.get("HASTACK_LAB_TESTS") != "1", reason="lab recovery playbook test: run by `make test-full`"
)

PREFIX = "hastack-rtest-"
DEAD_BMC_PORT = 6299  # nothing listens there


@pytest.fixture(scope="module")
def cloud():
    import openstack  # pylint: disable=import-outside-toplevel  # from the project's venv

    conn = openstack.connect(cloud=CLOUD)
    yield conn
    for server in conn.compute.servers(all_projects=True, name="^" + PREFIX):
        try:
            conn.compute.delete_server(server, force=True)
        except openstack.exceptions.NotFoundException:
            pass  # deleted meanwhile (the tests delete what they boot)


@pytest.fixture(scope="module")
def playbook_segment(cloud):
    """The lab segment handed to the playbook (disabled: Masakari's engine ignores it), as it was afterwards."""
    segment = segment_host(cloud, computes()[0])[0]
    rulebook = rulebook_node()
    if rulebook:  # these tests launch the playbook themselves
        set_rulebook(False)
    update_segment(cloud, segment.uuid, is_enabled=False)
    for host in computes():  # every compute enabled, up and out of maintenance before the first failure
        restore_host(cloud, host)
        assert compute_service(cloud, host).state == "up", f"{host}'s nova-compute is not up"
    yield segment
    update_segment(cloud, segment.uuid, is_enabled=True, recovery_method=segment.recovery_method)
    if rulebook:
        set_rulebook(True)


@pytest.fixture()
def timelines(tmp_path):
    return tmp_path


def kill_tree(pid):
    """SIGKILL a process and all its descendants. Ansible's workers start their own sessions (setsid), so killing
    the playbook's process group would leave a running module behind (host_evacuate's per-host lock covers that
    case; this test is about a runner that died with everything it ran)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    family, queue = [], [pid]
    while queue:
        current = queue.pop()
        family.append(current)
        queue.extend(children.get(current, []))
    for member in family:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return family


def check_timeline(conn, record, servers, target):
    """The callback's timeline agrees with Nova: every instance recorded as evacuated to where it now runs."""
    assert record["outcome"] == "recovered", record
    by_id = {item["id"]: item for item in record["instances"]}
    for server in servers:
        now = conn.compute.get_server(server.id)
        item = by_id[server.id]
        assert item["action"] in ("evacuated", "already_evacuated"), item
        assert item["target_host"] in (None, now.compute_host) and now.compute_host == target, (item, now.compute_host)
    milestones = record["milestones"]
    assert milestones["fenced"] is not None and milestones["recovered"] is not None, milestones
    assert milestones["fenced"] <= milestones["service_forced_down"] <= milestones["recovered"], milestones


def test_host_failure_interrupted_resumed_and_duplicate(cloud, playbook_segment, timelines):
    source, target = computes()
    servers = active(cloud, [boot(cloud, f"{PREFIX}host-{i}", source) for i in range(4)])
    fault = power_loss(cloud, source)
    try:
        event = event_of(cloud, source, "COMPUTE_HOST", fault, stopped)
        assert event["payload"]["event"] == "STOPPED", event
        received = time.time()

        first = launch(event, timelines)
        wait(lambda: any(evacuations(cloud, server) for server in servers) or first.poll() is not None, 600, 0.5,
             "the first evacuation to start")
        kill_tree(first.pid)  # the runner dies in the middle of the evacuations, modules included
        first.wait()
        interrupted = [server.name for server in servers if evacuations(cloud, server)]
        print(f"\nfirst run killed {time.time() - fault:.1f} s after the fault, evacuations started: {interrupted}")

        record = recover(event, timelines)["timeline"]
        moved = rebuilt_on(cloud, servers, target, timeout=60)
        done = time.time() - fault
        for server in servers:
            assert len(evacuations(cloud, server)) == 1, f"{server.name} evacuated {len(evacuations(cloud, server))} times"
        service = compute_service(cloud, source)
        assert service.is_forced_down and service.status == "disabled", service
        assert segment_host(cloud, source)[1].on_maintenance
        running = podman("exec", target, "pgrep", "-a", "-f", "qemu-system", check=False).stdout
        for server in moved:
            assert f"guest={server.instance_name}," in running, f"{server.name} has no QEMU on {target}"
        check_timeline(cloud, record, servers, target)
        print(f"host failure, playbook: notification {event['generated_time']}, playbook launched "
              f"{received - fault:.1f} s after the fault, 4 instances ACTIVE on {target} {done:.1f} s after the fault "
              f"(resumed run); timeline milestones {record['milestones']}")

        again = recover(event, timelines)
        assert again["changed"] == 0, f"a duplicate event changed something: {again['output'][-3000:]}"
        assert again["timeline"]["outcome"] == "nothing_to_do", again["timeline"]["instances"]
        for server in servers:
            assert len(evacuations(cloud, server)) == 1
    finally:
        restore(cloud, source, servers)


def test_reserved_host_recovery(cloud, playbook_segment, timelines):
    source, spare = computes()
    servers = active(cloud, [boot(cloud, f"{PREFIX}rh-{i}", source) for i in range(2)])
    try:
        with reserved_spare(cloud, spare) as spare_used:
            fault = power_loss(cloud, source)
            event = event_of(cloud, source, "COMPUTE_HOST", fault, stopped)
            record = recover(event, timelines)["timeline"]
            rebuilt_on(cloud, servers, spare, timeout=60)
            spare_used(record)
            check_timeline(cloud, record, servers, spare)
            print(f"\nreserved_host recovery: 2 instances ACTIVE on the reserved host {spare} "
                  f"{record['milestones']['recovered']:.1f} s after the fault")
    finally:
        restore(cloud, source, servers)


def _set_fence_port(host, port):
    podman("exec", hosts("controllers")[0], "crm_resource", "--resource", f"fence-{host}", "--set-parameter", "ipport",
           "--parameter-value", str(port))


def test_fencing_impossible_evacuates_nothing(cloud, playbook_segment, timelines):
    source = computes()[0]
    servers = active(cloud, [boot(cloud, f"{PREFIX}nofence", source)])
    port = str(6230 + computes().index(source) + 1)
    _set_fence_port(source, DEAD_BMC_PORT)
    fault = power_loss(cloud, source)
    try:
        event = event_of(cloud, source, "COMPUTE_HOST", fault, stopped)
        run = recover(event, timelines, "-e", "recover_fence_timeout=30", expect_rc=2)
        output, record = run["output"], run["timeline"]
        assert f"{source} is NOT confirmed fenced" in output and "Nothing was evacuated" in output, output[-3000:]
        assert record["outcome"] == "failed" and record["milestones"]["fenced"] is None, record["milestones"]
        server = cloud.compute.get_server(servers[0].id)
        assert server.compute_host == source and not evacuations(cloud, server), server
        assert not compute_service(cloud, source).is_forced_down
        print(f"\nfencing impossible: the run stopped {record['run']['seconds']:.0f} s after it started, nothing evacuated")
    finally:
        _set_fence_port(source, port)
        # As an operator would: fence it now that the BMC answers (Pacemaker would, and power it off again after
        # a power-on), then clear the failed attempt from the history.
        controller = hosts("controllers")[0]
        podman("exec", controller, "stonith_admin", "--fence", source, "--timeout", "120")
        podman("exec", controller, "stonith_admin", "--cleanup", "--history", source)
        # Nothing was evacuated: the instance still belongs to the host, its guest stays there.
        power_on(cloud, source)
        restore_host(cloud, source)
        delete(cloud, servers, timeout=600)  # the host's nova-compute deletes it once it has started up


def test_instance_failure(cloud, playbook_segment, timelines):
    host = computes()[1]
    server = active(cloud, [boot(cloud, f"{PREFIX}vm", host)])[0]
    try:
        before = qemu_pid(host, server.instance_name)
        fault = time.time()
        podman("exec", host, "kill", "-9", str(before))
        event = event_of(cloud, host, "VM", fault, lambda item: item.payload.get("instance_uuid") == server.id)
        record = recover(event, timelines)["timeline"]
        assert cloud.compute.get_server(server.id).status == "ACTIVE"
        assert qemu_pid(host, server.instance_name) not in (None, before)
        assert record["outcome"] == "recovered", record
        print(f"\ninstance failure, playbook: ACTIVE in a new QEMU {time.time() - fault:.1f} s after the kill")
    finally:
        delete(cloud, [server])


def monitor_pid(host):
    return podman("exec", host, "systemctl", "show", "--value", "--property", "MainPID",
                  "masakari-process-monitor").stdout.strip()


def test_nothing_done_while_the_engine_has_not_ignored_the_notification(cloud, playbook_segment, timelines):
    """Masakari's engine stopped on every controller: the VM notification stays `new`, and upstream's periodic task
    would process it later regardless of the disabled segment. The playbook must not act on it (the engine and the
    playbook never both act); once the engines run again, the notification is theirs."""
    host = computes()[1]
    controllers = hosts("controllers")
    server = active(cloud, [boot(cloud, f"{PREFIX}engine", host)])[0]
    found = None
    try:
        for controller in controllers:
            podman("exec", controller, "systemctl", "stop", "masakari-engine")
        pid = qemu_pid(host, server.instance_name)
        fault = time.time()
        podman("exec", host, "kill", "-9", str(pid))
        found = wait(lambda: [item for item in notifications(cloud, host, "VM", fault)
                              if item.payload.get("instance_uuid") == server.id], 180, 1, "the VM notification")[0]
        assert cloud.instance_ha.get_notification(found.notification_uuid).status == "new"
        event = {"type": "VM", "hostname": host, "payload": found.payload, "generated_time": found.generated_time,
                 "id": found.notification_uuid}
        run = recover(event, timelines, "-e", "recover_engine_timeout=10", expect_rc=2)
        assert "is still new after 10 s" in run["output"] and "this run does nothing" in run["output"], \
            run["output"][-3000:]
        assert run["timeline"]["outcome"] == "failed" and not run["timeline"]["instances"], run["timeline"]
        assert qemu_pid(host, server.instance_name) is None, "the playbook restarted the instance"
        print("\nengine down: the playbook left the `new` notification alone")
    finally:
        for controller in controllers:
            podman("exec", controller, "systemctl", "start", "masakari-engine")
        if found:
            status = wait(lambda: (s := cloud.instance_ha.get_notification(found.notification_uuid).status) != "new"
                          and s, 400, 5, "the engines taking up the notification")
            print(f"engines started again: the notification ended {status}")
        delete(cloud, [server])


def test_process_failure_and_restore(cloud, playbook_segment, timelines):
    """Process failure through the playbook, then the repaired host back with hastack.openstack.host_restore: the
    service enabled and the process monitor restarted (upstream's never watches a process again it gave up on)."""
    host = computes()[1]
    restored = False
    try:
        with nova_compute_without_systemd_restart(host, unrestartable=True, restart_monitor=False):
            fault = time.time()
            podman("exec", host, "pkill", "-9", "-f", "^/usr/bin/python3 /usr/bin/nova-compute")
            event = event_of(cloud, host, "PROCESS", fault, stopped)
            assert event["payload"] == {"event": "STOPPED", "process_name": "nova-compute"}, event
            recover(event, timelines)
            assert compute_service(cloud, host).status == "disabled"
            assert segment_host(cloud, host)[1].on_maintenance
            print(f"\nprocess failure, playbook: compute service disabled {time.time() - fault:.1f} s after the kill")
        monitor = monitor_pid(host)  # nova-compute repaired and started again (leaving the block)
        started = time.time()
        run = host_restore(host)
        service = compute_service(cloud, host)
        assert service.status == "enabled" and service.state == "up" and not service.is_forced_down, service
        assert not segment_host(cloud, host)[1].on_maintenance
        assert monitor_pid(host) not in ("0", monitor), "the process monitor was not restarted"
        restored = True
        print(f"host_restore after the process failure: {time.time() - started:.1f} s, changed={run['changed']}")
        assert host_restore(host)["changed"] == 0, "a second host_restore changed something"
    finally:
        if not restored:
            podman("exec", host, "sh", "-c", RESTART_PROCESS_MONITOR)
            wait(lambda: compute_service(cloud, host).state == "up", 300, 5, f"{host}'s nova-compute up again")
            restore_host(cloud, host)


def remote_online(host):
    status = podman("exec", hosts("controllers")[0], "crm_mon", "-1", "--output-as=xml").stdout
    return re.search(rf'<node name="{host}" [^>]*online="true"[^>]*unclean="false"', status) is not None


def test_host_restore_after_host_failure(cloud, playbook_segment, timelines):
    """A fenced, evacuated host brought back by hastack.openstack.host_restore alone: powered on through its fence
    device, the evacuated guests removed by its nova-compute, service forced up and enabled, out of maintenance,
    the evacuated instance live-migrated back (recover_restore_move_back), a new instance scheduled onto it; a
    second run changes nothing."""
    source, target = computes()
    servers = active(cloud, [boot(cloud, f"{PREFIX}restore", source)])
    probe = []
    restored = False
    fault = power_loss(cloud, source)
    try:
        event = event_of(cloud, source, "COMPUTE_HOST", fault, stopped)
        recover(event, timelines)
        rebuilt_on(cloud, servers, target, timeout=60)
        assert podman("inspect", "--format", "{{.State.Running}}", source).stdout.strip() == "false"
        started = time.time()
        move_back = ["-e", json.dumps({"recover_restore_move_back": [server.id for server in servers]})]
        run = host_restore(source, *move_back)
        seconds = time.time() - started
        assert run["changed"] > 0, run["output"][-3000:]
        assert podman("inspect", "--format", "{{.State.Running}}", source).stdout.strip() == "true"
        assert remote_online(source), f"Pacemaker does not see {source} online"
        service = compute_service(cloud, source)
        assert service.status == "enabled" and service.state == "up" and not service.is_forced_down, service
        assert not segment_host(cloud, source)[1].on_maintenance
        for server in servers:  # moved back, running on the source again
            moved = cloud.compute.get_server(server.id)
            assert moved.compute_host == source and moved.status == "ACTIVE", (moved.compute_host, moved.status)
        assert {server.instance_name for server in servers} <= guests(source)
        assert not {server.instance_name for server in servers} & guests(target), "a migrated guest is left behind"
        restored = True
        probe = active(cloud, [boot(cloud, f"{PREFIX}restore-probe", source)])
        assert cloud.compute.get_server(probe[0].id).compute_host == source
        print(f"\nhost_restore: {source} powered on, back in service, its instance live-migrated back, "
              f"{seconds:.1f} s after it started")
        assert host_restore(source, *move_back)["changed"] == 0, "a second host_restore changed something"
    finally:
        delete(cloud, probe)
        if restored:
            delete(cloud, servers)
        else:
            restore(cloud, source, servers)
