"""hastack.openstack.instance_migrate against tests/unit/fake_compute.py (an in-memory Nova compute API reached
through openstacksdk's own Connection and compute Proxy; a unit-test stand-in, the lab has the real Nova)."""

import pytest

from fake_compute import Cloud

pytestmark = pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning")

LIVE_SECONDS = 12


@pytest.fixture
def cloud(monkeypatch):
    cloud = Cloud(monkeypatch, live_migration_seconds=LIVE_SECONDS)
    for host in ("compute1", "compute2", "compute3"):
        cloud.nova.add_compute(host)
    return cloud


def post(cloud, server_id, body, microversion="2.53"):
    """One os-migrateLive request as the API gets it; Nova's refusal raises openstacksdk's exception."""
    from openstack import exceptions

    answer = cloud.conn.compute.post("/servers/%s/action" % server_id, json={"os-migrateLive": body},
                                     microversion=microversion)
    exceptions.raise_from_response(answer)
    return answer


def live_migrations_sent(cloud):
    """(body, microversion) of the os-migrateLive requests of the last run."""
    return [(r.body["os-migrateLive"], r.microversion) for r in cloud.mutations()
            if r.method == "POST" and "os-migrateLive" in (r.body or {})]


def migration_records(cloud, server_id):
    return [m for m in cloud.nova.migrations if m["instance_uuid"] == server_id and m["migration_type"] == "live-migration"]


# --- the fake follows Nova's contract --------------------------------------------------------------------

def test_fake_live_migration_is_asynchronous_from_2_34(cloud):
    server = cloud.nova.add_server("vm1", "compute1")
    answer = post(cloud, server["id"], {"host": "compute2", "block_migration": "auto"})
    assert answer.status_code == 202 and answer.content == b""
    assert server["task_state"] == "migrating" and migration_records(cloud, server["id"]) == []
    shown = cloud.conn.compute.get_server(server["id"])
    assert shown.status == "MIGRATING" and shown.compute_host == "compute1"
    records = list(cloud.conn.compute.migrations(server_id=server["id"], migration_type="live-migration"))
    assert [(m.status, m.source_compute, m.dest_compute) for m in records] == [("accepted", "compute1", None)]
    statuses = []
    for dummy in range(LIVE_SECONDS + 4):
        cloud.nova.sleep(1)
        statuses.append((migration_records(cloud, server["id"])[0]["status"], server["host"], server["task_state"]))
    assert statuses[0] == ("queued", "compute1", "migrating")
    assert ("preparing", "compute1", "migrating") in statuses and ("running", "compute1", "migrating") in statuses
    # The instance is on the destination before the source completes the migration record.
    assert ("running", "compute2", None) in statuses and statuses[-1] == ("completed", "compute2", None)
    assert migration_records(cloud, server["id"])[0]["dest_compute"] == "compute2"


def test_fake_openstacksdk_live_migrate_server_is_understood(cloud):
    """openstacksdk's own live_migrate_server (microversion 2.30, no force) against the fake."""
    server = cloud.nova.add_server("vm1", "compute1")
    cloud.conn.compute.live_migrate_server(server["id"], host="compute3", block_migration="auto")
    request = cloud.nova.mutations()[-1]
    assert request.body == {"os-migrateLive": {"host": "compute3", "block_migration": "auto"}}
    assert request.microversion == "2.30"
    cloud.nova.sleep(LIVE_SECONDS + 5)
    assert server["host"] == "compute3" and server["task_state"] is None


@pytest.mark.parametrize("microversion,body,message", [
    ("2.53", {"host": None}, "'block_migration' is a required property"),
    ("2.53", {"block_migration": "auto"}, "'host' is a required property"),
    ("2.53", {"host": None, "block_migration": "auto", "disk_over_commit": False}, "'disk_over_commit' was unexpected"),
    ("2.53", {"host": None, "block_migration": "maybe"}, "block_migration"),
    ("2.53", {"host": None, "block_migration": "auto", "force": True}, "Can't force to a non-provided destination"),
    ("2.68", {"host": "compute2", "block_migration": "auto", "force": False}, "'force' was unexpected"),
    ("2.29", {"host": "compute2", "block_migration": "auto", "force": False}, "'force' was unexpected"),
    ("2.24", {"host": None, "block_migration": "auto", "disk_over_commit": False}, "block_migration"),
    ("2.24", {"host": None, "block_migration": False}, "'disk_over_commit' is a required property"),
    ("2.53", {"host": "nope", "block_migration": "auto"}, "Compute host nope could not be found."),
])
def test_fake_validates_the_body_by_microversion(cloud, microversion, body, message):
    from openstack import exceptions

    server = cloud.nova.add_server("vm1", "compute1")
    with pytest.raises(exceptions.BadRequestException, match=message.replace("(", r"\(").replace(")", r"\)")):
        post(cloud, server["id"], body, microversion)
    assert server["task_state"] is None and cloud.nova.migrations == []


