"""`ramooflax plot memmap` on a process started in the guest, checked against the
guest's own view: its areas against /proc/PID/maps, every present page's frame
against /proc/PID/pagemap, the kernel's map counts against the other
processes' page tables; the SVG parses, names the busybox mapping, and
Chromium draws it."""

import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from browser import assert_drawn, screenshot

from ramooflax import VM, CPUFamily
from ramooflax.lab.machine import Machine
from ramooflax.os.linux import Linux
from ramooflax.plugins.memmap import MemMap, collect

pytestmark = pytest.mark.lab
pytest.importorskip("graphviz", reason="the plots extra (graphviz) is needed")

SVG = "{http://www.w3.org/2000/svg}"
PRESENT, PFN = 1 << 63, (1 << 55) - 1


def ramooflax(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ramooflax", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def start_sleep(machine: Machine) -> int:
    pid = int(machine.run("sleep 3600 >/dev/null 2>&1 & echo $!").output)
    for _ in range(50):  # the child has exec'd busybox as `sleep`
        if machine.run(f"cat /proc/{pid}/comm").output.strip() == "sleep":
            return pid
        time.sleep(0.1)
    raise AssertionError(f"pid {pid} never became `sleep`")


def guest_maps(machine: Machine, pid: int) -> list[tuple[int, int, str, str]]:
    out = []
    for line in machine.run(f"cat /proc/{pid}/maps").output.splitlines():
        cols = line.split()
        lo, hi = (int(x, 16) for x in cols[0].split("-"))
        out.append((lo, hi, cols[1], cols[5] if len(cols) > 5 else ""))
    return [m for m in out if m[3] != "[vsyscall]"]


def guest_pagemap(machine: Machine, pid: int, lo: int, hi: int) -> dict[int, int]:
    """va -> pfn of each present page, from /proc/PID/pagemap (Documentation/
    admin-guide/mm/pagemap.rst: bit 63 present, bits 0-54 the frame)."""
    n = (hi - lo) // 4096
    out = machine.run(
        f"dd if=/proc/{pid}/pagemap bs=8 skip={lo // 4096} count={n} 2>/dev/null | od -An -tx8 -v"
    ).output
    words = [int(w, 16) for w in out.split()]
    assert len(words) == n, f"pagemap gave {len(words)} entries for {n} pages"
    return {lo + i * 4096: w & PFN for i, w in enumerate(words) if w & PRESENT}


def svg_texts(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


@pytest.mark.parametrize("name", ["hv_amd64", "hv_amd64_bpo"])
def test_memmap_of_a_sleep(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    machine: Machine = request.getfixturevalue(name)
    pid = start_sleep(machine)
    try:
        maps = guest_maps(machine, pid)
        frames = {
            lo: guest_pagemap(machine, pid, lo, hi) for lo, hi, _p, n in maps if n != "[vvar]"
        }
        svg = tmp_path / "map.svg"
        t0 = time.monotonic()
        done = ramooflax(
            "plot", "memmap", f"127.0.0.1:{machine.free_ctrl_port()}", str(pid), "-o", str(svg)
        )
        took = time.monotonic() - t0
        assert done.returncode == 0, done.stderr[-2000:]
        assert "memmap: sharing:" in done.stderr and "table pages read" in done.stderr
        with VM(CPUFamily.AMD, f"127.0.0.1:{machine.free_ctrl_port()}") as vm:
            mm = collect(Linux.from_memory(vm), pid, progress=None)
    finally:
        machine.run(f"kill {pid}")
    print(f"{name}: plot memmap {took:.1f} s; {mm.bytes_read} bytes in {mm.seconds:.1f} s")

    # The areas are /proc/PID/maps' (vvar included: maps names it too).
    assert [(a.vma.start, a.vma.end, a.vma.perms, a.name) for a in mm.areas] == maps
    # Every present page is the frame the kernel's pagemap gives.
    for a in mm.areas:
        if a.vma.start in frames:
            assert a.pfns == frames[a.vma.start], f"{a.name or 'anon'} at {a.vma.start:#x}"
    busybox = [a for a in mm.areas if a.name == "/bin/busybox"]
    assert busybox and sum(a.present for a in busybox) > 100
    check_sharing(mm)
    check_svg(svg, mm, pid)
    png = screenshot(svg, tmp_path / "map.png", 1600, 900)
    assert_drawn(png, 1600, 900)


def check_sharing(mm: MemMap) -> None:
    """Two reads of the kernel that do not depend on each other agree: a page's
    map count (struct page) is the number of page-table entries that map it, in
    this process (a static binary's segments share a file page at their
    boundary) and in the others."""
    assert mm.mapcount and mm.others, "no map counts, or no other process walked"
    own = Counter(pfn for a in mm.areas for pfn in a.pfns.values())
    checked = 0
    for a in mm.areas:
        for va, pfn in a.pfns.items():
            if va in a.zero_vas:
                continue
            sharers = a.page_sharers.get(va, {})
            want = own[pfn] + sum(sharers.values())
            assert a.mapcounts[va] == want, (a.name, hex(va), a.mapcounts[va], own[pfn], sharers)
            checked += 1
        assert a.shared_vas == set(a.page_sharers) - a.zero_vas
    text = next(a for a in mm.areas if "x" in a.vma.perms and a.name == "/bin/busybox")
    assert text.shared > 0, "busybox's text is shared with the shell"
    assert checked > 100


def check_svg(svg: Path, mm: MemMap, pid: int) -> None:
    texts = svg_texts(svg)
    joined = "\n".join(texts)
    assert f"sleep (pid {pid})" in joined
    for name in (
        "/bin/busybox",
        "[heap]",
        "[stack]",
        "[vdso]",
        "PML4 at",
        "kernel half",
        "direct map of RAM",
        "2 MiB",
    ):
        assert name in joined, f"{name!r} not in the picture"
    for a in mm.areas:
        assert f"0x{a.vma.start:x}" in texts, f"area {a.vma.start:#x} not drawn"
        assert any(t.startswith(f"{a.present}/{a.pages} present") for t in texts), a.vma
    sharers = {
        f"{t.comm} (pid {p})" for p, t in mm.others.items() if any(p in a.sharers for a in mm.areas)
    }
    assert sharers and sharers <= set(texts), (sharers, [t for t in texts if "(pid" in t])


def test_plot_errors(hv_amd64: Machine, hv_i386: Machine, tmp_path: Path) -> None:
    """A kernel thread, a format we cannot write, a kernel without BTF, a boot
    timeline of a VM long booted: one line each, status 2, no traceback, no file
    left behind."""
    out = tmp_path / "map.svg"
    cases = [
        (hv_amd64, "2", out, "kernel thread"),
        (hv_amd64, "1", tmp_path / "map.txt", ".svg"),
        (hv_i386, "1", out, "no BTF"),
    ]
    for machine, pid, path, needle in cases:
        done = ramooflax(
            "plot", "memmap", f"127.0.0.1:{machine.free_ctrl_port()}", pid, "-o", str(path)
        )
        assert done.returncode == 2, done.stderr[-2000:]
        assert needle in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert not path.exists()
    page = tmp_path / "boot.html"
    done = ramooflax("plot", "boot", f"127.0.0.1:{hv_amd64.free_ctrl_port()}", "-o", str(page))
    assert done.returncode == 2 and "past its boot" in done.stderr and "ctrl_wait=1" in done.stderr
    assert "Traceback" not in done.stderr and not page.exists()
