"""The register file as the stub numbers it (docs/protocol.md, 0-108), and
the two views the paper gives: `cpu.gpr` and `cpu.sr`.

Reads come from one `g` packet per stop (all 109 registers, cached until the
VM runs). Writes are lazy: `cpu.gpr.rax = 0` records the value, and the CPU
commits every dirty register with `P n=v` just before the VM resumes or
steps (or at detach).
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ramooflax import rsp
from ramooflax.errors import ProtocolError


@dataclass(frozen=True)
class Reg:
    name: str
    num: int
    size: int  # bytes on the wire
    system: bool


def _layout() -> list[Reg]:
    names: list[tuple[str, int]] = []
    names += [(n, 8) for n in ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp"]]
    names += [(f"r{i}", 8) for i in range(8, 16)]
    names += [("rip", 8), ("eflags", 4)]
    names += [(s, 4) for s in ["cs", "ss", "ds", "es", "fs", "gs"]]
    names += [(f"st{i}", 10) for i in range(8)]
    names += [(n, 4) for n in ["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"]]
    names += [(f"xmm{i}", 16) for i in range(16)]
    names += [("mxcsr", 4)]
    first_system = len(names)
    names += [(n, 8) for n in ["cr0", "cr2", "cr3", "cr4", "cr8", "efer"]]
    names += [(n, 8) for n in ["dr0", "dr1", "dr2", "dr3", "dr6", "dr7", "dbgctl"]]
    for s in ["cs", "ss", "ds", "es", "fs", "gs"]:
        names += [(f"{s}_base", 8), (f"{s}_limit", 4), (f"{s}_attr", 4)]
    names += [("gdtr_base", 8), ("gdtr_limit", 4), ("idtr_base", 8), ("idtr_limit", 4)]
    names += [("ldtr", 4), ("ldtr_base", 8), ("ldtr_limit", 4), ("ldtr_attr", 4)]
    names += [("tr", 4), ("tr_base", 8), ("tr_limit", 4), ("tr_attr", 4)]
    names += [
        (n, 8)
        for n in [
            "kernel_gs_base",
            "star",
            "lstar",
            "cstar",
            "sfmask",
            "sysenter_cs",
            "sysenter_esp",
            "sysenter_eip",
            "pat",
        ]
    ]
    return [Reg(n, i, sz, i >= first_system) for i, (n, sz) in enumerate(names)]


REGISTERS: list[Reg] = _layout()
BY_NAME: dict[str, Reg] = {r.name: r for r in REGISTERS}
G_PACKET_SIZE = sum(r.size for r in REGISTERS)  # bytes in a `g` reply
assert len(REGISTERS) == 109, "docs/protocol.md numbers registers 0-108"

GPR_NAMES = [r.name for r in REGISTERS[:24]]
SR_NAMES = [r.name for r in REGISTERS if r.system]

# 32-bit and 16-bit names for the low parts: (register, mask).
ALIASES: dict[str, tuple[str, int]] = {"rflags": ("eflags", 0xFFFFFFFF)}
for _r in ["ax", "bx", "cx", "dx", "si", "di", "bp", "sp"]:
    ALIASES["e" + _r] = ("r" + _r, 0xFFFFFFFF)
    ALIASES[_r] = ("r" + _r, 0xFFFF)
ALIASES["eip"] = ("rip", 0xFFFFFFFF)
ALIASES["ip"] = ("rip", 0xFFFF)
for _i in range(8, 16):
    ALIASES[f"r{_i}d"] = (f"r{_i}", 0xFFFFFFFF)


def parse_g(payload: bytes) -> dict[str, int]:
    """Split a `g` reply into {name: value} (little-endian fields, in layout order)."""
    raw = rsp.hex_decode(payload)
    if len(raw) < G_PACKET_SIZE:
        raise ProtocolError(
            f"`g` reply has {len(raw)} bytes, the 109-register layout needs {G_PACKET_SIZE}"
        )
    out: dict[str, int] = {}
    pos = 0
    for r in REGISTERS:
        out[r.name] = int.from_bytes(raw[pos : pos + r.size], "little")
        pos += r.size
    return out


def p_packet(name: str, value: int) -> str:
    """The `P n=v` packet that writes one register."""
    reg = BY_NAME[name]
    return f"P{reg.num:x}={rsp.int_to_le_hex(value, reg.size)}"


class RegisterFile:
    """Cached values and pending writes, shared by the gpr and sr views.

    `fetch` returns the `g` values; the cache is dropped by invalidate() when
    the VM runs. `dirty` holds the writes not yet sent.
    """

    def __init__(self, fetch: Callable[[], dict[str, int]], check: Callable[[str], None]) -> None:
        self._fetch = fetch
        self._check = check
        self._values: dict[str, int] | None = None
        self.dirty: dict[str, int] = {}

    def invalidate(self) -> None:
        self._values = None

    def values(self) -> dict[str, int]:
        if self._values is None:
            self._check("reading registers")
            self._values = self._fetch()
        merged = dict(self._values)
        merged.update(self.dirty)
        return merged

    def get(self, name: str) -> int:
        if name in ALIASES:
            base, mask = ALIASES[name]
            return self.get(base) & mask
        if name not in BY_NAME:
            raise AttributeError(f"no register {name!r}")
        if name in self.dirty:
            return self.dirty[name]
        return self.values()[name]

    def set(self, name: str, value: int) -> None:
        if name in ALIASES:
            base, mask = ALIASES[name]
            value = (self.get(base) & ~mask) | (value & mask)
            name = base
        reg = BY_NAME.get(name)
        if reg is None:
            raise AttributeError(f"no register {name!r}")
        self._check(f"writing {name}")
        self.dirty[name] = value & ((1 << (8 * reg.size)) - 1)

    def take_dirty(self) -> list[str]:
        """The P packets for the pending writes, in register order; clears them."""
        packets = [
            p_packet(n, v) for n, v in sorted(self.dirty.items(), key=lambda kv: BY_NAME[kv[0]].num)
        ]
        if self._values is not None:
            self._values.update(self.dirty)
        self.dirty.clear()
        return packets


class RegisterView:
    """Attribute access to a set of registers, with a readable table as repr."""

    _names: list[str]

    def __init__(self, regs: RegisterFile, names: list[str], title: str) -> None:
        object.__setattr__(self, "_regs", regs)
        object.__setattr__(self, "_names", names)
        object.__setattr__(self, "_title", title)

    def _ok(self, name: str) -> bool:
        base = ALIASES.get(name, (name, 0))[0]
        return base in self._names

    def __getattr__(self, name: str) -> int:
        if name.startswith("_") or not self._ok(name):
            raise AttributeError(f"{self._title} has no register {name!r}")
        regs: RegisterFile = object.__getattribute__(self, "_regs")
        return regs.get(name)

    def __setattr__(self, name: str, value: int) -> None:
        if not self._ok(name):
            raise AttributeError(f"{self._title} has no register {name!r}")
        regs: RegisterFile = object.__getattribute__(self, "_regs")
        regs.set(name, int(value))

    def __getitem__(self, name: str) -> int:
        return self.__getattr__(name)

    def __setitem__(self, name: str, value: int) -> None:
        self.__setattr__(name, value)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __dir__(self) -> list[str]:
        extra = [a for a, (b, _) in ALIASES.items() if b in self._names]
        return sorted(set(self._names) | set(extra))

    def as_dict(self) -> dict[str, int]:
        regs: RegisterFile = object.__getattribute__(self, "_regs")
        values = regs.values()
        return {n: values[n] for n in self._names}

    def table(self, columns: int = 3) -> str:
        """The registers as `name = 0x...` cells, `columns` per line ('*' marks pending writes)."""
        regs: RegisterFile = object.__getattribute__(self, "_regs")
        values = regs.values()
        cells = []
        for n in self._names:
            width = 2 * BY_NAME[n].size
            mark = "*" if n in regs.dirty else " "
            cells.append(f"{n:>14} = 0x{values[n]:0{width}x}{mark}")
        lines = []
        for i in range(0, len(cells), columns):
            lines.append("  ".join(f"{c:<36}" for c in cells[i : i + columns]).rstrip())
        return "\n".join(lines)

    def __repr__(self) -> str:
        try:
            return self.table()
        except Exception as exc:  # noqa: BLE001 - a repr must not raise (the shell calls it)
            return f"<{self._title}: {exc}>"