@pytest.mark.parametrize("vm_state,task_state", [("stopped", None), ("error", None), ("active", "powering-off")])
def test_fake_refuses_a_server_not_active_or_paused(cloud, vm_state, task_state):
    from openstack import exceptions

    server = cloud.nova.add_server("vm1", "compute1", vm_state=vm_state, task_state=task_state)
    # The state is checked before the host.
    with pytest.raises(exceptions.ConflictException, match="Cannot 'os-migrateLive' instance"):
        post(cloud, server["id"], {"host": "nope", "block_migration": "auto"})


def test_fake_refused_destination_is_a_migration_in_error(cloud):
    cloud.nova.compute_service("compute2").update(disabled=True)
    server = cloud.nova.add_server("vm1", "compute1")
    post(cloud, server["id"], {"host": "compute2", "block_migration": "auto"})
    cloud.nova.sleep(5)
    assert [m["status"] for m in migration_records(cloud, server["id"])] == ["error"]
    assert (server["host"], server["vm_state"], server["task_state"]) == ("compute1", "active", None)


def test_fake_checks_before_2_34_are_the_apis_answer(cloud):
    from openstack import exceptions

    cloud.nova.compute_service("compute2").update(disabled=True)
    server = cloud.nova.add_server("vm1", "compute1")
    with pytest.raises(exceptions.BadRequestException, match="No valid host was found"):
        post(cloud, server["id"], {"host": "compute2", "block_migration": "auto"}, microversion="2.30")
    assert server["task_state"] is None
    # Before 2.30 a given host is forced: the scheduler does not look at the disabled service.
    post(cloud, server["id"], {"host": "compute2", "block_migration": False}, microversion="2.25")
    cloud.nova.sleep(LIVE_SECONDS + 5)
    assert server["host"] == "compute2"


# --- the module ----------------------------------------------------------------------------------------

def test_migrates_to_the_host_and_waits(cloud):
    server = cloud.nova.add_server("vm1", "compute1")
    result = cloud.run("instance_migrate", server=server["id"], host="compute2")
    assert not result["failed"] and result["changed"], result
    assert live_migrations_sent(cloud) == [({"host": "compute2", "block_migration": "auto"}, "2.53")]
    assert result["action"] == "migrated"
    assert result["reason"] == "live-migrated from compute1 to compute2 (block_migration auto)"
    assert result["server"] == dict(id=server["id"], name="vm1", status="ACTIVE", vm_state="active", host="compute2")
    assert result["source_host"] == "compute1" and result["target_host"] == "compute2"
    assert result["block_migration"] == "auto"
    migration = result["migration"]
    assert migration["status"] == "completed" and migration["server_id"] == server["id"]
    assert (migration["source_compute"], migration["dest_compute"]) == ("compute1", "compute2")
    # The wait lasted until the record completed, a second after the server reached compute2.
    assert LIVE_SECONDS + 3 <= result["seconds"] <= LIVE_SECONDS + 3 + 2 * 2
    assert result["finished_at"] - result["started_at"] == pytest.approx(result["seconds"])


def test_found_by_name_in_another_project(cloud):
    cloud.nova.add_server("web1", "compute3", project="tenant-a")
    result = cloud.run("instance_migrate", server="web1", host="compute1")
    assert result["action"] == "migrated" and result["server"]["host"] == "compute1"


def test_second_run_is_unchanged(cloud):
    server = cloud.nova.add_server("vm1", "compute1")
    assert cloud.run("instance_migrate", server="vm1", host="compute2")["changed"]
    result = cloud.run("instance_migrate", server="vm1", host="compute2")
    assert not result["failed"] and not result["changed"], result
    assert result["action"] == "unchanged" and result["reason"] == "already on compute2"
    assert result["migration"] is None and cloud.mutations() == []
    assert result["server"]["host"] == result["source_host"] == "compute2" and server["host"] == "compute2"


