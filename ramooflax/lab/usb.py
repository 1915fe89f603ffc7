"""`ramooflax lab usb-image`: a GRUB disk that boots the hypervisor, as a USB key.

GRUB's multiboot loads loader.elf with setup.elf and vmm.elf as modules,
exactly what QEMU's -kernel/-initrd does; the hv then boots BIOS drive `disk`
(0x81: the installed disk that follows the key).
"""

import re
import tempfile
from pathlib import Path

from ramooflax.errors import LabError
from ramooflax.lab import disk, efidisk, hv
from ramooflax.lab.progress import say

LABEL = "rfxusb"
IMAGE_MIB = 16
MODULES = ["multiboot", "linux", "configfile", "normal"]


# The embedded config only finds the partition; GRUB's normal mode then reads
# /boot/grub/grub.cfg, whose parser (unlike the embedded one) knows menuentry.
EARLY_BODY = "set prefix=($root)/boot/grub\n"


def grub_cfg(entry: str) -> str:
    return f"""set timeout=0
set default=0
menuentry "Ramooflax" {{
{entry.strip()}
}}
"""


def multiboot_entry(disk_id: str) -> str:
    return f"""
  multiboot /boot/loader.elf ctrl=uart:0x2f8 log=uart:0x3e8 disk={disk_id}
  module /boot/setup.elf setup
  module /boot/vmm.elf vmm
  boot
"""


def write_image(output: Path, files: dict[str, Path], entry: str, work: Path) -> None:
    cfg = work / "grub.cfg"
    cfg.write_text(grub_cfg(entry))
    disk.build(output, {**files, "/boot/grub/grub.cfg": cfg}, LABEL, EARLY_BODY, MODULES, IMAGE_MIB)


def build(output: Path, disk_id: str = "0x81") -> Path:
    """Write the USB image to output; return its absolute path."""
    if not re.fullmatch(r"0x[89][0-9a-fA-F]", disk_id):
        raise LabError(f"--disk {disk_id!r} is not a BIOS hard-disk number (0x80..0x9f)")
    loader, setup, vmm = hv.ensure()
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    say("usb", f"writing {output} ({IMAGE_MIB} MiB, GRUB i386-pc, ext2 '{LABEL}')")
    files = {"/boot/loader.elf": loader, "/boot/setup.elf": setup, "/boot/vmm.elf": vmm}
    with tempfile.TemporaryDirectory(dir=output.parent) as tmp:
        write_image(output, files, multiboot_entry(disk_id), Path(tmp))
    return output


EFI_LABEL = "RFXKEY"
EFI_KEY_MIB = 8
EFI_CFG = "/EFI/BOOT/ramooflax.cfg"
EFI_OPTIONS = "ctrl=uart:0x2f8 log=uart:0x3e8"


def efi_key(output: Path, options: str) -> Path:
    """A key for a UEFI machine: a GPT disk whose ESP holds ramooflax.efi at
    the removable-media path \\EFI\\BOOT\\BOOTX64.EFI and its options in
    ramooflax.cfg beside it (docs/uefi.md). Returns output."""
    app = hv.efi_app()
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent) as tmp:
        cfg = Path(tmp) / "ramooflax.cfg"
        cfg.write_text(options.strip() + "\n")
        files = {efidisk.BOOT_PATH: app, EFI_CFG: cfg}
        efidisk.build(output, files, EFI_LABEL, EFI_KEY_MIB)
    return output
