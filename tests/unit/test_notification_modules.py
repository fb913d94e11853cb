"""The Masakari notification modules (notification, notification_info) and the fake API's notifications.

Like test_masakari_modules.py: the modules run in-process against tests/unit/fake_instance_ha.py, and every test
runs twice, with the proxy-level fake ("fake_proxy") and with openstacksdk's own Connection and instance_ha Proxy
over a session the same in-memory API answers ("openstacksdk").
"""

import datetime

import pytest
from ansible.module_utils import basic
from openstack import exceptions

from fake_instance_ha import FakeConnection, FakeMasakariAPI, SdkConnection
from module_runner import assert_documented, run_module

pytestmark = pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning")

BACKENDS = dict(fake_proxy=FakeConnection, openstacksdk=SdkConnection)
HOST_DOWN = dict(event="STOPPED", host_status="NORMAL", cluster_status="OFFLINE")
VM_CRASH = dict(instance_uuid="b9837317-a5b8-44f4-93b4-45500c562bb8", vir_domain_event="STOPPED_FAILED",
                event="LIFECYCLE")
NOVA_DOWN = dict(process_name="nova-compute", event="STOPPED")
WORKFLOW = [dict(name="StopInstanceTask", progress=1.0, state="SUCCESS",
                 progress_details=[dict(timestamp="2026-11-23 12:00:02.842031", progress="0.0", message="Stopping"),
                                   dict(timestamp="2026-11-23 12:00:08.442617", progress="1.0", message="Stopped")])]


class Cloud:
    """A fake cloud with segment rack1 (compute1, compute2) and rack2 (compute3)."""

    def __init__(self, backend, **api_options):
        self.api = FakeMasakariAPI(**api_options)
        self.conn = BACKENDS[backend](self.api)
        self.proxy = self.conn.instance_ha
        self.segments = {}
        self.hosts = {}
        for segment, hosts in (("rack1", ("compute1", "compute2")), ("rack2", ("compute3",))):
            self.segments[segment] = self.proxy.create_segment(name=segment, recovery_method="auto",
                                                               service_type="COMPUTE").uuid
            for name in hosts:
                self.hosts[name] = self.proxy.create_host(self.segments[segment], name=name, type="COMPUTE",
                                                          control_attributes="SSH").uuid

    def run(self, module, check_mode=False, **args):
        args.setdefault("cloud", "admin")
        self.proxy.calls.clear()
        result = run_module(module, args, self.conn, check_mode=check_mode)
        if not result["failed"]:
            assert_documented(module, result)
        return result

    def mutations(self):
        return self.proxy.mutating_calls()

    def notify(self, hostname="compute1", type="COMPUTE_HOST", payload=None, generated_time="2026-11-23T12:00:00Z"):
        return self.proxy.create_notification(type=type, hostname=hostname, generated_time=generated_time,
                                              payload=dict(payload if payload is not None else HOST_DOWN))


@pytest.fixture(params=sorted(BACKENDS))
def cloud(request):
    return Cloud(request.param)


# --- the fake follows the notifications API ----------------------------------------------------------------

