# Copyright: hastack.openstack contributors
# Apache License 2.0 (see galaxy.yml)
"""Host-failure recovery policy, as Masakari's engine applies it, in plain functions.

No I/O here: modules feed in what Nova and Masakari report and carry out the returned decisions. The rules
follow upstream masakari (engine/drivers/taskflow/host_failure.py and driver.py); where this collection
deliberately differs, the function says so.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

RECOVERY_METHODS = ("auto", "reserved_host", "auto_priority", "rh_priority")
EVACUABLE_VM_STATES = ("active", "error", "stopped")
# Nova's power_state value for SHUTDOWN.
POWER_STATE_SHUTDOWN = 4

_TRUE_STRINGS = ("1", "t", "true", "on", "y", "yes")


class PolicyError(ValueError):
    """Input the policy cannot act on (unknown recovery method, no reserved host...)."""


def is_true(value):
    """oslo's bool_from_string, as Masakari reads the HA_Enabled metadata value."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE_STRINGS


def select_instances(servers, ha_key="HA_Enabled", evacuate_all_instances=True,
                     ignore_instances_in_error_state=False):
    """Instances of a failed host to evacuate, in upstream's order: HA-enabled first, then (optionally) the rest.

    servers: dicts with at least id, vm_state and metadata.
    """
    candidates = [s for s in servers
                  if not (ignore_instances_in_error_state and s.get("vm_state") == "error")]
    ha_enabled = [s for s in candidates if is_true((s.get("metadata") or {}).get(ha_key, False))]
    others = [s for s in candidates if s not in ha_enabled]
    return ha_enabled + (others if evacuate_all_instances else [])


def instance_plan(server):
    """What to do around the evacuation of one instance.

    Returns a dict:
      reset_to_error_before: reset the instance state so Nova accepts the evacuation
      stop_after: stop the instance once it is rebuilt elsewhere
      reset_to_error_after: put it back into error once rebuilt (it was in error before)
      expected_vm_state: the state the instance ends in
      evacuate_from_state: the vm_state the instance has when the evacuation starts
    """
    vm_state = server.get("vm_state")
    task_state = server.get("task_state")
    power_state = server.get("power_state")

    reset_before = False
    stop_instance = True
    if vm_state not in EVACUABLE_VM_STATES:
        # Nova evacuates only active, stopped and error instances: anything else is reset to error first.
        reset_before = True
        if vm_state == "resized" and power_state != POWER_STATE_SHUTDOWN:
            stop_instance = False
    elif task_state:
        # Nova refuses to evacuate while a task is in progress: reset to error (clears the task state).
        reset_before = True
        if vm_state == "active":
            stop_instance = False

    stop_after = vm_state != "active" and stop_instance
    reset_after = vm_state == "error"
    if vm_state == "error":
        expected = "error"
    elif stop_after:
        expected = "stopped"
    else:
        expected = "active"
    return {
        "reset_to_error_before": reset_before,
        "stop_after": stop_after,
        "reset_to_error_after": reset_after,
        "expected_vm_state": expected,
        "evacuate_from_state": "error" if reset_before else vm_state,
    }


def evacuation_progress(evacuate_from_state, server_now, source_host):
    """Whether a started evacuation is 'done', 'failed' or still 'pending' (upstream's confirmation rule).

    Done when the instance runs on another hypervisor and its vm_state is the one it had when evacuated
    (or it went from error to active, as a rebuilt error instance does). An instance that turns error from
    another state has failed. Deliberate difference from upstream: an instance still carrying a task_state
    (Nova has not finished the rebuild) is not done yet.
    """
    now_state = server_now.get("vm_state")
    if now_state == "error" and evacuate_from_state != "error":
        return "failed"
    moved = server_now.get("hypervisor_hostname") not in (None, "", source_host)
    settled = (evacuate_from_state == "error" and now_state == "active") or now_state == evacuate_from_state
    if moved and settled and not server_now.get("task_state"):
        return "done"
    return "pending"


def reserved_hosts(segment_hosts):
    """Reserved hosts usable as targets: reserved, not in maintenance, newest first (upstream's order)."""
    usable = [h for h in segment_hosts if h.get("reserved") and not h.get("on_maintenance")]
    return sorted(usable, key=lambda h: h.get("created_at") or "", reverse=True)


def recovery_sequence(method, reserved_host_names):
    """Flows to try, in order, for a segment's recovery_method.

    auto_priority falls back to the reserved-host flow and rh_priority to the auto flow when the first
    flow fails. A reserved-host flow without a reserved host is an error for reserved_host and is skipped
    (falls through) for the priority methods.
    """
    if method not in RECOVERY_METHODS:
        raise PolicyError("unknown recovery_method %r; expected one of %s" % (method, ", ".join(RECOVERY_METHODS)))
    have_reserved = bool(reserved_host_names)
    if method == "auto":
        return ["auto"]
    if method == "reserved_host":
        if not have_reserved:
            raise PolicyError("recovery_method reserved_host but the segment has no usable reserved host")
        return ["reserved_host"]
    if method == "auto_priority":
        return ["auto", "reserved_host"] if have_reserved else ["auto"]
    return ["reserved_host", "auto"] if have_reserved else ["auto"]


# Nova's evacuation migration statuses: accepted (API), pre-migrating (claim on the destination), done; failed
# or error when it fails; completed once the source compute restarted and cleaned up. The statuses of other
# migration types are counted as in progress, to be safe.
EVACUATION_IN_PROGRESS = ("accepted", "pre-migrating", "migrating", "post-migrating", "queued", "preparing",
                          "running", "confirming", "reverting")
EVACUATION_FAILED = ("failed", "error", "cancelled")


def prior_evacuation(migration_status):
    """What the newest earlier evacuation of an instance from the failed host means for a (re-)run.

    'wait': it is still under way - never start a second one, wait for it. 'done': the instance was
    evacuated and the source compute has not restarted since. 'evacuate': no evacuation, a failed one, or a
    completed one (the source compute came back after an older failure) - the instance may be evacuated.
    Not upstream (Masakari does not look at migrations); it makes a recovery safe to re-run.
    """
    if migration_status in EVACUATION_IN_PROGRESS:
        return "wait"
    if migration_status == "done":
        return "done"
    return "evacuate"


def evacuation_outcome(migration_status):
    """'done', 'failed', or None while an evacuation migration is still under way."""
    if migration_status in ("done", "completed"):
        return "done"
    if migration_status in EVACUATION_FAILED:
        return "failed"
    return None


def reserved_host_unusable(service):
    """Why a reserved host cannot receive instances (None when it can).

    service: its nova-compute service as a dict (state, forced_down), or None when Nova has none. Upstream
    enables and uses a reserved host without looking; Nova's scheduler then refuses a down one and every
    instance sent there ends in error, so such a host is passed over.
    """
    if service is None:
        return "Nova has no nova-compute service on it"
    if service.get("forced_down"):
        return "its nova-compute service is forced down"
    if service.get("state") != "up":
        return "its nova-compute service is down"
    return None


def host_notification_action(payload, segment_enabled=True):
    """How a COMPUTE_HOST notification is handled: 'recover', 'finish' (nothing to do) or 'ignore'.

    A missing host_status, or one other than NORMAL (UNKNOWN: the node may still run), never leads to an
    evacuation.
    """
    payload = payload or {}
    event = payload.get("event")
    if event not in ("STARTED", "STOPPED"):
        return "ignore"
    if payload.get("host_status") != "NORMAL":
        return "ignore"
    if event == "STARTED":
        return "finish"
    if not segment_enabled:
        return "ignore"
    return "recover"
