"""The lab under Bochs 2.7 (docs/lab.md), on the AMD model trinity_apu until
the VT-x backend lands: the hypervisor boots from a USB key (GRUB multiboot),
then the guest disk as BIOS drive 0x81.

* The conformance test kernel (tests/guest) under the hypervisor: its report
  comes out on COM1 within seconds.
* The amd64 Linux guest reaches its shell under the hypervisor, a command
  runs, and the Python client attaches over the control port (COM2 through
  the lab's relay). This is the module's one Linux boot (3 to 4 minutes).

These tests run after every other test (marker `bochs`): one emulator at a
time on the 2 cores.
"""

import re
import tempfile
import time
from pathlib import Path

import pytest

from ramooflax import VM, CPUFamily, CPUMode, StopReason
from ramooflax.lab import conformance, testkernel
from ramooflax.lab.machine import Machine, MachineSpec

pytestmark = [pytest.mark.lab, pytest.mark.bochs]

CPU = "trinity_apu"
# Groups that stay out of long mode: leaving long mode fails under the hv in
# Bochs (test_test_kernel_long_mode; natively and under QEMU it passes).
GROUPS_32 = ("real.int", "pm32.cpuid", "pm32.io", "pm32.a20")
_END = re.compile(r"RFXT-(DONE|FATAL)[^\n]*")


def _kernel_machine(cmdline: str, logs: Path) -> Machine:
    spec = MachineSpec(
        emulator="bochs",
        cpu=CPU,
        smp=1,
        with_hv=True,
        image=testkernel.image(cmdline),
        log=logs / "hv-testkernel.log",
        ready_marker=conformance.START,
    )
    return Machine(spec)


def _kernel_end(machine: Machine, timeout: float) -> tuple[str, dict[str, str]]:
    """(the kernel's last RFXT-DONE or RFXT-FATAL line, {check: result})."""
    assert machine.console is not None
    match = machine.console.wait_for(_END, 0, timeout)
    checks = {}
    for line in machine.console_text().replace("\r", "").splitlines():
        if line.startswith("RFXT "):
            check, _, result = line[5:].partition(" ")
            checks[check] = result
    return match.group(0), checks


@pytest.fixture(scope="module")
def logs(bochs_ok: None) -> Path:
    return Path(tempfile.mkdtemp(prefix="ramooflax-bochs-"))


def test_test_kernel_under_the_hv(logs: Path) -> None:
    """The 32-bit groups natively and under the hv, one Bochs after the other:
    the hv's results are the native ones but for the documented differences
    (conformance.judge: the E820 map without the VMM's range, SVM hidden...)."""
    started = time.monotonic()
    runs = {
        hv: conformance.run(CPU, hv, logs, GROUPS_32, group_timeout=20, emulator="bochs")
        for hv in (False, True)
    }
    took = time.monotonic() - started
    pair = conformance.Pair(CPU, runs[False], runs[True])
    verdicts = conformance.compare(pair)
    assert {v.check.split(".")[0] + "." + v.check.split(".")[1] for v in verdicts} == set(
        GROUPS_32
    ), conformance.explain(verdicts)
    failed = [v for v in verdicts if v.failed]
    assert not failed, conformance.explain(failed)
    # the E820 map through the hv's int 15h is the native one without the VMM's range
    assert any(v.check == "real.int.e820" and v.status == "policy" for v in verdicts)
    assert "disk=0x81" in runs[True].hv_log  # the key's GRUB passed the lab's options
    assert runs[True].boots == runs[False].boots == 1
    # about 10 s on an idle host, 60 s at load 10: a bound for a hang, not a benchmark
    assert took < 240, f"the two test-kernel boots took {took:.0f} s under Bochs"


@pytest.mark.xfail(
    strict=False,
    reason="Bochs's SVM clears EFER.LMA before it takes the CR0-write intercept (SetCR0 in "
    "cpu/crregs.cc): at the compat-mode `mov cr0` that turns paging off, the VMCB holds EFER "
    "LME|SVME without LMA and CR0.PG=1; the VMM takes the mode for prot32, cannot decode the "
    "instruction and injects #UD (it could derive LMA from its LME shadow and CR0.PG)",
)
def test_test_kernel_long_mode(logs: Path) -> None:
    machine = _kernel_machine("only=long.cpuid", logs)
    machine.start()
    try:
        end, checks = _kernel_end(machine, 120)
    finally:
        machine.stop()
    assert end.startswith("RFXT-DONE"), f"{end}\n{machine.log_text()[-1500:]}"
    assert checks


def test_linux_under_the_hv(bochs_hv_amd64: Machine) -> None:
    m = bochs_hv_amd64
    assert m.ready_after is not None
    print(f"Linux under the hv in Bochs {CPU}: shell after {m.ready_after:.0f} s")
    res = m.run("uname -m; grep -c -w svm /proc/cpuinfo; echo rfx-$((6 * 7))", 180)
    assert res.output.split() == ["x86_64", "0", "rfx-42"], res.output
    summary = m.hv_summary(60)
    assert "backend svm" in summary and "exits not handled: 0" in summary, summary


def test_client_attaches_over_com2(bochs_hv_amd64: Machine) -> None:
    vm = VM(CPUFamily.AMD, f"127.0.0.1:{bochs_hv_amd64.free_ctrl_port()}", timeout=60)
    vm.attach()
    try:
        assert vm.event is not None and vm.event.reason is StopReason.ATTACH
        status = vm.status()
        assert status.mode is CPUMode.LONG
        gpr, sr = vm.cpu.gpr, vm.cpu.sr
        assert status.rip == gpr.rip
        assert sr.cr0 & 0x80000001 == 0x80000001  # PG PE
        assert sr.efer & 0x500 == 0x500  # LME LMA
        assert sr.efer & 0x1000 == 0  # SVME hidden
    finally:
        vm.detach()
    # the VM runs on after the client left; the lab's own line works again
    assert bochs_hv_amd64.run("echo back", 120).output.strip() == "back"
    assert "exits" in bochs_hv_amd64.hv_summary(60)
