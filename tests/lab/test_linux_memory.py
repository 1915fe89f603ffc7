"""Linux awareness from the guest's memory alone, on three kernels: Debian 12's
6.1 (amd64, kallsyms before 6.3's reordering, BTF), bookworm-backports' (6.12
today: zstd vmlinuz, the 6.3+ kallsyms order) and the 686 kernel (no BTF, no
CONFIG_KALLSYMS_ALL: init_task from the export table). The answers are
checked against the guest's own /proc, and against the kernel package."""

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ramooflax import VM, CPUFamily
from ramooflax.lab.machine import Machine
from ramooflax.os.linux import Linux, LinuxError

pytestmark = pytest.mark.lab

GUESTS = ["hv_amd64", "hv_amd64_bpo", "hv_i386"]


def attach(machine: Machine) -> VM:
    return VM(CPUFamily.AMD, f"127.0.0.1:{machine.free_ctrl_port()}").attach()


def guest_procs(machine: Machine) -> dict[int, tuple[str, int, str]]:
    """pid -> (comm, ppid, state) from the guest's /proc/PID/stat."""
    out = machine.run("cat /proc/[0-9]*/stat 2>/dev/null; echo").output
    procs = {}
    for m in re.finditer(r"^(\d+) \((.*?)\) (\S) (\d+)", out, re.MULTILINE):
        procs[int(m.group(1))] = (m.group(2), int(m.group(4)), m.group(3))
    return procs


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("linux-profiles")


@pytest.fixture(params=GUESTS)
def guest(request: pytest.FixtureRequest) -> Iterator[Machine]:
    yield request.getfixturevalue(request.param)


def test_from_memory_cold_then_warm(guest: Machine, cache: Path) -> None:
    """Cold: kallsyms and BTF read from the guest, a few MB, not the kernel's
    ~30 MB image. Warm (the cache keyed by banner): a banner check, then
    the task walk: the full process list in well under 2 s from attach."""
    before = guest_procs(guest)
    vm = attach(guest)
    try:
        cold = Linux.from_memory(vm, cache, refresh=True)
        assert cold.stats is not None
        print(f"cold: {cold.stats}; banner {cold.profile.banner[:70]!r}")
        assert 100_000 < cold.stats.bytes < 4_500_000
        ps = cold.ps()
    finally:
        vm.detach()
    after = guest_procs(guest)
    ours = {p.pid: p for p in ps}
    # Every process alive before and after our look is in our list, named alike.
    stable = {pid: v for pid, v in before.items() if after.get(pid, (None,))[0] == v[0]}
    assert stable, before
    for pid, (comm, ppid, _state) in stable.items():
        assert pid in ours, f"{pid} {comm} missing from {sorted(ours)}"
        # /proc adds a kworker's current work queue to its comm
        assert comm[:15].startswith(ours[pid].comm) and ours[pid].ppid == ppid, (ours[pid], comm)
    assert ours[1].comm == "init" and ours[0].comm.startswith("swapper")
    assert any(p.comm == "sh" and p.cr3 for p in ps)
    if cold.profile.has_btf:
        assert {p.uid for p in ps} == {0} and {p.state for p in ps} <= set("RSDIZTt")
        # States move on (a thread wakes up); most sleeping ones stay asleep.
        asleep = [pid for pid, v in stable.items() if v[2] in "SI"]
        same = [pid for pid in asleep if ours[pid].state == stable[pid][2]]
        assert len(same) >= 0.8 * len(asleep), [(ours[p].comm, ours[p].state) for p in asleep]

    start = time.monotonic()
    vm = attach(guest)
    try:
        warm = Linux.from_memory(vm, cache)
        ps2 = warm.ps()
        took = time.monotonic() - start
    finally:
        vm.detach()
    assert warm.stats is not None
    print(f"warm: profile {warm.stats}, attach to a full ps {took:.2f} s ({len(ps2)} processes)")
    assert warm.stats.bytes < 1024 and warm.profile == cold.profile
    # The warm path is cheap by what it reads (above); its time is a
    # benchmark's business (bench/attach_to_ps.py), not a test's.
    assert {p.pid for p in ps2} >= set(stable)


def test_package_and_memory_agree(guest: Machine, cache: Path) -> None:
    """The package path finds the guest's kernel by its banner (not the newest
    file), takes the slide from the entry's kallsyms address, and every
    symbol and offset equals the one found in memory."""
    vm = attach(guest)
    try:
        linux = Linux.from_package(vm, check=True)
        mem = Linux.from_memory(vm, cache)
        assert linux.slide == mem.slide and linux.text == mem.text
        assert not linux.profile.check_against(mem.profile)
        assert [t.pid for t in linux.tasks(with_cr3=False)] == [
            t.pid for t in mem.tasks(with_cr3=False)
        ]
    finally:
        vm.detach()


