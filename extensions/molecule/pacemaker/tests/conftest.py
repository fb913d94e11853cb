"""Helpers shared by the pacemaker scenario's tests: inventory access, crm_mon XML, podman."""

from __future__ import annotations

import functools
import os
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest
import testinfra


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
