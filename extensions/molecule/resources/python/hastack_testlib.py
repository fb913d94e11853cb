"""Helpers shared by the testinfra tests of the molecule scenarios (loadbalancer, dbvip, galera).

Commands go straight through ``podman exec`` (much faster than testinfra's Ansible connection), so the tests can
poll VIP holders and answers through a VIP a few times per second. Each scenario's ``tests/conftest.py`` puts
this directory on ``sys.path``.
"""

from __future__ import annotations

import base64
import subprocess
import time
import urllib.error
import urllib.request

import pytest


def podman(*args, check=True, timeout=120):
    """Run ``podman ARGS`` on the machine that runs molecule; the CompletedProcess (text output)."""
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=timeout)


def podman_exec(name, *command, env=None, check=False, timeout=60):
    """Run a command in container ``name`` (``env``: extra environment variables of the command)."""
    env_args = [f"--env={key}={value}" for key, value in (env or {}).items()]
    return podman("exec", *env_args, name, *command, check=check, timeout=timeout)


def vip_holders(vip, hosts):
    """The hosts whose ``ip -o addr`` shows ``vip`` (a stopped container holds nothing)."""
    holders = []
    for name in hosts:
        result = podman_exec(name, "ip", "-o", "addr", "show", timeout=10)
        if result.returncode == 0 and f" {vip}/" in result.stdout:
            holders.append(name)
    return holders


def http_get(url, timeout=1.0, auth=None):
    """(status, body) of a GET; ``auth`` is (user, password) for basic authentication."""
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - test traffic to the lab network
        return response.status, response.read().decode()


def http_status(url, timeout=10.0):
    """The HTTP status of a GET, also for error statuses (e.g. 503); None when nothing answered."""
    try:
        return http_get(url, timeout=timeout)[0]
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def answer(url, timeout=1.0):
    """The body (stripped) of a 200 answer, e.g. the name of the test backend that answered; else None."""
    try:
        status, body = http_get(url, timeout=timeout)
    except OSError:  # includes urllib.error.URLError and HTTPError
        return None
    return body.strip() if status == 200 else None


def wait_for(predicate, timeout, interval=0.1, what="condition"):
    """Poll predicate() every ``interval`` s; the seconds it took to become true (the test fails after timeout)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    pytest.fail(f"{what} not met within {timeout} s")


def wait_units_active(hosts, units, deadline):
    """Every host finished booting and runs every unit (systemd), before ``deadline`` (time.monotonic())."""
    for name in hosts:
        podman_exec(name, "systemctl", "is-system-running", "--wait", timeout=max(deadline - time.monotonic(), 1))
        for unit in units:
            while podman_exec(name, "systemctl", "is-active", unit).returncode != 0:
                assert time.monotonic() < deadline, f"{unit} on {name} is not active"
                time.sleep(0.5)


def wait_until_stable(hosts, condition, units=("haproxy", "keepalived"), timeout=120, settle=3.0, describe=None):
    """Hosts booted with ``units`` active, then condition() truthy for ``settle`` s in a row; its last value.

    ``describe()`` (optional) explains the state in the failure message.
    """
    deadline = time.monotonic() + timeout
    wait_units_active(hosts, units, deadline)
    stable_since = None
    while time.monotonic() < deadline:
        value = condition()
        if value:
            stable_since = stable_since or time.monotonic()
            if time.monotonic() - stable_since >= settle:
                return value
        else:
            stable_since = None
        time.sleep(0.2)
    pytest.fail(f"not stable within {timeout} s" + (f": {describe()}" if describe else ""))
