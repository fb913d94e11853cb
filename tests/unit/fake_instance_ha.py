"""An in-memory Masakari API behind a stand-in for openstacksdk's ``instance_ha`` proxy.

This fake stands in for the real Masakari API only in the unit tests of this directory; integration tests of
the modules against the real Masakari API follow in the lab. What the fake knows of the API was read from
upstream masakari (masakari/api/openstack/ha/segments.py, hosts.py, schemas/, views/hosts.py,
masakari/ha/api.py, masakari/db/sqlalchemy/models.py and api.py):

- segments and hosts are addressed by ``uuid``; anything that is not a known uuid is a 404 ("No failover
  segment with id X." / "No host with id X."). Their ``id`` is an integer database key;
- a segment name is unique in the cloud, and so is a host name (the database's unique key is the host name
  alone, so a host is in one segment only and cannot be added twice): a duplicate is a 409
  ("... with name X already exists.");
- request bodies are validated like the API's JSON schemas: required keys, no unknown keys, recovery_method
  enum, host type letters and digits only, booleans from the API's accepted set; segment ``enabled`` exists
  only from microversion 1.2 on (sent earlier it is a 400) and is missing from answers of APIs older than 1.2;
- a host name must be the host of a nova-compute service, else 400 ("Compute service with name X could not be
  found.");
- a segment, or a host of it, cannot be updated or deleted while a notification of one of the segment's hosts
  is new, running or in error (409); deleting a segment deletes its hosts.

Notifications (masakari/api/openstack/ha/notifications.py, schemas/notifications.py, schemas/payload.py,
api/validation/parameter_types.py, ha/api.py NotificationAPI, objects/notification.py, db/sqlalchemy/api.py
notifications_get_all_by_filters; /work/shared/notes/masakari-behaviour.md section 3):

- ``POST /notifications`` (202) takes exactly ``{"notification": {type, hostname, generated_time, payload}}``:
  type COMPUTE_HOST|VM|PROCESS, hostname ``^[a-zA-Z0-9-._]*$`` (1-255), generated_time ISO 8601, payload a dict
  of strings, then validated per type (COMPUTE_HOST: event STARTED|STOPPED required, host_status NORMAL|UNKNOWN,
  cluster_status ONLINE|OFFLINE; PROCESS: process_name and event STARTED|STOPPED; VM: instance_uuid (uuid),
  vir_domain_event, event; no other keys; enum values are case-sensitive). Then, in the API's order: a hostname
  no segment holds is a 400 ("Host with name X could not be found."); a host on maintenance is a 409, any type;
  a notification of the same type from the same host with an identical payload generated at most
  ``duplicate_interval`` (180) seconds before it is a 409 duplicate, whatever its status. A new notification
  is ``new``; nothing here runs the engine: tests move statuses on with ``set_notification_status``;
- answers carry no ``hostname`` (it is not a field of Masakari's notification object): clients resolve
  ``source_host_uuid`` themselves. ``failover_segment_uuid`` and ``message`` are answered (masakari >= 20.0.0);
- ``GET /notifications`` filters on status, source_host_uuid, type and generated-since (generated_time at or
  after it; anything else than ISO 8601 is a 400), sorts by sort_key/sort_dir (default created_at then id,
  newest first) and pages with limit/marker (marker = the integer ``id`` of the last one seen);
- ``GET /notifications/{uuid}``: 404 unless a known uuid; ``recovery_workflow_details`` only when the request
  asks for microversion 1.1 or later;
- a request for a microversion above the API's maximum is a 406, as the real API answers it.

Server side: ``FakeMasakariAPI`` (state and rules) and ``dispatch`` (method + path -> handler, errors as
Masakari's fault bodies). Two client sides share it:

- ``FakeConnection`` / ``FakeInstanceHaProxy``: the proxy-level fake. Its methods have the signatures of
  openstacksdk 4.x's instance_ha Proxy, it builds request bodies with openstacksdk's own ``Segment``/``Host``
  resources (so body keys such as ``enabled`` are the SDK's), addresses resources by ``Resource._get_id``
  (the integer ``id`` of a resource object, as the SDK does) and raises errors through
  ``openstack.exceptions.raise_from_response``;
- ``SdkConnection``: openstacksdk's real ``Connection`` and instance_ha ``Proxy`` over ``FakeMasakariSession``,
  a keystoneauth session answered by the same in-memory API, no network. Running the same tests on both
  checks the proxy-level fake against the SDK.

Both record their calls the same way: ``(method, {argument: value})`` with the arguments named as in the
SDK's Proxy signatures.
"""

import copy
import datetime
import inspect
import itertools
import json
import re
import uuid
from types import SimpleNamespace

import keystoneauth1.session
import requests
from openstack import connection
from openstack import exceptions
from openstack import resource
from openstack.instance_ha.v1 import _proxy
from openstack.instance_ha.v1 import host as _host
from openstack.instance_ha.v1 import notification as _notification
from openstack.instance_ha.v1 import segment as _segment

