#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: notification
short_description: Send Masakari a failure notification, as a Masakari monitor does
version_added: 0.1.0
author: hastack.openstack contributors (!UNKNOWN)
description:
  - Sends the Masakari (instance-ha) API a notification of a failed compute host, instance or process, the way
    masakari-monitors report one. For operators and tests that simulate a monitor's event; Masakari's engine
    (or, for a segment that is not enabled, the collection's recovery playbook through Event-Driven Ansible)
    then acts on it as on a real one.
  - Not idempotent, by nature; every run that Masakari accepts is a new notification, and a new recovery.
    Masakari itself refuses (HTTP 409) a notification of the same type from the same host with an identical
    payload generated within its C(duplicate_notification_detection_interval) (180 seconds by default) of an
    earlier one, and any notification from a host under maintenance. The module reports such a refusal as
    unchanged, with RV(duplicate) and RV(refused_reason), not as a failure, unless O(fail_on_conflict=true).
options:
  type:
    description:
      - What failed. V(COMPUTE_HOST) is a host (the host monitor), V(VM) an instance (the instance and
        introspective monitors), V(PROCESS) a process of the host (the process monitor).
    type: str
    required: true
    choices: [COMPUTE_HOST, VM, PROCESS]
  hostname:
    description:
      - Name of the Masakari host the failure is on, as hastack.openstack.segment_host added it (the
        C(nova-compute) service's host name). Masakari refuses (HTTP 400) a name no segment holds; the module then
        fails.
    type: str
    required: true
  payload:
    description:
      - What the monitor saw; Masakari checks it against the O(type), and every value must be a string. Enum values
        are case-sensitive.
      - V(COMPUTE_HOST) - C(event) V(STOPPED) or V(STARTED) (required), C(host_status) V(NORMAL) or V(UNKNOWN),
        C(cluster_status) V(ONLINE) or V(OFFLINE). Masakari evacuates a host only for C(event=STOPPED) with
        C(host_status=NORMAL).
      - V(PROCESS) - C(process_name) and C(event) (V(STOPPED) or V(STARTED)), both required.
      - V(VM) - C(instance_uuid), C(vir_domain_event) and C(event), all required. Masakari acts on the pairs
        C(event)/C(vir_domain_event) LIFECYCLE/STOPPED_FAILED, QEMU_GUEST_AGENT_ERROR/STOPPED_FAILED and
        IO_ERROR/IO_ERROR_REPORT only, and ignores the others.
    type: dict
    required: true
  generated_time:
    description:
      - When the failure was seen, ISO 8601 (without a zone, UTC) or seconds since the epoch.
      - Not set, now.
      - Masakari compares it with earlier notifications to find duplicates.
    type: str
  fail_on_conflict:
    description:
      - Fail when Masakari refuses the notification as a duplicate or because the host is under maintenance
        (HTTP 409), instead of reporting it as unchanged.
    type: bool
    default: false
extends_documentation_fragment:
  - hastack.openstack.openstack
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Check mode sends nothing. It fails when no segment holds the host and reports a host under maintenance as
        a refusal, as Masakari would; it cannot tell whether Masakari would take the payload or see a duplicate.
  diff_mode:
    support: none
  platform:
    platforms: all
seealso:
  - module: hastack.openstack.notification_info
  - module: hastack.openstack.segment_host
"""

EXAMPLES = r"""
- name: Compute1 went down, as the host monitor reports it
  hastack.openstack.notification:
    cloud: admin
    type: COMPUTE_HOST
    hostname: compute1
    payload:
      event: STOPPED
      host_status: NORMAL
      cluster_status: OFFLINE
  register: host_down

- name: Wait until Masakari has recovered from it
  hastack.openstack.notification_info:
    cloud: admin
    id: "{{ host_down.notification.notification_uuid }}"
  register: progress
  until: progress.notifications[0].status in ['finished', 'ignored', 'error', 'failed']
  retries: 60
  delay: 10
  when: host_down is changed

- name: An instance crashed (kill -9 of its qemu process)
  hastack.openstack.notification:
    cloud: admin
    type: VM
    hostname: compute2
    payload:
      instance_uuid: "{{ server.id }}"
      vir_domain_event: STOPPED_FAILED
      event: LIFECYCLE

- name: nova-compute died and could not be restarted, as the process monitor reports it
  hastack.openstack.notification:
    cloud: admin
    type: PROCESS
    hostname: compute3
    payload:
      process_name: nova-compute
      event: STOPPED
    generated_time: "2026-11-23T12:00:00Z"
    fail_on_conflict: true
"""

RETURN = r"""
notification:
  description:
    - The notification Masakari took, status V(new).
    - In check mode, the notification as it would be sent; it has no RV(notification.id),
      RV(notification.notification_uuid) or timestamps.
  returned: when Masakari took the notification, or would in check mode
  type: dict
  contains:
    id:
      description: Database key of the notification. The API addresses it by RV(notification.notification_uuid).
      type: int
      sample: 4
    notification_uuid:
      description: UUID of the notification.
      type: str
      sample: 9e66b95d-45da-4695-bfb6-ace68b35d955
    type:
      description: What failed - C(COMPUTE_HOST), C(VM) or C(PROCESS).
      type: str
      sample: COMPUTE_HOST
    hostname:
      description: Name of the source host, O(hostname).
      type: str
      sample: compute1
    source_host_uuid:
      description: UUID of the Masakari host.
      type: str
      sample: 083a8474-22c0-407f-b89b-c569134c3bfd
    failover_segment_uuid:
      description:
        - UUID of the segment of the host. Masakari 20.0.0 and later record it with the notification; when
          openstacksdk does not give that field, the segment that holds the host.
      type: str
      sample: 5d2a1e4c-0b34-4a6e-9f0a-1c4f6a3a9b21
    generated_time:
      description: When the failure was seen (UTC).
      type: str
      sample: "2026-11-23T12:00:00.000000"
    status:
      description: V(new); the engine moves it on (see hastack.openstack.notification_info).
      type: str
      sample: new
    payload:
      description: What was reported.
      type: dict
      sample: {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
    created_at:
      description: When Masakari received the notification.
      type: str
      sample: "2026-11-23T12:00:01.000000"
    updated_at:
      description: Null for a new notification.
      type: str
      sample: null
    recovery_workflow_details:
      description: Always null here; hastack.openstack.notification_info with O(hastack.openstack.notification_info#module:id) gives it.
      type: list
      elements: dict
      sample: null
duplicate:
  description: Whether Masakari refused the notification as a duplicate of a recent one.
  returned: always
  type: bool
  sample: false
refused_reason:
  description: Masakari's explanation when it refused the notification (HTTP 409), a duplicate or a host under maintenance.
  returned: when Masakari refused the notification
  type: str
  sample: Notification received from host compute1 of type COMPUTE_HOST is duplicate.
"""

from ansible_collections.hastack.openstack.plugins.module_utils.openstack_module import (
    HastackOpenStackModule,
    api_error_details,
    api_message,
)
from ansible_collections.hastack.openstack.plugins.module_utils.masakari import (
    NOTIFICATION_FIELDS,
    NOTIFICATION_TYPES,
    api_time,
    find_host_anywhere,
    notification_to_dict,
    utc_now,
)

UNKNOWN_HOST = ("Masakari has no host named %r, so it refuses its notifications; the name must be that of a host of a "
                "segment (hastack.openstack.segment_host), which is the nova-compute service's host name")
ON_MAINTENANCE = ("Notification received from host %s of type '%s' would be ignored as the host is already under "
                  "maintenance (check mode: Masakari answers 409)")


class NotificationModule(HastackOpenStackModule):
    argument_spec = dict(
        type=dict(type="str", required=True, choices=NOTIFICATION_TYPES),
        hostname=dict(type="str", required=True),
        payload=dict(type="dict", required=True),
        generated_time=dict(type="str"),
        fail_on_conflict=dict(type="bool", default=False),
    )

    def run(self):
        params = self.params
        self.proxy = self.conn.instance_ha
        try:
            generated_time = api_time(params["generated_time"] if params["generated_time"] is not None else utc_now())
        except ValueError as error:
            self.fail_json(msg="generated_time: %s" % error)
        if self.check_mode:
            return self._check(generated_time)

        try:
            created = self.proxy.create_notification(type=params["type"], hostname=params["hostname"],
                                                     generated_time=generated_time, payload=params["payload"])
        except self.sdk_exceptions.BadRequestException as error:
            details = api_message(error).lower()
            if "host with name" in details and "could not be found" in details:
                self.fail_api(UNKNOWN_HOST % params["hostname"], error)
            self.fail_api("Masakari rejected the notification", error)
        except self.sdk_exceptions.ConflictException as error:
            return self._refused(api_message(error), error)

        segment_uuid = None
        if getattr(created, "failover_segment_uuid", None) is None:
            try:
                segment, dummy = find_host_anywhere(self.proxy, params["hostname"])
            except self.sdk_exceptions.SDKException:
                segment = None  # the notification is in; its segment is a detail
            segment_uuid = segment.uuid if segment is not None else None
        notification = notification_to_dict(created, hostname=params["hostname"], segment_uuid=segment_uuid)
        return dict(changed=True, notification=notification, duplicate=False)

    def _refused(self, reason, error=None):
        duplicate = "duplicate" in reason.lower()
        if self.params["fail_on_conflict"]:
            details = api_error_details(error) if error is not None else {}
            self.fail_json(msg="Masakari refused the notification from %r: %s" % (self.params["hostname"], reason),
                           duplicate=duplicate, refused_reason=reason, **details)
        return dict(changed=False, duplicate=duplicate, refused_reason=reason)

    def _check(self, generated_time):
        params = self.params
        segment, host = find_host_anywhere(self.proxy, params["hostname"])
        if host is None:
            self.fail_json(msg=UNKNOWN_HOST % params["hostname"])
        if host.on_maintenance:
            return self._refused(ON_MAINTENANCE % (params["hostname"], params["type"]))
        planned = dict((field, None) for field in NOTIFICATION_FIELDS)
        planned.update(type=params["type"], hostname=params["hostname"], source_host_uuid=host.uuid,
                       failover_segment_uuid=segment.uuid, generated_time=generated_time, status="new",
                       payload=dict(params["payload"]))
        return dict(changed=True, notification=planned, duplicate=False)


def main():
    NotificationModule()()


if __name__ == "__main__":
    main()
