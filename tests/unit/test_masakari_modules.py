"""The Masakari modules (segment, segment_info, segment_host, segment_host_info) and their base class.

The modules run in-process, as Ansible runs them, against tests/unit/fake_instance_ha.py: an in-memory
Masakari API behind a stand-in for openstacksdk's instance_ha proxy. The fake replaces the real API in these
unit tests only; integration tests against the real Masakari API follow in the lab.

Every test runs twice: with the proxy-level fake ("fake-proxy") and with openstacksdk's own Connection and
instance_ha Proxy over a session that the same in-memory API answers ("openstacksdk"), which checks the
proxy-level fake against the SDK it stands in for.
"""

import importlib

import pytest

from fake_instance_ha import ApiError, FakeConnection, FakeMasakariAPI, SdkConnection
from module_runner import assert_documented, run_module

# openstacksdk 4.x warns about its own internals each time it builds a resource; nothing for these tests.
pytestmark = pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning")

AUTH = dict(auth_url="http://keystone.test:5000/v3", username="admin", password="secret", project_name="admin",
            user_domain_name="Default", project_domain_name="Default")


BACKENDS = dict(fake_proxy=FakeConnection, openstacksdk=SdkConnection)


class Cloud:
    def __init__(self, backend, **api_options):
        self.api = FakeMasakariAPI(**api_options)
        self.conn = BACKENDS[backend](self.api)
        self.proxy = self.conn.instance_ha

    def run(self, module, check_mode=False, diff=False, **args):
        args.setdefault("cloud", "admin")
        self.proxy.calls.clear()
        result = run_module(module, args, self.conn, check_mode=check_mode, diff=diff)
        if not result["failed"]:
            assert_documented(module, result)
        return result

    def mutations(self):
        return self.proxy.mutating_calls()

    def add_segment(self, name="computes", recovery_method="auto", **extra):
        result = self.run("segment", name=name, recovery_method=recovery_method, **extra)
        assert result["changed"] and not result["failed"], result
        return result["segment"]

    def add_host(self, name="compute1", segment="computes", **extra):
        result = self.run("segment_host", segment=segment, name=name, **extra)
        assert result["changed"] and not result["failed"], result
        return result["host"]


@pytest.fixture(params=sorted(BACKENDS))
def cloud(request):
    return Cloud(request.param)


@pytest.fixture(params=sorted(BACKENDS))
def old_cloud(request):
    """A Masakari API before microversion 1.2 (masakari < 11.0.0): segments have no enabled flag."""
    return Cloud(request.param, max_microversion="1.1")


# --- the fake follows the API contract ------------------------------------------------------------------

def test_fake_addresses_by_uuid_so_an_sdk_resource_object_is_a_404(cloud):
    from openstack import exceptions

    segment = cloud.proxy.create_segment(name="s", recovery_method="auto", service_type="COMPUTE")
    assert isinstance(segment.id, int) and segment.uuid
    assert cloud.proxy.get_segment(segment.uuid).name == "s"
    with pytest.raises(exceptions.NotFoundException):
        cloud.proxy.get_segment(segment)  # openstacksdk takes the integer id of a resource object


def test_fake_keeps_host_names_unique_across_segments(cloud):
    from openstack import exceptions

    first = cloud.proxy.create_segment(name="a", recovery_method="auto", service_type="COMPUTE")
    second = cloud.proxy.create_segment(name="b", recovery_method="auto", service_type="COMPUTE")
    cloud.proxy.create_host(first.uuid, name="compute1", type="COMPUTE", control_attributes="SSH")
    with pytest.raises(exceptions.ConflictException, match="Host with name compute1 already exists"):
        cloud.proxy.create_host(second.uuid, name="compute1", type="COMPUTE", control_attributes="SSH")
    with pytest.raises(exceptions.ConflictException):
        cloud.proxy.create_host(first.uuid, name="compute1", type="COMPUTE", control_attributes="SSH")


