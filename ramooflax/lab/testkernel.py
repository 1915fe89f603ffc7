"""The conformance test kernel (tests/guest/) and the GRUB disks that boot it.

`make -C tests/guest` builds build/guest/rfxtest.elf, a 32-bit multiboot
kernel. A disk boots it with GRUB's `multiboot` and a command line fixed in
GRUB's embedded config (disk.py): one small image per command line, named
by a hash of the kernel and the line, under build/guest/disks/.
"""

import hashlib
import inspect
import re
import subprocess
import threading
from pathlib import Path

from ramooflax.errors import LabError
from ramooflax.lab import disk, paths
from ramooflax.lab.progress import say

LABEL = "rfxtest"
IMAGE_MIB = 2
KEEP_IMAGES = 48  # one per command line; older ones are removed
KERNEL_PATH = "/boot/rfxtest.elf"
# One group per line: G(part, mode, family, flags).
_GROUP = re.compile(r"^G\((32|64),\s*(\w+),\s*(\w+),\s*([\w|]+)\)", re.MULTILINE)


def source_dir() -> Path:
    return paths.repo_root() / "tests" / "guest"


def build_dir() -> Path:
    return paths.build_dir() / "guest"


def elf_path() -> Path:
    return build_dir() / "rfxtest.elf"


_BUILD_LOCK = threading.Lock()  # the native and hv runs ask at once


def ensure_kernel() -> Path:
    """build/guest/rfxtest.elf, running `make -C tests/guest` when it is stale."""
    with _BUILD_LOCK:
        return _ensure_kernel()


def _ensure_kernel() -> Path:
    src = source_dir()
    if not (src / "Makefile").exists():
        raise LabError(f"{src}/Makefile is missing: the test kernel's sources are not here")
    question = subprocess.run(["make", "-q", "-C", str(src)], capture_output=True, check=False)
    if question.returncode != 0 or not elf_path().exists():
        say("testkernel", "building the test kernel (make -C tests/guest)")
        done = subprocess.run(["make", "-C", str(src)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stderr.strip() or done.stdout.strip()).splitlines()[-15:])
            raise LabError(
                "`make -C tests/guest` failed (needs gcc-multilib and binutils):\n" + tail
            )
    return elf_path()


def groups() -> list[tuple[str, bool]]:
    """(group name, runs only when named) for every group, in the kernel's order
    (tests/guest/include/groups.def, which the kernel compiles in)."""
    text = (source_dir() / "include" / "groups.def").read_text()
    found = [(f"{m}.{f}", "G_EXPLICIT" in fl) for _, m, f, fl in _GROUP.findall(text)]
    if not found:
        raise LabError("tests/guest/include/groups.def lists no group")
    return found


def plan(only: list[str] | None = None) -> list[str]:
    """The groups the kernel runs for only= (its own rule, lib/report.c
    group_selected): a pattern names a group, its mode, its family, or a
    prefix ending in '*'; the groups that end the machine only by group or
    family name."""
    out = []
    for name, explicit in groups():
        mode, family = name.split(".", 1)
        if not only:
            if not explicit:
                out.append(name)
            continue
        for p in only:
            if p in (name, family) or (
                not explicit and (p == mode or (p.endswith("*") and name.startswith(p[:-1])))
            ):
                out.append(name)
                break
    return out


def image(cmdline: str) -> Path:
    """A disk whose GRUB boots the kernel with `cmdline` (built once per kernel and line)."""
    elf = ensure_kernel()
    if "\n" in cmdline or '"' in cmdline:
        raise LabError(f"a kernel command line holds neither quotes nor newlines: {cmdline!r}")
    key = hashlib.sha256()
    key.update(elf.read_bytes())
    key.update(cmdline.encode())
    key.update(inspect.getsource(disk).encode())
    out = build_dir() / "disks" / f"rfxtest-{key.hexdigest()[:16]}.img"
    if out.exists():
        out.touch()  # recently used: kept by _prune
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    body = f"multiboot {KERNEL_PATH} {cmdline}\nboot\n"
    disk.build(out, {KERNEL_PATH: elf}, LABEL, body, ["multiboot"], IMAGE_MIB)
    _prune(out.parent)
    return out


def _prune(folder: Path) -> None:
    images = sorted(folder.glob("rfxtest-*.img"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in images[KEEP_IMAGES:]:
        old.unlink(missing_ok=True)
