#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: host_evacuate
short_description: Evacuate the instances of a failed compute host the way Masakari does
version_added: 0.1.0
author: hastack.openstack contributors (!UNKNOWN)
description:
  - Masakari's host-failure recovery of one failed host - which instances, in which order, how each is
    evacuated and confirmed, reserved hosts and the fallbacks of the recovery methods - carried out by a task.
    The rules are those of C(plugins/module_utils/recovery_policy.py).
  - B(Refuses to act) (and changes nothing) unless Nova considers the host's nova-compute service down, that
    is forced down or missing its heartbeats. An instance must never run twice, so the host must be fenced
    (powered off) and its service forced down first (M(hastack.openstack.compute_service) with
    O(hastack.openstack.compute_service#module:forced_down=true)).
  - The instances are the servers of every project whose compute host is O(host). HA-enabled ones
    (O(ha_enabled_key)) come first, the others follow if O(evacuate_all_instances=true); error ones are left out
    with O(ignore_instances_in_error_state=true).
  - Per instance, as Masakari - lock it (O(lock_instances)); reset it to error first when Nova would not
    evacuate it as it is (vm_state other than active, stopped, error, or a task under way); evacuate it; poll
    until it runs on another host in the state it was evacuated in (an error instance may come back active);
    stop it afterwards when it was not active before (a resized one still running is not); reset it to error
    again when it was in error; unlock it if the module locked it. Active instances end active, stopped ones
    stopped, error ones error, paused and suspended ones stopped.
  - The evacuation is sent with Nova API microversion 2.53, without an admin password, as Masakari does; from
    2.95 on Nova would leave every evacuated instance stopped.
  - Evacuations run in parallel, at most O(parallel) at a time.
  - O(recovery_method=auto) lets Nova's scheduler choose the destinations. V(reserved_host) evacuates to a
    reserved host, trying them in turn until one receives every instance; before use, a reserved host is added
    to the failed host's aggregates (O(add_reserved_host_to_aggregate)), its nova-compute service enabled and,
    with O(segment), its Masakari C(reserved) flag cleared, in Masakari's order. A reserved host whose compute
    service is down is passed over (Masakari does not look; Nova would put every instance sent there into
    error). V(auto_priority) tries V(auto) and then the reserved hosts for what is left; V(rh_priority) the
    other way round. Without a usable reserved host V(reserved_host) fails and the priority methods use
    V(auto) alone.
  - B(Safe to re-run.) An instance whose evacuation from the host is under way (a migration C(accepted) or
    C(pre-migrating)...) is not evacuated a second time; the module waits for it. One with a C(done)
    evacuation counts as evacuated. A run interrupted midway is finished by the next one; the lock reason the
    module sets (Nova API microversion 2.73 or later) records each instance's state before the evacuation, so
    the next run also stops or resets it as planned. Evacuated instances no longer belong to the host, so a
    second run after a complete one finds nothing to do and changes nothing.
  - When any selected instance could not be recovered, the task fails; its result still lists every instance.
options:
  host:
    description:
      - The failed host, as the C(Host) column of C(openstack compute service list --service nova-compute)
        shows it.
    type: str
    required: true
  recovery_method:
    description:
      - How the instances are recovered; the failed host's Masakari segment has one of these.
    type: str
    choices: [auto, reserved_host, auto_priority, rh_priority]
    default: auto
  segment:
    description:
      - Name or UUID of the failed host's Masakari segment. Its hosts that are reserved and not on
        maintenance are the reserved hosts, newest first (Masakari's order); the one used gets
        C(reserved=false) in Masakari, as Masakari does.
      - Excludes O(reserved_hosts).
    type: str
  reserved_hosts:
    description:
      - Reserved hosts to try in this order, when O(segment) is not given.
    type: list
    elements: str
  add_reserved_host_to_aggregate:
    description:
      - Add the reserved host used to every host aggregate of the failed host (Masakari's
        C([host_failure]) C(add_reserved_host_to_aggregate)).
    type: bool
    default: false
  ha_enabled_key:
    description:
      - Metadata key marking HA-enabled instances (Masakari's C(ha_enabled_instance_metadata_key)). Its value
        counts as true as oslo reads booleans (C(true), C(1), C(yes), C(on)...).
    type: str
    default: HA_Enabled
  evacuate_all_instances:
    description:
      - Evacuate the instances without the HA key too, after the HA-enabled ones.
    type: bool
    default: true
  ignore_instances_in_error_state:
    description:
      - Leave instances in error state on the failed host.
    type: bool
    default: false
  parallel:
    description:
      - Instances recovered at the same time (Masakari's C(host_failure_recovery_threads)).
    type: int
    default: 3
  wait_period_after_evacuation:
    description:
      - Seconds an evacuated instance has to run on another host in its expected state; also how long an
        evacuation started earlier is waited for.
    type: int
    default: 90
  wait_period_after_power_off:
    description:
      - Seconds an evacuated instance has to stop, when it is stopped afterwards.
    type: int
    default: 180
  verify_interval:
    description:
      - Seconds between two polls of an instance.
    type: int
    default: 1
  lock_instances:
    description:
      - Lock each instance during its evacuation, so that its users cannot act on it meanwhile; only the
        instances the module locked are unlocked at the end. An instance locked already is left locked.
    type: bool
    default: true
  lock_timeout:
    description:
      - Seconds to wait for another run of this module for the same O(host) on the same machine to end (an
        earlier run whose playbook was killed can still be evacuating); runs for one host never overlap, so no
        instance is evacuated twice. Not taken in check mode.
    type: int
    default: 900
extends_documentation_fragment:
  - hastack.openstack.openstack
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode the module reports the plan - the instances and what would be done to each, the recovery
        method and reserved host it would start with - and calls no API that changes anything. It cannot know
        whether Nova will find a destination, so every planned evacuation is reported as succeeding.
  diff_mode:
    support: none
  platform:
    platforms: all
seealso:
  - module: hastack.openstack.compute_service
  - module: hastack.openstack.instance_recover
  - module: hastack.openstack.segment_host
"""

EXAMPLES = r"""
- name: Fence compute1 first, then force its service down
  hastack.openstack.compute_service:
    cloud: admin
    host: compute1
    forced_down: true
    state: disabled
    disabled_reason: host failed and was fenced

- name: Evacuate it with the recovery method of its segment
  hastack.openstack.host_evacuate:
    cloud: admin
    host: compute1
    segment: computes
    recovery_method: rh_priority
  register: evacuation

- name: What would be evacuated, HA-enabled instances only
  hastack.openstack.host_evacuate:
    cloud: admin
    host: compute1
    evacuate_all_instances: false
  check_mode: true

- name: Evacuate to spare hosts named here, two at a time
  hastack.openstack.host_evacuate:
    cloud: admin
    host: compute1
    recovery_method: reserved_host
    reserved_hosts: [compute9, compute8]
    parallel: 2
"""

RETURN = r"""
recovery_method_used:
  description:
    - The flow that ended the recovery, V(auto) or V(reserved_host) (the last one tried when it failed); null
      when no evacuation was needed. In check mode, the flow the module would start with.
  returned: success, and when an instance could not be recovered
  type: str
  sample: reserved_host
reserved_host:
  description: The reserved host the instances were evacuated to; null when none was used.
  returned: success, and when an instance could not be recovered
  type: str
  sample: compute9
instances:
  description:
    - Every instance found on the failed host or still being evacuated from it, in the order they were
      processed (HA-enabled first), with what was done.
  returned: success, and when an instance could not be recovered
  type: list
  elements: dict
  contains:
    id:
      description: Server ID.
      type: str
      sample: 0c2e9d8a-52f1-4d0e-b4b9-7f1f0d1c8e11
    name:
      description: Server name.
      type: str
      sample: web1
    action:
      description:
        - V(evacuated) (in check mode, would be); V(already_evacuated) (an evacuation started before this run
          finished or was waited for); V(skipped) (not selected, see RV(instances.message)); V(failed).
      type: str
      sample: evacuated
    vm_state_before:
      description: vm_state before the evacuation; null when the module did not see it (evacuated by another run without a lock reason).
      type: str
      sample: active
    expected_vm_state:
      description: The vm_state the instance should end in (Masakari's rules); null when unknown.
      type: str
      sample: active
    vm_state:
      description: vm_state at the end.
      type: str
      sample: active
    target_host:
      description: Host the instance runs on after the evacuation, else the host it was sent to (null for the scheduler's choice).
      type: str
      sample: compute2
    started_at:
      description: When its recovery started, in seconds since the epoch; null when skipped or in check mode.
      type: float
      sample: 1795000000.25
    finished_at:
      description: When its recovery finished, in seconds since the epoch; null when skipped or in check mode.
      type: float
      sample: 1795000031.5
    seconds:
      description: Duration of its recovery; null when skipped or in check mode.
      type: float
      sample: 31.25
    message:
      description: What was done, or why it was skipped or failed.
      type: str
      sample: evacuated by the scheduler's choice to compute2
    waited:
      description:
        - Whether this run waited for an evacuation of the instance started before it (by an interrupted or a
          parallel run) to finish; with RV(instances[].action=already_evacuated) the instance was recovered during
          this run, not before it.
      type: bool
      sample: false
summary:
  description: Counts of the instances.
  returned: success, and when an instance could not be recovered
  type: dict
  contains:
    selected:
      description: Instances selected for recovery (evacuations started before this run included).
      type: int
      sample: 4
    evacuated:
      description: Instances evacuated by this run.
      type: int
      sample: 3
    already_evacuated:
      description: Instances whose evacuation had been started before this run.
      type: int
      sample: 1
    failed:
      description: Instances not recovered.
      type: int
      sample: 0
started_at:
  description: When the module started, in seconds since the epoch.
  returned: success, and when an instance could not be recovered
  type: float
  sample: 1795000000.0
finished_at:
  description: When the module finished, in seconds since the epoch.
  returned: success, and when an instance could not be recovered
  type: float
  sample: 1795000040.5
"""

import fcntl
import os
import re
import tempfile
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.hastack.openstack.plugins.module_utils.openstack_module import HastackOpenStackModule
from ansible_collections.hastack.openstack.plugins.module_utils.masakari import (
    AmbiguousName,
    find_host,
    find_segment,
    host_to_dict,
)
from ansible_collections.hastack.openstack.plugins.module_utils.nova import (
    CLOCK,
    EVACUATE_MICROVERSION,
    LOCKED_REASON_MICROVERSION,
    evacuate,
    evacuations_from,
    find_services,
    get_server,
    host_aggregates,
    host_servers,
    lock,
    lock_marker,
    parse_lock_marker,
    reset_state,
    service_is_down,
    service_to_dict,
    stop,
    unlock,
    wait_for_server,
    wait_for_vm_state,
)
from ansible_collections.hastack.openstack.plugins.module_utils.recovery_policy import (
    EVACUABLE_VM_STATES,
    RECOVERY_METHODS,
    PolicyError,
    evacuation_outcome,
    evacuation_progress,
    instance_plan,
    prior_evacuation,
    recovery_sequence,
    reserved_host_unusable,
    reserved_hosts,
    select_instances,
)

NOT_DOWN = ("Refusing to evacuate %s: Nova reports its nova-compute service up and not forced down (state %s, "
            "forced_down %s). Nova rebuilds instances elsewhere only from a host it considers down, and an instance "
            "must never run on two hosts: the host must be fenced (powered off) and its service forced down first "
            "(hastack.openstack.compute_service forced_down=true)")
STATE_KEYS = ("vm_state", "task_state", "power_state")


# Task states of an instance being rebuilt (an evacuation in flight): never reset, never evacuated again.
REBUILD_TASK_STATES = ("rebuilding", "rebuild_block_device_mapping", "rebuild_spawning")


class InstanceFailed(Exception):
    """The recovery of one instance failed; the message says why."""


class HostEvacuateModule(HastackOpenStackModule):
    argument_spec = dict(
        host=dict(type="str", required=True),
        recovery_method=dict(type="str", default="auto", choices=list(RECOVERY_METHODS)),
        segment=dict(type="str"),
        reserved_hosts=dict(type="list", elements="str"),
        add_reserved_host_to_aggregate=dict(type="bool", default=False),
        ha_enabled_key=dict(type="str", default="HA_Enabled", no_log=False),
        evacuate_all_instances=dict(type="bool", default=True),
        ignore_instances_in_error_state=dict(type="bool", default=False),
        parallel=dict(type="int", default=3),
        wait_period_after_evacuation=dict(type="int", default=90),
        wait_period_after_power_off=dict(type="int", default=180),
        verify_interval=dict(type="int", default=1),
        lock_instances=dict(type="bool", default=True),
        lock_timeout=dict(type="int", default=900),
    )
    module_kwargs = dict(mutually_exclusive=[("segment", "reserved_hosts")])

    # --- the run ------------------------------------------------------------------------------------------

    def run(self):
        self._check_params()
        self.compute = self.conn.compute
        self.host = self.params["host"]
        self.started_at = CLOCK.now()
        self.changed = False
        self.entries = OrderedDict()  # server id -> result entry, in processing order
        self.originals = {}  # server id -> state before the evacuation, as first seen
        self.segment = None
        if not self.supports_microversion(self.compute, EVACUATE_MICROVERSION):
            self.fail_json(msg="hastack.openstack.host_evacuate needs Nova API microversion %s (Pike) or later; this "
                           "cloud's compute API does not offer it" % EVACUATE_MICROVERSION)
        self.lock_reasons = self.supports_microversion(self.compute, LOCKED_REASON_MICROVERSION)
        self._check_source()
        if not self.check_mode:
            self._host_lock = self._take_host_lock()

        jobs = self._survey(first=True)
        self.selected = len(jobs)
        if not any(job["prior"] == "evacuate" for job in jobs):
            # Nothing left to evacuate: at most evacuations started earlier to wait for (or to finish).
            if jobs and not self.check_mode:
                self._run_jobs(jobs, None)
            elif jobs:
                self._plan_jobs(jobs, None)
            return self._finish(None, None)

        candidates = self._reserved_candidates()
        try:
            sequence = recovery_sequence(self.params["recovery_method"], candidates)
        except PolicyError as error:
            self.fail_json(msg="Cannot recover %s: %s" % (self.host, error))
        if self.check_mode:
            return self._check_mode_plan(jobs, sequence, candidates)

        method_used = reserved_used = None
        for flow in sequence:
            method_used = flow
            if flow == "auto":
                reserved_used = None
                failed = self._run_jobs(jobs, None)
            else:
                failed, reserved_used = self._reserved_host_flow(jobs, candidates)
            if not failed:
                break
            jobs = self._retry_jobs()
            if not jobs:
                break
        return self._finish(method_used, reserved_used)

    def _take_host_lock(self):
        """An exclusive lock per failed host on this machine, held until the module exits."""
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", self.host)
        path = os.path.join(tempfile.gettempdir(), "hastack-host-evacuate-%s.lock" % name)
        handle = open(path, "a")
        deadline = CLOCK.now() + self.params["lock_timeout"]
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return handle
            except (IOError, OSError):
                if CLOCK.now() >= deadline:
                    self.fail_json(msg="another recovery of %s is still running on this machine (lock %s held for "
                                   "more than %d s); nothing was done" % (self.host, path, self.params["lock_timeout"]))
                CLOCK.sleep(1)

    def _check_params(self):
        params = self.params
        if params["parallel"] < 1:
            self.fail_json(msg="parallel must be at least 1")
        if params["verify_interval"] < 1:
            self.fail_json(msg="verify_interval must be at least 1")
        for name in ("wait_period_after_evacuation", "wait_period_after_power_off"):
            if params[name] < 0:
                self.fail_json(msg="%s must not be negative" % name)

    def _check_source(self):
        services = find_services(self.compute, self.host)
        if not services:
            self.fail_json(msg="Nova has no nova-compute service on host %r; the host must equal the Host column of "
                           "'openstack compute service list --service nova-compute' exactly" % self.host)
        if len(services) > 1:
            self.fail_json(msg="Nova has %d nova-compute services on host %r; cannot tell which one failed"
                           % (len(services), self.host))
        service = services[0]
        if not service_is_down(service):
            self.fail_json(msg=NOT_DOWN % (self.host, service.state, bool(service.is_forced_down)),
                           service=service_to_dict(service))
        if not service.is_forced_down:
            self.warn("The nova-compute service of %s is down (missed heartbeats) but not forced down; make sure the "
                      "host is fenced: its instances are evacuated now" % self.host)

    # --- which instances ----------------------------------------------------------------------------------

    def _survey(self, first=False):
        """Jobs: the selected instances of the host, plus evacuations from it still to wait for or finish."""
        params = self.params
        servers = host_servers(self.compute, self.host)
        migrations = evacuations_from(self.compute, self.host)
        rows = []
        for server in servers:
            migration = migrations.get(server["id"])
            rows.append(self._job(server, migration))
        # Selection by the state an instance had before this recovery touched it (kept in the lock reason).
        views = [dict(id=job["server"]["id"], vm_state=(job["before"] or job["server"])["vm_state"],
                      metadata=job["server"]["metadata"]) for job in rows]
        selected = [view["id"] for view in select_instances(
            views, ha_key=params["ha_enabled_key"], evacuate_all_instances=params["evacuate_all_instances"],
            ignore_instances_in_error_state=params["ignore_instances_in_error_state"])]
        by_id = dict((job["server"]["id"], job) for job in rows)
        jobs = [by_id[server_id] for server_id in selected]
        if first:
            for job in rows:
                if job["server"]["id"] not in selected:
                    self._skip(job, views)

        listed = set(by_id)
        for server_id, migration in migrations.items():
            prior = prior_evacuation(migration["status"])
            if server_id in listed or prior == "evacuate":
                continue
            try:
                server = get_server(self.compute, server_id)
            except self.sdk_exceptions.NotFoundException:
                continue
            job = self._job(server, migration)
            # A finished evacuation is only picked up again to complete the plan of a run that was interrupted.
            if prior == "wait" or job["marked"]:
                jobs.append(job)
        for job in jobs:
            if job["before"] is not None:
                self.originals.setdefault(job["server"]["id"], job["before"])
        return jobs

    def _job(self, server, migration):
        marker = parse_lock_marker(server["locked_reason"], self.host) if server["locked"] else None
        prior = prior_evacuation(migration["status"] if migration else None)
        before = self.originals.get(server["id"]) or marker
        if before is None and prior == "evacuate":
            before = dict((key, server[key]) for key in STATE_KEYS)
        return dict(server=server, migration=migration, prior=prior, before=before, marked=marker is not None,
                    plan=instance_plan(before) if before else None)

    def _skip(self, job, views):
        params = self.params
        server = job["server"]
        view = next(v for v in views if v["id"] == server["id"])
        if params["ignore_instances_in_error_state"] and view["vm_state"] == "error":
            message = "in error state and ignore_instances_in_error_state is true"
        else:
            message = "not HA-enabled (metadata %s is not true) and evacuate_all_instances is false" % params["ha_enabled_key"]
        self.entries[server["id"]] = self._entry(server, "skipped", job, vm_state=server["vm_state"], message=message)

    def _retry_jobs(self):
        """After a failed flow: the instances to try again with the next one (those still to do)."""
        return [job for job in self._survey()
                if job["server"]["id"] not in self.entries or self.entries[job["server"]["id"]]["action"] == "failed"]

    # --- reserved hosts ----------------------------------------------------------------------------------

    def _reserved_candidates(self):
        params = self.params
        if params["recovery_method"] == "auto":
            return []  # no reserved host is ever used: Masakari is not asked
        if params["segment"] is None:
            names = params["reserved_hosts"] or []
        else:
            proxy = self.conn.instance_ha
            try:
                self.segment = find_segment(proxy, params["segment"], self.sdk_exceptions.NotFoundException)
            except AmbiguousName as error:
                self.fail_json(msg=str(error))
            if self.segment is None:
                self.fail_json(msg="Masakari has no segment named or with UUID %r" % params["segment"])
            hosts = [host_to_dict(h) for h in proxy.hosts(self.segment.uuid)]
            names = [h["name"] for h in reserved_hosts(hosts)]
        unique = []
        for name in names:
            if name != self.host and name not in unique:
                unique.append(name)
        return unique

    def _reserved_host_unusable(self, name):
        services = find_services(self.compute, name)
        if len(services) > 1:
            return "Nova has %d nova-compute services on it" % len(services)
        return reserved_host_unusable(service_to_dict(services[0]) if services else None)

    def _prepare_reserved_host(self, name):
        """Masakari's order: aggregates of the failed host, enable its compute service, clear its reserved flag."""
        compute = self.compute
        if self.params["add_reserved_host_to_aggregate"]:
            for aggregate in host_aggregates(compute, self.host):
                if name in (aggregate.hosts or []):
                    continue
                try:
                    compute.add_host_to_aggregate(aggregate, name)
                    self.changed = True
                except self.sdk_exceptions.ConflictException:
                    pass  # added meanwhile
        service = find_services(compute, name)[0]
        if service.status != "enabled":
            compute.update_service(service.id, status="enabled")
            self.changed = True
        if self.segment is not None:
            proxy = self.conn.instance_ha
            host = find_host(proxy, self.segment.uuid, name)
            if host is not None and host.reserved:
                try:
                    proxy.update_host(host.uuid, self.segment.uuid, reserved=False)
                    self.changed = True
                except self.sdk_exceptions.HttpException as error:
                    self.warn("Masakari kept %s reserved (%s); clear it once the recovery is over (hastack.openstack."
                              "segment_host reserved=false)" % (name, getattr(error, "details", None) or error))

    def _reserved_host_flow(self, jobs, candidates):
        """Evacuate to each usable reserved host in turn until nothing fails. Returns (failed, host used)."""
        refused = []
        used = None
        for name in candidates:
            reason = self._reserved_host_unusable(name)
            if reason:
                refused.append("%s: %s" % (name, reason))
                continue
            self._prepare_reserved_host(name)
            used = name
            if not self._run_jobs(jobs, name):
                return False, used
            jobs = self._retry_jobs()
            if not jobs:
                return True, used
        if used is None:
            message = "no usable reserved host (%s)" % ("; ".join(refused) or "none")
            for job in jobs:
                self.entries[job["server"]["id"]] = self._entry(job["server"], "failed", job, message=message,
                                                                vm_state=job["server"]["vm_state"])
        return True, used

    # --- check mode ----------------------------------------------------------------------------------------

    def _check_mode_plan(self, jobs, sequence, candidates):
        flow = sequence[0]
        target = None
        if flow == "reserved_host":
            target = next((name for name in candidates if not self._reserved_host_unusable(name)), None)
            if target is None and len(sequence) > 1:
                flow = sequence[1]
            elif target is None:
                self.fail_json(msg="Cannot recover %s: no usable reserved host among %s"
                               % (self.host, ", ".join(candidates)))
        self._plan_jobs(jobs, target)
        return self._finish(flow, target)

    def _plan_jobs(self, jobs, target):
        for job in jobs:
            server = job["server"]
            if job["prior"] == "evacuate":
                plan = job["plan"]
                steps = ["lock"] if self.params["lock_instances"] and not server["locked"] else []
                if plan["reset_to_error_before"] or server["vm_state"] not in EVACUABLE_VM_STATES or server["task_state"]:
                    steps.append("reset to error")
                steps.append("evacuate to %s" % (target or "the scheduler's choice"))
                if plan["stop_after"]:
                    steps.append("stop")
                if plan["reset_to_error_after"]:
                    steps.append("reset to error")
                if "lock" in steps:
                    steps.append("unlock")
                action, message = "evacuated", "check mode: would %s" % ", ".join(steps)
                self.changed = True
            else:
                action = "already_evacuated"
                message = "check mode: an evacuation from %s started earlier (migration %s)%s" % (
                    self.host, job["migration"]["status"],
                    "; would finish its plan and unlock it" if job["marked"] else "")
                self.changed = self.changed or job["marked"]
            self.entries[server["id"]] = self._entry(server, action, job, vm_state=server["vm_state"],
                                                     target_host=target, message=message)

    # --- one instance ------------------------------------------------------------------------------------

    def _run_jobs(self, jobs, target):
        """Recover these instances, at most ``parallel`` at a time. Returns whether any failed."""
        workers = max(1, min(self.params["parallel"], len(jobs)))
        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            futures = [pool.submit(self._recover, job, target) for job in jobs]
            entries = [future.result() for future in futures]
        finally:
            pool.shutdown(wait=True)
        for entry in entries:
            self.entries[entry["id"]] = entry
        return any(entry["action"] == "failed" for entry in entries)

    def _recover(self, job, target):
        started_at = CLOCK.now()
        server = job["server"]
        notes = []
        locked_by_us = job["marked"]
        action = None
        try:
            try:
                if job["prior"] == "wait":
                    server, job = self._wait_for_earlier(job, notes)
                    action = "already_evacuated" if job["prior"] != "evacuate" else None
                elif job["prior"] == "done":
                    action = "already_evacuated"
                    notes.append("evacuated from %s before this run" % self.host)
                if action is None:
                    server, job, action = self._recheck(job, notes)
                if action is None:
                    locked_by_us = self._lock(job, server, locked_by_us, notes)
                    server = self._evacuate(job, server, target, notes)
                    action = "evacuated"
                if job["plan"] is not None:
                    server = self._after_evacuation(job["plan"], server, notes)
                elif action == "already_evacuated":
                    notes.append("its state before is unknown: not stopped or reset afterwards")
            finally:
                if locked_by_us:
                    self._unlock(server, notes)
        except InstanceFailed as error:
            action = "failed"
            notes.append(str(error))
        except self.sdk_exceptions.HttpException as error:
            action = "failed"
            notes.append("Nova refused: %s" % (getattr(error, "details", None) or error))
        try:
            server = get_server(self.compute, server["id"])
        except self.sdk_exceptions.SDKException:
            pass
        finished_at = CLOCK.now()
        moved = server["host"] not in (None, self.host)
        return self._entry(server, action, job, vm_state=server["vm_state"], target_host=server["host"] if moved else target,
                           started_at=started_at, finished_at=finished_at, seconds=round(finished_at - started_at, 3),
                           message="; ".join(notes))

    def _entry(self, server, action, job, vm_state=None, target_host=None, started_at=None, finished_at=None,
               seconds=None, message=""):
        before = job["before"]
        return dict(id=server["id"], name=server["name"], action=action, waited=bool(job.get("waited")),
                    vm_state_before=before["vm_state"] if before else None,
                    expected_vm_state=job["plan"]["expected_vm_state"] if job["plan"] else None,
                    vm_state=vm_state, target_host=target_host, started_at=started_at, finished_at=finished_at,
                    seconds=seconds, message=message)

    def _wait_for_earlier(self, job, notes):
        """Wait for an evacuation started before this run. Returns (server, job); the job's prior turns
        'evacuate' when that evacuation failed and the instance is still on the failed host."""
        server_id = job["server"]["id"]
        timeout = self.params["wait_period_after_evacuation"]

        def finished(server):
            migration = evacuations_from(self.compute, self.host, server_id).get(server_id)
            outcome = evacuation_outcome(migration["status"]) if migration else "failed"
            return outcome if outcome and not server["task_state"] else None

        outcome, server = wait_for_server(self.compute, server_id, finished, timeout, self.params["verify_interval"])
        status = job["migration"]["status"]
        job = dict(job, waited=True)
        if outcome is None:
            raise InstanceFailed("an evacuation from %s started before this run (migration %s) did not finish within "
                                 "%d s; it is not started a second time" % (self.host, status, timeout))
        if outcome == "done":
            notes.append("waited for the evacuation started before this run (migration %s)" % status)
            return server, job
        if server["host"] != self.host:
            raise InstanceFailed("the evacuation started before this run failed on %s" % server["host"])
        notes.append("the evacuation started before this run failed; evacuated again")
        before = self.originals.get(server_id) or dict((key, server[key]) for key in STATE_KEYS)
        self.originals.setdefault(server_id, before)
        return server, dict(job, prior="evacuate", before=before, plan=instance_plan(before))

    def _recheck(self, job, notes):
        """Right before evacuating, the instance as it is now. An evacuation started since the survey (a parallel
        run, elsewhere) or a rebuild task in progress (Nova sets it before it records the migration) is waited for:
        resetting such an instance to error and evacuating it again would run it twice. Returns (server, job,
        action) with action None when this run evacuates it."""
        server_id = job["server"]["id"]
        server = get_server(self.compute, server_id)
        migration = evacuations_from(self.compute, self.host, server_id).get(server_id)
        prior = prior_evacuation(migration["status"] if migration else None)
        if prior == "evacuate" and server["task_state"] not in REBUILD_TASK_STATES:
            return server, dict(job, server=server), None
        if prior == "done":
            notes.append("evacuated by another run since this one started")
            return server, dict(job, server=server, prior="done", migration=migration), "already_evacuated"
        job = dict(job, server=server, prior="wait",
                   migration=migration or dict(status="not recorded yet, task %s" % server["task_state"]))
        server, job = self._wait_for_earlier(job, notes)
        return server, job, ("already_evacuated" if job["prior"] != "evacuate" else None)

    def _lock(self, job, server, locked_by_us, notes):
        if locked_by_us or not self.params["lock_instances"]:
            return locked_by_us
        if server["locked"]:
            notes.append("locked already; left locked")
            return False
        reason = lock_marker(self.host, job["before"]) if self.lock_reasons else None
        lock(self.compute, server["id"], reason)
        self.changed = True
        return True

    def _unlock(self, server, notes):
        try:
            unlock(self.compute, server["id"])
            self.changed = True
        except self.sdk_exceptions.HttpException as error:
            notes.append("could not unlock it: %s" % (getattr(error, "details", None) or error))

    def _evacuate(self, job, server, target, notes):
        params = self.params
        server_id = server["id"]
        reset = (job["plan"]["reset_to_error_before"] or server["vm_state"] not in EVACUABLE_VM_STATES
                 or bool(server["task_state"]))
        if reset and (server["vm_state"] != "error" or server["task_state"]):
            reset_state(self.compute, server_id, "error")
            self.changed = True
            notes.append("reset to error first (%s%s)" % (
                server["vm_state"], ", task %s" % server["task_state"] if server["task_state"] else ""))
        evacuated_from = "error" if reset else server["vm_state"]
        source_node = server["hypervisor_hostname"] or self.host

        def progress(now):
            state = evacuation_progress(evacuated_from, now, source_node)
            if state != "pending":
                return state
            if not now["task_state"]:
                # Nova is done with it but it has not moved: the scheduler found no host, or the rebuild failed.
                migration = evacuations_from(self.compute, self.host, server_id).get(server_id)
                if migration and evacuation_outcome(migration["status"]) == "failed":
                    return "failed"
            return None

        evacuate(self.compute, server_id, target)
        self.changed = True
        state, now = wait_for_server(self.compute, server_id, progress, params["wait_period_after_evacuation"],
                                     params["verify_interval"])
        if state is None:
            raise InstanceFailed("evacuation not confirmed within %d s (vm_state %s, task_state %s, host %s)" % (
                params["wait_period_after_evacuation"], now["vm_state"], now["task_state"], now["host"]))
        if state == "failed":
            migration = evacuations_from(self.compute, self.host, server_id).get(server_id)
            raise InstanceFailed("evacuation failed: vm_state %s on %s (migration %s)" % (
                now["vm_state"], now["host"], migration["status"] if migration else "unknown"))
        notes.append("evacuated to %s%s" % (now["host"], "" if target else " (the scheduler's choice)"))
        return now

    def _after_evacuation(self, plan, server, notes):
        params = self.params
        server_id = server["id"]
        finished = plan["reset_to_error_after"] and server["vm_state"] == "error" and not server["task_state"]
        if plan["stop_after"] and not finished and server["vm_state"] != "stopped":
            refusal = stop(self.compute, server_id)
            self.changed = True
            stopped, server = wait_for_vm_state(self.compute, server_id, "stopped", params["wait_period_after_power_off"],
                                                params["verify_interval"])
            if not stopped:
                raise InstanceFailed("evacuated to %s but not stopped within %d s (vm_state %s, task_state %s)%s" % (
                    server["host"], params["wait_period_after_power_off"], server["vm_state"], server["task_state"],
                    "; Nova refused the stop: %s" % refusal if refusal else ""))
            notes.append("stopped")
        if plan["reset_to_error_after"] and server["vm_state"] != "error":
            reset_state(self.compute, server_id, "error")
            self.changed = True
            server = get_server(self.compute, server_id)
            notes.append("reset to error again")
        return server

    # --- result ------------------------------------------------------------------------------------------

    def _finish(self, method_used, reserved_used):
        entries = list(self.entries.values())
        count = dict((action, len([e for e in entries if e["action"] == action]))
                     for action in ("evacuated", "already_evacuated", "failed"))
        finished_at = CLOCK.now()
        result = dict(changed=self.changed, recovery_method_used=method_used, reserved_host=reserved_used,
                      instances=entries, summary=dict(selected=getattr(self, "selected", 0), **count),
                      started_at=self.started_at, finished_at=finished_at)
        if count["failed"]:
            failures = ["%s (%s): %s" % (e["name"], e["id"], e["message"]) for e in entries if e["action"] == "failed"]
            self.fail_json(msg="%d of %d selected instances of %s were not recovered: %s"
                           % (count["failed"], result["summary"]["selected"], self.host, " | ".join(failures)), **result)
        return result


def main():
    HostEvacuateModule()()


if __name__ == "__main__":
    main()
