# -*- coding: utf-8 -*-
# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)
"""Pacemaker status and fencing for the modules that run on a cluster node (cluster_info, fencing_info, fence).

What these helpers read, from Pacemaker's XML API (xml/api/*.rng of Pacemaker 2.1 and 3.0; both versions
write the same elements, 3.0 and later add attributes, which are ignored here):

- ``crm_mon --one-shot --inactive --output-as=xml``: ``<pacemaker-result>`` with ``summary`` (``stack``,
  ``current_dc`` - ``with_quorum`` only when a DC is present -, ``cluster_options``), ``nodes`` (``node`` with
  online, standby, unclean, ... and ``type`` member, remote or ping), ``resources`` (primitives as ``resource``,
  possibly inside ``clone``, ``group``, ``bundle``/``replica``), ``fence_history`` (``fence_event`` elements,
  or only a ``status`` attribute when the fencer could not be asked) and a final ``status`` element;
- ``stonith_admin --history=NODE --verbose --output-as=xml``: a ``list`` of ``fence_event`` (without
  ``--verbose`` stonith_admin shows a single successful event only);
- a ``fence_event`` has ``status`` success, failed or pending (pending ones carry ``extended-status``, the
  fencer's state number, and no completion time), ``action`` (off, reboot, on), ``target``, ``client``,
  ``origin``, optional ``delegate`` and ``exit-reason``, and ``completed`` as the fencing node's local time:
  ``2025-06-01 10:15:30Z`` or ``2025-06-01 12:15:30 +02:00`` (2.1), with ``.123456`` microseconds after the
  seconds from 3.0 on.

The rule the recovery rests on (``confirmation``): a node is confirmed down only by a *successful* ``off`` or
``reboot`` of it, completed at or after ``since`` when ``since`` is given. Pending and failed actions, a node
never fenced, an unreadable history and a completion time that cannot be read never confirm anything. A
``reboot`` only proves the node went down at that time: it may be running again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import math
import re
import time
import xml.etree.ElementTree as ET

CRM_MON = "crm_mon"
STONITH_ADMIN = "stonith_admin"
CRM_MON_ARGS = ["--one-shot", "--inactive", "--output-as=xml"]
# Fencing actions that take a node down; "on" (unfencing) never confirms anything.
DOWN_ACTIONS = ("off", "reboot")
# Every command runs in the C locale, without a shell; nothing else of the environment is changed or reported.
COMMAND_ENVIRON = {"LC_ALL": "C", "LANG": "C"}

NODE_FLAGS = ("online", "standby", "standby_onfail", "maintenance", "pending", "unclean", "shutdown",
              "expected_up", "is_dc")
_TRUE = ("true", "yes", "on", "1", "y")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
# YYYY-MM-DD[T ]HH:MM:SS[.frac][ ][Z|+HH:MM|+HHMM|+HH]: ISO 8601 and Pacemaker's own "completed" format.
_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$")


class PacemakerError(Exception):
    """A Pacemaker command failed or answered something unreadable; ``details`` go into the module result."""

    def __init__(self, msg, **details):
        super(PacemakerError, self).__init__(msg)
        self.msg = msg
        self.details = details


# --- times -----------------------------------------------------------------------------------------------


def parse_timestamp(text, naive_utc=True):
    """Epoch seconds (float) of an ISO 8601 / Pacemaker time string; None if unreadable.

    Without a zone the time is taken as UTC (``naive_utc``), or as unreadable when ``naive_utc`` is false.
    """
    if text is None:
        return None
    match = _TIMESTAMP.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    if not (zulu or sign) and not naive_utc:
        return None
    try:
        fields = (int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
        if not (1 <= fields[1] <= 12 and 1 <= fields[2] <= 31 and fields[3] <= 24 and fields[4] <= 59 and fields[5] <= 60):
            return None
        epoch = calendar.timegm(fields + (0, 0, 0))
    except (ValueError, OverflowError):
        return None
    if fraction:
        epoch += float("0." + fraction)
    if sign:
        offset = int(off_h) * 3600 + int(off_m or 0) * 60
        epoch -= offset if sign == "+" else -offset
    return float(epoch)


def parse_since(value):
    """``since`` as epoch seconds (float), or None when not given.

    Accepts a number (int, float, or a string of one) or an ISO 8601 string; ISO times without a zone are UTC.
    Raises ValueError otherwise.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("since must be epoch seconds or an ISO 8601 time, not a boolean")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip()
        if not text:
            return None
        if _NUMBER.match(text):
            number = float(text)
        else:
            number = parse_timestamp(text)
            if number is None:
                raise ValueError("since %r is neither epoch seconds nor an ISO 8601 time (e.g. 2026-11-23T19:00:00Z)" % (value,))
    if math.isnan(number) or math.isinf(number) or number < 0:
        raise ValueError("since %r is not a valid time" % (value,))
    return number


