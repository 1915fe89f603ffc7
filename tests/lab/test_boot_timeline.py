"""`ramooflax plot boot` on a fresh VM that waits at its first instruction
(ctrl_wait=1): the page Chromium builds holds the boot as it happened. The
boot trace it is made of (plugins/boot_trace.py) is checked through it: the
boot stub's MBR read, GRUB's disk reads (which cover every block of the
kernel and the initrd in the guest's file system), GRUB's trips to real
mode, the E820 map the VM got (the one the guest kernel prints), and Linux's
PAE, LME and long mode at the end."""

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from browser import assert_drawn, dump_dom, screenshot

from ramooflax.lab import facts
from ramooflax.lab.disk import PART_START, SECTOR
from ramooflax.lab.machine import Machine, MachineSpec

pytestmark = pytest.mark.lab


@dataclass
class Booted:
    page: Path
    stderr: str
    dmesg: str
    image: Path  # the guest disk the VM booted
    took: float


@pytest.fixture(scope="module")
def booted(qemu_ok: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Booted]:
    """A new machine traced from 0000:0600 by the CLI, then booted to its shell."""
    tmp = tmp_path_factory.mktemp("boot-timeline")
    spec = MachineSpec(
        guest="amd64",
        with_hv=True,
        build=True,
        hv_options="ctrl_wait=1 ctrl_timeout=5",
        log=tmp / "hv.log",
    )
    machine = Machine(spec)
    machine.start()
    try:
        deadline = time.monotonic() + 120
        while "ctrl_wait: the VM waits" not in machine.log_text():
            assert machine.alive() and time.monotonic() < deadline, machine.log_text()[-2000:]
            time.sleep(0.1)
        page = tmp / "boot.html"
        t0 = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "ramooflax",
                "plot",
                "boot",
                f"127.0.0.1:{machine.free_ctrl_port()}",
                "-o",
                str(page),
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        took = time.monotonic() - t0
        assert done.returncode == 0, done.stderr[-3000:]
        machine.wait_ready(300)  # detached: the VM boots on
        dmesg = machine.run("dmesg | grep BIOS-e820").output
        assert machine.config is not None
        yield Booted(page, done.stderr + done.stdout, dmesg, machine.config.guest, took)
    finally:
        machine.stop()


