"""hastack.openstack.compute_service against tests/unit/fake_compute.py (an in-memory Nova compute API reached
through openstacksdk's own Connection and compute Proxy; a unit-test stand-in, the lab has the real Nova)."""

import pytest

from fake_compute import Cloud

pytestmark = pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning")

REASON = "host failed and was fenced"


@pytest.fixture
def cloud(monkeypatch):
    cloud = Cloud(monkeypatch)
    cloud.nova.add_compute("compute1")
    cloud.nova.add_compute("compute2")
    cloud.nova.add_service("controller1", "nova-scheduler")
    return cloud


def puts(cloud):
    return [r.body for r in cloud.mutations() if r.method == "PUT"]


# --- the fake follows Nova's contract --------------------------------------------------------------------

def test_fake_disabling_a_dead_host_still_believed_up_blocks_on_rpc(cloud):
    from openstack import exceptions

    service = cloud.nova.compute_service("compute1")
    cloud.nova.kill_host("compute1")
    start = cloud.nova.now()
    sdk_service = next(cloud.conn.compute.services(host="compute1", binary="nova-compute"))
    assert sdk_service.state == "up"  # its last heartbeat is still recent
    cloud.conn.compute.update_service(sdk_service, status="disabled")
    assert cloud.nova.rpc_timeouts == ["compute1"] and cloud.nova.now() - start >= 60
    answer = cloud.conn.compute.put("/os-services/%s" % service["uuid"], json={"id": 1, "status": "enabled"},
                                    microversion="2.53")
    with pytest.raises(exceptions.BadRequestException, match="'id' was unexpected"):
        exceptions.raise_from_response(answer)


def test_fake_refuses_to_force_up_a_host_with_done_evacuations(cloud):
    from openstack import exceptions

    server = cloud.nova.add_server("vm1", "compute1")
    cloud.nova.add_migration(server["id"], "done")
    service = next(cloud.conn.compute.services(host="compute1", binary="nova-compute"))
    cloud.conn.compute.update_service(service, forced_down=True)
    with pytest.raises(exceptions.BadRequestException, match="`done` evacuation migration records remain"):
        cloud.conn.compute.update_service(service, forced_down=False)


# --- reporting --------------------------------------------------------------------------------------------

def test_without_state_or_forced_down_it_only_reports(cloud):
    result = cloud.run("compute_service", host="compute1")
    assert not result["failed"] and not result["changed"]
    service = result["service"]
    assert service["id"] == cloud.nova.compute_service("compute1")["uuid"]
    assert (service["host"], service["binary"], service["status"], service["state"], service["forced_down"],
            service["zone"]) == ("compute1", "nova-compute", "enabled", "up", False, "nova")
    assert cloud.mutations() == []


def test_another_binary_is_reported(cloud):
    result = cloud.run("compute_service", host="controller1", binary="nova-scheduler")
    assert not result["failed"] and result["service"]["binary"] == "nova-scheduler"


def test_another_binary_is_not_changed(cloud):
    result = cloud.run("compute_service", host="controller1", binary="nova-scheduler", state="disabled")
    assert result["failed"] and "nova-compute services only" in result["msg"]
    assert cloud.mutations() == []


def test_unknown_host_fails_naming_the_known_ones(cloud):
    result = cloud.run("compute_service", host="Compute1", state="disabled")
    assert result["failed"]
    assert "no nova-compute service on host 'Compute1'" in result["msg"] and "compute1, compute2" in result["msg"]
    assert cloud.mutations() == []


def test_disabled_reason_needs_state_disabled(cloud):
    result = cloud.run("compute_service", host="compute1", state="enabled", disabled_reason="x")
    assert result["failed"] and result["msg"] == "disabled_reason is only valid with state=disabled"
    assert cloud.requests == []


def test_needs_microversion_2_53(monkeypatch):
    cloud = Cloud(monkeypatch, max_microversion="2.52")
    cloud.nova.add_compute("compute1")
    result = cloud.run("compute_service", host="compute1", forced_down=True)
    assert result["failed"] and "microversion 2.53" in result["msg"]
    assert cloud.mutations() == []


# --- changes --------------------------------------------------------------------------------------------------

