"""Boot-loader trace: the BIOS calls and mode switches from the first instruction to paging.

The BIOS services a boot chain calls and the mode switches it makes, from
the VM's first instruction until paging is on.

Attach to a VM that waits at its first instruction (boot option
`ctrl_wait=1`), then:

    from ramooflax.plugins.boot_trace import trace_boot
    for step in trace_boot(vm):
        print(step)              # step.t (VM seconds), step.kind, step.mode, step.info

Filters used: INT n in real mode for the BIOS services (10h video, 13h
disk, 15h system, 16h keyboard, 1Ah clock), I/O to the A20 gates (port
92h, the keyboard controller's 60h/64h), CR0 writes that flip PE or PG,
CR4 writes that flip PAE, and EFER writes that flip LME. The trace ends at
the write that turns paging on: the kernel's, since boot loaders run
without paging (long mode if EFER.LME is set then).

The VMM answers INT 15h E820 and the A20 services itself (hv/vmm/core/intn.c)
and reports the stop after its answer: the E820 entry is then in the
caller's buffer, which the step reads. Other calls stop at the BIOS's
handler, before the BIOS runs: a disk read's step gives what is asked.
"""

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from ramooflax.model.vm import VM

MSR_EFER = 0xC0000080
CR0_PE, CR0_PG = 1 << 0, 1 << 31
CR4_PAE = 1 << 5
EFER_LME = 1 << 8
SMAP = 0x534D4150
A20_PORTS = (0x92, 0x64, 0x60)  # System Control Port A; the 8042's command and data ports

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
A20_FUNCTIONS = {0x00: "disable", 0x01: "enable", 0x02: "status", 0x03: "support"}
# ACPI 6.4 table 15.1: address range types.
E820_TYPES = {
    1: "usable",
    2: "reserved",
    3: "ACPI data",
    4: "ACPI NVS",
    5: "unusable",
    7: "persistent",
}


