"""Ordinary machine shapes the VMM must boot Linux on (issue 8, items 7-9):
a CPU model with 5-level paging and PKU (`-cpu max`), one without 1 GiB
pages (`-cpu qemu64`: the nested tables are built from 2 MiB pages), and a
64-bit device BAR above 512 GiB (QEMU's ivshmem-plain with a 4 GiB memory
backend, which SeaBIOS places high), and a q35 board with an IOMMU doing
interrupt remapping, where Linux runs its local APICs in x2APIC mode and
SeaBIOS makes 32-bit calls through SMM.

Each machine is booted once, one core unless the shape is about the cores,
and powered off at the end of its test.
"""

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ramooflax import VM, CPUFamily
from ramooflax.lab.machine import Machine, MachineSpec

pytestmark = pytest.mark.lab

CR4_LA57 = 1 << 12  # AMD APM Vol.2 §3.1.3 (CR4), §5.3.1 (5-level paging)
CR4_PKE = 1 << 22
IVSHMEM = ("0x1af4", "0x1110")  # vendor, device of QEMU's ivshmem (docs/specs/ivshmem-spec)


def boot(tmp_path: Path, name: str, **spec: object) -> Iterator[Machine]:
    machine = Machine(
        MachineSpec(
            **{"guest": "amd64", "build": True, "smp": 1, "log": tmp_path / f"{name}.log", **spec}
        )  # type: ignore[arg-type]
    )
    try:
        machine.start()
        machine.wait_ready(600)
        yield machine
    finally:
        machine.stop()
        log = machine.log_text() if machine.config else ""
        assert "vmm: halted" not in log, log[-2000:]


def cr4(machine: Machine) -> int:
    with VM(CPUFamily.AMD, f"127.0.0.1:{machine.free_ctrl_port()}") as vm:
        return vm.cpu.sr.cr4


@pytest.fixture
def cpu_max(qemu_ok: None, tmp_path: Path) -> Iterator[Machine]:
    yield from boot(tmp_path, "cpu-max", cpu="max")


@pytest.fixture
def cpu_qemu64(qemu_ok: None, tmp_path: Path) -> Iterator[Machine]:
    yield from boot(tmp_path, "cpu-qemu64", cpu="qemu64")


@pytest.fixture
def high_bar(qemu_ok: None, tmp_path: Path) -> Iterator[Machine]:
    devices = ("-object", "memory-backend-ram,id=shm,size=4G",
               "-device", "ivshmem-plain,memdev=shm")  # fmt: skip
    yield from boot(tmp_path, "high-bar", qemu_args=devices)


def no_svm(machine: Machine) -> str:
    flags = machine.run("grep -m1 '^flags' /proc/cpuinfo").output
    assert " svm" not in flags, flags
    return flags


def test_linux_on_cpu_max_uses_5_level_paging(cpu_max: Machine) -> None:
    """The guest kernel turns LA57 on and runs processes; the VMM's guest
    page walk reads through the 5 levels: the client's virtual reads, and
    the CR3 writes a filter makes exit (decoded from the bytes at rip)."""
    flags = no_svm(cpu_max)
    assert " la57" in flags, "-cpu max offers LA57 to the VM"
    assert cr4(cpu_max) & CR4_LA57, "the kernel runs with 5-level paging under the hv"
    assert cpu_max.run("seq 1 2000 | md5sum").status == 0
    job = cpu_max.run_background("for i in 1 2 3 4 5 6; do ls / >/dev/null; done; echo ok")
    seen: list[int] = []
    with VM(CPUFamily.AMD, f"127.0.0.1:{cpu_max.free_ctrl_port()}") as vm:
        rip = vm.cpu.gpr.rip
        assert len(vm.mem.vread(rip, 16)) == 16  # through the 5-level tables
        vm.cpu.filter_write_cr(3, lambda vm: seen.append(int(vm.event.val)) or len(seen) >= 5)
        assert vm.resume(timeout=120), f"{len(seen)} CR3 writes in 120 s"
        vm.cpu.release_write_cr(3)
    assert job.result().output.endswith("ok\n")
    assert "cr3_write" in cpu_max.hv_summary() and len(set(seen)) >= 2


def test_linux_on_cpu_qemu64_without_1g_pages(cpu_qemu64: Machine) -> None:
    """No pdpe1gb: setup builds the nested tables from 2 MiB pages, sized
    for the E820 map's RAM and holes, and the kernel boots."""
    flags = no_svm(cpu_qemu64)
    assert " pdpe1gb" not in flags
    assert cpu_qemu64.run("seq 1 2000 | md5sum").status == 0
    assert "exits" in cpu_qemu64.hv_summary()


@pytest.fixture
def q35_x2apic(qemu_ok: None, tmp_path: Path) -> Iterator[Machine]:
    board = ("-machine", "q35", "-device", "intel-iommu,intremap=on,eim=on")
    yield from boot(tmp_path, "q35-x2apic", cpu="EPYC,+x2apic", smp=2, qemu_args=board)


def test_q35_with_x2apic_boots_every_core(q35_x2apic: Machine) -> None:
    """SeaBIOS's SMM calls on q35 rewrite the saved EFER (the VMM's SVME bit
    is put back, no fault for the VM); Linux enables x2APIC with interrupt
    remapping and starts its AP through the x2APIC ICR (MSR 830h), which
    the VMM emulates; a workload pinned to that core gives the right md5."""
    m = q35_x2apic
    dmesg = m.run("dmesg | grep -e 'x2apic enabled' -e 'smpboot: Total'").output
    assert "x2apic enabled" in dmesg and "Total of 2 processors" in dmesg, dmesg
    assert m.run("nproc; grep -c -w svm /proc/cpuinfo").output.split() == ["2", "0"]
    seq = "".join(f"{i}\n" for i in range(1, 30001)).encode()
    out = m.run("taskset -c 1 seq 1 30000 | md5sum").output
    assert out == f"{hashlib.md5(seq).hexdigest()}  -\n"
    log = m.log_text()
    assert "cpu1: start-up IPI" in log and "broke a rule of the CPU" not in log, log[-2000:]


def test_a_bar_above_512_gib_is_reachable(high_bar: Machine) -> None:
    """The 4 GiB ivshmem BAR lands above 512 GiB; the VM reads back what it
    writes there, through the nested tables, and the VMM stays up."""
    out = high_bar.run(
        "for d in /sys/bus/pci/devices/*; do echo $d $(cat $d/vendor) $(cat $d/device); done"
    ).output
    dev = next(
        (line.split()[0] for line in out.splitlines() if tuple(line.split()[1:3]) == IVSHMEM),
        None,
    )
    assert dev, out
    resources = high_bar.run(f"cat {dev}/resource").output.split("\n")
    start, end, _ = (int(x, 16) for x in resources[2].split())  # BAR2: the shared memory
    assert end - start + 1 == 4 << 30 and start >= 512 << 30, f"BAR2 {start:#x}-{end:#x}"
    high_bar.run(f"echo 1 > {dev}/enable")
    addr = start + 0x12340
    high_bar.run(f"busybox devmem {addr:#x} 32 0x5eed1e55")
    back = high_bar.run(f"busybox devmem {addr:#x} 32").output.strip()
    assert back.lower() == "0x5eed1e55", back
    assert not re.search(r"unhandled|halted", high_bar.log_text())
