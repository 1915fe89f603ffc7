"""GPT disk images with one EFI System Partition, without loop devices.

The ESP is a FAT file system made by `mkfs.fat` in a plain file and filled
with `mmd`/`mcopy` (mtools); `sfdisk` writes the GPT around it (UEFI 2.10
§5.3 "GUID Partition Table Disk Layout", and §13.3.1.3: the ESP's type GUID
C12A7328-F81F-11D2-BA4B-00A0C93EC93B, which sfdisk calls `U`). The firmware
boots such a disk through its removable-media path \\EFI\\BOOT\\BOOTX64.EFI
(§3.5.1.1).
"""

import shutil
import tempfile
from pathlib import Path

from ramooflax.errors import LabError
from ramooflax.lab import proc

SECTOR = 512
PART_START = 1 << 20  # 1 MiB
GPT_TAIL = 1 << 20  # room for the backup GPT at the end
BOOT_PATH = "/EFI/BOOT/BOOTX64.EFI"
GRUB_EFI = Path("/usr/lib/grub/x86_64-efi")


def fat_image(out: Path, files: dict[str, Path], label: str, size_bytes: int) -> None:
    """A FAT file system of size_bytes holding files (/path/in/fs -> host file)."""
    with out.open("wb") as f:
        f.truncate(size_bytes)
    proc.run(["mkfs.fat", "-n", label, str(out)])
    dirs: set[str] = set()
    for dest in files:
        parts = dest.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    for d in sorted(dirs, key=lambda p: p.count("/")):
        proc.run(["mmd", "-i", str(out), f"::/{d}"])
    for dest, src in files.items():
        proc.run(["mcopy", "-i", str(out), str(src), f"::{dest}"])


def build(out: Path, files: dict[str, Path], label: str, size_mib: int) -> None:
    """Write a GPT disk of size_mib with one ESP holding files to out (atomically)."""
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        work = Path(tmp)
        fs = work / "esp.img"
        fat_image(fs, files, label, size_mib * (1 << 20) - PART_START - GPT_TAIL)
        img = work / "disk.img"
        with img.open("wb") as f:
            f.truncate(size_mib * (1 << 20))
        size = fs.stat().st_size // SECTOR
        proc.run(
            ["sfdisk", "-q", "--no-reread", "--no-tell-kernel", str(img)],
            input_text=f"label: gpt\nstart={PART_START // SECTOR}, size={size}, type=U\n",
        )
        with img.open("r+b") as f, fs.open("rb") as src:
            f.seek(PART_START)
            shutil.copyfileobj(src, f, 1 << 20)
        img.rename(out)


def grub_efi(out: Path, early_cfg: str, modules: list[str], work: Path) -> None:
    """GRUB for UEFI (grub-efi-amd64-bin) with early_cfg embedded, as out."""
    if not (GRUB_EFI / "kernel.img").exists():
        raise LabError(f"{GRUB_EFI} is missing: apt-get install grub-efi-amd64-bin")
    cfg = work / "early-efi.cfg"
    cfg.write_text(early_cfg)
    base = ["part_gpt", "fat", "search", "search_label", "echo", "test", "normal", "boot"]
    proc.run(
        ["grub-mkimage", "-O", "x86_64-efi", "-o", str(out), "-c", str(cfg), "-p", "/EFI/BOOT"]
        + list(dict.fromkeys(base + modules))
    )
