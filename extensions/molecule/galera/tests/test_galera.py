"""Galera: a three-member cluster that replicates, reports its health to HAProxy, survives a member crash and
is cold-started by playbooks/galera_recover.yml after a full outage.

The per-member checks run on every member; the failure tests run once (on the first member's parametrization)
and are ordered: clustercheck states, one crashed member, then a full outage. Each leaves the cluster healthy.
"""

import os
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest

testinfra_hosts = ["ansible://controllers"]

MEMBERS = ["galera1", "galera2", "galera3"]
CHECK_PORT = 9200
SERVICE_USER, SERVICE_PASSWORD, SERVICE_DB = "moltest", "molecule-moltest-secret", "moltest"
PROJECT = "/work/main"


def _peer(host, name):
    return host.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def _address(host):
    return host.ansible.get_variables()["hastack_mgmt_address"]


def _name(host):
    return host.ansible.get_variables()["inventory_hostname"]


def _once(host):
    """Cluster-wide tests run in the first member's parametrization only."""
    if _name(host) != MEMBERS[0]:
        pytest.skip("cluster-wide test: runs once, for galera1")


def _root_sql(host, query):
    """Query as root over the local socket (unix-socket login); returns stdout."""
    result = host.run("mariadb --batch --skip-column-names -e %s", query)
    assert result.rc == 0, result
    return result.stdout.strip()


def _status(host, name):
    result = host.run("mariadb --batch --skip-column-names -e %s", f"SHOW GLOBAL STATUS LIKE '{name}'")
    if result.rc != 0 or not result.stdout.strip():
        return None
    return result.stdout.split()[1]


def _service_sql(host, address, query):
    """Query as the service user over TCP to a member's management address, from inside `host`."""
    return host.run(
        "MYSQL_PWD=%s mariadb --batch --skip-column-names -h %s -u %s %s -e %s",
        SERVICE_PASSWORD,
        address,
        SERVICE_USER,
        SERVICE_DB,
        query,
    )


