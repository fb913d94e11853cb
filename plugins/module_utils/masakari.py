# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)
"""Masakari (instance-ha) helpers shared by the segment and segment host modules.

Facts of the Masakari API these helpers build on (upstream masakari, masakari/api/openstack/ha/ and
masakari/ha/api.py):

- segments and hosts are addressed by their ``uuid``. Their ``id`` is the database's integer key, and an
  openstacksdk resource object handed to a proxy method is addressed by that ``id``, which the API answers
  with 404. So every call below passes ``uuid`` strings, never resource objects;
- a segment name is unique in the cloud, a host name too (a host belongs to one segment only); the list
  calls cannot filter segments by name, so names are matched here;
- segment ``enabled`` exists from API microversion 1.2 (masakari 11.0.0) on; older APIs have no such field
  and every segment of theirs acts as enabled.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import uuid

RECOVERY_METHODS = ["auto", "reserved_host", "auto_priority", "rh_priority"]
SEGMENT_ENABLED_MICROVERSION = "1.2"

SEGMENT_FIELDS = ("id", "uuid", "name", "description", "recovery_method", "service_type", "is_enabled",
                  "created_at", "updated_at")
HOST_FIELDS = ("id", "uuid", "name", "failover_segment_id", "type", "control_attributes", "reserved",
               "on_maintenance", "created_at", "updated_at")


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
