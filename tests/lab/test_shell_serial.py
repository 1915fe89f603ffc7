"""The Serial transport and the interactive shell against the real hypervisor.

* Serial: pyserial on the slave side of a pty whose master is bridged to the
  lab's control port (TCP), as a real COM port on a cable would be.
* Shell: `python -m ramooflax attach` on a pty, driven with pexpect: an
  expression, `vm.resume()` blocking while the guest runs, Ctrl-C back to
  the prompt with the VM stopped, Ctrl-D out with the VM running on. Both
  front ends: the plain `code.interact` one (IPython made unimportable in the
  child, as when it is not installed) and IPython's, when installed.

QEMU's control port takes one client at a time: the lab's own monitor
connection (`machine.ctrl`) is closed first.
"""

import importlib.util
import os
import re
import select
import socket
import sys
import threading
import time
import tty
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest

from ramooflax import VM, ChannelLost, CPUFamily, CPUMode, StopReason, rsp
from ramooflax.lab.machine import Machine
from ramooflax.transport import Serial

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
RAM_TOP = 512 << 20  # the lab guests' RAM (MachineSpec.mem)


# A guest command takes well under a second while the VM runs. A VM left
# stopped by a client that went quiet runs again only after the VMM's
# ctrl_timeout (10 s): an answer within QUICK_S shows the VM was running.
QUICK_S = 8.0


def guest_answers(machine: Machine, word: str) -> None:
    t0 = time.monotonic()
    out = machine.run(f"echo {word}", timeout=60).output
    took = time.monotonic() - t0
    assert out == f"{word}\n", out
    assert took < QUICK_S, f"the guest took {took:.1f} s to answer: was the VM left stopped?"


def ctrl_port(machine: Machine) -> int:
    return machine.free_ctrl_port()


class PtyBridge:
    """A pty pair whose master side is copied both ways to the control port.

    `path` is the slave's name: what a client opens as its serial port.
    """

    def __init__(self, port: int) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self._quit_r, self._quit_w = os.pipe()
        self.to_vmm = 0  # bytes the client wrote
        self.from_vmm = 0  # bytes the VMM sent
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="pty-bridge", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        try:
            while True:
                ready, _, _ = select.select([self.master, self.sock, self._quit_r], [], [])
                if self._quit_r in ready:
                    return
                if self.master in ready:
                    data = os.read(self.master, 65536)
                    self.sock.sendall(data)
                    self.to_vmm += len(data)
                if self.sock in ready:
                    data = self.sock.recv(65536)
                    if not data:
                        raise ConnectionError("QEMU closed the control port")
                    os.write(self.master, data)
                    self.from_vmm += len(data)
        except BaseException as exc:  # noqa: BLE001 - reported by close()
            self.error = exc

    def inject(self, data: bytes) -> None:
        """Bytes that seem to come from the VMM, left unread in the line's input buffer."""
        os.write(self.master, data)
        ready, _, _ = select.select([self.slave], [], [], 5)
        assert ready, "the injected bytes never reached the pty's slave side"

    def close(self) -> None:
        os.write(self._quit_w, b"q")
        self.thread.join(10)
        self.sock.close()
        for fd in (self.master, self.slave, self._quit_r, self._quit_w):
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def test_serial_transport_through_a_pty(hv_amd64: Machine) -> None:
    port = ctrl_port(hv_amd64)
    with PtyBridge(port) as line:
        t0 = time.monotonic()
        vm = VM(CPUFamily.AMD, f"serial:{line.path}")
        vm.attach()
        try:
            transport = vm.session.transport
            assert isinstance(transport, Serial)
            assert transport.describe() == f"serial:{line.path}@115200"
            assert vm.session.noack  # the handshake went through pyserial
            assert vm.event is not None and vm.event.reason is StopReason.ATTACH

            gpr, sr = vm.cpu.gpr, vm.cpu.sr
            assert sr.cr0 & 0x80000001 == 0x80000001  # PG, PE
            assert sr.efer & 0x500 == 0x500  # LME, LMA
            status = vm.status()
            exits = sum(cpu.status().exits for cpu in vm.cpus)
            assert status.mode is CPUMode.LONG
            assert status.rip == gpr.rip and status.cr3 == sr.cr3

            # The BIOS (never changes) and the kernel's syscall entry page, over
            # the serial line; compared with TCP reads below.
            bios = vm.mem.pread(0xF0000, 0x10000, progress=False)
            assert bios[0xFFF0] == 0xEA, bios[0xFFF0:0xFFF8].hex()  # reset vector: jmp far
            entry_pa = vm.mem.translate(sr.lstar)
            assert 0 < entry_pa < RAM_TOP and entry_pa & 0xFFF == sr.lstar & 0xFFF
            page_pa = entry_pa & ~0xFFF
            page = vm.mem.pread(page_pa, 0x1000)
            assert vm.mem.vread(sr.lstar, 32) == page[entry_pa & 0xFFF :][:32]
            read_s = time.monotonic() - t0

            vm.cont()
            assert vm.running
            # The guest runs while we hold it: its console answers.
            guest_answers(hv_amd64, "serial-run")
            ev = vm.stop()
            assert ev.reason is StopReason.INTERRUPT and not vm.running
            assert sum(cpu.status().exits for cpu in vm.cpus) > exits  # the vCPUs ran
        finally:
            vm.detach()
        assert not vm.attached
        assert line.from_vmm > 0x10000 + 0x1000 and line.to_vmm > 0
        assert line.error is None, repr(line.error)
    # Attach, registers and 68 KiB over a pty take well under a second here;
    # a slow line shows up as this bound, not as a hang.
    assert read_s < 30, f"attach and reads over the pty took {read_s:.1f} s"

    # After the detach the VM runs on, and TCP reads the same bytes.
    guest_answers(hv_amd64, "ok")
    with VM(CPUFamily.AMD, f"127.0.0.1:{port}") as tcp:
        assert tcp.mem.pread(0xF0000, 0x10000, progress=False) == bios
        assert tcp.mem.pread(page_pa, 0x1000) == page


