"""`ramooflax lab usb-image`: the USB key, for BIOS and UEFI machines alike.

One MBR disk with two partitions (disk.build):
- for a BIOS: GRUB (i386-pc) in the MBR and an ext2 partition; GRUB's
  multiboot loads loader.elf with setup.elf and vmm.elf as modules, exactly
  what QEMU's -kernel/-initrd does; the hv then boots BIOS drive `disk` (0x81:
  the installed disk that follows the key);
- for UEFI: an EFI System Partition holding ramooflax.efi at the removable
  media path \\EFI\\BOOT\\BOOTX64.EFI and its options in ramooflax.cfg beside
  it (docs/uefi.md); the firmware then boots its next boot option.
"""

import re
import tempfile
from pathlib import Path

from ramooflax.errors import LabError
from ramooflax.lab import disk, efidisk, hv
from ramooflax.lab.progress import say

LABEL = "rfxusb"
IMAGE_MIB = 16  # the BIOS part, from the MBR to the end of the ext2 partition
ESP_MIB = 8
EFI_LABEL = "RFXKEY"
EFI_CFG = "/EFI/BOOT/ramooflax.cfg"
EFI_OPTIONS = "ctrl=uart:0x2f8 log=uart:0x3e8"
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


def build(output: Path, disk_id: str = "0x81", efi_options: str = "") -> Path:
    """Write the USB key to output; return its absolute path. efi_options go to
    ramooflax.cfg (default: the lab's serial wiring, EFI_OPTIONS)."""
    if not re.fullmatch(r"0x[89][0-9a-fA-F]", disk_id):
        raise LabError(f"--disk {disk_id!r} is not a BIOS hard-disk number (0x80..0x9f)")
    loader, setup, vmm = hv.ensure()
    app = hv.efi_app()
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    say(
        "usb",
        f"writing {output} ({IMAGE_MIB + ESP_MIB} MiB: GRUB i386-pc and ext2 '{LABEL}' for "
        f"a BIOS, an EFI System Partition '{EFI_LABEL}' for UEFI)",
    )
    files = {"/boot/loader.elf": loader, "/boot/setup.elf": setup, "/boot/vmm.elf": vmm}
    with tempfile.TemporaryDirectory(dir=output.parent) as tmp:
        work = Path(tmp)
        cfg, efi_cfg = work / "grub.cfg", work / "ramooflax.cfg"
        cfg.write_text(grub_cfg(multiboot_entry(disk_id)))
        efi_cfg.write_text((efi_options or EFI_OPTIONS).strip() + "\n")
        disk.build(
            output,
            {**files, "/boot/grub/grub.cfg": cfg},
            LABEL,
            EARLY_BODY,
            MODULES,
            IMAGE_MIB,
            esp={efidisk.BOOT_PATH: app, EFI_CFG: efi_cfg},
            esp_label=EFI_LABEL,
            esp_mib=ESP_MIB,
        )
    return output