@pytest.mark.parametrize("vm_state", ["active", "stopped", "error"])
def test_already_on_the_host_is_unchanged_whatever_its_state(cloud, vm_state):
    cloud.nova.add_server("vm1", "compute2", vm_state=vm_state)
    for check_mode in (True, False):
        result = cloud.run("instance_migrate", check_mode=check_mode, server="vm1", host="compute2")
        assert not result["failed"] and not result["changed"] and result["action"] == "unchanged", result
        assert cloud.mutations() == []


def test_scheduler_chooses_without_host(cloud):
    server = cloud.nova.add_server("vm1", "compute1")
    cloud.nova.add_server("busy", "compute2")
    result = cloud.run("instance_migrate", server=server["id"])
    assert not result["failed"] and result["changed"], result
    assert live_migrations_sent(cloud) == [({"host": None, "block_migration": "auto"}, "2.53")]
    assert result["server"]["host"] == "compute3" and result["target_host"] is None
    assert result["reason"] == "live-migrated from compute1 to compute3 (the scheduler's choice) (block_migration auto)"
    # Without a host there is no "already there": every run moves it again.
    assert cloud.run("instance_migrate", server=server["id"])["changed"]


@pytest.mark.parametrize("given,sent", [(True, True), ("no", False), ("AUTO", "auto")])
def test_block_migration(cloud, given, sent):
    cloud.nova.add_server("vm1", "compute1")
    result = cloud.run("instance_migrate", server="vm1", host="compute2", block_migration=given)
    assert result["block_migration"] == sent
    assert live_migrations_sent(cloud) == [({"host": "compute2", "block_migration": sent}, "2.53")]


def test_block_migration_must_be_auto_or_boolean(cloud):
    result = cloud.run("instance_migrate", server="vm1", host="compute2", block_migration="sometimes")
    assert result["failed"] and result["msg"] == "block_migration must be auto, true or false, not 'sometimes'"
    assert cloud.requests == []


def test_check_mode_reports_and_changes_nothing(cloud):
    server = cloud.nova.add_server("vm1", "compute1")
    result = cloud.run("instance_migrate", check_mode=True, server=server["id"], host="compute2")
    assert not result["failed"] and result["changed"] and result["action"] == "migrated", result
    assert result["reason"] == "check mode: would live-migrate from compute1 to compute2 (block_migration auto)"
    assert cloud.mutations() == [] and result["migration"] is None
    assert result["server"]["host"] == "compute1" and server["task_state"] is None


@pytest.mark.parametrize("vm_state,task_state,status", [
    ("stopped", None, "SHUTOFF"), ("paused", None, "PAUSED"), ("error", None, "ERROR"),
    ("active", "powering-off", "ACTIVE"),
])
@pytest.mark.parametrize("check_mode", [False, True])
def test_server_not_active_is_refused(cloud, vm_state, task_state, status, check_mode):
    cloud.nova.add_server("vm1", "compute1", vm_state=vm_state, task_state=task_state)
    result = cloud.run("instance_migrate", check_mode=check_mode, server="vm1", host="compute2")
    assert result["failed"] and not result["changed"] and result["action"] == "refused"
    assert ("it is %s (vm_state %s, task_state %s) on compute1; live migration needs an ACTIVE server"
            % (status, vm_state, task_state)) in result["msg"]
    assert result["msg"].endswith("Nothing was done") and cloud.mutations() == []


def test_failed_migration_is_reported(cloud):
    server = cloud.nova.add_server("vm1", "compute1")
    cloud.nova.fail_live_migration.add(server["id"])
    result = cloud.run("instance_migrate", server=server["id"], host="compute2")
    assert result["failed"] and result["changed"] and result["action"] == "failed"
    migration = migration_records(cloud, server["id"])[0]
    assert ("Nova reports the live migration from compute1 to compute2 failed: migration %s status failed, the "
            "server ACTIVE (vm_state active) on compute1" % migration["id"]) in result["msg"]
    assert result["migration"]["status"] == "failed" and result["server"]["host"] == "compute1"
    assert len(live_migrations_sent(cloud)) == 1