@pytest.mark.parametrize(("body", "reason"), [
    (dict(type="COMPUTE_HOST", hostname="compute1", payload=HOST_DOWN), "'generated_time' is a required property"),
    (dict(type="COMPUTE_HOST", hostname="compute1", generated_time="2026-11-23T12:00:00", payload=HOST_DOWN,
          status="new"), "'status' was unexpected"),
    (dict(type="HOST", hostname="compute1", generated_time="2026-11-23T12:00:00", payload=HOST_DOWN),
     "is not one of"),
    (dict(type="COMPUTE_HOST", hostname="compute 1", generated_time="2026-11-23T12:00:00", payload=HOST_DOWN),
     "does not match"),
    (dict(type="COMPUTE_HOST", hostname="compute1", generated_time="yesterday", payload=HOST_DOWN),
     "is not a 'date-time'"),
    (dict(type="COMPUTE_HOST", hostname="compute1", generated_time="2026-11-23T12:00:00",
          payload=dict(host_status="NORMAL")), "'event' is a required property"),
    (dict(type="COMPUTE_HOST", hostname="compute1", generated_time="2026-11-23T12:00:00",
          payload=dict(event="stopped")), "'stopped' is not one of ['STARTED', 'STOPPED']"),
    (dict(type="COMPUTE_HOST", hostname="compute1", generated_time="2026-11-23T12:00:00",
          payload=dict(event="STOPPED", host_status="DOWN")), "is not one of ['NORMAL', 'UNKNOWN']"),
    (dict(type="COMPUTE_HOST", hostname="compute1", generated_time="2026-11-23T12:00:00",
          payload=dict(event="STOPPED", process_name="x")), "'process_name' was unexpected"),
    (dict(type="PROCESS", hostname="compute1", generated_time="2026-11-23T12:00:00", payload=dict(event="STOPPED")),
     "'process_name' is a required property"),
    (dict(type="VM", hostname="compute1", generated_time="2026-11-23T12:00:00",
          payload=dict(VM_CRASH, instance_uuid="not-a-uuid")), "is not a 'uuid'"),
    (dict(type="VM", hostname="compute1", generated_time="2026-11-23T12:00:00", payload=dict(event="LIFECYCLE")),
     "is a required property"),
    (dict(type="PROCESS", hostname="compute1", generated_time="2026-11-23T12:00:00",
          payload=dict(process_name="nova-compute", event=1)), "is not of type 'string'"),
])
def test_fake_validates_a_new_notification_like_the_api(cloud, body, reason):
    with pytest.raises(exceptions.BadRequestException) as raised:
        cloud.proxy.create_notification(**body)
    assert reason in str(raised.value)
    assert cloud.api.notifications == []


def test_fake_refuses_a_host_no_segment_holds_with_400(cloud):
    with pytest.raises(exceptions.BadRequestException, match="Host with name compute9 could not be found."):
        cloud.notify("compute9")
    with pytest.raises(exceptions.BadRequestException, match="Host with name Compute1 could not be found."):
        cloud.notify("Compute1")  # case matters


@pytest.mark.parametrize(("type", "payload"), [("COMPUTE_HOST", HOST_DOWN), ("VM", VM_CRASH), ("PROCESS", NOVA_DOWN)])
def test_fake_refuses_any_notification_of_a_host_on_maintenance_with_409(cloud, type, payload):
    cloud.api.hosts[cloud.hosts["compute1"]]["on_maintenance"] = True
    with pytest.raises(exceptions.ConflictException, match="is ignored as the host is already under maintenance"):
        cloud.notify(type=type, payload=payload)
    assert cloud.api.notifications == []


def test_fake_duplicate_is_same_type_host_and_payload_within_the_interval(cloud):
    first = cloud.notify(generated_time="2026-11-23T12:00:00Z")
    assert first.status == "new" and first.source_host_uuid == cloud.hosts["compute1"]
    cloud.api.set_notification_status(first.notification_uuid, "finished")  # any status counts
    with pytest.raises(exceptions.ConflictException, match="of type COMPUTE_HOST is duplicate"):
        cloud.notify(generated_time="2026-11-23T12:03:00Z")  # 180 s later: still within
    cloud.notify(generated_time="2026-11-23T12:00:00Z", payload=dict(HOST_DOWN, cluster_status="ONLINE"))
    cloud.notify("compute2", generated_time="2026-11-23T12:00:00Z")
    cloud.notify(type="PROCESS", payload=NOVA_DOWN)
    cloud.notify(generated_time="2026-11-23T12:03:01Z")  # 181 s later: new
    assert len(cloud.api.notifications) == 5


def test_fake_answers_no_hostname_and_lists_newest_first(cloud):
    first = cloud.notify("compute1")
    second = cloud.notify("compute2")
    listed = list(cloud.proxy.notifications())
    assert [n.notification_uuid for n in listed] == [second.notification_uuid, first.notification_uuid]
    assert all(n.hostname is None for n in listed)
    assert cloud.proxy.get_notification(first.notification_uuid).hostname is None


