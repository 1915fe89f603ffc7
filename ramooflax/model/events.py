"""Filters: what runs when the VM stops, and the event it sees.

A filter is `fn(vm) -> bool`. It runs when the VM stops for what it filters
(an intercepted exit, a breakpoint, a single step), while the VM is stopped:
it may read and write registers and memory. Its verdict decides what
happens next (the original Ramooflax paper's semantics):

* True  - give control back to the user: `vm.resume()` returns;
* False - resume the VM silently: `vm.resume()` keeps waiting.

The stop's details are in `vm.event` (an Event) while the filter runs and
after resume() returns.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ramooflax import rsp
from ramooflax.model.enums import EventKind, StopReason

if TYPE_CHECKING:
    from ramooflax.model.vm import VM

Filter = Callable[["VM"], bool]


@dataclass
class Event:
    """One stop: why (`reason`, and `kind` for filtered exits), with its details.

    Details are attributes: `vm.event.val` (cr_write), `vm.event.cr2` (excp),
    `vm.event.leaf`, `vm.event.port`, ... as in docs/protocol.md's KIND table.
    """

    reason: StopReason
    kind: EventKind | None = None
    args: dict[str, int | str] = field(default_factory=dict)
    stop: rsp.StopReply | None = None
    breakpoint: Any = None  # the Breakpoint hit, for (hw) breakpoints and watchpoints
    vcpu: int | None = None  # the index of the vCPU that stopped (vm.cpus[vcpu])

    def __getattr__(self, name: str) -> int | str:
        args = self.__dict__.get("args", {})
        if name in args:
            value: int | str = args[name]
            return value
        raise AttributeError(f"this {self.describe()} event has no detail {name!r}")

    def describe(self) -> str:
        if self.kind is not None:
            detail = ",".join(
                f"{k}={v:#x}" if isinstance(v, int) else f"{k}={v}" for k, v in self.args.items()
            )
            return f"{self.kind.value}({detail})"
        if self.breakpoint is not None:
            return f"{self.reason.value}({self.breakpoint.name})"
        return self.reason.value

    def __repr__(self) -> str:
        where = "" if self.vcpu is None else f" on vCPU {self.vcpu}"
        return f"<Event {self.describe()}{where}>"


def event_of(stop: rsp.StopReply) -> Event:
    """The Event for a parsed stop reply (breakpoints are matched later by the CPU)."""
    kind = stop.kind
    vcpu = None if stop.thread is None else stop.thread - 1
    if kind is rsp.StopKind.EVENT:
        try:
            ek: EventKind | None = EventKind(stop.event)
        except ValueError:
            ek = None
        return Event(StopReason.EVENT, ek, dict(stop.args or {}), stop, vcpu=vcpu)
    reason = {
        rsp.StopKind.INTERRUPT: StopReason.INTERRUPT,
        rsp.StopKind.SWBREAK: StopReason.BREAKPOINT,
        rsp.StopKind.HWBREAK: StopReason.HW_BREAKPOINT,
        rsp.StopKind.WATCH: StopReason.WATCHPOINT,
        rsp.StopKind.RWATCH: StopReason.WATCHPOINT,
        rsp.StopKind.AWATCH: StopReason.WATCHPOINT,
    }.get(kind, StopReason.SINGLESTEP)
    args: dict[str, int | str] = {}
    if stop.addr is not None:
        args["addr"] = stop.addr
    return Event(reason, None, args, stop, vcpu=vcpu)


def filter_packet(kind: str, arg: str | None, on: bool) -> str:
    """`QRfx.Filter:KIND,args,1/0` (npf and cpuid-all take no argument)."""
    parts = [kind] + ([arg] if arg is not None else []) + ["1" if on else "0"]
    return "QRfx.Filter:" + ",".join(parts)


class Filters:
    """The client's table of event filters: (kind, key) -> fn.

    Keys: the CR number, the vector, the CPUID leaf (None for every leaf),
    the MSR, the port, or None for kinds without an argument (npf, reset).
    """

    def __init__(self) -> None:
        self.table: dict[tuple[EventKind, int | None], Filter | None] = {}
        self.singlestep: Filter | None = None

    def set(self, kind: EventKind, key: int | None, fn: Filter | None) -> None:
        self.table[(kind, key)] = fn

    def remove(self, kind: EventKind, key: int | None) -> None:
        self.table.pop((kind, key), None)

    def clear(self) -> None:
        self.table.clear()
        self.singlestep = None

    def match(self, event: Event) -> tuple[bool, Filter | None]:
        """(filtered?, fn) for a filtered-exit event."""
        if event.kind is None:
            return False, None
        key = _key_of(event)
        if (event.kind, key) in self.table:
            return True, self.table[(event.kind, key)]
        if (event.kind, None) in self.table:
            return True, self.table[(event.kind, None)]
        return False, None


_KEY_ARG = {
    EventKind.CR_WRITE: "cr",
    EventKind.CR_READ: "cr",
    EventKind.EXCEPTION: "vec",
    EventKind.CPUID: "leaf",
    EventKind.MSR: "msr",
    EventKind.IO: "port",
    EventKind.INTN: "vec",
}


def _key_of(event: Event) -> int | None:
    arg = _KEY_ARG.get(event.kind) if event.kind else None
    value = event.args.get(arg) if arg else None
    return value if isinstance(value, int) else None
