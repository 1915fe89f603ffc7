"""ramooflax.efi chainloaded by GRUB (grub-efi), the third way to start it
(docs/uefi.md).

The first disk's ESP holds a GRUB whose script chainloads ramooflax.efi with
options on the chainloader line (the load options), then, once the
application has returned -- GRUB now runs inside the VM -- boots Linux from
the same ESP: the setup of a machine whose boot loader starts the
hypervisor before the OS.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from ramooflax.lab import disk, efidisk, guest, hv
from ramooflax.lab.machine import Machine, MachineSpec

pytestmark = pytest.mark.lab

BOOT_TIMEOUT = 400
OPTIONS = "ctrl=uart:0x2f8 log=uart:0x3e8 ctrl_timeout=7"
CHAIN = f"""
chainloader /ramooflax.efi {OPTIONS}
boot
echo "GRUB: back from ramooflax.efi"
"""


def test_chainloaded_by_grub(qemu_ok: None) -> None:
    work = Path(tempfile.mkdtemp(prefix="ramooflax-uefi-grub-"))
    original = guest.ensure("amd64", firmware="uefi")
    key = work / "grub-key.img"
    shutil.copyfile(original, key)
    grub = work / "grubx64.efi"
    script = disk.early_config(guest.UEFI_LABEL, CHAIN + guest.UEFI_GRUB_BODY)
    efidisk.grub_efi(grub, script, [*guest.GRUB_MODULES, "chain"], work)
    esp = f"{key}@@{efidisk.PART_START}"  # mtools' offset: the ESP at 1 MiB
    for src, dest in ((grub, efidisk.BOOT_PATH), (hv.efi_app(), "/ramooflax.efi")):
        subprocess.run(["mcopy", "-o", "-i", esp, str(src), f"::{dest}"], check=True)
    spec = MachineSpec(
        guest="amd64",
        with_hv=True,
        firmware="uefi",
        usb=key,
        image=original,
        log=work / "hv-uefi-grub.log",
    )
    with Machine(spec) as m:
        m.wait_ready(BOOT_TIMEOUT)
        console, log = m.console_text(), m.log_text()
        # GRUB's chainloader line reached the application as its load options.
        assert "ramooflax: options from the load options" in console, console[-3000:]
        assert f'options "{OPTIONS}"' in log, log
        assert "VM resumes the firmware in long mode" in log
        assert "GRUB: back from ramooflax.efi" in console.split("back to the boot manager", 1)[1]
        assert m.run("test -d /sys/firmware/efi && echo uefi").output.strip() == "uefi"
        assert m.run("grep -c -w svm /proc/cpuinfo").output.strip() == "0"
        assert "2 vCPUs" in m.hv_summary()
