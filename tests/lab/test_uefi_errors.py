"""ramooflax.efi on a CPU it cannot use: a clear message on the firmware's
console, and the installed OS boots without the hypervisor (docs/uefi.md).
The machine's CPU has SVM but no nested paging."""

import tempfile
from pathlib import Path

import pytest

from ramooflax.lab.machine import Machine, MachineSpec

pytestmark = pytest.mark.lab


def test_no_npt_boots_the_os_without_the_hv(qemu_ok: None) -> None:
    logs = Path(tempfile.mkdtemp(prefix="ramooflax-uefi-nonpt-"))
    spec = MachineSpec(
        guest="amd64",
        with_hv=True,
        firmware="uefi",
        build=True,
        cpu_minus="npt",
        log=logs / "hv-uefi-nonpt.log",
    )
    with Machine(spec) as m:
        m.wait_ready(400)
        console = m.console_text()
        assert "ramooflax: error: CPU has no nested paging" in console, console[-2000:]
        assert "the firmware boots on without the hypervisor" in console
        # The boot manager went on to the guest disk, natively: no VMM ran.
        after = console.split("without the hypervisor", 1)[1]
        assert "Welcome to GRUB" in after
        assert "vmm:" not in m.log_text()
        assert int(m.run("grep -c -w svm /proc/cpuinfo").output.strip()) > 0
