#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: instance_migrate
short_description: Live-migrate one server to a given compute host (or the scheduler's choice) and wait for it
version_added: 0.1.0
author: hastack.openstack contributors (!UNKNOWN)
description:
  - Live-migrates one server with Nova's C(os-migrateLive) server action, then polls Nova until the migration is
    over - the server C(ACTIVE), without a task, on O(host) (on another host than before when O(host) is not
    given) and its migration record C(completed) - or until O(timeout) runs out.
  - Meant for moving instances back to a repaired compute after a recovery (the companion playbook
    C(hastack.openstack.host_restore)), and for emptying a host before maintenance.
  - B(Idempotent with O(host).) A server already on O(host) is left alone (C(changed=false)), whatever its state.
    Without O(host) every run migrates the server again.
  - B(Refuses) (fails, changes nothing) a server that is not C(ACTIVE) - stopped, paused, in error, or with a task
    under way - and is not on O(host) already; live migration moves a running server. Nova itself also
    live-migrates paused servers; this module does not.
  - A live migration of the server already under way (task_state C(migrating), an unfinished migration record) to
    O(host), or to any host when O(host) is not given, is not requested a second time; the module waits for it,
    so a run interrupted by a killed playbook can be repeated. One to another host is refused.
  - The request is sent with Nova API microversion 2.53 (the one of the other Nova modules of this collection),
    without C(force). A given O(host) is therefore a request the scheduler checks with its filters (enabled, up,
    room, compatible), never a forced placement. From microversion 2.34 on Nova checks the destination after it
    answered; a refused destination shows as a migration record in status C(error), and the module reports it.
  - The task fails, saying which, when Nova reports the migration failed - its migration record C(error),
    C(failed) or C(cancelled), or the server in C(ERROR) - or when O(timeout) runs out. A migration still running
    at the timeout is not aborted; Nova goes on with it.
  - The server's compute service and the target's must be up, the computes must reach each other's hypervisor
    (libvirt) for live migration, and servers on local disks need block migration (O(block_migration=auto)
    lets Nova decide).
options:
  server:
    description:
      - ID or name of the server (servers of every project are searched; a name must be unique).
    type: str
    required: true
  host:
    description:
      - The compute host to move the server to, as the C(Host) column of
        C(openstack compute service list --service nova-compute) shows it. The scheduler checks it.
      - Not given - the scheduler chooses a host other than the server's.
    type: str
  block_migration:
    description:
      - V(auto) - Nova uses block migration (copies the local disks) when the server's disks are not on storage
        shared by both computes, plain live migration otherwise.
      - V(true) or V(false) force one or the other; Nova refuses block migration between computes that share
        the instances' storage, and plain live migration between computes that do not.
    type: raw
    default: auto
  timeout:
    description:
      - Seconds the migration has to finish after it was requested (or, for one already under way, after the
        module found it).
    type: int
    default: 600
  verify_interval:
    description:
      - Seconds between two polls of the server and its migration record.
    type: int
    default: 2
extends_documentation_fragment:
  - hastack.openstack.openstack
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode the module reports whether it would migrate the server (C(changed)), from and to which
        host, and refuses what it would refuse. It cannot know whether the scheduler will accept the target.
  diff_mode:
    support: none
  platform:
    platforms: all
notes:
  - Needs a cloud whose compute API offers microversion 2.53 (Pike) or later, and admin rights (live migration,
    hosts and migration records are admin-only by default).
seealso:
  - module: hastack.openstack.compute_service
  - module: hastack.openstack.host_evacuate
"""

EXAMPLES = r"""
- name: Move an instance back to its repaired compute
  hastack.openstack.instance_migrate:
    cloud: admin
    server: 0c2e9d8a-52f1-4d0e-b4b9-7f1f0d1c8e11
    host: compute1
  register: moved

- name: Empty a host before maintenance, the scheduler choosing the targets
  hastack.openstack.instance_migrate:
    cloud: admin
    server: "{{ item }}"
    timeout: 1200
  loop: "{{ servers_on_compute2 }}"

- name: Would web1 move to compute1?
  hastack.openstack.instance_migrate:
    cloud: admin
    server: web1
    host: compute1
  check_mode: true
"""

RETURN = r"""
action:
  description:
    - V(migrated) (live-migrated by this run; in check mode, would be), V(unchanged) (already on O(host)) or
      V(waited) (a live migration requested before this run finished during it).
    - When the task fails - V(refused) (nothing was done), V(failed) (Nova reports the migration failed) or
      V(timed_out) (not finished within O(timeout)).
  returned: success, and when the server was refused or the migration failed or timed out
  type: str
  sample: migrated
reason:
  description: What was done, or why nothing was.
  returned: success, and when the server was refused or the migration failed or timed out
  type: str
  sample: live-migrated from compute2 to compute1
server:
  description: The server at the end (as found when unchanged or in check mode).
  returned: success, and when the server was refused or the migration failed or timed out
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
      description: Compute host of the server at the end (after the migration).
      type: str
      sample: compute1
source_host:
  description: Compute host of the server when the module started (before the migration).
  returned: success, and when the server was refused or the migration failed or timed out
  type: str
  sample: compute2
target_host:
  description: The requested host (O(host)); null when the scheduler chooses.
  returned: success, and when the server was refused or the migration failed or timed out
  type: str
  sample: compute1
block_migration:
  description: The C(block_migration) the request carries (C(auto), C(true) or C(false)).
  returned: success, and when the server was refused or the migration failed or timed out
  type: raw
  sample: auto
migration:
  description:
    - Nova's record of the live migration this run requested or waited for; null when there was none (unchanged,
      check mode) or Nova had not recorded it yet.
  returned: success, and when the server was refused or the migration failed or timed out
  type: dict
  contains:
    id:
      description: Nova's ID of the migration record (C(openstack server migration list --server SERVER) shows it).
      type: int
      sample: 42
    server_id:
      description: ID of the server.
      type: str
      sample: 0c2e9d8a-52f1-4d0e-b4b9-7f1f0d1c8e11
    status:
      description:
        - Status of the migration - C(accepted), C(queued), C(preparing), C(running), C(completed); when it failed
          C(error), C(failed) or C(cancelled).
      type: str
      sample: completed
    source_compute:
      description: Host the server left.
      type: str
      sample: compute2
    dest_compute:
      description: Host the server was moved to (null until the scheduler chose it).
      type: str
      sample: compute1
    created_at:
      description: When Nova recorded the migration.
      type: str
      sample: "2026-11-23T22:46:01.000000"
