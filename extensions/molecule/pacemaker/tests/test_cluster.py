"""The cluster as deployed: services, keys, the CIB, what a compute sees, the BMC path. Runs before the
failure tests of test_fencing.py (pytest takes files in name order). Commands go through `podman exec`
(conftest.direct); the inventory comes from molecule's Ansible inventory."""

from conftest import crm_mon, direct, direct_by_name, has_quorum, nodes, variables

testinfra_hosts = ["ansible://controllers", "ansible://computes"]


def _is_controller(host):
    return "controllers" in variables(host)["group_names"]


def _first_controller(host):
    return variables(host)["groups"]["controllers"][0]


def _sha256(node, path):
    return node.check_output(f"sha256sum {path}").split()[0]


def test_services_enabled_and_running(host):
    node = direct(host)
    services = ["corosync", "pacemaker"] if _is_controller(host) else ["pacemaker_remote"]
    for name in services:
        service = node.service(name)
        assert service.is_running, name
        assert service.is_enabled, name
    if not _is_controller(host):
        assert not node.package("corosync").is_installed


def test_keys_private_and_identical_everywhere(host):
    node = direct(host)
    reference = direct_by_name(_first_controller(host))
    keys = {"/etc/pacemaker/authkey": ("hacluster", "haclient")}
    if _is_controller(host):
        keys["/etc/corosync/authkey"] = ("root", "root")
    for path, (user, group) in keys.items():
        key = node.file(path)
        assert (key.user, key.group) == (user, group), path
        assert key.mode == 0o400, f"{path} mode {oct(key.mode)}"
        assert _sha256(node, path) == _sha256(reference, path), f"{path} differs from the first controller's"


def test_corosync_knet_encrypted_and_quorate(host):
    if not _is_controller(host):
        return
    node = direct(host)
    conf = node.file("/etc/corosync/corosync.conf").content_string
    assert "transport: knet" in conf
    assert "crypto_cipher: aes256" in conf
    assert "crypto_hash: sha256" in conf
    assert "two_node" not in conf  # three members
    quorum = node.run("corosync-quorumtool -s")
    assert "Quorate:          Yes" in quorum.stdout, quorum.stdout
    assert "Total votes:      3" in quorum.stdout


def test_bmc_password_not_in_cib(host):
    """Fence agents read the BMC password from a root-only file; the CIB, which computes can read, never has it."""
    node = direct(host)
    password = variables("pcm-cmp1")["hastack_bmc_password"]
    cib = node.check_output("cibadmin --query")
    assert password not in cib
    assert "password_script" in cib
    if _is_controller(host):
        secret = node.file("/etc/pacemaker/fence-secrets/pcm-cmp1")
        assert secret.user == "root" and secret.mode == 0o400


def test_status_seen_from_every_node(host):
    """Controllers see the whole cluster; a compute sees the same through pacemaker_remote (masakari-hostmonitor's
    view): quorum, every controller online, every compute an online remote node."""
    status = crm_mon(host)
    assert has_quorum(status)
    seen = nodes(status)
    groups = variables(host)["groups"]
    for name in groups["controllers"]:
        assert seen[name]["online"] == "true" and seen[name]["type"] == "member", seen[name]
    for name in groups["computes"]:
        assert seen[name]["online"] == "true" and seen[name]["type"] == "remote", seen[name]
        assert seen[name]["unclean"] == "false"
    assert status.find("summary/nodes_configured").get("number") == "5"


def test_cib_is_valid(host):
    if not _is_controller(host):
        return
    result = direct(host).run("crm_verify --live-check --verbose")
    assert result.rc == 0, result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower()


def test_properties_and_fence_devices(host):
    if not _is_controller(host):
        return
    node = direct(host)
    assert node.check_output("crm_attribute --type crm_config --name stonith-enabled --query --quiet") == "true"
    assert node.check_output("crm_attribute --type crm_config --name no-quorum-policy --query --quiet") == "stop"
    resources = {r.get("id"): r for r in crm_mon(host).iter("resource")}
    for compute in variables(host)["groups"]["computes"]:
        device = resources[f"fence-{compute}"]
        assert device.get("resource_agent") == "stonith:fence_ipmilan"
        assert device.get("role") == "Started"
        assert device.find("node").get("name") != compute
        remote = resources[compute]
        assert remote.get("resource_agent") == "ocf:pacemaker:remote" and remote.get("role") == "Started"


def test_vip_and_haproxy_clone(host):
    """pacemaker VIP mode: HAProxy runs on every controller (never on a compute); the VIP is on one controller."""
    if not _is_controller(host):
        return
    status = crm_mon(host)
    clone = next(c for c in status.iter("clone") if c.get("id") == "haproxy-clone")
    started = sorted(r.find("node").get("name") for r in clone.iter("resource") if r.get("role") == "Started")
    assert started == sorted(variables(host)["groups"]["controllers"])
    vip = next(r for r in status.iter("resource") if r.get("id") == "vip")
    assert vip.get("role") == "Started"
    holder = vip.find("node").get("name")
    vip_address = variables(host)["hastack_internal_vip"]
    has_vip = f"inet {vip_address}/" in direct(host).check_output("ip -4 addr show")
    assert has_vip == (holder == variables(host)["inventory_hostname"])
    assert status.find("failures") is None or len(status.find("failures")) == 0, "failed resource actions"


def test_bmc_answers_from_controller(host):
    """The fencing path: a controller reaches each compute's (virtual) BMC over IPMI lanplus."""
    if not _is_controller(host):
        return
    for compute in variables(host)["groups"]["computes"]:
        hv = variables(compute)
        result = direct(host).run(
            "IPMI_PASSWORD=%s ipmitool -I lanplus -H %s -p %s -U %s -E power status",
            hv["hastack_bmc_password"],
            hv["hastack_bmc_address"],
            str(hv["hastack_bmc_port"]),
            hv["hastack_bmc_user"],
        )
        assert result.rc == 0, result.stderr
        assert "Chassis Power is on" in result.stdout
