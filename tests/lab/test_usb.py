"""One USB key (`ramooflax lab usb-image`) boots the hypervisor on a BIOS
machine (GRUB from the MBR; the hv starts the guest's disk, 0x81) and on a
UEFI one (BOOTX64.EFI from its EFI System Partition; OVMF then boots the
guest's disk, the next boot option)."""

from pathlib import Path

import pytest

from ramooflax.lab import usb
from ramooflax.lab.machine import Machine, MachineSpec

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return usb.build(tmp_path_factory.mktemp("usb") / "usb.img")


@pytest.mark.parametrize("firmware", ["bios", "uefi"])
def test_one_key_boots_both_firmwares(
    key: Path, firmware: str, tmp_path: Path, qemu_ok: None
) -> None:
    spec = MachineSpec(
        guest="amd64", usb=key, firmware=firmware, build=True, log=tmp_path / "hv.log"
    )
    with Machine(spec) as machine:
        machine.wait_ready(400)
        assert machine.run("uname -m").output.strip() == "x86_64"
        efi = machine.run("test -d /sys/firmware/efi && echo uefi || echo bios").output.strip()
        assert efi == firmware
        assert machine.run("grep -c -w svm /proc/cpuinfo").output.strip() == "0"
        assert "exits:" in machine.hv_summary()
        assert "vCPUs: every core is inside the VM" in machine.log_text()
