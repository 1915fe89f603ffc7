"""Running host tools with errors that name the tool and show its output."""

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ramooflax.errors import ToolError

# Debian package that provides each tool we call, for "install it" messages.
PROVIDERS = {
    "apt-get": "apt",
    "apt-cache": "apt",
    "dpkg-deb": "dpkg",
    "sfdisk": "fdisk",
    "mke2fs": "e2fsprogs",
    "grub-mkimage": "grub-common",
    "qemu-system-x86_64": "qemu-system-x86 (from bookworm-backports on Debian 12)",
    "make": "make",
    "tar": "tar",
    "mkfs.fat": "dosfstools",
    "mmd": "mtools",
    "mcopy": "mtools",
}


def need_tool(name: str) -> str:
    """Return the tool's path, or raise saying which package to install."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        pkg = PROVIDERS.get(name, name)
        raise ToolError(f"`{name}` not found: install it (apt-get install {pkg})")
    return path


def run(
    argv: Sequence[str],
    cwd: Path | None = None,
    timeout: float = 600,
    input_text: str | None = None,
) -> str:
    """Run a tool, return its stdout; raise ToolError with its stderr on failure."""
    exe = need_tool(argv[0])
    try:
        done = subprocess.run(
            [exe, *argv[1:]],
            cwd=cwd,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"`{' '.join(argv)}` took more than {timeout:.0f} s") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise ToolError(f"`{' '.join(argv)}` failed (exit {done.returncode}):\n{tail}")
    return done.stdout
