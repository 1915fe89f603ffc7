"""Volatility 3 with no debug symbols: our ISF (from the kernel's BTF and
kallsyms) and our live layer give the processes `ps` shows in the guest."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ramooflax import VM, CPUFamily
from ramooflax.errors import ClientError
from ramooflax.lab.machine import Machine
from ramooflax.os.linux import Linux

pytestmark = pytest.mark.lab
vol = pytest.importorskip("volatility3", reason="the forensics extra (volatility3) is needed")


def attach(machine: Machine) -> VM:
    return VM(CPUFamily.AMD, f"127.0.0.1:{machine.free_ctrl_port()}").attach()


def guest_ps(machine: Machine) -> dict[int, tuple[str, int]]:
    out = machine.run("cat /proc/[0-9]*/stat 2>/dev/null; echo").output
    return {int(m.group(1)): (m.group(2), int(m.group(3)))
            for m in re.finditer(r"^(\d+) \((.*?)\) \S (\d+)", out, re.MULTILINE)}  # fmt: skip


def vol_rows(text: str) -> dict[int, tuple[str, int]]:
    """pid -> (comm, ppid) from pslist/pstree's text grid (OFFSET PID TID PPID COMM ...)."""
    rows = {}
    for line in text.splitlines():
        cols = line.lstrip("* ").split("\t")
        if len(cols) > 4 and cols[1].isdigit() and cols[3].isdigit():
            rows[int(cols[1])] = (cols[4], int(cols[3]))
    return rows


@pytest.fixture(scope="module")
def isf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("isf")


@pytest.mark.parametrize("name", ["hv_amd64", "hv_amd64_bpo"])
def test_pslist_pstree_lsmod_live(name: str, request: pytest.FixtureRequest,
                                  isf_dir: Path) -> None:  # fmt: skip
    from ramooflax.plugins.volatility import run, write_isf

    machine: Machine = request.getfixturevalue(name)
    before = guest_ps(machine)
    modules = machine.run("cat /proc/modules").output.split()[::6]
    vm = attach(machine)
    try:
        linux = Linux.from_memory(vm)
        isf = isf_dir / f"{name}.json"
        doc = write_isf(linux, isf, progress=False)
        assert "task_struct" in doc["user_types"] and "init_task" in doc["symbols"]
        pslist = vol_rows(run(linux, "linux.pslist", [], isf))
        pstree = vol_rows(run(linux, "linux.pstree", [], isf))
        lsmod = run(linux, "linux.lsmod", [], isf)
    finally:
        vm.detach()
    after = guest_ps(machine)
    stable = {p: v for p, v in before.items() if after.get(p) == v}
    assert len(stable) > 20
    for rows in (pslist, pstree):
        for pid, (comm, ppid) in stable.items():
            assert pid in rows, f"{pid} {comm} not in Volatility's list {sorted(rows)}"
            assert comm[:15].startswith(rows[pid][0]) and rows[pid][1] == ppid, (rows[pid], comm)
    listed = [ln.split("\t")[1] for ln in lsmod.splitlines() if ln.startswith("0x")]
    assert listed == modules


def test_the_686_kernel_gets_a_clear_answer(hv_i386: Machine) -> None:
    """Debian's 686 kernel has no BTF: no types, so no ISF; said so, not a traceback."""
    from ramooflax.plugins.volatility import run

    vm = attach(hv_i386)
    try:
        with pytest.raises(ClientError, match="no BTF"):
            run(Linux.from_memory(vm), "linux.pslist", [])
    finally:
        vm.detach()


def test_vol_cli(hv_amd64: Machine) -> None:
    done = subprocess.run([sys.executable, "-m", "ramooflax", "vol",
                           f"127.0.0.1:{hv_amd64.free_ctrl_port()}", "linux.pslist"],
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\tinit\t" in done.stdout and "\tsh\t" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "ramooflax", "vol",
                          f"127.0.0.1:{hv_amd64.free_ctrl_port()}", "linux.nosuch"],
                         capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert bad.returncode == 2 and "linux.pslist" in bad.stderr and "Traceback" not in bad.stderr
