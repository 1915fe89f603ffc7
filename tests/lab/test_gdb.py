"""Stock gdb (and a raw RSP client) against the VMM's stub in long mode:
breakpoints, watchpoints, Ctrl-C, detach, monitor commands, register writes,
and the target description. docs/protocol.md is the contract; real mode is
tests/lab/test_gdb_realmode.py.

gdb runs as `gdb -nx -batch -ex 'target remote ...' -ex ...`; values are
printed with `printf "NAME=%#lx\\n", ...` so they can be parsed. Every test
takes `hv_ctrl`: it runs on both control channels (-k uart / -k net), gdb
connecting to the VMM's own TCP port on the net machine.
"""

import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ramooflax.lab import facts, rawgdb
from ramooflax.lab.machine import Machine
from ramooflax.lab.rawgdb import RawGdb

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
GDB = shutil.which("gdb")
needs_gdb = pytest.mark.skipif(GDB is None, reason="gdb is not installed")


def ctrl_port(machine: Machine) -> int:
    """Free the control port (the lab's own `monitor` connection) and return it."""
    return machine.free_ctrl_port()


def gdb(machine: Machine, *commands: str, timeout: float = 120) -> str:
    assert GDB is not None
    argv = [
        GDB,
        "-nx",
        "-batch",
        "-ex",
        "set pagination off",
        "-ex",
        "set remotetimeout 20",  # 2 s by default: short on a busy 2-core machine
        "-ex",
        f"target remote 127.0.0.1:{ctrl_port(machine)}",
    ]
    for cmd in commands:
        argv += ["-ex", cmd]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    out = done.stdout + done.stderr
    print(out)
    return out


def value(out: str, name: str) -> int:
    match = re.search(rf"^{name}=(0x[0-9a-f]+|0)$", out, re.MULTILINE)
    assert match, f"gdb printed no {name}=...:\n{out}"
    return int(match.group(1), 16)


def show(name: str, expr: str) -> str:
    return f'printf "{name}=%#lx\\n", {expr}'


@contextmanager
def guest_loop(machine: Machine, body: str) -> Iterator[int]:
    """Run `while :; do BODY; done` in the guest's background; kill it after."""
    out = machine.run(f"while :; do {body}; done >/dev/null 2>&1 & echo $!").output
    pid = int(out.split()[-1])
    try:
        yield pid
    finally:
        if machine.alive():
            machine.run(f"kill {pid}", timeout=60)


def kallsyms(machine: Machine, *names: str) -> dict[str, int]:
    pattern = " ".join(f"-e {n}" for n in names)
    out = machine.run(f"grep -w {pattern} /proc/kallsyms").output
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            found[parts[2]] = int(parts[0], 16)
    assert set(names) <= set(found), f"not in /proc/kallsyms: {out}"
    return found


def console_works(machine: Machine, timeout: float = 60) -> float:
    t0 = time.monotonic()
    assert machine.run("echo still-running", timeout=timeout).output == "still-running\n"
    return time.monotonic() - t0


# -- long mode (the shared amd64 machine) --------------------------------------------


@needs_gdb
def test_long_mode_breakpoint_on_syscall_entry(hv_ctrl: Machine) -> None:
    """break *$lstar (entry_SYSCALL_64) while the guest makes syscalls; x/4i,
    stepi, and the system registers as stock gdb shows them."""
    syms = kallsyms(hv_ctrl, "entry_SYSCALL_64")
    with guest_loop(hv_ctrl, "cat /proc/version"):
        out = gdb(
            hv_ctrl,
            show("LSTAR", "$lstar"),
            "break *$lstar",
            "continue",
            show("PC", "$pc"),
            "x/4i $pc",
            "stepi",
            show("STEP", "$pc"),
            "info registers cr0 cr3 cr4 efer",
            show("CR3", "$cr3"),
            "monitor sysregs",
            "info registers system",
            "info all-registers",
            "delete",
            "detach",
        )
        lstar = value(out, "LSTAR")
        assert lstar == syms["entry_SYSCALL_64"], "LSTAR is not entry_SYSCALL_64"
        assert re.search(rf"Breakpoint 1, {lstar:#018x}", out), out
        assert value(out, "PC") == lstar
        insns = re.findall(r"^(?:=> )?\s*0x[0-9a-f]+:\s+\S+", out, re.MULTILINE)
        assert len(insns) >= 4, f"x/4i printed no 4 instructions:\n{out}"
        assert "swapgs" in out  # entry_SYSCALL_64 starts with it
        step = value(out, "STEP")
        assert step != lstar and lstar < step < lstar + 16, f"stepi: {lstar:#x} -> {step:#x}"
        cr3 = value(out, "CR3")
        sysregs = re.search(r"\bcr3\s+0x([0-9a-f]+)", out)
        assert sysregs, "no cr3 in `monitor sysregs`"
        assert int(sysregs.group(1), 16) == cr3
        for reg in ("cr0", "cr3", "cr4", "efer"):
            assert re.search(rf"^{reg}\s+0x[0-9a-f]+", out, re.MULTILINE), f"no {reg} line"
        efer = re.search(r"^efer\s+0x([0-9a-f]+)", out, re.MULTILINE)
        assert efer and int(efer.group(1), 16) & 0x500 == 0x500  # LME | LMA
        # `info registers system`: one line, the hex view then the decoded one.
        system = re.search(r"^system\s+(\{.*\})\s+(\{.*\})$", out, re.MULTILINE)
        assert system, f"`info registers system` printed no system line:\n{out}"
        hexview, decoded = system.groups()
        assert f"cr3 = {cr3:#x}," in hexview
        assert f"lstar = {lstar:#x}," in hexview
        for field in (
            "cr0",
            "cr2",
            "cr4",
            "cr8",
            "efer",
            "dr7",
            "gdtr_base",
            "idtr_limit",
            "tr_base",
            "fs_base",
            "kernel_gs_base",
        ):
            assert f"{field} = 0x" in hexview, f"no {field} in {hexview}"
        assert re.search(r"cr0 = \[ [^]]*\bPG\b", decoded), decoded
        assert re.search(r"efer = \[ [^]]*\bLMA\b", decoded), decoded
        assert "detached" in out
    console_works(hv_ctrl)


