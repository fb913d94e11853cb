#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: compute_service
short_description: Enable, disable or force down a Nova compute service
version_added: 0.1.0
author: hastack.openstack contributors (!UNKNOWN)
description:
  - Sets the scheduling status (enabled or disabled, with a reason) and the C(forced_down) flag of a Nova
    service, found by its host and binary. Without O(state) and O(forced_down) it only reports the service.
  - Only what differs is sent; a second run with the same options changes nothing.
  - A forced-down service counts as down for Nova at once, whatever its heartbeats say. Nova evacuates
    instances only from a host whose compute service is down, so a failed host is forced down (once fenced)
    before its instances are evacuated.
  - When O(forced_down=true) and a status are given, the service is forced down first and the status set
    after. Nova's API makes an RPC call to a compute it believes up whenever its status changes; to a dead
    host that call blocks for the RPC timeout (60 s by default) before the API answers. A forced-down service
    is not up, so no call is made.
  - When O(forced_down=false) and a status are given, the status is set first, while the service is still
    forced down (no RPC call to a host that may not be back yet), and the service is un-forced after.
  - Nova refuses to un-force a host while evacuation migrations from it are C(done); they become C(completed)
    once its nova-compute has restarted and cleaned up the evacuated instances. The module then fails with
    Nova's explanation.
  - Needs Nova API microversion 2.53 (Pike) or later, which addresses services by UUID; C(forced_down)
    exists since 2.11.
options:
  host:
    description:
      - Host of the service, as the C(Host) column of C(openstack compute service list) shows it.
    type: str
    required: true
  binary:
    description:
      - Binary of the service. Nova changes C(nova-compute) services only; another binary can only be reported.
    type: str
    default: nova-compute
  state:
    description:
      - V(enabled) lets the scheduler place instances on the host, V(disabled) stops it.
      - Not set, the status is left alone.
    type: str
    choices: [enabled, disabled]
  disabled_reason:
    description:
      - Why the service is disabled (1 to 255 characters). Only with O(state=disabled); a disabled service
        whose reason differs gets this one.
      - Not set, a service that is disabled already keeps its reason.
    type: str
  forced_down:
    description:
      - V(true) marks the service down at once; Nova then lets its instances be rebuilt elsewhere, so the host
        must be fenced first. V(false) lets its heartbeats count again.
      - Not set, the flag is left alone.
    type: bool
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
  - module: hastack.openstack.host_evacuate
"""

EXAMPLES = r"""
- name: A fenced host - force it down and keep the scheduler away from it
  hastack.openstack.compute_service:
    cloud: admin
    host: compute1
    forced_down: true
    state: disabled
    disabled_reason: host failed and was fenced

- name: Back in service after the repair (enabled first, then un-forced)
  hastack.openstack.compute_service:
    cloud: admin
    host: compute1
    state: enabled
    forced_down: false

- name: Report the service only
  hastack.openstack.compute_service:
    cloud: admin
    host: compute1
  register: compute1_service
"""

RETURN = r"""
service:
  description:
    - The service as Nova describes it after the change; in check mode, as it would be.
  returned: success
  type: dict
  contains:
    id:
      description: UUID of the service.
      type: str
      sample: 0c2e9d8a-52f1-4d0e-b4b9-7f1f0d1c8e11
    host:
      description: Host of the service.
      type: str
      sample: compute1
    binary:
      description: Binary of the service.
      type: str
      sample: nova-compute
    status:
      description: Scheduling status, C(enabled) or C(disabled).
      type: str
      sample: disabled
    state:
      description:
        - C(up) or C(down) as Nova sees it (heartbeats, forced down). In check mode a service that would be
          forced down is reported C(down).
      type: str
      sample: down
    forced_down:
      description: Whether the service is forced down.
      type: bool
      sample: true
    disabled_reason:
      description: Why the service is disabled; null when enabled.
      type: str
      sample: host failed and was fenced
    zone:
      description: Availability zone of the service.
      type: str
      sample: nova
    updated_at:
      description: Time of the service's last update or heartbeat.
      type: str
      sample: "2026-11-23T12:00:00.000000"
