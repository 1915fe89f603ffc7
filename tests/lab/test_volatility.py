"""Volatility 3 with no debug symbols: our ISF (from the kernel's BTF and
kallsyms) and our live layer give the processes `ps` shows in the guest; so
does stock `vol` on a LiME dump of the pages the live run used."""

import re
import subprocess
import sys
from dataclasses import dataclass
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
    return {
        int(m.group(1)): (m.group(2), int(m.group(3)))
        for m in re.finditer(r"^(\d+) \((.*?)\) \S (\d+)", out, re.MULTILINE)
    }


def vol_rows(text: str) -> dict[int, tuple[str, int]]:
    """pid -> (comm, ppid) from pslist/pstree's text grid (OFFSET PID TID PPID COMM ...)."""
    rows = {}
    for line in text.splitlines():
        cols = line.lstrip("* ").split("\t")
        if len(cols) > 4 and cols[1].isdigit() and cols[3].isdigit():
            rows[int(cols[1])] = (cols[4], int(cols[3]))
    return rows


@dataclass
class Live:
    """One attach: Volatility's live answers, the guest's own view around it, and
    the pages Volatility used, written as a sparse LiME dump."""

    stable: dict[int, tuple[str, int]]  # pid -> (comm, ppid), the same before and after
    modules: list[str]
    pslist: str
    pstree: str
    lsmod: str
    lime: Path
    isf_dir: Path  # <dir>/linux/vmlinux.json, for `vol -s`
    ranges: list[tuple[int, int]]


@pytest.fixture(scope="module", params=["hv_amd64", "hv_amd64_bpo"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Live:
    from ramooflax.plugins.volatility import PageRecord, run, save_lime, write_isf

    machine: Machine = request.getfixturevalue(request.param)
    out = tmp_path_factory.mktemp(f"vol-{request.param}")
    before = guest_ps(machine)
    modules = machine.run("cat /proc/modules").output.split()[::6]
    vm = attach(machine)
    try:
        linux = Linux.from_memory(vm)
        isf = out / "symbols" / "linux" / "vmlinux.json"
        isf.parent.mkdir(parents=True)
        doc = write_isf(linux, isf, progress=False)
        assert "task_struct" in doc["user_types"] and "init_task" in doc["symbols"]
        record = PageRecord()
        texts = [
            run(linux, p, [], isf, record) for p in ("linux.pslist", "linux.pstree", "linux.lsmod")
        ]
        ranges = save_lime(linux, record, out / "used.lime")
    finally:
        vm.detach()
    after = guest_ps(machine)
    stable = {p: v for p, v in before.items() if after.get(p) == v}
    assert len(stable) > 20
    return Live(stable, modules, *texts, out / "used.lime", out / "symbols", ranges)


def check_processes(live: Live, pslist: str, pstree: str, lsmod: str) -> None:
    for rows in (vol_rows(pslist), vol_rows(pstree)):
        for pid, (comm, ppid) in live.stable.items():
            assert pid in rows, f"{pid} {comm} not in Volatility's list {sorted(rows)}"
            assert comm[:15].startswith(rows[pid][0]) and rows[pid][1] == ppid, (rows[pid], comm)
    listed = [ln.split("\t")[1] for ln in lsmod.splitlines() if ln.startswith("0x")]
    assert listed == live.modules


def test_pslist_pstree_lsmod_live(live: Live) -> None:
    """Volatility's plugins on the live VM (our physical layer, our ISF) list the
    processes and modules the guest's /proc shows."""
    check_processes(live, live.pslist, live.pstree, live.lsmod)


def test_volatility_on_the_dump(live: Live) -> None:
    """Stock `vol` on the LiME file our writer made from the pages the live plugins
    used: Volatility's own automagic (banner scan, KASLR from init_task, the DTB)
    on a real dump file, with nothing from us but the ISF; the same answers."""
    from ramooflax.dump import read_lime

    assert [(s, e) for s, e, _ in read_lime(live.lime)] == live.ranges
    cache = live.lime.parent / "volcache"
    cache.mkdir(exist_ok=True)
    vol_cli = Path(sys.executable).with_name("vol")
    outs = []
    for plugin in ("linux.pslist", "linux.pstree", "linux.lsmod"):
        done = subprocess.run(
            [
                str(vol_cli),
                "-q",
                "--offline",
                "--cache-path",
                str(cache),
                "-s",
                str(live.isf_dir),
                "-f",
                str(live.lime),
                plugin,
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        outs.append(done.stdout)
    print(f"dump: {live.lime.stat().st_size} bytes in {len(live.ranges)} ranges")
    check_processes(live, *outs)


def test_the_686_kernel_gets_a_clear_answer(hv_i386: Machine) -> None:
    """Debian's 686 kernel has no BTF: no types, so no ISF; said so, not a traceback."""
    from ramooflax.plugins.volatility import run

    vm = attach(hv_i386)
    try:
        with pytest.raises(ClientError, match="no BTF"):
            run(Linux.from_memory(vm), "linux.pslist", [])
    finally:
        vm.detach()


def test_vol_cli(hv_amd64: Machine, tmp_path: Path) -> None:
    """The CLI: two plugins in one run, --save-lime after them; an unknown plugin
    is a message that lists the real ones."""
    lime = tmp_path / "used.lime"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ramooflax",
            "vol",
            f"127.0.0.1:{hv_amd64.free_ctrl_port()}",
            "linux.pslist,linux.lsmod",
            "--save-lime",
            str(lime),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\tinit\t" in done.stdout and "\tsh\t" in done.stdout
    assert "Module Name" in done.stdout  # lsmod's header, after pslist's rows
    assert re.search(r"wrote .*used.lime: the \d+ pages", done.stderr), done.stderr[-500:]
    assert lime.read_bytes()[:4] == b"EMiL"  # LiME's magic, little-endian
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "ramooflax",
            "vol",
            f"127.0.0.1:{hv_amd64.free_ctrl_port()}",
            "linux.nosuch",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert bad.returncode == 2 and "linux.pslist" in bad.stderr and "Traceback" not in bad.stderr
