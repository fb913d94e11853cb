"""hastack.openstack.instance_recover against tests/unit/fake_compute.py (an in-memory Nova compute API reached
through openstacksdk's own Connection and compute Proxy; a unit-test stand-in, the lab has the real Nova)."""

import pytest

from fake_compute import Cloud

pytestmark = pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning")

HA = {"HA_Enabled": "True"}


@pytest.fixture
def cloud(monkeypatch):
    cloud = Cloud(monkeypatch, power_seconds=4)
    cloud.nova.add_compute("compute1")
    cloud.nova.add_compute("compute2")
    return cloud


def actions(cloud):
    return [call[1:] for call in cloud.nova.actions()]


def test_ha_enabled_server_is_stopped_then_started(cloud):
    server = cloud.nova.add_server("vm1", "compute1", metadata=HA)
    result = cloud.run("instance_recover", server=server["id"])
    assert not result["failed"] and result["changed"], result
    assert result["action"] == "recovered" and result["reason"] == "stopped, started; active again"
    assert actions(cloud) == [("os-stop", None), ("os-start", None)]
    assert result["server"] == dict(id=server["id"], name="vm1", status="ACTIVE", vm_state="active", host="compute1")
    # Both waits took the compute's time on the fake clock.
    assert result["seconds"] >= 8 and result["finished_at"] - result["started_at"] == pytest.approx(result["seconds"])


def test_found_by_name_in_another_project(cloud):
    cloud.nova.add_server("web1", "compute2", metadata={"HA_Enabled": "yes"}, project="tenant-a")
    result = cloud.run("instance_recover", server="web1")
    assert result["action"] == "recovered" and result["server"]["host"] == "compute2"


def test_ambiguous_name_fails(cloud):
    cloud.nova.add_server("web", "compute1", metadata=HA)
    cloud.nova.add_server("web", "compute2", metadata=HA, project="tenant-a")
    result = cloud.run("instance_recover", server="web")
    assert result["failed"] and "More than one server answers to 'web'" in result["msg"]
    assert cloud.mutations() == []


def test_unknown_server_fails(cloud):
    result = cloud.run("instance_recover", server="nope")
    assert result["failed"] and result["msg"] == "Nova has no server with ID or name 'nope'"
    assert cloud.mutations() == []


def test_not_ha_enabled_is_skipped(cloud):
    server = cloud.nova.add_server("vm1", "compute1", metadata={"HA_Enabled": "False"})
    result = cloud.run("instance_recover", server=server["id"])
    assert not result["failed"] and not result["changed"]
    assert result["action"] == "skipped" and "HA_Enabled is not true" in result["reason"]
    assert cloud.mutations() == []


def test_process_all_instances_recovers_without_the_key(cloud):
    server = cloud.nova.add_server("vm1", "compute1")
    result = cloud.run("instance_recover", server=server["id"], process_all_instances=True)
    assert result["action"] == "recovered" and actions(cloud) == [("os-stop", None), ("os-start", None)]


def test_custom_ha_key(cloud):
    server = cloud.nova.add_server("vm1", "compute1", metadata={"ha": "1"})
    assert cloud.run("instance_recover", server=server["id"])["action"] == "skipped"
    assert cloud.run("instance_recover", server=server["id"], ha_enabled_key="ha")["action"] == "recovered"


@pytest.mark.parametrize("vm_state", ["paused", "rescued"])
def test_paused_or_rescued_is_ignored(cloud, vm_state):
    server = cloud.nova.add_server("vm1", "compute1", vm_state=vm_state, metadata=HA)
    result = cloud.run("instance_recover", server=server["id"])
    assert not result["failed"] and not result["changed"]
    assert result["action"] == "ignored" and vm_state in result["reason"]
    assert cloud.mutations() == []


def test_resized_is_reset_to_active_first(cloud):
    server = cloud.nova.add_server("vm1", "compute1", vm_state="resized", metadata=HA)
    result = cloud.run("instance_recover", server=server["id"])
    assert result["action"] == "recovered", result
    assert actions(cloud) == [("os-resetState", {"state": "active"}), ("os-stop", None), ("os-start", None)]
    assert result["server"]["vm_state"] == "active"


def test_stopped_server_is_only_started(cloud):
    server = cloud.nova.add_server("vm1", "compute1", vm_state="stopped", metadata=HA)
    result = cloud.run("instance_recover", server=server["id"])
    assert result["action"] == "recovered" and result["reason"] == "started; active again"
    assert actions(cloud) == [("os-start", None)]


def test_refused_stop_of_a_stopping_server_is_tolerated(cloud):
    server = cloud.nova.add_server("vm1", "compute1", metadata=HA)
    cloud.conn.compute.stop_server(server["id"])  # a stop under way: Nova answers 409 to a second one
    result = cloud.run("instance_recover", server=server["id"])
    assert not result["failed"] and result["action"] == "recovered", result
    assert actions(cloud)[-2:] == [("os-stop", None), ("os-start", None)]


def test_server_that_never_stops_fails_after_the_wait(cloud):
    server = cloud.nova.add_server("vm1", "compute1", metadata=HA)
    cloud.nova.kill_host("compute1")  # the stop is cast to a dead compute: it never happens
    result = cloud.run("instance_recover", server=server["id"], wait_period_after_power_off=30, verify_interval=5)
    assert result["failed"] and result["action"] == "failed"
    assert "did not stop within 30 s (vm_state active, task_state powering-off)" in result["msg"]
    assert 30 <= result["seconds"] <= 36
    assert actions(cloud) == [("os-stop", None)]


def test_server_that_never_starts_fails_after_the_wait(cloud):
    server = cloud.nova.add_server("vm1", "compute1", vm_state="stopped", metadata=HA)
    cloud.nova.kill_host("compute1")
    result = cloud.run("instance_recover", server=server["id"], wait_period_after_power_on=20)
    assert result["failed"] and "did not become active within 20 s of its start" in result["msg"]
    assert result["server"]["vm_state"] == "stopped"


def test_refused_start_fails_with_novas_reason(cloud, monkeypatch):
    server = cloud.nova.add_server("vm1", "compute1", vm_state="stopped", metadata=HA)

    def refuse(record, argument, microversion):
        from fake_compute import NovaError
        raise NovaError(409, "Instance %s is locked" % record["id"])

    monkeypatch.setattr(cloud.nova, "_start", refuse)
    result = cloud.run("instance_recover", server=server["id"])
    assert result["failed"] and result["status_code"] == 409 and "is locked" in result["msg"]


def test_check_mode_reports_and_changes_nothing(cloud):
    server = cloud.nova.add_server("vm1", "compute1", vm_state="resized", metadata=HA)
    result = cloud.run("instance_recover", check_mode=True, server=server["id"])
    assert result["changed"] and result["action"] == "recovered"
    assert result["reason"] == "check mode: would be reset to active, stopped, started"
    assert cloud.mutations() == [] and result["server"]["vm_state"] == "resized"


@pytest.mark.parametrize("option", ["wait_period_after_power_off", "wait_period_after_power_on"])
def test_negative_waits_are_refused(cloud, option):
    result = cloud.run("instance_recover", server="vm1", **{option: -1})
    assert result["failed"] and result["msg"] == "%s must not be negative" % option
    assert cloud.requests == []


def test_verify_interval_must_be_positive(cloud):
    result = cloud.run("instance_recover", server="vm1", verify_interval=0)
    assert result["failed"] and result["msg"] == "verify_interval must be at least 1"
