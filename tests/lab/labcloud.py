"""Helpers shared by the tests against the lab cloud of inventories/lab (containers, instances, waits)."""

import contextlib
import datetime
import json
import os
import re
import subprocess
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = "inventories/lab"
CLOUD = "hastack-lab"
IMAGE = "hastack-test"
FLAVOR = "hastack.tiny"
BOOT_LINE = "hastack-lab test instance: booted"
SEGMENT = "lab-segment"


def hosts(group):
    """Inventory names of a group of inventories/lab, in inventory order."""
    inventory = yaml.safe_load((ROOT / INVENTORY / "hosts.yml").read_text())
    return list(inventory["all"]["children"][group]["hosts"])


def computes():
    return hosts("computes")


def podman(*args, check=True, timeout=300):
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=timeout)


def masakari_playbook(*extra):
    """playbooks/masakari.yml on inventories/lab, as an operator runs it; fails the test unless it succeeds."""
    result = subprocess.run(
        ["ansible-playbook", "-i", INVENTORY, "playbooks/masakari.yml", *extra],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    return result


def wait(predicate, timeout, interval=1.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def boot(conn, name, host, ha_enabled=True):
    """An instance of the lab's test image on `host` (no network: the lab's Neutron has no agents)."""
    image = conn.image.find_image(IMAGE, ignore_missing=False)
    flavor = conn.compute.find_flavor(FLAVOR, ignore_missing=False)
    return conn.compute.create_server(
        name=name, image_id=image.id, flavor_id=flavor.id, networks="none",
        availability_zone=f"nova:{host}", metadata={"HA_Enabled": "True" if ha_enabled else "False"},
    )


def active(conn, servers, timeout=300):
    return [conn.compute.wait_for_server(conn.compute.get_server(server), status="ACTIVE", wait=timeout)
            for server in servers]


def delete(conn, servers, timeout=120):
    for server in servers:
        conn.compute.delete_server(server, force=True)
    for server in servers:
        conn.compute.wait_for_delete(server, wait=timeout)


def qemu_pid(host, instance_name):
    """PID of the guest's QEMU process on `host`, or None."""
    pids = podman("exec", host, "pgrep", "-f", f"guest={instance_name},", check=False).stdout.split()
    return int(pids[0]) if pids else None


def kill_guest(conn, host, server, timeout=300):
    """kill -9 of the server's QEMU on `host`, then wait until it is ACTIVE in a new QEMU: (kill time, seconds)."""
    pid = qemu_pid(host, server.instance_name)
    fault = time.time()
    podman("exec", host, "kill", "-9", str(pid))
    wait(lambda: conn.compute.get_server(server.id).status == "ACTIVE"
         and qemu_pid(host, server.instance_name) not in (None, pid), timeout, 1, "the instance ACTIVE in a new QEMU")
    return fault, time.time() - fault


def runs_under_kvm(host, instance_name):
    """The guest's QEMU process exists on that host and holds /dev/kvm open (hardware virtualisation)."""
    pid = qemu_pid(host, instance_name)
    if pid is None:
        return False
    fds = podman("exec", host, "sh", "-c", f"readlink /proc/{pid}/fd/*", check=False).stdout
    return "/dev/kvm" in fds.split()


def rebuilt_on(conn, servers, target, timeout=600):
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


def compute_service(conn, host):
    return next(conn.compute.services(binary="nova-compute", host=host))


def guests(host):
    """Libvirt domains defined on `host` (running or not)."""
    return set(podman("exec", host, "virsh", "list", "--all", "--name", check=False).stdout.split())


def utc(value):
    stamp = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=datetime.timezone.utc)


def notifications(conn, host, kind, since):
    """Notifications of `kind` for `host` created at or after the wall-clock time `since` (seconds).

    The API answers without the host name: a notification names its host by source_host_uuid.
    """
    start = datetime.datetime.fromtimestamp(since - 1, datetime.timezone.utc)
    host_uuid = segment_host(conn, host)[1].uuid
    return [item for item in conn.instance_ha.notifications()
            if item.source_host_uuid == host_uuid and item.type == kind and utc(item.created_at) >= start]


def segment_host(conn, host, segment_name=SEGMENT):
    """The segment `segment_name` and its host `host` (Masakari resources)."""
    segment = next(item for item in conn.instance_ha.segments() if item.name == segment_name)
    return segment, next(item for item in conn.instance_ha.hosts(segment.uuid) if item.name == host)


def restore_host(conn, host):
    """After a recovery: compute enabled again and Masakari's maintenance flag cleared (both set by Masakari)."""
    service = compute_service(conn, host)
    if service.status != "enabled":
        conn.compute.enable_service(service, host, "nova-compute")
    import openstack  # pylint: disable=import-outside-toplevel  # from the project's venv

    def cleared():
        segment, item = segment_host(conn, host)
        if item.on_maintenance:
            try:  # refused (409) while a notification of the host is new, running or in error
                conn.instance_ha.update_host(item.uuid, segment.uuid, on_maintenance=False)
            except openstack.exceptions.ConflictException:
                return False
        return True

    wait(cleared, 300, 5, f"Masakari accepting {host} out of maintenance")
    assert compute_service(conn, host).status == "enabled"
    assert not segment_host(conn, host)[1].on_maintenance


def power_on(conn, host):
    """Start a killed compute again; wait for Pacemaker and nova-compute.

    A service forced down (the collection's recovery does that) is forced up once Nova accepts it: Nova refuses
    while evacuations from the host are `done`, until the restarted nova-compute has removed their guests.
    """
    import openstack  # pylint: disable=import-outside-toplevel  # from the project's venv

    podman("start", host)
    podman("exec", host, "systemctl", "is-system-running", "--wait", check=False)

    def forced_up():
        service = compute_service(conn, host)
        if service.is_forced_down:
            try:
                conn.compute.update_service_forced_down(service, host, "nova-compute", False)
            except openstack.exceptions.BadRequestException:
                return False
        return True

    wait(forced_up, 300, 5, f"Nova accepting {host}'s nova-compute forced up")
    wait(lambda: compute_service(conn, host).state == "up", 300, 5, f"{host}'s nova-compute up again")


# --- the collection's recovery playbook (issue 8) ---------------------------------------------------------


def launch(event, timelines, *extra):
    """ansible-playbook hastack.openstack.recover with the event as extra vars, as the rulebook launches it."""
    command = ["ansible-playbook", "-i", INVENTORY, "playbooks/recover.yml",
               "-e", json.dumps({"recover_event": event, "recover_cloud": CLOUD}), *extra]
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "ANSIBLE_CALLBACKS_ENABLED": "hastack.openstack.recovery_timeline", "HASTACK_TIMELINE_DIR": str(timelines)}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def recover(event, timelines, *extra, expect_rc=0):
    """Run the playbook to its end: its output, localhost's recap and the newest timeline it wrote (a dict)."""
    process = launch(event, timelines, *extra)
    output = process.communicate(timeout=1200)[0]
    assert process.returncode == expect_rc, output[-8000:]
    recap = re.search(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    written = sorted(timelines.glob("*.json"), key=lambda path: path.stat().st_mtime)
    assert written, f"no timeline written: {output[-3000:]}"
    record = json.loads(written[-1].read_text())
    assert written[-1].with_suffix(".svg").read_text().startswith("<svg"), "no SVG chart next to the timeline"
    return {"output": output, "changed": int(recap.group(2)), "failed": int(recap.group(4)), "timeline": record}


def host_restore(host, *extra):
    """ansible-playbook hastack.openstack.host_restore for `host`: its output and localhost's changed count."""
    command = ["ansible-playbook", "-i", INVENTORY, "playbooks/host_restore.yml",
               "-e", json.dumps({"recover_restore_host": host, "recover_cloud": CLOUD}), *extra]
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False)
    assert run.returncode == 0, (run.stdout + run.stderr)[-8000:]
    recap = re.search(r"localhost\s+: ok=(\d+)\s+changed=(\d+)", run.stdout)
    return {"output": run.stdout, "changed": int(recap.group(2))}