# --- XML -------------------------------------------------------------------------------------------------


def _flag(element, name, default=False):
    value = element.get(name)
    if value is None:
        return default
    return value.strip().lower() in _TRUE


def _int(element, name, default=0):
    try:
        return int(element.get(name, default))
    except (TypeError, ValueError):
        return default


def parse_result(text, command):
    """Root element of a command's ``--output-as=xml`` answer; PacemakerError if there is no XML in it."""
    text = text or ""
    start = text.find("<")
    if start < 0:
        raise PacemakerError("%s wrote no XML" % command)
    try:
        return ET.fromstring(text[start:].encode("utf-8"))
    except (ET.ParseError, ValueError) as exc:
        raise PacemakerError("%s wrote XML that cannot be parsed: %s" % (command, exc))


def result_status(root):
    """``{code, message, errors}`` of the ``status`` element of a ``pacemaker-result``; None without one."""
    status = root.find("status") if root is not None else None
    if status is None:
        return None
    errors = [(error.text or "").strip() for error in status.iter("error")]
    return dict(code=_int(status, "code", None), message=status.get("message"), errors=[e for e in errors if e])


def describe_failure(root, rc, stderr):
    """One line saying why a command failed: Pacemaker's status and errors, else stderr, else the exit code."""
    parts = []
    status = result_status(root)
    if status:
        if status["message"]:
            parts.append(status["message"])
        parts.extend(status["errors"])
    if root is not None:
        disconnected = root.find("crm-mon-disconnected")
        if disconnected is not None:
            parts.append("not connected to the cluster%s%s" % (
                ": " + disconnected.get("description") if disconnected.get("description") else "",
                " (pacemakerd %s)" % disconnected.get("pacemakerd-state") if disconnected.get("pacemakerd-state") else ""))
    if not parts and stderr and stderr.strip():
        parts.append(" ".join(stderr.strip().splitlines()[-3:]))
    if not parts:
        parts.append("exit code %s" % rc)
    return "; ".join(parts)


def parse_node(element):
    node = dict(name=element.get("name"), id=element.get("id"), type=element.get("type", "unknown"))
    for flag in NODE_FLAGS:
        node[flag] = _flag(element, flag)
    node["resources_running"] = _int(element, "resources_running")
    node["health"] = element.get("health")
    return node


def parse_resource(element, parent=None):
    return dict(
        id=element.get("id"),
        agent=element.get("resource_agent"),
        role=element.get("role"),
        active=_flag(element, "active"),
        failed=_flag(element, "failed"),
        managed=_flag(element, "managed", True),
        parent=parent,
        nodes=[node.get("name") for node in element.findall("node") if node.get("name")],
    )


def iter_primitives(element, parent=None):
    """Every primitive (``resource``) below ``element``, with the id of its outermost clone/group/bundle."""
    for child in element:
        if child.tag == "resource":
            yield parse_resource(child, parent)
        elif child.tag in ("clone", "group", "bundle", "replica") or len(child):
            yield from iter_primitives(child, parent if parent is not None else child.get("id"))


