"""Helpers shared by the pacemaker scenario's tests: inventory access, crm_mon XML, podman."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest
import testinfra
import testinfra.utils.ansible_runner


def inventory_host(name):
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


@functools.lru_cache(maxsize=None)
def _direct(name):
    return testinfra.get_host(f"podman://{name}")


def direct_by_name(name):
    return _direct(name)


def direct(host):
    """The same host through `podman exec` (each command through Ansible's podman connection takes seconds)."""
    return _direct(host.backend.host)


@functools.lru_cache(maxsize=None)
def _variables(name):
    return inventory_host(name).ansible.get_variables()


def variables(host_or_name):
    """Inventory variables of a host (given as testinfra host or name), read once."""
    name = host_or_name if isinstance(host_or_name, str) else host_or_name.backend.host
    return _variables(name)


def crm_mon(host):
    """crm_mon's XML status as seen from `host` (a cluster node, or a remote node through pacemaker_remote)."""
    result = direct(host).run("crm_mon --one-shot --output-as=xml")
    assert result.rc == 0, result.stderr
    return ET.fromstring(result.stdout)


def nodes(status):
    return {node.get("name"): node.attrib for node in status.find("nodes")}


def has_quorum(status):
    return status.find("summary/current_dc").get("with_quorum") == "true"


def node_state(host, name):
    """crm_mon's view of a node, plus `connected`: crm_mon calls a remote node online as soon as its connection
    resource is active, even while it is only "Starting"; a remote node is up once that resource is Started."""
    return _state(crm_mon(host), name)


def _state(status, name):
    state = dict(nodes(status).get(name, {}))
    roles = [r.get("role") for r in status.iter("resource") if r.get("id") == name]
    state["connected"] = state.get("type") != "remote" or roles == ["Started"]
    state["up"] = state.get("online") == "true" and state.get("unclean") == "false" and state["connected"]
    return state


def cluster_problems(host):
    """What keeps the cluster from being healthy (no quorum, a node down, a resource not settled); [] if nothing."""
    groups = variables(host)["groups"]
    status = crm_mon(host)
    problems = [] if has_quorum(status) else ["no quorum"]
    problems += [f"{name} not up" for name in groups["controllers"] + groups["computes"] if not _state(status, name)["up"]]
    # Clone instances may legitimately be Stopped (nowhere to run); a primitive must be Started, nothing in transit.
    problems += [f"{r.get('id')} {r.get('role')}" for r in status.find("resources").findall("resource")
                 if r.get("role") != "Started"]
    problems += [f"{r.get('id')} {r.get('role')}" for r in status.iter("resource")
                 if r.get("role") in ("Starting", "Stopping", "Migrating")]
    return problems


def all_healthy(host):
    return not cluster_problems(host)


def podman(*args, check=True):
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check)


def container_running(name):
    result = podman("inspect", "--format", "{{.State.Running}}", name, check=False)
    return result.stdout.strip() == "true"


def wait_for(what, predicate, timeout, interval=1.0):
    """Poll predicate() until it returns a truthy value; return it, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except AssertionError as exc:  # a transient failure of a command while nodes move
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def _controllers():
    return testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("controllers")


@pytest.fixture(scope="session", autouse=True)
def settled_cluster():
    """Every test starts from a cluster that has finished its transitions (a remote node added by the converge run
    triggers an election and a last round of starts, which a first test could otherwise catch half done)."""
    observer = inventory_host(_controllers()[0])
    deadline = time.monotonic() + 180
    while True:
        try:
            problems = cluster_problems(observer)
        except AssertionError as exc:  # crm_mon failed, e.g. while the node's controller restarts
            problems = [str(exc)]
        if not problems or time.monotonic() > deadline:
            break
        time.sleep(3)
    if problems:
        pytest.fail(f"no settled, healthy cluster before the tests after 180 s: {problems}")


# What the scheduler and the fencer said, printed when a test failed: a compute fenced or a resource stopped
# without a test asking for it is otherwise unexplained in a CI log that keeps only its tail.
DIAGNOSIS = re.compile(r"will be fenced|Scheduling node|Fence operation|Peer \S+ was (not )?terminated|Lost connection|"
                       r"Timed out|not expected|A new membership")


def pytest_sessionfinish(session, exitstatus):
    if not session.testsfailed:
        return
    try:
        controllers = _controllers()
    except Exception as exc:  # the diagnosis must never hide the failure itself
        print(f"[diagnosis] no inventory: {exc}")
        return
    lines = []
    for name in controllers:
        if not container_running(name):
            print(f"[diagnosis] {name}: not running")
            continue
        journal = podman("exec", name, "journalctl", "--no-pager", "-o", "short-precise",
                         "-u", "corosync", "-u", "pacemaker", check=False).stdout.splitlines()
        lines += [line for line in journal if DIAGNOSIS.search(line)]
    for line in sorted(lines)[-20:]:
        print(f"[diagnosis] {line[:300]}")
    running = [name for name in controllers if container_running(name)]
    if running:
        history = podman("exec", running[0], "stonith_admin", "--history", "*", check=False)
        for line in history.stdout.splitlines()[-6:]:
            print(f"[diagnosis] {line}")