RECOVERY_METHODS = ("auto", "reserved_host", "auto_priority", "rh_priority")
IN_FLIGHT = ("new", "running", "error")
_TRUE = ("True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes")
_FALSE = ("False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no")
_FAULT_NAMES = {400: "badRequest", 403: "forbidden", 404: "itemNotFound", 406: "notAcceptable",
                409: "conflictingRequest"}
_TYPE_PATTERN = re.compile(r"^[a-zA-Z0-9]*$")
NOTIFICATION_TYPES = ("COMPUTE_HOST", "VM", "PROCESS")
NOTIFICATION_STATUSES = ("new", "running", "error", "failed", "ignored", "finished")
_EVENTS = ("STARTED", "STOPPED")
_HOSTNAME_PATTERN = re.compile(r"^[a-zA-Z0-9-._]*$")
_PAYLOAD_KEY_PATTERN = re.compile(r"^[a-zA-Z0-9-_:. ]{1,255}$")
# What iso8601.parse_date (oslo timeutils.parse_isotime) accepts, near enough: a date, optionally a time with
# seconds and fraction, optionally a zone (Z, +hh:mm, +hhmm, +hh).
_ISO_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
                       r"(Z|[+-]\d{2}(?::?\d{2})?)?$")
_NOTIFICATION_SORT_KEYS = ("id", "notification_uuid", "generated_time", "type", "payload", "source_host_uuid",
                           "status", "created_at", "updated_at", "failover_segment_uuid", "message")
_PAYLOAD_SCHEMAS = {
    # type -> (allowed keys, required keys, {key: enum})
    "COMPUTE_HOST": (("host_status", "cluster_status", "event"), ("event",),
                     dict(host_status=("NORMAL", "UNKNOWN"), cluster_status=("ONLINE", "OFFLINE"), event=_EVENTS)),
    "PROCESS": (("process_name", "event"), ("process_name", "event"), dict(event=_EVENTS)),
    "VM": (("instance_uuid", "vir_domain_event", "event"), ("instance_uuid", "vir_domain_event", "event"), {}),
}
ENDPOINT = "http://masakari.test:15868/v1/admin-project"


class ApiError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def _version(text):
    return tuple(int(part) for part in str(text).split("."))


def _now():
    return datetime.datetime(2026, 11, 23, 12, 0, 0).isoformat() + ".000000"


def _parse_time(text):
    """Naive UTC datetime of an ISO 8601 text, as Masakari stores it; ValueError if it is none."""
    match = _ISO_TIME.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(text)
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    value = datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                              int((fraction or "0")[:6].ljust(6, "0")))
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        value -= sign * offset
    return value


def _format_time(value):
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _is_uuid(value):
    try:
        return str(uuid.UUID(str(value))) == str(value).lower()
    except ValueError:
        return False


def _bool(value, field):
    # Like the API's JSON schema: real booleans, or one of the accepted strings (1 and 0 as numbers are not).
    if value is True or (isinstance(value, str) and value in _TRUE):
        return True
    if value is False or (isinstance(value, str) and value in _FALSE):
        return False
    raise ApiError(400, "Invalid input for field/attribute %s. Value: %r. %r is not one of the accepted values"
                   % (field, value, value))


