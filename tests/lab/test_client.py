"""The Python client against the real hypervisor (amd64 and i386 guests).

Guest commands that must run while the client holds the VM go through
`Machine.run_background`: the console is another channel, so the guest's
shell makes progress whenever the VM runs.

The amd64 tests take `hv_ctrl` (through `vm64`) and run on both control
channels, the UART and the VMM's own e1000 (select one with -k uart / -k
net); the process finder has a row for each.
"""

import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ramooflax import VM, AddressNotMapped, CPUException, CPUFamily, CPUMode, StopReason
from ramooflax.errors import NotAttached, StubError, VMRunning
from ramooflax.lab import facts, paths
from ramooflax.lab.machine import Machine
from ramooflax.os.linux import Linux, Vmlinux

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]


def attach(machine: Machine) -> VM:
    return VM(CPUFamily.AMD, f"127.0.0.1:{machine.free_ctrl_port()}").attach()


@pytest.fixture
def vm64(hv_ctrl: Machine) -> Iterator[VM]:
    vm = attach(hv_ctrl)
    yield vm
    vm.detach()


@pytest.fixture
def vm32(hv_i386: Machine) -> Iterator[VM]:
    vm = attach(hv_i386)
    yield vm
    vm.detach()


def test_attach_registers_status_disassembly(vm64: VM) -> None:
    assert vm64.event is not None and vm64.event.reason is StopReason.ATTACH
    gpr, sr = vm64.cpu.gpr, vm64.cpu.sr
    assert sr.cr0 & 0x80000001 == 0x80000001 and sr.efer & 0x500 == 0x500  # PG PE, LME LMA
    assert gpr.eip == gpr.rip & 0xFFFFFFFF
    assert "rip = 0x" in repr(gpr) and "lstar" in repr(sr)
    status = vm64.status()
    assert status.mode is CPUMode.LONG and status.rip == gpr.rip
    # The VM stops wherever it is: in its kernel (ring 0) or in a process (ring 3).
    in_kernel = gpr.rip >= 0xFFFF800000000000
    assert status.cpl == (0 if in_kernel else 3), (hex(gpr.rip), status.cpl)
    insns = vm64.cpu.disassemble(None, 3)
    assert insns and insns[0].address == gpr.rip and str(insns)
    assert "exit" in vm64.exits().lower()
    assert "cr3" in vm64.monitor("sysregs")


def test_memory_views_agree(vm64: VM) -> None:
    rip = vm64.cpu.gpr.rip
    pa = vm64.mem.translate(rip)
    assert pa & 0xFFF == rip & 0xFFF
    assert vm64.mem.pread(pa, 32) == vm64.mem.vread(rip, 32)
    q = vm64.mem.read_qword(rip)
    assert vm64.mem.read_dword(rip) == q & 0xFFFFFFFF
    assert vm64.mem.read_word(rip) == q & 0xFFFF and vm64.mem.read_byte(rip) == q & 0xFF
    # Writes: put the same bytes back, through each path.
    sp = vm64.cpu.gpr.rsp
    word = vm64.mem.read_qword(sp)
    vm64.mem.write_qword(sp, word)
    vm64.mem.pwrite(vm64.mem.translate(sp), struct.pack("<Q", word))
    vm64.mem.vwrite(sp, struct.pack("<Q", word))
    assert vm64.mem.read_qword(sp) == word
    with pytest.raises(AddressNotMapped, match="0x10 .*cr3"):
        vm64.mem.vread(0x10, 4)
    cr3 = vm64.cpu.sr.cr3
    vm64.cpu.set_active_cr3(cr3)
    assert vm64.mem.vread(rip, 8) == q.to_bytes(8, "little")
    vm64.cpu.set_active_cr3(0)
    big = vm64.mem.pread(0x100000, 0x9000)
    assert len(big) == 0x9000


def test_cr3_filter_sees_scheduling(hv_ctrl: Machine, vm64: VM) -> None:
    seen: list[int] = []

    def cr3_hook(vm: VM) -> bool:
        assert vm.event is not None
        seen.append(int(vm.event.val))
        # Back to the test once the writes show several address spaces.
        return len(seen) >= 12 and len(set(seen)) >= 3

    vm64.cpu.filter_write_cr(3, cr3_hook)
    job = hv_ctrl.run_background(
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do ls / >/dev/null; done; echo ok"
    )
    stopped_by_filter = vm64.resume(timeout=120)
    assert stopped_by_filter is True, (
        f"{len(seen)} CR3 writes seen in 120 s; event {vm64.event!r}; hv log tail:\n"
        + "\n".join(hv_ctrl.log_text().splitlines()[-15:])
    )
    vm64.cpu.release_write_cr(3)
    vm64.detach()
    assert job.result().output == "ok\n"
    assert len(set(seen)) >= 3, f"cr3 values seen: {sorted(map(hex, set(seen)))}"


