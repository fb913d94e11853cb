#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: segment_host_info
short_description: List the hosts of Masakari failover segments
version_added: 0.1.0
author: hastack.openstack contributors (!UNKNOWN)
description:
  - Lists the hosts of one Masakari (instance-ha) failover segment, or of every segment, optionally
    filtered. Changes nothing.
options:
  segment:
    description:
      - Name or UUID of the segment whose hosts are listed. The module fails when no such segment exists.
      - Not set, the hosts of every segment are listed.
    type: str
  name:
    description:
      - Only the host of this name.
    type: str
  type:
    description:
      - Only hosts of this type.
    type: str
  control_attributes:
    description:
      - Only hosts with these control attributes.
    type: str
  reserved:
    description:
      - Only reserved (V(true)) or unreserved (V(false)) hosts.
    type: bool
  on_maintenance:
    description:
      - Only hosts under maintenance (V(true)) or in service (V(false)).
    type: bool
extends_documentation_fragment:
  - hastack.openstack.openstack
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module changes nothing and runs the same in check mode.
  diff_mode:
    support: N/A
    details: The module changes nothing.
  platform:
    platforms: all
seealso:
  - module: hastack.openstack.segment_host
  - module: hastack.openstack.segment_info
"""

EXAMPLES = r"""
- name: Hosts of the segment
  hastack.openstack.segment_host_info:
    cloud: admin
    segment: computes
  register: segment_hosts

- name: Hosts Masakari left under maintenance after a recovery, in any segment
  hastack.openstack.segment_host_info:
    cloud: admin
    on_maintenance: true
  register: in_maintenance

- name: Spare hosts still available
  hastack.openstack.segment_host_info:
    cloud: admin
    segment: computes
    reserved: true
    on_maintenance: false
  register: spares
"""

RETURN = r"""
hosts:
  description: The matching hosts, sorted by segment name, then host name.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Database key of the host. The API addresses hosts by RV(hosts[].uuid), not by this.
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
    segment_name:
      description: Name of the segment of the host.
      type: str
      sample: computes
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
    find_segment,
    host_to_dict,
)


class SegmentHostInfoModule(HastackOpenStackModule):
    argument_spec = dict(
        segment=dict(type="str"),
        name=dict(type="str"),
        type=dict(type="str"),
        control_attributes=dict(type="str"),
        reserved=dict(type="bool"),
        on_maintenance=dict(type="bool"),
    )

    def _matches(self, host):
        for field in ("name", "type", "control_attributes", "reserved", "on_maintenance"):
            if self.params[field] is not None and getattr(host, field) != self.params[field]:
                return False
        return True

    def run(self):
        proxy = self.conn.instance_ha
        if self.params["segment"] is None:
            segments = list(proxy.segments())
        else:
            try:
                segment = find_segment(proxy, self.params["segment"], self.sdk_exceptions.NotFoundException)
            except AmbiguousName as error:
                self.fail_json(msg=str(error))
            if segment is None:
                self.fail_json(msg="Masakari has no segment named or with UUID %r" % self.params["segment"])
            segments = [segment]

        hosts = []
        for segment in sorted(segments, key=lambda s: (s.name or "", s.uuid or "")):
            try:
                found = [host for host in proxy.hosts(segment.uuid) if self._matches(host)]
            except self.sdk_exceptions.NotFoundException:
                if self.params["segment"] is not None:
                    raise
                continue  # deleted since it was listed
            for host in sorted(found, key=lambda h: (h.name or "", h.uuid or "")):
                hosts.append(dict(host_to_dict(host), segment_name=segment.name))
        return dict(changed=False, hosts=hosts)


def main():
    SegmentHostInfoModule()()


if __name__ == "__main__":
    main()
