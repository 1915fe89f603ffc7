"""Every core inside the VM: each vCPU boots, sees no SVM, cannot reach the
VMM's memory, runs the same workload as the bare machine, goes offline and
online again, and is a gdb thread.

The 2-core machines are the session's default ones; the 4-core ones are
booted one at a time for this module and powered off after it.
"""

import hashlib
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ramooflax import VM, CPUFamily, StopReason
from ramooflax.lab import facts
from ramooflax.lab.machine import Machine

pytestmark = pytest.mark.lab

GDB = shutil.which("gdb")
# (machine, arch, cores, under the hypervisor)
MACHINES = [
    ("hv_amd64", "amd64", 2, True),
    ("nohv_amd64", "amd64", 2, False),
    ("hv_i386", "i386", 2, True),
    ("nohv_i386", "i386", 2, False),
    ("hv_amd64_4", "amd64", 4, True),
    ("nohv_amd64_4", "amd64", 4, False),
    ("hv_i386_4", "i386", 4, True),
    ("nohv_i386_4", "i386", 4, False),
]
FOUR = {name for name, _, cores, _ in MACHINES if cores == 4}
PRINTK = re.compile(r"^\[\s*\d+\.\d+\] ")  # a kernel message on the console, amid the output
WORKLOAD = "seq 1 30000 | md5sum; i=0; while [ $i -lt 60 ]; do /bin/true; i=$((i+1)); done; echo $i"


@pytest.fixture(scope="module")
def machines(lab_pool) -> Iterator[dict[str, Machine]]:  # type: ignore[no-untyped-def]
    """Boots on demand (get(name)); the 4-core machines are powered off at
    the end of the module, the others stay for the session."""
    booted: dict[str, Machine] = {}

    class Get(dict[str, Machine]):
        def __getitem__(self, name: str) -> Machine:
            if name in booted and name not in lab_pool.machines:
                booted.pop(name)  # powered off after its last test: boot it again
            return booted[name] if name in booted else self.__missing__(name)

        def __missing__(self, name: str) -> Machine:
            for other in [n for n in booted if n in FOUR and n != name]:
                lab_pool.stop(other)  # one 4-core machine at a time
                booted.pop(other)
            booted[name] = lab_pool.get(name)
            return booted[name]

    yield Get()
    for name in list(booted):
        if name in FOUR:
            lab_pool.stop(name)


def by_machine(names: list[str]) -> list[object]:
    return [pytest.param(m, id=m) for m in names]


ALL = [name for name, *_ in MACHINES]
HV = [name for name, _, _, hv in MACHINES if hv]


def cores(name: str) -> int:
    return next(c for n, _, c, _ in MACHINES if n == name)


def arch(name: str) -> str:
    return next(a for n, a, _, _ in MACHINES if n == name)


@pytest.mark.parametrize("name", by_machine(ALL))
def test_every_core_boots(name: str, machines: dict[str, Machine]) -> None:
    machine = machines[name]
    n = cores(name)
    assert machine.run("nproc").output.strip() == str(n)
    cpuinfo = machine.run("cat /proc/cpuinfo").output
    flags = re.findall(r"^flags\s*:(.*)$", cpuinfo, re.MULTILINE)
    assert len(flags) == n, cpuinfo[:500]
    with_svm = [i for i, f in enumerate(flags) if " svm" in f]
    if name in HV:
        assert with_svm == [], f"processors {with_svm} show svm under the hypervisor"
        summary = machine.hv_summary()
        assert f"{n} vCPUs" in summary, summary
        mode = "long" if arch(name) == "amd64" else "prot32"
        assert summary.count(f"mode {mode}") == n, summary
    else:
        assert with_svm == list(range(n)), "the bare (emulated) machine offers svm on each core"


