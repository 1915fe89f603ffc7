"""The guests reach their shell, under the hypervisor and without it."""

import pytest

from ramooflax.lab.machine import Machine

pytestmark = pytest.mark.lab

UNAME = {"hv_amd64": "x86_64", "hv_i386": "i686", "nohv_amd64": "x86_64"}


@pytest.mark.parametrize("name, machine_name", sorted(UNAME.items()))
def test_uname(name: str, machine_name: str, request: pytest.FixtureRequest) -> None:
    machine: Machine = request.getfixturevalue(name)
    result = machine.run("uname -m")
    assert (result.status, result.output.strip()) == (0, machine_name)


@pytest.mark.parametrize("name", ["hv_amd64", "hv_i386"])
def test_echo_round_trip(name: str, request: pytest.FixtureRequest) -> None:
    machine: Machine = request.getfixturevalue(name)
    text = "round trip 1234 $HOME"
    result = machine.run(f"echo '{text}'; exit 5")
    assert (result.status, result.output) == (5, text + "\n")
