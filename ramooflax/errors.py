"""Exceptions. Each message says what went wrong and what to do about it."""


class RamooflaxError(Exception):
    """Base class: the CLI prints these as `ramooflax: error: <message>`."""


class LabError(RamooflaxError):
    """The lab (QEMU, guest images, hypervisor build) cannot do what was asked."""


class ToolError(LabError):
    """An external host tool failed or is missing."""


class GuestTimeout(LabError):
    """The guest did not answer in time."""


class ProtocolError(RamooflaxError):
    """A malformed or unexpected GDB remote protocol exchange."""


class ClientError(RamooflaxError):
    """The remote client (VM, CPU, memory) cannot do what was asked."""


class ChannelLost(ClientError):
    """The control channel closed or went silent."""


class ChannelTimeout(ChannelLost):
    """No reply in time on the control channel."""


class WrongFamily(ClientError):
    """The VMM runs the other vendor's backend than the VM's CPUFamily."""


class NotAttached(ClientError):
    """A method needs a session: call vm.attach() first."""

    def __init__(self, what: str = "this") -> None:
        super().__init__(f"{what} needs an attached VM: call vm.attach() first")


class VMRunning(ClientError):
    """A method needs the VM stopped."""

    def __init__(self, what: str = "this") -> None:
        super().__init__(f"{what} needs the VM stopped: call vm.stop() first")


class NotRunning(ClientError):
    """A method needs the VM running (wait() on a stopped VM)."""

    def __init__(self, what: str = "this") -> None:
        super().__init__(
            f"{what} needs the VM running: call vm.cont() first (vm.resume() runs it and waits)"
        )


class StepTimeout(ClientError):
    """A single step did not end in time; the VM was stopped where it was."""

    def __init__(self, seconds: float, rip: int) -> None:
        self.rip = rip
        super().__init__(
            f"the step did not end within {seconds:g} s (the instruction may have faulted "
            f"into a handler that waits on another vCPU); the VM is stopped at "
            f"rip {rip:#x}: look at vm.cpu, then step or resume again"
        )


class StubError(ClientError):
    """The stub answered a request with an error (`Exx` or `E.text`)."""

    def __init__(self, request: str, reply: str) -> None:
        self.request = request
        self.reply = reply
        super().__init__(f"the VMM refused `{request}`: {reply}")


class AddressNotMapped(ClientError):
    """A virtual address has no translation through the cr3 used (E14)."""

    def __init__(self, addr: int, cr3: int | None = None, physical: bool = False) -> None:
        self.addr = addr
        self.cr3 = cr3
        if physical:
            msg = (
                f"physical address 0x{addr:x} is not guest memory "
                "(outside RAM or in the range the VMM hides)"
            )
        elif cr3 is None:
            msg = f"virtual address 0x{addr:x} is not mapped by the VM's current cr3"
        else:
            msg = (
                f"virtual address 0x{addr:x} is not mapped through cr3 0x{cr3:x} "
                "(a page not present, or another address space: see vm.cpu.set_active_cr3)"
            )
        super().__init__(msg)
