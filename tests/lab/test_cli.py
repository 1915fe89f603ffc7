"""The `ramooflax` command line: errors without tracebacks, streamed command output."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.lab


def ramooflax(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ramooflax", *args], capture_output=True, text=True,
        timeout=timeout, check=False)  # fmt: skip


@pytest.mark.parametrize(
    "args, needle",
    [
        (["lab", "run", "--guest", "sparc"], "sparc"),
        (["lab", "build-guest", "--arch", "mips"], "mips"),
        (["lab", "run", "--ctrl-port", "99999"], "99999"),
        (["lab", "usb-image", "-o", "/tmp/x.img", "--disk", "0x12"], "0x12"),
    ],
)
def test_bad_arguments(args: list[str], needle: str) -> None:
    done = ramooflax(*args)
    assert done.returncode == 2
    assert needle in done.stderr and "error" in done.stderr
    assert "Traceback" not in done.stderr


def test_run_no_hv_returns_status(qemu_ok: None) -> None:
    done = ramooflax("lab", "run", "--no-hv", "--cmd", "echo one; echo two >&2; exit 7")
    assert "Traceback" not in done.stderr
    assert (done.returncode, done.stdout) == (7, "one\ntwo\n")
