"""Single-step through a ring-3 program under the hypervisor: the trap flag
the VMM sets must stay invisible to the guest (pushf, popf, iret, int n), and
each step must land on the next instruction.

programs/tfprobe.c runs pushf/popf/int 0x80/iretq/syscall and exits with a
bit set for each place where it saw TF; a stray #DB would kill it (SIGTRAP).
It is linked at 0x13370000, an address no other guest program uses, so a
hardware breakpoint there stops only it. The tests take `hv_ctrl`: each
runs on both control channels (-k uart / -k net).
"""

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ramooflax import VM, CPUFamily, StepTimeout, StopReason
from ramooflax.lab import facts
from ramooflax.lab.machine import Job, Machine

pytestmark = pytest.mark.lab

GUEST_PATH = "/tmp/tfprobe"
TEXT_BASE = 0x13370000


@dataclass
class Probe:
    probe: int  # first instruction of the stepped sequence
    probe_end: int  # first instruction after it


@pytest.fixture(scope="module")
def tfprobe(guest_program: Callable[[str, int], Any], hv_ctrl: Machine) -> Probe:
    prog = guest_program("tfprobe", TEXT_BASE)
    hv_ctrl.put_file(GUEST_PATH, prog.binary)
    return Probe(prog.symbols["probe"], prog.symbols["probe_end"])


@pytest.fixture
def vm(hv_ctrl: Machine) -> Iterator[VM]:
    vm = VM(CPUFamily.AMD, f"127.0.0.1:{hv_ctrl.free_ctrl_port()}").attach()
    yield vm
    if vm.attached:
        if vm.running:
            vm.stop()
        vm.cpu.breakpoints.remove_all()
        vm.cpu.set_step_mode(None)
        vm.detach()


def stop_at_probe(machine: Machine, vm: VM, probe: Probe, path: str = GUEST_PATH) -> Job:
    """Start the program in the guest; return once the VM stops at `probe`."""
    vm.cpu.breakpoints.add_hw_insn(probe.probe, name="probe")
    job = machine.run_background(f"{path}; echo status=$?", timeout=180)
    assert vm.resume(timeout=120), "the probe program never reached its breakpoint"
    assert vm.event is not None and vm.event.reason is StopReason.HW_BREAKPOINT, vm.event
    assert vm.cpu.gpr.rip == probe.probe
    assert vm.status().cpl == 3
    vm.cpu.breakpoints.remove("probe")
    return job


def expected_steps(vm: VM, probe: Probe) -> list[int]:
    """The instruction addresses after probe, up to probe_end: each step lands
    on the next one (int 0x80 and syscall return to the next instruction, the
    iretq goes to the instruction that follows it)."""
    listing = vm.cpu.disassemble(probe.probe, 64)
    addrs = [insn.address for insn in listing if insn.address <= probe.probe_end]
    assert addrs[-1] == probe.probe_end, "could not disassemble up to probe_end"
    mnemonics = {insn.mnemonic for insn in listing if insn.address < probe.probe_end}
    assert {"pushfq", "popfq", "int", "iretq", "syscall"} <= mnemonics, mnemonics
    return addrs[1:]


def step_through(vm: VM, expected: list[int], cr3: int | None = None) -> list[int]:
    """One singlestep() per expected address; the rips seen (and, with cr3,
    a check that each step ended in that process's ring 3)."""
    seen: list[int] = []
    for _ in expected:
        try:
            assert vm.singlestep()
        except StepTimeout as e:
            pytest.fail(
                f"step {len(seen) + 1} after {[hex(a) for a in seen]} never ended: {e} "
                f"({vm.status()}):\n{vm.exits()}"
            )
        assert vm.event is not None and vm.event.reason is StopReason.SINGLESTEP, vm.event
        if cr3 is not None:
            assert vm.cpu.sr.cr3 == cr3 and vm.status().cpl == 3
        seen.append(vm.cpu.gpr.rip)
    return seen