def test_fake_list_filters_and_pages(cloud, monkeypatch):
    cloud.notify("compute1", generated_time="2026-11-23T12:00:00")
    cloud.notify("compute2", type="PROCESS", payload=NOVA_DOWN, generated_time="2026-11-23T12:01:00")
    third = cloud.notify("compute3", generated_time="2026-11-23T12:02:00")
    cloud.api.set_notification_status(third.notification_uuid, "running")
    assert [n.status for n in cloud.proxy.notifications(status="running")] == ["running"]
    assert [n.type for n in cloud.proxy.notifications(type="PROCESS")] == ["PROCESS"]
    assert len(list(cloud.proxy.notifications(source_host_uuid=cloud.hosts["compute1"]))) == 1
    assert len(list(cloud.proxy.notifications(generated_since="2026-11-23T12:01:00Z"))) == 2
    assert len(list(cloud.proxy.notifications(generated_since="2026-11-23T13:01:00+01:00"))) == 2
    pages = []
    original = cloud.api.list_notifications
    monkeypatch.setattr(cloud.api, "list_notifications", lambda query: pages.append(dict(query)) or original(query))
    assert len(list(cloud.proxy.notifications(limit=2))) == 3
    assert [str(page["marker"]) if "marker" in page else None for page in pages] == [None, "2", "1"]  # ids
    with pytest.raises(exceptions.BadRequestException, match="Invalid generated-since value"):
        list(cloud.proxy.notifications(generated_since="soon"))


def test_fake_recovery_workflow_details_need_microversion_1_1(cloud):
    created = cloud.notify(type="VM", payload=VM_CRASH)
    cloud.api.set_notification_status(created.notification_uuid, "finished", WORKFLOW)
    assert cloud.proxy.get_notification(created.notification_uuid).recovery_workflow_details is None
    cloud.proxy.default_microversion = "1.1"
    details = cloud.proxy.get_notification(created.notification_uuid).recovery_workflow_details
    assert [(d.name, d.state, len(d.progress_details)) for d in details] == [("StopInstanceTask", "SUCCESS", 2)]
    with pytest.raises(exceptions.NotFoundException, match="No notification with id"):
        cloud.proxy.get_notification("0c2e9d8a-52f1-4d0e-b4b9-7f1f0d1c8e11")
    with pytest.raises(exceptions.NotFoundException):
        cloud.proxy.get_notification(created)  # the integer id of a resource object, as for segments


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_fake_refuses_a_microversion_above_its_maximum(backend):
    old = Cloud(backend, max_microversion="1.0")
    created = old.notify()
    old.proxy.default_microversion = "1.1"
    with pytest.raises(exceptions.HttpException, match="Version 1.1 is not supported by the API"):
        old.proxy.get_notification(created.notification_uuid)


# --- notification_info -----------------------------------------------------------------------------------------

def test_info_lists_newest_first_with_host_names_and_changes_nothing(cloud):
    first = cloud.notify("compute1", generated_time="2026-11-23T12:00:00")
    second = cloud.notify("compute3", type="PROCESS", payload=NOVA_DOWN, generated_time="2026-11-23T12:01:00")
    result = cloud.run("notification_info")
    assert not result["changed"] and not result["failed"]
    assert cloud.mutations() == []
    listed = result["notifications"]
    assert [n["notification_uuid"] for n in listed] == [second.notification_uuid, first.notification_uuid]
    assert [n["hostname"] for n in listed] == ["compute3", "compute1"]
    assert listed[0] == dict(
        id=second.id, notification_uuid=second.notification_uuid, type="PROCESS", hostname="compute3",
        source_host_uuid=cloud.hosts["compute3"], failover_segment_uuid=cloud.segments["rack2"],
        generated_time="2026-11-23T12:01:00.000000", status="new", payload=NOVA_DOWN,
        created_at="2026-11-23T12:00:01.000000", updated_at=None, recovery_workflow_details=None)
    assert [name for name, dummy in cloud.proxy.calls if name.startswith("get_notification")] == []


