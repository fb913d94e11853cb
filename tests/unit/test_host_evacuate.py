"""hastack.openstack.host_evacuate against tests/unit/fake_compute.py (an in-memory Nova compute API, and
fake_instance_ha.py's Masakari API, reached through openstacksdk's own Connection and Proxies; unit-test
stand-ins, the lab has the real services)."""

import pytest

from fake_compute import Cloud

pytestmark = pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning")

HA = {"HA_Enabled": "True"}
HOSTS = ("compute1", "compute2", "compute3", "spare1", "spare2")


def make_cloud(monkeypatch, masakari=False, **options):
    cloud = Cloud(monkeypatch, masakari_hosts=HOSTS if masakari else None, **options)
    for host in ("compute1", "compute2", "compute3"):
        cloud.nova.add_compute(host)
    for host in ("spare1", "spare2"):
        # Reserved hosts: disabled in Nova so that the scheduler keeps them free.
        cloud.nova.add_compute(host, disabled=True, disabled_reason="reserved host")
    return cloud


@pytest.fixture
def cloud(monkeypatch):
    return make_cloud(monkeypatch)


def fence(cloud, host="compute1"):
    """What the playbook does before host_evacuate: the host is dead, its service forced down and disabled."""
    cloud.nova.kill_host(host)
    cloud.nova.compute_service(host).update(forced_down=True, disabled=True, disabled_reason="fenced")


def evacuations(cloud):
    """(server name, evacuate body, microversion) of the evacuations sent during the last run."""
    found = []
    for request in cloud.requests:
        if request.method == "POST" and request.path.startswith("/servers/") and "evacuate" in (request.body or {}):
            server_id = request.path.split("/")[2]
            found.append((cloud.nova.servers[server_id]["name"], request.body["evacuate"], request.microversion))
    return found


def by_name(result):
    return dict((entry["name"], entry) for entry in result["instances"])


def server_actions(cloud, name):
    return [call[1:] for call in cloud.nova.actions() if call[0] == name]


def action_names(cloud, name):
    return [call[1] for call in cloud.nova.actions() if call[0] == name]


# --- the fake follows Nova's contract --------------------------------------------------------------------

def test_fake_refuses_evacuation_while_the_source_service_is_up(cloud):
    from openstack import exceptions

    server = cloud.nova.add_server("vm1", "compute1")
    answer = cloud.conn.compute.post("/servers/%s/action" % server["id"], json={"evacuate": {}}, microversion="2.53")
    with pytest.raises(exceptions.BadRequestException, match="Compute service of compute1 is still in use"):
        exceptions.raise_from_response(answer)
    cloud.nova.kill_host("compute1")
    answer = cloud.conn.compute.post("/servers/%s/action" % server["id"], json={"evacuate": {}}, microversion="2.53")
    with pytest.raises(exceptions.BadRequestException, match="still in use"):
        exceptions.raise_from_response(answer)  # missed no heartbeat yet
    cloud.nova.sleep(61)
    exceptions.raise_from_response(cloud.conn.compute.post(
        "/servers/%s/action" % server["id"], json={"evacuate": {}}, microversion="2.53"))


def test_fake_evacuation_at_2_95_leaves_the_instance_stopped(cloud):
    fence(cloud)
    kept = cloud.nova.add_server("kept", "compute1")
    stopped = cloud.nova.add_server("stopped", "compute1")
    cloud.conn.compute.post("/servers/%s/action" % kept["id"], json={"evacuate": {}}, microversion="2.53")
    cloud.conn.compute.post("/servers/%s/action" % stopped["id"], json={"evacuate": {}}, microversion="2.95")
    cloud.nova.sleep(60)
    assert (kept["vm_state"], stopped["vm_state"]) == ("active", "stopped")
    assert kept["host"] != "compute1" and stopped["host"] != "compute1"
    assert [m["status"] for m in cloud.nova.migrations] == ["done", "done"]


def test_fake_rejects_a_lock_reason_before_2_73(cloud):
    from openstack import exceptions

    server = cloud.nova.add_server("vm1", "compute1")
    answer = cloud.conn.compute.post("/servers/%s/action" % server["id"], json={"lock": {"locked_reason": "x"}},
                                     microversion="2.72")
    with pytest.raises(exceptions.BadRequestException):
        exceptions.raise_from_response(answer)


# --- refusals -------------------------------------------------------------------------------------------

