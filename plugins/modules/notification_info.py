#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: notification_info
short_description: List Masakari notifications
version_added: 0.1.0
author: hastack.openstack contributors (!UNKNOWN)
description:
  - Lists the notifications Masakari (instance-ha) received from its monitors, newest first, or shows one
    notification with the progress of its recovery. Changes nothing.
  - Masakari answers a notification's source host by UUID only; the module gives the host's name as well, found
    through the hosts of every segment. A notification of a host removed since has no name.
options:
  id:
    description:
      - UUID of one notification (its C(notification_uuid)). The result has that notification, with
        RV(notifications[].recovery_workflow_details), or is empty when Masakari has no such notification.
      - The other options still filter it.
    type: str
    aliases: [notification_uuid]
  hostname:
    description:
      - Only notifications from the Masakari host of this name.
      - The API cannot filter on a name; the module looks the name up among the hosts of every segment and
        filters on that host's UUID. A name no segment holds matches nothing.
    type: str
  type:
    description:
      - Only notifications of this type.
    type: str
    choices: [COMPUTE_HOST, VM, PROCESS]
  status:
    description:
      - Only notifications in this status. Masakari's engine takes a notification from V(new) to V(running),
        then to V(finished), V(ignored) or V(error); one still in error after its retries, or older than a day,
        becomes V(failed).
    type: str
    choices: [new, running, finished, ignored, error, failed]
  generated_since:
    description:
      - Only notifications generated (by the monitor, RV(notifications[].generated_time)) at or after this time.
      - ISO 8601 (without a zone, UTC) or seconds since the epoch.
    type: str
  limit:
    description:
      - At most this many notifications, the newest.
      - Not set, every matching notification (the API gives at most its C(osapi_max_limit), 1000 by default,
        per request; the module follows the pages).
    type: int
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
notes:
  - RV(notifications[].recovery_workflow_details) needs Masakari API microversion 1.1 (masakari 7.0.0); an older
    API gets a warning and null details.
seealso:
  - module: hastack.openstack.notification
  - module: hastack.openstack.segment_host_info
"""

EXAMPLES = r"""
- name: Notifications of the last hour that are not done yet
  hastack.openstack.notification_info:
    cloud: admin
    generated_since: "{{ (now().timestamp() - 3600) | int }}"
    status: running
  register: running

- name: The ten latest host failures of compute1
  hastack.openstack.notification_info:
    cloud: admin
    hostname: compute1
    type: COMPUTE_HOST
    limit: 10
  register: compute1_failures

- name: How the recovery of one notification went
  hastack.openstack.notification_info:
    cloud: admin
    id: 9e66b95d-45da-4695-bfb6-ace68b35d955
  register: one

- name: Wait until Masakari is done with it
  hastack.openstack.notification_info:
    cloud: admin
    id: "{{ one.notifications[0].notification_uuid }}"
  register: progress
  until: progress.notifications[0].status in ['finished', 'ignored', 'error', 'failed']
  retries: 60
  delay: 10
"""

RETURN = r"""
notifications:
  description: The matching notifications, newest first (by creation time, as the API sorts them).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Database key of the notification. The API addresses it by RV(notifications[].notification_uuid).
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
      description: Name of the source host; null when no segment holds that host any more.
      type: str
      sample: compute1
    source_host_uuid:
      description: UUID of the Masakari host the notification came from.
      type: str
      sample: 083a8474-22c0-407f-b89b-c569134c3bfd
    failover_segment_uuid:
      description:
        - UUID of the segment of the source host. Masakari 20.0.0 and later record it with the notification; when
          openstacksdk does not give that field, the segment that holds the host now; null if none does.
      type: str
      sample: 5d2a1e4c-0b34-4a6e-9f0a-1c4f6a3a9b21
    generated_time:
      description: When the monitor saw the failure (UTC, as Masakari answers it).
      type: str
      sample: "2026-11-23T12:00:00.000000"
    status:
      description: V(new), V(running), V(finished), V(ignored), V(error) or V(failed).
      type: str
      sample: finished
    payload:
      description: What the monitor reported; its keys depend on RV(notifications[].type).
      type: dict
      sample: {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}
    created_at:
      description: When Masakari received the notification.
      type: str
      sample: "2026-11-23T12:00:01.000000"
    updated_at:
      description: Time of the last status change; null if none yet.
      type: str
      sample: "2026-11-23T12:04:30.000000"
    recovery_workflow_details:
      description:
        - The tasks of the recovery and their progress, each with C(name), C(progress) (0.0 to 1.0), C(state) and
          C(progress_details) (a list of C(timestamp), C(progress), C(message)).
        - Given only for a notification asked for by O(id) (the list does not answer it), and null below
          microversion 1.1.
      type: list
      elements: dict
      sample:
        - name: DisableComputeServiceTask
          progress: 1.0
          state: SUCCESS
          progress_details:
            - timestamp: "2026-11-23 12:00:02.842031"
              progress: "1.0"
              message: Disabled compute service on host compute1
