"""The VMM counts exits and answers `monitor exits` on the control channel."""

import pytest

from ramooflax.lab import facts
from ramooflax.lab.machine import Machine

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("exit_name", ["cr3_write", "cpuid"])
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
