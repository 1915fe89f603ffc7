"""`ramooflax lab usb-image`: a GRUB disk that boots the hypervisor, as a USB key.

GRUB's multiboot loads loader.elf with setup.elf and vmm.elf as modules,
exactly what QEMU's -kernel/-initrd does; the hv then boots BIOS drive `disk`
(0x81: the installed disk that follows the key).
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


OPTIONS = "ctrl=uart:0x2f8 log=uart:0x3e8"


def multiboot_entry(disk_id: str, options: str = OPTIONS) -> str:
    return f"""
  multiboot /boot/loader.elf {options} disk={disk_id}
  module /boot/setup.elf setup
  module /boot/vmm.elf vmm
  boot
"""


def write_image(output: Path, files: dict[str, Path], entry: str, work: Path) -> None:
    cfg = work / "grub.cfg"
    cfg.write_text(grub_cfg(entry))
    disk.build(output, {**files, "/boot/grub/grub.cfg": cfg}, LABEL, EARLY_BODY, MODULES, IMAGE_MIB)


def build(output: Path, disk_id: str = "0x81", options: str = OPTIONS) -> Path:
    """Write the USB image to output, the hv booted with options (its
    multiboot command line, without disk=); return its absolute path."""
    if not re.fullmatch(r"0x[89][0-9a-fA-F]", disk_id):
        raise LabError(f"--disk {disk_id!r} is not a BIOS hard-disk number (0x80..0x9f)")
    if re.search(r"[\n;{}\"'\\$]", options):
        raise LabError(f"hv options {options!r} hold a character GRUB's config would parse")
    loader, setup, vmm = hv.ensure()
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    say("usb", f"writing {output} ({IMAGE_MIB} MiB, GRUB i386-pc, ext2 '{LABEL}')")
    files = {"/boot/loader.elf": loader, "/boot/setup.elf": setup, "/boot/vmm.elf": vmm}
    with tempfile.TemporaryDirectory(dir=output.parent) as tmp:
        write_image(output, files, multiboot_entry(disk_id, options), Path(tmp))
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
