#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: instance_recover
short_description: Recover a failed instance the way Masakari does (stop, start, confirm active)
version_added: 0.1.0
author: hastack.openstack contributors (!UNKNOWN)
description:
  - Masakari's instance-failure flow for one server, after its instance monitor reported the guest dead
    (for example its qemu process killed).
  - A server without the HA metadata key set to true (O(ha_enabled_key)) is skipped, unless
    O(process_all_instances=true).
  - A paused or rescued server is ignored. A resized server is reset to active first.
  - Otherwise the server is stopped (unless it is stopped already; Nova's refusal because the stop is under
    way or done is tolerated), Nova is polled until it reports the server stopped, then it is started and
    polled until it is active. A wait that runs out fails the task.
  - Like Masakari, the module neither locks the server nor puts its host into maintenance.
  - Each run restarts the server again, as a second notification would in Masakari, so the task reports a
    change every time it recovers.
options:
  server:
    description:
      - ID or name of the server (servers of every project are searched; a name must be unique).
    type: str
    required: true
  ha_enabled_key:
    description:
      - Metadata key marking a server for recovery (Masakari's C([instance_failure]) C(ha_enabled_instance_metadata_key)).
        Its value counts as true as oslo reads booleans (C(true), C(1), C(yes), C(on)...).
    type: str
    default: HA_Enabled
  process_all_instances:
    description:
      - Recover the server even without the HA metadata key (Masakari's C(process_all_instances)).
    type: bool
    default: false
  wait_period_after_power_off:
    description:
      - Seconds the server has to reach the stopped state.
    type: int
    default: 180
  wait_period_after_power_on:
    description:
      - Seconds the server has to become active after the start.
    type: int
    default: 60
  verify_interval:
    description:
      - Seconds between two polls of the server.
    type: int
    default: 1
extends_documentation_fragment:
  - hastack.openstack.openstack
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: In check mode the module reports whether it would recover, skip or ignore the server, and how.
  diff_mode:
    support: none
  platform:
    platforms: all
seealso:
  - module: hastack.openstack.host_evacuate
"""

EXAMPLES = r"""
- name: Restart an instance whose guest died
  hastack.openstack.instance_recover:
    cloud: admin
    server: 0c2e9d8a-52f1-4d0e-b4b9-7f1f0d1c8e11
  register: recovery

- name: Recover any instance, HA-enabled or not
  hastack.openstack.instance_recover:
    cloud: admin
    server: web1
    process_all_instances: true
"""

RETURN = r"""
action:
  description:
    - V(recovered) (stopped and started; in check mode, would be), V(skipped) (not HA-enabled) or V(ignored)
      (paused or rescued).
  returned: success
  type: str
  sample: recovered
reason:
  description: What was done or why nothing was.
  returned: success
  type: str
  sample: stopped and started; active again
server:
  description: The server after the recovery (as found when skipped, ignored or in check mode).
  returned: success
  type: dict
  contains:
    id:
      description: Server ID.
      type: str
      sample: 0c2e9d8a-52f1-4d0e-b4b9-7f1f0d1c8e11
    name:
      description: Server name.
      type: str
      sample: web1
    status:
      description: Server status as Nova reports it.
      type: str
      sample: ACTIVE
    vm_state:
      description: Nova's vm_state of the server.
      type: str
      sample: active
    host:
      description: Compute host of the server.
      type: str
      sample: compute1
started_at:
  description: When the module started, in seconds since the epoch.
  returned: success
  type: float
  sample: 1795000000.25
finished_at:
  description: When the module finished, in seconds since the epoch.
  returned: success
  type: float
  sample: 1795000012.5
seconds:
  description: Duration of the recovery in seconds.
  returned: success
  type: float
  sample: 12.25
"""

from ansible_collections.hastack.openstack.plugins.module_utils.openstack_module import HastackOpenStackModule
from ansible_collections.hastack.openstack.plugins.module_utils.nova import (
    CLOCK,
    reset_state,
    server_to_dict,
    start,
    stop,
    wait_for_vm_state,
)
from ansible_collections.hastack.openstack.plugins.module_utils.recovery_policy import is_true

IGNORED_VM_STATES = ("paused", "rescued")


def server_summary(server):
    return dict((key, server[key]) for key in ("id", "name", "status", "vm_state", "host"))


class InstanceRecoverModule(HastackOpenStackModule):
    argument_spec = dict(
        server=dict(type="str", required=True),
        ha_enabled_key=dict(type="str", default="HA_Enabled", no_log=False),
        process_all_instances=dict(type="bool", default=False),
        wait_period_after_power_off=dict(type="int", default=180),
        wait_period_after_power_on=dict(type="int", default=60),
        verify_interval=dict(type="int", default=1),
    )

    def run(self):
        params = self.params
        for name in ("wait_period_after_power_off", "wait_period_after_power_on"):
            if params[name] < 0:
                self.fail_json(msg="%s must not be negative" % name)
        if params["verify_interval"] < 1:
            self.fail_json(msg="verify_interval must be at least 1")
        self.proxy = self.conn.compute
        self.started_at = CLOCK.now()
        try:
            found = self.proxy.find_server(params["server"], ignore_missing=False, all_projects=True)
        except self.sdk_exceptions.NotFoundException:
            self.fail_json(msg="Nova has no server with ID or name %r" % params["server"])
        except self.sdk_exceptions.DuplicateResource as error:
            self.fail_json(msg="More than one server answers to %r; give its ID (%s)" % (params["server"], error))
        server = server_to_dict(found)

        if not params["process_all_instances"] and not is_true(server["metadata"].get(params["ha_enabled_key"], False)):
            return self._result(False, "skipped", "the server's metadata %s is not true and process_all_instances is "
                                "false" % params["ha_enabled_key"], server)
        if server["vm_state"] in IGNORED_VM_STATES:
            return self._result(False, "ignored", "the server is %s; Masakari ignores the failure of a paused or "
                                "rescued instance" % server["vm_state"], server)

        steps = []
        if server["vm_state"] == "resized":
            steps.append("reset to active")
        if server["vm_state"] != "stopped":
            steps.append("stopped")
        steps.append("started")
        if self.check_mode:
            return self._result(True, "recovered", "check mode: would be %s" % ", ".join(steps), server)
        return self._recover(server, steps)

    def _recover(self, server, steps):
        params = self.params
        interval = params["verify_interval"]
        server_id = server["id"]
        try:
            if "reset to active" in steps:
                reset_state(self.proxy, server_id, "active")
            refusal = stop(self.proxy, server_id) if "stopped" in steps else None
            stopped, server = wait_for_vm_state(self.proxy, server_id, "stopped", params["wait_period_after_power_off"],
                                                interval)
            if not stopped:
                self._fail(server, "the server did not stop within %d s (vm_state %s, task_state %s)%s"
                           % (params["wait_period_after_power_off"], server["vm_state"], server["task_state"],
                              "; Nova refused the stop: %s" % refusal if refusal else ""))
            start(self.proxy, server_id)
            active, server = wait_for_vm_state(self.proxy, server_id, "active", params["wait_period_after_power_on"],
                                               interval)
            if not active:
                self._fail(server, "the server did not become active within %d s of its start (vm_state %s, "
                           "task_state %s)" % (params["wait_period_after_power_on"], server["vm_state"],
                                               server["task_state"]))
        except self.sdk_exceptions.HttpException as error:
            self.fail_api("Recovery of server %s (%s) failed" % (server["name"], server_id), error)
        return self._result(True, "recovered", "%s; active again" % ", ".join(steps), server)

    def _timing(self):
        finished_at = CLOCK.now()
        return dict(started_at=self.started_at, finished_at=finished_at, seconds=round(finished_at - self.started_at, 3))

    def _result(self, changed, action, reason, server):
        result = dict(changed=changed, action=action, reason=reason, server=server_summary(server))
        result.update(self._timing())
        return result

    def _fail(self, server, reason):
        self.fail_json(msg="Recovery of server %s (%s) failed: %s" % (server["name"], server["id"], reason),
                       changed=True, action="failed", reason=reason, server=server_summary(server), **self._timing())


def main():
    InstanceRecoverModule()()


if __name__ == "__main__":
    main()