@pytest.mark.parametrize("name", by_machine(HV))
def test_no_core_reaches_the_vmm(name: str, machines: dict[str, Machine]) -> None:
    """A process pinned to each CPU reads all ones from the hidden range, and
    its write there is dropped and logged, with the vCPU that made it."""
    machine = machines[name]
    hidden = facts.vmm_range(machine.log_text() + machine.hv_summary())
    for k in range(cores(name)):
        addr = hidden.start + 0x1000 * (k + 1)
        read = machine.run(f"taskset -c {k} busybox devmem {addr:#x} 32").output.strip()
        assert read.lower() == "0xffffffff", f"cpu{k} read {read} in the VMM's range"
        machine.run(f"taskset -c {k} busybox devmem {addr:#x} 32 0x5a5a5a5a")
        again = machine.run(f"taskset -c {k} busybox devmem {addr:#x} 32").output.strip()
        assert again.lower() == "0xffffffff", f"cpu{k}'s write landed: {again}"
        assert f"cpu{k}: VM write of hidden VMM memory at {addr:#x}" in machine.log_text()


# The verdicts, not the calibration: how Linux calibrates (PIT, HPET) goes
# by how fast the emulator answers the PIT, natively as under the hv.
TSC_NEWS = re.compile(r"tsc.*(unstable|synchron|warp|adjust)|clocksource: Switched", re.IGNORECASE)


def tsc_verdicts(machine: Machine) -> list[str]:
    """What the kernel concluded of its TSCs at boot (the synchronization
    check across CPUs, TSC_ADJUST, the clocksource it chose), with the
    measured numbers masked."""
    out = machine.run("dmesg").output
    lines = [PRINTK.sub("", line) for line in out.splitlines() if TSC_NEWS.search(line)]
    return [re.sub(r"\d+(\.\d+)?", "N", line) for line in lines]


@pytest.mark.parametrize("arch_name", ["amd64", "i386"])
def test_the_tsc_checks_say_the_same(arch_name: str, machines: dict[str, Machine]) -> None:
    """TSC rebasing keeps the VM's TSCs as consistent across its vCPUs as
    they are without the hypervisor: the guest's own TSC checks (Linux's
    synchronization test between CPUs) come to the same verdicts under it
    as on the bare machine."""
    under = tsc_verdicts(machines[f"hv_{arch_name}"])
    bare = tsc_verdicts(machines[f"nohv_{arch_name}"])
    assert under, "the kernel said nothing of its TSC"
    assert under == bare, f"under the hv: {under}\nwithout: {bare}"


def workload_answer() -> str:
    """What WORKLOAD prints on a correct machine: md5sum's line, then 60."""
    digest = hashlib.md5("".join(f"{i}\n" for i in range(1, 30001)).encode()).hexdigest()
    return f"{digest}  -\n60\n"


@pytest.mark.parametrize("name", by_machine(ALL))
def test_workload_on_every_core(name: str, machines: dict[str, Machine]) -> None:
    """The workload's right answer, with and without the hypervisor, the work
    spread over every CPU (one pinned copy each, all at once)."""
    n = cores(name)
    cmd = " & ".join(f"(taskset -c {k} sh -c '{WORKLOAD}' > /tmp/w{k})" for k in range(n))
    cmd += "; wait; cat " + " ".join(f"/tmp/w{k}" for k in range(n))
    result = machines[name].run(cmd, timeout=600)
    assert result.status == 0, result
    output = "".join(
        line for line in result.output.splitlines(keepends=True) if not PRINTK.match(line)
    )
    assert output == workload_answer() * n, result.output


def gdb(machine: Machine, *commands: str, timeout: float = 180) -> str:
    assert GDB is not None
    argv = [GDB, "-nx", "-batch", "-ex", "set pagination off", "-ex", "set remotetimeout 20",
            "-ex", f"target remote 127.0.0.1:{machine.free_ctrl_port()}"]  # fmt: skip
    for cmd in commands:
        argv += ["-ex", cmd]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    print(done.stdout + done.stderr)
    return done.stdout + done.stderr