def test_fake_rejects_enabled_below_microversion_1_2(old_cloud):
    from openstack import exceptions

    with pytest.raises(exceptions.BadRequestException, match="'enabled' was unexpected"):
        old_cloud.proxy.create_segment(name="s", recovery_method="auto", service_type="COMPUTE", is_enabled=False)
    segment = old_cloud.proxy.create_segment(name="s", recovery_method="auto", service_type="COMPUTE")
    assert segment.is_enabled is None


def test_fake_deleting_a_segment_deletes_its_hosts_unless_under_recovery(cloud):
    from openstack import exceptions

    segment = cloud.proxy.create_segment(name="s", recovery_method="auto", service_type="COMPUTE")
    cloud.proxy.create_host(segment.uuid, name="compute1", type="COMPUTE", control_attributes="SSH")
    cloud.api.add_notification("compute1", "running")
    with pytest.raises(exceptions.ConflictException, match="in-use to process notifications"):
        cloud.proxy.delete_segment(segment.uuid)
    cloud.api.notifications[0]["status"] = "finished"
    cloud.proxy.delete_segment(segment.uuid)
    assert cloud.api.segments == {} and cloud.api.hosts == {}


# --- base class: connection and errors ------------------------------------------------------------------

def test_connection_options_reach_openstack_connect(cloud):
    result = cloud.run("segment_info", cloud=None, auth=AUTH, region_name="RegionOne", validate_certs=False,
                       ca_cert="/etc/ssl/ca.pem", interface="internal", api_timeout=30)
    assert not result["failed"], result
    assert result["_connect_calls"] == [dict(
        cloud=None, auth_type=None, auth=AUTH, region_name="RegionOne", verify=False, cacert="/etc/ssl/ca.pem",
        cert=None, key=None, api_timeout=30, interface="internal")]


def test_cloud_dict_is_passed_whole(cloud):
    config = dict(auth=AUTH, region_name="RegionOne")
    result = cloud.run("segment_info", cloud=config)
    assert result["_connect_calls"] == [config]


def test_cloud_dict_with_other_connection_options_fails(cloud):
    result = cloud.run("segment_info", cloud=dict(auth=AUTH), region_name="RegionOne", interface="admin")
    assert result["failed"]
    assert "do not also give region_name, interface" in result["msg"]
    assert result["_connect_calls"] == []


def test_api_error_escaping_a_module_fails_with_status_and_request_id(cloud, monkeypatch):
    def forbidden(query):
        raise ApiError(403, "Policy doesn't allow os_masakari_api:segments:index to be performed.")

    monkeypatch.setattr(cloud.api, "list_segments", forbidden)
    result = cloud.run("segment_info")
    assert result["failed"]
    assert "Policy doesn't allow" in result["msg"]
    assert result["status_code"] == 403 and result["request_id"] == "req-fake"


def test_unreachable_cloud_fails_with_keystoneauth_message(cloud, monkeypatch):
    from keystoneauth1 import exceptions as ksa_exceptions

    def unreachable(query):
        raise ksa_exceptions.ConnectFailure("Unable to establish connection to http://keystone.test:5000/v3")

    monkeypatch.setattr(cloud.api, "list_segments", unreachable)
    result = cloud.run("segment", name="computes", recovery_method="auto")
    assert result["failed"]
    assert result["msg"] == ("Cannot talk to the cloud (ConnectFailure): Unable to establish connection to "
                             "http://keystone.test:5000/v3")


def test_missing_openstacksdk_fails_before_connecting(cloud, monkeypatch):
    base = importlib.import_module("ansible_collections.hastack.openstack.plugins.module_utils.openstack_module")
    monkeypatch.setattr(base, "openstack", None)
    result = cloud.run("segment_info")
    assert result["failed"] and "openstacksdk" in result["msg"] and result["_connect_calls"] == []