def test_forced_down_before_disabling_so_no_rpc_to_the_dead_host(cloud):
    cloud.nova.kill_host("compute1")  # just died: Nova still believes it up
    result = cloud.run("compute_service", host="compute1", forced_down=True, state="disabled", disabled_reason=REASON)
    assert result["changed"] and not result["failed"]
    assert puts(cloud) == [{"forced_down": True}, {"status": "disabled", "disabled_reason": REASON}]
    assert [r.path for r in cloud.mutations()] == ["/os-services/%s" % cloud.nova.compute_service("compute1")["uuid"]] * 2
    assert cloud.nova.rpc_timeouts == []
    service = result["service"]
    assert (service["forced_down"], service["state"], service["status"], service["disabled_reason"]) == (
        True, "down", "disabled", REASON)


def test_disabling_alone_a_dead_host_blocks_nova_on_rpc(cloud):
    # Why the order above matters: without forced_down Nova calls the compute it believes up.
    cloud.nova.kill_host("compute1")
    result = cloud.run("compute_service", host="compute1", state="disabled")
    assert result["changed"] and cloud.nova.rpc_timeouts == ["compute1"]
    assert puts(cloud) == [{"status": "disabled"}]


def test_second_run_changes_nothing(cloud):
    args = dict(host="compute1", forced_down=True, state="disabled", disabled_reason=REASON)
    assert cloud.run("compute_service", **args)["changed"]
    result = cloud.run("compute_service", **args)
    assert not result["changed"] and not result["failed"] and cloud.mutations() == []
    assert result["service"]["disabled_reason"] == REASON


def test_enable_before_unforcing(cloud):
    cloud.nova.compute_service("compute1").update(forced_down=True, disabled=True, disabled_reason=REASON)
    result = cloud.run("compute_service", host="compute1", state="enabled", forced_down=False)
    assert result["changed"] and not result["failed"]
    assert puts(cloud) == [{"status": "enabled"}, {"forced_down": False}]
    service = result["service"]
    assert (service["status"], service["forced_down"], service["state"], service["disabled_reason"]) == (
        "enabled", False, "up", None)


def test_unforcing_with_done_evacuations_fails_with_novas_reason(cloud):
    cloud.nova.compute_service("compute1").update(forced_down=True)
    server = cloud.nova.add_server("vm1", "compute2")
    cloud.nova.add_migration(server["id"], "done", source="compute1", dest="compute2")
    result = cloud.run("compute_service", host="compute1", forced_down=False)
    assert result["failed"] and result["status_code"] == 400
    assert "Nova refused to update nova-compute on compute1" in result["msg"]
    assert "`done` evacuation migration records remain" in result["msg"]
    assert cloud.nova.compute_service("compute1")["forced_down"] is True


def test_new_reason_for_a_disabled_service(cloud):
    cloud.nova.compute_service("compute1").update(disabled=True, disabled_reason="old")
    result = cloud.run("compute_service", host="compute1", state="disabled", disabled_reason="new")
    assert result["changed"] and puts(cloud) == [{"status": "disabled", "disabled_reason": "new"}]
    assert cloud.run("compute_service", host="compute1", state="disabled")["changed"] is False


def test_only_forced_down(cloud):
    result = cloud.run("compute_service", host="compute1", forced_down=True)
    assert result["changed"] and puts(cloud) == [{"forced_down": True}]
    assert result["service"]["status"] == "enabled"


def test_check_mode_changes_nothing_and_predicts(cloud):
    result = cloud.run("compute_service", check_mode=True, diff=True, host="compute1", forced_down=True,
                       state="disabled", disabled_reason=REASON)
    assert result["changed"] and not result["failed"] and cloud.mutations() == []
    assert result["service"]["state"] == "down" and result["service"]["status"] == "disabled"
    assert result["diff"]["before"]["forced_down"] is False and result["diff"]["after"]["forced_down"] is True
    record = cloud.nova.compute_service("compute1")
    assert record["forced_down"] is False and record["disabled"] is False


def test_diff_shows_before_and_after(cloud):
    result = cloud.run("compute_service", diff=True, host="compute2", state="disabled", disabled_reason="maintenance")
    assert result["diff"]["before"]["status"] == "enabled"
    assert result["diff"]["after"]["status"] == "disabled" and result["diff"]["after"]["disabled_reason"] == "maintenance"
    assert "diff" not in cloud.run("compute_service", host="compute2", state="enabled")