@pytest.mark.machines("hv_amd64_4")
@pytest.mark.skipif(GDB is None, reason="gdb is not installed")
def test_gdb_sees_every_vcpu(machines: dict[str, Machine]) -> None:
    """info threads lists the 4 vCPUs; thread 3's cr3 is its own; a
    hardware breakpoint on the syscall entry hit by a process pinned to CPU 3
    stops with thread 3 current; stepi on it leaves the others where they
    are."""
    machine = machines["hv_amd64_4"]
    first = ["info threads", "thread 3", 'printf "CR3=%#lx\\n", $cr3']
    out = gdb(machine, *first, 'printf "LSTAR=%#lx\\n", $lstar', "detach")
    threads = re.findall(r"Thread (\d+) \(CPU (\d+): ", out)
    assert [t for t, _ in threads] == ["1", "2", "3", "4"], out
    lstar = int(re.search(r"LSTAR=(0x[0-9a-f]+)", out).group(1), 16)  # type: ignore[union-attr]
    assert re.search(r"CR3=0x[0-9a-f]+", out), out

    # A process on CPU 3 (thread 4 is CPU 3) makes system calls in a loop.
    loop = "taskset -c 3 sh -c 'while :; do cat /proc/version; done' >/dev/null 2>&1 & echo $!"
    pid = machine.run(loop).output.split()[-1]
    hit = [
        f"hbreak *{lstar:#x} if $_thread == 4",
        "continue",
        "info threads",
        'printf "CPU=%d\\n", $_thread',
    ]
    step = ["thread 1", 'printf "R1A=%#lx\\n", $rip', "thread 4", "stepi"]
    after = ["thread 1", 'printf "R1B=%#lx\\n", $rip', "delete", "detach"]
    try:
        out = gdb(machine, *hit, *step, *after)
    finally:
        machine.run(f"kill {pid}")
    assert re.search(r"\[Switching to Thread 4\]|Thread 4 .*hit", out), out
    assert "CPU=4" in out, out
    rip_a = re.search(r"R1A=(0x[0-9a-f]+)", out)
    rip_b = re.search(r"R1B=(0x[0-9a-f]+)", out)
    assert rip_a and rip_b and rip_a.group(1) == rip_b.group(1), "thread 1 ran during a stepi"
    assert machine.run("echo alive").output == "alive\n"


def attach(machine: Machine) -> VM:
    return VM(CPUFamily.AMD, f"127.0.0.1:{machine.free_ctrl_port()}").attach()


def busy(machine: Machine, n: int, body: str) -> list[str]:
    """One background loop pinned to each of the n CPUs; their pids."""
    pids = []
    for k in range(n):
        job = f"taskset -c {k} sh -c 'while :; do {body}; done' >/dev/null 2>&1 & echo $!"
        pids.append(machine.run(job).output.split()[-1])
    return pids


@pytest.mark.machines("hv_amd64_4")
def test_python_sees_every_vcpu(machines: dict[str, Machine]) -> None:
    """vm.cpus lists the 4 vCPUs, each with its own registers (Hg), status
    and memory view; vm.cpu is the one that stopped, named by the event."""
    machine = machines["hv_amd64_4"]
    vm = attach(machine)
    try:
        assert len(vm.cpus) == 4 and [c.index for c in vm.cpus] == [0, 1, 2, 3]
        assert vm.event is not None and vm.event.vcpu == vm.cpu.index
        table = vm.cpus.table().splitlines()
        assert [line[2:].split(":")[0] for line in table] == [f"CPU {k}" for k in range(4)]
        assert table[vm.cpu.index].startswith("* ")
        per_cpu = set()
        for cpu in vm.cpus:
            st = cpu.status()
            assert st.thread == cpu.index + 1 and st.threads == 4
            assert cpu.sr.cr0 & 0x80000001 == 0x80000001, cpu  # every vCPU pages
            assert st.rip == cpu.gpr.rip and st.cr3 == cpu.sr.cr3, cpu
            assert f"ring {st.cpl}" in cpu.describe()
            # Linux's per-CPU area: GS base in the kernel, the swapped one in a process.
            per_cpu.add(cpu.sr.gs_base if st.cpl == 0 else cpu.sr.kernel_gs_base)
            # Its memory view translates its own rip in the kernel half.
            if cpu.gpr.rip >= 0xFFFF800000000000:
                assert cpu.mem.translate(cpu.gpr.rip)
        assert len(per_cpu) == 4, [hex(g) for g in per_cpu]
        sysregs = vm.cpus.sr_table().splitlines()
        assert sysregs[0].split() == ["vCPU", "0", "vCPU", "1", "vCPU", "2", "vCPU", "3"]
        assert any(row.split()[0] == "cr3" and len(row.split()) == 5 for row in sysregs)
    finally:
        vm.detach()
    assert machine.run("echo alive").output == "alive\n"


