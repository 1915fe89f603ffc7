"""ramooflax.efi started from the UEFI shell (docs/uefi.md).

The key carries the application outside the removable-media path, and the
guest disk its GRUB at \\EFI\\debian\\grubx64.efi: the boot manager finds no
boot option on either disk and starts OVMF's built-in shell, which runs the
key's startup.nsh. The script starts ramooflax.efi with options on its
command line (the load options), then, back in the shell -- now inside the
VM -- the guest's GRUB, which boots Linux under the hypervisor.
"""

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ramooflax.lab import efidisk, guest, hv
from ramooflax.lab.machine import Machine, MachineSpec

pytestmark = pytest.mark.lab

BOOT_TIMEOUT = 400
GRUB_AT = "/EFI/debian/grubx64.efi"
STARTUP = r"""@echo -off
for %a in fs0 fs1 fs2 fs3
  if exist %a:\ramooflax.efi then
    %a:\ramooflax.efi ctrl=uart:0x2f8 log=uart:0x3e8 ctrl_timeout=7
  endif
endfor
for %a in fs0 fs1 fs2 fs3
  if exist %a:\EFI\debian\grubx64.efi then
    %a:\EFI\debian\grubx64.efi
  endif
endfor
"""


@pytest.fixture(scope="module")
def shell_machine(qemu_ok: None) -> Iterator[Machine]:
    work = Path(tempfile.mkdtemp(prefix="ramooflax-uefi-shell-"))
    disk = work / "guest.img"
    shutil.copyfile(guest.ensure("amd64", firmware="uefi"), disk)
    # Move GRUB off the removable-media path, in the ESP at 1 MiB (mtools' @@offset).
    esp = f"{disk}@@{efidisk.PART_START}"
    subprocess.run(["mmd", "-i", esp, "::/EFI/debian"], check=True)
    subprocess.run(["mmove", "-i", esp, f"::{efidisk.BOOT_PATH}", f"::{GRUB_AT}"], check=True)
    script = work / "startup.nsh"
    script.write_text(STARTUP.replace("\n", "\r\n"))
    key = work / "key.img"
    efidisk.build(key, {"/ramooflax.efi": hv.efi_app(), "/startup.nsh": script}, "RFXSHELL", 8)
    spec = MachineSpec(
        guest="amd64",
        with_hv=True,
        firmware="uefi",
        usb=key,
        image=disk,
        log=work / "hv-uefi-shell.log",
    )
    with Machine(spec) as m:
        m.wait_ready(BOOT_TIMEOUT)
        yield m


def test_started_from_the_shell(shell_machine: Machine) -> None:
    console, log = shell_machine.console_text(), shell_machine.log_text()
    # The shell's command line reached the application as its load options.
    assert "ramooflax: options from the load options" in console, console[-3000:]
    assert 'options "ctrl=uart:0x2f8 log=uart:0x3e8 ctrl_timeout=7"' in log
    assert "VM resumes the firmware in long mode" in log
    back = console.split("back to the boot manager", 1)[1]
    assert "Welcome to GRUB" in back  # the script's next command, in the VM
    assert shell_machine.run("grep -c -w svm /proc/cpuinfo").output.strip() == "0"
    assert "2 vCPUs" in shell_machine.hv_summary()