@needs_gdb
def test_long_mode_write_watchpoint(hv_ctrl: Machine) -> None:
    """watch *(long*)&jiffies_64: the timer tick writes it; gdb reports the change."""
    syms = kallsyms(hv_ctrl, "jiffies_64", "entry_SYSCALL_64")
    addr = syms["jiffies_64"]
    out = gdb(
        hv_ctrl,
        show("LSTAR", "$lstar"),
        f"watch *(long*){addr:#x}",
        "continue",
        show("NOW", f"*(long*){addr:#x}"),
        "delete",
        "detach",
    )
    # KASLR: kallsyms and the VM's LSTAR agree on the slide.
    assert value(out, "LSTAR") == syms["entry_SYSCALL_64"]
    assert f"Hardware watchpoint 1: *(long*){addr:#x}" in out
    change = re.search(r"Old value = (\d+)\s+New value = (\d+)", out)
    assert change, f"the watchpoint did not fire:\n{out}"
    old, new = int(change.group(1)), int(change.group(2))
    assert new > old
    assert value(out, "NOW") == new
    console_works(hv_ctrl)


def test_ctrl_c_stops_user_space_busy_loop(hv_ctrl: Machine) -> None:
    """0x03 stops a guest spinning in ring 3 (no natural exits) with T02. The
    stub reports the guest-time window in which the 0x03 arrived: not empty,
    no longer than the wall time the VM ran since we resumed it (the VM's
    clock stops while the VMM runs), and short: the periodic exit source
    brings the VMM to the line at the guest's timer rate."""
    port = ctrl_port(hv_ctrl)
    latencies = []
    resumed = None
    with guest_loop(hv_ctrl, ":"), RawGdb.connect(port) as client:
        time.sleep(1)
        for _ in range(5):
            t0 = time.monotonic()
            client.interrupt()
            stop = client.wait_stop(timeout=5)
            latencies.append(time.monotonic() - t0)
            assert stop.startswith(b"T02"), stop
            status = rawgdb.parse_status(client.command("qRfx.Status"))
            window_s = int(status["ctrlc"], 16) / int(status["tsc_hz"], 16)
            assert window_s > 0, status
            if resumed is not None:
                assert window_s <= time.monotonic() - resumed, (window_s, status)
                # The VM ran ~0.3 s; the stub looked at the line at least at
                # the guest's timer rate (250 Hz) meanwhile, in guest time.
                assert window_s < 0.1, f"no look at the line for {window_s:.3f} s of guest time"
            rip = client.layout().parse_g(client.command("g"))["rip"]
            assert rip == int(status["rip"], 16)
            assert status["mode"] == "long"
            client.send("c")
            resumed = time.monotonic()
            time.sleep(0.3)
        cpl3 = status.get("cpl")
    print(
        "Ctrl-C -> T02 latency (wall, host): "
        + ", ".join(f"{x * 1000:.1f}" for x in latencies)
        + f" ms; median {statistics.median(latencies) * 1000:.1f} ms; last stop cpl {cpl3}"
    )
    assert max(latencies) < 5
    console_works(hv_ctrl)


def test_detach_guest_carries_on(hv_ctrl: Machine) -> None:
    """After `D` the VM runs, without our breakpoints (one sat on the syscall
    entry): the console answers at once, the log says why."""
    port = ctrl_port(hv_ctrl)
    mark = len(hv_ctrl.log_text())
    with RawGdb.connect(port) as client:
        client.interrupt()
        assert client.wait_stop(timeout=10).startswith(b"T02")
        lstar = client.reg("lstar")
        assert client.command(f"Z0,{lstar:x},1") == b"OK"  # detach must remove it
        assert client.command("D") == b"OK"
    took = console_works(hv_ctrl, timeout=30)
    assert took < 2.5, f"the console took {took:.1f} s after detach"
    assert "client detached (detach packet)" in hv_ctrl.log_text()[mark:]