def busybox_entry(arch: str) -> int:
    found = sorted((paths.cache_dir() / "debs").glob(f"busybox-static_*_{arch}/bin/busybox"))
    data = found[-1].read_bytes()[:0x40]
    return struct.unpack_from("<Q" if data[4] == 2 else "<I", data, 0x18)[0]


def test_page_fault_filter_sees_the_entry_point_fault(hv_ctrl: Machine, vm64: VM) -> None:
    entry = busybox_entry("amd64")
    faults: list[tuple[int, int]] = []

    def pf_hook(vm: VM) -> bool:
        assert vm.event is not None and vm.event.vec == CPUException.page_fault
        faults.append((int(vm.event.cr2), int(vm.event.err)))
        return int(vm.event.cr2) == entry

    vm64.cpu.filter_exception(CPUException.page_fault, pf_hook)
    job = hv_ctrl.run_background("cp /bin/busybox /tmp/bb-fresh && /tmp/bb-fresh true; echo ok")
    assert vm64.resume(timeout=120) is True, f"no #PF at 0x{entry:x}: {faults[:10]}"
    cr2, err = faults[-1]
    assert cr2 == entry and err & 0x14 == 0x14  # user instruction fetch
    vm64.cpu.release_exception(CPUException.page_fault)
    vm64.detach()
    assert job.result().output.endswith("ok\n")


def test_lazy_register_write_changes_guest_behaviour(hv_ctrl: Machine, vm64: VM) -> None:
    """Break at the syscall entry; at uname(2) (rax 63) set rdi = 0: the kernel fails it
    with EFAULT and fills nothing. Busybox's uname ignores the error (its buffer is
    zeroed), so it prints an empty line instead of "Linux"."""
    lstar = vm64.cpu.sr.lstar
    state = {"patched": 0, "calls": 0}

    def syscall_hook(vm: VM) -> bool:
        state["calls"] += 1
        if vm.cpu.gpr.rax == 63:  # uname(2), whoever calls it
            vm.cpu.gpr.rdi = 0  # lazy: committed when the VM resumes
            state["patched"] += 1
        return False  # resume silently, always

    vm64.cpu.breakpoints.add_insn(lstar, syscall_hook, "syscall")
    assert "syscall" in repr(vm64.cpu.breakpoints)
    job = hv_ctrl.run_background("uname -s; echo rc=$?")
    # No filter gives control back: resume() stops the VM itself after the timeout.
    assert vm64.resume(timeout=15) is False
    assert vm64.event is not None and vm64.event.reason is StopReason.INTERRUPT
    vm64.cpu.breakpoints.remove("syscall")
    vm64.detach()
    out = job.result().output
    assert state["patched"] and out.splitlines()[0] == "" and "Linux" not in out, out
    assert hv_ctrl.run("uname -s").output == "Linux\n"


def test_hw_breakpoint_watchpoint_singlestep(hv_ctrl: Machine, vm64: VM) -> None:
    lstar = vm64.cpu.sr.lstar
    bp = vm64.cpu.breakpoints.add_hw_insn(lstar, name="hw-entry")
    job = hv_ctrl.run_background("echo hw")
    assert vm64.resume(timeout=60) is True
    assert vm64.event is not None and vm64.event.reason is StopReason.HW_BREAKPOINT
    assert vm64.cpu.gpr.rip == lstar and bp.hits == 1
    vm64.cpu.breakpoints.remove(bp)

    rips: list[int] = []
    vm64.cpu.filter_singlestep(lambda vm: (rips.append(vm.cpu.gpr.rip), len(rips) == 3)[1])
    assert vm64.singlestep() is True and len(rips) == 3 and rips[0] != lstar
    vm64.cpu.release_singlestep()

    img = Vmlinux.from_vmlinuz(_vmlinuz("amd64"))
    linux = Linux.from_package(vm64)
    jiffies = img.exported("jiffies_64") + linux.slide
    bps = vm64.cpu.breakpoints
    for add in (bps.add_data_w, bps.add_data_r, bps.add_data_rw):
        w = add(jiffies, 8, None, "jiffies")
        assert vm64.resume(timeout=30) is True
        assert vm64.event is not None and vm64.event.reason is StopReason.WATCHPOINT
        assert vm64.event.breakpoint is w
        vm64.cpu.breakpoints.remove("jiffies")
    vm64.detach()
    job.result()


