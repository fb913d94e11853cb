# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)
"""Nova (compute) helpers shared by the compute_service, host_evacuate, instance_recover and instance_migrate modules.

Facts of the Nova API these helpers build on (upstream nova, api/openstack/compute/ and compute/api.py):

- from microversion 2.53 on a service is addressed by its UUID: ``PUT /os-services/{uuid}`` with
  ``status``, ``disabled_reason``, ``forced_down``. ``forced_down`` exists since 2.11;
- a service is "up" for Nova when it is not forced down and its last heartbeat is recent
  (``service_down_time``); Nova evacuates an instance only when its host's compute service is not up;
- ``evacuate`` rebuilds an active instance as active and a stopped one as stopped up to microversion 2.94;
  from 2.95 on every evacuated instance ends stopped. The evacuation is therefore sent with microversion
  2.53 explicitly (not the SDK's negotiated maximum), and without an admin password;
- each evacuation leaves a migration record (``migration_type`` evacuation) from the source compute:
  accepted, then pre-migrating, then done (or failed/error); done turns into completed when the source
  compute restarts and cleans up;
- ``os-resetState`` is sent as a raw action: openstacksdk's ``reset_server_state`` (up to at least 4.22)
  sends a resume instead of the reset it names;
- a lock reason (``locked_reason``) exists from 2.73 on;
- live migration (``os-migrateLive``, api/openstack/compute/migrate_server.py and its schema): from 2.25 the body
  is ``host`` (a name or null: the scheduler's choice) and ``block_migration`` (a boolean or ``auto``: Nova picks
  block migration when the instance's disks are not on shared storage), both required. From 2.30 to 2.67 an
  optional ``force`` bypasses the scheduler for a given host; without it a given host is only a hint the
  scheduler's filters check (before 2.30 a given host is always forced); 2.68 removed ``force``. From 2.34 the
  pre-checks run asynchronously in the conductor: the API answers 202 at once and a refused destination (no
  valid host, compute down, incompatible hypervisor...) shows only as migration status ``error`` with the
  instance still active on its host. Nova accepts an active or paused instance without a task (else 409); the
  API sets task_state ``migrating`` before it answers. The migration record (``migration_type``
  live-migration) goes accepted, queued, preparing, running, completed; a failed one ends ``error`` (pre-checks,
  the destination's preparation, an unexpected failure that leaves the instance in ERROR) or ``failed`` (the
  hypervisor's migration failed and was rolled back: the instance stays active on its host) or ``cancelled``
  (aborted). The instance's host changes before the record turns completed. Sent here with microversion 2.53,
  the one the other helpers use: past 2.30 (never forced, ``force`` is not sent) and 2.34, before 2.68.

Waits use ``CLOCK``, so the unit tests can replace time with the fake API's clock.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

try:
    from openstack import exceptions as sdk_exceptions
except ImportError:
    sdk_exceptions = None

SERVICE_MICROVERSION = "2.53"
# Up to 2.94 an evacuated instance keeps its state (active stays active); 2.95+ leaves it stopped.
EVACUATE_MICROVERSION = "2.53"
LOCKED_REASON_MICROVERSION = "2.73"
# 2.30+: a given host goes through the scheduler (no force); 2.34+: asynchronous pre-checks; before 2.68.
LIVE_MIGRATE_MICROVERSION = "2.53"
LIVE_MIGRATION_TYPE = "live-migration"
LIVE_MIGRATION_FAILED = ("error", "failed", "cancelled")
LIVE_MIGRATION_DONE = ("completed", "done")
COMPUTE_BINARY = "nova-compute"

SERVICE_FIELDS = ("id", "host", "binary", "status", "state", "forced_down", "disabled_reason", "zone", "updated_at")

# Marker of a lock this collection took for an evacuation; it records the state the instance had before, so
# that a run interrupted mid-evacuation can be finished by the next one.
LOCK_MARKER = "hastack.openstack.host_evacuate"
_MARKER_PATTERN = re.compile(r"^%s from (?P<source>\S+): vm_state=(?P<vm_state>\S+) task_state=(?P<task_state>\S+) "
                             r"power_state=(?P<power_state>-?\d+|-)$" % re.escape(LOCK_MARKER))


class Clock(object):
    """Wall clock and sleep of the waits (replaced in the unit tests)."""

    @staticmethod
    def now():
        return time.time()

    @staticmethod
    def sleep(seconds):
        time.sleep(seconds)


CLOCK = Clock()


# --- services ---------------------------------------------------------------------------------------------

def service_to_dict(service):
    return dict(
        id=service.id,
        host=service.host,
        binary=service.binary,
        status=service.status,
        state=service.state,
        forced_down=service.is_forced_down,
        disabled_reason=service.disabled_reason,
        zone=service.availability_zone,
        updated_at=service.updated_at,
    )


def find_services(proxy, host, binary=COMPUTE_BINARY):
    """Services with exactly this host and binary (the API filters, the names are compared again here)."""
    return [s for s in proxy.services(host=host, binary=binary) if s.host == host and s.binary == binary]


def known_hosts(proxy, binary=COMPUTE_BINARY):
    return sorted(set(s.host for s in proxy.services(binary=binary)))


def service_is_down(service):
    """Whether Nova considers the service down: forced down, or missed heartbeats."""
    return bool(service.is_forced_down) or service.state == "down"


# --- servers ----------------------------------------------------------------------------------------------

def server_to_dict(server):
    return dict(
        id=server.id,
        name=server.name,
        status=server.status,
        vm_state=server.vm_state,
        task_state=server.task_state,
        power_state=server.power_state,
        host=server.compute_host,
        hypervisor_hostname=server.hypervisor_hostname,
        metadata=dict(server.metadata or {}),
        locked=server.is_locked,
        locked_reason=getattr(server, "locked_reason", None),
    )


def host_servers(proxy, host):
    """Servers of every project whose compute host is ``host``, as dicts."""
    return [server_to_dict(s) for s in proxy.servers(details=True, all_projects=True, compute_host=host)]


def get_server(proxy, server_id):
    return server_to_dict(proxy.get_server(server_id))


def server_action(proxy, server_id, body, microversion=None):
    """POST one server action; an error answer raises openstacksdk's exception for it."""
    kwargs = {} if microversion is None else dict(microversion=microversion)
    response = proxy.post("/servers/%s/action" % server_id, json=body, **kwargs)
    sdk_exceptions.raise_from_response(response, error_message="Nova refused %s" % next(iter(body)))
    return response


