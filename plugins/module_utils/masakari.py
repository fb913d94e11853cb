# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)
"""Masakari (instance-ha) helpers shared by the segment, segment host and notification modules.

Facts of the Masakari API these helpers build on (upstream masakari, masakari/api/openstack/ha/ and
masakari/ha/api.py):

- segments and hosts are addressed by their ``uuid``. Their ``id`` is the database's integer key, and an
  openstacksdk resource object handed to a proxy method is addressed by that ``id``, which the API answers
  with 404. So every call below passes ``uuid`` strings, never resource objects;
- a segment name is unique in the cloud, a host name too (a host belongs to one segment only); the list
  calls cannot filter segments by name, so names are matched here;
- segment ``enabled`` exists from API microversion 1.2 (masakari 11.0.0) on; older APIs have no such field
  and every segment of theirs acts as enabled;
- notifications are addressed by ``notification_uuid`` (their ``id`` is the database's integer key, as for
  segments and hosts). Masakari's notification has no host name field: answers give ``source_host_uuid``, which
  is resolved here through the segments' hosts. ``recovery_workflow_details`` is answered by
  ``GET /notifications/{uuid}`` only for a request of microversion 1.1 or later; openstacksdk's Notification
  resource declares no microversion, so the request asks for it through the proxy's ``default_microversion``.
  ``failover_segment_uuid`` (masakari 20.0.0) is not a field of openstacksdk's resource (4.x) and so is read
  only when the SDK gives it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re
import uuid

RECOVERY_METHODS = ["auto", "reserved_host", "auto_priority", "rh_priority"]
SEGMENT_ENABLED_MICROVERSION = "1.2"

SEGMENT_FIELDS = ("id", "uuid", "name", "description", "recovery_method", "service_type", "is_enabled",
                  "created_at", "updated_at")
HOST_FIELDS = ("id", "uuid", "name", "failover_segment_id", "type", "control_attributes", "reserved",
               "on_maintenance", "created_at", "updated_at")

NOTIFICATION_TYPES = ["COMPUTE_HOST", "VM", "PROCESS"]
NOTIFICATION_STATUSES = ["new", "running", "finished", "ignored", "error", "failed"]
RECOVERY_WORKFLOW_MICROVERSION = "1.1"
NOTIFICATION_FIELDS = ("id", "notification_uuid", "type", "hostname", "source_host_uuid", "failover_segment_uuid",
                       "generated_time", "status", "payload", "created_at", "updated_at", "recovery_workflow_details")

_ISO_8601 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
                       r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$")
_EPOCH = re.compile(r"^[+-]?\d+(?:\.\d*)?$")


class AmbiguousName(Exception):
    """More than one resource answers to a name that should be unique."""


def is_uuid_like(value):
    try:
        return str(uuid.UUID(str(value))) == str(value).lower()
    except (TypeError, ValueError, AttributeError):
        return False


def segment_to_dict(segment):
    return dict((field, getattr(segment, field, None)) for field in SEGMENT_FIELDS)


def host_to_dict(host):
    return dict((field, getattr(host, field, None)) for field in HOST_FIELDS)


def effective_enabled(segment):
    """Whether a segment acts as enabled; APIs older than 1.2 report nothing and enable every segment."""
    value = getattr(segment, "is_enabled", None)
    return True if value is None else bool(value)


def find_segment_by_name(proxy, name):
    matches = [segment for segment in proxy.segments() if segment.name == name]
    if len(matches) > 1:
        raise AmbiguousName("%d Masakari segments are named %r" % (len(matches), name))
    return matches[0] if matches else None


def find_segment(proxy, name_or_uuid, not_found_exception):
    """The segment with this uuid, else the one with this name, else None."""
    if is_uuid_like(name_or_uuid):
        try:
            return proxy.get_segment(name_or_uuid)
        except not_found_exception:
            pass
    return find_segment_by_name(proxy, name_or_uuid)


def find_host(proxy, segment_uuid, name):
    matches = [host for host in proxy.hosts(segment_uuid) if host.name == name]
    if len(matches) > 1:
        raise AmbiguousName("%d hosts of segment %s are named %r" % (len(matches), segment_uuid, name))
    return matches[0] if matches else None


def find_host_anywhere(proxy, name):
    """(segment, host) of the segment holding a host of this name, else (None, None)."""
    for segment in proxy.segments():
        for host in proxy.hosts(segment.uuid):
            if host.name == name:
                return segment, host
    return None, None


def text_differs(current, desired):
    """Description-like text: an unset value and an empty string are the same."""
    return (current or "") != (desired or "")


# --- notifications --------------------------------------------------------------------------------------------

UTC = datetime.timezone.utc
_EPOCH_START = datetime.datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(value):
    """A time given as ISO 8601 text (no zone: UTC, as Masakari reads it) or as seconds since the epoch (a number
    or numeric text), as an aware UTC datetime. ValueError when it is neither."""
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, bool):
        raise ValueError("not a time: %r" % (value,))
    if isinstance(value, (int, float)) or _EPOCH.match(str(value).strip()):
        try:
            return _EPOCH_START + datetime.timedelta(seconds=float(value))
        except OverflowError:
            raise ValueError("seconds since the epoch out of range: %r" % (value,))
    text = str(value).strip()
    match = _ISO_8601.match(text)
    if match is None:
        raise ValueError("not ISO 8601 nor seconds since the epoch: %r" % (value,))
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    parsed = datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                               int((fraction or "0")[:6].ljust(6, "0")), tzinfo=UTC)
    if zone and zone not in ("Z", "z"):
        digits = zone[1:].replace(":", "")
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        parsed = parsed - offset if zone[0] == "+" else parsed + offset
    return parsed


def api_time(value):
    """ISO 8601 text of a time, in UTC with an explicit zone, as the Masakari API takes it."""
    return parse_time(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now():
    return datetime.datetime.now(UTC)


def host_index(proxy, not_found_exception):
    """{host uuid: (host, segment)} over every host of every segment (a segment deleted meanwhile is skipped)."""
    index = {}
    for segment in proxy.segments():
        try:
            hosts = list(proxy.hosts(segment.uuid))
        except not_found_exception:
            continue
        for host in hosts:
            index[host.uuid] = (host, segment)
    return index


def _field(item, name):
    # openstacksdk's nested resources (RecoveryWorkflowDetailItem, ProgressDetailsItem) have attributes; a plain
    # dict (an SDK that leaves them as the API answered) has keys. No field asked for is an attribute of dict.
    value = getattr(item, name, None)
    if value is None and isinstance(item, dict):
        value = item.get(name)
    return value


def recovery_workflow_details(details):
    """Masakari's recovery_workflow_details as plain data: [{name, progress, state, progress_details[...]}]."""
    if details is None:
        return None
    result = []
    for task in details:
        steps = [dict(timestamp=_field(step, "timestamp"), progress=_field(step, "progress"),
                      message=_field(step, "message")) for step in (_field(task, "progress_details") or [])]
        result.append(dict(name=_field(task, "name"), progress=_field(task, "progress"), state=_field(task, "state"),
                           progress_details=steps))
    return result


