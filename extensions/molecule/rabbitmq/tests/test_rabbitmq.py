"""RabbitMQ cluster of the controllers: membership, listeners, partition handling, vhost, users, file modes.

Every rabbitmqctl call starts an Erlang VM and every testinfra call an Ansible run: each host is read once, by one
script (SNAPSHOT) that runs inside it, and the tests assert on that snapshot.
"""

import json
import os

import pytest

testinfra_hosts = ["ansible://controllers"]

AMQP_PORT = 5672
DIST_PORT = 25672
EPMD_PORT = 4369
MANAGEMENT_PORT = 15672
VHOST = "openstack"

# Runs inside a host (Debian's python3-pika comes from the scenario's prepare.yml). argv: own address, the
# openstack password, then the member names to resolve.
SNAPSHOT = r"""
import json, os, subprocess, sys, pika
address, password, members = sys.argv[1], sys.argv[2], sys.argv[3:]

def run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()

def ctl(*args):
    return json.loads(run("rabbitmqctl", *args, "--formatter", "json"))

def login(user, secret):
    params = pika.ConnectionParameters(address, 5672, "openstack", pika.PlainCredentials(user, secret),
                                       connection_attempts=1, socket_timeout=10, blocked_connection_timeout=10)
    try:
        pika.BlockingConnection(params).close()
        return {"result": "accepted"}
    except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError) as exc:
        return {"result": "refused", "error": type(exc).__name__ + ": " + str(exc)}
    except pika.exceptions.ConnectionClosedByBroker as exc:
        return {"result": "refused" if exc.reply_code == 403 else "closed", "error": str(exc)}

def stat(path):
    st = os.stat(path)
    return {"user": run("stat", "-c", "%U", path), "mode": st.st_mode & 0o777}

plugins = "/etc/rabbitmq/enabled_plugins"
print(json.dumps({
    "active": run("systemctl", "is-active", "rabbitmq-server"),
    "enabled": run("systemctl", "is-enabled", "rabbitmq-server"),
    "cluster": ctl("cluster_status"),
    "partition_handling": run("rabbitmqctl", "-q", "eval", "application:get_env(rabbit, cluster_partition_handling)."),
    "vhosts": ctl("list_vhosts", "name", "default_queue_type"),
    "users": ctl("list_users"),
    "permissions": ctl("list_permissions", "-p", "openstack"),
    "enabled_plugins": open(plugins).read() if os.path.exists(plugins) else "",
    "listening": sorted({line.split()[3] for line in run("ss", "-ltnH").splitlines()}),
    "resolves": {name: run("getent", "ahostsv4", name).split()[0] for name in members},
    "files": {path: stat(path) for path in ("/var/lib/rabbitmq/.erlang.cookie", "/etc/rabbitmq/rabbitmq.conf",
                                            "/etc/rabbitmq/rabbitmq-env.conf")},
    "login": {"guest": login("guest", "guest"), "openstack": login("openstack", password)},
}))
"""

_SNAPSHOTS = {}


@pytest.fixture()
def snap(host):
    """The host's snapshot, read once per host for the whole module."""
    hostvars = host.ansible.get_variables()
    name = hostvars["inventory_hostname"]
    if name not in _SNAPSHOTS:
        members = hostvars["groups"]["controllers"]
        result = host.run(
            "python3 -c %s %s %s " + " ".join(["%s"] * len(members)),
            SNAPSHOT,
            hostvars["hastack_mgmt_address"],
            hostvars["rabbitmq_openstack_password"],
            *members,
        )
        assert result.rc == 0, result
        _SNAPSHOTS[name] = json.loads(result.stdout)
    return _SNAPSHOTS[name]


def _members(host):
    return host.ansible.get_variables()["groups"]["controllers"]


def test_service_running_and_enabled(snap):
    assert snap["active"] == "active"
    assert snap["enabled"] == "enabled"


def test_cluster_status_shows_three_running_nodes(host, snap):
    nodes = sorted(f"rabbit@{name}" for name in _members(host))
    assert len(nodes) == 3
    assert sorted(snap["cluster"]["running_nodes"]) == nodes
    assert sorted(snap["cluster"]["disk_nodes"]) == nodes
    assert snap["cluster"]["partitions"] == {}


def test_node_names_resolve_to_management_addresses(host, snap):
    for name in _members(host):
        peer = host.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])
        assert snap["resolves"][name] == peer.ansible.get_variables()["hastack_mgmt_address"], name


def test_listens_on_management_address_only(host, snap):
    address = host.ansible.get_variables()["hastack_mgmt_address"]
    listening = set(snap["listening"])
    for port in (AMQP_PORT, DIST_PORT, EPMD_PORT):
        assert f"{address}:{port}" in listening, port
        assert not {f"0.0.0.0:{port}", f"*:{port}", f"[::]:{port}"} & listening, port
    # epmd also answers on loopback (the local CLI tools); nothing else listens.
    assert listening == {f"{address}:{AMQP_PORT}", f"{address}:{DIST_PORT}", f"{address}:{EPMD_PORT}", "127.0.0.1:4369"}
    node = f"rabbit@{host.ansible.get_variables()['inventory_hostname']}"
    assert {(item["protocol"], item["interface"], item["port"]) for item in snap["cluster"]["listeners"][node]} == {
        ("amqp", address, AMQP_PORT),
        ("clustering", address, DIST_PORT),
    }


def test_partition_handling_is_pause_minority(snap):
    # The running node's effective setting (application environment), not the configuration file.
    assert snap["partition_handling"] == "{ok,pause_minority}"


def test_vhost_default_queue_type_is_quorum(snap):
    vhosts = {item["name"]: item["default_queue_type"] for item in snap["vhosts"]}
    assert vhosts[VHOST] == "quorum"


def test_openstack_user_has_full_permissions(snap):
    assert {"user": "openstack", "configure": ".*", "write": ".*", "read": ".*"} in snap["permissions"]


def test_guest_is_gone_and_cannot_log_in(host, snap):
    users = [item["user"] for item in snap["users"]]
    assert "guest" not in users
    assert snap["login"]["guest"]["result"] == "refused", snap["login"]
    print(
        f"{host.ansible.get_variables()['inventory_hostname']}: guest login refused ({snap['login']['guest']['error']})"
    )
    # Control: the same client, on the same address, logs in as the openstack user.
    assert snap["login"]["openstack"]["result"] == "accepted", snap["login"]


def test_management_plugin_off(snap):
    assert "rabbitmq_management" not in snap["enabled_plugins"].replace(",", " ").replace("[", " ").split()
    assert not any(entry.endswith(f":{MANAGEMENT_PORT}") for entry in snap["listening"])


def test_secret_files_not_world_readable(snap):
    cookie = snap["files"]["/var/lib/rabbitmq/.erlang.cookie"]
    assert cookie == {"user": "rabbitmq", "mode": 0o400}
    for path in ("/etc/rabbitmq/rabbitmq.conf", "/etc/rabbitmq/rabbitmq-env.conf"):
        assert snap["files"][path]["user"] == "root"
        assert snap["files"][path]["mode"] & 0o007 == 0, path
