#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: segment_host
short_description: Add, update or remove a host of a Masakari failover segment
version_added: 0.1.0
author: hastack.openstack contributors (!UNKNOWN)
description:
  - Makes a compute host a member of a Masakari (instance-ha) failover segment with the given settings,
    or removes it from the segment.
  - Masakari accepts only hosts Nova knows; O(name) must equal the host of a C(nova-compute) service
    exactly (case matters). Masakari keeps host names unique in the cloud, so a host belongs to one segment
    only.
  - Options left unset are not changed on an existing host; only the fields that differ are sent.
  - Masakari refuses to change or remove a host while a notification of a host of the same segment is new,
    running or in error; the module then fails and says so.
options:
  segment:
    description:
      - Name or UUID of the segment. It must exist for O(state=present).
    type: str
    required: true
  name:
    description:
      - Host name, as the C(Host) column of C(openstack compute service list --service nova-compute) shows it.
      - Masakari monitors report failures under this name, and the recovery compares it with Nova's
        hypervisor host name.
    type: str
    required: true
  state:
    description:
      - V(present) adds or updates the host, V(absent) removes it from the segment.
    type: str
    choices: [present, absent]
    default: present
  type:
    description:
      - Host type; letters and digits only.
    type: str
    default: COMPUTE
  control_attributes:
    description:
      - How the host is reached for control, free text.
    type: str
    default: SSH
  reserved:
    description:
      - Whether the host is a reserved host, kept free to receive the instances of a failed host (recovery
        methods C(reserved_host), C(auto_priority), C(rh_priority)).
      - Masakari clears this flag when it uses the host for a recovery; setting it again in a later run makes
        the host a spare once more.
      - Not set, a new host is not reserved and an existing one is left alone.
    type: bool
  on_maintenance:
    description:
      - Whether the host is under maintenance. Masakari ignores notifications from such a host and does not
        use it as a reserved host.
      - Masakari sets this flag itself on a host it recovered from; clear it once the host is repaired.
      - Not set, a new host is not under maintenance and an existing one is left alone.
    type: bool
extends_documentation_fragment:
  - hastack.openstack.openstack
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Check mode cannot know whether Masakari would accept a new host (Nova knows it, no other segment
      holds it); a real run checks both.
  diff_mode:
    support: full
  platform:
    platforms: all
seealso:
  - module: hastack.openstack.segment
  - module: hastack.openstack.segment_host_info
"""

EXAMPLES = r"""
- name: Every compute in the segment
  hastack.openstack.segment_host:
    cloud: admin
    segment: computes
    name: "{{ item }}"
  loop: "{{ groups['computes'] }}"

- name: A reserved spare host
  hastack.openstack.segment_host:
    cloud: admin
    segment: computes
    name: compute3
    reserved: true

- name: Back in service after the repair
  hastack.openstack.segment_host:
    cloud: admin
    segment: computes
    name: compute1
    on_maintenance: false

- name: Out of the segment
  hastack.openstack.segment_host:
    cloud: admin
    segment: computes
    name: compute2
    state: absent
"""

RETURN = r"""
host:
  description:
    - The host as Masakari describes it after the change.
    - In check mode, the host as it would be; a host that would be added has no RV(host.id), RV(host.uuid) or
      timestamps yet.
  returned: when O(state=present)
  type: dict
  contains:
    id:
      description: Database key of the host. The API addresses hosts by RV(host.uuid), not by this.
      type: int
      sample: 7
    uuid:
      description: UUID of the host.
      type: str
      sample: 0c2e9d8a-52f1-4d0e-b4b9-7f1f0d1c8e11
    name:
      description: Host name.
      type: str
      sample: compute1
    failover_segment_id:
      description: UUID of the segment of the host.
      type: str
      sample: 5d2a1e4c-0b34-4a6e-9f0a-1c4f6a3a9b21
    type:
      description: Host type.
      type: str
      sample: COMPUTE
    control_attributes:
      description: Control attributes of the host.
      type: str
      sample: SSH
    reserved:
      description: Whether the host is reserved.
      type: bool
      sample: false
    on_maintenance:
      description: Whether the host is under maintenance.
      type: bool
      sample: false
    created_at:
      description: Creation time.
      type: str
      sample: "2026-11-23T12:00:00.000000"
    updated_at:
      description: Time of the last update; null if never updated.
      type: str
      sample: null