def parse_fence_event(element):
    completed_text = element.get("completed")
    return dict(
        target=element.get("target"),
        action=element.get("action"),
        status=(element.get("status") or "").lower() or None,
        completed=parse_timestamp(completed_text, naive_utc=False) if completed_text else None,
        completed_text=completed_text,
        delegate=element.get("delegate"),
        origin=element.get("origin"),
        client=element.get("client"),
        exit_reason=element.get("exit-reason"),
        extended_status=element.get("extended-status"),
    )


def sort_events(events):
    """Newest first: pending actions (not completed yet), then by completion time, unreadable times last."""
    def key(event):
        if event["status"] == "pending":
            return (0, 0.0)
        if event["completed"] is None:
            return (2, 0.0)
        return (1, -event["completed"])
    return sorted(events, key=key)


def parse_fence_history(root):
    """Events of every ``fence_event`` element under ``root``, newest first."""
    return sort_events([parse_fence_event(element) for element in root.iter("fence_event")])


def parse_crm_mon(root):
    """The ``cluster`` result of cluster_info from the root of ``crm_mon --output-as=xml``."""
    summary = root.find("summary")
    if summary is None and root.find("nodes") is None:
        raise PacemakerError("crm_mon's XML has neither a summary nor a node list")
    summary = summary if summary is not None else ET.Element("summary")

    stack = summary.find("stack")
    current_dc = summary.find("current_dc")
    dc_present = current_dc is not None and _flag(current_dc, "present")
    options = summary.find("cluster_options")
    stonith_enabled = maintenance_mode = None
    if options is not None:
        # "fencing-enabled" from Pacemaker 3.0.2 on, "stonith-enabled" before (and still, deprecated).
        for name in ("fencing-enabled", "stonith-enabled"):
            if options.get(name) is not None:
                stonith_enabled = _flag(options, name)
                break
        if options.get("maintenance-mode") is not None:
            maintenance_mode = _flag(options, "maintenance-mode")

    nodes_element = root.find("nodes")
    nodes = [parse_node(node) for node in nodes_element.findall("node")] if nodes_element is not None else []
    resources_element = root.find("resources")
    resources = list(iter_primitives(resources_element)) if resources_element is not None else []

    history_element = root.find("fence_history")
    fence_history_error = None
    events = []
    if history_element is not None:
        if _int(history_element, "status", 0) != 0:
            fence_history_error = "the fencer's history could not be read (crm_mon fence_history status %s)" % (
                history_element.get("status"))
        events = parse_fence_history(history_element)

    in_progress = []
    for event in events:
        if event["status"] == "pending" and event["target"] and event["target"] not in in_progress:
            in_progress.append(event["target"])

    return dict(
        quorum=bool(dc_present and _flag(current_dc, "with_quorum")),
        dc=current_dc.get("name") if dc_present else None,
        stack=stack.get("type") if stack is not None else None,
        stonith_enabled=stonith_enabled,
        maintenance_mode=maintenance_mode,
        nodes=nodes,
        resources=resources,
        fencing_in_progress=in_progress,
        fence_failures=[event for event in events if event["status"] == "failed"],
        fence_history_error=fence_history_error,
    )


# --- the confirmation rule -------------------------------------------------------------------------------


def same_node(left, right):
    """Pacemaker compares node names case-insensitively."""
    return left is not None and right is not None and left.lower() == right.lower()


def confirms_down(event, since=None):
    """Whether this one history event proves the node went down (at or after ``since``, when given)."""
    if event["status"] != "success" or event["action"] not in DOWN_ACTIONS:
        return False
    if since is None:
        return True
    return event["completed"] is not None and event["completed"] >= since


def confirmation(events, node, since=None):
    """What the fencing history says about ``node``: see the module docstring for the rule.

    Returns ``confirmed_down``, ``event`` (the newest event that confirms, or None), ``last_success`` and
    ``last_failure`` (newest successful/failed off or reboot, whenever), ``pending`` (an off or reboot in
    progress) and ``history`` (every event of the node, any action, newest first).
    """
    history = sort_events([event for event in events if same_node(event["target"], node)])
    down = [event for event in history if event["action"] in DOWN_ACTIONS]
    confirming = [event for event in down if confirms_down(event, since)]
    successes = [event for event in down if event["status"] == "success"]
    failures = [event for event in down if event["status"] == "failed"]
    return dict(
        confirmed_down=bool(confirming),
        event=confirming[0] if confirming else None,
        last_success=successes[0] if successes else None,
        last_failure=failures[0] if failures else None,
        pending=any(event["status"] == "pending" for event in down),
        history=history,
    )