def reset_state(proxy, server_id, state):
    return server_action(proxy, server_id, {"os-resetState": {"state": state}})


def evacuate(proxy, server_id, host=None):
    """Evacuate with microversion 2.53: the instance keeps its state; no admin password; the scheduler's
    choice of host unless ``host`` is given (checked by the scheduler, not forced)."""
    body = {} if host is None else {"host": host}
    return server_action(proxy, server_id, {"evacuate": body}, microversion=EVACUATE_MICROVERSION)


def live_migrate(proxy, server_id, host=None, block_migration="auto"):
    """Live-migrate with microversion 2.53: to ``host`` as checked by the scheduler (never forced), or to the
    scheduler's choice; ``block_migration`` True, False or "auto". Nova answers 202 and migrates asynchronously."""
    body = {"host": host, "block_migration": block_migration}
    return server_action(proxy, server_id, {"os-migrateLive": body}, microversion=LIVE_MIGRATE_MICROVERSION)


def lock(proxy, server_id, reason=None):
    """Lock a server, with a reason when given (the caller checks the API has microversion 2.73)."""
    if reason is None:
        return server_action(proxy, server_id, {"lock": None})
    return server_action(proxy, server_id, {"lock": {"locked_reason": reason}}, microversion=LOCKED_REASON_MICROVERSION)


