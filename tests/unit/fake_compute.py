"""An in-memory Nova compute API, answered through openstacksdk's own Connection and compute Proxy.

This fake is a unit-test stand-in for the real Nova API, used by the unit tests of the compute modules
(compute_service, host_evacuate, instance_recover, instance_migrate) in this directory only; the modules run
against a real Nova in the lab. What it knows of the API was read from upstream nova (api/openstack/compute/
services.py, evacuate.py, lock_server.py, admin_actions.py, migrate_server.py, migrations.py, servers.py,
aggregates.py and their schemas/, api/openstack/common.py, compute/api.py, compute/manager.py,
conductor/manager.py, conductor/tasks/live_migrate.py; nova 31.0.0, 2025.1):

- microversions: a request carries one (no header means 2.1); one above the API's maximum is a 406. The
  API's maximum is a constructor argument, so older clouds can be modelled;
- ``GET /os-services`` (filters ``host``, ``binary``): ``id`` is the service UUID from 2.53 on (an integer
  before), ``forced_down`` appears from 2.11 on. ``state`` is ``down`` when the service is forced down or
  its last heartbeat is older than ``service_down_time`` (60 s): a host that just died still reports ``up``;
- ``PUT /os-services/{uuid}`` (2.53+): body keys ``status`` (enabled|disabled), ``disabled_reason``
  (1-255 characters), ``forced_down`` (boolean), nothing else (400); a non-UUID id is a 400, an unknown one a
  404; only nova-compute services can be updated (400); ``disabled_reason`` with ``enabled`` is a 400; an
  empty body is a 400; ``forced_down: false`` is refused (400) while evacuation migrations of the host in
  status ``done`` remain. A change of ``status`` makes an RPC call to the compute when Nova believes the
  service up (not forced down, fresh heartbeat): to a dead host that call blocks for ``rpc_response_timeout``
  (60 s, recorded in ``rpc_timeouts``; the fake clock moves on) before the API answers;
- ``GET /servers/detail``: a project's own servers, every project's with ``all_tenants``; the admin filter
  ``host`` matches the instance's compute host, ``name`` is a regular expression. Servers show
  ``OS-EXT-STS:vm_state``/``task_state``/``power_state``, ``OS-EXT-SRV-ATTR:host``/``hypervisor_hostname``,
  ``locked`` (2.9+) and ``locked_reason`` (2.73+); ``status`` derives from vm_state and task_state as
  nova.api.openstack.common.status_from_state does;
- server actions (``POST /servers/{id}/action``): ``os-stop`` (vm_state active or error, no task: else 409),
  ``os-start`` (stopped, no task: else 409), ``lock`` (``locked_reason`` only from 2.73 on, else 400),
  ``unlock``, ``os-resetState`` (``active`` or ``error``: sets vm_state, clears task_state);
  ``evacuate``: from 2.14 the body takes ``host`` and ``adminPass`` only (``force`` from 2.29 to 2.67),
  an unknown target host is a 404, the instance's own host a 400, vm_state must be active, stopped or error
  with no task (409), and the source compute service must not be up (400 "Compute service of X is still in
  use.") - so a host must be forced down, or have missed heartbeats long enough, first. From 2.95 on an
  evacuated instance ends stopped; before, it keeps active/stopped and an error instance ends active;
- the compute's work happens later, on the fake clock: a stop or start takes ``power_seconds`` and never
  finishes on a dead host (the RPC cast is lost; the task_state stays). An evacuation creates a migration
  (``migration_type`` evacuation, status ``accepted``), is scheduled after ``scheduling_seconds`` (to the
  requested host if it is an enabled, up compute with room; else to the least loaded such host; none:
  migration ``error``, instance vm_state error), goes ``pre-migrating`` with the instance moved to the
  destination (host and hypervisor_hostname), then after ``evacuation_seconds`` ``done`` (or ``failed``
  with the instance in error, for servers in ``fail_rebuild``; ``stuck_rebuild`` never finishes);
- ``os-migrateLive`` (202, no body; schemas migrate_live, _v2_25, _v2_30, _v2_68): up to 2.24 the body keys are
  ``host``, ``block_migration`` and ``disk_over_commit`` (booleans), all required; from 2.25 ``host`` and
  ``block_migration`` (a boolean or ``auto``), both required, ``disk_over_commit`` is gone (400); ``force``
  (boolean) is accepted from 2.30 to 2.67 only, and ``force`` without a host is a 400. ``host`` is a host name
  or null. Any other key is a 400. The instance must be active or paused without a task (409, checked before the
  host), a given host must have a compute node (400 "Compute host X could not be found."). The API sets
  task_state ``migrating`` and answers; before 2.30 a given host is forced (the scheduler is bypassed), from
  2.30 on it is only checked by the scheduler unless ``force``. From 2.34 the conductor's work is asynchronous;
  before, its pre-check failures are the API's 400. The conductor records a ``live-migration`` migration
  (``accepted``, ``dest_compute`` the forced host or null), then after ``scheduling_seconds`` picks the
  destination as for an evacuation (the requested host if it is an enabled, up compute with room other than
  the source; else the least loaded such host). None, a down source compute, an instance not running, a forced
  host equal to the source: migration ``error``, the instance keeps its vm_state, task cleared. Otherwise the
  migration gets its destination and goes ``queued``, ``preparing`` (1 s later), ``running`` (1 s later); after
  ``live_migration_seconds`` the instance is on the destination (host and hypervisor_hostname), task cleared,
  and 1 s later the migration is ``completed``. Test hooks: servers in ``fail_live_migration`` are rolled back
  instead (migration ``failed``, the instance active on its source), in ``crash_live_migration`` end in ERROR
  on the source (migration ``error``), in ``stuck_live_migration`` stay ``running`` for ever;
- ``GET /os-migrations``: filters ``instance_uuid``, ``source_compute``, ``migration_type``, ``status``,
  ``host``; ``uuid`` from 2.59 on;
- ``GET /os-aggregates`` and the ``add_host`` action (unknown compute host 404, already a member 409).

Errors carry Nova's fault bodies ({"badRequest": {"message": ..., "code": 400}}), which openstacksdk turns
into its exceptions. Masakari requests (service type instance-ha) are answered by fake_instance_ha's
FakeMasakariAPI when one is given, so host_evacuate's segment look-ups run through openstacksdk too.

``connect(nova, masakari=None)`` returns openstacksdk's real ``Connection`` over ``FakeCloudSession``, a
keystoneauth session that answers in memory (no network): the SDK builds every request itself. Every request
is recorded in ``FakeNovaAPI.requests`` as ``(method, path, query, body, microversion)``.

Time: ``FakeNovaAPI.now()`` and ``FakeNovaAPI.sleep()`` stand in for the clock of the modules; sleeping
moves the fake clock and lets the compute's pending work happen.
"""