# Masakari's API refuses (409, "duplicate") a notification of the same host, type and payload within
# masakari_duplicate_notification_detection_interval (180 s): a host killed again sooner is never reported.
DUPLICATE_WINDOW = 180 + 5


def power_loss(conn, host):
    """Kill `host`'s container (a power cut) once Masakari would accept its STOPPED notification: the time of the kill."""
    wait(lambda: not [item for item in notifications(conn, host, "COMPUTE_HOST", time.time() - DUPLICATE_WINDOW)
                      if stopped(item)], DUPLICATE_WINDOW + 10, 5,
         f"Masakari's duplicate window of {host}'s last failure to pass")
    fault = time.time()
    podman("kill", host)
    return fault


def stopped(notification):
    """A host or process notification of a failure (STARTED ones also arrive when a recovered host comes back)."""
    return notification.payload.get("event") == "STOPPED"


def event_of(conn, host, kind, fault, match=lambda notification: True, timeout=180):
    """The notification a monitor sent for `host` after `fault`, once Masakari's engine has ignored it, as an event."""
    found = wait(lambda: [item for item in notifications(conn, host, kind, fault) if match(item)], timeout, 1,
                 f"a {kind} notification for {host}")[0]
    status = wait(lambda: (s := conn.instance_ha.get_notification(found.notification_uuid).status) != "new" and s,
                  60, 1, "Masakari's engine handling the notification")
    assert status == "ignored", f"Masakari's engine did not ignore the notification of a disabled segment: {status}"
    return {"type": kind, "hostname": host, "payload": found.payload, "generated_time": found.generated_time,
            "id": found.notification_uuid}


