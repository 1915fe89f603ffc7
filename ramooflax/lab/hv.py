"""Locating, and building when stale, the hypervisor: build/hv/{loader,setup,vmm}.elf,
and the UEFI application build/hv/ramooflax.efi."""

import os
import subprocess
from pathlib import Path

from ramooflax.errors import LabError
from ramooflax.lab import paths
from ramooflax.lab.progress import say

ELFS = ("loader.elf", "setup.elf", "vmm.elf")
EFI_APP = "ramooflax.efi"
SOURCE_SUFFIXES = {".c", ".h", ".S", ".s", ".ld", ".lds", ".mk", ""}


def images() -> tuple[Path, Path, Path]:
    out = prebuilt_dir() or paths.hv_build_dir()
    loader, setup, vmm = (out / name for name in ELFS)
    return loader, setup, vmm


def _newest_source(src: Path) -> float:
    newest = 0.0
    for p in src.rglob("*"):
        wanted = p.is_file() and (p.suffix in SOURCE_SUFFIXES or p.name == "Makefile")
        if wanted and "tests" not in p.relative_to(src).parts:
            newest = max(newest, p.stat().st_mtime)
    return newest


def stale() -> bool:
    """True when an ELF is missing or `make -q` (or, without a Makefile, the
    sources' mtimes) says it is out of date."""
    elfs = images()
    if not all(p.exists() for p in elfs):
        return True
    src = paths.repo_root() / "hv"
    if (src / "Makefile").exists():
        question = subprocess.run(["make", "-q", "-C", str(src)], capture_output=True, check=False)
        return question.returncode != 0
    return min(p.stat().st_mtime for p in elfs) < _newest_source(src)


def prebuilt_dir() -> Path | None:
    """$RAMOOFLAX_HV_DIR: use the ELFs there as they are (no make)."""
    env = os.environ.get("RAMOOFLAX_HV_DIR")
    return Path(env) if env else None


def ensure() -> tuple[Path, Path, Path]:
    """The three ELFs, running `make -C hv` first when they are missing or stale
    (unless $RAMOOFLAX_HV_DIR names a directory of prebuilt ELFs)."""
    src = paths.repo_root() / "hv"
    if prebuilt_dir() is not None:
        missing = [str(p) for p in images() if not p.exists()]
        if missing:
            raise LabError(f"$RAMOOFLAX_HV_DIR lacks {', '.join(missing)}: unset it or fill it")
        return images()
    if stale():
        if not (src / "Makefile").exists():
            raise LabError(
                f"the hypervisor is not built and {src}/Makefile does not exist yet: "
                "hv/ cannot build yet (use --no-hv to run the guest alone)"
            )
        say("hv", "building the hypervisor (make -C hv) ...")
        done = subprocess.run(
            ["make", "-C", str(src), f"-j{_jobs()}"], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            tail = "\n".join((done.stderr.strip() or done.stdout.strip()).splitlines()[-12:])
            raise LabError(
                f"`make -C hv` failed, so the hypervisor cannot be built yet "
                f"(use --no-hv to run the guest alone):\n{tail}"
            )
    absent = [p for p in images() if not p.exists()]
    if absent:
        raise LabError(
            f"`make -C hv` did not produce {', '.join(str(p) for p in absent)}: "
            "the hypervisor build is incomplete (use --no-hv)"
        )
    return images()


def _jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def efi_app() -> Path:
    """build/hv/ramooflax.efi (built with the ELFs, see ensure())."""
    ensure()
    app = (prebuilt_dir() or paths.hv_build_dir()) / EFI_APP
    if not app.exists():
        raise LabError(f"{app} does not exist: `make -C hv` builds it (use --no-hv)")
    return app
