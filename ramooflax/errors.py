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
