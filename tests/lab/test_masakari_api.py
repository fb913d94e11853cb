"""Role masakari against the running lab of inventories/lab (its own OpenStack must be up: `make lab`).

Runs playbooks/masakari.yml (which `make lab` deployed with the inventory's settings) twice more
and expects changed=0 on every host, then, through the internal VIP with the masakari service user's credentials
(openstacksdk's instance_ha proxy; python-masakariclient is not needed):

- the catalog entry `instance-ha` has its three endpoints, `http://<VIP>:15868/v1/%(tenant_id)s`;
- `lab-segment` (recovery_method auto) lists cmp1 and cmp2;
- every controller's API listens on its management address only;
- the API keeps answering while masakari-api is stopped on ctl1 (then it is started again); the seconds during which
  requests failed after the stop are printed (HAProxy's check: inter 2s, fall 2).

Slow (two playbook runs against the lab), so it runs in `make test-full` only, or when HASTACK_LAB_TESTS=1.
"""

import os
import re
import time

import pytest
import yaml
from labcloud import INVENTORY as LAB_INVENTORY
from labcloud import ROOT, masakari_playbook, podman

INVENTORY = ROOT / LAB_INVENTORY
PLAYBOOK = "playbooks/masakari.yml"
SEGMENT = "lab-segment"
API_PORT = 15868
STOPPED_HOST = "ctl1"

pytestmark = pytest.mark.skipif(
    os.environ.get("HASTACK_LAB_TESTS") != "1", reason="lab Masakari test: run by `make test-full`"
)


def _inventory():
    hosts = yaml.safe_load((INVENTORY / "hosts.yml").read_text())["all"]["children"]
    group_vars = yaml.safe_load((INVENTORY / "group_vars" / "all.yml").read_text())
    return hosts, group_vars


def _recap(output):
    return {
        host: {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counters)}
        for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.MULTILINE)
    }


def _deploy():
    started = time.monotonic()
    result = masakari_playbook()
    return time.monotonic() - started, _recap(result.stdout)


@pytest.fixture(scope="module")
def deployed():
    first = _deploy()[0]
    second, recap = _deploy()
    print(f"\n{PLAYBOOK}: first run {first:.0f} s, second run {second:.0f} s, recap {recap}")
    return recap


@pytest.fixture(scope="module")
def masakari(deployed):
    import openstack  # from the project's venv

    group_vars = _inventory()[1]
    vip = group_vars["hastack_internal_vip"]
    password = (INVENTORY / ".secrets" / "masakari").read_text().strip()
    # Only these credentials: with top-level options and no cloud, openstacksdk would merge clouds.yaml's only
    # cloud (the lab's admin) into them.
    conn = openstack.connect(
        auth={"auth_url": f"http://{vip}:5000", "username": "masakari", "password": password,
              "project_name": "service", "user_domain_name": "Default", "project_domain_name": "Default"},
        region_name="RegionOne", interface="internal", load_yaml_config=False, load_envvars=False,
    )
    admin = openstack.connect(cloud="hastack-lab")
    return conn, admin, vip


def _segment(conn):
    return next((segment for segment in conn.instance_ha.segments() if segment.name == SEGMENT), None)


def test_second_run_changes_nothing(deployed):
    hosts = _inventory()[0]
    assert set(hosts["controllers"]["hosts"]) <= set(deployed), deployed
    changed = {host: counters["changed"] for host, counters in deployed.items() if counters["changed"]}
    assert not changed, f"second run changed something: {changed}"
    assert all(counters["failed"] == 0 and counters["unreachable"] == 0 for counters in deployed.values())


def test_catalog_has_the_instance_ha_endpoints(masakari):
    conn, admin, vip = masakari
    service = next(service for service in admin.identity.services() if service.type == "instance-ha")
    assert service.name == "masakari"
    urls = {endpoint.interface: endpoint.url for endpoint in admin.identity.endpoints(service_id=service.id)}
    expected = f"http://{vip}:{API_PORT}/v1/%(tenant_id)s"
    assert urls == {"public": expected, "internal": expected, "admin": expected}
    project_id = conn.current_project_id
    assert conn.endpoint_for("instance-ha", interface="internal") == f"http://{vip}:{API_PORT}/v1/{project_id}"


def test_segment_lists_both_computes(masakari):
    conn = masakari[0]
    segment = _segment(conn)
    assert segment is not None, [s.name for s in conn.instance_ha.segments()]
    assert segment.recovery_method == "auto"
    assert segment.service_type == "COMPUTE"
    hosts = _inventory()[0]
    # Masakari addresses segments by UUID (openstacksdk's id is its integer key).
    names = sorted(host.name for host in conn.instance_ha.hosts(segment.uuid))
    assert names == sorted(hosts["computes"]["hosts"])


def test_api_listens_on_the_management_address_only():
    hosts = _inventory()[0]
    for name, host in hosts["controllers"]["hosts"].items():
        listening = podman("exec", name, "ss", "-Htln", f"sport = :{API_PORT}").stdout.split("\n")
        local = sorted({line.split()[3] for line in listening if line.strip()})
        assert local == [f"{host['hastack_mgmt_address']}:{API_PORT}"], (name, local)


def test_api_answers_through_the_vip_while_one_api_is_stopped(masakari):
    conn = masakari[0]
    assert _segment(conn) is not None
    failures = []
    podman("exec", STOPPED_HOST, "systemctl", "stop", "masakari-api")
    stopped = time.monotonic()
    try:
        assert podman("exec", STOPPED_HOST, "systemctl", "is-active", "masakari-api", check=False).stdout.strip() != "active"
        answered = 0
        while time.monotonic() - stopped < 20:
            try:
                assert _segment(conn) is not None
                answered += 1
            except Exception as error:  # noqa: BLE001 - any failure counts, the reason is printed
                failures.append((time.monotonic() - stopped, repr(error)[:200]))
            time.sleep(0.2)
        window = max((failure[0] for failure in failures), default=0.0)
        print(f"\nmasakari-api stopped on {STOPPED_HOST}: {answered} requests answered through the VIP in 20 s, "
              f"{len(failures)} failed, the last failure {window:.1f} s after the stop")
        # HAProxy takes a stopped server out after two failed checks two seconds apart; then nothing may fail.
        assert not [failure for failure in failures if failure[0] > 6.0], failures
        assert answered > 0
    finally:
        podman("exec", STOPPED_HOST, "systemctl", "start", "masakari-api")
    deadline = time.monotonic() + 60
    while podman("exec", STOPPED_HOST, "curl", "-sf", "-o", "/dev/null",
                 f"http://{_inventory()[0]['controllers']['hosts'][STOPPED_HOST]['hastack_mgmt_address']}:{API_PORT}/",
                 check=False).returncode != 0:
        assert time.monotonic() < deadline, f"masakari-api on {STOPPED_HOST} did not answer again within 60 s"
        time.sleep(1)
    assert _segment(conn) is not None
