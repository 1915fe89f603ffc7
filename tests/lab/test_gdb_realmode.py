"""`ramooflax gdb`: stock gdb from the VM's first instruction (ctrl_wait=1,
real mode at 0000:0600) through the boot stub, the BIOS, the MBR at 0x7c00,
GRUB's switch to protected mode and the kernel's entry into long mode, in one
session. docs/gdb.md is the user's side of it.

The disassembly gdb prints is checked against Capstone decoding the bytes gdb
reads at the same addresses, in the mode the VM is in.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import capstone  # type: ignore[import-untyped]
import pytest
from conftest import Pool, wait_for_ctrl_wait

from ramooflax.lab.machine import Machine

pytestmark = [pytest.mark.lab, pytest.mark.skipif(shutil.which("gdb") is None, reason="no gdb")]

# Debian's amd64 kernel is relocatable with a preferred address of 16 MiB
# (CONFIG_PHYSICAL_START), where GRUB's `linux` loads its protected-mode
# part; the decompressor's startup_64 is at offset 0x200 of it
# (arch/x86/boot/compressed/head_64.S), the first instruction in long mode.
STARTUP_64 = 0x1000000 + 0x200

SCRIPT = f"""\
set pagination off
set confirm off
printf "== stub\\n"
x/12i $pc
x/24xb $pc
rfx regs
stepi
stepi
stepi
printf "== bios\\n"
awatch *(char*)0x474
continue
printf "IP=%#lx CSBASE=%#lx PC=%#lx\\n", $ip, $cs_base, $pc
x/2i $pc
x/8xb $pc
stepi
printf "STEP=%#lx\\n", $pc
rfx regs
delete
printf "== mbr\\n"
hbreak *0x7c00
continue
printf "CR0=%#lx\\n", $cr0
x/2xb 0x7dfe
delete
printf "== grub\\n"
hbreak *0x8200
continue
x/1i $pc
x/8xb $pc
set $far = *(unsigned short*)($pc + 1)
delete
break *$far
continue
delete
set $n = 0
while ($cs_attr & 0x400) == 0 && $n < 1000
  stepi
  set $n = $n + 1