@pytest.mark.parametrize(("filters", "expected"), [
    (dict(), ["c3-host", "c2-vm", "c1-process", "c1-host"]),
    (dict(hostname="compute1"), ["c1-process", "c1-host"]),
    (dict(hostname="compute2", type="VM"), ["c2-vm"]),
    (dict(hostname="compute9"), []),
    (dict(type="COMPUTE_HOST"), ["c3-host", "c1-host"]),
    (dict(status="finished"), ["c1-host"]),
    (dict(status="error", type="COMPUTE_HOST"), []),
    (dict(generated_since="2026-11-23T12:02:00"), ["c3-host", "c2-vm"]),
    (dict(generated_since="2026-11-23T13:02:00+01:00"), ["c3-host", "c2-vm"]),
    (dict(generated_since=str(int(datetime.datetime(2026, 11, 23, 12, 3, tzinfo=datetime.timezone.utc)
                                  .timestamp()))), ["c3-host"]),
    (dict(limit=2), ["c3-host", "c2-vm"]),
    (dict(limit=0), []),
    (dict(limit=10, hostname="compute1"), ["c1-process", "c1-host"]),
])
def test_info_filters(cloud, filters, expected):
    labels = {}
    for label, host, type, payload, minute in (("c1-host", "compute1", "COMPUTE_HOST", HOST_DOWN, 0),
                                               ("c1-process", "compute1", "PROCESS", NOVA_DOWN, 1),
                                               ("c2-vm", "compute2", "VM", VM_CRASH, 2),
                                               ("c3-host", "compute3", "COMPUTE_HOST", HOST_DOWN, 3)):
        created = cloud.notify(host, type=type, payload=payload, generated_time="2026-11-23T12:0%d:00" % minute)
        labels[created.notification_uuid] = label
    cloud.api.set_notification_status(next(u for u, label in labels.items() if label == "c1-host"), "finished")
    result = cloud.run("notification_info", check_mode=True, **filters)
    assert not result["failed"] and not result["changed"], result
    assert [labels[n["notification_uuid"]] for n in result["notifications"]] == expected


def test_info_hostname_and_type_reach_the_api_as_filters(cloud):
    cloud.notify("compute1")
    cloud.run("notification_info", hostname="compute1", type="COMPUTE_HOST", status="new",
              generated_since="2026-11-23T12:00:00")
    assert [call for call in cloud.proxy.calls if call[0] == "notifications"] == [("notifications", dict(
        source_host_uuid=cloud.hosts["compute1"], type="COMPUTE_HOST", status="new",
        generated_since="2026-11-23T12:00:00.000000Z"))]


def test_info_limit_asks_for_one_page_only(cloud, monkeypatch):
    for minute in range(5):
        cloud.notify(generated_time="2026-11-23T12:%02d:00" % (minute * 4))
    pages = []
    original = cloud.api.list_notifications
    monkeypatch.setattr(cloud.api, "list_notifications", lambda query: pages.append(query) or original(query))
    result = cloud.run("notification_info", limit=2)
    assert len(result["notifications"]) == 2 and len(pages) == 1


def test_info_by_id_gives_the_recovery_workflow_details(cloud):
    created = cloud.notify("compute2", type="VM", payload=VM_CRASH)
    cloud.notify("compute1")
    cloud.api.set_notification_status(created.notification_uuid, "finished", WORKFLOW)
    result = cloud.run("notification_info", id=created.notification_uuid)
    assert not result["failed"]
    [found] = result["notifications"]
    assert found["notification_uuid"] == created.notification_uuid and found["hostname"] == "compute2"
    assert found["status"] == "finished" and found["updated_at"] is not None
    assert found["recovery_workflow_details"] == WORKFLOW
    assert cloud.proxy.default_microversion is None  # put back after the request


def test_info_by_id_without_workflow_yet_is_an_empty_list(cloud):
    created = cloud.notify()
    result = cloud.run("notification_info", notification_uuid=created.notification_uuid)
    assert result["notifications"][0]["recovery_workflow_details"] == []


@pytest.mark.parametrize("notification_id", ["0c2e9d8a-52f1-4d0e-b4b9-7f1f0d1c8e11", "4"])
def test_info_by_unknown_id_is_empty(cloud, notification_id):
    cloud.notify()
    result = cloud.run("notification_info", id=notification_id)
    assert not result["failed"] and result["notifications"] == []


