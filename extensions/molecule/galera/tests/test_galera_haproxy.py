"""HAProxy in front of the real Galera members: SQL through the database VIP reaches one member at a time, and
never a member that is not Synced (the galera role's clustercheck on 9200 answers 503 and HAProxy takes the
member out).

The members hold the database VIP themselves (keepalived + HAProxy on each, the VIP on galera1). The client is
galera3's mariadb, connecting to the VIP as the service user. Every test first waits for the same state (three
Synced members, the VIP on galera1, SQL answered by galera1) and restores it, so the tests do not depend on
their order or on test_galera.py. Commands go through `podman exec` (hastack_testlib), fast enough to poll.
"""

import time

from hastack_testlib import http_status, podman_exec, vip_holders, wait_for, wait_until_stable

MEMBERS = ["galera1", "galera2", "galera3"]
ADDRESSES = {"galera1": "10.203.12.11", "galera2": "10.203.12.12", "galera3": "10.203.12.13"}
DB_VIP = "10.203.12.9"
CLIENT = "galera3"
SERVICE_USER, SERVICE_PASSWORD, SERVICE_DB = "moltest", "molecule-moltest-secret", "moltest"
# HAProxy checks every 2 s and marks a server down after 2 failures: a few seconds, plus one client round trip.
SWITCH_LIMIT = 10.0
# After the switch, every answer during this many seconds must come from the new writer.
OBSERVE = 10.0


