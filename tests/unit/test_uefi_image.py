"""ramooflax.efi and the lab's UEFI disks, without booting anything.

* build/hv/ramooflax.efi is a PE32+ image for x86-64 whose optional header
  names subsystem 10, EFI application (PE/COFF: "Optional Header Windows-
  Specific Fields"; UEFI 2.10 §2.1.1), with its entry point inside the image
  and no import table entries the firmware would have to resolve.
* efidisk.build writes a GPT disk whose one partition is an EFI System
  Partition (type C12A7328-F81F-11D2-BA4B-00A0C93EC93B, UEFI 2.10 §5.3.3)
  holding the files given, read back with mtools from the partition itself.
* qemu.command gives a UEFI machine OVMF's code read-only, the run's own
  variables, and the key before the guest disk in the boot order.

Each check on the image also runs on a file that must not pass.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import uuid
from pathlib import Path

import pytest

from ramooflax.lab import efidisk, qemu

ROOT = Path(__file__).resolve().parents[2]
EFI = ROOT / "build" / "hv" / "ramooflax.efi"
ESP_TYPE = uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
needs_fat = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("mkfs.fat", "mcopy", "mtype", "sfdisk")),
    reason="needs dosfstools, mtools and fdisk",
)


def check_efi_app(data: bytes) -> None:
    assert data[:2] == b"MZ", "no MZ header"
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    assert data[pe : pe + 4] == b"PE\0\0", "no PE signature"
    machine, nsect, _, _, _, opt_size, _ = struct.unpack_from("<HHIIIHH", data, pe + 4)
    assert machine == 0x8664, f"machine 0x{machine:x} is not x86-64"
    opt = pe + 24
    magic = struct.unpack_from("<H", data, opt)[0]
    assert magic == 0x20B, f"optional header magic 0x{magic:x} is not PE32+"
    entry = struct.unpack_from("<I", data, opt + 16)[0]
    size_of_image = struct.unpack_from("<I", data, opt + 56)[0]
    subsystem = struct.unpack_from("<H", data, opt + 68)[0]
    assert subsystem == 10, f"subsystem {subsystem} is not EFI application (10)"
    assert 0 < entry < size_of_image, "entry point outside the image"
    assert nsect >= 2 and opt_size >= 112


@pytest.fixture(scope="module")
def efi_bytes() -> bytes:
    make = ["make", "-s", "-C", str(ROOT / "hv")]
    done = subprocess.run(make, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return EFI.read_bytes()


def test_efi_is_pe32plus_efi_application(efi_bytes: bytes) -> None:
    check_efi_app(efi_bytes)
    assert b"ramooflax: the firmware runs in the VM" in efi_bytes


def test_efi_check_can_fail(efi_bytes: bytes) -> None:
    pe = struct.unpack_from("<I", efi_bytes, 0x3C)[0]
    wrong_subsystem = bytearray(efi_bytes)
    struct.pack_into("<H", wrong_subsystem, pe + 24 + 68, 3)  # a console program
    with pytest.raises(AssertionError, match="subsystem"):
        check_efi_app(bytes(wrong_subsystem))
    elf = (ROOT / "build" / "hv" / "vmm.elf").read_bytes()
    with pytest.raises(AssertionError, match="MZ"):
        check_efi_app(elf)


@needs_fat
def test_gpt_disk_with_esp(tmp_path: Path) -> None:
    payload = tmp_path / "app.efi"
    payload.write_bytes(b"not really an application\n" * 100)
    cfg = tmp_path / "ramooflax.cfg"
    cfg.write_text("ctrl=uart:0x2f8\n")
    out = tmp_path / "disk.img"
    efidisk.build(out, {efidisk.BOOT_PATH: payload, "/EFI/BOOT/ramooflax.cfg": cfg}, "RFXT", 8)
    data = out.read_bytes()
    assert len(data) == 8 << 20
    # GPT header at LBA 1, partition entries from the LBA it names.
    assert data[512:520] == b"EFI PART"
    entries_lba, _count, size = struct.unpack_from("<QII", data, 512 + 72)
    first = data[entries_lba * 512 : entries_lba * 512 + size]
    assert uuid.UUID(bytes_le=first[:16]) == ESP_TYPE
    start, end = struct.unpack_from("<QQ", first, 32)
    assert start * 512 == efidisk.PART_START and end > start
    part = tmp_path / "part.img"
    part.write_bytes(data[start * 512 : (end + 1) * 512])
    got = subprocess.run(
        ["mtype", "-i", str(part), "::/EFI/BOOT/BOOTX64.EFI"], capture_output=True, check=True
    ).stdout
    assert got == payload.read_bytes()
    label = subprocess.run(
        ["mlabel", "-s", "-i", str(part), "::"], capture_output=True, text=True, check=True
    )
    assert "RFXT" in label.stdout


def test_qemu_command_uefi(tmp_path: Path) -> None:
    cfg = qemu.Config(
        guest=tmp_path / "guest.img",
        console_port=1,
        ctrl_port=2,
        log=tmp_path / "log",
        cpu="EPYC",
        usb=tmp_path / "key.img",
        firmware="uefi",
        ovmf_vars=tmp_path / "vars.fd",
    )
    argv = " ".join(qemu.command(cfg))
    assert f"if=pflash,format=raw,unit=0,readonly=on,file={qemu.OVMF_CODE}" in argv
    assert f"if=pflash,format=raw,unit=1,file={tmp_path / 'vars.fd'}" in argv
    key = argv.index(f"file={tmp_path / 'key.img'}")
    disk = argv.index(f"file={tmp_path / 'guest.img'}")
    assert key < disk and "drive=disk0,bootindex=0" in argv and "drive=disk1,bootindex=1" in argv
    assert "-kernel" not in argv
    with pytest.raises(Exception, match="OVMF variables"):
        qemu.command(qemu.Config(**{**cfg.__dict__, "ovmf_vars": None}))