def test_io_filter_sees_the_rtc(hv_ctrl: Machine, vm64: VM) -> None:
    vm64.cpu.filter_io(0x70, lambda vm: True)
    job = hv_ctrl.run_background("hwclock -r >/dev/null 2>&1; echo ok")
    assert vm64.resume(timeout=60) is True
    assert vm64.event is not None and vm64.event.port == 0x70 and vm64.event.dir == "out"
    vm64.cpu.release_io(0x70)
    vm64.detach()
    job.result()


def _vmlinuz(arch: str) -> Path:
    """The default guest's kernel (not the backports one the lab may also cache)."""
    return min((paths.cache_dir() / "debs").glob(f"linux-image-*_{arch}/boot/vmlinuz-*"))


FINDER_SCRIPT = (
    "printf '#!/bin/sh\\nsleep 15\\n' > /tmp/rfxuniq42 && chmod +x /tmp/rfxuniq42 && "
    "/tmp/rfxuniq42 hello-argv; echo done"
)


@pytest.mark.parametrize(
    ("name", "arch"),
    [("hv_amd64", "amd64"), ("hv_amd64_net", "amd64, net"), ("hv_i386", "i386")],
)
def test_process_finder(name: str, arch: str, request: pytest.FixtureRequest) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "process_finder", REPO / "examples" / "process_finder.py"
    )
    assert spec is not None and spec.loader is not None
    finder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(finder)

    machine: Machine = request.getfixturevalue(name)
    warm = attach(machine)  # the profile from memory, cached before the clock starts
    try:
        Linux.from_memory(warm)
    finally:
        warm.detach()
    job = machine.run_background(FINDER_SCRIPT)
    time.sleep(3)  # the process runs: the clock measures finding it, not its start
    start = time.monotonic()
    vm = attach(machine)
    try:
        task, linux = finder.find_process(vm, "rfxuniq")
        elapsed = time.monotonic() - start
        print(f"{arch}: found {task.comm} pid {task.pid} cr3 0x{task.cr3:x} in {elapsed:.2f} s")
        assert task.comm == "rfxuniq42" and task.cr3
        # The process's own memory, through the found cr3: its argv and its ELF
        # header. A vCPU can catch it mid-exec (new comm, argv not yet laid
        # out): let the VM run a little until the exec is done.
        for _ in range(20):
            argv = linux.argv(task)
            if argv:
                break
            vm.resume(timeout=0.2)
            task = linux.find("rfxuniq") or task
        assert argv[-2:] == ["/tmp/rfxuniq42", "hello-argv"], argv
        code = linux.mm_field(task, "start_code") & ~0xFFF
        for page in range(code, code - 0x10000, -0x1000):
            try:
                head = vm.mem.vread(page, 4, cr3=task.cr3)
            except AddressNotMapped:
                continue
            if head == b"\x7fELF":
                break
        else:
            pytest.fail(f"no ELF header below start_code 0x{code:x}")
    finally:
        vm.detach()
    assert job.result().output.endswith("done\n")


def test_small_accesses_strings_and_translations(hv_ctrl: Machine) -> None:
    """write_byte/word/dword read back and restore; read_cstring on the kernel's
    uts name agrees with `uname`; guest_to_host is the identity outside the
    VMM's range and refuses inside it."""
    uname = hv_ctrl.run("uname -s; uname -r").output.split()
    vm64 = attach(hv_ctrl)
    try:
        small_accesses(hv_ctrl, vm64, uname)
    finally:
        vm64.detach()