def evacuations(conn, server):
    return [m for m in conn.compute.migrations(instance_uuid=server.id) if m.migration_type == "evacuation"]


def restore(conn, host, servers):
    """Power the failed host on, let nova-compute remove the evacuated guests, enable it, clear maintenance."""
    power_on(conn, host)
    wait(lambda: not {server.instance_name for server in servers} & guests(host), 300, 5,
         f"nova-compute on {host} removing the evacuated guests")
    restore_host(conn, host)
    delete(conn, servers)


RULEBOOK_RESOURCE = "hastack-recover-rulebook"


def rulebook_node():
    """The controller Pacemaker runs the recovery rulebook on (playbooks/recover_rulebook.yml), or None."""
    located = podman("exec", hosts("controllers")[0], "crm_resource", "--resource", RULEBOOK_RESOURCE, "--locate",
                     check=False).stdout
    nodes = re.findall(r"is running on: (\S+)", located)
    return nodes[0] if nodes else None


def set_rulebook(started):
    """Start or stop the rulebook's Pacemaker resource (tests that launch the playbook themselves stop it, so that
    one failure is not recovered by two runners)."""
    role = "Started" if started else "Stopped"
    podman("exec", hosts("controllers")[0], "crm_resource", "--resource", RULEBOOK_RESOURCE, "--meta",
           "--set-parameter", "target-role", "--parameter-value", role)
    wait(lambda: bool(rulebook_node()) == started, 120, 2, f"the rulebook {role.lower()}")


@contextlib.contextmanager
def reserved_spare(conn, spare):
    """The segment of `spare` switched to recovery_method reserved_host with `spare` reserved and its compute service
    disabled (as an operator keeps a reserved host); afterwards the segment's method back, `spare` unreserved, enabled
    and out of maintenance. Yields the asserting function for after a recovery: the spare was taken into service."""
    segment, spare_host = segment_host(conn, spare)
    update_segment(conn, segment.uuid, recovery_method="reserved_host")
    conn.instance_ha.update_host(spare_host.uuid, segment.uuid, reserved=True)
    conn.compute.disable_service(compute_service(conn, spare), spare, "nova-compute",
                                 disabled_reason="hastack test: reserved host")

    def used(record):
        assert compute_service(conn, spare).status == "enabled"
        assert not segment_host(conn, spare)[1].reserved
        evacuated = [item for item in record["tasks"] if item["action"] == "host_evacuate"][0]["data"]
        assert evacuated["recovery_method_used"] == "reserved_host" and evacuated["reserved_host"] == spare, evacuated
    try:
        yield used
    finally:
        update_segment(conn, segment.uuid, recovery_method=segment.recovery_method)
        conn.instance_ha.update_host(spare_host.uuid, segment.uuid, reserved=False)
        restore_host(conn, spare)


def update_segment(conn, segment_uuid, **fields):
    """Masakari refuses (409) to change a segment while a notification of its hosts is new or running (a powered-on
    host's STARTED notification, until the engine has ignored it): retried."""
    import openstack  # pylint: disable=import-outside-toplevel  # from the project's venv

    def updated():
        try:
            return conn.instance_ha.update_segment(segment_uuid, **fields)
        except openstack.exceptions.ConflictException:
            return None
    return wait(updated, 120, 2, f"Masakari accepting a change of segment {segment_uuid}")


# The process monitor never restarts or reports again a process it once failed to restart, until it is restarted
# itself (upstream keeps that process in its failure list while the process runs): part of restoring a host.
RESTART_PROCESS_MONITOR = "systemctl restart masakari-process-monitor"
NO_RESTART_DROPIN = "/run/systemd/system/nova-compute.service.d/hastack-test.conf"


@contextlib.contextmanager
def nova_compute_without_systemd_restart(host, unrestartable=False, restart_monitor=True):
    """nova-compute on `host` without systemd's own Restart=, so only the process monitor can bring it back (and,
    with `unrestartable`, masked so that the monitor cannot either); everything undone afterwards (the process
    monitor restarted too, unless `restart_monitor` is false: restoring the host is then left to the test)."""
    mask = " && systemctl mask --runtime nova-compute" if unrestartable else ""
    podman("exec", host, "sh", "-c", f"mkdir -p {os.path.dirname(NO_RESTART_DROPIN)}"
           f" && printf '[Service]\\nRestart=no\\n' > {NO_RESTART_DROPIN} && systemctl daemon-reload{mask}"
           f" && {RESTART_PROCESS_MONITOR}")
    try:
        yield host
    finally:
        podman("exec", host, "sh", "-c", f"rm -f {NO_RESTART_DROPIN}; systemctl unmask --runtime nova-compute;"
               f" systemctl daemon-reload; systemctl start nova-compute"
               + (f"; {RESTART_PROCESS_MONITOR}" if restart_monitor else ""))
