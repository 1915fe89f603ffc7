r"""Guest disk images: Debian's kernel + a busybox initramfs, booted by GRUB.

The image name carries the package versions and a hash of the recipe, so a new
kernel, busybox or recipe makes a new image and an old one is reused as is:
<cache>/guests/<arch>-<kernel version>-<busybox version>-<recipe hash>.img
(<arch>+<kernel package>-... for a kernel chosen with --kernel-package).

Firmware "bios" (the default) gives an MBR disk with GRUB i386-pc (disk.py);
"uefi" a GPT disk whose EFI System Partition holds GRUB x86_64-efi as
\EFI\BOOT\BOOTX64.EFI with the same kernel and initramfs (efidisk.py):
<cache>/guests/<arch>-uefi-<kernel version>-<busybox version>-<recipe hash>.img
"""

import hashlib
import inspect
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ramooflax.errors import LabError
from ramooflax.lab import cpio, debian, disk, efidisk, paths
from ramooflax.lab.progress import say

READY_MARKER = "RAMOOFLAX-GUEST-READY"
LABEL = "rfxguest"
IMAGE_MIB = 64


@dataclass(frozen=True)
class Arch:
    name: str  # as the CLI spells it
    deb_arch: str  # Debian architecture
    flavour: str  # linux-image-<flavour>
    uname: str  # `uname -m` in the guest


ARCHES = {
    "amd64": Arch("amd64", "amd64", "amd64", "x86_64"),
    "i386": Arch("i386", "i386", "686", "i686"),
}

INIT_SCRIPT = f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/ttyS0 >/dev/ttyS0 2>&1
stty -echo
export PS1=''
echo {READY_MARKER}
# The shell is not PID 1: an interactive ash as init exits (and the kernel
# panics) when an orphaned background job it inherited is killed. init stays
# behind it, reaps orphans, and starts a new shell if one ends.
while :; do
    setsid cttyhack sh
    stty -echo
    echo "[init] the shell ended; a new one is ready"
