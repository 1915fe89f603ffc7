"""Guest actions the hypervisor must contain: writes to its memory, machine resets.

These run after the other tests (marker `disturbs`) because they poke the
shared machine. The NPF filter test takes `hv_ctrl`: it runs on both control
channels (-k uart / -k net); the other two do not use the control channel.
"""

import re

import pytest

from ramooflax import VM, CPUFamily, EventKind, StopReason
from ramooflax.lab import facts
from ramooflax.lab.machine import Machine

pytestmark = [pytest.mark.lab, pytest.mark.disturbs]


def new_log(machine: Machine, since: int) -> str:
    return machine.log_text()[since:]


def test_write_to_vmm_range_is_contained(hv_amd64: Machine) -> None:
    hidden = facts.vmm_range(hv_amd64.log_text() + hv_amd64.hv_summary())
    addr = hidden.start + 0x1000
    mark = len(hv_amd64.log_text())
    hv_amd64.run(f"devmem 0x{addr:x} 32 0xdeadbeef")
    assert hv_amd64.run("echo ok").output == "ok\n"
    readback = hv_amd64.run(f"devmem 0x{addr:x} 32").output.strip().lower()
    assert readback != "0xdeadbeef", "the write landed in the VMM's memory"
    npf = [
        line
        for line in new_log(hv_amd64, mark).splitlines()
        if re.search("npf", line, re.IGNORECASE)
    ]
    seen = {int(h, 16) for line in npf for h in re.findall(r"0x([0-9a-fA-F]+)", line)}
    assert addr in seen, f"no NPF log line for 0x{addr:x}: {npf}"
    facts.exit_counts(hv_amd64.hv_summary())  # the hv still answers


def test_keyboard_controller_reset_is_blocked(hv_amd64: Machine) -> None:
    mark = len(hv_amd64.log_text())
    console_mark = hv_amd64.console.offset() if hv_amd64.console else 0
    hv_amd64.run("printf '\\376' | dd of=/dev/port bs=1 seek=100 count=1 2>/dev/null")
    assert hv_amd64.run("echo still here").output == "still here\n"
    assert hv_amd64.alive()
    console = hv_amd64.console_text()[console_mark:]
    assert "SeaBIOS" not in console and "RAMOOFLAX-GUEST-READY" not in console
    assert re.search("reset", new_log(hv_amd64, mark), re.IGNORECASE), (
        "no reset-attempt line in the hv log"
    )


def test_npf_filter_reports_the_access(hv_ctrl: Machine) -> None:
    """filter_npf: a guest write into the VMM's range stops the VM with the
    guest-physical address and the direction; the write is still dropped."""
    hidden = facts.vmm_range(hv_ctrl.log_text() + hv_ctrl.hv_summary())
    addr = hidden.start + 0x2000
    vm = VM(CPUFamily.AMD, f"127.0.0.1:{hv_ctrl.free_ctrl_port()}").attach()
    try:
        vm.cpu.filter_npf()
        job = hv_ctrl.run_background(f"devmem 0x{addr:x} 32 0x5a5a5a5a; echo done")
        assert vm.resume(timeout=120), "no NPF stop"
        assert vm.event is not None and vm.event.reason is StopReason.EVENT, vm.event
        assert vm.event.kind is EventKind.NPF, vm.event
        assert vm.event.gpa == addr and vm.event.dir == "w", vm.event
        assert vm.status().cpl == 3  # devmem's own store, through its /dev/mem mapping
        vm.cpu.release_npf()
    finally:
        vm.detach()
    assert job.result().output.endswith("done\n")
    assert hv_ctrl.run(f"devmem 0x{addr:x} 32").output.strip().lower() != "0x5a5a5a5a"