def test_a_wrong_package_is_refused(hv_amd64_bpo: Machine) -> None:
    """Another kernel's vmlinuz: a message saying so, not wrong answers."""
    vm = attach(hv_amd64_bpo)
    try:
        mine = Linux.from_package(vm).profile.source.split()[1]
        wrong = next(p for p in _vmlinuzes() if p.name != mine)
        with pytest.raises(LinuxError, match="not the guest's kernel"):
            Linux.from_package(vm, wrong)
    finally:
        vm.detach()


def _vmlinuzes() -> list[Path]:
    from ramooflax.lab import paths

    return sorted((paths.cache_dir() / "debs").glob("linux-image-*_amd64/boot/vmlinuz-*"))


@pytest.mark.parametrize("name", ["hv_amd64", "hv_amd64_bpo"])
def test_vmas_and_modules(name: str, request: pytest.FixtureRequest) -> None:
    """The shell's memory map is the guest's /proc/PID/maps: same ranges,
    permissions and files; the module list is /proc/modules (empty in the
    lab's initramfs guest: no module is loaded)."""
    machine: Machine = request.getfixturevalue(name)
    pid = int(machine.run("echo $$").output)
    maps = machine.run(f"cat /proc/{pid}/maps").output
    modules = machine.run("cat /proc/modules").output.split()
    vm = attach(machine)
    try:
        linux = Linux.from_memory(vm)
        sh = linux.task(pid)
        vmas = linux.vmas(sh)
        mods = linux.modules()
    finally:
        vm.detach()
    want = []
    for line in maps.splitlines():
        cols = line.split()
        lo, hi = (int(x, 16) for x in cols[0].split("-"))
        path = cols[5] if len(cols) > 5 and cols[5].startswith("/") else ""
        if cols[-1] in ("[vsyscall]",):
            continue
        want.append((lo, hi, cols[1], path))
    got = [(v.start, v.end, v.perms, v.file) for v in vmas]
    assert got == want, f"ours:\n{got}\n/proc/{pid}/maps:\n{maps}"
    assert any(v.file == "/bin/busybox" and "x" in v.perms for v in vmas)
    assert [m.name for m in mods] == modules[::6]


@pytest.mark.parametrize("name", ["hv_amd64", "hv_amd64_bpo"])
def test_ram_ranges_are_the_kernels(name: str, request: pytest.FixtureRequest) -> None:
    """dump --all's RAM: the kernel's own map (iomem_resource), as /proc/iomem
    lists its System RAM; the VMM's range is not in it."""
    from ramooflax.dump import ram_ranges
    from ramooflax.lab import facts

    machine: Machine = request.getfixturevalue(name)
    iomem = machine.run("cat /proc/iomem").output
    want = [
        (int(a, 16), int(b, 16) + 1)
        for a, b in re.findall(r"^([0-9a-f]+)-([0-9a-f]+) : System RAM$", iomem, re.MULTILINE)
    ]
    vm = attach(machine)
    try:
        ranges, source = ram_ranges(vm)
        vmm = facts.vmm_range(vm.exits())
    finally:
        vm.detach()
    assert ranges == want and "kernel" in source, (ranges, iomem)
    assert not any(s < vmm.end and vmm.start < e for s, e in ranges)


def test_process_finder_takes_a_vmlinuz_from_anywhere(
    hv_amd64_bpo: Machine, tmp_path: Path
) -> None:
    """examples/process_finder.py --vmlinuz with the guest's kernel copied
    outside the lab's cache under another name (the 6.12 zstd image): the
    file is taken as given and checked against the guest by its banner."""
    import shutil
    import subprocess
    import sys

    vm = attach(hv_amd64_bpo)
    try:
        mine = Linux.from_package(vm).profile.source.split()[1]
    finally:
        vm.detach()
    kernel = next(p for p in _vmlinuzes() if p.name == mine)
    copy = tmp_path / "the-guests-kernel"
    shutil.copyfile(kernel, copy)
    job = hv_amd64_bpo.run_background(
        "printf '#!/bin/sh\\nsleep 20\\n' > /tmp/rfxfar7 && chmod +x /tmp/rfxfar7 && "
        "/tmp/rfxfar7; echo done"
    )
    time.sleep(3)
    finder = Path(__file__).resolve().parents[2] / "examples" / "process_finder.py"
    port = hv_amd64_bpo.free_ctrl_port()
    done = subprocess.run(
        [sys.executable, str(finder), "rfxfar", f"127.0.0.1:{port}", "--vmlinuz", str(copy)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "found rfxfar7 pid=" in done.stdout, done.stdout
    assert job.result().output.endswith("done\n")
