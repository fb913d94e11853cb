# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: recovery_timeline
type: notification
short_description: Timeline (JSON and SVG chart) of every hastack.openstack.recover run
description:
  - Active only in runs that carry the extra variable C(recover_event) (the recovery playbook
    C(hastack.openstack.recover)); other playbooks are left alone.
  - Records when each task started and ended and, from the results of the recovery modules (fence,
    compute_service, segment_host, host_evacuate, instance_recover), the phases of the recovery - fenced, compute
    service forced down, each instance's evacuation or restart with its result.
  - At the end of the run writes C(<timeline_dir>/<time>-<type>-<hostname>.json) and an SVG chart next to it, and
    prints a short summary (outcome, seconds from the fault to each milestone, failures).
  - Only listed fields of those results are kept; task arguments and results of tasks marked C(no_log) never are.
version_added: 0.1.0
requirements:
  - enable it, for example C(ANSIBLE_CALLBACKS_ENABLED=hastack.openstack.recovery_timeline)
options:
  timeline_dir:
    description: Directory the JSON timelines and SVG charts are written to (created 0750 if missing).
    type: path
    default: ~/.ansible/hastack/timelines
    env:
      - name: HASTACK_TIMELINE_DIR
    ini:
      - section: callback_recovery_timeline
        key: timeline_dir
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase
from ansible_collections.hastack.openstack.plugins.plugin_utils import timeline


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "hastack.openstack.recovery_timeline"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self._event = None
        self._started = None
        self._task_start = {}
        self._tasks = []

    def v2_playbook_on_start(self, playbook):
        self._started = time.time()

    def v2_playbook_on_play_start(self, play):
        extra_vars = play.get_variable_manager().extra_vars
        if self._event is None and "recover_event" in extra_vars:
            self._event = extra_vars["recover_event"]

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start[task._uuid] = time.time()

    def v2_playbook_on_handler_task_start(self, task):
        self._task_start[task._uuid] = time.time()

    def _record(self, result, status):
        if self._event is None:
            return
        task = result._task
        data = result._result
        hidden = task.no_log or data.get("_ansible_no_log")
        if status == "ok" and data.get("changed"):
            status = "changed"
        self._tasks.append({
            "name": task.get_name(),
            "action": task.resolved_action or task.action,
            "host": result._host.get_name(),
            "status": status,
            "ignored": bool(task.ignore_errors) and status == "failed",
            "start": self._task_start.get(task._uuid),
            "end": time.time(),
            "result": {} if hidden else data,
            "msg": None if hidden else data.get("msg"),
        })

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        if self._event is None:
            return
        finished = time.time()
        record = timeline.build(self._event, self._tasks, self._started or finished, finished)
        directory = os.path.expanduser(self.get_option("timeline_dir"))
        os.makedirs(directory, mode=0o750, exist_ok=True)
        event = record["event"]
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._started or finished))
        base = os.path.join(directory, "%s-%s-%s" % (stamp, event.get("type") or "event", event.get("hostname") or "host"))
        with open(base + ".json", "w") as handle:
            json.dump(record, handle, indent=2, sort_keys=True, default=str)
        with open(base + ".svg", "w") as handle:
            handle.write(timeline.render_svg(record))
        for line in timeline.summary_lines(record):
            self._display.display(line)
        self._display.display("  timeline: %s.json, chart: %s.svg" % (base, base))