def finish(job: Job, vm: VM) -> str:
    vm.detach()
    out = job.result(120).output
    assert "status=0" in out, (
        f"the program saw TF (status bits: 1 pushf, 2 after iret, 4 after sysret; "
        f"133 = SIGTRAP): {out!r}"
    )
    return out


def test_global_step_hides_tf(hv_ctrl: Machine, vm: VM, tfprobe: Probe) -> None:
    """Global step mode: pushf, popf, iretq one instruction per step; int 0x80
    and syscall are stepped over; the program runs on and saw no TF."""
    job = stop_at_probe(hv_ctrl, vm, tfprobe)
    expected = expected_steps(vm, tfprobe)
    vm.cpu.set_step_mode(None)
    seen = step_through(vm, expected)
    assert seen == expected, [hex(a) for a in seen]
    assert vm.cpu.gpr.rflags & 0x100 == 0, "the debugger's view shows the VMM's TF"
    finish(job, vm)


def test_cr3_step_mode_steps_only_the_process(hv_ctrl: Machine, vm: VM, tfprobe: Probe) -> None:
    """Step mode cr3: every step ends in the process's ring 3 with its cr3,
    on the next instruction of the listing."""
    job = stop_at_probe(hv_ctrl, vm, tfprobe)
    cr3 = vm.cpu.sr.cr3
    expected = expected_steps(vm, tfprobe)
    vm.cpu.set_step_mode(cr3)
    seen = step_through(vm, expected, cr3)
    assert seen == expected, [hex(a) for a in seen]
    finish(job, vm)


STEPOVER_PATH = "/tmp/stepover"
STEPOVER_BASE = 0x133E0000
STEPOVER_ROUNDS = 16  # programs/stepover.c's ROUNDS
# programs/stepover.c's labels in their order; so_xchg (xchg r8, rax) is stepped.
STEPOVER_LABELS = ("so_nop", "so_nop5", "so_endbr", "so_mov64", "so_mov32", "so_mov8", "so_push")


def db_exits(vm: VM) -> int:
    """The #DB exits of every vCPU so far (a TF step ends with one)."""
    return sum(int(n) for n in re.findall(r"^\s+excp1\s+(\d+)\s*$", vm.exits(), re.MULTILINE))


@dataclass
class Program:
    symbols: dict[str, int]
    alone: str  # what it printed, run without the debugger


@pytest.fixture(scope="module")
def stepover(guest_program: Callable[[str, int], Any], hv_ctrl: Machine) -> Program:
    prog = guest_program("stepover", STEPOVER_BASE)
    hv_ctrl.put_file(STEPOVER_PATH, prog.binary)
    alone = hv_ctrl.run(STEPOVER_PATH).output
    assert alone.startswith("sum="), alone
    return Program(prog.symbols, alone)


def test_continue_from_int3_runs_simple_instructions_in_the_vmm(
    hv_ctrl: Machine, vm: VM, stepover: Program
) -> None:
    """A continue from an int3 on nop, nop5, endbr64, mov between registers
    (64, 32 and 8 bits) or push runs that instruction in the VMM: no step, no
    #DB exit. The push's first write faults (a fresh stack page): the #PF
    goes to the guest, which maps the page and runs the push again, so the
    breakpoint reports twice. xchg r8, rax (49 90, not a nop) is stepped.
    The program prints the same sum as without the debugger."""
    job = stop_at_probe(hv_ctrl, vm, Probe(stepover.symbols["_start"], 0), STEPOVER_PATH)
    by_addr = {stepover.symbols[n]: n for n in (*STEPOVER_LABELS, "so_xchg")}
    for addr, name in by_addr.items():
        vm.cpu.breakpoints.add_insn(addr, name=name)
    db_before = db_exits(vm)
    seen: list[str] = []
    while seen.count("so_xchg") < STEPOVER_ROUNDS:
        assert vm.resume(timeout=60), f"no breakpoint after {seen[-12:]}"
        assert vm.event is not None and vm.event.reason is StopReason.BREAKPOINT, vm.event
        rip = vm.cpu.gpr.rip
        assert rip in by_addr, f"stopped at {rip:#x} after {seen[-12:]}"
        seen.append(by_addr[rip])
        assert len(seen) < STEPOVER_ROUNDS * 10, seen
    db_steps = db_exits(vm) - db_before
    vm.cpu.breakpoints.remove_all()
    vm.detach()
    rounds = " ".join(seen).split("so_xchg")[:-1]
    pushes = [r.split().count("so_push") for r in rounds]
    for r in rounds:
        assert r.split()[:6] == list(STEPOVER_LABELS[:6]), r
    assert all(p in (1, 2) for p in pushes), pushes
    assert pushes.count(2) >= 1, f"no push took its page fault first: {pushes}"
    # One #DB exit per xchg stepped over (the last stop is on one); none for
    # the others, which are 8 in 9 of the continues.
    assert STEPOVER_ROUNDS - 1 <= db_steps < 2 * STEPOVER_ROUNDS, (db_steps, len(seen))
    out = job.result(120).output
    assert stepover.alone.strip() in out and "status=0" in out, (stepover.alone, out)


