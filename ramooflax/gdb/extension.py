"""Inside gdb: real-mode and 16/32-bit code on the stub's fixed x86-64 layout.

Loaded by `ramooflax gdb` (launch.py) into gdb's own Python. gdb decodes
instructions for the target description's architecture, i386:x86-64, in
every mode, and refuses `set architecture i8086` with that description. So:

* a gdb.disassembler.Disassembler decodes with Capstone in the VM's code
  size (from CR0.PE, EFLAGS.VM, EFER.LMA and CS's L and D bits:
  ramooflax.x86mode), and leaves 64-bit code to gdb's own disassembler;
  `rfx mode 16|32|64` forces a size, `rfx mode auto` goes back;
* at each stop outside 64-bit code, one line gives the mode, CS:IP, the
  linear address and the instruction; `$ip` is set to IP and `$lin_sp` to
  the linear address of SS:SP;
* `rfx regs` shows the registers as the mode sees them (16-bit names and
  segment:offset pairs in real mode).

The relay (proxy.py) makes `$pc` the linear address CS.base + IP.
"""

import importlib.util
import sys
from pathlib import Path
from typing import Any

import gdb
import gdb.disassembler

from ramooflax import x86mode

ARCH = "i386:x86-64"
MODE_REGS = ("rip", "eflags", "cr0", "efer", "cs_base", "cs_attr")
EFLAGS_BITS = [(0, "CF"), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"), (9, "IF"),
               (10, "DF"), (11, "OF"), (17, "VM")]  # fmt: skip


class State:
    """What the extension knows about the stopped VM (reset at each stop)."""

    forced_bits: int | None = None
    capstone: Any = None
    last_mode: str | None = None
    _cache: dict[str, int] | None = None

    @classmethod
    def regs(cls) -> dict[str, int]:
        if cls._cache is None:
            frame = gdb.selected_frame()
            names = MODE_REGS + ("cs", "ss", "rsp", "ss_base")
            cls._cache = {n: int(frame.read_register(n)) & 0xFFFFFFFFFFFFFFFF for n in names}
        return cls._cache

    @classmethod
    def forget(cls, *_: object) -> None:
        cls._cache = None

    @classmethod
    def bits(cls) -> int:
        if cls.forced_bits is not None:
            return cls.forced_bits
        r = cls.regs()
        return x86mode.code_bits(r["cr0"], r["efer"], r["eflags"], r["cs_attr"])

    @classmethod
    def mode(cls) -> str:
        r = cls.regs()
        return x86mode.mode_name(r["cr0"], r["efer"], r["eflags"], r["cs_attr"])


class RfxDisassembler(gdb.disassembler.Disassembler):
    """16- and 32-bit code through Capstone; 64-bit code through gdb's own."""

    def __init__(self) -> None:
        super().__init__("ramooflax")

    def __call__(self, info: Any) -> Any:
        try:
            bits = State.bits()
        except gdb.error:
            bits = 64  # no frame (not connected): gdb's own
        if bits == 64 or State.capstone is None:
            return gdb.disassembler.builtin_disassemble(info)
        insn = _decode(bytes(info.read_memory(15, 0)), info.address, bits)
        if insn is None:
            return gdb.disassembler.builtin_disassemble(info)
        size, text = insn
        return gdb.disassembler.DisassemblerResult(size, text)


_decoders: dict[tuple[int, str], Any] = {}


def _decode(code: bytes, address: int, bits: int) -> tuple[int, str] | None:
    """(length, text) of the first instruction of code, in gdb's spacing."""
    cs = State.capstone
    flavor = str(gdb.parameter("disassembly-flavor"))
    md = _decoders.get((bits, flavor))
    if md is None:
        mode = {16: cs.CS_MODE_16, 32: cs.CS_MODE_32}[bits]
        md = cs.Cs(cs.CS_ARCH_X86, mode)
        md.syntax = cs.CS_OPT_SYNTAX_INTEL if flavor == "intel" else cs.CS_OPT_SYNTAX_ATT
        _decoders[(bits, flavor)] = md
    for insn in md.disasm(code, address, 1):
        ops = insn.op_str.replace(", ", ",")
        return insn.size, f"{insn.mnemonic:<6} {ops}".rstrip()
    return None


def _on_stop(event: Any) -> None:
    State.forget()
    try:
        r = State.regs()
        mode, bits = State.mode(), State.bits()
    except gdb.error:
        return
    ip = x86mode.ip_of(r["rip"], r["cs_base"], bits) if bits != 64 else r["rip"]
    gdb.set_convenience_variable("ip", ip)
    sp = r["rsp"] & (0xFFFF if bits == 16 else 0xFFFFFFFF if bits == 32 else ~0)
    gdb.set_convenience_variable("lin_sp", r["ss_base"] + sp if bits != 64 else r["rsp"])
    changed = mode != State.last_mode
    State.last_mode = mode
    if bits == 64:
        if changed:
            print(f"[rfx] {mode} mode (64-bit code)")
        return
    where = f"{r['cs']:04x}:{ip:04x}" if bits == 16 else f"{r['cs']:04x}:{ip:08x}"
    insn = ""
    if State.capstone is not None:
        try:
            code = bytes(gdb.selected_inferior().read_memory(r["rip"], 15))
            decoded = _decode(code, r["rip"], bits)
            insn = f"  {decoded[1]}" if decoded else ""
        except gdb.MemoryError:
            insn = "  (memory not readable)"
    print(f"[rfx] {mode} {where} = {r['rip']:#x}{insn}")