def test_too_old_openstacksdk_is_named(cloud, monkeypatch):
    base = importlib.import_module("ansible_collections.hastack.openstack.plugins.module_utils.openstack_module")
    monkeypatch.setattr(base, "openstacksdk_version", lambda: "0.61.0")
    result = cloud.run("segment_info")
    assert result["failed"] and result["msg"] == "openstacksdk 1.0.0 or later is required, 0.61.0 is installed"


def test_secrets_among_connection_options_are_no_log():
    base = importlib.import_module("ansible_collections.hastack.openstack.plugins.module_utils.openstack_module")
    spec = base.openstack_argument_spec()
    assert spec["auth"]["no_log"] and spec["client_key"]["no_log"]


# --- segment --------------------------------------------------------------------------------------------

def test_segment_create(cloud):
    result = cloud.run("segment", name="computes", recovery_method="rh_priority", description="all computes")
    assert result["changed"] and not result["failed"]
    segment = result["segment"]
    assert segment["name"] == "computes" and segment["recovery_method"] == "rh_priority"
    assert segment["service_type"] == "COMPUTE" and segment["description"] == "all computes"
    assert segment["is_enabled"] is True and segment["uuid"] in cloud.api.segments
    assert cloud.mutations() == [("create_segment", dict(
        name="computes", recovery_method="rh_priority", service_type="COMPUTE", description="all computes"))]


def test_segment_second_run_changes_nothing(cloud):
    cloud.add_segment(recovery_method="auto", description="d")
    result = cloud.run("segment", name="computes", recovery_method="auto", description="d")
    assert not result["changed"] and not result["failed"]
    assert cloud.mutations() == []
    assert result["segment"]["name"] == "computes"


def test_segment_unset_options_are_left_alone(cloud):
    cloud.add_segment(recovery_method="reserved_host", description="keep me")
    result = cloud.run("segment", name="computes")
    assert not result["changed"]
    assert result["segment"]["recovery_method"] == "reserved_host"
    assert result["segment"]["description"] == "keep me"


def test_segment_update_sends_only_the_differing_field_by_uuid(cloud):
    created = cloud.add_segment(recovery_method="auto", description="d")
    result = cloud.run("segment", name="computes", recovery_method="reserved_host", description="d")
    assert result["changed"] and not result["failed"]
    assert result["segment"]["recovery_method"] == "reserved_host"
    assert cloud.mutations() == [("update_segment", dict(segment=created["uuid"], recovery_method="reserved_host"))]
    assert cloud.api.segments[created["uuid"]]["recovery_method"] == "reserved_host"


def test_segment_service_type_default_applies_to_an_existing_segment(cloud):
    created = cloud.add_segment(service_type="compute")
    result = cloud.run("segment", name="computes")
    assert result["changed"]
    assert cloud.mutations() == [("update_segment", dict(segment=created["uuid"], service_type="COMPUTE"))]


def test_segment_empty_description_equals_none(cloud):
    cloud.add_segment()
    result = cloud.run("segment", name="computes", description="")
    assert not result["changed"] and cloud.mutations() == []


def test_segment_check_mode_create_calls_nothing(cloud):
    result = cloud.run("segment", check_mode=True, name="computes", recovery_method="auto")
    assert result["changed"] and not result["failed"]
    assert cloud.mutations() == [] and cloud.api.segments == {}
    assert result["segment"]["name"] == "computes" and result["segment"]["uuid"] is None
    assert result["segment"]["is_enabled"] is True


def test_segment_check_mode_update_calls_nothing(cloud):
    created = cloud.add_segment(recovery_method="auto")
    result = cloud.run("segment", check_mode=True, name="computes", recovery_method="rh_priority")
    assert result["changed"] and result["segment"]["recovery_method"] == "rh_priority"
    assert cloud.mutations() == []
    assert cloud.api.segments[created["uuid"]]["recovery_method"] == "auto"


def test_segment_check_mode_without_change_is_unchanged(cloud):
    cloud.add_segment()
    result = cloud.run("segment", check_mode=True, name="computes", recovery_method="auto")
    assert not result["changed"] and cloud.mutations() == []


