"""UEFI machines (docs/uefi.md): OVMF boots ramooflax.efi from a key, the
application virtualizes the running firmware and returns, and the firmware's
boot manager boots the guest disk's GRUB and Linux inside the VM.

One machine at a time (2 cores): the reference boot without the hypervisor
runs first, its facts are kept and it is powered off; then the machine under
the hypervisor boots once and serves every other test of the module.
"""

import hashlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ramooflax import VM, CPUFamily, CPUMode, StopReason
from ramooflax.lab import facts
from ramooflax.lab.machine import Machine, MachineSpec

pytestmark = pytest.mark.lab

BOOT_TIMEOUT = 400
# /proc/iomem's top-level lines: "00100000-1d9fffff : System RAM"
IOMEM = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) : (.+)$", re.MULTILINE)
# efi=debug: "efi: mem07: [Reserved    |   |...] range=[0x...-0x...] (4MB)"
EFI_MEM = re.compile(r"efi: mem\d+: \[([^|\]]+?)\s*\|.*?range=\[0x([0-9a-f]+)-0x([0-9a-f]+)\]")
FACTS = {
    "efi": "test -d /sys/firmware/efi && echo efi-yes",
    "iomem": "cat /proc/iomem",
    "efimem": "dmesg | grep 'efi: mem'",
    "svm": "grep -c -w svm /proc/cpuinfo",
    "cores": "grep -c ^processor /proc/cpuinfo",
    # Linux's SetVirtualAddressMap call and its runtime services (its
    # complaints: arch/x86/platform/efi/efi.c; efivarfs is a module the
    # initramfs lacks)
    "efiwarn": "dmesg | grep -c -i -e 'unable to switch efi' -e 'runtime services disabled'",
    "serial": "cat /proc/tty/driver/serial",
    # md5sum and fork/exec: the same output with and without the hypervisor
    "workload": "seq 1 30000 | md5sum; i=0; while [ $i -lt 60 ]; do /bin/true; i=$((i+1)); done; "
    "echo $i",
}


def iomem_ram(text: str) -> list[facts.Range]:
    return [
        facts.Range(int(a, 16), int(b, 16) + 1, kind)
        for a, b, kind in IOMEM.findall(text)
        if kind == "System RAM"
    ]


def efi_map(text: str) -> list[facts.Range]:
    return [facts.Range(int(a, 16), int(b, 16) + 1, k.strip()) for k, a, b in EFI_MEM.findall(text)]


def spec(with_hv: bool, logs: Path) -> MachineSpec:
    name = "hv" if with_hv else "nohv"
    return MachineSpec(
        guest="amd64",
        with_hv=with_hv,
        firmware="uefi",
        smp=2,
        build=True,
        log=logs / f"hv-uefi-{name}.log",
    )


def collect(machine: Machine) -> dict[str, str]:
    out = {}
    for key, cmd in FACTS.items():
        out[key] = machine.run(cmd).output
    return out


@dataclass
class Native:
    facts: dict[str, str]
    console: str


@pytest.fixture(scope="module")
def logs() -> Path:
    return Path(tempfile.mkdtemp(prefix="ramooflax-uefi-"))


@pytest.fixture(scope="module")
def native(qemu_ok: None, logs: Path) -> Native:
    """The UEFI guest without the hypervisor: booted, read, powered off."""
    with Machine(spec(False, logs)) as m:
        m.wait_ready(BOOT_TIMEOUT)
        return Native(collect(m), m.console_text())


@pytest.fixture(scope="module")
def uefi_hv(native: Native, logs: Path) -> Iterator[Machine]:
    """The UEFI guest under ramooflax.efi (after the reference is off)."""
    with Machine(spec(True, logs)) as m:
        m.wait_ready(BOOT_TIMEOUT)
        yield m


@pytest.fixture(scope="module")
def hv_facts(uefi_hv: Machine) -> dict[str, str]:
    return collect(uefi_hv)


def test_native_boots_uefi(native: Native) -> None:
    assert "efi-yes" in native.facts["efi"]
    assert "ramooflax" not in native.console
    assert int(native.facts["svm"].strip()) > 0  # QEMU's CPU offers SVM


def test_hv_boots_the_next_option_in_the_vm(
    uefi_hv: Machine, hv_facts: dict[str, str], native: Native
) -> None:
    console, log = uefi_hv.console_text(), uefi_hv.log_text()
    assert "efi-yes" in hv_facts["efi"]  # /sys/firmware/efi: a UEFI boot
    # SetVirtualAddressMap succeeded in the VM, as natively.
    assert hv_facts["efiwarn"].strip() == native.facts["efiwarn"].strip() == "0"
    # The application ran, entered the vmm, and came back in the VM ...
    assert "VM resumes the firmware in long mode" in log, log
    assert "ramooflax: the firmware runs in the VM; back to the boot manager" in console
    # ... and OVMF's boot manager went on to the guest disk's GRUB.
    after = console.split("back to the boot manager", 1)[1]
    assert "Welcome to GRUB" in after and "failed to start" in after


def test_vmm_range_reserved_not_ram(
    uefi_hv: Machine, hv_facts: dict[str, str], native: Native
) -> None:
    vmm = facts.vmm_range(uefi_hv.log_text())
    assert vmm.size >= 4 << 20
    ram = iomem_ram(hv_facts["iomem"])
    assert ram and not [str(r) for r in ram if r.overlaps(vmm)], hv_facts["iomem"]
    # The firmware's own map (what the kernel got from GetMemoryMap) types it reserved.
    covering = [r for r in efi_map(hv_facts["efimem"]) if r.overlaps(vmm)]
    assert covering and all(r.kind == "Reserved" for r in covering), covering
    # Without the hv that memory is the OS's RAM, and the difference is the range.
    native_ram = iomem_ram(native.facts["iomem"])
    assert any(r.overlaps(vmm) for r in native_ram)
    lost = sum(r.size for r in native_ram) - sum(r.size for r in ram)
    assert lost == vmm.size, (lost, vmm.size)


