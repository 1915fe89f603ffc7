"""Boot-loader trace: the BIOS services a boot chain calls and the mode
switches it makes, from the VM's first instruction until paging is on.

Attach to a VM that waits at its first instruction (boot option
`ctrl_wait=1`), then:

    from ramooflax.plugins.boot_trace import trace_boot
    for step in trace_boot(vm):
        print(step)

Filters used: INT n in real mode for the BIOS services (10h video, 13h
disk, 15h system, 16h keyboard, 1Ah clock), CR0 writes that flip PE or PG,
CR4 writes that flip PAE, and EFER writes that flip LME. The trace ends at
the write that turns paging on: the kernel's, since boot loaders run
without paging (long mode if EFER.LME is set then).
"""

import struct
from collections.abc import Callable
from dataclasses import dataclass

from ramooflax.model.vm import VM

MSR_EFER = 0xC0000080
CR0_PE, CR0_PG = 1 << 0, 1 << 31
CR4_PAE = 1 << 5
EFER_LME = 1 << 8

# BIOS services (Ralf Brown's interrupt list names them; the BIOS Boot
# Specification and the EDD 3.0 spec define int 13h 41h-48h).
SERVICES = {0x10: "video", 0x13: "disk", 0x15: "system", 0x16: "keyboard", 0x1A: "clock"}
DISK_FUNCTIONS = {
    0x00: "reset",
    0x02: "read (CHS)",
    0x08: "drive parameters",
    0x15: "disk type",
    0x41: "extensions check",
    0x42: "extended read",
    0x48: "extended drive parameters",
}
SYSTEM_FUNCTIONS = {0x24: "A20 gate", 0x88: "extended memory size", 0xE8: "memory map"}


@dataclass
class Step:
    """One traced event: its index, the linear address, and what happened."""

    index: int
    at: int  # linear address of the instruction
    what: str

    def __str__(self) -> str:
        return f"{self.index:5d}  {self.at:#010x}  {self.what}"


def _bits(old: int, new: int, names: dict[int, str]) -> list[str]:
    return [f"{name} {'on' if new & bit else 'off'}" for bit, name in names.items()
            if (old ^ new) & bit]  # fmt: skip


def describe_int(vm: VM, vec: int, ax: int) -> str:
    """One BIOS call, decoded from the registers at the INT (AX from the event)."""
    ah = ax >> 8
    name = f"int {vec:02x}h {SERVICES.get(vec, '')}".rstrip()
    if vec == 0x13:
        dl = vm.cpu.gpr.rdx & 0xFF
        what = f"{name} ah={ah:02x}h {DISK_FUNCTIONS.get(ah, '')} drive {dl:02x}h".replace(
            "  ", " "
        )
        if ah == 0x42:  # DS:SI -> disk address packet (EDD 3.0): count, buffer, LBA
            dap = vm.cpu.sr.ds_base + (vm.cpu.gpr.rsi & 0xFFFF)  # real mode: linear = physical
            _, count, off, seg, lba = struct.unpack("<HHHHQ", vm.mem.pread(dap, 16))
            what += f": {count} sector(s) at LBA {lba} -> {seg:04x}:{off:04x}"
        elif ah == 0x02:  # AL sectors at CH/CL/DH (cylinder bits 8-9 in CL 6-7) to ES:BX
            cx, dh = vm.cpu.gpr.rcx & 0xFFFF, (vm.cpu.gpr.rdx >> 8) & 0xFF
            cyl, sector = (cx >> 8) | ((cx & 0xC0) << 2), cx & 0x3F
            what += (f": {ax & 0xFF} sector(s) at C/H/S {cyl}/{dh}/{sector} -> "
                     f"{vm.cpu.gpr.es:04x}:{vm.cpu.gpr.rbx & 0xFFFF:04x}")  # fmt: skip
        return what
    if vec == 0x15:
        return f"{name} ax={ax:04x}h {SYSTEM_FUNCTIONS.get(ah, '')}".rstrip()
    return f"{name} ah={ah:02x}h"


def trace_boot(vm: VM, timeout: float = 300, on_step: Callable[[Step], None] | None = None,
               ) -> list[Step]:  # fmt: skip
    """Run the attached, stopped VM until it turns paging on; the steps seen.

    `on_step` sees each step as it happens (to print a live trace).
    """
    steps: list[Step] = []
    state = {"efer": 0, "done": False}

    def add(what: str, at: int) -> None:
        step = Step(len(steps) + 1, at, what)
        steps.append(step)
        if on_step is not None:
            on_step(step)

    def pc() -> int:
        return (vm.cpu.sr.cs_base + vm.cpu.gpr.rip) & 0xFFFFFFFF

    def on_int(vm: VM) -> bool:
        ev = vm.event
        assert ev is not None
        add(describe_int(vm, int(ev.vec), int(ev.args.get("ax", 0))), int(ev.args.get("at", pc())))
        return False

    def on_cr0(vm: VM) -> bool:
        ev = vm.event
        assert ev is not None
        old, new = int(ev.old), int(ev.val)
        flips = _bits(old, new, {CR0_PE: "PE", CR0_PG: "PG"})
        if not flips:
            return False  # CD/NW/TS and the like: not a mode switch
        mode = "protected mode" if new & CR0_PE else "real mode"
        if new & CR0_PG and not old & CR0_PG:
            mode = "long mode (paging with EFER.LME)" if state["efer"] & EFER_LME else "paging on"
            state["done"] = True
        add(f"cr0 {old:#x} -> {new:#x}: {', '.join(flips)}: {mode}", pc())
        return bool(state["done"])

    def on_cr4(vm: VM) -> bool:
        ev = vm.event
        assert ev is not None
        flips = _bits(int(ev.old), int(ev.val), {CR4_PAE: "PAE"})
        if flips:
            add(f"cr4 {int(ev.old):#x} -> {int(ev.val):#x}: {', '.join(flips)}", pc())
        return False

    def on_efer(vm: VM) -> bool:
        ev = vm.event
        assert ev is not None
        if ev.dir == "w":
            new = int(ev.val)
            flips = _bits(state["efer"], new, {EFER_LME: "LME"})
            state["efer"] = new
            if flips:
                add(f"wrmsr EFER = {new:#x}: {', '.join(flips)}", pc())
        return False

    cpu = vm.cpu
    for vec in SERVICES:
        cpu.filter_intn(vec, on_int)
    cpu.filter_write_cr(0, on_cr0)
    cpu.filter_write_cr(4, on_cr4)
    cpu.filter_msr(MSR_EFER, on_efer)
    try:
        done = vm.resume(timeout=timeout)
    finally:
        if not vm.running:
            for vec in SERVICES:
                cpu.release_intn(vec)
            cpu.release_write_cr(0)
            cpu.release_write_cr(4)
            cpu.release_msr(MSR_EFER)
    if not (done and state["done"]):
        add(f"(stopped after {timeout:.0f} s: paging was not turned on)", pc())
    return steps
