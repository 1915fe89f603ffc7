"""The hypervisor hides SVM from the guest's CPUID."""

import pytest

from ramooflax.lab.machine import Machine

pytestmark = pytest.mark.lab


def svm_cpus(machine: Machine) -> int:
    return int(machine.run("grep -c -w svm /proc/cpuinfo").output.strip())


@pytest.mark.parametrize("name", ["hv_amd64", "hv_i386"])
def test_svm_hidden_under_hv(name: str, request: pytest.FixtureRequest) -> None:
    assert svm_cpus(request.getfixturevalue(name)) == 0


def test_svm_visible_without_hv(nohv_amd64: Machine) -> None:
    assert svm_cpus(nohv_amd64) >= 1