def test_refused_destination_is_reported_with_the_migrations_status(cloud):
    cloud.nova.compute_service("compute2").update(disabled=True, disabled_reason="maintenance")
    server = cloud.nova.add_server("vm1", "compute1")
    result = cloud.run("instance_migrate", server=server["id"], host="compute2")
    assert result["failed"] and result["action"] == "failed"
    assert "status error, the server ACTIVE (vm_state active) on compute1. Status error: Nova's pre-checks" in result["msg"]
    assert result["migration"]["status"] == "error" and result["migration"]["dest_compute"] is None
    assert result["seconds"] < 10


def test_server_in_error_after_the_migration_is_reported(cloud):
    server = cloud.nova.add_server("vm1", "compute1")
    cloud.nova.crash_live_migration.add(server["id"])
    result = cloud.run("instance_migrate", server=server["id"], host="compute2")
    assert result["failed"] and result["action"] == "failed"
    assert "status error, the server ERROR (vm_state error) on compute1" in result["msg"]
    assert result["server"]["status"] == "ERROR"


def test_timeout(cloud):
    server = cloud.nova.add_server("vm1", "compute1")
    cloud.nova.stuck_live_migration.add(server["id"])
    result = cloud.run("instance_migrate", server=server["id"], host="compute2", timeout=30, verify_interval=5)
    assert result["failed"] and result["changed"] and result["action"] == "timed_out"
    migration = migration_records(cloud, server["id"])[0]
    assert ("the live migration from compute1 to compute2 did not finish within 30 s (server MIGRATING, task_state "
            "migrating, on compute1; migration %s status running); Nova goes on with it, it was not aborted"
            % migration["id"]) in result["msg"]
    assert 30 <= result["seconds"] <= 35 and result["migration"]["status"] == "running"


def test_migration_under_way_is_waited_for_not_requested_again(cloud):
    server = cloud.nova.add_server("vm1", "compute1")
    post(cloud, server["id"], {"host": "compute2", "block_migration": "auto"})  # an interrupted earlier run
    cloud.nova.sleep(3)
    check = cloud.run("instance_migrate", check_mode=True, server="vm1", host="compute2")
    assert not check["changed"] and check["action"] == "waited" and "would wait for it" in check["reason"]
    result = cloud.run("instance_migrate", server="vm1", host="compute2")
    assert not result["failed"] and not result["changed"] and result["action"] == "waited", result
    assert live_migrations_sent(cloud) == [] and result["server"]["host"] == "compute2"
    assert result["migration"]["status"] == "completed" and result["source_host"] == "compute1"


def test_migration_under_way_elsewhere_is_refused(cloud):
    server = cloud.nova.add_server("vm1", "compute1")
    post(cloud, server["id"], {"host": "compute3", "block_migration": "auto"})
    cloud.nova.sleep(3)
    result = cloud.run("instance_migrate", server="vm1", host="compute2")
    assert result["failed"] and not result["changed"] and result["action"] == "refused"
    assert "a live migration of it from compute1 to compute3 is under way" in result["msg"]
    assert cloud.mutations() == []


def test_unknown_target_host_fails_before_anything(cloud):
    cloud.nova.add_server("vm1", "compute1")
    result = cloud.run("instance_migrate", server="vm1", host="Compute2")
    assert result["failed"] and "Nova has no nova-compute service on host 'Compute2'" in result["msg"]
    assert cloud.mutations() == []


def test_unknown_server_fails(cloud):
    result = cloud.run("instance_migrate", server="nope", host="compute2")
    assert result["failed"] and result["msg"] == "Nova has no server with ID or name 'nope'"


def test_needs_microversion_2_53(monkeypatch):
    cloud = Cloud(monkeypatch, max_microversion="2.52")
    cloud.nova.add_compute("compute1")
    cloud.nova.add_server("vm1", "compute1")
    result = cloud.run("instance_migrate", server="vm1")
    assert result["failed"] and "needs Nova API microversion 2.53" in result["msg"]
    assert cloud.mutations() == []


@pytest.mark.parametrize("option,value,message", [
    ("timeout", -1, "timeout must not be negative"), ("verify_interval", 0, "verify_interval must be at least 1"),
])
def test_option_checks(cloud, option, value, message):
    result = cloud.run("instance_migrate", server="vm1", **{option: value})
    assert result["failed"] and result["msg"] == message and cloud.requests == []