class FakeMasakariAPI:
    """Server side: state and rules of Masakari's segment and host API."""

    def __init__(self, max_microversion="1.3", nova_compute_hosts=("compute1", "compute2", "compute3"),
                 duplicate_interval=180):
        self.max_microversion = max_microversion
        self.nova_compute_hosts = set(nova_compute_hosts)
        self.duplicate_interval = duplicate_interval  # [DEFAULT]duplicate_notification_detection_interval
        self.segments = {}  # uuid -> record
        self.hosts = {}  # uuid -> record
        self.notifications = []  # records, oldest first (see _notification_record)
        self._ids = itertools.count(1)
        self._notification_ids = itertools.count(1)
        # The API's clock: created_at of the next notification; each one created moves it on by a second.
        self.clock = datetime.datetime(2026, 11, 23, 12, 0, 0)

    # --- test setup helpers -------------------------------------------------------------------------------

    def add_notification(self, host_name, status, type="COMPUTE_HOST", payload=None, generated_time=None,
                         recovery_workflow_details=None):
        """A notification as if Masakari had taken it and its engine had got it to ``status`` (no rules)."""
        host = next(h for h in self.hosts.values() if h["name"] == host_name)
        record = self._notification_record(
            type, host, payload if payload is not None else dict(event="STOPPED", host_status="NORMAL"),
            _parse_time(generated_time) if generated_time else self.clock)
        record.update(status=status, recovery_workflow_details=copy.deepcopy(recovery_workflow_details or []))
        return record

    def set_notification_status(self, notification_uuid, status, recovery_workflow_details=None):
        """What the engine does to a notification as it processes it."""
        assert status in NOTIFICATION_STATUSES, status
        record = next(n for n in self.notifications if n["notification_uuid"] == notification_uuid)
        record.update(status=status, updated_at=_format_time(self.clock))
        if recovery_workflow_details is not None:
            record["recovery_workflow_details"] = copy.deepcopy(recovery_workflow_details)
        return record

    def segment_named(self, name):
        return next((s for s in self.segments.values() if s["name"] == name), None)

    def host_named(self, name):
        return next((h for h in self.hosts.values() if h["name"] == name), None)

    # --- rules --------------------------------------------------------------------------------------------

    def _has_enabled(self):
        return _version(self.max_microversion) >= (1, 2)

    def _segment(self, segment_id):
        record = self.segments.get(segment_id) if _is_uuid(segment_id) else None
        if record is None:
            raise ApiError(404, "No failover segment with id %s." % segment_id)
        return record

    def _host(self, segment_id, host_id):
        record = self.hosts.get(host_id) if _is_uuid(host_id) else None
        if record is None or record["failover_segment_id"] != segment_id:
            raise ApiError(404, "No host with id %s." % host_id)
        return record

    def _under_recovery(self, segment_uuid):
        members = set(h["uuid"] for h in self.hosts.values() if h["failover_segment_id"] == segment_uuid)
        return any(n["source_host_uuid"] in members and n["status"] in IN_FLIGHT for n in self.notifications)

    @staticmethod
    def _unwrap(body, key):
        if not isinstance(body, dict) or set(body) != {key} or not isinstance(body[key], dict):
            raise ApiError(400, "Invalid input for field/attribute %s. Value: %r." % (key, body))
        return dict(body[key])

    @staticmethod
    def _check_keys(key, data, allowed, required=(), any_of=()):
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise ApiError(400, "Invalid input for field/attribute %s. Value: %r. Additional properties are not "
                           "allowed (%s was unexpected)" % (key, data, ", ".join(repr(u) for u in unknown)))
        for field in required:
            if field not in data:
                raise ApiError(400, "Invalid input for field/attribute %s. Value: %r. %r is a required property"
                               % (key, data, field))
        if any_of and not any(field in data for field in any_of):
            raise ApiError(400, "Invalid input for field/attribute %s. Value: %r. %r is not valid under any of the "
                           "given schemas" % (key, data, data))

    @staticmethod
    def _check_name(field, value):
        if not isinstance(value, str) or not 1 <= len(value) <= 255 or value != value.strip():
            raise ApiError(400, "Invalid input for field/attribute %s. Value: %r. An invalid 'name' value was "
                           "provided" % (field, value))

    def _validate_segment(self, data, microversion, create):
        allowed = ["name", "description", "recovery_method", "service_type"]
        if microversion >= (1, 2):
            allowed.append("enabled")
        required = ("name", "recovery_method", "service_type") if create else ()
        self._check_keys("segment", data, allowed, required=required, any_of=() if create else allowed)
        for field in ("name", "service_type"):
            if field in data:
                self._check_name(field, data[field])
        if "recovery_method" in data and data["recovery_method"] not in RECOVERY_METHODS:
            raise ApiError(400, "Invalid input for field/attribute recovery_method. Value: %r. %r is not one of %r"
                           % (data["recovery_method"], data["recovery_method"], list(RECOVERY_METHODS)))
        if data.get("description") is not None and not isinstance(data["description"], str):
            raise ApiError(400, "Invalid input for field/attribute description.")
        if "enabled" in data:
            data["enabled"] = _bool(data["enabled"], "enabled")

    def _validate_host(self, data, create):
        allowed = ["name", "type", "control_attributes", "reserved", "on_maintenance"]
        required = ("name", "type", "control_attributes") if create else ()
        self._check_keys("host", data, allowed, required=required, any_of=() if create else allowed)
        if "name" in data:
            self._check_name("name", data["name"])
        if "type" in data and data["type"] is not None:
            if not isinstance(data["type"], str) or len(data["type"]) > 255 or not _TYPE_PATTERN.match(data["type"]):
                raise ApiError(400, "Invalid input for field/attribute type. Value: %r. %r does not match "
                               "'^[a-zA-Z0-9]*$'" % (data["type"], data["type"]))
        for flag in ("reserved", "on_maintenance"):
            if flag in data:
                data[flag] = _bool(data[flag], flag)

    def _check_nova(self, name):
        if name not in self.nova_compute_hosts:
            raise ApiError(400, "Compute service with name %s could not be found." % name)

    def _segment_view(self, record):
        view = dict(record, deleted=False, deleted_at=None)
        if not self._has_enabled():
            view.pop("enabled")
        return view

    def _host_view(self, record):
        segment = self.segments[record["failover_segment_id"]]
        return dict(record, failover_segment=self._segment_view(segment), deleted=False, deleted_at=None)

    # --- endpoints ----------------------------------------------------------------------------------------

    def list_segments(self, query):
        result = list(self.segments.values())
        for field in ("recovery_method", "service_type"):
            if field in query:
                result = [s for s in result if s[field] == query[field]]
        if "enabled" in query:
            wanted = _bool(query["enabled"], "enabled")
            result = [s for s in result if s["enabled"] == wanted]
        return 200, {"segments": [self._segment_view(s) for s in result]}

    def show_segment(self, segment_id):
        return 200, {"segment": self._segment_view(self._segment(segment_id))}

    def create_segment(self, body, microversion):
        data = self._unwrap(body, "segment")
        self._validate_segment(data, microversion, create=True)
        if self.segment_named(data["name"]):
            raise ApiError(409, "Failover segment with name %s already exists." % data["name"])
        record = dict(id=next(self._ids), uuid=str(uuid.uuid4()), name=data["name"],
                      description=data.get("description"), recovery_method=data["recovery_method"],
                      service_type=data["service_type"], enabled=data.get("enabled", True),
                      created_at=_now(), updated_at=None)
        self.segments[record["uuid"]] = record
        return 201, {"segment": self._segment_view(record)}

    def update_segment(self, segment_id, body, microversion):
        data = self._unwrap(body, "segment")
        self._validate_segment(data, microversion, create=False)
        record = self._segment(segment_id)
        if self._under_recovery(record["uuid"]):
            raise ApiError(409, "Failover segment %s can't be updated as it is in-use to process notifications."
                           % segment_id)
        other = self.segment_named(data.get("name"))
        if other is not None and other is not record:
            raise ApiError(409, "Failover segment with name %s already exists." % data["name"])
        record.update(data, updated_at=_now())
        return 200, {"segment": self._segment_view(record)}

    def delete_segment(self, segment_id):
        record = self._segment(segment_id)
        if self._under_recovery(record["uuid"]):
            raise ApiError(409, "Failover segment (%s) can't be deleted as it is in-use to process notifications."
                           % segment_id)
        del self.segments[record["uuid"]]
        for host_uuid in [h["uuid"] for h in self.hosts.values() if h["failover_segment_id"] == record["uuid"]]:
            del self.hosts[host_uuid]
        return 204, None

    def list_hosts(self, segment_id, query):
        segment = self._segment(segment_id)
        result = [h for h in self.hosts.values() if h["failover_segment_id"] == segment["uuid"]]
        for field in ("name", "type", "control_attributes"):
            if field in query:
                result = [h for h in result if h[field] == query[field]]
        for flag in ("on_maintenance", "reserved"):
            if flag in query:
                wanted = _bool(query[flag], flag)
                result = [h for h in result if h[flag] == wanted]
        return 200, {"hosts": [self._host_view(h) for h in result]}

    def show_host(self, segment_id, host_id):
        self._segment(segment_id)
        return 200, {"host": self._host_view(self._host(segment_id, host_id))}

    def create_host(self, segment_id, body):
        data = self._unwrap(body, "host")
        self._validate_host(data, create=True)
        segment = self._segment(segment_id)
        self._check_nova(data["name"])
        if self.host_named(data["name"]):
            raise ApiError(409, "Host with name %s already exists." % data["name"])
        record = dict(id=next(self._ids), uuid=str(uuid.uuid4()), name=data["name"],
                      failover_segment_id=segment["uuid"], type=data["type"],
                      control_attributes=data["control_attributes"], reserved=data.get("reserved", False),
                      on_maintenance=data.get("on_maintenance", False), created_at=_now(), updated_at=None)
        self.hosts[record["uuid"]] = record
        return 201, {"host": self._host_view(record)}

    def update_host(self, segment_id, host_id, body):
        data = self._unwrap(body, "host")
        self._validate_host(data, create=False)
        record = self._host(segment_id, host_id)
        if self._under_recovery(record["failover_segment_id"]):
            raise ApiError(409, "Host %s can't be updated as it is in-use to process notifications."
                           % record["uuid"])
        if "name" in data:
            self._check_nova(data["name"])
            other = self.host_named(data["name"])
            if other is not None and other is not record:
                raise ApiError(409, "Host with name %s already exists." % data["name"])
        record.update(data, updated_at=_now())
        return 200, {"host": self._host_view(record)}

    def delete_host(self, segment_id, host_id):
        record = self._host(segment_id, host_id)
        if self._under_recovery(record["failover_segment_id"]):
            raise ApiError(409, "Host %s can't be deleted as it is in-use to process notifications."
                           % record["uuid"])
        del self.hosts[record["uuid"]]
        return 204, None

    # --- notifications ------------------------------------------------------------------------------------

    def _notification_record(self, type, host, payload, generated_time):
        record = dict(id=next(self._notification_ids), notification_uuid=str(uuid.uuid4()),
                      generated_time=_format_time(generated_time), source_host_uuid=host["uuid"], type=type,
                      payload=copy.deepcopy(payload), status="new", failover_segment_uuid=host["failover_segment_id"],
                      message=None, created_at=_format_time(self.clock), updated_at=None,
                      recovery_workflow_details=[])
        self.clock += datetime.timedelta(seconds=1)
        self.notifications.append(record)
        return record

    @staticmethod
    def _invalid(field, value, reason):
        return ApiError(400, "Invalid input for field/attribute %s. Value: %r. %s" % (field, value, reason))

    def _validate_notification(self, data):
        self._check_keys("notification", data, ("type", "hostname", "generated_time", "payload"),
                         required=("type", "hostname", "generated_time", "payload"))
        if data["type"] not in NOTIFICATION_TYPES:
            raise self._invalid("type", data["type"], "%r is not one of %r" % (data["type"], list(NOTIFICATION_TYPES)))
        hostname = data["hostname"]
        if not isinstance(hostname, str) or not 1 <= len(hostname) <= 255 or not _HOSTNAME_PATTERN.match(hostname):
            raise self._invalid("hostname", hostname, "%r does not match '^[a-zA-Z0-9-._]*$'" % (hostname,))
        try:
            generated_time = _parse_time(data["generated_time"])
        except ValueError:
            raise self._invalid("generated_time", data["generated_time"],
                                "%r is not a 'date-time'" % (data["generated_time"],)) from None
        payload = data["payload"]
        if not isinstance(payload, dict):
            raise self._invalid("payload", payload, "%r is not of type 'object'" % (payload,))
        for key, value in payload.items():
            if not _PAYLOAD_KEY_PATTERN.match(key):
                raise self._invalid("payload", payload, "Additional properties are not allowed (%r was unexpected)"
                                    % key)
            if not isinstance(value, str) or len(value) > 255:
                raise self._invalid("payload/%s" % key, value, "%r is not of type 'string'" % (value,))
        allowed, required, enums = _PAYLOAD_SCHEMAS[data["type"]]
        unknown = sorted(set(payload) - set(allowed))
        if unknown:
            raise self._invalid("payload", payload, "Additional properties are not allowed (%s was unexpected)"
                                % ", ".join(repr(u) for u in unknown))
        for key in required:
            if key not in payload:
                raise self._invalid("payload", payload, "%r is a required property" % key)
        for key, choices in enums.items():
            if key in payload and payload[key] not in choices:
                raise self._invalid("payload/%s" % key, payload[key], "%r is not one of %r"
                                    % (payload[key], list(choices)))
        if data["type"] == "VM":
            if not _is_uuid(payload["instance_uuid"]):
                raise self._invalid("payload/instance_uuid", payload["instance_uuid"], "%r is not a 'uuid'"
                                    % payload["instance_uuid"])
            for key in ("vir_domain_event", "event"):
                if not payload[key]:
                    raise self._invalid("payload/%s" % key, payload[key], "%r is too short" % payload[key])
        return generated_time

    def _notification_view(self, record, microversion=(1, 0), details=False):
        view = dict(record, deleted=False, deleted_at=None)
        view.pop("recovery_workflow_details")
        if details and microversion >= (1, 1):
            view["recovery_workflow_details"] = copy.deepcopy(record["recovery_workflow_details"])
        return view

    def create_notification(self, body):
        data = self._unwrap(body, "notification")
        generated_time = self._validate_notification(data)
        host = self.host_named(data["hostname"])
        if host is None:
            raise ApiError(400, "Host with name %s could not be found." % data["hostname"])
        if host["on_maintenance"]:
            raise ApiError(409, "Notification received from host %s of type '%s' is ignored as the host is already "
                           "under maintenance." % (data["hostname"], data["type"]))
        since = generated_time - datetime.timedelta(seconds=self.duplicate_interval)
        for other in self.notifications:
            if (other["type"] == data["type"] and other["source_host_uuid"] == host["uuid"]
                    and _parse_time(other["generated_time"]) >= since and other["payload"] == data["payload"]):
                raise ApiError(409, "Notification received from host %s of type %s is duplicate."
                               % (data["hostname"], data["type"]))
        record = self._notification_record(data["type"], host, data["payload"], generated_time)
        return 202, {"notification": self._notification_view(record)}

    def list_notifications(self, query):
        query = dict((key, str(value)) for key, value in query.items())
        result = list(self.notifications)
        for field in ("status", "source_host_uuid", "type"):
            if field in query:
                result = [n for n in result if n[field] == query[field]]
        if "generated-since" in query:
            try:
                since = _parse_time(query["generated-since"])
            except ValueError:
                raise ApiError(400, "Invalid generated-since value") from None
            result = [n for n in result if _parse_time(n["generated_time"]) >= since]
        sort_key = query.get("sort_key", "created_at")
        sort_dir = query.get("sort_dir", "desc")
        if sort_key not in _NOTIFICATION_SORT_KEYS:
            raise ApiError(400, "Sort key supplied is invalid: %s" % sort_key)
        if sort_dir not in ("asc", "desc"):
            raise ApiError(400, "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'")
        keys = [sort_key] + [key for key in ("created_at", "id") if key != sort_key]

        def order(record):
            return tuple(json.dumps(record[k], sort_keys=True) if k == "payload" else (record[k] or "") for k in keys)

        descending = sort_dir == "desc"
        result.sort(key=order, reverse=descending)
        if "marker" in query:
            # Like oslo.db's paginate_query: what sorts after the marker's row, wherever that row is.
            marker = next((n for n in self.notifications if str(n["id"]) == query["marker"]), None)
            if marker is None:
                raise ApiError(400, "Marker %s could not be found." % query["marker"])
            result = [n for n in result if (order(n) < order(marker) if descending else order(n) > order(marker))]
        limit = 1000  # [DEFAULT]osapi_max_limit
        if "limit" in query:
            if not query["limit"].isdigit():
                raise ApiError(400, "limit param must be an integer")
            limit = min(limit, int(query["limit"]))
        return 200, {"notifications": [self._notification_view(n) for n in result[:limit]]}

    def show_notification(self, notification_id, microversion):
        record = next((n for n in self.notifications if n["notification_uuid"] == notification_id), None)
        if not _is_uuid(notification_id) or record is None:
            raise ApiError(404, "No notification with id %s." % notification_id)
        return 200, {"notification": self._notification_view(record, microversion, details=True)}


