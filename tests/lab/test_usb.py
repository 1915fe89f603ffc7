"""The hypervisor boots from a GRUB USB image and starts the guest's disk (0x81)."""

from pathlib import Path

import pytest

from ramooflax.lab import usb
from ramooflax.lab.machine import Machine, MachineSpec

pytestmark = pytest.mark.lab


def test_usb_boot_reaches_guest_shell(tmp_path: Path, qemu_ok: None) -> None:
    image = usb.build(tmp_path / "usb.img")
    with Machine(
        MachineSpec(guest="amd64", usb=image, build=True, log=tmp_path / "hv.log")
    ) as machine:
        machine.wait_ready(400)
        assert machine.run("uname -m").output.strip() == "x86_64"
        assert machine.run("grep -c -w svm /proc/cpuinfo").output.strip() == "0"
        assert "exits:" in machine.hv_summary()