DETACHES = 40
STALL_S = 5  # well under ctrl_timeout (10 s): the time a stopped VM would wait


@pytest.mark.machines("hv_amd64_4")
def test_no_vcpu_stops_the_vm_after_a_detach(machines: dict[str, Machine]) -> None:
    """A client's first bytes can reach two vCPUs' polls at once, each then
    taking them for the start of a packet; the one that waited while the
    other served must not stop the VM again once the session is over (it
    would serve nobody until ctrl_timeout). Attach and detach, again and
    again, with every vCPU exiting; after each detach the guest answers."""
    machine = machines["hv_amd64_4"]
    port = machine.free_ctrl_port()
    mark = len(machine.log_text())
    pids = busy(machine, 4, "cat /proc/uptime > /dev/null")  # exits on every vCPU
    try:
        for i in range(DETACHES):
            with VM(CPUFamily.AMD, f"127.0.0.1:{port}", keepalive=None) as vm:
                assert vm.status().threads == 4
            t0 = time.monotonic()
            assert machine.run(f"echo pass{i}", timeout=30).output == f"pass{i}\n"
            took = time.monotonic() - t0
            assert took < STALL_S, f"detach {i}: the guest answered after {took:.1f} s"
    finally:
        machine.run(f"kill {' '.join(pids)}")
    log = machine.log_text()[mark:]
    assert "timeout: no packet while the VM was stopped" not in log, log[-3000:]


def exits_of(summary: str, cpu: int, name: str) -> int:
    """One vCPU's count of one exit in the `qRfx.Exits` summary (0 if none)."""
    section = re.search(rf"exits: \d+ total on cpu{cpu}\n((?:  .*\n)*)", summary)
    assert section, summary
    found = re.search(rf"^\s+{name}\s+(\d+)$", section.group(1), re.MULTILINE)
    return int(found.group(1)) if found else 0


TSCPAIR_BASE = 0x133F0000


