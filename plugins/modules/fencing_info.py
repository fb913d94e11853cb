#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: fencing_info
short_description: Tell from Pacemaker's fencing history whether a node is confirmed down
version_added: 0.1.0
author: hastack.openstack contributors (!UNKNOWN)
description:
  - Reads the fencing history of one node with C(stonith_admin --history=NODE --verbose --output-as=xml) on the
    target, a full Pacemaker cluster node (a controller), and the node's entry in C(crm_mon).
  - RV(confirmed_down) is true only when the history holds a B(successful) C(off) or C(reboot) of the node that
    completed at or after O(since) (any time, when O(since) is not given). Pending and failed actions, a node
    that was never fenced and a history that cannot be read (then RV(error) says why) all give false.
  - A C(reboot) only confirms that the node went down at that time; it may be running again (see RV(node)).
  - Changes nothing.
requirements:
  - Pacemaker CLI tools on the target (C(stonith_admin), C(crm_mon), Debian package C(pacemaker-cli-utils)), run
    as root or as a member of the C(haclient) group.
options:
  node:
    description:
      - Pacemaker node name; for a compute, its remote node name (the nova-compute host name).
    type: str
    required: true
  since:
    description:
      - Only a fencing completed at or after this time confirms the node down, for example the time the failure
        was detected.
      - Epoch seconds (int or float, or a string of one) or an ISO 8601 time such as C(2026-11-23T19:00:00Z) or
        C(2026-11-23T20:00:00.5+01:00); a time without zone is UTC.
      - Compared with the completion time the fencer recorded (the cluster node's clock) without any margin, so
        clock skew can only make the module ask for one fencing too many, never accept an old one.
    type: raw
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module changes nothing and runs the same in check mode.
  diff_mode:
    support: N/A
    details: The module changes nothing.
  platform:
    platforms: posix
notes:
  - Run it on a node of the partition that has quorum (see M(hastack.openstack.cluster_info)); the fencers of
    the cluster nodes share their history.
  - Pacemaker 2.1 records completion times to the second, Pacemaker 3.0 to the microsecond.
seealso:
  - module: hastack.openstack.fence
  - module: hastack.openstack.cluster_info
"""

EXAMPLES = r"""
- name: Was cmp1 fenced after the failure was seen?
  hastack.openstack.fencing_info:
    node: cmp1
    since: "2026-11-23T19:00:00Z"
  delegate_to: ctl1
  become: true
  register: cmp1_fencing

- name: Evacuate only a node that is confirmed down
  ansible.builtin.assert:
    that: cmp1_fencing.confirmed_down
    fail_msg: "cmp1 is not confirmed down: {{ cmp1_fencing.error | default('no successful fencing since the failure') }}"
"""

RETURN = r"""
confirmed_down:
  description:
    - Whether a successful C(off) or C(reboot) of the node completed at or after O(since) (at any time without
      O(since)). False when the history cannot be read.
  returned: always
  type: bool
  sample: true
since:
  description: O(since) as epoch seconds; null when not given.
  returned: always
  type: float
  sample: 1795460400.0
event:
  description: The newest event that confirms the node down; null when RV(confirmed_down) is false.
  returned: always
  type: dict
  contains:
    target:
      description: Node the action was against.
      type: str
      sample: cmp1
    action:
      description: Fencing action, C(off), C(reboot) or C(on) (unfencing).
      type: str
      sample: "off"
    status:
      description: C(success), C(failed) or C(pending).
      type: str
      sample: success
    completed:
      description: When it completed, epoch seconds; null while pending or when Pacemaker's time cannot be read.
      type: float
      sample: 1795460442.512345
    completed_text:
      description: Completion time as Pacemaker wrote it (the fencing node's local time).
      type: str
      sample: "2026-11-23 19:00:42.512345Z"
    delegate:
      description: Node that executed the action, when known.
      type: str
      sample: ctl2
    origin:
      description: Node that asked for the action.
      type: str
      sample: ctl1
    client:
      description: Client that asked for it (C(pacemaker-controld.PID) for the cluster itself, C(stonith_admin.PID)).
      type: str
      sample: pacemaker-controld.1234
    exit_reason:
      description: Why a failed action failed, when Pacemaker says; else null.
      type: str
      sample: null
    extended_status:
      description: Fencer state number of a pending action; else null.
      type: str
      sample: null
last_success:
  description: The newest successful C(off) or C(reboot) of the node, whenever it completed; null if none.
  returned: always
  type: dict
  contains:
    target:
      description: Node the action was against.
      type: str
      sample: cmp1
    action:
      description: Fencing action, C(off), C(reboot) or C(on) (unfencing).
      type: str
      sample: "off"
    status:
      description: C(success), C(failed) or C(pending).
      type: str
      sample: success
    completed:
      description: When it completed, epoch seconds; null while pending or when Pacemaker's time cannot be read.
      type: float
      sample: 1795460442.512345
    completed_text:
      description: Completion time as Pacemaker wrote it (the fencing node's local time).
      type: str
      sample: "2026-11-23 19:00:42.512345Z"
    delegate:
      description: Node that executed the action, when known.
      type: str
      sample: ctl2
    origin:
      description: Node that asked for the action.
      type: str
      sample: ctl1
    client:
      description: Client that asked for it (C(pacemaker-controld.PID) for the cluster itself, C(stonith_admin.PID)).
      type: str
      sample: pacemaker-controld.1234
    exit_reason:
      description: Why a failed action failed, when Pacemaker says; else null.
      type: str
      sample: null
    extended_status:
      description: Fencer state number of a pending action; else null.
      type: str
      sample: null
last_failure:
  description: The newest failed C(off) or C(reboot) of the node; null if none.
  returned: always
  type: dict
  contains:
    target:
      description: Node the action was against.
      type: str
      sample: cmp1
    action:
      description: Fencing action, C(off), C(reboot) or C(on) (unfencing).
      type: str
      sample: "off"
    status:
      description: C(success), C(failed) or C(pending).
      type: str
      sample: success
    completed:
      description: When it completed, epoch seconds; null while pending or when Pacemaker's time cannot be read.
      type: float
      sample: 1795460442.512345
    completed_text:
      description: Completion time as Pacemaker wrote it (the fencing node's local time).
      type: str
      sample: "2026-11-23 19:00:42.512345Z"
    delegate:
      description: Node that executed the action, when known.
      type: str
      sample: ctl2
    origin:
      description: Node that asked for the action.
      type: str
      sample: ctl1
    client:
      description: Client that asked for it (C(pacemaker-controld.PID) for the cluster itself, C(stonith_admin.PID)).
      type: str
      sample: pacemaker-controld.1234
    exit_reason:
      description: Why a failed action failed, when Pacemaker says; else null.
      type: str
      sample: null
    extended_status:
      description: Fencer state number of a pending action; else null.
      type: str
      sample: null
pending:
  description: Whether an C(off) or C(reboot) of the node is in progress.
  returned: always
  type: bool
  sample: false
history:
  description: Every fencing event of the node, any action, newest first (pending ones first).
  returned: always
  type: list
  elements: dict
  contains:
    target:
      description: Node the action was against.
      type: str
      sample: cmp1
    action:
      description: Fencing action, C(off), C(reboot) or C(on) (unfencing).
      type: str
      sample: "off"
    status:
      description: C(success), C(failed) or C(pending).
      type: str
      sample: success
    completed:
      description: When it completed, epoch seconds; null while pending or when Pacemaker's time cannot be read.
      type: float
      sample: 1795460442.512345
    completed_text:
      description: Completion time as Pacemaker wrote it (the fencing node's local time).
      type: str
      sample: "2026-11-23 19:00:42.512345Z"
    delegate:
      description: Node that executed the action, when known.
      type: str
      sample: ctl2
    origin:
      description: Node that asked for the action.
      type: str
      sample: ctl1
    client:
      description: Client that asked for it (C(pacemaker-controld.PID) for the cluster itself, C(stonith_admin.PID)).
      type: str
      sample: pacemaker-controld.1234
    exit_reason:
      description: Why a failed action failed, when Pacemaker says; else null.
      type: str
      sample: null
    extended_status:
      description: Fencer state number of a pending action; else null.
      type: str
      sample: null
node:
  description:
    - The node's entry in C(crm_mon), as in C(cluster.nodes) of M(hastack.openstack.cluster_info); null when the
      cluster does not know the node or C(crm_mon) could not be read (a warning then says why).
  returned: always
  type: dict
  contains:
    name:
      description: Node name.
      type: str
    id:
      description: Node ID.
      type: str
    type:
      description: C(member), C(remote), C(ping) or C(unknown).
      type: str
    online:
      description: Whether the node is online.
      type: bool
    standby:
      description: Whether the node is in standby.
      type: bool
    standby_onfail:
      description: Whether the node is in standby because a resource failed there.
      type: bool
    maintenance:
      description: Whether the node is in maintenance.
      type: bool
    pending:
      description: Whether the node is pending.
      type: bool
    unclean:
      description: Whether the node is unclean.
      type: bool
    shutdown:
      description: Whether the node is shutting down.
      type: bool
    expected_up:
      description: Whether the cluster expects the node up.
      type: bool
    is_dc:
      description: Whether the node is the DC.
      type: bool
    resources_running:
      description: Number of resources running on the node.
      type: int
    health:
      description: Node health, when reported.
      type: str
error:
  description: Why the fencing history could not be read (RV(confirmed_down) is then false).
  returned: when the history could not be read
  type: str
  sample: "stonith_admin --history failed: Not connected"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hastack.openstack.plugins.module_utils.pacemaker import (
    CRM_MON,
    STONITH_ADMIN,
    PacemakerCLI,
    PacemakerError,
    confirmation,
    parse_since,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            node=dict(type="str", required=True),
            since=dict(type="raw"),
        ),
        supports_check_mode=True,
    )
    node_name = module.params["node"].strip()
    if not node_name:
        module.fail_json(msg="node must not be empty")
    try:
        since = parse_since(module.params["since"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))

    cli = PacemakerCLI(module)
    cli.require(STONITH_ADMIN, CRM_MON)

    node, node_error = cli.node(node_name)
    if node_error:
        module.warn("The node's cluster state could not be read: %s" % node_error)

    result = dict(changed=False, since=since, node=node)
    try:
        events = cli.fence_history(node_name)
    except PacemakerError as exc:
        result.update(confirmed_down=False, event=None, last_success=None, last_failure=None, pending=False,
                      history=[], error="The fencing history of %s could not be read: %s" % (node_name, exc.msg))
        module.exit_json(**result)

    found = confirmation(events, node_name, since)
    result.update(found)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
