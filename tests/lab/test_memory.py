"""The VMM's memory is absent from the guest's E820 map."""

import pytest

from ramooflax.lab import facts
from ramooflax.lab.machine import Machine

pytestmark = pytest.mark.lab


def boot_e820(machine: Machine) -> list[facts.Range]:
    result = machine.run("dmesg | grep BIOS-e820")
    ranges = facts.e820(result.output)
    assert ranges, f"no BIOS-e820 lines in dmesg:\n{result.output}"
    return ranges


def vmm(machine: Machine) -> facts.Range:
    return facts.vmm_range(machine.log_text() + machine.hv_summary())


@pytest.mark.parametrize("name", ["hv_amd64", "hv_i386"])
def test_no_usable_range_overlaps_vmm(name: str, request: pytest.FixtureRequest) -> None:
    machine: Machine = request.getfixturevalue(name)
    hidden = vmm(machine)
    assert hidden.size > 0
    clash = [str(r) for r in facts.usable(boot_e820(machine)) if r.overlaps(hidden)]
    assert clash == [], f"usable E820 ranges overlap the VMM range {hidden}"


def test_usable_ram_shrinks_by_vmm_size(hv_amd64: Machine, nohv_amd64: Machine) -> None:
    with_hv = sum(r.size for r in facts.usable(boot_e820(hv_amd64)))
    without = sum(r.size for r in facts.usable(boot_e820(nohv_amd64)))
    assert without - with_hv == vmm(hv_amd64).size