def small_accesses(hv_ctrl: Machine, vm64: VM, uname: list[str]) -> None:
    mem = vm64.mem
    img = Vmlinux.from_vmlinuz(_vmlinuz("amd64"))
    uts = img.exported("init_uts_ns") + Linux.from_package(vm64).slide
    # struct new_utsname: sysname, nodename, release... char[65] each, first in uts_namespace.
    assert mem.read_cstring(uts, 65) == uname[0].encode()
    assert mem.read_cstring(uts + 2 * 65, 65) == uname[1].encode()

    scratch = vm64.cpu.gpr.rsp - 0x200  # below the stopped VM's stack pointer
    saved = mem.vread(scratch, 8)
    try:
        for write, read, size, value in (
            (mem.write_byte, mem.read_byte, 1, 0xA5),
            (mem.write_word, mem.read_word, 2, 0xBEEF),
            (mem.write_dword, mem.read_dword, 4, 0xC0FFEE11),
            (mem.write_qword, mem.read_qword, 8, 0x0123456789ABCDEF),
        ):
            write(scratch, value)
            assert read(scratch) == value
            # The bytes are in guest-physical memory, little-endian.
            assert mem.pread(mem.translate(scratch), size) == value.to_bytes(size, "little")
    finally:
        mem.vwrite(scratch, saved)
    assert mem.vread(scratch, 8) == saved

    assert mem.guest_to_host(0x100000) == 0x100000  # NPT: identity outside the VMM
    hidden = facts.vmm_range(vm64.exits())
    with pytest.raises(AddressNotMapped, match="not guest memory"):
        mem.guest_to_host(hidden.start + 0x1000)
    assert mem.guest_to_host(hidden.start - 8) == hidden.start - 8  # the edge of the hole


def test_lbr_unsupported_reconnect_and_errors(hv_ctrl: Machine, vm64: VM) -> None:
    """LBR: QEMU's CPU has none, and the error says so; reconnect() attaches
    again; calls on a running or detached VM fail with a message saying what
    to do."""
    with pytest.raises(StubError, match="LBR unsupported"):
        vm64.cpu.lbr_enable()
    rip = vm64.cpu.gpr.rip
    vm64.reconnect()
    assert vm64.attached
    if hv_ctrl.spec.ctrl == "uart":
        # The line stays; the VM stays stopped where it was. A closed TCP
        # connection ends the session instead: the VM ran until the new one.
        assert vm64.cpu.gpr.rip == rip
    vm64.cont()
    with pytest.raises(VMRunning, match="vm.stop"):
        _ = vm64.cpu.gpr.rax
    with pytest.raises(VMRunning):
        vm64.mem.pread(0, 4)
    vm64.stop()
    assert vm64.cpu.gpr.rip
    vm64.detach()
    with pytest.raises(NotAttached, match="vm.attach"):
        _ = vm64.cpu.gpr.rax
    with pytest.raises(NotAttached):
        vm64.resume()


def test_the_guests_own_int3_and_tf_reach_the_guest(
    hv_ctrl: Machine, guest_program: Callable[[str, int], Any]
) -> None:
    """With a software breakpoint on the syscall entry (int3 intercepted) and
    a hardware one elsewhere (#DB intercepted), a process's own int3 and its
    own TF step still reach it: SIGTRAP, exit status 133, as natively. Our
    breakpoint keeps firing meanwhile (the int3 is put back after each hit)."""
    for name, base in (("trapself", 0x13390000), ("tfself", 0x133A0000)):
        hv_ctrl.put_file(f"/tmp/{name}", guest_program(name, base).binary)
    vm = attach(hv_ctrl)
    try:
        lstar = vm.cpu.sr.lstar
        job = hv_ctrl.run_background("/tmp/trapself; echo int3=$?; /tmp/tfself; echo tf=$?")
        hits: list[int] = []

        def on_syscall(vm: VM) -> bool:
            hits.append(vm.cpu.gpr.rip)
            return not job.thread.is_alive()  # back to the test once the job ended

        bp = vm.cpu.breakpoints.add_insn(lstar, on_syscall, "syscall-entry")
        vm.cpu.breakpoints.add_hw_insn(0x133B0000, None, "unused")  # owns the DRs
        # The job's last system calls come as it ends, maybe before the host
        # has seen its output: an idle guest then makes no more, so the VM
        # is stopped now and then to look.
        deadline = time.monotonic() + 180
        while not vm.resume(timeout=5) and job.thread.is_alive():
            assert time.monotonic() < deadline, f"still running after {len(hits)} syscalls"
        assert bp.hits >= 2 and set(hits) == {lstar}
    finally:
        vm.detach()
    out = job.result().output
    assert "int3=133" in out and "tf=133" in out, out