started_at:
  description: When the module started, in seconds since the epoch.
  returned: success, and when the server was refused or the migration failed or timed out
  type: float
  sample: 1795000000.25
finished_at:
  description: When the module finished, in seconds since the epoch.
  returned: success, and when the server was refused or the migration failed or timed out
  type: float
  sample: 1795000014.5
seconds:
  description: Duration of the module's run in seconds (the migration's, when it migrated).
  returned: success, and when the server was refused or the migration failed or timed out
  type: float
  sample: 14.25
"""

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.hastack.openstack.plugins.module_utils.openstack_module import HastackOpenStackModule
from ansible_collections.hastack.openstack.plugins.module_utils.nova import (
    CLOCK,
    LIVE_MIGRATE_MICROVERSION,
    LIVE_MIGRATION_DONE,
    LIVE_MIGRATION_FAILED,
    find_services,
    live_migrate,
    live_migrations,
    server_to_dict,
    wait_for_server,
)

MIGRATING = "migrating"
ERROR_HINT = ("Nova's pre-checks or scheduler refused it, or the destination could not prepare it (a disabled, down "
              "or full target, hypervisors that cannot reach each other, storage that does not fit block_migration); "
              "'openstack server event list' and the conductor's and computes' logs say why")


def server_summary(server):
    return dict((key, server[key]) for key in ("id", "name", "status", "vm_state", "host"))


class InstanceMigrateModule(HastackOpenStackModule):
    argument_spec = dict(
        server=dict(type="str", required=True),
        host=dict(type="str"),
        block_migration=dict(type="raw", default="auto"),
        timeout=dict(type="int", default=600),
        verify_interval=dict(type="int", default=2),
    )

    def run(self):
        params = self.params
        self.block_migration = self._block_migration(params["block_migration"])
        if params["timeout"] < 0:
            self.fail_json(msg="timeout must not be negative")
        if params["verify_interval"] < 1:
            self.fail_json(msg="verify_interval must be at least 1")
        self.target = params["host"] or None
        self.proxy = self.conn.compute
        self.started_at = CLOCK.now()
        self.migration = None
        if not self.supports_microversion(self.proxy, LIVE_MIGRATE_MICROVERSION):
            self.fail_json(msg="hastack.openstack.instance_migrate needs Nova API microversion %s (Pike) or later; this "
                           "cloud's compute API does not offer it" % LIVE_MIGRATE_MICROVERSION)
        server = self._find_server()
        self.source = server["host"]

        if self.target is not None:
            if self.source == self.target:
                return self._result(False, "unchanged", "already on %s" % self.target, server)
            self._check_target()

        if server["task_state"] == MIGRATING:
            earlier = self._migration_under_way(server)
            if earlier is not None:
                return self._wait_for_earlier(server, earlier)
        if server["vm_state"] != "active" or server["task_state"]:
            self._refuse(server, "it is %s (vm_state %s, task_state %s) on %s; live migration needs an ACTIVE server "
                         "without a task under way" % (server["status"], server["vm_state"], server["task_state"],
                                                       self.source))
        if self.check_mode:
            return self._result(True, "migrated", "check mode: would live-migrate from %s to %s (block_migration %s)"
                                % (self.source, self._target_text(), self.block_migration), server)
        return self._migrate(server)

    # --- checks ----------------------------------------------------------------------------------------------

    def _block_migration(self, value):
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        try:
            return boolean(value, strict=True)
        except TypeError:
            self.fail_json(msg="block_migration must be auto, true or false, not %r" % (value,))

    def _find_server(self):
        try:
            found = self.proxy.find_server(self.params["server"], ignore_missing=False, all_projects=True)
        except self.sdk_exceptions.NotFoundException:
            self.fail_json(msg="Nova has no server with ID or name %r" % self.params["server"])
        except self.sdk_exceptions.DuplicateResource as error:
            self.fail_json(msg="More than one server answers to %r; give its ID (%s)" % (self.params["server"], error))
        return server_to_dict(found)

    def _check_target(self):
        services = find_services(self.proxy, self.target)
        if not services:
            self.fail_json(msg="Nova has no nova-compute service on host %r; host must equal the Host column of "
                           "'openstack compute service list --service nova-compute' exactly. Nothing was done"
                           % self.target)
        if len(services) > 1:
            self.fail_json(msg="Nova has %d nova-compute services on host %r; cannot tell which one is meant. Nothing "
                           "was done" % (len(services), self.target))

    def _target_text(self):
        return self.target or "the scheduler's choice"

    def _refuse(self, server, reason):
        self.fail_json(msg="Refusing to live-migrate server %s (%s) to %s: %s. Nothing was done"
                       % (server["name"], server["id"], self._target_text(), reason),
                       **self._result(False, "refused", reason, server))

    # --- migration -------------------------------------------------------------------------------------------

    def _migration_under_way(self, server):
        """The unfinished live migration of the server, if one is under way; fails when it goes elsewhere."""
        unfinished = [m for m in live_migrations(self.proxy, server["id"])
                      if m["status"] not in LIVE_MIGRATION_FAILED + LIVE_MIGRATION_DONE]
        if not unfinished:
            return None
        earlier = unfinished[-1]
        if self.target is not None and earlier["dest_compute"] not in (None, self.target):
            self.migration = earlier
            self._refuse(server, "a live migration of it from %s to %s is under way (migration %s, status %s)"
                         % (earlier["source_compute"], earlier["dest_compute"], earlier["id"], earlier["status"]))
        return earlier

    def _wait_for_earlier(self, server, earlier):
        self.migration = earlier
        self.source = earlier["source_compute"] or self.source
        if self.check_mode:
            return self._result(False, "waited", "check mode: a live migration from %s requested before this run is "
                                "under way (migration %s, status %s); would wait for it"
                                % (self.source, earlier["id"], earlier["status"]), server)
        known = set(m["id"] for m in live_migrations(self.proxy, server["id"])) - set([earlier["id"]])
        server = self._wait(server, known, changed=False)
        return self._result(False, "waited", "a live migration requested before this run moved it from %s to %s "
                            "(migration %s)" % (self.source, server["host"], self.migration["id"]), server)

    def _migrate(self, server):
        known = set(m["id"] for m in live_migrations(self.proxy, server["id"]))
        try:
            live_migrate(self.proxy, server["id"], self.target, self.block_migration)
        except self.sdk_exceptions.HttpException as error:
            self.fail_api("Nova refused to live-migrate server %s (%s) from %s to %s"
                          % (server["name"], server["id"], self.source, self._target_text()), error)
        server = self._wait(server, known, changed=True)
        return self._result(True, "migrated", "live-migrated from %s to %s%s (block_migration %s)"
                            % (self.source, server["host"], "" if self.target else " (the scheduler's choice)",
                               self.block_migration), server)

    def _moved(self, server):
        return server["host"] == self.target if self.target is not None else server["host"] not in (None, self.source)

    def _wait(self, server, known, changed):
        """Poll until the migration is over; fails the task when it failed or the timeout ran out."""
        server_id = server["id"]

        def over(now):
            records = [m for m in live_migrations(self.proxy, server_id) if m["id"] not in known]
            if records:
                self.migration = records[-1]
            status = self.migration["status"] if self.migration else None
            if status in LIVE_MIGRATION_FAILED or (now["vm_state"] == "error" and not now["task_state"]):
                return "failed"
            if (not now["task_state"] and now["vm_state"] == "active" and self._moved(now)
                    and (status is None or status in LIVE_MIGRATION_DONE)):
                return "done"
            return None

        outcome, server = wait_for_server(self.proxy, server_id, over, self.params["timeout"],
                                          self.params["verify_interval"])
        if outcome == "done":
            return server
        migration = self.migration
        if outcome == "failed":
            status = migration["status"] if migration else None
            reason = "Nova reports the live migration from %s to %s failed: migration %s, the server %s (vm_state %s) on %s" % (
                self.source, (migration or {}).get("dest_compute") or self._target_text(),
                "%s status %s" % (migration["id"], status) if migration else "not recorded",
                server["status"], server["vm_state"], server["host"])
            if status == "error":
                reason += ". Status error: %s" % ERROR_HINT
        else:
            reason = ("the live migration from %s to %s did not finish within %d s (server %s, task_state %s, on %s; "
                      "migration %s); Nova goes on with it, it was not aborted" % (
                          self.source, self._target_text(), self.params["timeout"], server["status"],
                          server["task_state"], server["host"],
                          "%s status %s" % (migration["id"], migration["status"]) if migration else "not recorded yet"))
        self.fail_json(msg="Live migration of server %s (%s) failed: %s" % (server["name"], server_id, reason),
                       **self._result(changed, "timed_out" if outcome is None else "failed", reason, server))

    # --- result ----------------------------------------------------------------------------------------------

    def _timing(self):
        finished_at = CLOCK.now()
        return dict(started_at=self.started_at, finished_at=finished_at, seconds=round(finished_at - self.started_at, 3))

    def _details(self, changed, action, server):
        result = dict(changed=changed, action=action, server=server_summary(server), source_host=self.source,
                      target_host=self.target, block_migration=self.block_migration, migration=self.migration)
        result.update(self._timing())
        return result

    def _result(self, changed, action, reason, server):
        result = self._details(changed, action, server)
        result["reason"] = reason
        return result


def main():
    InstanceMigrateModule()()


if __name__ == "__main__":
    main()