def unlock(proxy, server_id):
    return server_action(proxy, server_id, {"unlock": None})


def stop(proxy, server_id):
    """Stop a server. Returns None, or Nova's refusal (409, e.g. already stopped) as text."""
    try:
        server_action(proxy, server_id, {"os-stop": None})
    except sdk_exceptions.ConflictException as error:
        return getattr(error, "details", None) or str(error)
    return None


def start(proxy, server_id):
    return server_action(proxy, server_id, {"os-start": None})


def wait_for_server(proxy, server_id, decide, timeout, interval):
    """Poll a server until ``decide(server_dict)`` returns something other than None.

    Returns ``(decision, server_dict)``; the decision is None when ``timeout`` seconds passed first.
    """
    deadline = CLOCK.now() + timeout
    while True:
        server = get_server(proxy, server_id)
        decision = decide(server)
        if decision is not None:
            return decision, server
        if CLOCK.now() >= deadline:
            return None, server
        CLOCK.sleep(interval)


def wait_for_vm_state(proxy, server_id, vm_state, timeout, interval):
    """Wait until the server has ``vm_state`` and no task; returns ``(reached, server_dict)``."""
    decision, server = wait_for_server(
        proxy, server_id, lambda s: True if s["vm_state"] == vm_state and not s["task_state"] else None,
        timeout, interval)
    return bool(decision), server


# --- lock marker ------------------------------------------------------------------------------------------

def lock_marker(source_host, server):
    """Lock reason recording the state a server had before its evacuation from ``source_host``.

    None when it would not fit Nova's 255 characters.
    """
    power_state = server.get("power_state")
    marker = "%s from %s: vm_state=%s task_state=%s power_state=%s" % (
        LOCK_MARKER, source_host, server.get("vm_state") or "-", server.get("task_state") or "-",
        "-" if power_state is None else power_state)
    return marker if len(marker) <= 255 else None


def parse_lock_marker(reason, source_host):
    """The pre-evacuation state (vm_state, task_state, power_state) recorded by ``lock_marker``, else None."""
    match = _MARKER_PATTERN.match(reason or "")
    if match is None or match.group("source") != source_host:
        return None

    def value(name):
        text = match.group(name)
        return None if text == "-" else text

    power_state = value("power_state")
    return dict(vm_state=value("vm_state"), task_state=value("task_state"),
                power_state=None if power_state is None else int(power_state))


# --- migrations and aggregates -------------------------------------------------------------------------------

def migration_to_dict(migration):
    return dict(
        id=migration.id,
        server_id=migration.server_id,
        status=migration.status,
        source_compute=migration.source_compute,
        dest_compute=migration.dest_compute,
        created_at=migration.created_at,
    )


def _newest(migrations):
    return max(migrations, key=lambda m: (m["created_at"] or "", m["id"] if isinstance(m["id"], int) else 0))


def evacuations_from(proxy, source_host, server_id=None):
    """The newest evacuation migration from ``source_host`` of each server (of one server if given)."""
    query = dict(source_compute=source_host, migration_type="evacuation")
    if server_id is not None:
        query["server_id"] = server_id
    by_server = {}
    for migration in proxy.migrations(**query):
        record = migration_to_dict(migration)
        if record["source_compute"] != source_host or (server_id is not None and record["server_id"] != server_id):
            continue
        by_server.setdefault(record["server_id"], []).append(record)
    return dict((key, _newest(records)) for key, records in by_server.items())


def live_migrations(proxy, server_id):
    """The live-migration records of one server, as dicts, oldest first."""
    records = [migration_to_dict(m) for m in proxy.migrations(server_id=server_id, migration_type=LIVE_MIGRATION_TYPE)]
    records = [r for r in records if r["server_id"] == server_id]
    return sorted(records, key=lambda m: (m["created_at"] or "", m["id"] if isinstance(m["id"], int) else 0))


def host_aggregates(proxy, host):
    return [a for a in proxy.aggregates() if host in (a.hosts or [])]