def sql_through_vip(query="SELECT @@wsrep_node_name"):
    """The answer of `query` sent through HAProxy on the database VIP, or None when the connection failed."""
    result = podman_exec(
        CLIENT,
        "mariadb", "--connect-timeout=2", "--batch", "--skip-column-names",
        "-h", DB_VIP, "-u", SERVICE_USER, SERVICE_DB, "-e", query,
        env={"MYSQL_PWD": SERVICE_PASSWORD},
        timeout=30,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def root_sql(member, query):
    """Run `query` as root on a member (unix socket); its output."""
    result = podman_exec(member, "mariadb", "--batch", "--skip-column-names", "-e", query, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def status(member, name):
    result = podman_exec(member, "mariadb", "--batch", "--skip-column-names", "-e", f"SHOW GLOBAL STATUS LIKE '{name}'")
    fields = result.stdout.split()
    return fields[1] if result.returncode == 0 and len(fields) == 2 else None


def synced(member):
    return status(member, "wsrep_local_state_comment") == "Synced" and status(member, "wsrep_cluster_size") == "3"


def clustercheck(member):
    return http_status(f"http://{ADDRESSES[member]}:9200/", timeout=10)


def healthy():
    """Three Synced members, the VIP on galera1 alone, and galera1 answering SQL through it."""
    return (
        all(synced(member) for member in MEMBERS)
        and vip_holders(DB_VIP, MEMBERS) == ["galera1"]
        and sql_through_vip() == "galera1"
    )


def wait_until_healthy(timeout=420):
    wait_until_stable(
        MEMBERS,
        healthy,
        units=("mariadb", "haproxy", "keepalived"),
        timeout=timeout,
        describe=lambda: (
            f"Synced: {[member for member in MEMBERS if synced(member)]}, VIP on {vip_holders(DB_VIP, MEMBERS)}, "
            f"SQL through the VIP answered by {sql_through_vip()}"
        ),
    )


def move_away_from(member, start):
    """Poll SQL through the VIP from `start` on; the seconds until another member answered, and that member.

    Until the switch only `member` may answer (or the connection fails while HAProxy still sends it there).
    After it, every answer for OBSERVE seconds must come from the new writer: never `member` again, never a
    third member, never a failed connection.
    """
    before = []
    while True:
        answered = sql_through_vip()
        if answered not in (member, None):
            break
        before.append(answered)
        assert time.monotonic() - start <= SWITCH_LIMIT, (
            f"HAProxy still sends SQL to {member} (or nowhere) {time.monotonic() - start:.1f} s later: {before[-5:]}")
    seconds = time.monotonic() - start
    writer = answered
    assert writer in MEMBERS, f"unexpected answer through the VIP: {writer!r}"
    after = [writer]
    observe_until = time.monotonic() + OBSERVE
    while time.monotonic() < observe_until:
        after.append(sql_through_vip())
    assert after == [writer] * len(after), f"after the switch to {writer}, SQL through the VIP got {after}"
    print(f"  {len(before)} answer(s) before the switch ({sorted(set(map(str, before)))}), "
          f"{len(after)} after it, all from {writer}")
    return seconds, writer


def test_sql_through_the_vip_goes_to_the_first_member_only():
    wait_until_healthy()
    assert vip_holders(DB_VIP, MEMBERS) == ["galera1"], "galera1 (highest priority) holds the database VIP"
    answers = [sql_through_vip() for _attempt in range(6)]
    assert answers == ["galera1"] * 6, answers
    # Each member's HAProxy has the same single writer: galera1 active, galera2 and galera3 backup.
    for member in MEMBERS:
        config = podman_exec(member, "cat", "/etc/haproxy/haproxy.cfg", check=True).stdout
        servers = [line.split() for line in config.splitlines() if line.strip().startswith("server galera")]
        assert [(words[1], "backup" in words, "port" in words and words[words.index("port") + 1]) for words in servers] == [
            ("galera1", False, "9200"), ("galera2", True, "9200"), ("galera3", True, "9200")
        ], servers


def test_desynced_member_gets_no_sql_through_haproxy():
    wait_until_healthy()
    root_sql("galera1", "SET GLOBAL wsrep_desync = ON")
    start = time.monotonic()
    try:
        assert status("galera1", "wsrep_local_state_comment") == "Donor/Desynced"
        assert clustercheck("galera1") == 503
        print("\ngalera1 desynced (wsrep_desync=ON, clustercheck 503):")
        seconds, writer = move_away_from("galera1", start)
        print(f"galera1 desynced: SQL through the VIP answered by {writer} after {seconds:.1f} s, never by galera1 again")
        assert writer == "galera2", "the first backup takes over"
        assert status("galera1", "wsrep_local_state_comment") == "Donor/Desynced", "galera1 stayed desynced meanwhile"
    finally:
        root_sql("galera1", "SET GLOBAL wsrep_desync = OFF")
    back = wait_for(lambda: sql_through_vip() == "galera1", 60, interval=0.5, what="galera1 answering again")
    print(f"galera1 Synced again (wsrep_desync=OFF): SQL back on galera1 after {back:.1f} s")
    wait_until_healthy()


def test_stopped_member_gets_no_sql_through_haproxy():
    wait_until_healthy()
    podman_exec("galera1", "systemctl", "stop", "mariadb", check=True, timeout=120)
    start = time.monotonic()
    try:
        assert clustercheck("galera1") == 503
        print("\nMariaDB stopped on galera1 (clustercheck 503):")
        seconds, writer = move_away_from("galera1", start)
        print(f"MariaDB stopped on galera1: SQL through the VIP answered by {writer} after {seconds:.1f} s")
        assert writer == "galera2", "the first backup takes over"
        assert vip_holders(DB_VIP, MEMBERS) == ["galera1"], "a failed backend does not move the VIP"
    finally:
        podman_exec("galera1", "systemctl", "start", "mariadb", check=True, timeout=600)
    rejoined = wait_for(lambda: synced("galera1"), 300, interval=1, what="galera1 Synced in a 3-member cluster")
    back = wait_for(lambda: sql_through_vip() == "galera1", 60, interval=0.5, what="galera1 answering again")
    print(f"galera1 restarted: Synced {rejoined:.1f} s after start returned, SQL back on galera1 {back:.1f} s later")
    wait_until_healthy()
