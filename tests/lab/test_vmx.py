"""The VT-x backend (docs/vmx.md) under Bochs 2.7's corei7_skylake_x (EPT,
unrestricted guest): the conformance test kernel natively and under the
hypervisor, which boots from a USB key (GRUB multiboot) and then the kernel's
disk as BIOS drive 0x81, all in VMX non-root operation.

* real mode and INT 15h through the BIOS (E820 without the VMM's range,
  through the IVT-limit trap);
* CPUID and MSR hiding (CPUID.1:ECX.VMX, IA32_FEATURE_CONTROL locked off,
  IA32_VMX_BASIC #GP);
* the VMX instructions #UD, in real, 16-bit, 32-bit and long mode.

Two kernel boots of about 30 s each; the Linux boot stays in test_bochs.py.
"""

import tempfile
import time
from pathlib import Path

import pytest

from ramooflax.lab import conformance

pytestmark = [pytest.mark.lab, pytest.mark.bochs]

CPU = "corei7_skylake_x"
# The groups whose native results do not depend on CR0.CD/NW, which the
# Bochs BIOS leaves set and the hv's boot stub clears (docs/boot-stub.md).
GROUPS = (
    "real.int",
    "real.vmx",
    "pm16.vmx",
    "pm32.vmx",
    "long.vmx",
    "pm32.cpuid",
    "pm32.io",
    "pm32.a20",
)


@pytest.fixture(scope="module")
def logs(bochs_ok: None) -> Path:
    return Path(tempfile.mkdtemp(prefix="ramooflax-vmx-"))


def test_test_kernel_under_vmx(logs: Path) -> None:
    started = time.monotonic()
    runs = {
        hv: conformance.run(CPU, hv, logs, GROUPS, group_timeout=20, emulator="bochs")
        for hv in (False, True)
    }
    took = time.monotonic() - started
    pair = conformance.Pair(CPU, runs[False], runs[True])
    verdicts = conformance.compare(pair)
    groups = {".".join(v.check.split(".")[:2]) for v in verdicts}
    assert groups == set(GROUPS), conformance.explain(verdicts)
    failed = [v for v in verdicts if v.failed]
    assert not failed, conformance.explain(failed)
    policy = {v.check for v in verdicts if v.status == "policy"}
    assert "real.int.e820" in policy  # INT 15h answered through the IVT-limit trap
    assert {"real.vmx.cpuid_1", "long.vmx.feature_control", "pm32.vmx.vmx_basic"} <= policy
    ud = [v for v in verdicts if v.check.endswith(".vmx.vmcall")]
    assert ud and all(runs[True].checks()[v.check] == "#UD@insn" for v in ud)
    assert "backend vmx" in runs[True].hv_log
    assert took < 180, f"the two test-kernel boots took {took:.0f} s under Bochs"