def test_no_svm_and_no_ctrl_uart(hv_facts: dict[str, str], native: Native) -> None:
    # Both cores run (the firmware parked the AP; the OS started it) and
    # neither sees SVM: the AP is inside the VM too.
    assert hv_facts["cores"].strip() == native.facts["cores"].strip() == "2"
    assert hv_facts["svm"].strip() == "0"
    # The control UART (COM2, 0x2f8) is there natively and absent in the VM.
    port = re.compile(r"^1: uart:(\S+) port:000002F8", re.MULTILINE)
    native_uart, hv_uart = port.search(native.facts["serial"]), port.search(hv_facts["serial"])
    assert native_uart and native_uart.group(1) != "unknown", native.facts["serial"]
    assert hv_uart and hv_uart.group(1) == "unknown", hv_facts["serial"]


def test_workload_output_is_the_native_one(hv_facts: dict[str, str], native: Native) -> None:
    seq = "".join(f"{i}\n" for i in range(1, 30001)).encode()
    assert (
        hv_facts["workload"]
        == native.facts["workload"]
        == f"{hashlib.md5(seq).hexdigest()}  -\n60\n"
    )


def test_exits_logged(uefi_hv: Machine) -> None:
    summary = uefi_hv.hv_summary()
    total, counts = facts.exit_counts(summary)
    assert total > 1000 and counts.get("cr4_write", 0) > 0 and counts.get("cpuid", 0) > 0
    assert "2 vCPUs" in summary
    for cpu in ("cpu0", "cpu1"):
        assert re.search(rf"exits: [1-9]\d* total on {cpu}", summary), summary


def test_hidden_range_reads_ones(uefi_hv: Machine) -> None:
    vmm = facts.vmm_range(uefi_hv.log_text())
    res = uefi_hv.run(f"devmem 0x{vmm.start + 0x3000:x} 32")
    assert res.output.strip().lower() == "0xffffffff", res.output
    assert re.search(r"hidden-range accesses: [1-9]", uefi_hv.hv_summary())


def test_client_reads_registers(uefi_hv: Machine) -> None:
    vm = VM(CPUFamily.AMD, f"127.0.0.1:{uefi_hv.free_ctrl_port()}").attach()
    try:
        assert vm.event is not None and vm.event.reason is StopReason.ATTACH
        sr = vm.cpu.sr
        assert sr.cr0 & 0x80000001 == 0x80000001 and sr.efer & 0x500 == 0x500
        assert vm.status().mode is CPUMode.LONG
        assert sr.cr3 and vm.cpu.gpr.rip
    finally:
        vm.detach()
    assert uefi_hv.run("echo alive").output.strip() == "alive"


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")
def test_gdb_breaks_on_the_syscall_entry(uefi_hv: Machine) -> None:
    """Stock gdb on the UEFI machine: `break *$lstar` while the guest makes
    system calls stops at entry_SYSCALL_64; the system registers read."""
    from test_gdb import gdb, guest_loop, kallsyms, show, value

    syms = kallsyms(uefi_hv, "entry_SYSCALL_64")
    with guest_loop(uefi_hv, "cat /proc/version"):
        out = gdb(
            uefi_hv,
            show("LSTAR", "$lstar"),
            "break *$lstar",
            "continue",
            show("PC", "$pc"),
            show("CR3", "$cr3"),
            show("EFER", "$efer"),
            "delete",
            "detach",
        )
    assert value(out, "LSTAR") == syms["entry_SYSCALL_64"]
    assert value(out, "PC") == syms["entry_SYSCALL_64"], out
    assert value(out, "CR3") and value(out, "EFER") & 0x500 == 0x500
    assert uefi_hv.run("echo alive").output.strip() == "alive"


def test_client_breakpoint_and_process_finder(uefi_hv: Machine) -> None:
    """The Python client on the UEFI machine: a breakpoint on the syscall
    entry is hit, and the paper's process finder finds a process by name."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "examples" / "process_finder.py"
    spec = importlib.util.spec_from_file_location("process_finder", path)
    assert spec is not None and spec.loader is not None
    finder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(finder)
    job = uefi_hv.run_background(
        "printf '#!/bin/sh\\nsleep 15\\n' > /tmp/rfxefi && chmod +x /tmp/rfxefi && "
        "/tmp/rfxefi; echo done"
    )
    vm = VM(CPUFamily.AMD, f"127.0.0.1:{uefi_hv.free_ctrl_port()}").attach()
    try:
        lstar = vm.cpu.sr.lstar
        vm.cpu.breakpoints.add_hw_insn(lstar, name="entry")
        assert vm.resume(timeout=60), "no system call reached the breakpoint"
        assert vm.event is not None and vm.event.reason is StopReason.HW_BREAKPOINT
        assert vm.cpu.gpr.rip == lstar
        vm.cpu.breakpoints.remove("entry")
        task, _ = finder.find_process(vm, "rfxefi")
        assert task.comm == "rfxefi" and task.cr3
    finally:
        vm.detach()
    assert job.result().output.endswith("done\n")