def api_response(method, url, status, body=None):
    """A requests.Response as Masakari would send it (errors carry Masakari's fault body)."""
    response = requests.Response()
    response.status_code = status
    response.reason = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
                       403: "Forbidden", 404: "Not Found", 406: "Not Acceptable", 409: "Conflict"}.get(status, "Error")
    response.headers["content-type"] = "application/json"
    response.headers["x-openstack-request-id"] = "req-fake"
    response._content = b"" if body is None else json.dumps(body).encode()
    response.url = url
    response.request = requests.Request(method, url).prepare()
    return response


def dispatch(api, method, path, body=None, microversion=(1, 0), params=None):
    """Route one request to the fake API: (status, body), errors included."""
    parts = path.split("?")[0].strip("/").split("/")
    params = dict(params or {})
    try:
        if microversion > _version(api.max_microversion):
            raise ApiError(406, "Version %s is not supported by the API. Minimum is 1.0 and maximum is %s."
                           % (".".join(str(part) for part in microversion), api.max_microversion))
        if parts[0] == "notifications" and len(parts) <= 2:
            if len(parts) == 2 and method == "GET":
                return api.show_notification(parts[1], microversion)
            if len(parts) == 1 and method == "GET":
                return api.list_notifications(params)
            if len(parts) == 1 and method == "POST":
                return api.create_notification(body)
            raise ApiError(405, "The method specified is not allowed for this resource.")
        if parts[0] != "segments" or len(parts) > 4 or (len(parts) >= 3 and parts[2] != "hosts"):
            raise ApiError(404, "The resource could not be found.")
        if len(parts) == 1:
            if method == "GET":
                return api.list_segments(params)
            return api.create_segment(body, microversion)
        if len(parts) == 2:
            handlers = dict(GET=lambda: api.show_segment(parts[1]),
                            PUT=lambda: api.update_segment(parts[1], body, microversion),
                            DELETE=lambda: api.delete_segment(parts[1]))
            return handlers[method]()
        if len(parts) == 3:
            if method == "GET":
                return api.list_hosts(parts[1], params)
            return api.create_host(parts[1], body)
        handlers = dict(GET=lambda: api.show_host(parts[1], parts[3]),
                        PUT=lambda: api.update_host(parts[1], parts[3], body),
                        DELETE=lambda: api.delete_host(parts[1], parts[3]))
        return handlers[method]()
    except ApiError as error:
        fault = _FAULT_NAMES.get(error.code, "computeFault")
        return error.code, {fault: {"message": error.message, "code": error.code}}