def test_segment_check_mode_delete_calls_nothing(cloud):
    created = cloud.add_segment()
    result = cloud.run("segment", check_mode=True, name="computes", state="absent")
    assert result["changed"] and cloud.mutations() == []
    assert created["uuid"] in cloud.api.segments


def test_segment_absent_deletes_it_with_its_hosts(cloud):
    created = cloud.add_segment()
    cloud.add_host("compute1")
    result = cloud.run("segment", name="computes", state="absent")
    assert result["changed"] and not result["failed"]
    assert cloud.mutations() == [("delete_segment", dict(segment=created["uuid"], ignore_missing=True))]
    assert cloud.api.segments == {} and cloud.api.hosts == {}
    assert "segment" not in result


def test_segment_absent_when_missing_is_unchanged(cloud):
    cloud.add_segment(name="other")
    result = cloud.run("segment", name="computes", state="absent")
    assert not result["changed"] and not result["failed"]
    assert cloud.mutations() == [] and len(cloud.api.segments) == 1


def test_segment_create_needs_a_recovery_method(cloud):
    result = cloud.run("segment", name="computes")
    assert result["failed"] and "recovery_method is required to create segment 'computes'" in result["msg"]
    assert cloud.mutations() == []


def test_segment_invalid_recovery_method_is_refused_before_any_call(cloud):
    result = cloud.run("segment", name="computes", recovery_method="evacuate")
    assert result["failed"] and "recovery_method" in result["msg"]
    assert cloud.proxy.calls == []


def test_segment_rejected_by_the_api_says_why(cloud):
    result = cloud.run("segment", name="computes ", recovery_method="auto")
    assert result["failed"]
    assert "Masakari rejected segment 'computes '" in result["msg"]
    assert "invalid 'name' value" in result["msg"] and result["status_code"] == 400


def test_segment_created_meanwhile_by_someone_else_is_a_clear_conflict(cloud, monkeypatch):
    cloud.add_segment()
    monkeypatch.setattr(cloud.proxy, "segments", lambda **query: iter(()))  # lookup misses it (a race)
    result = cloud.run("segment", name="computes", recovery_method="auto")
    assert result["failed"] and result["status_code"] == 409
    assert "Masakari refused to create segment 'computes'" in result["msg"]
    assert "already exists" in result["msg"]


def test_segment_update_under_recovery_is_refused_clearly(cloud):
    cloud.add_segment()
    cloud.add_host("compute1")
    cloud.api.add_notification("compute1", "error")
    result = cloud.run("segment", name="computes", recovery_method="reserved_host")
    assert result["failed"] and result["status_code"] == 409
    assert "Masakari refused to change segment 'computes'" in result["msg"]
    assert "new, running or in error" in result["msg"]
    assert "in-use to process notifications" in result["msg"]


def test_segment_delete_under_recovery_is_refused_then_works_once_finished(cloud):
    cloud.add_segment()
    cloud.add_host("compute1")
    cloud.api.add_notification("compute1", "running")
    result = cloud.run("segment", name="computes", state="absent")
    assert result["failed"] and "Masakari refused to delete segment 'computes'" in result["msg"]
    assert len(cloud.api.segments) == 1
    cloud.api.notifications[0]["status"] = "finished"
    result = cloud.run("segment", name="computes", state="absent")
    assert result["changed"] and not result["failed"] and cloud.api.segments == {}


def test_segment_disable_and_enable(cloud):
    created = cloud.add_segment()
    result = cloud.run("segment", name="computes", is_enabled=False)
    assert result["changed"] and result["segment"]["is_enabled"] is False
    assert cloud.mutations() == [("update_segment", dict(segment=created["uuid"], is_enabled=False))]
    assert cloud.run("segment", name="computes", enabled=False)["changed"] is False
    result = cloud.run("segment", name="computes", is_enabled=True)
    assert result["changed"] and cloud.api.segments[created["uuid"]]["enabled"] is True