def test_refuses_a_host_whose_service_is_up(cloud):
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1")
    assert result["failed"]
    assert "must be fenced (powered off) and its service forced down first" in result["msg"]
    assert result["service"]["state"] == "up"
    assert cloud.mutations() == [] and evacuations(cloud) == []


def test_refuses_a_host_that_just_died_but_is_not_forced_down(cloud):
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    cloud.nova.kill_host("compute1")  # Nova still counts its last heartbeat
    result = cloud.run("host_evacuate", host="compute1")
    assert result["failed"] and "Refusing to evacuate compute1" in result["msg"]
    assert cloud.mutations() == []


def test_a_host_reported_down_is_evacuated_with_a_warning(cloud, monkeypatch):
    from ansible.module_utils import basic

    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, message: warnings.append(message))
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    cloud.nova.kill_host("compute1", seconds_ago=120)
    result = cloud.run("host_evacuate", host="compute1")
    assert not result["failed"] and result["summary"]["evacuated"] == 1
    assert any("not forced down; make sure the host is fenced" in w for w in warnings)


def test_unknown_host_fails(cloud):
    result = cloud.run("host_evacuate", host="compute9")
    assert result["failed"] and "no nova-compute service on host 'compute9'" in result["msg"]


def test_needs_microversion_2_53(monkeypatch):
    cloud = make_cloud(monkeypatch, max_microversion="2.52")
    fence(cloud)
    result = cloud.run("host_evacuate", host="compute1")
    assert result["failed"] and "microversion 2.53" in result["msg"] and cloud.mutations() == []


@pytest.mark.parametrize(("option", "value", "message"), [
    ("parallel", 0, "parallel must be at least 1"),
    ("verify_interval", 0, "verify_interval must be at least 1"),
    ("wait_period_after_evacuation", -1, "wait_period_after_evacuation must not be negative"),
])
def test_bad_numbers_are_refused(cloud, option, value, message):
    result = cloud.run("host_evacuate", host="compute1", **{option: value})
    assert result["failed"] and result["msg"] == message and cloud.requests == []


def test_segment_and_reserved_hosts_exclude_each_other(cloud):
    result = cloud.run("host_evacuate", host="compute1", segment="computes", reserved_hosts=["spare1"])
    assert result["failed"] and "mutually exclusive" in result["msg"]


# --- auto ------------------------------------------------------------------------------------------------

