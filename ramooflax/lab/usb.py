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

import hashlib
import inspect
import re
import tempfile
from pathlib import Path

from ramooflax.errors import LabError
from ramooflax.lab import disk, efidisk, hv, paths
from ramooflax.lab.progress import say

LABEL = "rfxusb"
IMAGE_MIB = 16  # the BIOS part, from the MBR to the end of the ext2 partition
ESP_MIB = 8
EFI_LABEL = "RFXKEY"
EFI_CFG = "/EFI/BOOT/ramooflax.cfg"
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


OPTIONS = "ctrl=uart:0x2f8 log=uart:0x3e8"  # the lab's serial wiring


def multiboot_entry(disk_id: str, options: str = OPTIONS) -> str:
    return f"""
  multiboot /boot/loader.elf {options} disk={disk_id}
  module /boot/setup.elf setup
  module /boot/vmm.elf vmm
  boot
"""


def build(output: Path, disk_id: str = "0x81", options: str = OPTIONS) -> Path:
    """Write the USB key to output, the hv booted with options (its command
    line without disk=: in GRUB's multiboot line for a BIOS, in ramooflax.cfg
    for UEFI); return its absolute path."""
    if not re.fullmatch(r"0x[89][0-9a-fA-F]", disk_id):
        raise LabError(f"--disk {disk_id!r} is not a BIOS hard-disk number (0x80..0x9f)")
    if re.search(r"[\n;{}\"'\\$]", options):
        raise LabError(f"hv options {options!r} hold a character GRUB's config would parse")
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
        cfg.write_text(grub_cfg(multiboot_entry(disk_id, options)))
        efi_cfg.write_text(options.strip() + "\n")
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


KEEP_KEYS = 8  # cached keys, one per option line; older ones are removed


def cached(options: str, disk_id: str = "0x81") -> Path:
    """A key booting the hv with options, under build/lab/usb/: built once per
    set of ELFs and option line (the lab's Bochs machines boot the hv from it)."""
    elfs = hv.ensure()
    key = hashlib.sha256()
    for elf in elfs:
        key.update(elf.read_bytes())
    key.update(f"{options} disk={disk_id}".encode())
    key.update(inspect.getsource(disk).encode())
    folder = paths.lab_dir() / "usb"
    out = folder / f"rfxusb-{key.hexdigest()[:16]}.img"
    if out.exists():
        out.touch()  # recently used: kept by the pruning below
        return out
    folder.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    build(tmp, disk_id, options).rename(out)
    keys = sorted(folder.glob("rfxusb-*.img"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in keys[KEEP_KEYS:]:
        old.unlink(missing_ok=True)
    return out
