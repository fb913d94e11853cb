# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)
"""The recovery timeline: built from what a recovery run's tasks returned, summarised, drawn as SVG.

No Ansible objects here: the callback plugin recovery_timeline feeds in plain task records
({name, action, host, status, start, end, result}) and writes what these functions return. Only fields listed
here are copied out of task results, so nothing else a module returned (and no task argument) reaches the
timeline.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
from xml.sax.saxutils import escape

from ansible_collections.hastack.openstack.plugins.module_utils.masakari import parse_time

SCHEMA_VERSION = 1

# Short action names of the modules whose results tell a phase of the recovery.
FENCE = "fence"
COMPUTE_SERVICE = "compute_service"
SEGMENT_HOST = "segment_host"
HOST_EVACUATE = "host_evacuate"
INSTANCE_RECOVER = "instance_recover"

_INSTANCE_FIELDS = ("id", "name", "action", "waited", "vm_state_before", "expected_vm_state", "vm_state", "target_host",
                    "started_at", "finished_at", "seconds", "message")


def short_action(action):
    """hastack.openstack.fence -> fence; anything else is returned unchanged."""
    prefix = "hastack.openstack."
    return action[len(prefix):] if action and action.startswith(prefix) else action


def to_epoch(value):
    """Seconds since the epoch from an epoch number or an ISO 8601 time (naive times are UTC); None if neither."""
    if value is None or value == "":
        return None
    try:
        return parse_time(value).timestamp()
    except ValueError:
        return None


def _event(recover_event):
    event = recover_event if isinstance(recover_event, dict) else {}
    payload = event.get("payload") if isinstance(event.get("payload"), dict) else {}
    return {
        "type": event.get("type"),
        "hostname": event.get("hostname"),
        "id": event.get("id"),
        "generated_time": event.get("generated_time"),
        # Monitor payloads carry states and names only (Masakari's schemas); keep scalar values.
        "payload": dict((key, value) for key, value in payload.items() if isinstance(value, (str, int, float, bool))),
    }


def _phase_data(action, result):
    """The fields of a recovery module's result that the timeline keeps."""
    if action == FENCE:
        return {key: result.get(key) for key in ("fenced", "action", "completed", "delegate", "seconds")}
    if action == COMPUTE_SERVICE:
        service = result.get("service") or {}
        return {key: service.get(key) for key in ("host", "binary", "status", "state", "forced_down")}
    if action == SEGMENT_HOST:
        host = result.get("host") or {}
        return {key: host.get(key) for key in ("name", "on_maintenance", "reserved")}
    if action == HOST_EVACUATE:
        return {
            "recovery_method_used": result.get("recovery_method_used"),
            "reserved_host": result.get("reserved_host"),
            "summary": result.get("summary"),
            "instances": [{key: item.get(key) for key in _INSTANCE_FIELDS} for item in result.get("instances") or []],
        }
    if action == INSTANCE_RECOVER:
        server = result.get("server") or {}
        return {
            "action": result.get("action"),
            "reason": result.get("reason"),
            "started_at": result.get("started_at"),
            "finished_at": result.get("finished_at"),
            "seconds": result.get("seconds"),
            "server": {key: server.get(key) for key in ("id", "name", "status", "vm_state", "host")},
        }
    return None


def build(recover_event, tasks, started, finished):
    """The timeline of one recovery run.

    tasks: records {name, action, host, status (ok|changed|failed|skipped|unreachable), start, end, result,
    msg}, in the order they finished. Times are epoch seconds. The fault time (t0 of the chart) is the event's
    generated_time when it has one, else the start of the run.
    """
    event = _event(recover_event)
    fault = to_epoch(event["generated_time"]) or started
    records = []
    fenced_at = forced_down_at = recovered_at = None
    instances = []
    failed = []
    for task in tasks:
        action = short_action(task.get("action"))
        result = task.get("result") or {}
        record = {
            "name": task.get("name"),
            "action": action,
            "host": task.get("host"),
            "status": task.get("status"),
            "start": task.get("start"),
            "end": task.get("end"),
        }
        data = _phase_data(action, result) if task.get("status") != "skipped" else None
        if data is not None:
            record["data"] = data
        if task.get("status") in ("failed", "unreachable") and not task.get("ignored"):
            record["msg"] = task.get("msg")
            failed.append({"task": task.get("name"), "msg": task.get("msg")})
        records.append(record)
        if data is None:
            continue
        if action == FENCE and data.get("fenced"):
            fenced_at = to_epoch(data.get("completed")) or task.get("end")
        elif action == COMPUTE_SERVICE and data.get("forced_down"):
            forced_down_at = task.get("end")
        elif action == HOST_EVACUATE:
            instances.extend(data["instances"])
        elif action == INSTANCE_RECOVER and data.get("action") == "recovered":
            instances.append({"id": data["server"].get("id"), "name": data["server"].get("name"),
                              "action": "recovered", "vm_state": data["server"].get("vm_state"),
                              "target_host": data["server"].get("host"), "started_at": data.get("started_at"),
                              "finished_at": data.get("finished_at"), "seconds": data.get("seconds")})
    # Recovered during this run: evacuated or restarted by it, or an evacuation started before it (an interrupted
    # run) that it waited for; an instance evacuated before the run started is not.
    done = [item for item in instances if item.get("finished_at") and (
        item.get("action") in ("evacuated", "recovered") or (item.get("action") == "already_evacuated" and item.get("waited")))]
    if done and not [item for item in instances if item.get("action") == "failed"]:
        recovered_at = max(item["finished_at"] for item in done)
    # A process failure has no instance to move: taking the host out of service (maintenance, service disabled) is
    # its recovery.
    if event["type"] == "PROCESS":
        acted = [record["end"] for record in records
                 if record["status"] == "changed" and record["action"] in (COMPUTE_SERVICE, SEGMENT_HOST)]
        recovered_at = max(acted) if acted else None

    def since_fault(moment):
        return None if moment is None else round(moment - fault, 1)

    if failed:
        outcome = "failed"
    elif done or (event["type"] == "PROCESS" and recovered_at is not None):
        outcome = "recovered"
    else:
        outcome = "nothing_to_do"
    return {
        "schema": SCHEMA_VERSION,
        "event": event,
        "outcome": outcome,
        "fault_at": fault,
        "run": {"started": started, "finished": finished, "seconds": round(finished - started, 1)},
        "milestones": {
            "received": since_fault(started),
            "fenced": since_fault(fenced_at),
            "service_forced_down": since_fault(forced_down_at),
            "recovered": since_fault(recovered_at),
        },
        "instances": instances,
        "failed": failed,
        "tasks": records,
    }