def test_auto_evacuates_every_instance_by_upstream_rules(cloud):
    fence(cloud)
    cloud.nova.add_server("plain", "compute1")
    cloud.nova.add_server("active", "compute1", metadata=HA)
    cloud.nova.add_server("stopped", "compute1", vm_state="stopped", metadata=HA)
    cloud.nova.add_server("error", "compute1", vm_state="error", metadata=HA)
    cloud.nova.add_server("paused", "compute1", vm_state="paused", metadata=HA)
    cloud.nova.add_server("busy", "compute1", task_state="rebooting", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1", parallel=1)
    assert not result["failed"] and result["changed"], result
    assert result["recovery_method_used"] == "auto" and result["reserved_host"] is None
    # HA-enabled first, then the rest.
    assert [e["name"] for e in result["instances"]] == ["active", "stopped", "error", "paused", "busy", "plain"]
    assert result["summary"] == dict(selected=6, evacuated=6, already_evacuated=0, failed=0)
    entries = by_name(result)
    expected = dict(active=("active", "active"), stopped=("stopped", "stopped"), error=("error", "error"),
                    paused=("paused", "stopped"), busy=("active", "active"), plain=("active", "active"))
    for name, (before, end) in expected.items():
        entry = entries[name]
        assert entry["action"] == "evacuated", entry
        assert (entry["vm_state_before"], entry["expected_vm_state"], entry["vm_state"]) == (before, end, end), entry
        assert entry["target_host"] in ("compute2", "compute3") and cloud.nova.server_named(name)["host"] == entry["target_host"]
        assert entry["seconds"] > 0 and entry["finished_at"] > entry["started_at"] >= result["started_at"]
    # Microversion 2.53, no admin password, no target host: the scheduler chooses.
    assert sorted(evacuations(cloud)) == sorted((name, {}, "2.53") for name in expected)
    # The disabled reserved hosts were not used.
    assert not any(s["host"].startswith("spare") for s in cloud.nova.servers.values())


def test_per_instance_steps_follow_the_plan(cloud):
    fence(cloud)
    error = cloud.nova.add_server("error", "compute1", vm_state="error", metadata=HA)
    cloud.nova.add_server("paused", "compute1", vm_state="paused", metadata=HA)
    cloud.nova.add_server("busy", "compute1", task_state="rebooting", metadata=HA)
    cloud.run("host_evacuate", host="compute1")
    marker = "hastack.openstack.host_evacuate from compute1: vm_state=error task_state=- power_state=0"
    assert server_actions(cloud, "error") == [
        ("lock", {"locked_reason": marker}), ("evacuate", {}), ("os-stop", None),
        ("os-resetState", {"state": "error"}), ("unlock", None)]
    assert action_names(cloud, "paused") == [
        "lock", "os-resetState", "evacuate", "os-stop", "unlock"]
    # A task under way: reset to error first; an active one is not stopped afterwards.
    assert action_names(cloud, "busy") == ["lock", "os-resetState", "evacuate", "unlock"]
    assert error["locked"] is False and error["locked_reason"] is None


def test_second_run_changes_nothing(cloud):
    fence(cloud)
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    cloud.nova.add_server("vm2", "compute1", vm_state="stopped")
    assert cloud.run("host_evacuate", host="compute1")["summary"]["evacuated"] == 2
    result = cloud.run("host_evacuate", host="compute1")
    assert not result["failed"] and not result["changed"]
    assert result["instances"] == [] and result["recovery_method_used"] is None
    assert result["summary"] == dict(selected=0, evacuated=0, already_evacuated=0, failed=0)
    assert cloud.mutations() == []


def test_servers_are_listed_across_projects_on_the_host_only(cloud):
    fence(cloud)
    cloud.nova.add_server("theirs", "compute1", project="tenant-a")
    cloud.nova.add_server("elsewhere", "compute2")
    result = cloud.run("host_evacuate", host="compute1")
    assert [e["name"] for e in result["instances"]] == ["theirs"]
    listing = [r for r in cloud.requests if r.path == "/servers/detail"][0]
    assert listing.query == {"all_tenants": True, "host": "compute1"}


def test_nothing_on_the_host_is_ok_and_unchanged(cloud):
    fence(cloud)
    result = cloud.run("host_evacuate", host="compute1", recovery_method="reserved_host")
    assert not result["failed"] and not result["changed"] and result["instances"] == []


def test_only_ha_enabled_instances_when_not_evacuating_all(cloud):
    fence(cloud)
    cloud.nova.add_server("ha", "compute1", metadata={"HA_Enabled": "on"})
    plain = cloud.nova.add_server("plain", "compute1", metadata={"HA_Enabled": "False"})
    result = cloud.run("host_evacuate", host="compute1", evacuate_all_instances=False)
    entries = by_name(result)
    assert entries["ha"]["action"] == "evacuated"
    assert entries["plain"]["action"] == "skipped" and "evacuate_all_instances is false" in entries["plain"]["message"]
    assert plain["host"] == "compute1" and result["summary"]["selected"] == 1
    assert [entry[0] for entry in evacuations(cloud)] == ["ha"]


def test_custom_ha_key(cloud):
    fence(cloud)
    cloud.nova.add_server("ha", "compute1", metadata={"ha": "yes"})
    cloud.nova.add_server("plain", "compute1", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1", ha_enabled_key="ha", evacuate_all_instances=False)
    assert [(e["name"], e["action"]) for e in result["instances"]] == [("plain", "skipped"), ("ha", "evacuated")]


def test_error_instances_left_alone_when_asked(cloud):
    fence(cloud)
    cloud.nova.add_server("ok", "compute1", metadata=HA)
    broken = cloud.nova.add_server("broken", "compute1", vm_state="error", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1", ignore_instances_in_error_state=True)
    entries = by_name(result)
    assert entries["broken"]["action"] == "skipped" and "ignore_instances_in_error_state" in entries["broken"]["message"]
    assert entries["broken"]["vm_state"] == "error" and broken["host"] == "compute1"
    assert entries["ok"]["action"] == "evacuated" and server_actions(cloud, "broken") == []


@pytest.mark.parametrize("parallel", [1, 2, 3])
def test_parallel_bounds_the_evacuations_in_flight(monkeypatch, parallel):
    # The first rebuilds wait until ``parallel`` evacuations were accepted: fewer workers than that would never see
    # them finish (and fail after the wait); more would exceed the bound.
    cloud = make_cloud(monkeypatch, hold_rebuilds=parallel)
    fence(cloud)
    for index in range(6):
        cloud.nova.add_server("vm%d" % index, "compute1", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1", parallel=parallel, wait_period_after_evacuation=3600)
    assert not result["failed"] and result["summary"]["evacuated"] == 6, result.get("msg")
    assert cloud.nova.max_in_flight == parallel


def test_an_already_locked_instance_stays_locked(cloud):
    fence(cloud)
    server = cloud.nova.add_server("vm1", "compute1", metadata=HA, locked=True, locked_reason="owner's lock")
    result = cloud.run("host_evacuate", host="compute1")
    assert by_name(result)["vm1"]["action"] == "evacuated" and "locked already" in by_name(result)["vm1"]["message"]
    assert action_names(cloud, "vm1") == ["evacuate"]
    assert server["locked"] is True and server["locked_reason"] == "owner's lock"


def test_without_locking(cloud):
    fence(cloud)
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    cloud.run("host_evacuate", host="compute1", lock_instances=False)
    assert action_names(cloud, "vm1") == ["evacuate"]


def test_lock_without_reason_before_microversion_2_73(monkeypatch):
    cloud = make_cloud(monkeypatch, max_microversion="2.72")
    fence(cloud)
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1")
    assert not result["failed"], result
    assert server_actions(cloud, "vm1") == [("lock", None), ("evacuate", {}), ("unlock", None)]


def test_check_mode_reports_the_plan_and_changes_nothing(cloud):
    fence(cloud)
    cloud.nova.add_server("active", "compute1", metadata=HA)
    cloud.nova.add_server("error", "compute1", vm_state="error", metadata=HA)
    result = cloud.run("host_evacuate", check_mode=True, host="compute1")
    assert result["changed"] and not result["failed"] and cloud.mutations() == []
    assert result["recovery_method_used"] == "auto"
    entries = by_name(result)
    assert entries["active"]["message"] == "check mode: would lock, evacuate to the scheduler's choice, unlock"
    assert entries["error"]["message"] == ("check mode: would lock, evacuate to the scheduler's choice, stop, "
                                           "reset to error, unlock")
    assert entries["error"]["expected_vm_state"] == "error" and entries["error"]["started_at"] is None
    assert all(s["host"] == "compute1" for s in cloud.nova.servers.values())


# --- failures ---------------------------------------------------------------------------------------------

def test_a_failed_rebuild_fails_the_task_but_reports_every_instance(cloud):
    fence(cloud)
    good = cloud.nova.add_server("good", "compute1", metadata=HA)
    bad = cloud.nova.add_server("bad", "compute1", metadata=HA)
    cloud.nova.fail_rebuild.add(bad["id"])
    result = cloud.run("host_evacuate", host="compute1")
    assert result["failed"] and result["changed"]
    assert "1 of 2 selected instances of compute1 were not recovered" in result["msg"] and "bad (" in result["msg"]
    entries = by_name(result)
    assert entries["good"]["action"] == "evacuated" and good["vm_state"] == "active"
    assert entries["bad"]["action"] == "failed" and "evacuation failed: vm_state error" in entries["bad"]["message"]
    assert result["summary"] == dict(selected=2, evacuated=1, already_evacuated=0, failed=1)
    assert bad["locked"] is False  # unlocked although it failed


def test_no_valid_host_fails_quickly(cloud):
    fence(cloud)
    for host in ("compute2", "compute3"):
        cloud.nova.compute_service(host)["disabled"] = True
    cloud.nova.add_server("vm1", "compute1", vm_state="error", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1")
    entry = by_name(result)["vm1"]
    assert result["failed"] and entry["action"] == "failed"
    assert "migration error" in entry["message"] and entry["seconds"] < 10


def test_unconfirmed_evacuation_fails_after_the_wait_and_is_never_repeated(cloud):
    fence(cloud)
    stuck = cloud.nova.add_server("stuck", "compute1", metadata=HA)
    cloud.nova.stuck_rebuild.add(stuck["id"])
    result = cloud.run("host_evacuate", host="compute1", wait_period_after_evacuation=30)
    entry = by_name(result)["stuck"]
    assert result["failed"] and "evacuation not confirmed within 30 s" in entry["message"]
    assert 30 <= entry["seconds"] <= 32
    # The rebuild is still under way on the destination: a re-run waits for it and does not evacuate again.
    result = cloud.run("host_evacuate", host="compute1", wait_period_after_evacuation=10)
    entry = by_name(result)["stuck"]
    assert result["failed"] and evacuations(cloud) == []
    assert "did not finish within 10 s; it is not started a second time" in entry["message"]


def test_stop_after_evacuation_not_confirmed_fails(monkeypatch):
    cloud = make_cloud(monkeypatch, power_seconds=100)
    fence(cloud)
    cloud.nova.add_server("stopme", "compute1", vm_state="paused", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1", wait_period_after_power_off=20)
    entry = by_name(result)["stopme"]
    assert result["failed"] and "but not stopped within 20 s" in entry["message"]


# --- resuming an interrupted recovery ----------------------------------------------------------------------

def test_an_evacuation_in_progress_is_waited_for_not_repeated(cloud):
    fence(cloud)
    moving = cloud.nova.add_server("moving", "compute1", metadata=HA)
    cloud.nova.add_server("other", "compute1", metadata=HA)
    cloud.conn.compute.post("/servers/%s/action" % moving["id"], json={"evacuate": {}}, microversion="2.53")
    assert moving["task_state"] == "rebuilding" and moving["host"] == "compute1"
    result = cloud.run("host_evacuate", host="compute1")
    assert not result["failed"], result
    entries = by_name(result)
    assert entries["moving"]["action"] == "already_evacuated"
    assert "waited for the evacuation started before this run (migration accepted)" in entries["moving"]["message"]
    assert entries["moving"]["waited"] and not entries["other"]["waited"]
    assert entries["moving"]["vm_state"] == "active" and moving["host"] != "compute1"
    assert entries["other"]["action"] == "evacuated"
    assert [entry[0] for entry in evacuations(cloud)] == ["other"]
    assert result["summary"] == dict(selected=2, evacuated=1, already_evacuated=1, failed=0)


def test_an_evacuation_in_progress_already_off_the_host_is_waited_for(cloud):
    fence(cloud)
    moving = cloud.nova.add_server("moving", "compute1", metadata=HA)
    cloud.conn.compute.post("/servers/%s/action" % moving["id"], json={"evacuate": {}}, microversion="2.53")
    cloud.nova.sleep(2)  # scheduled: the instance belongs to its destination already, its rebuild runs
    assert moving["host"] != "compute1" and moving["task_state"] == "rebuild_spawning"
    result = cloud.run("host_evacuate", host="compute1")
    entry = by_name(result)["moving"]
    assert entry["action"] == "already_evacuated" and entry["vm_state"] == "active"
    assert entry["vm_state_before"] is None and "its state before is unknown" in entry["message"]
    assert not result["changed"] and evacuations(cloud) == []


def test_a_failed_earlier_evacuation_is_retried(cloud):
    fence(cloud)
    server = cloud.nova.add_server("vm1", "compute1", metadata=HA)
    cloud.nova.add_migration(server["id"], "error")
    result = cloud.run("host_evacuate", host="compute1")
    assert by_name(result)["vm1"]["action"] == "evacuated" and len(evacuations(cloud)) == 1


def test_an_interrupted_run_is_finished_by_the_next(cloud):
    """A run locked a paused instance (recording its state), reset it, evacuated it and was then killed."""
    fence(cloud)
    server = cloud.nova.add_server("paused", "compute1", vm_state="paused", metadata=HA)
    marker = "hastack.openstack.host_evacuate from compute1: vm_state=paused task_state=- power_state=3"
    compute = cloud.conn.compute
    compute.post("/servers/%s/action" % server["id"], json={"lock": {"locked_reason": marker}}, microversion="2.73")
    compute.post("/servers/%s/action" % server["id"], json={"os-resetState": {"state": "error"}})
    compute.post("/servers/%s/action" % server["id"], json={"evacuate": {}}, microversion="2.53")
    cloud.nova.sleep(60)
    assert server["host"] != "compute1" and server["vm_state"] == "active"  # rebuilt error instances come back active
    result = cloud.run("host_evacuate", host="compute1")
    assert not result["failed"] and result["changed"], result
    entry = by_name(result)["paused"]
    assert entry["action"] == "already_evacuated"
    assert (entry["vm_state_before"], entry["expected_vm_state"], entry["vm_state"]) == ("paused", "stopped", "stopped")
    assert server_actions(cloud, "paused")[-2:] == [("os-stop", None), ("unlock", None)]
    assert evacuations(cloud) == [] and server["locked"] is False
    # Finished: the next run finds nothing.
    assert cloud.run("host_evacuate", host="compute1")["instances"] == []


def test_a_run_interrupted_before_the_evacuation_keeps_the_recorded_state(cloud):
    """Locked and reset to error by an interrupted run: the next run still treats it as the paused instance it was."""
    fence(cloud)
    server = cloud.nova.add_server("paused", "compute1", vm_state="paused", metadata=HA)
    marker = "hastack.openstack.host_evacuate from compute1: vm_state=paused task_state=- power_state=3"
    server.update(vm_state="error", locked=True, locked_reason=marker)
    result = cloud.run("host_evacuate", host="compute1", ignore_instances_in_error_state=True)
    entry = by_name(result)["paused"]
    assert entry["action"] == "evacuated" and entry["vm_state_before"] == "paused" and entry["vm_state"] == "stopped"
    assert action_names(cloud, "paused") == ["evacuate", "os-stop", "unlock"]


def test_check_mode_reports_an_evacuation_in_progress(cloud):
    fence(cloud)
    moving = cloud.nova.add_server("moving", "compute1", metadata=HA)
    cloud.conn.compute.post("/servers/%s/action" % moving["id"], json={"evacuate": {}}, microversion="2.53")
    result = cloud.run("host_evacuate", check_mode=True, host="compute1")
    entry = by_name(result)["moving"]
    assert entry["action"] == "already_evacuated" and "started earlier (migration accepted)" in entry["message"]
    assert not result["changed"] and cloud.mutations() == []


# --- reserved hosts ------------------------------------------------------------------------------------------

def test_reserved_host_flow_prepares_then_targets_the_host(cloud):
    fence(cloud)
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    cloud.nova.add_server("vm2", "compute1", vm_state="stopped")
    result = cloud.run("host_evacuate", host="compute1", recovery_method="reserved_host", reserved_hosts=["spare1"])
    assert not result["failed"], result
    assert result["recovery_method_used"] == "reserved_host" and result["reserved_host"] == "spare1"
    assert all(e["target_host"] == "spare1" and e["action"] == "evacuated" for e in result["instances"])
    assert sorted(evacuations(cloud)) == [("vm1", {"host": "spare1"}, "2.53"), ("vm2", {"host": "spare1"}, "2.53")]
    # Enabled before anything is sent there (Nova's scheduler refuses a disabled host).
    first = cloud.mutations()[0]
    assert first.method == "PUT" and first.body == {"status": "enabled"}
    assert first.path == "/os-services/%s" % cloud.nova.compute_service("spare1")["uuid"]
    assert cloud.nova.compute_service("spare1")["disabled"] is False


def test_without_enabling_the_reserved_host_nova_would_refuse(cloud):
    from openstack import exceptions

    fence(cloud)
    server = cloud.nova.add_server("vm1", "compute1")
    exceptions.raise_from_response(cloud.conn.compute.post(
        "/servers/%s/action" % server["id"], json={"evacuate": {"host": "spare1"}}, microversion="2.53"))
    cloud.nova.sleep(30)
    assert server["vm_state"] == "error" and server["host"] == "compute1"


def test_reserved_hosts_from_the_segment_newest_first(monkeypatch):
    cloud = make_cloud(monkeypatch, masakari=True)
    fence(cloud)
    ha = cloud.conn.instance_ha
    segment = ha.create_segment(name="computes", recovery_method="reserved_host", service_type="COMPUTE")
    for name, reserved, maintenance in (("compute1", False, True), ("spare2", True, False), ("spare1", True, False),
                                        ("compute3", True, True)):
        ha.create_host(segment.uuid, name=name, type="COMPUTE", control_attributes="SSH", reserved=reserved,
                       on_maintenance=maintenance)
        cloud.masakari.host_named(name)["created_at"] = "2026-01-0%dT00:00:00" % len(cloud.masakari.hosts)
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1", recovery_method="reserved_host", segment="computes")
    assert not result["failed"], result
    assert result["reserved_host"] == "spare1" and by_name(result)["vm1"]["target_host"] == "spare1"
    assert cloud.masakari.host_named("spare1")["reserved"] is False
    assert cloud.masakari.host_named("spare2")["reserved"] is True
    updates = cloud.masakari_mutations()[-1:]
    assert updates[0].method == "PUT" and updates[0].body == {"host": {"reserved": False}}


def test_auto_does_not_ask_masakari(cloud):
    fence(cloud)  # this cloud has no Masakari: a call to it would fail the test
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1", segment="computes")
    assert not result["failed"] and result["recovery_method_used"] == "auto", result


def test_unknown_segment_fails(monkeypatch):
    cloud = make_cloud(monkeypatch, masakari=True)
    fence(cloud)
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1", recovery_method="reserved_host", segment="nope")
    assert result["failed"] and "no segment named or with UUID 'nope'" in result["msg"]
    assert cloud.mutations() == []


def test_reserved_host_without_any_fails_before_changing_anything(cloud):
    fence(cloud)
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1", recovery_method="reserved_host", reserved_hosts=["compute1"])
    assert result["failed"] and "no usable reserved host" in result["msg"]
    assert cloud.mutations() == []


def test_next_reserved_host_takes_what_the_first_could_not(cloud):
    fence(cloud)
    cloud.nova.compute_service("spare1")["capacity"] = 1
    for index in range(3):
        cloud.nova.add_server("vm%d" % index, "compute1", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1", recovery_method="reserved_host",
                       reserved_hosts=["spare1", "spare2"], parallel=1)
    assert not result["failed"], result
    assert result["reserved_host"] == "spare2"
    hosts = sorted(e["target_host"] for e in result["instances"])
    assert hosts == ["spare1", "spare2", "spare2"]
    # Instances the first host could not take went into error; they end active, as they were before.
    assert all(e["vm_state"] == "active" and e["expected_vm_state"] == "active" for e in result["instances"])
    assert [entry[1].get("host") for entry in evacuations(cloud)] == ["spare1", "spare1", "spare1", "spare2", "spare2"]


def test_reserved_hosts_exhausted_fails(cloud):
    fence(cloud)
    cloud.nova.compute_service("spare1")["capacity"] = 1
    for index in range(3):
        cloud.nova.add_server("vm%d" % index, "compute1", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1", recovery_method="reserved_host", reserved_hosts=["spare1"])
    assert result["failed"] and result["recovery_method_used"] == "reserved_host"
    assert result["summary"]["evacuated"] == 1 and result["summary"]["failed"] == 2
    assert len(result["instances"]) == 3


def test_a_down_reserved_host_is_passed_over(cloud):
    fence(cloud)
    cloud.nova.kill_host("spare1", seconds_ago=300)
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1", recovery_method="reserved_host",
                       reserved_hosts=["spare1", "spare2"])
    assert result["reserved_host"] == "spare2" and cloud.nova.compute_service("spare1")["disabled"] is True


def test_no_usable_reserved_host_fails_every_instance(cloud):
    fence(cloud)
    cloud.nova.kill_host("spare1", seconds_ago=300)
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1", recovery_method="reserved_host", reserved_hosts=["spare1"])
    entry = by_name(result)["vm1"]
    assert result["failed"] and entry["action"] == "failed"
    assert entry["message"] == "no usable reserved host (spare1: its nova-compute service is down)"
    assert cloud.mutations() == []


def test_rh_priority_falls_back_to_auto(cloud):
    fence(cloud)
    cloud.nova.compute_service("spare1")["capacity"] = 1
    for index in range(2):
        cloud.nova.add_server("vm%d" % index, "compute1", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1", recovery_method="rh_priority", reserved_hosts=["spare1"],
                       parallel=1)
    assert not result["failed"], result
    assert result["recovery_method_used"] == "auto" and result["reserved_host"] is None
    assert [entry[1] for entry in evacuations(cloud)] == [{"host": "spare1"}, {"host": "spare1"}, {}]
    assert sorted(e["target_host"] for e in result["instances"])[0] in ("compute2", "compute3")


def test_rh_priority_without_reserved_host_is_auto(cloud):
    fence(cloud)
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1", recovery_method="rh_priority")
    assert result["recovery_method_used"] == "auto" and evacuations(cloud)[0][1] == {}


def test_auto_priority_falls_back_to_the_reserved_host(cloud):
    fence(cloud)
    for host in ("compute2", "compute3"):
        cloud.nova.compute_service(host)["disabled"] = True  # nowhere for the scheduler to go
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1", recovery_method="auto_priority", reserved_hosts=["spare1"])
    assert not result["failed"], result
    assert result["recovery_method_used"] == "reserved_host" and result["reserved_host"] == "spare1"
    assert [entry[1] for entry in evacuations(cloud)] == [{}, {"host": "spare1"}]
    entry = by_name(result)["vm1"]
    assert entry["vm_state"] == "active" and entry["expected_vm_state"] == "active" and entry["target_host"] == "spare1"


def test_reserved_host_added_to_the_failed_hosts_aggregates(cloud):
    fence(cloud)
    rack = cloud.nova.add_aggregate("rack1", hosts=["compute1", "compute2"])
    other = cloud.nova.add_aggregate("rack2", hosts=["compute3"])
    has_it = cloud.nova.add_aggregate("ssd", hosts=["compute1", "spare1"])
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    result = cloud.run("host_evacuate", host="compute1", recovery_method="reserved_host", reserved_hosts=["spare1"],
                       add_reserved_host_to_aggregate=True)
    assert not result["failed"], result
    assert rack["hosts"] == ["compute1", "compute2", "spare1"] and other["hosts"] == ["compute3"]
    assert has_it["hosts"] == ["compute1", "spare1"]
    adds = [r for r in cloud.mutations() if r.path.startswith("/os-aggregates/")]
    assert [(r.path, r.body) for r in adds] == [("/os-aggregates/%d/action" % rack["id"], {"add_host": {"host": "spare1"}})]


def test_check_mode_names_the_reserved_host_it_would_use(cloud):
    fence(cloud)
    cloud.nova.kill_host("spare1", seconds_ago=300)
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    result = cloud.run("host_evacuate", check_mode=True, host="compute1", recovery_method="reserved_host",
                       reserved_hosts=["spare1", "spare2"])
    assert result["reserved_host"] == "spare2" and result["recovery_method_used"] == "reserved_host"
    assert "evacuate to spare2" in by_name(result)["vm1"]["message"] and cloud.mutations() == []


def test_check_mode_falls_back_when_no_reserved_host_is_usable(cloud):
    fence(cloud)
    cloud.nova.kill_host("spare1", seconds_ago=300)
    cloud.nova.add_server("vm1", "compute1", metadata=HA)
    result = cloud.run("host_evacuate", check_mode=True, host="compute1", recovery_method="rh_priority",
                       reserved_hosts=["spare1"])
    assert result["recovery_method_used"] == "auto" and result["reserved_host"] is None
    failing = cloud.run("host_evacuate", check_mode=True, host="compute1", recovery_method="reserved_host",
                        reserved_hosts=["spare1"])
    assert failing["failed"] and "no usable reserved host among spare1" in failing["msg"]


# --- never twice: another run acting on the same host ----------------------------------------------------

def test_an_evacuation_started_by_another_run_after_the_survey_is_waited_for(cloud, monkeypatch):
    """One worker: while this run evacuates `first`, another run (an earlier one still going) evacuates `second`.
    When this run gets to `second`, it must see that and wait, not reset it to error and evacuate it again."""
    fence(cloud)
    first = cloud.nova.add_server("first", "compute1", metadata=HA)
    second = cloud.nova.add_server("second", "compute1", metadata=HA)
    original = cloud.nova._evacuate

    def evacuate_and_race(server, argument, microversion):
        answer = original(server, argument, microversion)
        if server is first:
            original(second, {}, microversion)  # the other run's evacuation, after this run's survey
        return answer

    monkeypatch.setattr(cloud.nova, "_evacuate", evacuate_and_race)
    result = cloud.run("host_evacuate", host="compute1", parallel=1)
    assert not result["failed"], result
    entries = by_name(result)
    assert entries["first"]["action"] == "evacuated"
    assert entries["second"]["action"] == "already_evacuated", entries["second"]
    assert [entry[0] for entry in evacuations(cloud)] == ["first"]
    assert "resetState" not in str(action_names(cloud, "second"))
    assert second["host"] != "compute1" and second["vm_state"] == "active"


def test_an_instance_in_a_rebuild_task_is_never_reset_and_evacuated_again(cloud):
    """Nova sets task_state rebuilding before it records the evacuation's migration: in that window the instance
    looks like one with a stale task (upstream resets those to error and evacuates them)."""
    fence(cloud)
    cloud.nova.add_server("rebuilding", "compute1", metadata=HA, task_state="rebuilding")
    result = cloud.run("host_evacuate", host="compute1", wait_period_after_evacuation=5)
    assert result["failed"]
    entry = by_name(result)["rebuilding"]
    assert entry["action"] == "failed" and "is not started a second time" in entry["message"], entry
    assert evacuations(cloud) == []
    assert "resetState" not in str(action_names(cloud, "rebuilding"))


def test_runs_for_one_host_never_overlap_on_a_machine(cloud, tmp_path, monkeypatch):
    import fcntl
    import tempfile

    fence(cloud)
    cloud.nova.add_server("vm", "compute1", metadata=HA)
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    with open(tmp_path / "hastack-host-evacuate-compute1.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # an earlier run of this host, still going
        result = cloud.run("host_evacuate", host="compute1", lock_timeout=30)
    assert result["failed"] and "another recovery of compute1 is still running" in result["msg"], result
    assert evacuations(cloud) == []
    result = cloud.run("host_evacuate", host="compute1")
    assert not result["failed"] and by_name(result)["vm"]["action"] == "evacuated"