def test_continue_from_swapgs_swaps_in_the_vmm(hv_ctrl: Machine, vm: VM) -> None:
    """entry_SYSCALL_64 begins with swapgs (0f 01 f8). A continue from an
    int3 there runs it in the VMM: at the next instruction (an int3 too)
    GS.base and KERNEL_GS_BASE have swapped, and that continue made no #DB
    exit; the one from the next instruction (a gs: store) is stepped."""
    lstar = vm.cpu.sr.lstar
    assert vm.cpu.mem.vread(lstar, 3) == b"\x0f\x01\xf8", "entry_SYSCALL_64 is not a swapgs"
    vm.cpu.breakpoints.add_insn(lstar, name="swapgs")
    vm.cpu.breakpoints.add_insn(lstar + 3, name="next")
    job = hv_ctrl.run_background(
        "i=0; while [ $i -lt 200 ]; do echo x >/dev/null; i=$((i+1)); done; echo loop=$i"
    )
    db_before = db_exits(vm)
    seen: dict[int | None, tuple[int, int]] = {}  # per vCPU: (gs, kernel_gs) at the swapgs
    swaps = nexts = 0
    while swaps < 40:
        assert vm.resume(timeout=60) and vm.event is not None
        rip, cpu = vm.cpu.gpr.rip, vm.event.vcpu
        bases = (vm.cpu.sr.gs_base, vm.cpu.sr.kernel_gs_base)
        assert rip in (lstar, lstar + 3), f"{vm.event} at {rip:#x}"
        if rip == lstar:
            seen[cpu] = bases
            continue
        nexts += 1
        if cpu in seen:
            assert bases == seen.pop(cpu)[::-1], "swapgs did not swap the two bases"
            swaps += 1
    db_steps = db_exits(vm) - db_before
    vm.cpu.breakpoints.remove_all()
    vm.detach()
    out = job.result(120).output
    assert "loop=200" in out, out
    # The continues from lstar+3 (all but the last stop) are steps, one #DB
    # exit each; the ones from the swapgs are not.
    assert nexts - 1 <= db_steps < nexts + 20, (nexts, db_steps)


UFFD_PATH = "/tmp/uffdstep"
UFFD_BASE = 0x133D0000