def notification_to_dict(notification, hostname=None, segment_uuid=None, details=False):
    """A notification as the modules return it.

    ``hostname``/``segment_uuid``: what the caller resolved from ``source_host_uuid`` (the API answers neither;
    an SDK that gives ``failover_segment_uuid`` wins over ``segment_uuid``). ``details``: whether the answer
    came from a request of microversion 1.1 or later, so that ``recovery_workflow_details`` means something.
    """
    result = dict((field, getattr(notification, field, None)) for field in NOTIFICATION_FIELDS)
    result["hostname"] = hostname or result["hostname"]
    result["failover_segment_uuid"] = result["failover_segment_uuid"] or segment_uuid
    result["payload"] = dict(result["payload"] or {})
    result["recovery_workflow_details"] = (recovery_workflow_details(result["recovery_workflow_details"] or [])
                                           if details else None)
    return result


def get_notification(proxy, notification_uuid, microversion=None):
    """GET /notifications/{uuid}, asking for ``microversion`` (openstacksdk's resource asks for none itself)."""
    if microversion is None:
        return proxy.get_notification(notification_uuid)
    previous = proxy.default_microversion
    proxy.default_microversion = microversion
    try:
        return proxy.get_notification(notification_uuid)
    finally:
        proxy.default_microversion = previous