import copy
import datetime
import itertools
import re
import threading
import uuid
from collections import namedtuple
from types import SimpleNamespace

import keystoneauth1.session
from openstack import connection

import fake_instance_ha
from fake_instance_ha import api_response

COMPUTE_ENDPOINT = "http://nova.test:8774/v2.1"
MIN_MICROVERSION = (2, 1)
EPOCH = 1795000000.0  # the fake clock's start, seconds since 1970
SERVICE_DOWN_TIME = 60

ACTIVE, STOPPED, ERROR, PAUSED, SUSPENDED, RESCUED, RESIZED = (
    "active", "stopped", "error", "paused", "suspended", "rescued", "resized")
POWER = dict(running=1, paused=3, shutdown=4, suspended=7, nostate=0)
_DEFAULT_POWER = {ACTIVE: 1, STOPPED: 4, PAUSED: 3, SUSPENDED: 7, RESCUED: 1, RESIZED: 1, ERROR: 0}
_REBUILD_TASKS = ("rebuilding", "rebuild_block_device_mapping", "rebuild_spawning")
_STATUS = {
    ACTIVE: dict(default="ACTIVE", rebuilding="REBUILD", rebuild_block_device_mapping="REBUILD",
                 rebuild_spawning="REBUILD", migrating="MIGRATING"),
    STOPPED: dict(default="SHUTOFF", rebuilding="REBUILD", rebuild_block_device_mapping="REBUILD",
                  rebuild_spawning="REBUILD"),
    ERROR: dict(default="ERROR", rebuilding="REBUILD", rebuild_block_device_mapping="REBUILD",
                rebuild_spawning="REBUILD"),
    RESIZED: dict(default="VERIFY_RESIZE"),
    PAUSED: dict(default="PAUSED", migrating="MIGRATING"),
    SUSPENDED: dict(default="SUSPENDED"),
    RESCUED: dict(default="RESCUE"),
    "building": dict(default="BUILD"),
    "shelved": dict(default="SHELVED"),
}
MIGRATION_FINAL = ("done", "completed", "failed", "error", "cancelled")
_FAULTS = {400: "badRequest", 403: "forbidden", 404: "itemNotFound", 406: "notAcceptable", 409: "conflictingRequest"}

Request = namedtuple("Request", "method path query body microversion")


class NovaError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def version(text):
    if isinstance(text, tuple):
        return text
    return tuple(int(part) for part in str(text).split("."))


def _is_uuid(value):
    try:
        return str(uuid.UUID(str(value))) == str(value).lower()
    except ValueError:
        return False


