"""Write the lab's test image: a 1 MiB raw disk whose boot sector prints one line on the serial port and halts.

Lab only. No image can be downloaded here, and the instances only have to exist as running KVM guests
(a qemu process that Nova, libvirt and the Masakari monitors can see) and prove on their console that they
booted, so 40 bytes of real-mode code are enough. Usage: python3 test_bootdisk.py PATH [MESSAGE]
"""

import sys

ORIGIN = 0x7C00
DISK_SIZE = 1024 * 1024
PARTITION_TABLE = 446


def boot_sector(message):
    text = message.encode("ascii") + b"\r\n\0"
    message_offset = 23
    address = ORIGIN + message_offset
    code = bytes(
        [
            0x31, 0xC0,                                 # xor ax, ax
            0x8E, 0xD8,                                 # mov ds, ax
            0xFC,                                       # cld
            0xBE, address & 0xFF, address >> 8,         # mov si, message
            0xBA, 0xF8, 0x03,                           # mov dx, 0x3f8 (COM1)
            0xAC,                                       # next: lodsb
            0x84, 0xC0,                                 # test al, al
            0x74, 0x03,                                 # jz done
            0xEE,                                       # out dx, al
            0xEB, 0xF8,                                 # jmp next
            0xFA,                                       # done: cli
            0xF4,                                       # halt: hlt
            0xEB, 0xFD,                                 # jmp halt
        ]
    )
    assert len(code) == message_offset
    sector = code + text
    if len(sector) > PARTITION_TABLE:
        raise ValueError("message too long for one boot sector")
    # One partition covering the rest of the disk: image safety checks (Nova's format inspector) refuse an
    # MBR without partitions.
    partition = bytes([0x80, 0x00, 0x02, 0x00, 0x83, 0xFE, 0xFF, 0xFF])
    partition += (1).to_bytes(4, "little") + (DISK_SIZE // 512 - 1).to_bytes(4, "little")
    return (sector.ljust(PARTITION_TABLE, b"\0") + partition).ljust(510, b"\0") + b"\x55\xaa"


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    message = argv[2] if len(argv) == 3 else "hastack-lab test instance: booted"
    with open(argv[1], "wb") as disk:
        disk.write(boot_sector(message).ljust(DISK_SIZE, b"\0"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