def test_serial_line_hygiene(hv_amd64: Machine) -> None:
    """Bytes left in the line by an earlier client do not derail the handshake,
    and a second client cannot open the line while the first holds it."""
    port = ctrl_port(hv_amd64)
    with PtyBridge(port) as line:
        # A reply a killed client never read, still in the line's input buffer.
        line.inject(rsp.frame("OK") + rsp.frame("T05thread:01;"))
        vm = VM(CPUFamily.AMD, f"serial:{line.path}").attach()
        try:
            assert vm.session.noack
            assert vm.event is not None and vm.event.reason is StopReason.ATTACH
            assert vm.status().mode is CPUMode.LONG

            other = VM(CPUFamily.AMD, f"serial:{line.path}", timeout=3, keepalive=None)
            with pytest.raises(ChannelLost, match="lock"):
                other.attach()
            assert not other.attached
            assert vm.status().mode is CPUMode.LONG  # the first session is intact
        finally:
            vm.detach()
        assert line.error is None, repr(line.error)
    guest_answers(hv_amd64, "ok")


# -- the shell on a pty --------------------------------------------------------

ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-B]|[=>])")
ESC = rb"(?:\x1b\[[0-9;?]*[A-Za-z])*"  # colour codes inside IPython's prompt
NO_IPYTHON = (
    "import runpy, sys; sys.modules['IPython'] = None; "
    "runpy.run_module('ramooflax', run_name='__main__', alter_sys=True)"
)


class Shell:
    """`ramooflax attach` on a pty: send lines, wait for the next prompt."""

    def __init__(self, child: Any, ipython: bool) -> None:
        self.child = child
        self.ipython = ipython
        self.cell = 1  # IPython's next input number

    def prompt(self) -> bytes:
        # IPython redraws the current prompt as it reads: wait for the next number.
        if self.ipython:
            return rb"In \[" + ESC + str(self.cell).encode() + ESC + rb"\]: "
        return rb">>> "

    def wait_prompt(self, timeout: float = 60) -> str:
        self.child.expect(self.prompt(), timeout=timeout)
        return ANSI.sub("", self.child.before.decode("utf-8", "replace"))

    def send(self, line: str) -> None:
        self.child.sendline(line)
        if self.ipython:
            self.cell += 1

    def run(self, line: str, timeout: float = 60) -> str:
        self.send(line)
        return self.wait_prompt(timeout)