def _flags(value: int) -> str:
    return " ".join(name for bit, name in EFLAGS_BITS if value >> bit & 1)


class RfxPrefix(gdb.Command):
    """Ramooflax helpers: rfx regs, rfx mode."""

    def __init__(self) -> None:
        super().__init__("rfx", gdb.COMMAND_USER, prefix=True)


class RfxRegs(gdb.Command):
    """Show the registers as the VM's mode sees them: in real and 16-bit modes
    the 16-bit registers and segment:offset pairs with their linear addresses."""

    def __init__(self) -> None:
        super().__init__("rfx regs", gdb.COMMAND_DATA)

    def invoke(self, arg: str, from_tty: bool) -> None:
        State.forget()
        frame = gdb.selected_frame()

        def reg(name: str) -> int:
            return int(frame.read_register(name)) & 0xFFFFFFFFFFFFFFFF

        bits, mode = State.bits(), State.mode()
        print(f"{mode} mode, {bits}-bit code (linear = segment base + offset)")
        if bits == 64:
            print("64-bit code: see `info registers`")
            return
        width, mask = (4, 0xFFFF) if bits == 16 else (8, 0xFFFFFFFF)
        prefix = "" if bits == 16 else "e"
        cs_base = reg("cs_base")
        ip = x86mode.ip_of(reg("rip"), cs_base, bits)
        sp = reg("rsp") & mask
        print(
            f"  cs:{prefix}ip  {reg('cs'):04x}:{ip:0{width}x} = {reg('rip'):#x}    "
            f"ss:{prefix}sp  {reg('ss'):04x}:{sp:0{width}x} = {reg('ss_base') + sp:#x}"
        )
        names = ["ax", "bx", "cx", "dx", "si", "di", "bp", "sp"]
        cells = [f"{prefix}{n} {reg('r' + n) & mask:#0{width + 2}x}" for n in names]
        print("  " + "  ".join(cells[:4]) + "\n  " + "  ".join(cells[4:]))
        segs = [f"{s} {reg(s):04x} (base {reg(s + '_base'):#x})" for s in ("ds", "es", "fs", "gs")]
        print("  " + "  ".join(segs))
        flags = reg("eflags")
        print(f"  {prefix}flags {flags & mask:#0{width + 2}x} [ {_flags(flags)} ]")


class RfxMode(gdb.Command):
    """rfx mode [16|32|64|auto]: the code size the disassembler uses (auto: the VM's)."""

    def __init__(self) -> None:
        super().__init__("rfx mode", gdb.COMMAND_DATA)

    def invoke(self, arg: str, from_tty: bool) -> None:
        arg = arg.strip()
        if arg in ("16", "32", "64"):
            State.forced_bits = int(arg)
        elif arg in ("auto", ""):
            if arg:
                State.forced_bits = None
        else:
            raise gdb.GdbError("rfx mode takes 16, 32, 64 or auto")
        how = "forced" if State.forced_bits is not None else "from the VM's mode"
        try:
            print(f"disassembly: {State.bits()}-bit code ({how})")
        except gdb.error:
            print(f"disassembly: {how}")


def _load_capstone(where: str | None) -> Any:
    """Capstone from the client's environment (gdb's Python may not have it)."""
    if where:
        spec = importlib.util.spec_from_file_location(
            "capstone", Path(where) / "__init__.py", submodule_search_locations=[where]
        )
        if spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            sys.modules["capstone"] = module
            spec.loader.exec_module(module)
            return module
    try:
        import capstone  # type: ignore[import-untyped]
    except ImportError:
        return None
    return capstone


def install(capstone_dir: str | None = None) -> None:
    """Register the disassembler, the stop line and the rfx commands."""
    State.capstone = _load_capstone(capstone_dir)
    if State.capstone is None:
        print("[rfx] Capstone not found: 16- and 32-bit code is shown as 64-bit code")
    # gdb takes an instance (it checks isinstance); the stubs say a class.
    gdb.disassembler.register_disassembler(RfxDisassembler(), ARCH)  # type: ignore[arg-type]
    gdb.events.stop.connect(_on_stop)
    gdb.events.cont.connect(State.forget)
    gdb.events.register_changed.connect(State.forget)
    RfxPrefix()
    RfxRegs()
    RfxMode()