def test_segment_created_disabled(cloud):
    result = cloud.run("segment", name="computes", recovery_method="auto", is_enabled=False)
    assert result["changed"] and result["segment"]["is_enabled"] is False
    assert cloud.mutations()[0][1]["is_enabled"] is False


def test_segment_enabled_true_changes_nothing_on_an_api_without_it(old_cloud):
    result = old_cloud.run("segment", name="computes", recovery_method="auto", is_enabled=True)
    assert result["changed"] and not result["failed"]
    assert "is_enabled" not in old_cloud.mutations()[0][1]
    assert result["segment"]["is_enabled"] is None
    result = old_cloud.run("segment", name="computes", recovery_method="auto", is_enabled=True)
    assert not result["changed"] and not result["failed"]


@pytest.mark.parametrize("existing", [False, True])
def test_segment_disabling_on_an_api_without_it_fails_clearly(old_cloud, existing):
    if existing:
        old_cloud.add_segment()
    result = old_cloud.run("segment", name="computes", recovery_method="auto", is_enabled=False)
    assert result["failed"]
    assert "is_enabled=false needs Masakari API microversion 1.2" in result["msg"]
    assert old_cloud.mutations() == []


def test_segment_diff_mode(cloud):
    cloud.add_segment(recovery_method="auto")
    result = cloud.run("segment", diff=True, name="computes", recovery_method="rh_priority")
    assert result["diff"]["before"]["recovery_method"] == "auto"
    assert result["diff"]["after"]["recovery_method"] == "rh_priority"
    assert "diff" not in cloud.run("segment", name="computes", recovery_method="auto")


# --- segment_info ---------------------------------------------------------------------------------------

def test_segment_info_lists_sorted_and_changes_nothing(cloud):
    cloud.add_segment(name="b", recovery_method="auto")
    cloud.add_segment(name="a", recovery_method="reserved_host", is_enabled=False)
    result = cloud.run("segment_info")
    assert not result["changed"] and not result["failed"]
    assert [s["name"] for s in result["segments"]] == ["a", "b"]
    assert cloud.mutations() == []


@pytest.mark.parametrize(("filters", "expected"), [
    (dict(name="a"), ["a"]),
    (dict(name="missing"), []),
    (dict(recovery_method="auto"), ["b"]),
    (dict(service_type="COMPUTE"), ["a", "b"]),
    (dict(is_enabled=False), ["a"]),
    (dict(is_enabled=True), ["b"]),
])
def test_segment_info_filters(cloud, filters, expected):
    cloud.add_segment(name="b", recovery_method="auto")
    cloud.add_segment(name="a", recovery_method="reserved_host", is_enabled=False)
    result = cloud.run("segment_info", **filters)
    assert [s["name"] for s in result["segments"]] == expected


def test_segment_info_by_uuid_and_in_check_mode(cloud):
    created = cloud.add_segment(name="a")
    cloud.add_segment(name="b")
    result = cloud.run("segment_info", check_mode=True, name=created["uuid"])
    assert [s["uuid"] for s in result["segments"]] == [created["uuid"]]
    assert not result["changed"]


def test_segment_info_old_api_segments_count_as_enabled(old_cloud):
    old_cloud.add_segment(name="a")
    assert [s["name"] for s in old_cloud.run("segment_info", is_enabled=True)["segments"]] == ["a"]
    assert old_cloud.run("segment_info", is_enabled=False)["segments"] == []


# --- segment_host ---------------------------------------------------------------------------------------

def test_host_create_with_defaults(cloud):
    segment = cloud.add_segment()
    result = cloud.run("segment_host", segment="computes", name="compute1")
    assert result["changed"] and not result["failed"]
    host = result["host"]
    assert host["name"] == "compute1" and host["failover_segment_id"] == segment["uuid"]
    assert host["type"] == "COMPUTE" and host["control_attributes"] == "SSH"
    assert host["reserved"] is False and host["on_maintenance"] is False
    assert cloud.mutations() == [("create_host", dict(
        segment=segment["uuid"], name="compute1", type="COMPUTE", control_attributes="SSH"))]