def test_a_step_that_cannot_end_is_stopped(
    guest_program: Callable[[str, int], Any],
    hv_ctrl: Machine,
    request: pytest.FixtureRequest,
) -> None:
    """programs/uffdstep.c: the stepped instruction faults, and its fault
    waits on a process pinned to CPU 1, which the step keeps stopped. The
    VMM must still read the line: the client's timeout sends 0x03, which ends
    the step where it is (StepTimeout, VM stopped). After the resume the
    fault is served and the instruction completes; the #DB its frame's TF
    owes is the VMM's, not the process's (SIGTRAP would make status 133)."""
    if "net" in request.node.name:
        # Open: over the network the 0x03 sometimes gets no reply (1 in 4
        # runs here), even with step_watchdog kicking the stepping vCPU.
        request.applymarker(
            pytest.mark.xfail(
                reason="issue 9/12: the 0x03 that ends the step is not always served over the network",
                strict=False,
            )
        )
    prog = guest_program("uffdstep", UFFD_BASE)
    hv_ctrl.put_file(UFFD_PATH, prog.binary)
    mark = len(hv_ctrl.log_text())
    vm = VM(CPUFamily.AMD, f"127.0.0.1:{hv_ctrl.free_ctrl_port()}", timeout=8).attach()
    try:
        vm.cpu.breakpoints.add_hw_insn(prog.symbols["touch"], name="touch")
        job = hv_ctrl.run_background(f"{UFFD_PATH}; echo status=$?", timeout=180)
        assert vm.resume(timeout=120), "uffdstep never reached its breakpoint"
        assert vm.cpu.gpr.rip == prog.symbols["touch"], vm.event
        vm.cpu.breakpoints.remove("touch")
        with pytest.raises(StepTimeout):
            vm.singlestep()
        assert not vm.running
        assert vm.event is not None and vm.event.reason is StopReason.INTERRUPT, vm.event
    finally:
        if vm.attached:
            vm.cpu.breakpoints.remove_all()
            vm.detach()
    out = job.result(120).output
    assert "status=0" in out, f"uffdstep: {out!r} (133: a stray single-step SIGTRAP)"
    log = hv_ctrl.log_text()[mark:]
    assert "step abandoned inside a fault's handler" in log, log[-2000:]
    assert "the abandoned step's #DB taken" in log, log[-2000:]


SPIN_PATH = "/tmp/spin"
SPIN_BASE = 0x133C0000
STEPS = 40


def intr_exits(summary: str, cpu: int) -> int:
    """The INTR exits of one vCPU in qRfx.Exits' text."""
    part = re.search(rf"exits: \d+ total on cpu{cpu}\n((?:  .*\n?)*)", summary)
    assert part, summary
    return facts.exit_counts(f"exits: 0 total\n{part.group(1)}")[1]["intr"]


@pytest.fixture(scope="module")
def spin(guest_program: Callable[[str, int], Any], hv_ctrl: Machine) -> int:
    """The address of programs/spin.c's loop, installed in the guest."""
    prog = guest_program("spin", SPIN_BASE)
    hv_ctrl.put_file(SPIN_PATH, prog.binary)
    return int(prog.symbols["spin"])


def test_a_step_takes_no_interrupt(hv_ctrl: Machine, spin: int, vm: VM) -> None:
    """A step is one instruction: an interrupt that is due (the guest's
    timer, while the client takes its time between steps) waits until the
    VM runs again, as with QEMU's own gdbstub, instead of running its
    handler untraced inside the step. On AMD the VMCB's interrupt shadow
    holds it: no INTR exit happens while the client steps a ring-3 loop."""
    vm.cpu.breakpoints.add_hw_insn(spin, name="spin")
    job = hv_ctrl.run_background(f"{SPIN_PATH} & p=$!; sleep 2; kill $p; echo done", timeout=180)
    assert vm.resume(timeout=120), "spin never reached its breakpoint"
    vm.cpu.breakpoints.remove("spin")
    cpu = vm.cpu.index
    before = intr_exits(vm.exits(), cpu)
    for _ in range(STEPS):
        time.sleep(0.01)  # a timer interrupt falls due now and then
        assert vm.singlestep()
        assert vm.event is not None and vm.event.reason is StopReason.SINGLESTEP, vm.event
        assert vm.status().cpl == 3
    after = intr_exits(vm.exits(), cpu)
    vm.detach()
    assert "done" in job.result(120).output
    assert after - before <= 2, f"{after - before} interrupts taken in {STEPS} steps"