done
"""

# iomem=relaxed: with CONFIG_IO_STRICT_DEVMEM, /dev/mem refuses the hole left
# by the VMM (the kernel claims it as a busy "RAM buffer"), and the lab's tests
# write there on purpose to see the hypervisor's #NPF handling.
GRUB_BODY = """
linux /boot/vmlinuz console=ttyS0,115200 quiet iomem=relaxed
initrd /boot/initrd.img
boot
"""
GRUB_MODULES = ["linux"]
FIRMWARES = ("bios", "uefi")
UEFI_LABEL = "RFXGUEST"  # FAT labels are upper case
UEFI_ARCHES = ("amd64",)  # GRUB x86_64-efi from grub-efi-amd64-bin
# efi=debug: the kernel logs the firmware's memory map (`efi: mem..` lines).
UEFI_GRUB_BODY = GRUB_BODY.replace("iomem=relaxed", "iomem=relaxed efi=debug")


def arch(name: str) -> Arch:
    try:
        return ARCHES[name]
    except KeyError:
        raise LabError(f"unknown guest arch {name!r}: choose one of {', '.join(ARCHES)}") from None


def recipe_hash(firmware: str = "bios") -> str:
    """Hash of everything that shapes the image besides the package versions."""
    parts = [INIT_SCRIPT, GRUB_BODY, " ".join(GRUB_MODULES), str(IMAGE_MIB)]
    parts += [inspect.getsource(disk), inspect.getsource(cpio), inspect.getsource(initramfs)]
    if firmware == "uefi":
        parts += [inspect.getsource(efidisk), UEFI_LABEL, UEFI_GRUB_BODY]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:10]


def check_firmware(firmware: str, arch_name: str) -> None:
    if firmware not in FIRMWARES:
        raise LabError(f"unknown firmware {firmware!r}: choose one of {', '.join(FIRMWARES)}")
    if firmware == "uefi" and arch_name not in UEFI_ARCHES:
        raise LabError(f"a UEFI guest is {', '.join(UEFI_ARCHES)} only (not {arch_name})")


def image_path(
    a: Arch, kernel: debian.Package, busybox: debian.Package, tag: str = "", firmware: str = "bios"
) -> Path:
    """tag: "" for the arch's default kernel, else the chosen kernel package's name."""
    prefix = f"{a.name}+{tag}" if tag else a.name
    if firmware == "uefi":
        prefix += "-uefi"
    name = f"{prefix}-{kernel.version}-{busybox.version}-{recipe_hash(firmware)}.img"
    return paths.guests_dir() / debian.safe(name)


def find_image(arch_name: str, kernel_package: str | None = None, firmware: str = "bios") -> Path:
    """The newest built image for arch (and kernel package) with the current
    recipe (no apt queries)."""
    a = arch(arch_name)
    check_firmware(firmware, a.name)
    prefix = a.name
    if kernel_package:
        prefix += "+" + debian.safe(kernel_package.partition("=")[0])
        version = kernel_package.partition("=")[2]
        if version:
            prefix += "-" + debian.safe(version)
        elif "/" not in kernel_package:
            prefix += "-*"
    if firmware == "uefi":
        prefix += "-uefi"
    found = sorted(
        paths.guests_dir().glob(f"{prefix}-*{recipe_hash(firmware)}.img"),
        key=lambda p: p.stat().st_mtime,
    )
    if not found:
        option = f" --kernel-package {kernel_package}" if kernel_package else ""
        option += " --firmware uefi" if firmware == "uefi" else ""
        raise LabError(f"no guest image: run `ramooflax lab build-guest --arch {a.name}{option}`")
    return found[-1]


def initramfs(busybox: Path) -> bytes:
    """gzip'd newc cpio: /bin/busybox, /init, mount points and /dev/console."""
    entries = [cpio.directory(d) for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin")]
    entries += [cpio.directory(d) for d in ("dev", "proc", "sys", "tmp", "root")]
    entries += [
        cpio.chardev("dev/console", 5, 1),
        cpio.file("bin/busybox", busybox.read_bytes(), 0o755),
        cpio.symlink("bin/sh", "busybox"),
        cpio.file("init", INIT_SCRIPT.encode(), 0o755),
    ]
    return cpio.gzipped(entries)


def build(
    arch_name: str, force: bool = False, kernel_package: str | None = None, firmware: str = "bios"
) -> Path:
    """Build (or reuse) the guest image for arch; return its path.

    kernel_package: `NAME[=VERSION]` (debian.kernel_spec), instead of the
    arch's default linux-image-<flavour>."""
    a = arch(arch_name)
    check_firmware(firmware, a.name)
    wanted = kernel_package or f"linux-image-{a.flavour}"
    say("guest", f"resolving {wanted}:{a.deb_arch} and busybox-static:{a.deb_arch}")
    if kernel_package:
        kernel = debian.kernel_spec(kernel_package, a.deb_arch)
    else:
        kernel = debian.kernel_package(a.flavour, a.deb_arch)
    busybox = debian.package("busybox-static", a.deb_arch)
    tag = kernel_package.partition("=")[0] if kernel_package else ""
    out = image_path(a, kernel, busybox, tag, firmware)
    if out.exists() and not force:
        say("guest", f"up to date: {out}")
        return out
    kroot = debian.unpacked(kernel, ["./boot"])
    broot = debian.unpacked(busybox, ["./bin/busybox"])
    vmlinuz = sorted(kroot.glob("boot/vmlinuz-*"))
    if len(vmlinuz) != 1:
        raise LabError(f"expected one boot/vmlinuz-* in {kroot}, found {len(vmlinuz)}")
    say("guest", "writing the initramfs (busybox + /init)")
    initrd = out.with_suffix(".initrd.tmp")
    initrd.write_bytes(initramfs(broot / "bin" / "busybox"))
    files = {"/boot/vmlinuz": vmlinuz[0], "/boot/initrd.img": initrd}
    try:
        if firmware == "uefi":
            build_uefi(out, files)
        else:
            say("guest", f"writing the disk image ({IMAGE_MIB} MiB, GRUB i386-pc, ext2 '{LABEL}')")
            disk.build(out, files, LABEL, GRUB_BODY, GRUB_MODULES, IMAGE_MIB)
    finally:
        initrd.unlink(missing_ok=True)
    say("guest", f"built {out}")
    return out


def build_uefi(out: Path, files: dict[str, Path]) -> None:
    """The UEFI disk: GPT, one ESP with GRUB x86_64-efi at the removable-media
    path and the kernel and initramfs beside it; GRUB's embedded config finds
    the ESP by its label and boots at once."""
    say("guest", f"writing the disk image ({IMAGE_MIB} MiB, GPT, ESP '{UEFI_LABEL}', GRUB EFI)")
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        grub = Path(tmp) / "grubx64.efi"
        efidisk.grub_efi(
            grub, disk.early_config(UEFI_LABEL, UEFI_GRUB_BODY), GRUB_MODULES, Path(tmp)
        )
        efidisk.build(out, {efidisk.BOOT_PATH: grub, **files}, UEFI_LABEL, IMAGE_MIB)


def ensure(arch_name: str, kernel_package: str | None = None, firmware: str = "bios") -> Path:
    """An image for arch (and kernel package): the cached one if any, else build one."""
    try:
        return find_image(arch_name, kernel_package, firmware)
    except LabError:
        return build(arch_name, kernel_package=kernel_package, firmware=firmware)