def test_host_second_run_changes_nothing(cloud):
    cloud.add_segment()
    cloud.add_host("compute1", reserved=True)
    result = cloud.run("segment_host", segment="computes", name="compute1", reserved=True)
    assert not result["changed"] and not result["failed"]
    assert cloud.mutations() == []


def test_host_update_sends_only_the_differing_field_by_uuids(cloud):
    segment = cloud.add_segment()
    host = cloud.add_host("compute1")
    result = cloud.run("segment_host", segment="computes", name="compute1", reserved=True)
    assert result["changed"] and result["host"]["reserved"] is True
    assert cloud.mutations() == [("update_host", dict(host=host["uuid"], segment=segment["uuid"], reserved=True))]


def test_host_maintenance_set_by_masakari_is_left_alone_unless_asked(cloud):
    cloud.add_segment()
    host = cloud.add_host("compute1")
    cloud.api.hosts[host["uuid"]]["on_maintenance"] = True  # what the engine does after a host failure
    result = cloud.run("segment_host", segment="computes", name="compute1")
    assert not result["changed"] and result["host"]["on_maintenance"] is True
    result = cloud.run("segment_host", segment="computes", name="compute1", on_maintenance=False)
    assert result["changed"] and cloud.api.hosts[host["uuid"]]["on_maintenance"] is False


def test_host_segment_given_by_uuid(cloud):
    segment = cloud.add_segment()
    result = cloud.run("segment_host", segment=segment["uuid"], name="compute2", control_attributes="IPMI")
    assert result["changed"] and result["host"]["control_attributes"] == "IPMI"
    result = cloud.run("segment_host", segment=segment["uuid"], name="compute2", control_attributes="IPMI")
    assert not result["changed"]


def test_host_check_mode_create_update_delete_call_nothing(cloud):
    segment = cloud.add_segment()
    result = cloud.run("segment_host", check_mode=True, segment="computes", name="compute1", reserved=True)
    assert result["changed"] and cloud.mutations() == [] and cloud.api.hosts == {}
    assert result["host"]["reserved"] is True and result["host"]["failover_segment_id"] == segment["uuid"]
    host = cloud.add_host("compute1")
    result = cloud.run("segment_host", check_mode=True, segment="computes", name="compute1", type="BAREMETAL")
    assert result["changed"] and result["host"]["type"] == "BAREMETAL" and cloud.mutations() == []
    assert cloud.api.hosts[host["uuid"]]["type"] == "COMPUTE"
    result = cloud.run("segment_host", check_mode=True, segment="computes", name="compute1", state="absent")
    assert result["changed"] and cloud.mutations() == [] and host["uuid"] in cloud.api.hosts


def test_host_absent_removes_it(cloud):
    segment = cloud.add_segment()
    host = cloud.add_host("compute1")
    result = cloud.run("segment_host", segment="computes", name="compute1", state="absent")
    assert result["changed"] and not result["failed"] and cloud.api.hosts == {}
    assert cloud.mutations() == [("delete_host", dict(host=host["uuid"], segment=segment["uuid"], ignore_missing=True))]


@pytest.mark.parametrize("segment_exists", [True, False])
def test_host_absent_when_missing_is_unchanged(cloud, segment_exists):
    if segment_exists:
        cloud.add_segment()
    result = cloud.run("segment_host", segment="computes", name="compute1", state="absent")
    assert not result["changed"] and not result["failed"] and cloud.mutations() == []


def test_host_unknown_to_nova_is_explained(cloud):
    cloud.add_segment()
    result = cloud.run("segment_host", segment="computes", name="Compute1")
    assert result["failed"] and result["status_code"] == 400
    assert "Masakari refused host 'Compute1': Nova has no nova-compute service on a host of that name" in result["msg"]
    assert "Compute service with name Compute1 could not be found." in result["msg"]
    assert cloud.api.hosts == {}