"""

from ansible_collections.hastack.openstack.plugins.module_utils.openstack_module import HastackOpenStackModule
from ansible_collections.hastack.openstack.plugins.module_utils.masakari import (
    AmbiguousName,
    find_host,
    find_host_anywhere,
    find_segment,
    host_to_dict,
)

IN_USE = ("a host of segment %r has a notification that is new, running or in error; retry once those "
          "notifications are finished or resolved")
UNKNOWN_TO_NOVA = ("Nova has no nova-compute service on a host of that name; the name must equal the Host column "
                   "of 'openstack compute service list --service nova-compute' exactly (case matters)")


class SegmentHostModule(HastackOpenStackModule):
    argument_spec = dict(
        segment=dict(type="str", required=True),
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        type=dict(type="str", default="COMPUTE"),
        control_attributes=dict(type="str", default="SSH"),
        reserved=dict(type="bool"),
        on_maintenance=dict(type="bool"),
    )

    def run(self):
        self.proxy = self.conn.instance_ha
        params = self.params
        try:
            segment = find_segment(self.proxy, params["segment"], self.sdk_exceptions.NotFoundException)
            host = find_host(self.proxy, segment.uuid, params["name"]) if segment is not None else None
        except AmbiguousName as error:
            self.fail_json(msg=str(error))

        if params["state"] == "absent":
            return self._absent(segment, host)
        if segment is None:
            self.fail_json(msg="Masakari has no segment named or with UUID %r; create it first "
                           "(hastack.openstack.segment)" % params["segment"])
        if host is None:
            return self._create(segment)
        return self._update(segment, host)

    # --- state=absent ---------------------------------------------------------------------------------

    def _absent(self, segment, host):
        if host is None:
            return dict(changed=False)
        result = dict(changed=True, diff=self.diff(host_to_dict(host), None))
        if not self.check_mode:
            try:
                self.proxy.delete_host(host.uuid, segment.uuid, True)
            except self.sdk_exceptions.ConflictException as error:
                self.fail_api("Masakari refused to remove host %r: %s" % (host.name, IN_USE % segment.name), error)
        return result

    # --- state=present --------------------------------------------------------------------------------

    def _create(self, segment):
        params = self.params
        attrs = dict(name=params["name"], type=params["type"], control_attributes=params["control_attributes"])
        for flag in ("reserved", "on_maintenance"):
            if params[flag] is not None:
                attrs[flag] = params[flag]

        if self.check_mode:
            planned = dict((field, None) for field in host_to_dict(None))
            planned.update(dict(reserved=False, on_maintenance=False, failover_segment_id=segment.uuid), **attrs)
            return dict(changed=True, host=planned, diff=self.diff(None, planned))
        try:
            host = self.proxy.create_host(segment.uuid, **attrs)
        except self.sdk_exceptions.BadRequestException as error:
            self._create_rejected(error)
        except self.sdk_exceptions.ConflictException as error:
            self._create_conflict(segment, error)
        after = host_to_dict(host)
        return dict(changed=True, host=after, diff=self.diff(None, after))

    def _create_rejected(self, error):
        name = self.params["name"]
        details = str(getattr(error, "details", None) or "")
        if "compute service" in details.lower() and "not be found" in details.lower():
            self.fail_api("Masakari refused host %r: %s" % (name, UNKNOWN_TO_NOVA), error)
        self.fail_api("Masakari rejected host %r" % name, error)

    def _create_conflict(self, segment, error):
        name = self.params["name"]
        try:
            holder, dummy = find_host_anywhere(self.proxy, name)
        except self.sdk_exceptions.SDKException:
            holder = None
        if holder is not None and holder.uuid != segment.uuid:
            self.fail_api("Host %r already belongs to segment %r (%s) and a host can be in one segment only; remove "
                          "it from there first (state=absent) to add it to %r"
                          % (name, holder.name, holder.uuid, segment.name), error)
        self.fail_api("Masakari refused to add host %r to segment %r" % (name, segment.name), error)

    def _changes(self, host):
        params = self.params
        changes = {}
        for field in ("type", "control_attributes", "reserved", "on_maintenance"):
            if params[field] is not None and getattr(host, field) != params[field]:
                changes[field] = params[field]
        return changes

    def _update(self, segment, host):
        before = host_to_dict(host)
        changes = self._changes(host)
        if not changes:
            return dict(changed=False, host=before)
        if self.check_mode:
            planned = dict(before, **changes)
            return dict(changed=True, host=planned, diff=self.diff(before, planned))
        try:
            updated = self.proxy.update_host(host.uuid, segment.uuid, **changes)
        except self.sdk_exceptions.ConflictException as error:
            self.fail_api("Masakari refused to change host %r: %s" % (host.name, IN_USE % segment.name), error)
        except self.sdk_exceptions.BadRequestException as error:
            self.fail_api("Masakari rejected the change of host %r" % host.name, error)
        after = host_to_dict(updated)
        return dict(changed=True, host=after, diff=self.diff(before, after))


def main():
    SegmentHostModule()()


if __name__ == "__main__":
    main()
