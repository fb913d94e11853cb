"""Every branch of the host-failure recovery policy (plugins/module_utils/recovery_policy.py)."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "recovery_policy", Path(__file__).resolve().parents[2] / "plugins" / "module_utils" / "recovery_policy.py"
)
policy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(policy)


def server(sid, vm_state="active", ha=None, task_state=None, power_state=1, host="cmp1"):
    metadata = {} if ha is None else {"HA_Enabled": ha}
    return {"id": sid, "vm_state": vm_state, "task_state": task_state, "power_state": power_state,
            "metadata": metadata, "hypervisor_hostname": host}


# --- which instances -------------------------------------------------------------------------------------

def test_ha_enabled_first_then_the_rest_when_evacuating_all():
    servers = [server("a"), server("b", ha="True"), server("c", ha="false"), server("d", ha="yes")]
    assert [s["id"] for s in policy.select_instances(servers)] == ["b", "d", "a", "c"]


def test_only_ha_enabled_when_not_evacuating_all():
    servers = [server("a"), server("b", ha="true"), server("c", ha="0")]
    assert [s["id"] for s in policy.select_instances(servers, evacuate_all_instances=False)] == ["b"]


def test_error_instances_dropped_only_when_asked():
    servers = [server("a", ha="true", vm_state="error"), server("b", ha="true")]
    assert [s["id"] for s in policy.select_instances(servers)] == ["a", "b"]
    kept = policy.select_instances(servers, ignore_instances_in_error_state=True)
    assert [s["id"] for s in kept] == ["b"]


def test_custom_metadata_key():
    servers = [server("a", ha="true"), {**server("b"), "metadata": {"evacuable": "True"}}]
    chosen = policy.select_instances(servers, ha_key="evacuable", evacuate_all_instances=False)
    assert [s["id"] for s in chosen] == ["b"]


def test_nothing_to_evacuate():
    assert policy.select_instances([]) == []
    assert policy.select_instances([server("a")], evacuate_all_instances=False) == []


@pytest.mark.parametrize("value", ["True", "true", "1", "yes", "on", True])
def test_truthy_metadata(value):
    assert policy.is_true(value)


@pytest.mark.parametrize("value", ["False", "0", "", "no", "enabled", False, None])
def test_falsy_metadata(value):
    assert not policy.is_true(value)


# --- per-instance plan -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("kwargs", "reset_before", "stop_after", "reset_after", "expected", "from_state"),
    [
        ({"vm_state": "active"}, False, False, False, "active", "active"),
        ({"vm_state": "stopped", "power_state": 4}, False, True, False, "stopped", "stopped"),
        ({"vm_state": "error"}, False, True, True, "error", "error"),
        ({"vm_state": "paused", "power_state": 3}, True, True, False, "stopped", "error"),
        ({"vm_state": "suspended", "power_state": 7}, True, True, False, "stopped", "error"),
        ({"vm_state": "resized", "power_state": 1}, True, False, False, "active", "error"),
        ({"vm_state": "resized", "power_state": 4}, True, True, False, "stopped", "error"),
        ({"vm_state": "active", "task_state": "rebooting"}, True, False, False, "active", "error"),
        ({"vm_state": "stopped", "task_state": "powering-on", "power_state": 4}, True, True, False, "stopped",
         "error"),
        ({"vm_state": "error", "task_state": "deleting"}, True, True, True, "error", "error"),
    ],
)
def test_instance_plan(kwargs, reset_before, stop_after, reset_after, expected, from_state):
    plan = policy.instance_plan(server("x", **kwargs))
    assert plan == {
        "reset_to_error_before": reset_before,
        "stop_after": stop_after,
        "reset_to_error_after": reset_after,
        "expected_vm_state": expected,
        "evacuate_from_state": from_state,
    }


# --- confirmation ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("from_state", "now", "result"),
    [
        ("active", {"vm_state": "active", "hypervisor_hostname": "cmp1"}, "pending"),
        ("active", {"vm_state": "active", "hypervisor_hostname": "cmp2", "task_state": "rebuilding"}, "pending"),
        ("active", {"vm_state": "active", "hypervisor_hostname": "cmp2"}, "done"),
        ("active", {"vm_state": "error", "hypervisor_hostname": "cmp2"}, "failed"),
        ("error", {"vm_state": "active", "hypervisor_hostname": "cmp2"}, "done"),
        ("error", {"vm_state": "error", "hypervisor_hostname": "cmp2"}, "done"),
        ("error", {"vm_state": "error", "hypervisor_hostname": "cmp1"}, "pending"),
        ("stopped", {"vm_state": "stopped", "hypervisor_hostname": "cmp2"}, "done"),
        ("stopped", {"vm_state": "active", "hypervisor_hostname": "cmp2"}, "pending"),
        ("active", {"vm_state": "active", "hypervisor_hostname": None}, "pending"),
    ],
)
def test_evacuation_progress(from_state, now, result):
    assert policy.evacuation_progress(from_state, now, "cmp1") == result


# --- reserved hosts and recovery methods -----------------------------------------------------------------

def test_reserved_hosts_usable_newest_first():
    hosts = [
        {"name": "old", "reserved": True, "on_maintenance": False, "created_at": "2026-01-01T00:00:00"},
        {"name": "new", "reserved": True, "on_maintenance": False, "created_at": "2026-06-01T00:00:00"},
        {"name": "maint", "reserved": True, "on_maintenance": True, "created_at": "2026-07-01T00:00:00"},
        {"name": "plain", "reserved": False, "on_maintenance": False, "created_at": "2026-08-01T00:00:00"},
    ]
    assert [h["name"] for h in policy.reserved_hosts(hosts)] == ["new", "old"]


def test_reserved_hosts_exhausted():
    assert policy.reserved_hosts([{"name": "a", "reserved": True, "on_maintenance": True}]) == []


@pytest.mark.parametrize(
    ("method", "reserved", "sequence"),
    [
        ("auto", [], ["auto"]),
        ("auto", ["r1"], ["auto"]),
        ("reserved_host", ["r1"], ["reserved_host"]),
        ("auto_priority", ["r1"], ["auto", "reserved_host"]),
        ("auto_priority", [], ["auto"]),
        ("rh_priority", ["r1"], ["reserved_host", "auto"]),
        ("rh_priority", [], ["auto"]),
    ],
)
def test_recovery_sequence(method, reserved, sequence):
    assert policy.recovery_sequence(method, reserved) == sequence


def test_reserved_host_method_without_reserved_hosts_is_an_error():
    with pytest.raises(policy.PolicyError, match="no usable reserved host"):
        policy.recovery_sequence("reserved_host", [])


def test_unknown_method_is_an_error():
    with pytest.raises(policy.PolicyError, match="unknown recovery_method 'fastest'"):
        policy.recovery_sequence("fastest", ["r1"])


# --- COMPUTE_HOST notifications --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("payload", "enabled", "action"),
    [
        ({"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}, True, "recover"),
        ({"event": "STOPPED", "host_status": "NORMAL"}, False, "ignore"),
        ({"event": "STOPPED", "host_status": "UNKNOWN"}, True, "ignore"),
        ({"event": "STOPPED"}, True, "ignore"),
        ({"event": "STARTED", "host_status": "NORMAL"}, True, "finish"),
        ({"event": "stopped", "host_status": "NORMAL"}, True, "ignore"),
        ({}, True, "ignore"),
        (None, True, "ignore"),
    ],
)
def test_host_notification_action(payload, enabled, action):
    assert policy.host_notification_action(payload, segment_enabled=enabled) == action


# --- re-runs: earlier evacuations and reserved hosts -------------------------------------------------------

@pytest.mark.parametrize(
    ("status", "decision"),
    [
        ("accepted", "wait"),
        ("pre-migrating", "wait"),
        ("running", "wait"),
        ("done", "done"),
        ("completed", "evacuate"),
        ("failed", "evacuate"),
        ("error", "evacuate"),
        (None, "evacuate"),
    ],
)
def test_prior_evacuation(status, decision):
    assert policy.prior_evacuation(status) == decision


@pytest.mark.parametrize(
    ("status", "outcome"),
    [("accepted", None), ("pre-migrating", None), ("done", "done"), ("completed", "done"), ("failed", "failed"),
     ("error", "failed"), ("cancelled", "failed")],
)
def test_evacuation_outcome(status, outcome):
    assert policy.evacuation_outcome(status) == outcome


@pytest.mark.parametrize(
    ("service", "reason"),
    [
        ({"state": "up", "forced_down": False}, None),
        (None, "Nova has no nova-compute service on it"),
        ({"state": "down", "forced_down": True}, "its nova-compute service is forced down"),
        ({"state": "down", "forced_down": False}, "its nova-compute service is down"),
    ],
)
def test_reserved_host_unusable(service, reason):
    assert policy.reserved_host_unusable(service) == reason
