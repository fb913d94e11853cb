"""memcached serves the management network: a key stored from one host is read from the other."""

import os
import uuid

import pytest

testinfra_hosts = ["ansible://controllers"]

PORT = 11211


def _mgmt_address(host):
    return host.ansible.get_variables()["hastack_mgmt_address"]


def _peer(host, name):
    return host.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def _memcached(host, address, request):
    """Speak the memcached text protocol to address:PORT from inside `host` (bash /dev/tcp, no client tools)."""
    script = (
        f"exec 3<>/dev/tcp/{address}/{PORT} && printf '%b' \"$REQ\" >&3 && "
        "timeout 3 cat <&3 || true"
    )
    return host.run("REQ=%s bash -c %s", request, script)


def test_service_running_and_enabled(host):
    service = host.service("memcached")
    assert service.is_running
    assert service.is_enabled


def test_listens_on_management_address_only(host):
    address = _mgmt_address(host)
    assert host.socket(f"tcp://{address}:{PORT}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{PORT}").is_listening
    assert not host.socket(f"tcp://127.0.0.1:{PORT}").is_listening
    assert not host.socket(f"udp://{address}:{PORT}").is_listening


def test_config_not_world_writable(host):
    conf = host.file("/etc/memcached.conf")
    assert conf.user == "root"
    assert conf.mode & 0o022 == 0


@pytest.mark.parametrize("server_index", [0, 1])
def test_key_written_from_one_host_is_read_from_another(host, server_index):
    hostvars = host.ansible.get_variables()
    controllers = hostvars["groups"]["controllers"]
    writer = host
    reader = _peer(host, next(name for name in controllers if name != hostvars["inventory_hostname"]))
    server = _mgmt_address(_peer(host, controllers[server_index]))
    key, value = f"hastack-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex

    stored = _memcached(writer, server, f"set {key} 0 300 {len(value)}\\r\\n{value}\\r\\nquit\\r\\n")
    assert "STORED" in stored.stdout, stored

    read = _memcached(reader, server, f"get {key}\\r\\nquit\\r\\n")
    assert f"VALUE {key} 0 {len(value)}" in read.stdout, read
    assert value in read.stdout