@needs_gdb
def test_monitor_memory_modes_and_translation(hv_ctrl: Machine) -> None:
    """monitor help / exits / vmcb; v2p of the syscall entry; `mem phys` makes
    gdb's x read that physical address, with the same bytes as the virtual view;
    `npt` shows nested paging and walks it."""
    out = gdb(
        hv_ctrl,
        "monitor help",
        "monitor exits",
        "monitor vmcb",
        "x/8xb $lstar",
        'eval "monitor v2p %lx", $lstar',
        "detach",
    )
    assert "v2p ADDR" in out and "mem phys" in out, "monitor help lists no v2p / mem"
    assert re.search(r"cpuid\s+\d+", out), "monitor exits shows no counters"
    assert "intercept" in out.lower(), "monitor vmcb dumped no intercepts"
    virt = re.search(r"^0x[0-9a-f]+ <?[^:]*:((?:\s+0x[0-9a-f]{2}){8})", out, re.MULTILINE)
    v2p = re.search(r"0x([0-9a-f]+) -> 0x([0-9a-f]+)", out)
    assert virt and v2p, out
    pa = int(v2p.group(2), 16)
    hidden = facts.vmm_range(out)
    out2 = gdb(
        hv_ctrl,
        "monitor mem phys",
        f"x/8xb {pa:#x}",
        "monitor mem virt",
        "monitor npt",
        f"monitor npt {pa:x}",
        f"monitor npt {hidden.start:x}",
        f"monitor npt {hidden.start - 0x1000:x}",
        "detach",
    )
    assert "physical addresses" in out2 and "virtual addresses" in out2
    # Nested paging, walked: identity outside the VMM's range, nothing inside.
    assert re.search(
        rf"nested paging on, root 0x[0-9a-f]+.*without the VMM's {hidden.start:#x}-",
        out2,
        re.DOTALL,
    ), out2
    assert re.search(rf"{pa:#x} -> {pa:#x} \((1 GiB|2 MiB|4 KiB) page", out2), out2
    assert f"{hidden.start:#x} is not mapped" in out2
    below = hidden.start - 0x1000
    assert re.search(rf"{below:#x} -> {below:#x} \((2 MiB|4 KiB) page", out2), out2
    phys = re.search(rf"^{pa:#x}:((?:\s+0x[0-9a-f]{{2}}){{8}})", out2, re.MULTILINE)
    assert phys, out2
    assert phys.group(1).split() == virt.group(1).split()
    console_works(hv_ctrl)


@needs_gdb
def test_register_writes_take_effect_on_resume(
    hv_ctrl: Machine, guest_program: Callable[[str, int], Any]
) -> None:
    """At a hardware breakpoint in a process: `set $rdi = 42` becomes its exit
    status; `set $cr2` (a system register) is what the VM has after a stepi."""
    prog = guest_program("regprobe", 0x13380000)
    hv_ctrl.put_file("/tmp/regprobe", prog.binary)
    job = hv_ctrl.run_background("/tmp/regprobe; echo status=$?")  # sleeps 2 s first
    out = gdb(
        hv_ctrl,
        f"hbreak *{prog.symbols['probe_exit']:#x}",
        "continue",
        show("PC", "$pc"),
        show("RDI", "$rdi"),
        "set $rdi = 42",
        "set $cr2 = 0x1234000",
        "stepi",
        show("CR2", "$cr2"),
        show("RDI2", "$rdi"),
        "delete",
        "detach",
    )
    assert value(out, "PC") == prog.symbols["probe_exit"], out
    assert value(out, "RDI") == 0
    assert value(out, "CR2") == 0x1234000
    assert value(out, "RDI2") == 42
    assert "status=42" in job.result().output


def test_target_xml_is_the_unit_tests_fixture(hv_ctrl: Machine) -> None:
    """The client reads its register layout from the stub's target.xml; the unit
    tests use a copy captured from the stub (tests/unit/data/stub-target.xml).
    When the stub's description changes, refresh the copy with this XML."""
    from ramooflax.tdesc import Layout, read_target_xml

    fixture = REPO / "tests" / "unit" / "data" / "stub-target.xml"
    with RawGdb.connect(ctrl_port(hv_ctrl)) as client:
        client.interrupt()
        assert client.wait_stop(timeout=10).startswith(b"T02")
        live = read_target_xml(client.command)
        layout = Layout.from_xml(live)
        assert len(client.regs()) == layout.g_size
        assert client.command("D") == b"OK"
    assert live == fixture.read_text(), f"the stub's target.xml changed: update {fixture}"