class Dom(HTMLParser):
    """Every element's attributes; each table row's attributes, table and text."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.elements: list[dict[str, str]] = []
        self.rows: list[tuple[dict[str, str], str]] = []
        self._table = ""
        self._row: dict[str, str] | None = None
        self._text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = {"tag": tag, **{k: v or "" for k, v in attrs}}
        self.elements.append(el)
        if tag == "table":
            self._table = el.get("id", "")
        elif tag == "tr":
            self._row, self._text = {**el, "table": self._table}, []

    def handle_data(self, data: str) -> None:
        if self._row is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row is not None:
            self.rows.append((self._row, " ".join(self._text)))
            self._row = None

    def events(self) -> list[tuple[dict[str, str], str]]:
        """The rows of the table of every event, in order."""
        return [(a, t) for a, t in self.rows if a["table"] == "event-table" and "data-index" in a]


@pytest.fixture(scope="module")
def dom(booted: Booted) -> Dom:
    return Dom(dump_dom(booted.page))


def test_the_trace_in_the_page(booted: Booted, dom: Dom) -> None:
    events = dom.events()
    whats = [t.split(maxsplit=5)[-1] for _, t in events]
    text = "\n".join(whats)
    print(f"plot boot: {len(events)} events, {booted.took:.0f} s")
    assert [int(a["data-index"]) for a, _ in events] == list(range(1, len(events) + 1))
    assert whats[-1].endswith("long mode (paging with EFER.LME)"), text[-2000:]
    first, _ = events[0]
    assert (first["data-kind"], first["data-vec"], first["data-function"]) == (
        "disk",
        "19",
        "reset",
    )
    # The boot stub reads the MBR (hv/setup/stub.S): C/H/S 0/0/1 to 0000:7c00.
    mbr = next(a for a, t in events if "read (CHS)" in t)
    assert (mbr["data-cylinder"], mbr["data-head"], mbr["data-sector"], mbr["data-buffer"]) == (
        "0",
        "0",
        "1",
        str(0x7C00),
    )
    reads = [a for a, _ in events if a["data-kind"] == "disk" and "data-lba" in a]
    assert len(reads) > 10, "GRUB read the kernel with fewer than 10 BIOS calls?"
    assert any("PE on: protected mode" in w for w in whats)
    assert any("PE off: real mode" in w for w in whats)  # GRUB goes back for each BIOS call
    pae = next(i for i, w in enumerate(whats) if "PAE on" in w)
    lme = next(i for i, w in enumerate(whats) if "LME on" in w)
    assert pae < lme < len(whats) - 1, text[-2000:]
    assert events[-1][0]["data-t"] and float(events[-1][0]["data-t"]) > 0
    trips = [a for a, _ in dom.rows if a.get("class") == "ev trips"]
    assert trips and int(trips[0]["data-trips"]) > 100, "GRUB's round trips are not folded"
    modes = {e.get("data-mode") for e in dom.elements if e.get("class") == "band"}
    assert {"real", "protected", "long"} <= modes
    assert "boot trace:" in booted.stderr  # progress while it runs
    assert not any(e["tag"] == "script" for e in dom.elements)


def test_the_memory_map_is_what_the_kernel_got(booted: Booted, dom: Dom) -> None:
    """The E820 entries the page shows (read from the VM's buffer at each call)
    are the map the guest kernel prints at boot."""
    ours = [
        (int(a["data-base"]), int(a["data-base"]) + int(a["data-length"]), a["data-type"])
        for a, _ in dom.rows
        if a.get("class") == "e820"
    ]
    kinds = {"usable": "1", "reserved": "2", "ACPI data": "3", "ACPI NVS": "4"}
    theirs = [(r.start, r.end, kinds[r.kind]) for r in facts.e820(booted.dmesg)]
    assert ours == theirs, f"page: {ours}\nguest: {booted.dmesg}"


def debugfs(image: Path, request: str) -> str:
    if not shutil.which("debugfs"):
        pytest.skip("debugfs (e2fsprogs) is needed to map the guest's files to sectors")
    return subprocess.run(
        ["debugfs", "-R", request, f"{image}?offset={PART_START}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def file_sectors(image: Path, path: str) -> set[int]:
    """The disk sectors (LBA) of a file's blocks in the guest's ext2."""
    block = re.search(r"Block size:\s+(\d+)", debugfs(image, "stats"))
    assert block, "debugfs printed no block size"
    per = int(block[1]) // SECTOR
    blocks = map(int, debugfs(image, f"blocks {path}").split())
    return {PART_START // SECTOR + b * per + k for b in blocks for k in range(per)}


def test_the_disk_reads_cover_the_kernel_and_initrd(booted: Booted, dom: Dom) -> None:
    """GRUB's boot.img loads core.img from sector 1, where lab/disk.py writes it,
    first its first sector, then the rest; GRUB then reads every block of the
    kernel and the initrd."""
    reads = [
        (int(a["data-lba"]), int(a["data-count"]))
        for a, _ in dom.events()
        if a["data-kind"] == "disk" and "data-lba" in a
    ]
    assert reads[0] == (1, 1) and reads[1][0] == 2, reads[:4]
    read = {s for lba, n in reads for s in range(lba, lba + n)}
    for path in ("/boot/vmlinuz", "/boot/initrd.img"):
        sectors = file_sectors(booted.image, path)
        assert len(sectors) > 1000 and sectors <= read, f"{path}: {len(sectors - read)} unread"


def test_chromium_draws_the_page(booted: Booted, tmp_path: Path) -> None:
    png = screenshot(booted.page, tmp_path / "boot.png", 1280, 1100)
    assert_drawn(png, 1280, 1100)