"""

from ansible_collections.hastack.openstack.plugins.module_utils.openstack_module import HastackOpenStackModule
from ansible_collections.hastack.openstack.plugins.module_utils.nova import (
    COMPUTE_BINARY,
    SERVICE_MICROVERSION,
    find_services,
    known_hosts,
    service_to_dict,
)


class ComputeServiceModule(HastackOpenStackModule):
    argument_spec = dict(
        host=dict(type="str", required=True),
        binary=dict(type="str", default=COMPUTE_BINARY),
        state=dict(type="str", choices=["enabled", "disabled"]),
        disabled_reason=dict(type="str"),
        forced_down=dict(type="bool"),
    )

    def run(self):
        self.proxy = self.conn.compute
        params = self.params
        if params["disabled_reason"] is not None and params["state"] != "disabled":
            self.fail_json(msg="disabled_reason is only valid with state=disabled")
        if not self.supports_microversion(self.proxy, SERVICE_MICROVERSION):
            self.fail_json(msg="hastack.openstack.compute_service needs Nova API microversion %s (Pike) or later, "
                           "which addresses services by UUID; this cloud's compute API does not offer it"
                           % SERVICE_MICROVERSION)

        service = self._find()
        before = service_to_dict(service)
        steps = self._steps(before)
        if not steps:
            return dict(changed=False, service=before)
        if params["binary"] != COMPUTE_BINARY:
            self.fail_json(msg="Nova changes nova-compute services only; %s on %s can only be reported"
                           % (params["binary"], params["host"]))
        if self.check_mode:
            planned = dict(before)
            for change in steps:
                planned.update(change)
            if planned["forced_down"]:
                planned["state"] = "down"
            return dict(changed=True, service=planned, diff=self.diff(before, planned))
        for change in steps:
            service = self._update(service, change)
        after = service_to_dict(service)
        return dict(changed=True, service=after, diff=self.diff(before, after))

    def _find(self):
        params = self.params
        found = find_services(self.proxy, params["host"], params["binary"])
        if len(found) > 1:
            self.fail_json(msg="Nova has %d %s services on host %r (one per cell?); cannot tell which to change"
                           % (len(found), params["binary"], params["host"]))
        if not found:
            hosts = known_hosts(self.proxy, params["binary"])
            self.fail_json(msg="Nova has no %s service on host %r; the host must equal the Host column of "
                           "'openstack compute service list' exactly (hosts with that service: %s)"
                           % (params["binary"], params["host"], ", ".join(hosts) or "none"))
        return found[0]

    def _steps(self, current):
        """The updates to send, in order (see the module description for why this order)."""
        params = self.params
        status_change = {}
        if params["state"] == "enabled" and current["status"] != "enabled":
            status_change = dict(status="enabled", disabled_reason=None)
        elif params["state"] == "disabled":
            reason = params["disabled_reason"]
            if current["status"] != "disabled" or (reason is not None and reason != current["disabled_reason"]):
                status_change = dict(status="disabled")
                if reason is not None:
                    status_change["disabled_reason"] = reason
                elif current["status"] != "disabled":
                    status_change["disabled_reason"] = None

        forced_down = params["forced_down"]
        force_change = {}
        if forced_down is not None and bool(current["forced_down"]) != forced_down:
            force_change = dict(forced_down=forced_down)

        steps = []
        # Forcing down: before the status change, so that Nova sees the service down and makes no RPC call to it.
        if force_change and forced_down:
            steps.append(force_change)
        if status_change:
            steps.append(status_change)
        # Un-forcing: after the status change, which is then made while the service still counts as down
        # (no RPC call to a compute that may not answer yet).
        if force_change and not forced_down:
            steps.append(force_change)
        return steps

    def _update(self, service, change):
        body = dict((key, value) for key, value in change.items() if value is not None)
        try:
            # By UUID, not the resource: openstacksdk sends only the attributes of a resource that differ from what
            # it holds, so a new reason for a disabled service would go without its status, which Nova refuses.
            return self.proxy.update_service(service.id, **body)
        except self.sdk_exceptions.BadRequestException as error:
            self.fail_api("Nova refused to update %s on %s" % (self.params["binary"], self.params["host"]), error)


def main():
    ComputeServiceModule()()


if __name__ == "__main__":
    main()