def test_info_by_id_is_filtered_too(cloud):
    created = cloud.notify("compute1")
    assert cloud.run("notification_info", id=created.notification_uuid, hostname="compute2")["notifications"] == []
    assert cloud.run("notification_info", id=created.notification_uuid, type="VM")["notifications"] == []
    assert len(cloud.run("notification_info", id=created.notification_uuid, type="COMPUTE_HOST")["notifications"]) == 1


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_info_by_id_below_microversion_1_1_warns(backend, monkeypatch):
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, warning: warnings.append(warning))
    cloud = Cloud(backend, max_microversion="1.0")
    created = cloud.notify()
    result = cloud.run("notification_info", id=created.notification_uuid)
    assert not result["failed"], result
    assert result["notifications"][0]["recovery_workflow_details"] is None
    assert warnings == ["The Masakari API does not support microversion 1.1: no recovery_workflow_details"]


def test_info_of_a_host_removed_since_has_no_name(cloud):
    created = cloud.notify("compute2")
    cloud.api.set_notification_status(created.notification_uuid, "finished")
    cloud.proxy.delete_host(cloud.hosts["compute2"], cloud.segments["rack1"])
    [found] = cloud.run("notification_info")["notifications"]
    assert found["hostname"] is None and found["failover_segment_uuid"] is None
    assert found["source_host_uuid"] == cloud.hosts["compute2"]


@pytest.mark.parametrize(("args", "message"), [
    (dict(generated_since="last tuesday"), "generated_since: not ISO 8601 nor seconds since the epoch"),
    (dict(generated_since="2026-13-01"), "generated_since:"),
    (dict(limit=-1), "limit must be 0 or more"),
    (dict(status="done"), "value of status must be one of"),
])
def test_info_invalid_options_fail_before_listing(cloud, args, message):
    result = cloud.run("notification_info", **args)
    assert result["failed"] and message in result["msg"]
    assert [name for name, dummy in cloud.proxy.calls if name == "notifications"] == []


# --- notification ------------------------------------------------------------------------------------------

def test_notification_creates_one_as_a_monitor_does(cloud):
    result = cloud.run("notification", type="COMPUTE_HOST", hostname="compute1", payload=HOST_DOWN,
                       generated_time="2026-11-23T13:00:00+01:00")
    assert result["changed"] and not result["failed"] and result["duplicate"] is False
    assert "refused_reason" not in result
    assert cloud.mutations() == [("create_notification", dict(
        type="COMPUTE_HOST", hostname="compute1", generated_time="2026-11-23T12:00:00.000000Z", payload=HOST_DOWN))]
    [record] = cloud.api.notifications
    notification = result["notification"]
    assert notification == dict(
        id=record["id"], notification_uuid=record["notification_uuid"], type="COMPUTE_HOST", hostname="compute1",
        source_host_uuid=cloud.hosts["compute1"], failover_segment_uuid=cloud.segments["rack1"],
        generated_time="2026-11-23T12:00:00.000000", status="new", payload=HOST_DOWN,
        created_at=record["created_at"], updated_at=None, recovery_workflow_details=None)


def test_notification_generated_time_defaults_to_now_utc(cloud):
    before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
    result = cloud.run("notification", type="PROCESS", hostname="compute3", payload=NOVA_DOWN)
    after = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    sent = datetime.datetime.strptime(result["notification"]["generated_time"], "%Y-%m-%dT%H:%M:%S.%f")
    assert before <= sent <= after


def test_notification_generated_time_as_epoch(cloud):
    epoch = int(datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.timezone.utc).timestamp())
    result = cloud.run("notification", type="VM", hostname="compute2", payload=VM_CRASH, generated_time=str(epoch))
    assert result["notification"]["generated_time"] == "2026-11-23T12:00:00.000000"


def test_notification_again_is_a_duplicate_unchanged_not_a_failure(cloud):
    args = dict(type="COMPUTE_HOST", hostname="compute1", payload=HOST_DOWN, generated_time="2026-11-23T12:00:00")
    assert cloud.run("notification", **args)["changed"]
    result = cloud.run("notification", **dict(args, generated_time="2026-11-23T12:02:00"))
    assert not result["changed"] and not result["failed"]
    assert result["duplicate"] is True
    assert result["refused_reason"] == "Notification received from host compute1 of type COMPUTE_HOST is duplicate."
    assert "notification" not in result
    assert len(cloud.api.notifications) == 1