# --- commands --------------------------------------------------------------------------------------------


class PacemakerCLI(object):
    """crm_mon and stonith_admin through ``module.run_command`` (argv lists, no shell, C locale)."""

    def __init__(self, module):
        self.module = module
        self._paths = {}

    def path(self, name):
        """Full path of a Pacemaker tool; fails the module clearly when it is not installed here."""
        if name not in self._paths:
            found = self.module.get_bin_path(name)
            if not found:
                self.module.fail_json(
                    msg="%s was not found on this host: this module runs on a Pacemaker cluster node (a controller), "
                        "which has the Pacemaker command line tools (Debian package pacemaker-cli-utils)" % name)
            self._paths[name] = found
        return self._paths[name]

    def require(self, *names):
        for name in names:
            self.path(name)

    def run(self, argv):
        rc, stdout, stderr = self.module.run_command(argv, check_rc=False, environ_update=dict(COMMAND_ENVIRON))
        return rc, stdout or "", stderr or ""

    def _xml_command(self, argv, what):
        command = " ".join(argv)
        rc, stdout, stderr = self.run(argv)
        try:
            root = parse_result(stdout, what)
        except PacemakerError as exc:
            if rc == 0:
                raise PacemakerError(exc.msg, cmd=command, rc=rc, stdout=stdout, stderr=stderr)
            root = None
        if rc != 0:
            raise PacemakerError("%s failed: %s" % (what, describe_failure(root, rc, stderr)),
                                 cmd=command, rc=rc, stdout=stdout, stderr=stderr)
        return root

    def cluster(self):
        """The parsed ``crm_mon`` status (see parse_crm_mon); PacemakerError when it cannot be read."""
        argv = [self.path(CRM_MON)] + CRM_MON_ARGS
        return parse_crm_mon(self._xml_command(argv, "crm_mon"))

    def node(self, name):
        """The crm_mon entry of node ``name`` (or None), and the error text when crm_mon could not be read."""
        try:
            cluster = self.cluster()
        except PacemakerError as exc:
            return None, exc.msg
        for node in cluster["nodes"]:
            if same_node(node["name"], name):
                return node, None
        return None, None

    def fence_history(self, node):
        """Every fencing event the fencer knows for ``node``, newest first; PacemakerError when unreadable."""
        argv = [self.path(STONITH_ADMIN), "--history=%s" % node, "--verbose", "--output-as=xml"]
        root = self._xml_command(argv, "stonith_admin --history")
        return [event for event in parse_fence_history(root) if same_node(event["target"], node)]

    def fence(self, node, action, timeout, tolerance=None, limit=None):
        """Run stonith_admin --fence (off) or --reboot; returns (rc, stdout, stderr, argv).

        With ``limit`` (seconds) and coreutils' timeout(1) on the host, stonith_admin is stopped after ``limit``
        seconds (exit code 124, or 137 when it had to be killed): the fencer may still finish the action, which
        only the history can tell.
        """
        option = "--fence" if action == "off" else "--reboot"
        argv = [self.path(STONITH_ADMIN), "%s=%s" % (option, node), "--timeout=%d" % timeout, "--output-as=xml"]
        if tolerance:
            argv.append("--tolerance=%ds" % tolerance)
        if limit:
            timeout_bin = self.module.get_bin_path("timeout")
            if timeout_bin:
                argv = [timeout_bin, "--kill-after=10", "%d" % limit] + argv
        rc, stdout, stderr = self.run(argv)
        return rc, stdout, stderr, argv


def now():
    return time.time()


def sleep(seconds):
    time.sleep(seconds)
