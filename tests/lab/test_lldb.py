"""lldb (Debian's lldb 14) against the VMM's stub, in batch mode: attach,
registers (system ones too), memory, disassembly, a step, software and
hardware breakpoints, a watchpoint, continue and detach, with lldb's own
packet log; then continue and Ctrl-C (0x03 on the line) in an interactive
lldb on a pty, which lldb 14's batch mode does not pass on.

lldb reads the register layout from target.xml, as gdb does, and asks its
own questions first: qHostInfo and qProcessInfo (the triple, so it does not
scan memory for a kernel image) and qRegisterInfoN (which must agree with
target.xml).
"""

import os
import re
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ramooflax.lab.machine import Machine
from ramooflax.lab.rawgdb import RawGdb

pytestmark = [pytest.mark.lab, pytest.mark.skipif(shutil.which("lldb") is None, reason="no lldb")]


def kallsyms(machine: Machine, *names: str) -> dict[str, int]:
    out = machine.run("grep -w " + " ".join(f"-e {n}" for n in names) + " /proc/kallsyms").output
    return {p[2]: int(p[0], 16) for p in (line.split() for line in out.splitlines()) if len(p) >= 3}


@dataclass
class Session:
    out: str  # lldb's output
    packets: str  # its gdb-remote packet log
    attach_s: float


def script(port: int, log: Path, jiffies: int) -> str:
    return f"""\
log enable -f {log} gdb-remote packets
gdb-remote 127.0.0.1:{port}
register read rip eflags cs cr0 cr3 efer lstar
memory read --size 8 --format x --count 2 $rsp
disassemble --pc --count 3
thread step-inst
register read rip
breakpoint set --address $lstar
process continue
register read rip
breakpoint delete --force
breakpoint set --hardware --address $lstar
process continue
register read rip
breakpoint delete --force
watchpoint set expression --watch write --size 8 -- {jiffies:#x}
process continue
watchpoint delete --force
process detach
"""


