"""Ramooflax: remote client and QEMU lab for the Ramooflax hypervisor."""

from ramooflax.errors import RamooflaxError

__version__ = "0.1.0"
__all__ = ["RamooflaxError", "__version__"]
