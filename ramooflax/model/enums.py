"""Names for the numbers the protocol carries: CPU family, exception
vectors, CPU modes, stop reasons and filtered-event kinds."""

from enum import Enum, IntEnum


class CPUFamily(Enum):
    """The virtualization extension the VMM runs on (the original Ramooflax paper's first VM argument)."""

    AMD = "amd"
    INTEL = "intel"


class CPUException(IntEnum):
    """x86 exception vectors (AMD APM Vol.2 §8.2), as the paper spells them."""

    divide_error = 0
    debug = 1
    nmi = 2
    breakpoint = 3
    overflow = 4
    bound_range = 5
    invalid_opcode = 6
    device_not_available = 7
    double_fault = 8
    coprocessor_segment_overrun = 9
    invalid_tss = 10
    segment_not_present = 11
    stack_segment_fault = 12
    general_protection = 13
    page_fault = 14
    x87_fpu = 16
    alignment_check = 17
    machine_check = 18
    simd = 19
    virtualization = 20
    control_protection = 21


class CPUMode(Enum):
    """The VM's execution mode as qRfx.Status names it."""

    REAL = "real"
    V86 = "v86"
    PROT16 = "prot16"
    PROT32 = "prot32"
    COMPAT16 = "compat16"
    COMPAT32 = "compat32"
    LONG = "long"

    @property
    def bits(self) -> int:
        """Code size: 16, 32 or 64 (the Capstone mode for disassembly)."""
        if self is CPUMode.LONG:
            return 64
        if self in (CPUMode.PROT32, CPUMode.COMPAT32):
            return 32
        return 16


class StopReason(Enum):
    """Why the VM gave control to the client (see rsp.StopKind for the wire form)."""

    INTERRUPT = "interrupt"  # vm.stop() / Ctrl-C
    BREAKPOINT = "breakpoint"  # int3 (add_insn)
    HW_BREAKPOINT = "hw_breakpoint"  # DR0-3 instruction breakpoint (add_hw_insn)
    WATCHPOINT = "watchpoint"  # DR0-3 data breakpoint (add_data_*)
    SINGLESTEP = "singlestep"
    EVENT = "event"  # a filtered exit: see EventKind
    ATTACH = "attach"  # the stop the session started with


class EventKind(Enum):
    """The KIND of a `T05rfx:KIND,...` stop reply (docs/protocol.md)."""

    CR_WRITE = "cr_write"
    CR_READ = "cr_read"
    EXCEPTION = "excp"
    CPUID = "cpuid"
    MSR = "msr"
    IO = "io"
    INTN = "intn"
    NPF = "npf"
    RESET = "reset"
