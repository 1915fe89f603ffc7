"""Code size and the linear pc from register values (what `ramooflax gdb`'s
relay and extension use), over the modes the boot path goes through."""

import pytest

from ramooflax import x86mode

CR0_PE = 1
EFER_LMA = 1 << 10
EFLAGS_VM = 1 << 17


@pytest.mark.parametrize(
    ("cr0", "efer", "eflags", "cs_attr", "bits", "mode"),
    [
        (0x10, 0, 0x2, 0x9B, 16, "real"),  # the VM's first instruction (qRfx.SysRegs at 0000:0600)
        (0x11, 0, 0x2, 0x09B, 16, "prot16"),  # PE set, CS not reloaded yet
        (0x11, 0, 0x2, 0xC9B, 32, "prot32"),  # GRUB's flat code segment (D, G)
        (0x11, 0, EFLAGS_VM | 2, 0xF3, 16, "v86"),
        (0x80000011, EFER_LMA | 0x100, 0x2, 0xC9B, 32, "compat32"),
        (0x80000011, EFER_LMA | 0x100, 0x2, 0xA9B, 64, "long"),  # L, G
        (0x80000011, 0x100, 0x2, 0xA9B, 16, "prot16"),  # L without LMA is not 64-bit code
    ],
)
def test_modes(cr0: int, efer: int, eflags: int, cs_attr: int, bits: int, mode: str) -> None:
    assert x86mode.code_bits(cr0, efer, eflags, cs_attr) == bits
    assert x86mode.mode_name(cr0, efer, eflags, cs_attr) == mode


@pytest.mark.parametrize(
    ("ip", "base", "bits", "linear"),
    [
        (0xE05B, 0xF0000, 16, 0xFE05B),  # the BIOS's F000:E05B
        (0x7C00, 0, 16, 0x7C00),
        (0x10, 0xFFFFFFF0, 32, 0),  # wraps at 4 GiB
        (0xFFFFFFFF81000000, 0x1234, 64, 0xFFFFFFFF81000000),  # 64-bit code ignores CS.base
    ],
)
def test_linear_pc_and_back(ip: int, base: int, bits: int, linear: int) -> None:
    assert x86mode.linear_pc(ip, base, bits) == linear
    assert x86mode.ip_of(linear, base, bits) == ip
