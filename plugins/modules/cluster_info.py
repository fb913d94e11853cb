#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cluster_info
short_description: Read the state of the Pacemaker cluster from one of its nodes
version_added: 0.1.0
author: hastack.openstack contributors (!UNKNOWN)
description:
  - Runs C(crm_mon --one-shot --inactive --output-as=xml) on the target, a full Pacemaker cluster node (a
    controller), and returns quorum, DC, nodes (cluster members and pacemaker_remote computes), primitive
    resources (fence devices and the C(ocf:pacemaker:remote) connection resources included) and the fencing
    actions in progress or failed.
  - Changes nothing.
  - Only a node of the partition that has quorum tells the truth about the others; check RV(cluster.quorum)
    before trusting anything else (a node without quorum may neither fence nor be believed).
requirements:
  - Pacemaker CLI tools on the target (C(crm_mon), Debian package C(pacemaker-cli-utils)), run as root or as a
    member of the C(haclient) group.
options: {}
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
  - Reads Pacemaker 2.1 (Debian 12) and 3.0 (Debian 13) XML; attributes that other versions add are ignored.
  - Fails when C(crm_mon) cannot connect to the cluster (Pacemaker not running on the target), with
    Pacemaker's own message.
seealso:
  - module: hastack.openstack.fencing_info
  - module: hastack.openstack.fence
"""

EXAMPLES = r"""
- name: Ask each controller until one answers with quorum
  hastack.openstack.cluster_info:
  delegate_to: "{{ item }}"
  loop: "{{ groups['controllers'] }}"
  register: cluster
  ignore_errors: true
  ignore_unreachable: true
  loop_control:
    break_when:
      - cluster.cluster.quorum | default(false)

- name: State of the cluster from the first controller
  hastack.openstack.cluster_info:
  delegate_to: ctl1
  become: true
  register: pcmk

- name: Computes (remote nodes) that are not online
  ansible.builtin.debug:
    msg: "{{ pcmk.cluster.nodes | selectattr('type', '==', 'remote') | rejectattr('online') | map(attribute='name') | list }}"
"""

RETURN = r"""
cluster:
  description: The state of the cluster as this node sees it.
  returned: success
  type: dict
  contains:
    quorum:
      description: Whether this node's partition has quorum (false also when there is no DC).
      type: bool
      sample: true
    dc:
      description: Name of the designated controller, null when there is none.
      type: str
      sample: ctl1
    stack:
      description: Cluster layer, normally C(corosync); null if not reported.
      type: str
      sample: corosync
    stonith_enabled:
      description: The C(stonith-enabled) (or, from Pacemaker 3.0.2, C(fencing-enabled)) cluster option; null if not reported.
      type: bool
      sample: true
    maintenance_mode:
      description: The C(maintenance-mode) cluster option; null if not reported.
      type: bool
      sample: false
    nodes:
      description: Every node known to the cluster, in crm_mon's order.
      type: list
      elements: dict
      contains:
        name:
          description: Node name (for a remote node, the name of its connection resource, the compute's host name).
          type: str
          sample: cmp1
        id:
          description: Node ID (corosync node ID for members, the node name for remote nodes).
          type: str
          sample: "1"
        type:
          description: C(member) (corosync + Pacemaker), C(remote) (pacemaker_remote or guest), C(ping) or C(unknown).
          type: str
          sample: remote
        online:
          description: Whether the node is online (a remote node counts as online as soon as its connection resource is active).
          type: bool
        standby:
          description: Whether the node is in standby.
          type: bool
        standby_onfail:
          description: Whether the node is in standby because a resource failed there (on-fail=standby).
          type: bool
        maintenance:
          description: Whether the node is in maintenance.
          type: bool
        pending:
          description: Whether the node is pending (joining the cluster).
          type: bool
        unclean:
          description: Whether the node is unclean (must be fenced before the cluster trusts its state again).
          type: bool
        shutdown:
          description: Whether the node is shutting down.
          type: bool
        expected_up:
          description: Whether the cluster expects the node to be up.
          type: bool
        is_dc:
          description: Whether the node is the DC.
          type: bool
        resources_running:
          description: Number of resources running on the node.
          type: int
        health:
          description: Node health (C(green), C(yellow), C(red)) when crm_mon reports it, else null.
          type: str
    resources:
      description:
        - Every primitive resource, inside clones, groups and bundles too (one entry per clone instance, so an id may repeat).
        - Includes the fence devices (agent C(stonith:...)) and the connection resources of the remote nodes
          (agent C(ocf:pacemaker:remote), id = remote node name).
      type: list
      elements: dict
      contains:
        id:
          description: Resource id (for clone instances, the id of the cloned primitive).
          type: str
          sample: fence-cmp1
        agent:
          description: Resource agent as class:provider:type or class:type.
          type: str
          sample: stonith:fence_ipmilan
        role:
          description: Current role (C(Started), C(Stopped), C(Promoted), C(Unpromoted), ...).
          type: str
          sample: Started
        active:
          description: Whether the resource is active.
          type: bool
        failed:
          description: Whether the resource has failed.
          type: bool
        managed:
          description: Whether the cluster manages the resource.
          type: bool
        parent:
          description: Id of the outermost clone, group or bundle it belongs to; null for a top-level primitive.
          type: str
          sample: haproxy-clone
        nodes:
          description: Names of the nodes it is active on.
          type: list
          elements: str
          sample: [ctl2]
    fencing_in_progress:
      description: Target names of fencing actions in progress (pending in the fencing history).
      type: list
      elements: str
      sample: [cmp2]
    fence_failures:
      description:
        - Every failed fencing action the cluster's fencing history holds, newest first (a later success of the
          same target is in the history but not here).
        - Each entry is a fencing event as in the C(history) that M(hastack.openstack.fencing_info) returns.
      type: list
      elements: dict
      contains:
        target:
          description: Node the action was against.
          type: str
        action:
          description: Fencing action (C(off), C(reboot), C(on)).
          type: str
        status:
          description: C(failed) here.
          type: str
        completed:
          description: When it completed, epoch seconds; null if unreadable.
          type: float
        completed_text:
          description: Completion time as Pacemaker wrote it.
          type: str
        delegate:
          description: Node that executed it, when known.
          type: str
        origin:
          description: Node that asked for it.
          type: str
        client:
          description: Client that asked for it (e.g. C(pacemaker-controld.1234), C(stonith_admin.5678)).
          type: str
        exit_reason:
          description: Why it failed, when Pacemaker says.
          type: str
        extended_status:
          description: Fencer state of a pending action; null otherwise.
          type: str
    fence_history_error:
      description: Null, or why the fencing history could not be read (then RV(cluster.fencing_in_progress) and
        RV(cluster.fence_failures) are empty but unknown).
      type: str
      sample: null
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hastack.openstack.plugins.module_utils.pacemaker import (
    CRM_MON,
    PacemakerCLI,
    PacemakerError,
)


def main():
    module = AnsibleModule(argument_spec=dict(), supports_check_mode=True)
    cli = PacemakerCLI(module)
    cli.require(CRM_MON)
    try:
        cluster = cli.cluster()
    except PacemakerError as exc:
        module.fail_json(msg="Cannot read the cluster state: %s" % exc.msg, **exc.details)
    if cluster["fence_history_error"]:
        module.warn(cluster["fence_history_error"])
    module.exit_json(changed=False, cluster=cluster)


if __name__ == "__main__":
    main()
