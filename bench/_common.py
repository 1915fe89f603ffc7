"""Shared helpers of the benchmarks: boot a lab machine, talk RSP to a port."""

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ramooflax.lab import qemu
from ramooflax.lab.machine import Machine, MachineSpec
from ramooflax.lab.rawgdb import RawGdb

LOGS = Path(tempfile.mkdtemp(prefix="ramooflax-bench-"))

__all__ = ["LOGS", "Machine", "MachineSpec", "RawGdb", "boot", "cpu_seconds", "ctrl", "qemu_gdb"]


def boot(name: str, **spec: object) -> Machine:
    """Start a machine and wait for its shell; print how long it took."""
    machine = Machine(MachineSpec(guest="amd64", build=True, log=LOGS / f"{name}.log", **spec))  # type: ignore[arg-type]
    machine.start()
    took = machine.wait_ready(600 if machine.spec.emulator == "qemu" else None)
    print(f"[{name}] booted to its shell in {took:.1f} s (log {LOGS / name}.log)", flush=True)
    return machine


def cpu_seconds(machine: Machine) -> float:
    """The CPU time (user + system) the machine's emulator has used so far; 0 if unknown."""
    if machine.proc is None:
        return 0.0
    try:
        stat = Path(f"/proc/{machine.proc.pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[-1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ctrl(machine: Machine) -> RawGdb:
    """A raw client on the VMM's control port (the lab's own connection closed)."""
    return RawGdb.connect(machine.free_ctrl_port())


def qemu_gdb(port: int) -> RawGdb:
    """QEMU's gdbstub (the VM stops on connect); qSupported first, as gdb does,
    else QEMU refuses QStartNoAckMode."""
    client = RawGdb.connect(port)
    client.command("qSupported:swbreak+;hwbreak+;xmlRegisters=i386")
    return client


def free_port() -> int:
    return qemu.free_port()


def now() -> float:
    return time.monotonic()
