"""The code size and the linear program counter, from register values alone.

The stub reports `rip` as the VM's instruction pointer (IP/EIP outside long
mode, upper halves zero) in one i386:x86-64 layout; breakpoints and memory
packets take linear addresses. These pure functions relate the two, for the
gdb front end (ramooflax.gdb) and the model.

Segment attributes are the VMCB's packed 12-bit form (AMD APM Vol.2
Appendix B, Table B-2, the state save area's segment `attrib`: bits 0-7 are
descriptor bits 40-47, bits 8-11 descriptor bits 52-55): bit 9 is L (64-bit
code), bit 10 is D/B (32-bit code).

    bits = code_bits(cr0=0x10, efer=0, eflags=0x2, cs_attr=0x9b)   # 16
    linear_pc(0xe05b, 0xf0000, bits)                                 # 0xfe05b
"""

CR0_PE = 1 << 0
EFLAGS_VM = 1 << 17
EFER_LMA = 1 << 10
ATTR_L = 1 << 9
ATTR_DB = 1 << 10


def code_bits(cr0: int, efer: int, eflags: int, cs_attr: int) -> int:
    """16, 32 or 64: the size of the code at CS (real and virtual-8086 mode are 16)."""
    if not cr0 & CR0_PE or eflags & EFLAGS_VM:
        return 16
    if efer & EFER_LMA and cs_attr & ATTR_L:
        return 64
    return 32 if cs_attr & ATTR_DB else 16


def mode_name(cr0: int, efer: int, eflags: int, cs_attr: int) -> str:
    """The mode as qRfx.Status names it: real, v86, prot16, prot32, compat16/32, long."""
    if not cr0 & CR0_PE:
        return "real"
    if eflags & EFLAGS_VM:
        return "v86"
    bits = code_bits(cr0, efer, eflags, cs_attr)
    if bits == 64:
        return "long"
    return f"{'compat' if efer & EFER_LMA else 'prot'}{bits}"


def linear_pc(ip: int, cs_base: int, bits: int) -> int:
    """The linear address of CS:IP (64-bit code ignores CS.base)."""
    if bits == 64:
        return ip
    return (cs_base + (ip & 0xFFFFFFFF)) & 0xFFFFFFFF


def ip_of(linear: int, cs_base: int, bits: int) -> int:
    """The instruction pointer that puts CS:IP at `linear` (linear_pc's inverse)."""
    if bits == 64:
        return linear
    return (linear - cs_base) & (0xFFFF if bits == 16 else 0xFFFFFFFF)
