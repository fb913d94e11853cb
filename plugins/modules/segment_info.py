#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: segment_info
short_description: List Masakari failover segments
version_added: 0.1.0
author: hastack.openstack contributors (!UNKNOWN)
description:
  - Lists the Masakari (instance-ha) failover segments of the cloud, optionally filtered. Changes nothing.
options:
  name:
    description:
      - Only the segment of this name (names are unique), or of this UUID.
    type: str
  recovery_method:
    description:
      - Only segments with this recovery method.
    type: str
    choices: [auto, reserved_host, auto_priority, rh_priority]
  service_type:
    description:
      - Only segments of this service type.
    type: str
  is_enabled:
    description:
      - Only enabled (V(true)) or disabled (V(false)) segments. Segments of APIs older than microversion 1.2
        count as enabled.
    type: bool
    aliases: [enabled]
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
  - module: hastack.openstack.segment
  - module: hastack.openstack.segment_host_info
"""

EXAMPLES = r"""
- name: All segments
  hastack.openstack.segment_info:
    cloud: admin
  register: all_segments

- name: The segment named computes
  hastack.openstack.segment_info:
    cloud: admin
    name: computes
  register: computes

- name: Fail when the segment is missing
  ansible.builtin.assert:
    that: computes.segments | length == 1
"""

RETURN = r"""
segments:
  description: The matching segments, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Database key of the segment. The API addresses segments by RV(segments[].uuid), not by this.
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
      sample: auto
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
      sample: null
"""

from ansible_collections.hastack.openstack.plugins.module_utils.openstack_module import HastackOpenStackModule
from ansible_collections.hastack.openstack.plugins.module_utils.masakari import (
    RECOVERY_METHODS,
    effective_enabled,
    segment_to_dict,
)


class SegmentInfoModule(HastackOpenStackModule):
    argument_spec = dict(
        name=dict(type="str"),
        recovery_method=dict(type="str", choices=RECOVERY_METHODS),
        service_type=dict(type="str"),
        is_enabled=dict(type="bool", aliases=["enabled"]),
    )

    def _matches(self, segment):
        params = self.params
        if params["name"] is not None and params["name"] not in (segment.name, segment.uuid):
            return False
        for field in ("recovery_method", "service_type"):
            if params[field] is not None and getattr(segment, field) != params[field]:
                return False
        if params["is_enabled"] is not None and effective_enabled(segment) != params["is_enabled"]:
            return False
        return True

    def run(self):
        # Masakari's list call filters neither by name nor, before microversion 1.2, by enabled: filter here.
        segments = [segment_to_dict(s) for s in self.conn.instance_ha.segments() if self._matches(s)]
        segments.sort(key=lambda s: (s["name"] or "", s["uuid"] or ""))
        return dict(changed=False, segments=segments)


def main():
    SegmentInfoModule()()


if __name__ == "__main__":
    main()