FRONT_ENDS = ["plain", "ipython"]


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_shell_resume_ctrl_c_ctrl_d(hv_amd64: Machine, front_end: str, tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    ipython = front_end == "ipython"
    if ipython and importlib.util.find_spec("IPython") is None:
        pytest.skip("IPython is not installed (pip install -e '.[shell]')")
    port = ctrl_port(hv_amd64)
    target = f"127.0.0.1:{port}"
    args = (
        ["-m", "ramooflax", "attach", target] if ipython else ["-c", NO_IPYTHON, "attach", target]
    )
    env = dict(
        os.environ, TERM="xterm", IPYTHONDIR=str(tmp_path / "ipython"), PROMPT_TOOLKIT_NO_CPR="1"
    )
    transcript = tmp_path / "shell.log"
    with transcript.open("wb") as log:
        child = pexpect.spawn(
            sys.executable, args, cwd=str(REPO), env=env, timeout=60, dimensions=(40, 200)
        )
        child.logfile_read = log
        try:
            _drive_shell(hv_amd64, Shell(child, ipython), pexpect)
        except BaseException:
            log.flush()
            print(ANSI.sub("", transcript.read_text("utf-8", "replace")), file=sys.stderr)
            raise
        finally:
            if child.isalive():
                child.close(force=True)
    text = ANSI.sub("", transcript.read_text("utf-8", "replace"))
    tracebacks = 2 if ipython else 1  # the ones asked for: vm.debug, %xmode
    assert text.count("Traceback") == tracebacks and "KeyboardInterrupt" not in text, text
    assert child.exitstatus == 0 and child.signalstatus is None, text

    # The VM runs on after Ctrl-D, and a new client can attach.
    guest_answers(hv_amd64, "ok")
    with VM(CPUFamily.AMD, target) as vm:
        assert vm.status().mode is CPUMode.LONG


def _drive_shell(machine: Machine, sh: Shell, pexpect: Any) -> None:
    sh.child.expect("`vm` is attached and stopped", timeout=60)
    sh.wait_prompt()

    out = sh.run("hex(vm.cpu.sr.cr3)")
    m = re.search(r"'(0x[0-9a-f]+)'", out)
    assert m, out
    cr3 = int(m.group(1), 16)
    assert 0 < cr3 & ~0xFFF < RAM_TOP, hex(cr3)

    # An error shows its last line, the client's message, and no traceback.
    out = sh.run("vm.wait()")
    want = r"^NotRunning: wait\(\) needs the VM running: call vm.cont\(\)"
    assert re.search(want, out, re.MULTILINE), out
    assert "Traceback" not in out and "File " not in out, out
    # vm.debug = True shows the traceback (its own: nothing about how the shell started).
    sh.run("vm.debug = True")
    out = sh.run("vm.wait()")
    assert "Traceback" in out and "vm.py" in out and "NotRunning" in out, out
    assert "During handling" not in out and "ModuleNotFoundError" not in out, out
    sh.run("vm.debug = False")
    assert "Traceback" not in sh.run("vm.wait()")
    if sh.ipython:  # IPython's own switch works too
        sh.run("%xmode Context")
        assert "Traceback" in sh.run("vm.wait()")
        sh.run("%xmode Minimal")

    # Exits of every vCPU: the one Ctrl-C stops on need not be the first.
    out = sh.run("vm.running, sum(c.status().exits for c in vm.cpus)")
    m = re.search(r"\(False, (\d+)\)", out)
    assert m, out
    exits_before = int(m.group(1))

    # vm.resume() blocks while the guest runs: its console answers meanwhile,
    # and no prompt comes back.
    sh.send("vm.resume()")
    guest_answers(machine, "shell-run")
    assert sh.child.expect([sh.prompt(), pexpect.TIMEOUT], timeout=0.5) == 1, (
        "vm.resume() returned without a stop: " + ANSI.sub("", sh.child.before.decode())
    )
    sh.child.send("\x03")  # Ctrl-C: the VM stops, resume() returns True
    out = sh.wait_prompt(timeout=30)
    assert re.search(r"^(\^C)?(Out\[\d+\]: )?True\s*$", out, re.MULTILINE), out  # ^C: tty echo
    assert "KeyboardInterrupt" not in out, out

    out = sh.run("vm.running, vm.event.reason.name, sum(c.status().exits for c in vm.cpus)")
    m = re.search(r"\(False, 'INTERRUPT', (\d+)\)", out)
    assert m, out
    assert int(m.group(1)) > exits_before

    sh.child.send("\x04")  # Ctrl-D: leave the shell, detach
    sh.child.expect(pexpect.EOF, timeout=30)
    sh.child.close()
