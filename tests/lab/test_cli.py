"""The `ramooflax` command line: errors without tracebacks, streamed command output,
regs and dump against the real hypervisor."""

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ramooflax import VM, CPUFamily
from ramooflax.lab import facts, qemu
from ramooflax.lab.machine import Machine

pytestmark = pytest.mark.lab


def ramooflax(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ramooflax", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    "args, needle",
    [
        (["lab", "run", "--guest", "sparc"], "sparc"),
        (["lab", "build-guest", "--arch", "mips"], "mips"),
        (["lab", "run", "--ctrl-port", "99999"], "99999"),
        (["lab", "usb-image", "-o", "/tmp/x.img", "--disk", "0x12"], "0x12"),
        (["lab", "run", "--hv-option", "disk=0x81"], "disk=0x81"),
        (["lab", "run", "--no-hv", "--hv-option", "ctrl_wait=1"], "--no-hv"),
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


def ctrl_target(machine: Machine) -> str:
    return f"127.0.0.1:{machine.free_ctrl_port()}"


def test_regs_prints_the_registers(hv_amd64: Machine) -> None:
    done = ramooflax("regs", ctrl_target(hv_amd64), timeout=120)
    assert done.returncode == 0, done.stderr
    for name in ("rip", "rsp", "cr0", "cr3", "efer", "lstar", "gdtr_base"):
        assert re.search(rf"\b{name}\s*=\s*0x[0-9a-f]+", done.stdout), f"no {name}:\n{done.stdout}"
    assert hv_amd64.run("echo alive").output == "alive\n"  # the VM runs on


def test_dump_writes_memory_with_progress(hv_amd64: Machine, tmp_path: Path) -> None:
    """dump --phys: the file holds the bytes a client reads; a progress bar on
    stderr unless --quiet."""
    out = tmp_path / "bios.bin"
    target = ctrl_target(hv_amd64)
    done = ramooflax("dump", target, "--phys", "0xf0000", "0x10000", "-o", str(out), timeout=300)
    assert done.returncode == 0, done.stderr
    assert "100.0%" in done.stderr or "100%" in done.stderr, done.stderr[-500:]
    with VM(CPUFamily.AMD, target) as vm:
        assert out.read_bytes() == vm.mem.pread(0xF0000, 0x10000, progress=False)
    quiet = ramooflax("dump", target, "--phys", "0x7c00", "512", "-o", str(out), "--quiet")
    assert quiet.returncode == 0 and quiet.stderr.strip() == "", quiet.stderr
    assert len(out.read_bytes()) == 512


def test_client_errors_are_messages(hv_amd64: Machine, tmp_path: Path) -> None:
    """A closed port, a hidden address, an unwritable file: one line saying
    what is wrong, exit status 2, no traceback, and nothing half-written."""
    target = ctrl_target(hv_amd64)
    closed = ramooflax("regs", f"127.0.0.1:{qemu.free_port()}", timeout=60)
    assert closed.returncode == 2 and "Traceback" not in closed.stderr
    assert "cannot connect" in closed.stderr.lower() or "refused" in closed.stderr.lower()
    hidden = facts.vmm_range(hv_amd64.log_text() + hv_amd64.hv_summary()).start
    out = tmp_path / "hidden.bin"
    ctrl_target(hv_amd64)
    done = ramooflax("dump", target, "--phys", hex(hidden), "0x1000", "-o", str(out), "--quiet")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "not guest memory" in done.stderr and not out.exists()
    bad_file = ramooflax("dump", target, "--phys", "0x7c00", "16", "-o", "/nonexistent/dir/x")
    assert bad_file.returncode == 2 and "Traceback" not in bad_file.stderr
    assert "/nonexistent/dir/x" in bad_file.stderr
    assert hv_amd64.run("echo alive").output == "alive\n"


def test_ctrl_c_during_dump(hv_ctrl: Machine, tmp_path: Path) -> None:
    """SIGINT in the middle of a dump: one line saying it was interrupted, exit
    status 130, no partial file, and the VM runs on (the session took the rest
    of the interrupted binary replies, two in flight, before its detach). On
    both channels: 256 MiB, more than the network moves in the half second."""
    out = tmp_path / "big.bin"
    argv = [sys.executable, "-m", "ramooflax", "dump", ctrl_target(hv_ctrl)]
    mark = len(hv_ctrl.log_text())
    proc = subprocess.Popen(
        [*argv, "--phys", "0", "0x10000000", "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = b""
    deadline = time.monotonic() + 60
    while b"pread 0x0" not in err:  # the progress bar: the transfer is under way
        assert time.monotonic() < deadline and proc.poll() is None, err
        ready, _, _ = select.select([proc.stderr], [], [], 1)
        if ready:
            err += os.read(proc.stderr.fileno(), 4096)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    text = (err + rest).decode("utf-8", "replace")
    lines = [x for x in re.split(r"[\r\n]", text) if x.strip()]
    assert proc.returncode == 130, text
    assert lines[-1] == "ramooflax: interrupted", text
    assert "expected OK" not in text and "Traceback" not in text
    assert not out.exists()
    # The session ended on the client's `D`, not on the VMM's timeout (which
    # would have left the VM stopped until then).
    deadline = time.monotonic() + 30
    while "client detached" not in hv_ctrl.log_text()[mark:]:
        assert time.monotonic() < deadline, hv_ctrl.log_text()[mark:]
        time.sleep(0.2)
    ended = hv_ctrl.log_text()[mark:].split("client detached", 1)[1].splitlines()[0]
    assert ended == " (detach packet)", ended
    assert hv_ctrl.run("echo alive", timeout=60).output == "alive\n"
