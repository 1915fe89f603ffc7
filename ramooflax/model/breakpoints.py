"""Breakpoints and watchpoints with names, filters and a listing.

    bps = vm.cpu.breakpoints
    bps.add_insn(0xffffffff81000000, name="entry")      # int3 (Z0)
    bps.add_hw_insn(addr)                                 # DR0-3 (Z1)
    bps.add_data_w(addr, 4, fn, "counter")                # write watchpoint (Z2)
    bps.add_data_r(addr, 4) / bps.add_data_rw(addr, 8)    # read (Z3) / access (Z4)
    bps.remove("counter") ; bps.remove(addr)
    print(bps)                                            # the table

Addresses are linear (virtual) addresses in the VM's current address space;
software breakpoints patch the physical page they map to, so they hit in
every address space sharing it (kernel text, say).
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from ramooflax.errors import ClientError

if TYPE_CHECKING:
    from ramooflax.model.events import Filter


class BreakpointType(IntEnum):
    """The Z packet type."""

    SW_INSN = 0
    HW_INSN = 1
    DATA_W = 2
    DATA_R = 3
    DATA_RW = 4


_LABEL = {0: "insn", 1: "hw-insn", 2: "data-w", 3: "data-r", 4: "data-rw"}


@dataclass
class Breakpoint:
    name: str
    type: BreakpointType
    addr: int
    size: int
    filter: "Filter | None" = None
    hits: int = 0

    def covers(self, addr: int) -> bool:
        return self.addr <= addr < self.addr + max(self.size, 1)

    def z_args(self) -> str:
        return f"{int(self.type)},{self.addr:x},{self.size:x}"


class Breakpoints:
    """The breakpoints set through this session (the VMM removes them all at detach)."""

    def __init__(self, send: Callable[[str], None]) -> None:
        self._send = send  # sends a Z/z packet, raises on error
        self._bps: dict[str, Breakpoint] = {}
        self._count = 0

    def _add(
        self, kind: BreakpointType, addr: int, size: int, fn: "Filter | None", name: str | None
    ) -> Breakpoint:
        if name is None:
            self._count += 1
            name = f"bp{self._count}"
        if name in self._bps:
            raise ClientError(f"a breakpoint named {name!r} exists: remove it or pick another name")
        if kind >= BreakpointType.DATA_W and size not in (1, 2, 4, 8):
            raise ClientError(f"watchpoint size {size}: use 1, 2, 4 or 8 bytes")
        bp = Breakpoint(name, kind, addr, size, fn)
        self._send("Z" + bp.z_args())
        self._bps[name] = bp
        return bp

    def add_insn(
        self, addr: int, filter: "Filter | None" = None, name: str | None = None
    ) -> Breakpoint:
        """A software (int3) breakpoint at a linear address."""
        return self._add(BreakpointType.SW_INSN, addr, 1, filter, name)

    def add_hw_insn(
        self, addr: int, filter: "Filter | None" = None, name: str | None = None
    ) -> Breakpoint:
        """A hardware instruction breakpoint (one of DR0-3)."""
        return self._add(BreakpointType.HW_INSN, addr, 1, filter, name)

    def add_data_w(
        self, addr: int, size: int, filter: "Filter | None" = None, name: str | None = None
    ) -> Breakpoint:
        """A write watchpoint on size bytes (1, 2, 4, 8) at addr."""
        return self._add(BreakpointType.DATA_W, addr, size, filter, name)

    def add_data_r(
        self, addr: int, size: int, filter: "Filter | None" = None, name: str | None = None
    ) -> Breakpoint:
        """A read watchpoint (Z3; x86 DRs trap reads as accesses)."""
        return self._add(BreakpointType.DATA_R, addr, size, filter, name)

    def add_data_rw(
        self, addr: int, size: int, filter: "Filter | None" = None, name: str | None = None
    ) -> Breakpoint:
        """An access (read or write) watchpoint."""
        return self._add(BreakpointType.DATA_RW, addr, size, filter, name)

    def remove(self, which: str | int | Breakpoint) -> None:
        """Remove a breakpoint by name, address or object."""
        bp = self.find(which)
        if bp is None:
            raise ClientError(f"no breakpoint {which!r}: see vm.cpu.breakpoints")
        self._send("z" + bp.z_args())
        del self._bps[bp.name]

    def remove_all(self) -> None:
        for bp in list(self._bps.values()):
            self.remove(bp)

    def forget_all(self) -> None:
        """Drop the table without packets (after detach: the VMM removed them)."""
        self._bps.clear()

    def find(self, which: str | int | Breakpoint) -> Breakpoint | None:
        if isinstance(which, Breakpoint):
            return self._bps.get(which.name)
        if isinstance(which, str):
            return self._bps.get(which)
        for bp in self._bps.values():
            if bp.addr == which:
                return bp
        return None

    def match_insn(self, addr: int, hw: bool) -> Breakpoint | None:
        want = BreakpointType.HW_INSN if hw else BreakpointType.SW_INSN
        for bp in self._bps.values():
            if bp.type == want and bp.addr == addr:
                return bp
        return None

    def match_data(self, addr: int) -> Breakpoint | None:
        for bp in self._bps.values():
            if bp.type >= BreakpointType.DATA_W and bp.covers(addr):
                return bp
        return None

    def __iter__(self) -> Iterator[Breakpoint]:
        return iter(list(self._bps.values()))

    def __len__(self) -> int:
        return len(self._bps)

    def __contains__(self, which: object) -> bool:
        return isinstance(which, (str, int, Breakpoint)) and self.find(which) is not None

    def table(self) -> str:
        if not self._bps:
            return "no breakpoints"
        lines = [f"{'name':<16} {'type':<8} {'address':<18} {'size':>4} {'hits':>5}  filter"]
        for bp in self._bps.values():
            fn = getattr(bp.filter, "__name__", "-") if bp.filter else "-"
            lines.append(
                f"{bp.name:<16} {_LABEL[bp.type]:<8} 0x{bp.addr:016x} "
                f"{bp.size:>4} {bp.hits:>5}  {fn}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.table()