# --- recording: the same for both client sides ------------------------------------------------------------

MUTATING = ("create_segment", "update_segment", "delete_segment", "create_host", "update_host", "delete_host",
            "create_notification")
_RECORDED = MUTATING + ("segments", "get_segment", "hosts", "get_host", "notifications", "get_notification")


def _bound_call(name, args, kwargs):
    """(name, arguments) with the arguments named as openstacksdk's Proxy method names them."""
    signature = inspect.signature(getattr(_proxy.Proxy, name))
    bound = signature.bind(None, *args, **kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    arguments.pop("self")
    for variadic in ("attrs", "query"):
        arguments.update(arguments.pop(variadic, {}))
    return name, dict((key, value if isinstance(value, resource.Resource) else copy.deepcopy(value))
                      for key, value in arguments.items())


class _Recorder:
    def _init_recorder(self):
        self.calls = []  # (method name, {argument: value}), in order

    def mutating_calls(self):
        return [call for call in self.calls if call[0] in MUTATING]

    def _record(self, name, args, kwargs):
        self.calls.append(_bound_call(name, args, kwargs))


# --- client side 1: a stand-in for openstacksdk's instance_ha Proxy ----------------------------------------

class FakeInstanceHaProxy(_Recorder):
    """openstacksdk's instance_ha Proxy methods (same signatures), answered by a FakeMasakariAPI.

    Requests are built by openstacksdk's own Segment and Host resources; resources are addressed by
    ``Resource._get_id`` (the integer ``id`` of a resource object); errors go through
    ``openstack.exceptions.raise_from_response``.
    """

    service_type = "instance-ha"
    default_microversion = None

    def __init__(self, api):
        self.api = api
        self._init_recorder()

    def get_endpoint_data(self):
        return SimpleNamespace(min_microversion=(1, 0), max_microversion=_version(self.api.max_microversion))

    def _microversion(self, resource_type):
        # openstacksdk sends the proxy's default_microversion when one is set, else min(resource's maximum,
        # server's maximum); no maximum means no header (1.0).
        if self.default_microversion:
            return _version(self.default_microversion)
        client_max = getattr(resource_type, "_max_microversion", None)
        if client_max is None:
            return (1, 0)
        return min(_version(client_max), _version(self.api.max_microversion))

    def _request(self, method, path, resource_type, body=None, params=None, error_message=None):
        status, answer = dispatch(self.api, method, path, body, self._microversion(resource_type), params)
        exceptions.raise_from_response(api_response(method, ENDPOINT + path, status, answer), error_message)
        return answer

    @staticmethod
    def _body(resource_type, **attrs):
        """The request body openstacksdk builds for these attributes (only what was set)."""
        return resource_type.new(**attrs)._prepare_request_body(prepend_key=True)

    @staticmethod
    def _query(resource_type, query):
        mapping = resource_type._query_mapping._mapping
        unknown = sorted(set(query) - set(mapping))
        if unknown:
            raise exceptions.InvalidResourceQuery("Invalid query params: %s" % ", ".join(unknown))
        return dict((mapping[key], value) for key, value in query.items())

    # segments

    def segments(self, **query):
        self._record("segments", (), query)
        answer = self._request("GET", "/segments", _segment.Segment, params=self._query(_segment.Segment, query))
        return (_segment.Segment.existing(**item) for item in answer["segments"])

    def get_segment(self, segment):
        self._record("get_segment", (segment,), {})
        segment_id = resource.Resource._get_id(segment)
        answer = self._request("GET", "/segments/%s" % segment_id, _segment.Segment,
                               error_message="No Segment found for %s" % segment_id)
        return _segment.Segment.existing(**answer["segment"])

    def create_segment(self, **attrs):
        self._record("create_segment", (), attrs)
        answer = self._request("POST", "/segments", _segment.Segment, self._body(_segment.Segment, **attrs))
        return _segment.Segment.existing(**answer["segment"])

    def update_segment(self, segment, **attrs):
        self._record("update_segment", (segment,), attrs)
        segment_id = resource.Resource._get_id(segment)
        answer = self._request("PUT", "/segments/%s" % segment_id, _segment.Segment,
                               self._body(_segment.Segment, **attrs))
        return _segment.Segment.existing(**answer["segment"])

    def delete_segment(self, segment, ignore_missing=True):
        self._record("delete_segment", (segment,), dict(ignore_missing=ignore_missing))
        segment_id = resource.Resource._get_id(segment)
        try:
            self._request("DELETE", "/segments/%s" % segment_id, _segment.Segment)
        except exceptions.NotFoundException:
            if not ignore_missing:
                raise
        return None

    # hosts

    def hosts(self, segment, **query):
        self._record("hosts", (segment,), query)
        segment_id = resource.Resource._get_id(segment)
        answer = self._request("GET", "/segments/%s/hosts" % segment_id, _host.Host,
                               params=self._query(_host.Host, query))
        return (_host.Host.existing(segment_id=segment_id, **item) for item in answer["hosts"])

    def get_host(self, host, segment=None):
        self._record("get_host", (host, segment), {})
        if segment is None:
            raise exceptions.InvalidRequest("'segment' must be specified.")
        segment_id = resource.Resource._get_id(segment)
        host_id = resource.Resource._get_id(host)
        answer = self._request("GET", "/segments/%s/hosts/%s" % (segment_id, host_id), _host.Host,
                               error_message="No Host found for %s" % host_id)
        return _host.Host.existing(segment_id=segment_id, **answer["host"])

    def create_host(self, segment, **attrs):
        self._record("create_host", (segment,), attrs)
        segment_id = resource.Resource._get_id(segment)
        answer = self._request("POST", "/segments/%s/hosts" % segment_id, _host.Host, self._body(_host.Host, **attrs))
        return _host.Host.existing(segment_id=segment_id, **answer["host"])

    def update_host(self, host, segment, **attrs):
        self._record("update_host", (host, segment), attrs)
        segment_id = resource.Resource._get_id(segment)
        host_id = resource.Resource._get_id(host)
        answer = self._request("PUT", "/segments/%s/hosts/%s" % (segment_id, host_id), _host.Host,
                               self._body(_host.Host, **attrs))
        return _host.Host.existing(segment_id=segment_id, **answer["host"])

    def delete_host(self, host, segment=None, ignore_missing=True):
        self._record("delete_host", (host, segment, ignore_missing), {})
        if segment is None:
            raise exceptions.InvalidRequest("'segment' must be specified.")
        segment_id = resource.Resource._get_id(segment)
        host_id = resource.Resource._get_id(host)
        try:
            self._request("DELETE", "/segments/%s/hosts/%s" % (segment_id, host_id), _host.Host)
        except exceptions.NotFoundException:
            if not ignore_missing:
                raise
        return None

    # notifications

    def notifications(self, **query):
        self._record("notifications", (), query)
        params = self._query(_notification.Notification, query)
        return self._notification_pages(params)

    def _notification_pages(self, params):
        # As openstacksdk's Resource.list: with a limit, the next page (marker = id of the last one) is asked for
        # as long as pages are not empty; without one, a single request. Lazily, page by page.
        limit = params.get("limit")
        while True:
            answer = self._request("GET", "/notifications", _notification.Notification, params=dict(params))
            items = answer["notifications"]
            for item in items:
                yield _notification.Notification.existing(**item)
            if not items or not limit:
                return
            params = dict(params, marker=items[-1]["id"], limit=limit)

    def get_notification(self, notification):
        self._record("get_notification", (notification,), {})
        notification_id = resource.Resource._get_id(notification)
        answer = self._request("GET", "/notifications/%s" % notification_id, _notification.Notification,
                               error_message="No Notification found for %s" % notification_id)
        return _notification.Notification.existing(**answer["notification"])

    def create_notification(self, **attrs):
        self._record("create_notification", (), attrs)
        answer = self._request("POST", "/notifications", _notification.Notification,
                               self._body(_notification.Notification, **attrs))
        # openstacksdk keeps the attributes it sent (hostname) and adds what the API answered.
        return _notification.Notification.existing(**dict(attrs, **answer["notification"]))


class FakeConnection:
    """What ``openstack.connect()`` returns, as far as the modules use it, with the proxy-level fake."""

    def __init__(self, api):
        self.instance_ha = FakeInstanceHaProxy(api)


# --- client side 2: openstacksdk's real Connection and Proxy, over a session that answers in memory ------

class FakeMasakariSession(keystoneauth1.session.Session):
    """A keystoneauth session whose HTTP requests are answered by a FakeMasakariAPI (no network).

    It checks the proxy-level fake against openstacksdk itself: the same module tests run on both.
    """

    def __init__(self, api):
        super().__init__()
        self.api = api

    def get_endpoint_data(self, *args, **kwargs):
        return SimpleNamespace(min_microversion=(1, 0), max_microversion=_version(self.api.max_microversion),
                               url=ENDPOINT, service_url=ENDPOINT, catalog_url=ENDPOINT, api_version=(1, 0))

    def get_endpoint(self, *args, **kwargs):
        return ENDPOINT

    def get_project_id(self, *args, **kwargs):
        return "admin-project"

    def request(self, url, method, **kwargs):
        microversion = kwargs.get("microversion")
        status, answer = dispatch(self.api, method, url, kwargs.get("json"),
                                  _version(microversion) if microversion else (1, 0), kwargs.get("params"))
        return api_response(method, ENDPOINT + url, status, answer)


class RecordingProxy(_Recorder):
    """Passes every call to a real openstacksdk Proxy, recording them like FakeInstanceHaProxy does."""

    _FORWARDED = ("default_microversion",)  # set on the wrapper, meant for the SDK's Proxy (a keystoneauth Adapter)

    def __init__(self, proxy):
        self._proxy = proxy
        self._init_recorder()

    def __setattr__(self, name, value):
        if name in self._FORWARDED:
            setattr(self._proxy, name, value)
        else:
            super().__setattr__(name, value)

    def __getattr__(self, name):
        attribute = getattr(self._proxy, name)
        if name not in _RECORDED:
            return attribute

        def recorded(*args, **kwargs):
            self._record(name, args, kwargs)
            return attribute(*args, **kwargs)
        return recorded


class SdkConnection:
    """openstacksdk's own Connection over FakeMasakariSession; ``instance_ha`` records its calls."""

    def __init__(self, api):
        self.api = api
        self.sdk = connection.Connection(session=FakeMasakariSession(api), instance_ha_endpoint_override=ENDPOINT)
        self.instance_ha = RecordingProxy(self.sdk.instance_ha)
