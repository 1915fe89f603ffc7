"""The VMM counts exits and answers `monitor exits` on the control channel."""

import time

import pytest

from ramooflax.lab import facts
from ramooflax.lab.machine import Machine

pytestmark = pytest.mark.lab


# Exits the VMM always takes (CR3 writes exit only while a client asks).
@pytest.mark.parametrize("exit_name", ["cr4_write", "cpuid"])
def test_exit_counted(exit_name: str, hv_amd64: Machine) -> None:
    _, counts = facts.exit_counts(hv_amd64.hv_summary())
    assert counts.get(exit_name, 0) > 0, counts


def test_counts_and_log_grow(hv_amd64: Machine) -> None:
    before, _ = facts.exit_counts(hv_amd64.hv_summary())
    log_before = len(hv_amd64.log_text())
    assert hv_amd64.run("i=0; while [ $i -lt 50 ]; do /bin/true; i=$((i+1)); done").status == 0
    after, _ = facts.exit_counts(hv_amd64.hv_summary())
    assert after > before
    assert log_before > 0 and len(hv_amd64.log_text()) >= log_before


def test_summary_has_vmm_range(hv_amd64: Machine) -> None:
    summary = hv_amd64.hv_summary()
    assert facts.vmm_range(summary) == facts.vmm_range(hv_amd64.log_text())


def test_cpu_states_show_the_all_stop(hv_amd64: Machine) -> None:
    """The lab's hang diagnostic (cpustate.py) reads QEMU's monitor: while a
    client holds the VM stopped, every core waits in the VMM; once it
    detaches, the guest runs again on them."""
    from ramooflax import VM, CPUFamily
    from ramooflax.lab import cpustate

    assert hv_amd64.qemu_monitor is not None and hv_amd64.config is not None
    vmm_elf = hv_amd64.config.hv[2] if hv_amd64.config.hv else None

    def states() -> list[str]:
        return cpustate.cpu_states(hv_amd64.qemu_monitor, hv_amd64.log_text(), vmm_elf).splitlines()

    with VM(CPUFamily.AMD, f"127.0.0.1:{hv_amd64.free_ctrl_port()}"):
        stopped = states()
    assert len(stopped) == hv_amd64.spec.smp, stopped
    assert all("in the VMM at " in line for line in stopped), stopped
    deadline = time.monotonic() + 30
    while not any("in the VM" in s and "VMM" not in s for s in states()):
        assert time.monotonic() < deadline, states()
        time.sleep(0.2)