def test_notification_duplicate_fails_when_asked_to(cloud):
    args = dict(type="PROCESS", hostname="compute1", payload=NOVA_DOWN, generated_time="2026-11-23T12:00:00")
    cloud.run("notification", **args)
    result = cloud.run("notification", fail_on_conflict=True, **args)
    assert result["failed"] and result["status_code"] == 409
    assert result["duplicate"] is True and "is duplicate" in result["refused_reason"]
    assert result["msg"].startswith("Masakari refused the notification from 'compute1': ")


def test_notification_of_a_host_on_maintenance_is_refused_unchanged(cloud):
    cloud.api.hosts[cloud.hosts["compute2"]]["on_maintenance"] = True
    result = cloud.run("notification", type="VM", hostname="compute2", payload=VM_CRASH)
    assert not result["changed"] and not result["failed"]
    assert result["duplicate"] is False and "already under maintenance" in result["refused_reason"]
    assert cloud.api.notifications == []
    result = cloud.run("notification", type="VM", hostname="compute2", payload=VM_CRASH, fail_on_conflict=True)
    assert result["failed"] and result["status_code"] == 409 and result["duplicate"] is False


def test_notification_of_an_unknown_host_fails_with_the_api_400(cloud):
    result = cloud.run("notification", type="COMPUTE_HOST", hostname="compute9", payload=HOST_DOWN)
    assert result["failed"] and result["status_code"] == 400
    assert "Masakari has no host named 'compute9'" in result["msg"]
    assert "Host with name compute9 could not be found." in result["msg"]
    assert cloud.api.notifications == []


def test_notification_payload_rejected_by_the_api_says_why(cloud):
    result = cloud.run("notification", type="COMPUTE_HOST", hostname="compute1", payload=dict(event="stopped"))
    assert result["failed"] and result["status_code"] == 400
    assert result["msg"].startswith("Masakari rejected the notification: ")
    assert "'stopped' is not one of" in result["msg"]


def test_notification_invalid_generated_time_fails_before_any_call(cloud):
    result = cloud.run("notification", type="COMPUTE_HOST", hostname="compute1", payload=HOST_DOWN,
                       generated_time="noon")
    assert result["failed"] and result["msg"].startswith("generated_time: ")
    assert cloud.proxy.calls == []


def test_notification_check_mode_sends_nothing(cloud):
    result = cloud.run("notification", check_mode=True, type="COMPUTE_HOST", hostname="compute3", payload=HOST_DOWN,
                       generated_time="2026-11-23T12:00:00")
    assert result["changed"] and not result["failed"] and result["duplicate"] is False
    assert cloud.mutations() == [] and cloud.api.notifications == []
    planned = result["notification"]
    assert planned["notification_uuid"] is None and planned["id"] is None and planned["created_at"] is None
    assert planned["source_host_uuid"] == cloud.hosts["compute3"]
    assert planned["failover_segment_uuid"] == cloud.segments["rack2"]
    assert planned["status"] == "new" and planned["payload"] == HOST_DOWN and planned["hostname"] == "compute3"


def test_notification_check_mode_fails_for_an_unknown_host(cloud):
    result = cloud.run("notification", check_mode=True, type="COMPUTE_HOST", hostname="compute9", payload=HOST_DOWN)
    assert result["failed"] and "Masakari has no host named 'compute9'" in result["msg"]
    assert cloud.mutations() == []


def test_notification_check_mode_reports_a_host_on_maintenance_as_refused(cloud):
    cloud.api.hosts[cloud.hosts["compute1"]]["on_maintenance"] = True
    result = cloud.run("notification", check_mode=True, type="PROCESS", hostname="compute1", payload=NOVA_DOWN)
    assert not result["changed"] and not result["failed"] and "under maintenance" in result["refused_reason"]
    assert cloud.mutations() == []
