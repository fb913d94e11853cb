#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: segment
short_description: Create, update or delete a Masakari failover segment
version_added: 0.1.0
author: hastack.openstack contributors (!UNKNOWN)
description:
  - Makes a Masakari (instance-ha) failover segment exist with the given settings, or not exist.
  - A segment is found by its name, which Masakari keeps unique in the cloud. Options left unset are not
    changed on an existing segment; only the fields that differ are sent.
  - Deleting a segment deletes its hosts with it (Masakari does so).
  - Masakari refuses to change or delete a segment while a notification of one of its hosts is new,
    running or in error; the module then fails and says so.
options:
  name:
    description:
      - Name of the segment.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the segment, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  recovery_method:
    description:
      - How Masakari recovers the instances of a failed host of this segment. V(auto) evacuates them to
        hosts Nova chooses, V(reserved_host) to the segment's reserved hosts; V(auto_priority) tries
        V(auto) first and falls back to V(reserved_host), V(rh_priority) the other way round.
      - Required to create the segment.
    type: str
    choices: [auto, reserved_host, auto_priority, rh_priority]
  service_type:
    description:
      - Service type of the segment.
    type: str
    default: COMPUTE
  description:
    description:
      - Free text. An empty string and an unset description are treated as equal.
      - Not set, an existing description is left alone.
    type: str
  is_enabled:
    description:
      - Whether Masakari processes notifications of this segment's hosts. A disabled segment's
        notifications are ignored.
      - Needs Masakari API microversion 1.2 (masakari 11.0.0) or later. On older APIs every segment is
        enabled; V(true) is then accepted and changes nothing, V(false) fails.
      - Not set, the API default (enabled) applies to a new segment and an existing one is left alone.
    type: bool
    aliases: [enabled]
extends_documentation_fragment:
  - hastack.openstack.openstack
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: all
seealso:
  - module: hastack.openstack.segment_info
  - module: hastack.openstack.segment_host
"""

EXAMPLES = r"""
- name: Segment of the computes, evacuating to reserved hosts first
  hastack.openstack.segment:
    cloud: admin
    name: computes
    recovery_method: rh_priority
    description: All compute nodes of the cloud

- name: Stop Masakari from acting on the segment during maintenance (API microversion 1.2+)
  hastack.openstack.segment:
    cloud: admin
    name: computes
    is_enabled: false

- name: Remove the segment and its hosts
  hastack.openstack.segment:
    cloud: admin
    name: computes
    state: absent
"""

RETURN = r"""
segment:
  description:
    - The segment as Masakari describes it after the change.
    - In check mode, the segment as it would be; a segment that would be created has no RV(segment.id),
      RV(segment.uuid) or timestamps yet.
  returned: when O(state=present)
  type: dict
  contains:
    id:
      description: Database key of the segment. The API addresses segments by RV(segment.uuid), not by this.
      type: int
      sample: 3
    uuid:
      description: UUID of the segment.
      type: str
      sample: 5d2a1e4c-0b34-4a6e-9f0a-1c4f6a3a9b21
    name:
      description: Name of the segment.
      type: str
      sample: computes
    description:
      description: Description of the segment.
      type: str
      sample: All compute nodes of the cloud
    recovery_method:
      description: Recovery method of the segment.
      type: str
      sample: rh_priority
    service_type:
      description: Service type of the segment.
      type: str
      sample: COMPUTE
    is_enabled:
      description: Whether the segment is enabled; null when the API predates microversion 1.2.
      type: bool
      sample: true
    created_at:
      description: Creation time.
      type: str
      sample: "2026-11-23T12:00:00.000000"
    updated_at:
      description: Time of the last update; null if never updated.
      type: str
      sample: "2026-11-23T12:30:00.000000"
