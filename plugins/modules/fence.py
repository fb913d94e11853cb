#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: fence
short_description: Fence a Pacemaker node and confirm it from the fencing history
version_added: 0.1.0
author: hastack.openstack contributors (!UNKNOWN)
description:
  - Asks the cluster's fencer to power off (C(stonith_admin --fence)) or reboot (C(stonith_admin --reboot)) a
    node, through the fence devices configured for it (for a compute, C(fence-<node>) with its BMC), then reads
    the node's fencing history (C(stonith_admin --history)) until it holds the successful action.
  - The target must be a full Pacemaker cluster node (a controller) of the partition that has quorum.
  - With O(since), a node already fenced successfully (C(off) or C(reboot)) at or after that time is not
    fenced again (C(changed) false, RV(fenced) true), by the rule of M(hastack.openstack.fencing_info).
  - Without O(since) every run fences.
  - Fails when the fencing fails, times out or cannot be confirmed in the history; the message then says that
    the node is B(not) confirmed down and that nothing must be evacuated from it.
requirements:
  - Pacemaker CLI tools on the target (C(stonith_admin), Debian package C(pacemaker-cli-utils)), run as root
    or as a member of the C(haclient) group.
options:
  node:
    description:
      - Pacemaker node name to fence; for a compute, its remote node name (the nova-compute host name).
    type: str
    required: true
  action:
    description:
      - C(off) powers the node off and keeps it off. C(reboot) powers it off and on again (a fence device with
        C(pcmk_reboot_action=off), as the computes' devices of this collection have, turns it into C(off)).
    type: str
    choices: ["off", reboot]
    default: "off"
  since:
    description:
      - Do nothing when a successful C(off) or C(reboot) of the node completed at or after this time, for
        example the time the failure was detected.
      - Epoch seconds (int or float, or a string of one) or an ISO 8601 time such as C(2026-11-23T19:00:00Z); a
        time without zone is UTC. Compared without margin with the fencer's completion time.
    type: raw
  timeout:
    description:
      - Seconds; passed to C(stonith_admin --timeout) and the overall wait.
      - The module gives up after O(timeout) plus 20% (at least 10 seconds, the margin the fencer itself
        allows), for fencing and confirmation together. stonith_admin is stopped then (with coreutils'
        C(timeout) when the host has it); the fencer may still complete the action later, which a later run
        with O(since) finds.
    type: int
    default: 120
  tolerance:
    description:
      - Seconds, passed to C(stonith_admin --tolerance); the fencer then reports success without acting when
        the same action on the node succeeded less than this long ago.
      - Only with this option does the module accept, as confirmation, a success that completed up to this
        long before it asked.
    type: int
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads the history and reports whether it would fence (C(changed) true when no success since O(since)
        is recorded, or without O(since)), without fencing.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Fencing requests for a node already being fenced are merged by the fencer, so this module and Pacemaker's
    own fencing of a failed remote node do not fence it twice; any successful C(off) or C(reboot) recorded since
    the module asked (or since O(since)) confirms the node, whoever asked for it.
seealso:
  - module: hastack.openstack.fencing_info
  - module: hastack.openstack.cluster_info
"""

EXAMPLES = r"""
- name: Fence the failed compute, unless it was fenced after the failure
  hastack.openstack.fence:
    node: cmp1
    action: "off"
    since: "{{ failure_time }}"
    timeout: 120
  delegate_to: ctl1
  become: true
  register: fenced

- name: Only a confirmed node is evacuated
  ansible.builtin.debug:
    msg: "cmp1 powered off at {{ fenced.completed }} by {{ fenced.delegate }}"
"""

RETURN = r"""
fenced:
  description: Whether the node is confirmed down (always true on success, false in check mode when it would fence).
  returned: always
  type: bool
  sample: true
action:
  description: The fencing action of RV(event), or the requested one when there is no event.
  returned: always
  type: str
  sample: "off"
completed:
  description: When the confirming fencing completed, epoch seconds; null in check mode when it would fence.
  returned: always
  type: float
  sample: 1795460442.512345
delegate:
  description: Node that executed the confirming fencing; null when unknown.
  returned: always
  type: str
  sample: ctl2
seconds:
  description: Seconds spent fencing and confirming; 0 when nothing was done.
  returned: always
  type: float
  sample: 8.431
since:
  description: O(since) as epoch seconds; null when not given.
  returned: always
  type: float
  sample: 1795460400.0
event:
  description:
    - On success, the history entry that confirms the node down.
    - On failure, the node's newest history entry (any status), null if none or unreadable.
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
      sample: stonith_admin.4321
    exit_reason:
      description: Why a failed action failed, when Pacemaker says; else null.
      type: str
      sample: null
    extended_status:
      description: Fencer state number of a pending action; else null.
      type: str
      sample: null
rc:
  description: Exit code of stonith_admin (124 or 137 when it was stopped at the time limit).
  returned: when stonith_admin ran
  type: int
  sample: 0
stdout:
  description: Output of stonith_admin (XML).
  returned: when stonith_admin ran
  type: str
stderr:
  description: Error output of stonith_admin.
  returned: when stonith_admin ran
  type: str
cmd:
  description: The command that ran.
  returned: when stonith_admin ran
  type: str
  sample: /usr/sbin/stonith_admin --fence=cmp1 --timeout=120 --output-as=xml
"""

import math

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hastack.openstack.plugins.module_utils import pacemaker
from ansible_collections.hastack.openstack.plugins.module_utils.pacemaker import (
    STONITH_ADMIN,
    PacemakerCLI,
    PacemakerError,
    confirmation,
    describe_failure,
    parse_result,
    parse_since,
)

# Exit codes of coreutils' timeout(1): the time limit was reached (124), stonith_admin had to be killed (137).
TIME_LIMIT_CODES = (124, 137)
# Seconds between two reads of the history while the fencer's success is not recorded there yet.
POLL_INTERVAL = 1
# Reads of the history after stonith_admin returned, even when the time limit has passed.
MIN_POLLS = 3


class Fencer(object):
    def __init__(self, module):
        self.module = module
        params = module.params
        self.node = params["node"].strip()
        self.action = params["action"]
        self.timeout = params["timeout"]
        self.tolerance = params["tolerance"]
        if not self.node:
            module.fail_json(msg="node must not be empty")
        if self.timeout <= 0:
            module.fail_json(msg="timeout must be a positive number of seconds")
        if self.tolerance is not None and self.tolerance < 0:
            module.fail_json(msg="tolerance must not be negative")
        try:
            self.since = parse_since(params["since"])
        except ValueError as exc:
            module.fail_json(msg=str(exc))
        # What the fencer itself allows beyond the timeout (it multiplies a device's timeout by 1.2).
        self.limit = int(math.ceil(self.timeout + max(10, self.timeout * 0.2)))
        # Successes completed at or after this time confirm the node down (see run()).
        self._reference = self.since
        self.cli = PacemakerCLI(module)
        self.cli.require(STONITH_ADMIN)
        self.result = dict(changed=False, fenced=False, action=self.action, completed=None, delegate=None,
                           seconds=0, since=self.since, event=None)

    def history(self):
        """(confirmation dict, None) or (None, error text)."""
        try:
            events = self.cli.fence_history(self.node)
        except PacemakerError as exc:
            return None, exc.msg
        return confirmation(events, self.node, self._reference), None

    def _confirmed(self, found):
        event = found["event"]
        self.result.update(fenced=True, event=event, action=event["action"], completed=event["completed"],
                           delegate=event["delegate"])

    def not_confirmed(self, reason, found):
        newest = found["history"][0] if found and found["history"] else None
        self.result.update(fenced=False, event=newest)
        msg = ("Fencing %s (%s) is NOT confirmed: %s. %s is NOT confirmed down: nothing must be evacuated from it "
               "(its instances may still run)." % (self.node, self.action, reason, self.node))
        if newest:
            msg += " Newest fencing history entry: %s %s of %s%s%s." % (
                newest["status"], newest["action"], newest["target"],
                " by %s" % newest["delegate"] if newest["delegate"] else "",
                " completed %s" % newest["completed_text"] if newest["completed_text"] else "")
        self.module.fail_json(msg=msg, **self.result)

    def run(self):
        if self.since is not None:
            if self.since > pacemaker.now() + 60:
                self.module.warn("since (%s) is in the future of this node's clock: check the clocks" % self.since)
            found, error = self.history()
            if found is not None and found["confirmed_down"]:
                self._confirmed(found)
                self.module.exit_json(**self.result)
            if error:
                self.module.warn("The fencing history could not be read before fencing (%s); fencing anyway" % error)

        if self.module.check_mode:
            self.result.update(changed=True)
            self.module.exit_json(**self.result)

        started = pacemaker.now()
        deadline = started + self.limit
        # A success recorded from now on confirms our request; with --tolerance the fencer may answer with an
        # earlier one. Pacemaker 2.1 truncates completion times to the second.
        reference = math.floor(started) - (self.tolerance or 0)
        self._reference = reference if self.since is None else min(reference, self.since)

        rc, stdout, stderr, argv = self.cli.fence(self.node, self.action, self.timeout, self.tolerance, self.limit)
        self.result.update(changed=True, rc=rc, stdout=stdout, stderr=stderr, cmd=" ".join(argv))

        found = error = None
        polls = 0
        while True:
            found, error = self.history()
            polls += 1
            if found is not None and found["confirmed_down"]:
                break
            if rc != 0 or (polls >= MIN_POLLS and pacemaker.now() >= deadline):
                break
            pacemaker.sleep(POLL_INTERVAL)
        self.result["seconds"] = round(pacemaker.now() - started, 3)

        if found is not None and found["confirmed_down"]:
            self._confirmed(found)
            if rc != 0:
                failure = self._admin_failure(rc, stdout, stderr)
                self.module.warn("stonith_admin failed (rc %s: %s), but the fencing history records a successful %s "
                                 "of %s since the request" % (rc, failure, found["event"]["action"], self.node))
            self.module.exit_json(**self.result)

        if rc != 0:
            reason = "stonith_admin failed (rc %s): %s" % (rc, self._admin_failure(rc, stdout, stderr))
        elif error:
            reason = "stonith_admin reported success, but the fencing history cannot be read to confirm it: %s" % error
        else:
            reason = ("stonith_admin reported success, but within %s seconds the fencing history showed no "
                      "successful off or reboot of %s since the request" % (self.limit, self.node))
        if error and rc != 0:
            reason += "; the fencing history cannot be read either: %s" % error
        self.not_confirmed(reason, found)

    def _admin_failure(self, rc, stdout, stderr):
        try:
            root = parse_result(stdout, "stonith_admin")
        except PacemakerError:
            root = None
        if root is None and rc in TIME_LIMIT_CODES:
            return "no answer within %s seconds, stonith_admin was stopped" % self.limit
        return describe_failure(root, rc, stderr)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            node=dict(type="str", required=True),
            action=dict(type="str", choices=["off", "reboot"], default="off"),
            since=dict(type="raw"),
            timeout=dict(type="int", default=120),
            tolerance=dict(type="int"),
        ),
        supports_check_mode=True,
    )
    Fencer(module).run()


if __name__ == "__main__":
    main()
