"""The lab's test image writer: a bootable sector whose code points at the message it prints.

The image really booting under KVM and printing its line is checked by tests/lab/test_lab_cloud.py.
"""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("test_bootdisk", ROOT / "roles/lab_openstack/files/test_bootdisk.py")
bootdisk = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bootdisk)


def test_disk_is_one_mebibyte_with_a_boot_signature(tmp_path):
    path = tmp_path / "disk.raw"
    assert bootdisk.main(["test_bootdisk.py", str(path), "hello"]) == 0
    data = path.read_bytes()
    assert len(data) == 1024 * 1024
    assert data[510:512] == b"\x55\xaa"
    assert data[512:] == bytes(len(data) - 512)


def test_code_prints_the_message_it_points_at():
    sector = bootdisk.boot_sector("hastack-lab test instance: booted")
    assert sector[5] == 0xBE  # mov si, imm16
    address = sector[6] | sector[7] << 8
    offset = address - 0x7C00
    assert sector[offset:].split(b"\0", 1)[0] == b"hastack-lab test instance: booted\r\n"
    assert sector[8:11] == b"\xba\xf8\x03"  # mov dx, COM1
    # jz done / jmp next / jmp halt land on cli, lodsb and hlt
    assert sector[16 + sector[15]] == 0xFA
    assert sector[19 + (sector[18] - 256)] == 0xAC
    assert sector[23 + (sector[22] - 256)] == 0xF4


def test_partition_table_passes_image_safety_checks():
    """Nova's format inspector refuses an MBR whose four entries are all empty or have odd boot flags."""
    sector = bootdisk.boot_sector("x")
    entries = [sector[446 + 16 * i:462 + 16 * i] for i in range(4)]
    assert all(entry[0] in (0x00, 0x80) for entry in entries)
    assert [entry[4] for entry in entries] == [0x83, 0, 0, 0]
    start = int.from_bytes(entries[0][8:12], "little")
    size = int.from_bytes(entries[0][12:16], "little")
    assert start == 1 and (start + size) * 512 == 1024 * 1024


def test_message_too_long_is_refused():
    with pytest.raises(ValueError):
        bootdisk.boot_sector("x" * 430)


def test_usage_error_without_a_path(capsys):
    assert bootdisk.main(["test_bootdisk.py"]) == 2
    assert "Usage" in capsys.readouterr().err
