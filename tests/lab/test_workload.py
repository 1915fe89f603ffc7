"""A workload gives the same output with and without the hypervisor."""

import pytest

from ramooflax.lab.machine import Machine

pytestmark = pytest.mark.lab

WORKLOADS = [
    # a few MB through a pipe
    "seq 1 200000 | md5sum",
    # MINSTD generator (products stay below 2^53, so awk's doubles are exact)
    (
        "awk 'BEGIN { x = 1; for (i = 0; i < 60000; i++) { x = (x * 48271) % 2147483647;"
        " print x } }' | md5sum"
    ),
    # fork/exec loop
    "i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done; echo $i",
]


@pytest.mark.parametrize("cmd", WORKLOADS)
def test_same_output_with_and_without_hv(cmd: str, hv_amd64: Machine, nohv_amd64: Machine) -> None:
    bare = nohv_amd64.run(cmd, timeout=300)
    assert bare.status == 0 and bare.output.strip(), bare
    assert hv_amd64.run(cmd, timeout=300) == bare