@pytest.fixture(scope="module")
def lldb_session(hv_amd64: Machine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """One lldb run through the whole script; the last `process continue` is
    interrupted with SIGINT (lldb sends 0x03)."""
    syms = kallsyms(hv_amd64, "jiffies_64")
    tmp = tmp_path_factory.mktemp("lldb")
    log = tmp / "packets.log"
    commands = tmp / "session.lldb"
    # System calls for lldb's breakpoints on the syscall entry, for as long
    # as lldb runs: a loop in the guest's background, killed after.
    loop = "while :; do cat /proc/version; done >/dev/null 2>&1 & echo $!"
    pid = int(hv_amd64.run(loop).output.split()[-1])
    commands.write_text(script(hv_amd64.free_ctrl_port(), log, syms["jiffies_64"]))
    t0 = time.monotonic()
    proc = subprocess.Popen(
        ["lldb", "--batch", "-s", str(commands)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    out = b""
    attach_s = 0.0
    deadline = t0 + 180
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                out += os.read(proc.stdout.fileno(), 65536)
            if not attach_s and b"Process 1 stopped" in out:
                attach_s = time.monotonic() - t0
        out += proc.stdout.read() if proc.poll() is not None else b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out += interrupt(hv_amd64.free_ctrl_port()).encode()
    hv_amd64.run(f"kill {pid}", timeout=60)
    text = out.decode("utf-8", "replace")
    print(text)
    yield Session(text, log.read_text("utf-8", "replace") if log.exists() else "", attach_s)
    # The VM runs on after the detach.
    assert hv_amd64.run("echo still-running", timeout=60).output == "still-running\n"


def interrupt(port: int) -> str:
    """Continue and interrupt in an interactive lldb (on a pty): lldb 14 in
    --batch mode ignores Ctrl-C while a command-file `process continue` runs."""
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(
        "lldb",
        ["-o", f"gdb-remote 127.0.0.1:{port}"],
        timeout=60,
        encoding="utf-8",
        dimensions=(40, 200),
    )
    try:
        child.expect("stop reason")
        child.expect(r"\(lldb\) ")
        child.sendline("process continue")
        child.expect("resuming")
        time.sleep(1)
        child.sendintr()  # lldb sends 0x03
        child.expect(r"stop reason = [^\r\n]*")
        stop = re.sub(r"\x1b\[[0-9;]*m", "", child.after)  # lldb colours it
        child.expect(r"\(lldb\) ")
        child.sendline("process detach")
        child.expect("Process 1 detached")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        if child.isalive():
            child.close(force=True)
    return f"\n== interactive\n{stop}\nProcess 1 detached (interactive)\n"


def reg(out: str, name: str, nth: int = 0) -> int:
    values = re.findall(rf"^\s*{name} = (0x[0-9a-f]+)", out, re.MULTILINE)
    assert len(values) > nth, f"lldb printed no {name} (#{nth}):\n{out}"
    return int(values[nth], 16)


def test_attach_registers_memory_disassembly(lldb_session: Session) -> None:
    out = lldb_session.out
    print(f"lldb attach: {lldb_session.attach_s:.2f} s")
    assert 0 < lldb_session.attach_s < 15
    assert "error:" not in out.split("thread step-inst")[0], out
    assert reg(out, "cr0") & 0x80000001 == 0x80000001 and reg(out, "efer") & 0x500 == 0x500
    assert reg(out, "cr3") and reg(out, "cs") in (0x10, 0x33)  # kernel or user code
    assert re.search(r"^0x[0-9a-f]+: 0x[0-9a-f]{16} 0x[0-9a-f]{16}$", out, re.MULTILINE), out
    assert re.search(r"^->\s+0x[0-9a-f]+: \w+", out, re.MULTILINE), "no disassembly at the pc"


def test_step_breakpoints_watchpoint_interrupt_detach(lldb_session: Session) -> None:
    out = lldb_session.out
    lstar = reg(out, "lstar")
    assert "stop reason = instruction step into" in out
    # rip is read after the step (1), at the software (2) and hardware (3) breakpoints.
    assert reg(out, "rip", 2) == lstar, "the software breakpoint on LSTAR"
    assert reg(out, "rip", 3) == lstar, "the hardware breakpoint on LSTAR"
    assert re.search(r"stop reason = watchpoint 1", out), "the write watchpoint on jiffies_64"
    assert re.search(r"== interactive\nstop reason = signal SIGINT", out), out
    assert "Process 1 detached\n" in out and "Process 1 detached (interactive)" in out


def test_what_lldb_asks_that_the_stub_ignores(lldb_session: Session) -> None:
    """The packets lldb sent that got the empty reply ("not supported"): the
    list in the lead's hands. Printed, and checked to hold what is known."""
    sent = re.findall(r"send packet: \$([^#]*)#", lldb_session.packets)
    read = re.findall(r"read packet: \$([^#]*)#", lldb_session.packets)
    unanswered = sorted(
        {
            re.split(r"[:,;0-9]", s, maxsplit=1)[0] or s
            for s, r in zip(sent, read, strict=False)
            if r == ""
        }
    )
    print("lldb packets with an empty reply:", ", ".join(unanswered))
    assert sent and read


def test_memory_at_a_software_breakpoint_is_the_code(lldb_session: Session) -> None:
    """Stopped at the int3 on LSTAR, lldb disassembles entry_SYSCALL_64's
    first instruction (swapgs), not the stub's 0xcc."""
    at_bp = lldb_session.out.split("stop reason = breakpoint 1.1", 1)[1]
    first = re.search(r"^->\s+0x[0-9a-f]+: (\w+)", at_bp, re.MULTILINE)
    assert first and first.group(1) == "swapgs", at_bp[:400]


def _reply(session: Session, packet: str) -> str | None:
    """The reply lldb got to its first `packet...` (None if it did not ask)."""
    lines = re.findall(r"(send|read) packet: \$([^#]*)#", session.packets)
    for i, (kind, data) in enumerate(lines):
        if kind == "send" and data.startswith(packet):
            for kind2, data2 in lines[i + 1 :]:
                if kind2 == "read":
                    return data2
    return None


def test_qhostinfo(hv_amd64: Machine, lldb_session: Session) -> None:
    assert _reply(lldb_session, "qHostInfo")
    with RawGdb.connect(hv_amd64.free_ctrl_port()) as client:
        client.interrupt()
        client.wait_stop()
        info = dict(x.split(":", 1) for x in client.command("qHostInfo").decode().split(";") if x)
        client.command("D")
    assert info.get("ptrsize") == "8" and info.get("endian") == "little", info


def test_attach_does_not_scan_for_a_kernel(lldb_session: Session) -> None:
    """On a target of unknown OS lldb looks for a Darwin kernel image: at the
    address qShlibInfoAddr gives, else by reading hundreds of pages down
    from the pc (seconds over a UART). The stub's null answer ends that
    before the first stop; bench/lldb_attach.py times the attach."""
    assert _reply(lldb_session, "qShlibInfoAddr") == "0"
    # lldb's own memory cache also reads 512-byte lines (a dozen in this
    # session); the scan is hundreds (664 before the stub answered).
    assert len(kernel_scan_reads(lldb_session.packets)) < 64, "lldb scanned memory for a kernel"


def kernel_scan_reads(packets: str) -> list[int]:
    """512-byte reads at page boundaries: what lldb's scan for a kernel image makes."""
    found = re.findall(r"send packet: \$[mx]([0-9a-f]+),200#", packets)
    return [a for a in (int(x, 16) for x in found) if a % 0x1000 == 0]


def test_qprocessinfo(lldb_session: Session) -> None:
    reply = _reply(lldb_session, "qProcessInfo")
    assert reply and "pid:" in reply


def test_qregisterinfo_matches_target_xml(hv_amd64: Machine) -> None:
    with RawGdb.connect(hv_amd64.free_ctrl_port()) as client:
        client.interrupt()
        client.wait_stop()
        layout = client.layout()
        infos = []
        for reg_ in layout.values:
            reply = client.command(f"qRegisterInfo{reg_.num:x}").decode()
            infos.append(dict(x.split(":", 1) for x in reply.split(";") if ":" in x))
        client.command("D")
    for reg_, info in zip(layout.values, infos, strict=True):
        assert info.get("name") == reg_.name and int(info.get("bitsize", "0")) == 8 * reg_.size
        assert int(info.get("offset", "-1")) == reg_.offset
