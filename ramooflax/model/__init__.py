"""The client model: VM, CPU, registers, memory, breakpoints, filters."""

from ramooflax.model.breakpoints import Breakpoint, Breakpoints, BreakpointType
from ramooflax.model.cpu import CPU, Disassembly, Instruction
from ramooflax.model.enums import CPUException, CPUFamily, CPUMode, EventKind, StopReason
from ramooflax.model.events import Event, Filter
from ramooflax.model.memory import Memory
from ramooflax.model.vm import VM, Status

__all__ = [
    "CPU",
    "VM",
    "Breakpoint",
    "BreakpointType",
    "Breakpoints",
    "CPUException",
    "CPUFamily",
    "CPUMode",
    "Disassembly",
    "Event",
    "EventKind",
    "Filter",
    "Instruction",
    "Memory",
    "Status",
    "StopReason",
]