"""

import itertools

from ansible_collections.hastack.openstack.plugins.module_utils.openstack_module import HastackOpenStackModule
from ansible_collections.hastack.openstack.plugins.module_utils.masakari import (
    NOTIFICATION_STATUSES,
    NOTIFICATION_TYPES,
    RECOVERY_WORKFLOW_MICROVERSION,
    api_time,
    get_notification,
    host_index,
    notification_to_dict,
    parse_time,
)


class NotificationInfoModule(HastackOpenStackModule):
    argument_spec = dict(
        id=dict(type="str", aliases=["notification_uuid"]),
        hostname=dict(type="str"),
        type=dict(type="str", choices=NOTIFICATION_TYPES),
        status=dict(type="str", choices=NOTIFICATION_STATUSES),
        generated_since=dict(type="str"),
        limit=dict(type="int"),
    )

    def run(self):
        params = self.params
        self.proxy = self.conn.instance_ha
        self.details_supported = False
        if params["limit"] is not None and params["limit"] < 0:
            self.fail_json(msg="limit must be 0 or more, not %d" % params["limit"])
        since = None
        if params["generated_since"] is not None:
            try:
                since = parse_time(params["generated_since"])
            except ValueError as error:
                self.fail_json(msg="generated_since: %s" % error)

        index = host_index(self.proxy, self.sdk_exceptions.NotFoundException)
        source_host_uuid = None
        if params["hostname"] is not None:
            matches = [uuid for uuid, (host, dummy) in index.items() if host.name == params["hostname"]]
            if not matches:
                return dict(changed=False, notifications=[])
            source_host_uuid = matches[0]  # host names are unique in Masakari

        if params["id"] is not None:
            found = self._one(params["id"])
            details = True
        else:
            found = self._list(source_host_uuid, since)
            details = False

        notifications = []
        for notification in found:
            if not self._matches(notification, source_host_uuid, since):
                continue
            host, segment = index.get(notification.source_host_uuid, (None, None))
            notifications.append(notification_to_dict(
                notification, hostname=host.name if host is not None else None,
                segment_uuid=segment.uuid if segment is not None else None,
                details=details and self.details_supported))
        return dict(changed=False, notifications=notifications)

    def _one(self, notification_uuid):
        self.details_supported = self.supports_microversion(self.proxy, RECOVERY_WORKFLOW_MICROVERSION)
        if not self.details_supported:
            self.warn("The Masakari API does not support microversion %s: no recovery_workflow_details"
                      % RECOVERY_WORKFLOW_MICROVERSION)
        try:
            return [get_notification(self.proxy, notification_uuid,
                                     RECOVERY_WORKFLOW_MICROVERSION if self.details_supported else None)]
        except self.sdk_exceptions.NotFoundException:
            return []

    def _list(self, source_host_uuid, since):
        params = self.params
        query = {}
        if source_host_uuid is not None:
            query["source_host_uuid"] = source_host_uuid
        for field in ("type", "status"):
            if params[field] is not None:
                query[field] = params[field]
        if since is not None:
            query["generated_since"] = api_time(since)
        if params["limit"] is None:
            return self.proxy.notifications(**query)
        if params["limit"] == 0:
            return []
        # The SDK's limit is a page size and it would go on to the next pages: stop at the limit.
        query["limit"] = params["limit"]
        return itertools.islice(self.proxy.notifications(**query), params["limit"])

    def _matches(self, notification, source_host_uuid, since):
        """The filters, again on what the API answered (a notification asked for by id is not filtered by it)."""
        params = self.params
        if source_host_uuid is not None and notification.source_host_uuid != source_host_uuid:
            return False
        for field in ("type", "status"):
            if params[field] is not None and getattr(notification, field) != params[field]:
                return False
        if since is not None:
            try:
                if parse_time(notification.generated_time) < since:
                    return False
            except ValueError:
                return False
        return True


def main():
    NotificationInfoModule()()


if __name__ == "__main__":
    main()