class FakeNovaAPI:
    """Server side: state and rules of the parts of Nova's compute API the modules use."""

    def __init__(self, max_microversion="2.96", project="admin-project", evacuation_seconds=20, power_seconds=3,
                 scheduling_seconds=1, rpc_response_timeout=60, hold_rebuilds=0, live_migration_seconds=10):
        self.max_microversion = version(max_microversion)
        self.project = project  # the project of the token the modules use
        self.evacuation_seconds = evacuation_seconds
        self.power_seconds = power_seconds
        self.scheduling_seconds = scheduling_seconds
        self.live_migration_seconds = live_migration_seconds
        self.rpc_response_timeout = rpc_response_timeout
        self.lock = threading.RLock()
        self.clock = EPOCH
        self.services = {}  # uuid -> record
        self.servers = {}  # uuid -> record
        self.migrations = []
        self.aggregates = {}  # id -> record
        self.requests = []
        self.rpc_timeouts = []  # hosts an RPC call blocked on
        self.fail_rebuild = set()  # server ids whose rebuild on the destination fails
        self.stuck_rebuild = set()  # server ids whose rebuild never finishes
        self.fail_live_migration = set()  # server ids whose live migration fails and is rolled back
        self.crash_live_migration = set()  # server ids whose live migration fails and leaves them in ERROR
        self.stuck_live_migration = set()  # server ids whose live migration never finishes
        self.max_in_flight = 0  # most evacuations unfinished at one time
        # Tests of parallelism: the rebuilds of the first ``hold_rebuilds`` evacuations wait until that many were
        # accepted, so that reaching that many at once does not depend on how the client's threads are scheduled.
        self.hold_rebuilds = hold_rebuilds
        self._held = []
        self._accepted = 0
        self._pending = []  # (due, sequence, callable)
        self._sequence = itertools.count()
        self._ids = itertools.count(1)

    # --- clock ------------------------------------------------------------------------------------------

    def now(self):
        with self.lock:
            return self.clock

    def sleep(self, seconds):
        with self.lock:
            self._run_due(self.clock + max(float(seconds), 0.0))

    def _later(self, seconds, action):
        self._pending.append((self.clock + seconds, next(self._sequence), action))

    def _run_due(self, until=None):
        """Run the compute's work due by ``until`` (default now), each at its own time, then move to ``until``."""
        until = self.clock if until is None else until
        while True:
            due = sorted(item for item in self._pending if item[0] <= until)
            if not due:
                break
            item = due[0]
            self._pending.remove(item)
            self.clock = max(self.clock, item[0])
            item[2]()
        self.clock = max(self.clock, until)

    def _timestamp(self):
        return datetime.datetime.fromtimestamp(self.clock, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")

    # --- test setup ---------------------------------------------------------------------------------------

    def add_compute(self, host, zone="nova", disabled=False, disabled_reason=None, forced_down=False,
                    hypervisor_hostname=None, capacity=50):
        """A nova-compute service, alive (it sends heartbeats), with its hypervisor node."""
        with self.lock:
            record = dict(uuid=str(uuid.uuid4()), id=next(self._ids), host=host, binary="nova-compute", zone=zone,
                          disabled=disabled, disabled_reason=disabled_reason, forced_down=forced_down,
                          dead=False, last_heartbeat=None, updated_at=self._timestamp(),
                          node=hypervisor_hostname or host, capacity=capacity)
            self.services[record["uuid"]] = record
            return record

    def add_service(self, host, binary, zone="internal"):
        with self.lock:
            record = dict(uuid=str(uuid.uuid4()), id=next(self._ids), host=host, binary=binary, zone=zone,
                          disabled=False, disabled_reason=None, forced_down=False, dead=False,
                          last_heartbeat=None, updated_at=self._timestamp(), node=None, capacity=0)
            self.services[record["uuid"]] = record
            return record

    def kill_host(self, host, seconds_ago=0):
        """The host dies: its services stop sending heartbeats (last one ``seconds_ago``) and answer nothing."""
        with self.lock:
            for record in self.services.values():
                if record["host"] == host:
                    record.update(dead=True, last_heartbeat=self.clock - seconds_ago)

    def revive_host(self, host):
        with self.lock:
            for record in self.services.values():
                if record["host"] == host:
                    record.update(dead=False, last_heartbeat=None)

    def add_server(self, name, host, vm_state=ACTIVE, task_state=None, power_state=None, metadata=None,
                   project=None, locked=False, locked_reason=None, server_id=None):
        with self.lock:
            service = self.compute_service(host)
            record = dict(id=server_id or str(uuid.uuid4()), name=name, project=project or self.project,
                          host=host, node=service["node"] if service else host, vm_state=vm_state,
                          task_state=task_state,
                          power_state=_DEFAULT_POWER.get(vm_state, 0) if power_state is None else power_state,
                          metadata=dict(metadata or {}), locked=locked, locked_reason=locked_reason,
                          created=self._timestamp(), updated=self._timestamp())
            self.servers[record["id"]] = record
            return record

    def add_aggregate(self, name, hosts=(), availability_zone=None):
        with self.lock:
            record = dict(id=next(self._ids), uuid=str(uuid.uuid4()), name=name, hosts=list(hosts),
                          availability_zone=availability_zone, metadata={}, created_at=self._timestamp())
            self.aggregates[record["id"]] = record
            return record

    def add_migration(self, server_id, status, source=None, dest=None):
        """An evacuation migration record, as an earlier (possibly interrupted) evacuation left it."""
        with self.lock:
            server = self.servers[server_id]
            record = self._new_migration(server, dest)
            record.update(status=status, source_compute=source or server["host"])
            return record

    # --- queries for assertions ----------------------------------------------------------------------------

    def compute_service(self, host):
        return next((s for s in self.services.values() if s["host"] == host and s["binary"] == "nova-compute"), None)

    def server_named(self, name):
        return next(s for s in self.servers.values() if s["name"] == name)

    def mutations(self):
        return [r for r in self.requests if r.method != "GET"]

    def actions(self, name=None):
        """(server name, action, argument) of every server action sent, in order."""
        found = []
        for request in self.requests:
            match = re.match(r"^/servers/([^/]+)/action$", request.path)
            if request.method == "POST" and match and isinstance(request.body, dict) and request.body:
                action, argument = next(iter(request.body.items()))
                server = self.servers.get(match.group(1))
                if name is None or action == name:
                    found.append((server["name"] if server else match.group(1), action, argument))
        return found

    def in_flight(self):
        return [m for m in self.migrations if m["status"] not in MIGRATION_FINAL]

    # --- rules ------------------------------------------------------------------------------------------

    def service_is_up(self, record):
        """Nova's servicegroup answer: not forced down and a heartbeat within service_down_time."""
        if record["forced_down"]:
            return False
        if not record["dead"]:
            return True
        return self.clock - record["last_heartbeat"] <= SERVICE_DOWN_TIME

    def _load(self, host):
        return len([s for s in self.servers.values() if s["host"] == host])

    def _server(self, server_id):
        record = self.servers.get(server_id)
        if record is None:
            raise NovaError(404, "Instance %s could not be found." % server_id)
        return record

    @staticmethod
    def _conflict(action, server, attr):
        raise NovaError(409, "Cannot '%s' instance %s while it is in %s %s"
                        % (action, server["id"], attr, server[attr]))

    def _check_state(self, action, server, vm_states):
        if server["vm_state"] not in vm_states:
            self._conflict(action, server, "vm_state")
        if server["task_state"] is not None:
            self._conflict(action, server, "task_state")

    @staticmethod
    def _check_keys(name, data, allowed):
        if not isinstance(data, dict):
            raise NovaError(400, "Invalid input for field/attribute %s. Value: %r. %r is not of type 'object'"
                            % (name, data, data))
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise NovaError(400, "Invalid input for field/attribute %s. Value: %r. Additional properties are not "
                            "allowed (%s was unexpected)" % (name, data, ", ".join(repr(u) for u in unknown)))

    # --- views -----------------------------------------------------------------------------------------

    def _service_view(self, record, microversion):
        view = dict(id=record["uuid"] if microversion >= (2, 53) else record["id"], binary=record["binary"],
                    host=record["host"], zone=record["zone"], status="disabled" if record["disabled"] else "enabled",
                    state="up" if self.service_is_up(record) else "down", updated_at=record["updated_at"],
                    disabled_reason=record["disabled_reason"])
        if microversion >= (2, 11):
            view["forced_down"] = record["forced_down"]
        return view

    def _server_view(self, record, microversion):
        table = _STATUS.get(record["vm_state"], dict(default="UNKNOWN"))
        view = {
            "id": record["id"], "name": record["name"], "tenant_id": record["project"], "user_id": "user",
            "status": table.get(record["task_state"] or "default", table["default"]),
            "metadata": dict(record["metadata"]), "created": record["created"], "updated": record["updated"],
            "OS-EXT-SRV-ATTR:host": record["host"], "OS-EXT-SRV-ATTR:hypervisor_hostname": record["node"],
            "OS-EXT-SRV-ATTR:instance_name": "instance-%s" % record["id"][:8],
            "OS-EXT-STS:vm_state": record["vm_state"], "OS-EXT-STS:task_state": record["task_state"],
            "OS-EXT-STS:power_state": record["power_state"], "OS-EXT-AZ:availability_zone": "nova",
            "links": [],
        }
        if microversion >= (2, 9):
            view["locked"] = record["locked"]
        if microversion >= (2, 73):
            view["locked_reason"] = record["locked_reason"]
        return view

    @staticmethod
    def _migration_view(record, microversion):
        view = dict((key, record[key]) for key in (
            "id", "status", "instance_uuid", "source_compute", "source_node", "dest_compute", "dest_host",
            "dest_node", "migration_type", "created_at", "updated_at", "old_instance_type_id",
            "new_instance_type_id"))
        if microversion >= (2, 59):
            view["uuid"] = record["uuid"]
        return view

    # --- endpoints: services ------------------------------------------------------------------------------

    def list_services(self, query, microversion):
        found = [s for s in self.services.values()
                 if all(s[field] == query[field] for field in ("host", "binary") if field in query)]
        return 200, {"services": [self._service_view(s, microversion) for s in found]}

    def update_service(self, service_id, body, microversion):
        if microversion < (2, 53):
            raise NovaError(404, "Unknown action")
        if not _is_uuid(service_id):
            raise NovaError(400, "Invalid uuid %s" % service_id)
        record = self.services.get(service_id)
        if record is None:
            raise NovaError(404, "Service %s could not be found." % service_id)
        self._check_keys("service", body, ("status", "disabled_reason", "forced_down"))
        if "status" in body and body["status"] not in ("enabled", "disabled"):
            raise NovaError(400, "Invalid input for field/attribute status. Value: %r. %r is not one of "
                            "['enabled', 'disabled']" % (body["status"], body["status"]))
        reason = body.get("disabled_reason")
        if reason is not None and (not isinstance(reason, str) or not 1 <= len(reason) <= 255):
            raise NovaError(400, "Invalid input for field/attribute disabled_reason. Value: %r." % (reason,))
        if "forced_down" in body and not isinstance(body["forced_down"], bool):
            raise NovaError(400, "Invalid input for field/attribute forced_down. Value: %r. %r is not of type "
                            "'boolean'" % (body["forced_down"], body["forced_down"]))
        if record["binary"] != "nova-compute":
            raise NovaError(400, "Updating a %s service is not supported. Only nova-compute services can be "
                            "updated." % record["binary"])
        changes = {}
        if "status" in body:
            if body["status"] == "enabled":
                if reason:
                    raise NovaError(400, "Specifying 'disabled_reason' with status 'enabled' is invalid.")
                changes.update(disabled=False, disabled_reason=None)
            else:
                changes.update(disabled=True, disabled_reason=reason)
        if "forced_down" in body:
            changes["forced_down"] = body["forced_down"]
            if body["forced_down"] is False and any(
                    m["source_compute"] == record["host"] and m["status"] == "done"
                    and m["migration_type"] == "evacuation" for m in self.migrations):
                raise NovaError(400, "Unable to force up host %s as `done` evacuation migration records remain "
                                "associated with the host. Ensure the compute service has been restarted, "
                                "allowing these records to move to `completed` before retrying this request."
                                % record["host"])
        if not changes:
            raise NovaError(400, "No updates were requested. Fields 'status' or 'forced_down' should be specified.")
        record.update(changes, updated_at=self._timestamp())
        if "disabled" in changes and self.service_is_up(record) and record["dead"]:
            # The API syncs the COMPUTE_STATUS_DISABLED trait through an RPC call to a compute it believes up;
            # a dead one never answers and the call times out before the API responds.
            self.rpc_timeouts.append(record["host"])
            self.clock += self.rpc_response_timeout
        return 200, {"service": self._service_view(record, microversion)}

    # --- endpoints: servers -------------------------------------------------------------------------------

    def list_servers(self, query, microversion):
        found = list(self.servers.values())
        if not _truthy(query.get("all_tenants")):
            found = [s for s in found if s["project"] == self.project]
        if "host" in query:
            found = [s for s in found if s["host"] == query["host"]]
        if "name" in query:
            found = [s for s in found if re.search(query["name"], s["name"])]
        if "uuid" in query:
            found = [s for s in found if s["id"] == query["uuid"]]
        return 200, {"servers": [self._server_view(s, microversion) for s in found]}

    def show_server(self, server_id, microversion):
        return 200, {"server": self._server_view(self._server(server_id), microversion)}

    def server_action(self, server_id, body, microversion):
        server = self._server(server_id)
        if not isinstance(body, dict) or len(body) != 1:
            raise NovaError(400, "Malformed request body")
        action, argument = next(iter(body.items()))
        handler = {
            "os-stop": self._stop, "os-start": self._start, "lock": self._lock, "unlock": self._unlock,
            "os-resetState": self._reset_state, "evacuate": self._evacuate, "os-migrateLive": self._migrate_live,
        }.get(action)
        if handler is None:
            raise NovaError(400, "There is no such action: %s" % action)
        return handler(server, argument, microversion)

    def _power(self, server, task, final_state, power_state):
        server.update(task_state=task, updated=self._timestamp())
        service = self.compute_service(server["host"])
        if service is None or service["dead"]:
            return  # the cast to the compute is lost: the task never finishes

        def finish():
            if server["task_state"] == task:
                server.update(vm_state=final_state, task_state=None, power_state=power_state,
                              updated=self._timestamp())
        self._later(self.power_seconds, finish)

    def _stop(self, server, argument, microversion):
        self._check_state("stop", server, (ACTIVE, ERROR))
        self._power(server, "powering-off", STOPPED, POWER["shutdown"])
        return 202, None

    def _start(self, server, argument, microversion):
        self._check_state("start", server, (STOPPED,))
        self._power(server, "powering-on", ACTIVE, POWER["running"])
        return 202, None

    def _lock(self, server, argument, microversion):
        if argument is not None:
            if microversion < (2, 73):
                raise NovaError(400, "Invalid input for field/attribute lock. Value: %r. %r is not of type "
                                "'null'" % (argument, argument))
            self._check_keys("lock", argument, ("locked_reason",))
            reason = argument.get("locked_reason")
            if not isinstance(reason, str) or not 1 <= len(reason) <= 255:
                raise NovaError(400, "Invalid input for field/attribute locked_reason. Value: %r." % (reason,))
            server["locked_reason"] = reason
        server["locked"] = True
        return 202, None

    def _unlock(self, server, argument, microversion):
        server.update(locked=False, locked_reason=None)
        return 202, None

    def _reset_state(self, server, argument, microversion):
        self._check_keys("os-resetState", argument, ("state",))
        if argument.get("state") not in (ACTIVE, ERROR):
            raise NovaError(400, "Invalid input for field/attribute state. Value: %r. %r is not one of "
                            "['active', 'error']" % (argument.get("state"), argument.get("state")))
        server.update(vm_state=argument["state"], task_state=None, updated=self._timestamp())
        return 202, None

    def _evacuate(self, server, argument, microversion):
        allowed = ["host", "adminPass"] if microversion >= (2, 14) else ["host", "adminPass", "onSharedStorage"]
        if (2, 29) <= microversion < (2, 68):
            allowed.append("force")
        self._check_keys("evacuate", argument, allowed)
        host = argument.get("host")
        force = argument.get("force", False)
        if force and not host:
            raise NovaError(400, "Can't force to a non-provided destination")
        if host is not None and self.compute_service(host) is None:
            raise NovaError(404, "Compute host %s not found." % host)
        if server["host"] == host:
            raise NovaError(400, "The target host can't be the same one.")
        self._check_state("evacuate", server, (ACTIVE, STOPPED, ERROR))
        source = self.compute_service(server["host"])
        if source is not None and self.service_is_up(source):
            raise NovaError(400, "Compute service of %s is still in use." % server["host"])
        target_state = STOPPED if microversion >= (2, 95) else None
        server.update(task_state="rebuilding", updated=self._timestamp())
        migration = self._new_migration(server, host)
        self.max_in_flight = max(self.max_in_flight, len(self.in_flight()))
        self._accepted += 1
        if self._accepted == self.hold_rebuilds:
            for finish in self._held:
                self._later(self.evacuation_seconds, finish)
            self._held = []
        original = server["vm_state"]
        self._later(self.scheduling_seconds,
                    lambda: self._schedule(server, migration, host, force, original, target_state))
        return 200, None

    def _new_migration(self, server, dest, migration_type="evacuation"):
        record = dict(id=next(self._ids), uuid=str(uuid.uuid4()), status="accepted", instance_uuid=server["id"],
                      source_compute=server["host"], source_node=server["node"], dest_compute=dest, dest_host=None,
                      dest_node=None, migration_type=migration_type, created_at=self._timestamp(), updated_at=None,
                      old_instance_type_id=1, new_instance_type_id=1)
        self.migrations.append(record)
        return record

    def _usable(self, record, source):
        return (record["binary"] == "nova-compute" and not record["disabled"] and self.service_is_up(record)
                and record["host"] != source and self._load(record["host"]) < record["capacity"])

    def _schedule(self, server, migration, host, force, original, target_state):
        if force:
            destination = self.compute_service(host)
        else:
            candidates = [s for s in self.services.values() if self._usable(s, server["host"])]
            if host is not None:
                candidates = [s for s in candidates if s["host"] == host]
            candidates.sort(key=lambda s: (self._load(s["host"]), s["host"]))
            destination = candidates[0] if candidates else None
        if destination is None:
            # NoValidHost: the conductor puts the instance into error, the migration into error.
            migration.update(status="error", updated_at=self._timestamp())
            server.update(vm_state=ERROR, task_state=None, updated=self._timestamp())
            return
        migration.update(status="pre-migrating", dest_compute=destination["host"], dest_node=destination["node"],
                         dest_host="192.0.2.%d" % (destination["id"] % 250), updated_at=self._timestamp())
        server.update(host=destination["host"], node=destination["node"], task_state="rebuild_spawning",
                      updated=self._timestamp())
        if server["id"] in self.stuck_rebuild:
            return

        def finish():
            if server["id"] in self.fail_rebuild:
                migration.update(status="failed", updated_at=self._timestamp())
                server.update(vm_state=ERROR, task_state=None, updated=self._timestamp())
                return
            stopped = original == STOPPED or target_state == STOPPED
            server.update(vm_state=STOPPED if stopped else ACTIVE, task_state=None,
                          power_state=POWER["shutdown"] if stopped else POWER["running"], updated=self._timestamp())
            migration.update(status="done", updated_at=self._timestamp())
        if self._accepted < self.hold_rebuilds:
            self._held.append(finish)
        else:
            self._later(self.evacuation_seconds, finish)

    # --- live migration -----------------------------------------------------------------------------------------

    def _migrate_live(self, server, argument, microversion):
        if microversion < (2, 25):
            allowed = required = ("block_migration", "disk_over_commit", "host")
        else:
            required = ("block_migration", "host")
            allowed = required + (("force",) if (2, 30) <= microversion < (2, 68) else ())
        self._check_keys("os-migrateLive", argument, allowed)
        missing = [key for key in required if key not in argument]
        if missing:
            raise NovaError(400, "Invalid input for field/attribute os-migrateLive. Value: %r. %r is a required "
                            "property" % (argument, missing[0]))
        host = argument["host"]
        if host is not None and not (isinstance(host, str) and _HOST_NAME.match(host)):
            raise NovaError(400, "Invalid input for field/attribute host. Value: %r. %r is not a 'fqdn'" % (host, host))
        block_migration = argument["block_migration"]
        if not (_api_boolean(block_migration) or (microversion >= (2, 25) and block_migration == "auto")):
            raise NovaError(400, "Invalid input for field/attribute block_migration. Value: %r. %r is not one of "
                            "the allowed values" % (block_migration, block_migration))
        if microversion < (2, 25) and not _api_boolean(argument["disk_over_commit"]):
            raise NovaError(400, "Invalid input for field/attribute disk_over_commit. Value: %r."
                            % (argument["disk_over_commit"],))
        force = argument.get("force", False)
        if "force" in argument and not _api_boolean(force):
            raise NovaError(400, "Invalid input for field/attribute force. Value: %r." % (force,))
        force = _truthy(force)
        if force and not host:
            raise NovaError(400, "Can't force to a non-provided destination")
        # compute/api.py live_migrate: @check_instance_state(vm_state=[ACTIVE, PAUSED], task_state=[None]) comes
        # before the look-up of the host's compute node.
        self._check_state("os-migrateLive", server, (ACTIVE, PAUSED))
        if host is not None and self.compute_service(host) is None:
            raise NovaError(400, "Compute host %s could not be found." % host)
        forced = host is not None and (microversion < (2, 30) or force)
        server.update(task_state="migrating", updated=self._timestamp())
        if microversion >= (2, 34):
            # The API casts to the conductor: its migration record appears with the next request.
            self._later(0, lambda: self._live_migration_task(server, host, forced, synchronous=False))
        else:
            self._live_migration_task(server, host, forced, synchronous=True)
        return 202, None

    def _live_migration_task(self, server, host, forced, synchronous):
        """The conductor's LiveMigrationTask: a migration record, the destination's choice and checks."""
        migration = self._new_migration(server, host if forced else None, migration_type="live-migration")
        source = server["host"]
        source_service = self.compute_service(source)

        def refuse(message):
            # ComputeTaskManager._live_migrate: the instance keeps its vm_state, its task is cleared.
            migration.update(status="error", updated_at=self._timestamp())
            server.update(task_state=None, updated=self._timestamp())
            if synchronous:
                raise NovaError(400, message)

        if server["power_state"] not in (POWER["running"], POWER["paused"]):
            return refuse("Instance %s is not running." % server["id"])
        if source_service is None or not self.service_is_up(source_service):
            return refuse("Compute service of %s is unavailable at this time." % source)
        if forced:
            destination = self.compute_service(host)
            if host == source:
                return refuse("Unable to migrate instance (%s) to current host (%s)." % (server["id"], source))
            if not self.service_is_up(destination):
                return refuse("Compute service of %s is unavailable at this time." % host)
            return self._live_migration_scheduled(server, migration, destination)

        def schedule():
            candidates = [s for s in self.services.values() if self._usable(s, source)]
            if host is not None:
                candidates = [s for s in candidates if s["host"] == host]
            candidates.sort(key=lambda s: (self._load(s["host"]), s["host"]))
            if not candidates:
                return refuse("No valid host was found. ")
            return self._live_migration_scheduled(server, migration, candidates[0])

        if synchronous:
            return schedule()
        self._later(self.scheduling_seconds, schedule)
        return None

    def _live_migration_scheduled(self, server, migration, destination):
        """The source compute's live_migration and the hypervisor's work, on the fake clock."""
        migration.update(status="queued", dest_compute=destination["host"], dest_node=destination["node"],
                         source_node=server["node"], dest_host="192.0.2.%d" % (destination["id"] % 250),
                         updated_at=self._timestamp())

        def status(value):
            return lambda: migration.update(status=value, updated_at=self._timestamp())

        def finish():
            if server["id"] in self.stuck_live_migration:
                return
            if server["id"] in self.fail_live_migration:
                # _rollback_live_migration: back to running on the source, migration failed.
                server.update(task_state=None, updated=self._timestamp())
                migration.update(status="failed", updated_at=self._timestamp())
                return
            if server["id"] in self.crash_live_migration:
                migration.update(status="error", updated_at=self._timestamp())
                server.update(vm_state=ERROR, task_state=None, updated=self._timestamp())
                return
            # post_live_migration_at_destination moves the instance; the source then completes the migration.
            server.update(host=destination["host"], node=destination["node"], task_state=None,
                          updated=self._timestamp())
            self._later(1, status("completed"))

        self._later(1, status("preparing"))
        self._later(2, status("running"))
        self._later(2 + self.live_migration_seconds, finish)

    # --- endpoints: migrations, aggregates ------------------------------------------------------------------

    def list_migrations(self, query, microversion):
        found = list(self.migrations)
        for field in ("instance_uuid", "source_compute", "migration_type", "status"):
            if field in query:
                found = [m for m in found if m[field] == query[field]]
        if "host" in query:
            found = [m for m in found if query["host"] in (m["source_compute"], m["dest_compute"])]
        return 200, {"migrations": [self._migration_view(m, microversion) for m in found]}

    def list_aggregates(self, microversion):
        return 200, {"aggregates": [copy.deepcopy(a) for a in self.aggregates.values()]}

    def aggregate_action(self, aggregate_id, body, microversion):
        record = self.aggregates.get(int(aggregate_id)) if str(aggregate_id).isdigit() else None
        if record is None:
            raise NovaError(404, "Aggregate %s could not be found." % aggregate_id)
        self._check_keys("aggregate action", body, ("add_host", "remove_host"))
        if "add_host" in body:
            host = (body["add_host"] or {}).get("host")
            if self.compute_service(host) is None:
                raise NovaError(404, "Compute host %s could not be found." % host)
            if host in record["hosts"]:
                raise NovaError(409, "Aggregate %s already has host %s." % (aggregate_id, host))
            record["hosts"].append(host)
        return 200, {"aggregate": copy.deepcopy(record)}

    # --- routing --------------------------------------------------------------------------------------

    def handle(self, method, path, query=None, body=None, microversion=None):
        """One HTTP request: (status, body), Nova's fault body for errors."""
        path = "/" + path.split("?")[0].strip("/")
        query = dict(query or {})
        with self.lock:
            self._run_due()
            self.requests.append(Request(method, path, copy.deepcopy(query), copy.deepcopy(body), microversion))
            try:
                wanted = version(microversion) if microversion else MIN_MICROVERSION
                if wanted > self.max_microversion or wanted < MIN_MICROVERSION:
                    raise NovaError(406, "Version %s is not supported by the API. Minimum is 2.1 and maximum is %s."
                                    % (microversion, ".".join(str(p) for p in self.max_microversion)))
                return self._route(method, path.strip("/").split("/"), query, body, wanted)
            except NovaError as error:
                return error.code, {_FAULTS.get(error.code, "computeFault"): {"message": error.message,
                                                                              "code": error.code}}

    def _route(self, method, parts, query, body, microversion):
        routes = {
            ("GET", "os-services", 1): lambda: self.list_services(query, microversion),
            ("PUT", "os-services", 2): lambda: self.update_service(parts[1], body, microversion),
            ("GET", "servers", 2): lambda: (self.list_servers(query, microversion) if parts[1] == "detail"
                                            else self.show_server(parts[1], microversion)),
            ("POST", "servers", 3): lambda: self.server_action(parts[1], body, microversion),
            ("GET", "os-migrations", 1): lambda: self.list_migrations(query, microversion),
            ("GET", "os-aggregates", 1): lambda: self.list_aggregates(microversion),
            ("POST", "os-aggregates", 3): lambda: self.aggregate_action(parts[1], body, microversion),
        }
        handler = routes.get((method, parts[0], len(parts)))
        if handler is None or (parts[0] in ("servers", "os-aggregates") and len(parts) == 3 and parts[2] != "action"):
            raise NovaError(404, "The resource could not be found.")
        return handler()


def _truthy(value):
    return str(value).lower() in ("1", "true", "t", "yes", "y", "on")


# nova.api.validation.parameter_types.boolean: these values, booleans and strings.
_API_BOOLEANS = (True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
                 False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no")
# parameter_types.fqdn (host names): letters, digits, dots, hyphens, underscores; at most 255 characters.
_HOST_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")


def _api_boolean(value):
    return any(value is choice or (isinstance(value, str) and value == choice) for choice in _API_BOOLEANS)


# --- client side: openstacksdk's real Connection over a session that answers in memory ------------------------

class FakeCloudSession(keystoneauth1.session.Session):
    """A keystoneauth session whose compute requests a FakeNovaAPI answers, and instance-ha requests a
    FakeMasakariAPI (when given); nothing goes to the network."""

    def __init__(self, nova, masakari=None):
        super().__init__()
        self.nova = nova
        self.masakari = masakari
        self.masakari_requests = []

    @staticmethod
    def _service_type(kwargs):
        return (kwargs.get("endpoint_filter") or {}).get("service_type") or kwargs.get("service_type")

    def get_endpoint_data(self, *args, **kwargs):
        if self._service_type(kwargs) == "instance-ha":
            endpoint = fake_instance_ha.ENDPOINT
            low, high = (1, 0), fake_instance_ha._version(self.masakari.max_microversion)
        else:
            endpoint = COMPUTE_ENDPOINT
            low, high = MIN_MICROVERSION, self.nova.max_microversion
        return SimpleNamespace(min_microversion=low, max_microversion=high, url=endpoint, service_url=endpoint,
                               catalog_url=endpoint, api_version=(low[0], 0))

    def get_endpoint(self, *args, **kwargs):
        return self.get_endpoint_data(*args, **kwargs).url

    def get_project_id(self, *args, **kwargs):
        return self.nova.project

    def request(self, url, method, **kwargs):
        microversion = kwargs.get("microversion")
        if self._service_type(kwargs) == "instance-ha":
            if self.masakari is None:
                raise AssertionError("Masakari was called but the test cloud has none")
            self.masakari_requests.append(Request(method, url, dict(kwargs.get("params") or {}),
                                                  copy.deepcopy(kwargs.get("json")), microversion))
            status, answer = fake_instance_ha.dispatch(
                self.masakari, method, url, kwargs.get("json"),
                fake_instance_ha._version(microversion) if microversion else (1, 0), kwargs.get("params"))
            return api_response(method, fake_instance_ha.ENDPOINT + url, status, answer)
        status, answer = self.nova.handle(method, url, kwargs.get("params"), kwargs.get("json"), microversion)
        return api_response(method, COMPUTE_ENDPOINT + "/" + url.lstrip("/"), status, answer)


def connect(nova, masakari=None):
    """openstacksdk's own Connection over FakeCloudSession."""
    return connection.Connection(session=FakeCloudSession(nova, masakari), compute_endpoint_override=COMPUTE_ENDPOINT,
                                 instance_ha_endpoint_override=fake_instance_ha.ENDPOINT)


# --- test harness: the modules run in-process against the fake cloud ---------------------------------------

class Cloud:
    """A fake Nova (and optionally Masakari) reached through openstacksdk; the modules' clock is the fake's."""

    def __init__(self, monkeypatch, masakari_hosts=None, **nova_options):
        import importlib

        import module_runner  # noqa: F401 (makes ansible_collections.hastack.openstack importable)

        self.nova = FakeNovaAPI(**nova_options)
        self.masakari = None
        if masakari_hosts is not None:
            self.masakari = fake_instance_ha.FakeMasakariAPI(nova_compute_hosts=masakari_hosts)
        self.conn = connect(self.nova, self.masakari)
        nova_utils = importlib.import_module("ansible_collections.hastack.openstack.plugins.module_utils.nova")
        monkeypatch.setattr(nova_utils.CLOCK, "now", self.nova.now)
        monkeypatch.setattr(nova_utils.CLOCK, "sleep", self.nova.sleep)
        self.requests = []

    def run(self, module, check_mode=False, diff=False, **args):
        from module_runner import assert_documented, run_module

        args.setdefault("cloud", "admin")
        mark = len(self.nova.requests)
        result = run_module(module, args, self.conn, check_mode=check_mode, diff=diff)
        self.requests = self.nova.requests[mark:]
        if not result["failed"]:
            assert_documented(module, result)
        return result

    def mutations(self):
        """Nova requests of the last run that change something."""
        return [r for r in self.requests if r.method != "GET"]

    def masakari_mutations(self):
        return [r for r in self.conn.session.masakari_requests if r.method != "GET"]