def tsc_skew(machine: Machine, tries: int = 5) -> tuple[int, int, int]:
    """(cpu1's TSC minus cpu0's, and how far off that can be, in cpu0's
    ticks; the ticks of 50 ms), by programs/tscpair.c: of `tries` runs, the
    one whose moves between the CPUs took least (cpu1's reading lies
    somewhere between cpu0's two)."""
    runs = []
    for _ in range(tries):
        t0, t1, t2, rate = (int(x, 16) for x in machine.run("/tmp/tscpair").output.split())
        runs.append((t2 - t0, t1 - (t0 + t2) // 2, rate))
    span, skew, rate = min(runs)
    return skew, span // 2, rate


def test_an_idle_vcpu_stays_halted_through_the_stops(
    machines: dict[str, Machine], guest_program: Callable[[str, int], Any]
) -> None:
    """cpu0 hits a breakpoint again and again while cpu1 idles. At rest in
    the HLT of its idle loop, cpu1 is stopped already: it is not kicked out
    of the VM at each stop (its NMI exits stay few), nor woken at each
    resume. QEMU's monitor then shows it halted in the VM while the client
    holds the VM; when the client reads its registers it is parked first,
    and its rip is just past that HLT. Its TSC hides the stops as cpu0's
    does: the two stay in step (programs/tscpair.c, before and after)."""
    from ramooflax.lab import cpustate
    from ramooflax.lab.rawgdb import RawGdb

    machine = machines["hv_amd64"]
    machine.put_file("/tmp/tscpair", guest_program("tscpair", TSCPAIR_BASE).binary)
    skew_before, error_before, rate = tsc_skew(machine)
    assert machine.qemu_monitor is not None and machine.config is not None
    vmm_elf = machine.config.hv[2] if machine.config.hv else None

    def cpu1() -> str:
        states = cpustate.cpu_states(machine.qemu_monitor, machine.log_text(), vmm_elf)
        return states.splitlines()[1]

    stops = 1000
    (pid,) = busy(machine, 1, "echo x >/dev/null")  # system calls on cpu0 only
    try:
        with RawGdb.connect(machine.free_ctrl_port()) as g:
            g.interrupt()
            assert g.wait_stop(15).startswith(b"T02")
            g.noack()
            lstar = g.reg("lstar")
            nmi_before = exits_of(g.command("qRfx.Exits").decode(), 1, "nmi")
            assert g.command(f"Z0,{lstar:x},1") == b"OK"
            seen_halted = []
            for i in range(stops):
                g.send("c")
                assert g.wait_stop(30).startswith(b"T05"), f"stop {i}"
                if len(seen_halted) < 3 and i % 10 == 9:
                    line = cpu1()
                    if "halted" in line and line.endswith(" in the VM"):
                        assert g.command("Hg2") == b"OK"
                        rip = g.reg("rip")
                        after = cpu1()
                        assert "in the VMM at" in after, f"read while in the VM: {after}"
                        near = g.command(f"m{rip - 8:x},16")
                        assert near[14:16] == b"f4", (
                            f"{rip:#x} is not after a hlt: {near!r} {line} {after}"
                        )
                        seen_halted.append(rip)
            nmis = exits_of(g.command("qRfx.Exits").decode(), 1, "nmi") - nmi_before
            assert g.command(f"z0,{lstar:x},1") == b"OK"
            assert g.command("D") == b"OK"
    finally:
        machine.run(f"kill {pid}")
    assert nmis < stops * 3 // 4, f"cpu1 was kicked out of the VM {nmis} times in {stops} stops"
    assert seen_halted, "cpu1 was never seen halted in the VM while the VM was stopped"
    skew_after, error_after, _ = tsc_skew(machine)
    drift = skew_after - skew_before
    # 10 ms (1000 stops each off both TSCs, 10 us apiece), and what the
    # readings leave open. Each vCPU hiding its own time at rest drifted
    # 37-94 ms; the one window for all drifts about 1 ms.
    bound = rate // 5 + error_before + error_after
    assert abs(drift) < bound, (
        f"cpu1's TSC moved {drift / rate * 50:.1f} ms from cpu0's "
        f"(readings within {(error_before + error_after) / rate * 50:.1f} ms)"
    )


@pytest.mark.machines("hv_amd64_4")
def test_cr3_filter_sees_every_vcpu(machines: dict[str, Machine]) -> None:
    """A CR3-write filter runs for writes made on each of the 4 vCPUs, and
    each event names the vCPU whose registers vm.cpu then shows."""
    machine = machines["hv_amd64_4"]
    pids = busy(machine, 4, "/bin/true")
    seen: dict[int, int] = {}
    mismatched: list[str] = []
    vm = attach(machine)
    try:

        def on_cr3(vm: VM) -> bool:
            assert vm.event is not None and vm.event.vcpu is not None
            seen[vm.event.vcpu] = seen.get(vm.event.vcpu, 0) + 1
            if vm.cpu.index != vm.event.vcpu or vm.cpu.sr.cr3 & ~0xFFF != vm.event.val & ~0xFFF:
                mismatched.append(f"{vm.event!r}: vm.cpu {vm.cpu.index} cr3 {vm.cpu.sr.cr3:#x}")
            return len(seen) == 4

        vm.cpu.filter_write_cr(3, on_cr3)
        assert vm.resume(timeout=180), f"only vCPUs {sorted(seen)} wrote cr3 in 180 s"
        vm.cpu.release_write_cr(3)
    finally:
        vm.detach()
        machine.run("kill " + " ".join(pids))
    assert sorted(seen) == [0, 1, 2, 3] and not mismatched, (seen, mismatched[:3])


@pytest.mark.machines("hv_amd64_4")
def test_breakpoint_reports_its_vcpu(machines: dict[str, Machine]) -> None:
    """A hardware breakpoint on the syscall entry, hit by a process pinned to
    CPU 2: the stop names vCPU 2, whose rip is the entry."""
    machine = machines["hv_amd64_4"]
    vm = attach(machine)
    try:
        lstar = vm.cpu.sr.lstar
    finally:
        vm.detach()
    pids = busy(machine, 1, "cat /proc/version")  # on CPU 0: the others stay quiet
    pid2 = machine.run(
        "taskset -c 2 sh -c 'while :; do cat /proc/version; done' >/dev/null 2>&1 & echo $!"
    ).output.split()[-1]
    hits: dict[int, int] = {}
    vm = attach(machine)
    try:

        def on_entry(vm: VM) -> bool:
            assert vm.event is not None and vm.event.vcpu is not None
            hits[vm.event.vcpu] = hits.get(vm.event.vcpu, 0) + 1
            return vm.event.vcpu == 2

        vm.cpu.breakpoints.add_hw_insn(lstar, on_entry, "syscall entry")
        assert vm.resume(timeout=180), f"no hit on vCPU 2 in 180 s: {hits}"
        assert vm.event is not None and vm.event.reason is StopReason.HW_BREAKPOINT
        assert vm.event.vcpu == 2 and vm.cpu.index == 2
        assert vm.cpu.gpr.rip == lstar and vm.cpus[2].gpr.rip == lstar
        assert vm.cpus[2].status().rip == lstar
        vm.cpu.breakpoints.remove_all()
    finally:
        vm.detach()
        machine.run(f"kill {pid2} " + " ".join(pids))
    print(f"syscall-entry hits per vCPU: {hits}")
    assert machine.run("echo alive").output == "alive\n"


@pytest.mark.machines("hv_amd64_4")
def test_step_one_vcpu(machines: dict[str, Machine]) -> None:
    """vm.cpus[k].singlestep() runs vCPU k alone: the others' rips stay."""
    machine = machines["hv_amd64_4"]
    pids = busy(machine, 4, ":")
    vm = attach(machine)
    try:
        other = (vm.cpu.index + 1) % 4
        before = [cpu.gpr.rip for cpu in vm.cpus]
        vm.cpus[other].singlestep()
        assert vm.event is not None and vm.event.reason is StopReason.SINGLESTEP
        assert vm.event.vcpu == other and vm.cpu.index == other
        after = [cpu.gpr.rip for cpu in vm.cpus]
        assert [a for k, a in enumerate(after) if k != other] == [
            b for k, b in enumerate(before) if k != other
        ], (before, after)
    finally:
        vm.detach()
        machine.run("kill " + " ".join(pids))


@pytest.mark.machines("hv_amd64_4")
def test_process_finder_on_four_cores(machines: dict[str, Machine]) -> None:
    """The paper's annex, unchanged, on the 4-core guest."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "process_finder.py"
    spec = importlib.util.spec_from_file_location("process_finder", path)
    assert spec is not None and spec.loader is not None
    finder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(finder)
    machine = machines["hv_amd64_4"]
    job = machine.run_background(
        "printf '#!/bin/sh\\nsleep 15\\n' > /tmp/rfxsmp4 && chmod +x /tmp/rfxsmp4 && "
        "taskset -c 3 /tmp/rfxsmp4; echo done"
    )
    vm = attach(machine)
    try:
        task, _ = finder.find_process(vm, "rfxsmp4")
        assert task.comm == "rfxsmp4" and task.cr3
    finally:
        vm.detach()
    assert job.result().output.endswith("done\n")


# Last of the 4-core machine's tests: a hang here leaves that guest unusable.
@pytest.mark.parametrize("name", ["hv_amd64", "hv_amd64_4"])
def test_cpu_offline_online(name: str, machines: dict[str, Machine], lab_pool) -> None:  # type: ignore[no-untyped-def]
    """20 cycles of offline/online for each AP: it comes back and runs."""
    machine = machines[name]
    n = cores(name)
    script = (
        f"for k in $(seq 1 {n - 1}); do for i in $(seq 1 20); do "
        "echo 0 > /sys/devices/system/cpu/cpu$k/online || exit 1; "
        "echo 1 > /sys/devices/system/cpu/cpu$k/online || exit 2; "
        "taskset -c $k true || exit 3; done; done; cat /sys/devices/system/cpu/online"
    )
    try:
        result = machine.run(script, timeout=300)
    except Exception:
        lab_pool.stop(name)  # a hung guest: the next test boots a fresh one
        raise
    assert result.status == 0 and result.output.strip() == f"0-{n - 1}", result
    # Each cycle went through the emulated INIT and start-up IPI.
    log = machine.log_text()
    for k in range(1, n):
        assert log.count(f"cpu{k}: start-up IPI") >= 21, f"cpu{k} was not restarted by SIPI"