"""

from ansible_collections.hastack.openstack.plugins.module_utils.openstack_module import HastackOpenStackModule
from ansible_collections.hastack.openstack.plugins.module_utils.masakari import (
    RECOVERY_METHODS,
    SEGMENT_ENABLED_MICROVERSION,
    AmbiguousName,
    effective_enabled,
    find_segment_by_name,
    segment_to_dict,
    text_differs,
)

IN_USE = ("a host of it has a notification that is new, running or in error; retry once those notifications "
          "are finished or resolved")


class SegmentModule(HastackOpenStackModule):
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        recovery_method=dict(type="str", choices=RECOVERY_METHODS),
        service_type=dict(type="str", default="COMPUTE"),
        description=dict(type="str"),
        is_enabled=dict(type="bool", aliases=["enabled"]),
    )

    def run(self):
        self.proxy = self.conn.instance_ha
        name = self.params["name"]
        try:
            segment = find_segment_by_name(self.proxy, name)
        except AmbiguousName as error:
            self.fail_json(msg=str(error))

        if self.params["state"] == "absent":
            return self._absent(segment)
        if segment is None:
            return self._create()
        return self._update(segment)

    # --- state=absent ---------------------------------------------------------------------------------

    def _absent(self, segment):
        if segment is None:
            return dict(changed=False)
        result = dict(changed=True, diff=self.diff(segment_to_dict(segment), None))
        if not self.check_mode:
            try:
                self.proxy.delete_segment(segment.uuid, ignore_missing=True)
            except self.sdk_exceptions.ConflictException as error:
                self.fail_api("Masakari refused to delete segment %r: %s" % (segment.name, IN_USE), error)
        return result

    # --- state=present --------------------------------------------------------------------------------

    def _unsupported_enabled(self):
        self.fail_json(msg="is_enabled=false needs Masakari API microversion %s (masakari 11.0.0) or later, which "
                       "this cloud's instance-ha endpoint does not offer; on older APIs every segment is enabled"
                       % SEGMENT_ENABLED_MICROVERSION)

    def _create(self):
        params = self.params
        if not params["recovery_method"]:
            self.fail_json(msg="recovery_method is required to create segment %r" % params["name"])
        attrs = dict(name=params["name"], recovery_method=params["recovery_method"],
                     service_type=params["service_type"])
        if params["description"] is not None:
            attrs["description"] = params["description"]
        # Enabled is the API's default: only a disabled segment needs the field, and so microversion 1.2.
        if params["is_enabled"] is False:
            if not self.supports_microversion(self.proxy, SEGMENT_ENABLED_MICROVERSION):
                self._unsupported_enabled()
            attrs["is_enabled"] = False

        if self.check_mode:
            planned = dict((field, None) for field in segment_to_dict(None))
            planned.update(attrs)
            planned["is_enabled"] = attrs.get("is_enabled", True)
            return dict(changed=True, segment=planned, diff=self.diff(None, planned))
        try:
            segment = self.proxy.create_segment(**attrs)
        except self.sdk_exceptions.ConflictException as error:
            self.fail_api("Masakari refused to create segment %r" % params["name"], error)
        except self.sdk_exceptions.BadRequestException as error:
            self.fail_api("Masakari rejected segment %r" % params["name"], error)
        after = segment_to_dict(segment)
        return dict(changed=True, segment=after, diff=self.diff(None, after))

    def _changes(self, segment):
        params = self.params
        changes = {}
        for field in ("recovery_method", "service_type"):
            if params[field] is not None and getattr(segment, field) != params[field]:
                changes[field] = params[field]
        if params["description"] is not None and text_differs(segment.description, params["description"]):
            changes["description"] = params["description"]
        desired = params["is_enabled"]
        if desired is not None and effective_enabled(segment) != desired:
            if not self.supports_microversion(self.proxy, SEGMENT_ENABLED_MICROVERSION):
                self._unsupported_enabled()
            changes["is_enabled"] = desired
        return changes

    def _update(self, segment):
        before = segment_to_dict(segment)
        changes = self._changes(segment)
        if not changes:
            return dict(changed=False, segment=before)
        if self.check_mode:
            planned = dict(before, **changes)
            return dict(changed=True, segment=planned, diff=self.diff(before, planned))
        try:
            updated = self.proxy.update_segment(segment.uuid, **changes)
        except self.sdk_exceptions.ConflictException as error:
            self.fail_api("Masakari refused to change segment %r: %s" % (segment.name, IN_USE), error)
        except self.sdk_exceptions.BadRequestException as error:
            self.fail_api("Masakari rejected the change of segment %r" % segment.name, error)
        after = segment_to_dict(updated)
        return dict(changed=True, segment=after, diff=self.diff(before, after))


def main():
    SegmentModule()()


if __name__ == "__main__":
    main()