def _clustercheck(address):
    try:
        with urllib.request.urlopen(f"http://{address}:{CHECK_PORT}/", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _wait(predicate, timeout, what):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def _synced(host, size=3):
    return _status(host, "wsrep_local_state_comment") == "Synced" and _status(host, "wsrep_cluster_size") == str(size)


def _podman(*args):
    return subprocess.run(["podman", *args], check=True, capture_output=True, text=True)


def _wait_booted(name):
    """Wait for the end of boot; right after `podman start` systemd's bus may not be up yet."""

    def booted():
        result = subprocess.run(
            ["podman", "exec", name, "systemctl", "is-system-running", "--wait"],
            capture_output=True, text=True, timeout=300, check=False,
        )
        return result.stdout.strip() in ("running", "degraded")

    _wait(booted, 300, f"{name} to finish booting")


def _ansible_env():
    env = dict(os.environ)
    env["PATH"] = f"{PROJECT}/.venv/bin:{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = f"{PROJECT}/ansible.cfg"
    env.pop("ANSIBLE_FORCE_COLOR", None)
    return env


# ---- every member ------------------------------------------------------------------------------------------


def test_member_synced_in_three_node_primary(host):
    names = ("wsrep_cluster_size", "wsrep_local_state_comment", "wsrep_cluster_status", "wsrep_ready")
    rows = _root_sql(host, "SHOW GLOBAL STATUS WHERE Variable_name IN ({})".format(", ".join(f"'{n}'" for n in names)))
    status = dict(line.split("\t", 1) for line in rows.splitlines())
    assert status == {
        "wsrep_cluster_size": "3",
        "wsrep_local_state_comment": "Synced",
        "wsrep_cluster_status": "Primary",
        "wsrep_ready": "ON",
    }


def test_settings_accounts_and_databases(host):
    settings = "SELECT @@binlog_format, @@innodb_autoinc_lock_mode, @@wsrep_node_name, @@wsrep_sst_method, CURRENT_USER()"
    assert _root_sql(host, settings) == f"ROW\t2\t{_name(host)}\tmariabackup\troot@localhost"
    # No anonymous or guest users, no test database.
    assert _root_sql(host, "SELECT COUNT(*) FROM mysql.user WHERE User IN ('', 'guest')") == "0"
    assert "test" not in _root_sql(host, "SHOW DATABASES").split()
    # The clustercheck user may only connect.
    grants = _root_sql(host, "SHOW GRANTS FOR 'clustercheck'@'localhost'")
    assert grants.startswith("GRANT USAGE ON *.*") and len(grants.splitlines()) == 1, grants
    # root keeps unix-socket login (above) and has the password too.
    result = host.run("MYSQL_PWD=molecule-root-secret mariadb -u root --skip-column-names -e 'SELECT 1'")
    assert result.rc == 0 and result.stdout.strip() == "1", result


def test_listens_on_management_address_only(host):
    listening = host.check_output("ss -Hltn").split()
    address = _address(host)
    assert f"{address}:3306" in listening
    assert f"{address}:{CHECK_PORT}" in listening
    assert "0.0.0.0:3306" not in listening and "*:3306" not in listening


def test_config_files_not_world_readable(host):
    out = host.check_output("stat -c '%U %a %n' /etc/mysql/mariadb.conf.d/99-hastack-galera.cnf /etc/mysql/clustercheck.cnf")
    for line in out.splitlines():
        user, mode, path = line.split()
        assert user == "root", line
        assert int(mode, 8) & 0o007 == 0, f"{path} mode {mode}"


def test_clustercheck_200_when_synced(host):
    assert _clustercheck(_address(host)) == 200


# ---- cluster-wide, in order ----------------------------------------------------------------------------------


def test_row_written_through_first_member_is_read_on_third(host):
    _once(host)
    node1, node3 = host, _peer(host, "galera3")
    marker = uuid.uuid4().hex
    create = "CREATE TABLE IF NOT EXISTS hastack_rows (id INT AUTO_INCREMENT PRIMARY KEY, marker VARCHAR(64) NOT NULL)"
    result = _service_sql(node1, _address(node1), f"{create}; INSERT INTO hastack_rows (marker) VALUES ('{marker}')")
    assert result.rc == 0, result
    read = _service_sql(node3, _address(node3), f"SELECT COUNT(*) FROM hastack_rows WHERE marker = '{marker}'")
    assert read.rc == 0 and read.stdout.strip() == "1", read


def test_clustercheck_503_while_desynced(host):
    _once(host)
    node2 = _peer(host, "galera2")
    address = _address(node2)
    _root_sql(node2, "SET GLOBAL wsrep_desync = ON")
    try:
        assert _status(node2, "wsrep_local_state_comment") == "Donor/Desynced"
        assert _clustercheck(address) == 503
    finally:
        _root_sql(node2, "SET GLOBAL wsrep_desync = OFF")
    _wait(lambda: _clustercheck(address) == 200, 60, "galera2 to be Synced again after wsrep_desync=OFF")


def test_clustercheck_503_when_mariadb_stopped(host):
    _once(host)
    node2 = _peer(host, "galera2")
    address = _address(node2)
    node2.run_expect([0], "systemctl stop mariadb")
    try:
        assert _clustercheck(address) == 503
    finally:
        node2.run_expect([0], "systemctl start mariadb")
    seconds = _wait(lambda: _synced(node2) and _clustercheck(address) == 200, 180, "galera2 to rejoin")
    print(f"\ngalera2: clustercheck 503 while stopped; Synced and 200 again {seconds:.1f} s after start")


def test_member_crash_and_rejoin(host):
    _once(host)
    node1, node3 = host, _peer(host, "galera3")
    address1 = _address(node1)
    killed = time.monotonic()
    _podman("kill", "galera3")
    try:
        markers = [uuid.uuid4().hex for _attempt in range(3)]
        # The first write waits until the survivors evict the dead member, then writes go on at once.
        result = _service_sql(node1, address1, f"INSERT INTO hastack_rows (marker) VALUES ('{markers[0]}')")
        assert result.rc == 0, result
        first_write = time.monotonic() - killed
        _wait(lambda: _status(node1, "wsrep_cluster_size") == "2", 120, "cluster size 2 after the kill")
        evicted = time.monotonic() - killed
        for marker in markers[1:]:
            result = _service_sql(node1, address1, f"INSERT INTO hastack_rows (marker) VALUES ('{marker}')")
            assert result.rc == 0, result
        assert _status(node1, "wsrep_local_state_comment") == "Synced"
        print(f"\ngalera3 killed: first write through galera1 committed after {first_write:.1f} s; "
              f"cluster size 2 after {evicted:.1f} s; later writes at once")
    finally:
        started = time.monotonic()
        _podman("start", "galera3")
    _wait_booted("galera3")
    # Two members were Synced, so the join check let MariaDB start at boot; starting it again is a no-op.
    at_boot = node3.run("systemctl is-active mariadb").stdout.strip()
    node3.run_expect([0], "systemctl start mariadb")
    _wait(lambda: _synced(node3), 300, "galera3 to rejoin")
    rejoin = time.monotonic() - started
    assert _synced(node1)
    present = _service_sql(node3, _address(node3), "SELECT COUNT(*) FROM hastack_rows WHERE marker IN ({})".format(
        ", ".join(f"'{m}'" for m in markers)))
    assert present.stdout.strip() == "3", present
    print(f"galera3 rejoined (size 3, Synced, writes made while it was down present) {rejoin:.1f} s after podman start"
          f" (mariadb after boot: {at_boot})")


def test_full_outage_is_recovered_by_the_playbook(host):
    _once(host)
    nodes = {name: _peer(host, name) for name in MEMBERS}
    node1 = nodes["galera1"]
    marker = uuid.uuid4().hex
    assert _service_sql(node1, _address(node1), f"INSERT INTO hastack_rows (marker) VALUES ('{marker}')").rc == 0
    before = _service_sql(node1, _address(node1), "SELECT COUNT(*) FROM hastack_rows").stdout.strip()

    for name in MEMBERS:
        _podman("kill", name)
    started = time.monotonic()
    for name in MEMBERS:
        _podman("start", name)
    for name in MEMBERS:
        _wait_booted(name)
    # Nobody was Synced at boot: every member's join check kept MariaDB down (no bootstrap on boot).
    for name, node in nodes.items():
        assert node.run("systemctl is-active mariadb").stdout.strip() != "active", f"{name} started MariaDB at boot"

    env = _ansible_env()
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    # A normal run of the role must refuse to bootstrap and point to the recovery playbook.
    converge = subprocess.run(  # pylint: disable=subprocess-run-check
        ["ansible-playbook", "-i", inventory, f"{PROJECT}/extensions/molecule/galera/converge.yml"],
        env=env, capture_output=True, text=True, cwd=PROJECT, timeout=600,
    )
    assert converge.returncode != 0, converge.stdout[-3000:]
    assert "galera_recover.yml" in converge.stdout, converge.stdout[-3000:]
    for name, node in nodes.items():
        assert node.run("systemctl is-active mariadb").stdout.strip() != "active", f"the role started {name}"

    recover_start = time.monotonic()
    recover = subprocess.run(  # pylint: disable=subprocess-run-check
        ["ansible-playbook", "-i", inventory, f"{PROJECT}/playbooks/galera_recover.yml"],
        env=env, capture_output=True, text=True, cwd=PROJECT, timeout=900,
    )
    assert recover.returncode == 0, recover.stdout[-5000:] + recover.stderr[-2000:]
    chosen = re.search(r"Galera recovery: bootstrapping[^']*", recover.stdout)
    for name, node in nodes.items():
        assert _synced(node), f"{name} not Synced in a 3-member cluster after recovery"
    after = _service_sql(nodes["galera3"], _address(nodes["galera3"]), "SELECT COUNT(*) FROM hastack_rows").stdout.strip()
    assert after == before
    assert _service_sql(node1, _address(node1), f"SELECT COUNT(*) FROM hastack_rows WHERE marker = '{marker}'").stdout.strip() == "1"
    print("\nfull outage: " + (" ".join(chosen.group(0).split()) if chosen else "(no choice line)"))
    print(f"full outage recovered: playbook {time.monotonic() - recover_start:.1f} s, "
          f"{time.monotonic() - started:.1f} s from podman start; {after} rows present on every member")

    # The role accepts the recovered cluster again.
    assert _clustercheck(_address(node1)) == 200
