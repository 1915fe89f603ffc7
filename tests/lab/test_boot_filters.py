"""Filters on the exits of a boot, from the VMM's first instruction on: the
client attaches to a fresh machine that waits at 0000:0600 (ctrl_wait=1) and
follows the boot chain (boot stub, GRUB, Linux's early code) through
filter_intn, filter_read_cr, filter_msr and filter_cpuid. Each stop is checked
against the VM's own state (its IVT, the instruction just executed, the
registers the emulation wrote). The boot-trace plugin, which uses them all, is
checked through its picture (test_boot_timeline.py).
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ramooflax import VM, CPUFamily, CPUMode, EventKind, StopReason
from ramooflax.lab.machine import Machine, MachineSpec

pytestmark = pytest.mark.lab

MSR_EFER = 0xC0000080


@pytest.fixture
def waiting_vm(tmp_path: Path, qemu_ok: None) -> Iterator[VM]:
    """A new machine whose VM waits for us at its first instruction; stopped after."""
    log = tmp_path / "hv.log"
    spec = MachineSpec(
        guest="amd64", with_hv=True, build=True, hv_options="ctrl_wait=1 ctrl_timeout=5", log=log
    )
    machine = Machine(spec)
    machine.start()
    try:
        deadline = time.monotonic() + 120
        while "ctrl_wait: the VM waits" not in machine.log_text():
            assert machine.alive() and time.monotonic() < deadline, machine.log_text()[-2000:]
            time.sleep(0.1)
        vm = VM(CPUFamily.AMD, f"127.0.0.1:{machine.free_ctrl_port()}").attach()
        yield vm
        if vm.attached:
            vm.detach()
    finally:
        machine.stop()


def linear_pc(vm: VM) -> int:
    return (vm.cpu.sr.cs_base + vm.cpu.gpr.rip) & 0xFFFFFFFF


def previous_bytes(vm: VM, n: int) -> bytes:
    """The n bytes before the current instruction (what the VM just executed)."""
    return vm.mem.pread(linear_pc(vm) - n, n)  # paging is off in all these stops


def expect(vm: VM, kind: EventKind, timeout: float = 120) -> None:
    assert vm.resume(timeout=timeout), f"no {kind.value} stop within {timeout} s"
    assert vm.event is not None and vm.event.reason is StopReason.EVENT, vm.event
    assert vm.event.kind is kind, vm.event


def test_boot_chain_filters(waiting_vm: VM) -> None:
    vm = waiting_vm
    assert vm.event is not None and vm.event.reason is StopReason.ATTACH
    assert vm.cpu.mode is CPUMode.REAL and linear_pc(vm) == 0x600

    # The boot stub reads the MBR with int 13h: the stop is in the BIOS's
    # handler, where the VM's interrupt vector table points.
    vm.cpu.filter_intn(0x13)
    expect(vm, EventKind.INTN)
    assert vm.event.vec == 0x13 and vm.event.at == 0x616  # the boot stub's first int 13h
    assert vm.event.ax >> 8 == 0  # AH=00h: reset the drive
    offset, segment = vm.mem.read_word(0x13 * 4), vm.mem.read_word(0x13 * 4 + 2)
    assert (vm.cpu.gpr.cs, vm.cpu.gpr.rip) == (segment, offset), "not at the IVT's int 13h"
    vm.cpu.release_intn(0x13)

    # GRUB enters protected mode: mov eax, cr0 (0f 20 c0), emulated by the VMM.
    vm.cpu.filter_read_cr(0)
    expect(vm, EventKind.CR_READ)
    assert vm.event.cr == 0
    assert previous_bytes(vm, 3) == b"\x0f\x20\xc0", previous_bytes(vm, 3).hex()
    cr0 = vm.cpu.sr.cr0
    assert vm.cpu.gpr.rax & 0xFFFFFFFF == cr0 & 0xFFFFFFFF and not cr0 & 1
    vm.cpu.release_read_cr(0)

    # Linux's 32-bit entry turns long mode on: rdmsr EFER (0f 32).
    vm.cpu.filter_msr(MSR_EFER)
    expect(vm, EventKind.MSR)
    assert vm.event.msr == MSR_EFER and vm.event.dir == "r", vm.event
    assert previous_bytes(vm, 2) == b"\x0f\x32"
    assert vm.cpu.gpr.rax & 0x1000 == 0, "the VM's rdmsr EFER shows SVME"
    vm.cpu.release_msr(MSR_EFER)

    # And CPUID, any leaf: the stop names the leaf the VM asked for.
    vm.cpu.filter_cpuid(None)
    expect(vm, EventKind.CPUID)
    assert previous_bytes(vm, 2) == b"\x0f\xa2"
    leaf = int(vm.event.leaf)
    vm.cpu.release_cpuid(None)
    # A filter on that one leaf only: the next stop is that leaf again.
    vm.cpu.filter_cpuid(leaf)
    expect(vm, EventKind.CPUID)
    assert vm.event.leaf == leaf
    vm.cpu.release_cpuid(leaf)