end
printf "== prot32 after %d steps\\n", $n
x/4i $pc
x/16xb $pc
rfx regs
hbreak *{STARTUP_64:#x}
continue
printf "== long\\n"
x/3i $pc
delete
detach
"""


def listing(text: str) -> list[tuple[int, str]]:
    """(address, instruction) of each `x/i` line, in gdb's spacing."""
    out = []
    for m in re.finditer(r"^(?:=> )?\s*0x([0-9a-f]+):\t(.+)$", text, re.MULTILINE):
        if not re.match(r"0x[0-9a-f]{2}(\t|$)", m.group(2)):  # not an x/xb line
            out.append((int(m.group(1), 16), m.group(2).strip()))
    return out


def dumped(text: str) -> bytes:
    """The bytes of the `x/Nxb` lines in text."""
    data = bytearray()
    for line in re.findall(r"^0x[0-9a-f]+:((?:\s+0x[0-9a-f]{2})+)\s*$", text, re.MULTILINE):
        data += bytes(int(b, 16) for b in line.split())
    return bytes(data)


def capstone_says(code: bytes, address: int, bits: int) -> list[tuple[int, str]]:
    mode = {16: capstone.CS_MODE_16, 32: capstone.CS_MODE_32}[bits]
    md = capstone.Cs(capstone.CS_ARCH_X86, mode)
    md.syntax = capstone.CS_OPT_SYNTAX_ATT
    out = []
    for insn in md.disasm(code, address):
        out.append((insn.address, f"{insn.mnemonic:<6} {insn.op_str.replace(', ', ',')}".rstrip()))
    return out


def section(out: str, name: str) -> str:
    match = re.search(rf"^== {name}.*?$(.*?)(?=^== |\Z)", out, re.MULTILINE | re.DOTALL)
    assert match, f"no `== {name}` part in gdb's output:\n{out}"
    return match.group(1)


def agrees(part: str, bits: int) -> list[tuple[int, str]]:
    """gdb's listing in part is Capstone's decoding of the bytes it dumped."""
    shown = listing(part)
    assert shown, part
    # Capstone decodes what lies wholly in the bytes dumped: those must agree.
    expected = dict(capstone_says(dumped(part), shown[0][0], bits))
    checked = [(a, text) for a, text in shown if a in expected]
    assert checked and checked[0] == shown[0], (shown, expected)
    assert all(expected[a] == text for a, text in checked), (shown, expected)
    return shown


def test_ramooflax_gdb_from_real_mode_to_long_mode(
    hv_amd64_waiting: Machine, lab_pool: Pool, tmp_path: Path
) -> None:
    machine = hv_amd64_waiting
    if "hv_amd64_wait" in lab_pool.ready:
        pytest.skip("the ctrl_wait machine was already released by another test")
    port = wait_for_ctrl_wait(machine)
    script = tmp_path / "boot.gdb"
    script.write_text(SCRIPT)
    argv = [sys.executable, "-m", "ramooflax", "gdb", f"127.0.0.1:{port}"]
    done = subprocess.run(
        [*argv, "-nx", "-batch", "-x", str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = done.stdout + done.stderr
    print(out)
    assert "Traceback" not in out and "Python Exception" not in out

    # 0000:0600, the boot stub: 16-bit code (as 64-bit code `mov $0x7c00,%sp`
    # would swallow the `sti` that follows it).
    stub = section(out, "stub")
    shown = agrees(stub, 16)
    assert (0x609, "movw   $0x7c00,%sp") in shown and (0x616, "int    $0x13") in shown
    assert "cs:ip  0000:0600 = 0x600" in stub
    for pc in (0x601, 0x603, 0x605):  # stepi, with the real-mode line at each stop
        assert f"[rfx] real 0000:{pc:04x} = {pc:#x}" in stub

    # The BIOS's int 13h handler, stopped by a watchpoint on the BDA's disk
    # status: CS = F000, so $pc (linear) is not IP.
    bios = section(out, "bios")
    m = re.search(r"IP=(0x[0-9a-f]+) CSBASE=(0x[0-9a-f]+) PC=(0x[0-9a-f]+)", bios)
    assert m, bios
    ip, base, pc = (int(x, 16) for x in m.groups())
    assert base == 0xF0000 and pc == base + ip
    assert re.search(rf"^{pc:#018x} in \?\? \(\)$", bios, re.MULTILINE), "gdb's stop line"
    assert f"[rfx] real f000:{ip:04x} = {pc:#x}" in bios
    first = agrees(bios, 16)[0]
    assert first[0] == pc
    size = next(
        capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_16).disasm(dumped(bios), pc)
    ).size
    step = int(re.search(r"STEP=(0x[0-9a-f]+)", bios).group(1), 16)  # type: ignore[union-attr]
    branches = first[1].startswith(("j", "call", "ret", "loop", "int", "iret", "lcall", "ljmp"))
    assert step == pc + size or branches, (hex(step), first)
    assert f"cs:ip  f000:{step - base:04x} = {step:#x}" in bios

    # The MBR at 0000:7c00, by a hardware breakpoint at that linear address.
    mbr = section(out, "mbr")
    assert re.search(r"Breakpoint \d+, 0x0000000000007c00 in", mbr), mbr
    assert int(re.search(r"CR0=(0x[0-9a-f]+)", mbr).group(1), 16) & 1 == 0  # type: ignore[union-attr]
    assert re.search(r"0x7dfe:\s+0x55\s+0xaa", mbr), mbr

    # GRUB's core at 0000:8200 starts with a far jump (invalid as 64-bit
    # code); a software breakpoint at its target; then steps to the switch.
    grub = section(out, "grub")
    (addr, ljmp), *_ = agrees(grub, 16)
    assert addr == 0x8200 and ljmp.startswith("ljmp")
    far = int.from_bytes(dumped(grub)[1:3], "little")
    assert re.search(rf"Breakpoint \d+, {far:#018x} in", grub), grub
    prot = section(out, "prot32")
    steps = int(re.search(r"prot32 after (\d+) steps", out).group(1))  # type: ignore[union-attr]
    assert 0 < steps < 1000, "no switch to 32-bit code"
    assert re.search(r"\[rfx\] prot32 0008:[0-9a-f]{8} = 0x", grub), grub
    agrees(prot, 32)
    assert "prot32 mode, 32-bit code" in prot and "cs:eip  0008:" in prot

    # Long mode: the kernel's startup_64, in gdb's own 64-bit disassembly.
    long = section(out, "long")
    assert "[rfx] long mode (64-bit code)" in out
    assert re.search(rf"Breakpoint \d+, {STARTUP_64:#018x} in", out), out
    assert listing(long)[0] == (STARTUP_64, "cld")

    # gdb detached: the VM boots on to its shell.
    assert "detached" in out
    assert lab_pool.get("hv_amd64_wait") is machine
    assert "client detached (detach packet)" in machine.log_text()


def test_stepi_over_a_real_mode_int(qemu_ok: None, tmp_path: Path) -> None:
    """0000:0616 is the boot stub's first `int $0x13`; one stepi ends at the
    next instruction (0x618) or in the handler, never after 0x618."""
    from ramooflax.lab.machine import MachineSpec

    spec = MachineSpec(
        guest="amd64", build=True, hv_options="ctrl_wait=1 ctrl_timeout=3", log=tmp_path / "hv.log"
    )
    with Machine(spec) as machine:
        port = wait_for_ctrl_wait(machine)
        argv = [sys.executable, "-m", "ramooflax", "gdb", f"127.0.0.1:{port}", "-nx", "-batch"]
        steps = ["-ex", "hbreak *0x616", "-ex", "continue", "-ex", "delete", "-ex", "stepi"]
        steps += ["-ex", 'printf "STEP=%#lx\\n", $pc', "-ex", "detach"]
        done = subprocess.run(
            [*argv, *steps], capture_output=True, text=True, timeout=120, check=False
        )
    step = re.search(r"STEP=(0x[0-9a-f]+)", done.stdout)
    assert step, done.stdout + done.stderr
    assert int(step.group(1), 16) == 0x618 or int(step.group(1), 16) >= 0xF0000, step.group(1)
