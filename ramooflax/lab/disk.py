"""Bootable raw disk images without loop devices or mounting.

Layout: an MBR whose first 440 bytes are GRUB's boot.img, GRUB's core.img
from sector 1 (it must end below 1 MiB), and one bootable type-83 partition
at 1 MiB holding an ext2 file system made by `mke2fs -d`. The core.img carries
an embedded config that finds its partition by LABEL (the disk may be BIOS
drive 0x80 or 0x81) and boots at once: GRUB never reads a config file.

With `esp`, a second partition follows: an EFI System Partition (MBR type
0xEF, UEFI 2.10 §5.2.1 "Legacy Master Boot Record"), a FAT file system (efidisk.fat_image). A
UEFI firmware boots its \\EFI\\BOOT\\BOOTX64.EFI and ignores the MBR's code; a
BIOS runs that code and ignores the ESP: one disk boots on both.
"""

import shutil
import tempfile
from pathlib import Path

from ramooflax.errors import LabError
from ramooflax.lab import efidisk, proc

SECTOR = 512
PART_START = 1 << 20  # 1 MiB
GRUB_PC = Path("/usr/lib/grub/i386-pc")
BASE_MODULES = ["biosdisk", "part_msdos", "ext2", "search", "search_label", "search_fs_uuid"]
BASE_MODULES += ["echo", "test", "normal", "configfile", "boot"]


def early_config(label: str, body: str) -> str:
    """Embedded GRUB script: set root by label, then run body."""
    return f"search --no-floppy --set=root --label {label}\nset timeout=0\n{body.strip()}\n"


def build(
    out: Path,
    files: dict[str, Path],
    label: str,
    grub_body: str,
    modules: list[str],
    size_mib: int,
    esp: dict[str, Path] | None = None,
    esp_label: str = "",
    esp_mib: int = 0,
) -> None:
    """Write the image to out (atomically). files maps /path/in/fs -> host file;
    esp (the same) fills an EFI System Partition of esp_mib after it."""
    if not (GRUB_PC / "boot.img").exists():
        raise LabError(f"{GRUB_PC}/boot.img is missing: apt-get install grub-pc-bin")
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        work = Path(tmp)
        root = work / "root"
        for dest, src in files.items():
            target = root / dest.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
        fs = work / "fs.img"
        fs_bytes = size_mib * (1 << 20) - PART_START
        with fs.open("wb") as f:
            f.truncate(fs_bytes)
        proc.run(["mke2fs", "-q", "-F", "-t", "ext2", "-L", label, "-d", str(root), str(fs)])

        cfg = work / "early.cfg"
        cfg.write_text(early_config(label, grub_body))
        core = work / "core.img"
        proc.run(
            ["grub-mkimage", "-O", "i386-pc", "-o", str(core), "-c", str(cfg), "-p", "/boot/grub"]
            + list(dict.fromkeys(BASE_MODULES + modules))
        )
        core_bytes = core.read_bytes()
        if SECTOR + len(core_bytes) > PART_START:
            raise LabError(f"GRUB core.img is {len(core_bytes)} bytes: it must fit below 1 MiB")

        layout = f"label: dos\nstart={PART_START // SECTOR}, size={fs_bytes // SECTOR}, "
        layout += "type=83, bootable\n"
        esp_fs = work / "esp.img"
        if esp is not None:
            efidisk.fat_image(esp_fs, esp, esp_label, esp_mib << 20)
            start, size = (size_mib << 20) // SECTOR, (esp_mib << 20) // SECTOR
            layout += f"start={start}, size={size}, type=ef\n"
        img = work / "disk.img"
        with img.open("wb") as f:
            f.truncate((size_mib + (esp_mib if esp is not None else 0)) << 20)
        proc.run(["sfdisk", "-q", "--no-reread", "--no-tell-kernel", str(img)], input_text=layout)
        boot = (GRUB_PC / "boot.img").read_bytes()
        with img.open("r+b") as f:
            f.write(boot[:440])  # keep the disk signature and partition table
            f.seek(SECTOR)
            f.write(core_bytes)
            f.seek(PART_START)
            with fs.open("rb") as src_fs:
                shutil.copyfileobj(src_fs, f, 1 << 20)
            if esp is not None:
                f.seek(size_mib << 20)
                with esp_fs.open("rb") as src_esp:
                    shutil.copyfileobj(src_esp, f, 1 << 20)
        img.rename(out)