def summary_lines(timeline):
    """A short human summary: outcome, seconds from the fault to each milestone, instances, failures."""
    event = timeline["event"]
    payload = event.get("payload") or {}
    what = payload.get("event") or ""
    headline = "hastack.openstack recover: %s %s %s -> %s" % (event.get("type"), event.get("hostname"), what,
                                                              timeline["outcome"])
    lines = [headline]
    for key, label in (("received", "recovery started"), ("fenced", "fenced (confirmed)"),
                       ("service_forced_down", "compute service forced down"), ("recovered", "all instances recovered")):
        value = timeline["milestones"].get(key)
        if value is not None:
            lines.append("  %-30s %+8.1f s after the fault" % (label, value))
    counts = {}
    for item in timeline["instances"]:
        counts[item.get("action")] = counts.get(item.get("action"), 0) + 1
    if counts:
        lines.append("  instances: " + ", ".join("%d %s" % (count, action) for action, count in sorted(counts.items())))
    for item in timeline["instances"]:
        if item.get("action") == "failed":
            lines.append("  FAILED %s (%s): %s" % (item.get("name"), item.get("id"), item.get("message")))
    for failure in timeline["failed"]:
        lines.append("  FAILED task %s: %s" % (failure["task"], failure["msg"]))
    lines.append("  run took %.1f s" % timeline["run"]["seconds"])
    return lines


# --- SVG chart ---------------------------------------------------------------------------------------------

_COLOURS = {"ok": "#4c78a8", "changed": "#f58518", "failed": "#e45756", "unreachable": "#e45756",
            "evacuated": "#54a24b", "recovered": "#54a24b", "already_evacuated": "#9d9d9d", "skipped": "#bab0ac"}


def _nice_step(span):
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if span / step <= 12:
            return step
    return 1200


def render_svg(timeline, width=960):
    """A Gantt-style chart: seconds since the fault on x; a row per task that did something and per instance."""
    fault = timeline["fault_at"]
    rows = []
    for task in timeline["tasks"]:
        if task.get("status") == "skipped" or task.get("start") is None or task.get("end") is None:
            continue
        rows.append(("task", task["name"], task["start"] - fault, task["end"] - fault, task["status"]))
    for item in timeline["instances"]:
        if item.get("started_at") is None or item.get("finished_at") is None:
            continue
        label = "%s -> %s" % (item.get("name") or item.get("id"), item.get("target_host") or "?")
        rows.append(("instance", label, item["started_at"] - fault, item["finished_at"] - fault, item.get("action")))
    end = max([row[3] for row in rows] + [timeline["run"]["finished"] - fault, 1.0])
    start = min([row[2] for row in rows] + [0.0])
    label_width, right, top, row_height = 330, 20, 60, 22
    plot = width - label_width - right
    height = top + row_height * max(len(rows), 1) + 50

    def x(seconds):
        return label_width + (seconds - start) / (end - start) * plot

    event = timeline["event"]
    title = "%s %s: %s" % (event.get("type"), event.get("hostname"), timeline["outcome"])
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">'
        % (width, height),
        '<rect width="100%" height="100%" fill="white"/>',
        '<text x="10" y="22" font-size="16" font-weight="bold">%s</text>' % escape(title),
        '<text x="10" y="42" fill="#555">seconds since the fault (%s)</text>'
        % escape(datetime.datetime.fromtimestamp(fault, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")),
    ]
    step = _nice_step(end - start)
    tick = int(start // step) * step
    while tick <= end:
        parts.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (x(tick), top - 5, x(tick), height - 40))
        parts.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%g</text>' % (x(tick), height - 25, tick))
        tick += step
    for index, (kind, label, begin, finish, status) in enumerate(rows):
        y = top + index * row_height
        colour = _COLOURS.get(status, "#72b7b2")
        parts.append('<text x="%d" y="%d"%s>%s</text>' % (
            10, y + 15, ' font-style="italic"' if kind == "instance" else "", escape(str(label)[:48])))
        length = max(x(finish) - x(begin), 2.0)
        parts.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: %.1f s to %.1f s (%s)</title></rect>'
                     % (x(begin), y + 3, length, row_height - 6, colour, escape(str(label)), begin, finish, escape(str(status))))
    for key, label in (("fenced", "fenced"), ("recovered", "recovered")):
        value = timeline["milestones"].get(key)
        if value is None:
            continue
        parts.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black" stroke-dasharray="4 3"/>'
                     % (x(value), top - 10, x(value), height - 40))
        parts.append('<text x="%.1f" y="%d" text-anchor="middle">%s %.1f s</text>' % (x(value), top - 14, label, value))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