@dataclass
class Step:
    """One traced event: its index, the linear address, and what happened.

    t is the VM's run time at the stop (`VM.run_seconds`), kind the lane it
    belongs to (disk, memory map, a20, video, keyboard, clock, system, mode),
    mode the CPU mode after it (real, protected, long), info the decoded
    fields (a disk read's lba, count and buffer; an E820 entry's base, length
    and type; ...).
    """

    index: int
    at: int  # linear address of the instruction
    what: str
    t: float = 0.0
    kind: str = ""
    mode: str = "real"
    info: dict[str, int | str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.index:5d}  {self.at:#010x}  {self.what}"


def _bits(old: int, new: int, names: dict[int, str]) -> list[str]:
    return [
        f"{name} {'on' if new & bit else 'off'}" for bit, name in names.items() if (old ^ new) & bit
    ]


def describe_int(vm: VM, vec: int, ax: int) -> str:
    """One BIOS call, decoded from the registers at the INT (AX from the event)."""
    return decode_int(vm, vec, ax)[0]


def decode_int(vm: VM, vec: int, ax: int) -> tuple[str, str, dict[str, int | str]]:
    """(text, kind, fields) of one BIOS call at its stop."""
    ah = ax >> 8
    name = f"int {vec:02x}h {SERVICES.get(vec, '')}".rstrip()
    info: dict[str, int | str] = {"vec": vec, "ax": ax}
    if vec == 0x13:
        dl = vm.cpu.gpr.rdx & 0xFF
        func = DISK_FUNCTIONS.get(ah, "")
        info.update(drive=dl, function=func or f"{ah:02x}h")
        what = f"{name} ah={ah:02x}h {func} drive {dl:02x}h".replace("  ", " ")
        if ah == 0x42:  # DS:SI -> disk address packet (EDD 3.0): count, buffer, LBA
            dap = vm.cpu.sr.ds_base + (vm.cpu.gpr.rsi & 0xFFFF)  # real mode: linear = physical
            _, count, off, seg, lba = struct.unpack("<HHHHQ", vm.mem.pread(dap, 16))
            what += f": {count} sector(s) at LBA {lba} -> {seg:04x}:{off:04x}"
            info.update(lba=lba, count=count, buffer=(seg << 4) + off)
        elif ah == 0x02:  # AL sectors at CH/CL/DH (cylinder bits 8-9 in CL 6-7) to ES:BX
            cx, dh = vm.cpu.gpr.rcx & 0xFFFF, (vm.cpu.gpr.rdx >> 8) & 0xFF
            cyl, sector = (cx >> 8) | ((cx & 0xC0) << 2), cx & 0x3F
            es, bx = vm.cpu.gpr.es & 0xFFFF, vm.cpu.gpr.rbx & 0xFFFF
            what += f": {ax & 0xFF} sector(s) at C/H/S {cyl}/{dh}/{sector} -> {es:04x}:{bx:04x}"
            info.update(
                count=ax & 0xFF, cylinder=cyl, head=dh, sector=sector, buffer=(es << 4) + bx
            )
        return what, "disk", info
    if vec == 0x15:
        what = f"{name} ax={ax:04x}h {SYSTEM_FUNCTIONS.get(ah, '')}".rstrip()
        if ax == 0xE820:
            return _e820(vm, what, info)
        if ah == 0x24:
            func = A20_FUNCTIONS.get(ax & 0xFF, f"{ax & 0xFF:02x}h")
            info["function"] = func
            return f"{what} {func}", "a20", info
        return what, "system", info
    return f"{name} ah={ah:02x}h", SERVICES.get(vec, "bios"), info


def _e820(vm: VM, what: str, info: dict[str, int | str]) -> tuple[str, str, dict[str, int | str]]:
    """The VMM answered already: the entry is at ES:DI, EBX is the next continuation."""
    gpr = vm.cpu.gpr
    if gpr.rflags & 1 or gpr.rax & 0xFFFFFFFF != SMAP:
        info["error"] = 1
        return f"{what}: no entry (end of the map or a bad call)", "memory map", info
    buf = vm.cpu.sr.es_base + (gpr.rdi & 0xFFFF)
    base, length, kind = struct.unpack("<QQI", vm.mem.pread(buf, 20))
    info.update(base=base, length=length, type=kind, next=gpr.rbx & 0xFFFFFFFF)
    name = E820_TYPES.get(kind, f"type {kind}")
    return (f"{what}: {base:#x}-{base + length - 1:#x} {name}", "memory map", info)


def describe_a20_io(port: int, direction: str, val: int, kbc: dict[str, int]) -> str | None:
    """An A20 gate write in words, or None for other traffic on those ports."""
    if direction != "out":
        return None
    if port == 0x92:
        return f"out 92h, {val:02x}h: fast A20 gate {'on' if val & 2 else 'off'}"
    if port == 0x64:
        kbc["cmd"] = val
        if val in (0xDD, 0xDF):
            return f"out 64h, {val:02x}h: keyboard controller A20 {'on' if val == 0xDF else 'off'}"
        return (
            f"out 64h, {val:02x}h: keyboard controller: write output port" if val == 0xD1 else None
        )
    if port == 0x60 and kbc.get("cmd") == 0xD1:
        kbc["cmd"] = 0
        return f"out 60h, {val:02x}h: keyboard controller output port: A20 " + (
            "on" if val & 2 else "off"
        )
    return None


def trace_boot(
    vm: VM,
    timeout: float = 300,
    on_step: Callable[[Step], None] | None = None,
) -> list[Step]:
    """Run the attached, stopped VM until it turns paging on; the steps seen.

    `on_step` sees each step as it happens (to print a live trace).
    """
    steps: list[Step] = []
    state: dict[str, int | str] = {"efer": 0, "done": 0, "mode": "real"}
    kbc: dict[str, int] = {}

    def add(what: str, at: int, kind: str, info: dict[str, int | str] | None = None) -> None:
        step = Step(len(steps) + 1, at, what, vm.run_seconds, kind, str(state["mode"]), info or {})
        steps.append(step)
        if on_step is not None:
            on_step(step)

    def pc() -> int:
        return (vm.cpu.sr.cs_base + vm.cpu.gpr.rip) & 0xFFFFFFFF

    def on_int(vm: VM) -> bool:
        ev = vm.event
        assert ev is not None
        what, kind, info = decode_int(vm, int(ev.vec), int(ev.args.get("ax", 0)))
        add(what, int(ev.args.get("at", pc())), kind, info)
        return False

    def on_io(vm: VM) -> bool:
        ev = vm.event
        assert ev is not None
        port, val = int(ev.port), int(ev.args.get("val", 0))
        what = describe_a20_io(port, str(ev.dir), val, kbc)
        if what is not None:
            add(what, pc(), "a20", {"port": port, "val": val})
        return False

    def on_cr0(vm: VM) -> bool:
        ev = vm.event
        assert ev is not None
        old, new = int(ev.old), int(ev.val)
        flips = _bits(old, new, {CR0_PE: "PE", CR0_PG: "PG"})
        if not flips:
            return False  # CD/NW/TS and the like: not a mode switch
        mode = "protected mode" if new & CR0_PE else "real mode"
        state["mode"] = "protected" if new & CR0_PE else "real"
        if new & CR0_PG and not old & CR0_PG:
            long = int(state["efer"]) & EFER_LME
            mode = "long mode (paging with EFER.LME)" if long else "paging on"
            state["mode"] = "long" if long else "paging"
            state["done"] = 1
        add(
            f"cr0 {old:#x} -> {new:#x}: {', '.join(flips)}: {mode}",
            pc(),
            "mode",
            {"cr": 0, "old": old, "new": new},
        )
        return bool(state["done"])

    def on_cr4(vm: VM) -> bool:
        ev = vm.event
        assert ev is not None
        flips = _bits(int(ev.old), int(ev.val), {CR4_PAE: "PAE"})
        if flips:
            add(
                f"cr4 {int(ev.old):#x} -> {int(ev.val):#x}: {', '.join(flips)}",
                pc(),
                "mode",
                {"cr": 4, "old": int(ev.old), "new": int(ev.val)},
            )
        return False

    def on_efer(vm: VM) -> bool:
        ev = vm.event
        assert ev is not None
        if ev.dir == "w":
            new = int(ev.val)
            flips = _bits(int(state["efer"]), new, {EFER_LME: "LME"})
            old, state["efer"] = state["efer"], new
            if flips:
                add(
                    f"wrmsr EFER = {new:#x}: {', '.join(flips)}",
                    pc(),
                    "mode",
                    {"msr": MSR_EFER, "old": old, "new": new},
                )
        return False

    cpu = vm.cpu
    for vec in SERVICES:
        cpu.filter_intn(vec, on_int)
    for port in A20_PORTS:
        cpu.filter_io(port, on_io)
    cpu.filter_write_cr(0, on_cr0)
    cpu.filter_write_cr(4, on_cr4)
    cpu.filter_msr(MSR_EFER, on_efer)
    try:
        done = vm.resume(timeout=timeout)
    finally:
        if not vm.running:
            for vec in SERVICES:
                cpu.release_intn(vec)
            for port in A20_PORTS:
                cpu.release_io(port)
            cpu.release_write_cr(0)
            cpu.release_write_cr(4)
            cpu.release_msr(MSR_EFER)
    if not (done and state["done"]):
        add(f"(stopped after {timeout:.0f} s: paging was not turned on)", pc(), "end")
    return steps