def test_host_already_in_another_segment_names_that_segment(cloud):
    other = cloud.add_segment(name="rack1")
    cloud.add_host("compute1", segment="rack1")
    cloud.add_segment(name="rack2")
    result = cloud.run("segment_host", segment="rack2", name="compute1")
    assert result["failed"] and result["status_code"] == 409
    assert "Host 'compute1' already belongs to segment 'rack1' (%s)" % other["uuid"] in result["msg"]
    assert "Host with name compute1 already exists." in result["msg"]


def test_host_needs_an_existing_segment(cloud):
    result = cloud.run("segment_host", segment="computes", name="compute1")
    assert result["failed"] and "Masakari has no segment named or with UUID 'computes'" in result["msg"]
    assert cloud.mutations() == []


def test_host_invalid_type_is_rejected_with_the_api_reason(cloud):
    cloud.add_segment()
    result = cloud.run("segment_host", segment="computes", name="compute1", type="COMPUTE-1")
    assert result["failed"] and "Masakari rejected host 'compute1'" in result["msg"]
    assert "does not match" in result["msg"]


@pytest.mark.parametrize("change", [dict(on_maintenance=False), dict(state="absent")])
def test_host_change_under_recovery_is_refused_clearly(cloud, change):
    cloud.add_segment()
    host = cloud.add_host("compute1", on_maintenance=True)
    cloud.add_host("compute2")
    cloud.api.add_notification("compute2", "new")
    result = cloud.run("segment_host", segment="computes", name="compute1", **change)
    assert result["failed"] and result["status_code"] == 409
    assert "new, running or in error" in result["msg"]
    assert cloud.api.hosts[host["uuid"]]["on_maintenance"] is True


def test_host_diff_mode(cloud):
    cloud.add_segment()
    cloud.add_host("compute1")
    result = cloud.run("segment_host", diff=True, segment="computes", name="compute1", reserved=True)
    assert result["diff"]["before"]["reserved"] is False and result["diff"]["after"]["reserved"] is True


# --- segment_host_info ----------------------------------------------------------------------------------

def test_host_info_of_a_segment(cloud):
    cloud.add_segment(name="rack1")
    cloud.add_segment(name="rack2")
    cloud.add_host("compute2", segment="rack1")
    cloud.add_host("compute1", segment="rack1", reserved=True)
    cloud.add_host("compute3", segment="rack2")
    result = cloud.run("segment_host_info", segment="rack1")
    assert not result["changed"] and not result["failed"]
    assert [(h["name"], h["segment_name"]) for h in result["hosts"]] == [("compute1", "rack1"), ("compute2", "rack1")]
    assert cloud.mutations() == []


@pytest.mark.parametrize(("filters", "expected"), [
    (dict(), ["compute1", "compute2", "compute3"]),
    (dict(name="compute3"), ["compute3"]),
    (dict(reserved=True), ["compute1"]),
    (dict(on_maintenance=True), ["compute3"]),
    (dict(reserved=False, on_maintenance=False), ["compute2"]),
    (dict(type="COMPUTE", control_attributes="IPMI"), ["compute2"]),
])
def test_host_info_of_every_segment_with_filters(cloud, filters, expected):
    cloud.add_segment(name="rack1")
    cloud.add_segment(name="rack2")
    cloud.add_host("compute1", segment="rack1", reserved=True)
    cloud.add_host("compute2", segment="rack1", control_attributes="IPMI")
    cloud.add_host("compute3", segment="rack2", on_maintenance=True)
    result = cloud.run("segment_host_info", check_mode=True, **filters)
    assert [h["name"] for h in result["hosts"]] == expected
    assert not result["changed"] and cloud.mutations() == []


def test_host_info_of_a_missing_segment_fails(cloud):
    result = cloud.run("segment_host_info", segment="computes")
    assert result["failed"] and "Masakari has no segment named or with UUID 'computes'" in result["msg"]
