"""Ramooflax: remote client and QEMU lab for the Ramooflax hypervisor.

from ramooflax import VM, CPUFamily, CPUException
with VM(CPUFamily.AMD, "127.0.0.1:1234") as vm:
    print(vm.cpu.gpr)
"""

from ramooflax.errors import (
    AddressNotMapped,
    ChannelLost,
    NotAttached,
    NotRunning,
    RamooflaxError,
    StepTimeout,
    StubError,
    VMRunning,
    WrongFamily,
)
from ramooflax.model import (
    CPU,
    VM,
    CPUException,
    CPUFamily,
    CPUMode,
    Event,
    EventKind,
    StopReason,
)

__version__ = "0.1.0"
__all__ = [
    "CPU",
    "VM",
    "AddressNotMapped",
    "CPUException",
    "CPUFamily",
    "CPUMode",
    "ChannelLost",
    "Event",
    "EventKind",
    "NotAttached",
    "NotRunning",
    "RamooflaxError",
    "StepTimeout",
    "StopReason",
    "StubError",
    "VMRunning",
    "WrongFamily",
    "__version__",
]
