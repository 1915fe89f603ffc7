"""Two vCPUs under the VT-x backend (docs/vmx.md, "Every vCPU from one core"):
Bochs's corei7_skylake_x with `cpu: count=2`, the test kernel's smp group
(tests/guest/k32/fam32.c fam_smp): the boot CPU starts the second core
with INIT-SIPI-SIPI into a real-mode loop at 0600:0000, then spins in
protected mode in the kernel at 2 MiB.

The client stops the VM on one core and reads and writes both vCPUs'
registers. On VT-x, VMREAD and VMWRITE reach only the current VMCS of the
core that runs them, so the stub's core must borrow the other vCPU's VMCS
(hv/vmm/vmx/vmcs.c): without that, vCPU 1's registers read as vCPU 0's,
and a write to vCPU 1 lands on vCPU 0.

One Bochs boot of a few seconds of guest time; about a minute of host time.
"""

import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ramooflax import VM, CPUFamily
from ramooflax.lab import conformance, testkernel
from ramooflax.lab.machine import Machine, MachineSpec

pytestmark = [pytest.mark.lab, pytest.mark.bochs]

CPU = "corei7_skylake_x"
AP_CS = 0x0600  # the start-up IPI's vector 6: CS 0600, base 0x6000
MAILBOX = 0x6F00  # +0 the AP's EBX, +4 its beat, +8 loop2's mark, +12 loop2's beat
AP_EBX = 0x51A9E001
LOOP2_MARK = 0x10020002
_READY = re.compile(
    r"RFXS smp ready ap_ip=0x([0-9a-f]+) ap_loop2=0x([0-9a-f]+) ap_end=0x([0-9a-f]+)\s"
)


@pytest.fixture(scope="module")
def smp_machine(bochs_ok: None) -> Iterator[tuple[Machine, dict[str, int]]]:
    logs = Path(tempfile.mkdtemp(prefix="ramooflax-vmx-smp-"))
    spec = MachineSpec(
        emulator="bochs",
        cpu=CPU,
        smp=2,
        with_hv=True,
        image=testkernel.image("only=smp"),
        log=logs / "hv-smp.log",
        ready_marker=conformance.START,
    )
    machine = Machine(spec)
    machine.start()
    try:
        assert machine.console is not None
        match = machine.console.wait_for(_READY, 0, 240)
        where = {
            "ip": int(match.group(1), 16),
            "loop2": int(match.group(2), 16),
            "end": int(match.group(3), 16),
        }
        yield machine, where
    finally:
        machine.stop()


def test_each_vcpu_has_its_own_registers(smp_machine: tuple[Machine, dict[str, int]]) -> None:
    """vCPU 1 reads as the real-mode AP loop, vCPU 0 as the protected-mode kernel;
    a write to vCPU 1's RIP moves vCPU 1 (its second loop runs), not vCPU 0."""
    machine, where = smp_machine
    assert "RFXT pm32.smp.ap ok" in machine.console_text(), machine.console_text()[-800:]
    vm = VM(CPUFamily.INTEL, f"127.0.0.1:{machine.free_ctrl_port()}", timeout=60)
    vm.attach()
    try:
        assert len(vm.cpus) == 2
        bsp, ap = vm.cpus[0], vm.cpus[1]
        # vCPU 0: protected mode, in the kernel (linked at 2 MiB)
        assert bsp.sr.cr0 & 1 == 1
        assert bsp.gpr.rip >= 0x200000, hex(bsp.gpr.rip)
        assert bsp.gpr.cs != AP_CS
        # vCPU 1: real mode in its loop at 0600:0000
        assert ap.sr.cr0 & 1 == 0, hex(ap.sr.cr0)
        assert ap.gpr.cs == AP_CS and ap.sr.cs_base == AP_CS << 4
        assert where["ip"] <= ap.gpr.rip < where["loop2"], hex(ap.gpr.rip)
        assert ap.gpr.rbx & 0xFFFFFFFF == AP_EBX
        for cpu in (bsp, ap):
            st = cpu.status()
            assert st.rip == cpu.gpr.rip and st.cr3 == cpu.sr.cr3, (cpu.index, st)
        assert "real mode" in ap.describe() and "prot32 mode" in bsp.describe(), (
            ap.describe(),
            bsp.describe(),
        )
        bsp_rip = bsp.gpr.rip

        # A write to vCPU 1's RIP takes effect on vCPU 1.
        ap.gpr.rip = where["loop2"]
        vm.cont()
        time.sleep(3)
        vm.stop()
        bsp, ap = vm.cpus[0], vm.cpus[1]
        assert bsp.mem.read_dword(MAILBOX + 8) == LOOP2_MARK
        assert bsp.mem.read_dword(MAILBOX + 12) != 0
        assert where["loop2"] <= ap.gpr.rip < where["end"], hex(ap.gpr.rip)
        assert ap.gpr.cs == AP_CS
        # vCPU 0 ran on in its own loop, in protected mode
        assert bsp.sr.cr0 & 1 == 1 and bsp.gpr.rip >= 0x200000
        assert abs(bsp.gpr.rip - bsp_rip) < 0x100, (hex(bsp.gpr.rip), hex(bsp_rip))
    finally:
        vm.detach()
    assert "cannot reach its state" not in machine.log_text()
