"""The pure parts of the pictures and the dumps, with no VM: the page-table walk
over tables laid out in a byte map, the memory map's runs, the boot
timeline's folding and maps, the A20 decoding, and the sparse LiME writer."""

import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ramooflax.dump import read_lime, write_pages
from ramooflax.os import pagetables as pt
from ramooflax.os.linux import VMA
from ramooflax.plugins import boot_timeline as bt
from ramooflax.plugins import memmap
from ramooflax.plugins.boot_trace import Step, describe_a20_io

P, RW, PS, NX = pt.P, pt.RW, pt.PS, pt.NX
GiB, MiB, KiB = 1 << 30, 1 << 20, 1 << 10


def tables() -> dict[int, bytes]:
    """PML4 0x1000: [0] -> PDPT 0x2000; PDPT: [0] -> PD 0x3000, [1] a 1 GiB page;
    PD: [0] -> PT 0x4000, [1] a 2 MiB page, [2] empty; PT: [0..3] present."""
    mem = {pa: bytearray(4096) for pa in (0x1000, 0x2000, 0x3000, 0x4000)}

    def put(table: int, i: int, e: int) -> None:
        struct.pack_into("<Q", mem[table], i * 8, e)

    put(0x1000, 0, 0x2000 | P | RW)
    put(0x2000, 0, 0x3000 | P | RW)
    put(0x2000, 1, 0x40000000 | P | PS)
    put(0x3000, 0, 0x4000 | P | RW)
    put(0x3000, 1, 0x200000 | P | RW | PS | NX)
    for i in range(4):
        put(0x4000, i, (0x10000 + i * 0x1000) | P | (RW if i % 2 else 0))
    return {pa: bytes(b) for pa, b in mem.items()}


def walker() -> tuple[pt.PageTables, list[int]]:
    mem = tables()
    reads: list[int] = []

    def read(pa: int) -> bytes:
        reads.append(pa)
        return mem.get(pa, bytes(4096))

    return pt.PageTables(read, 0x1000), reads


@pytest.mark.parametrize(
    ("start", "end", "want", "reads"),
    [
        # 4 KiB leaves, then the rest of the PT empty, entry by entry
        (
            0,
            0x6000,
            [
                (0, 0x1000, True, 4 * KiB, 0x10000),
                (0x1000, 0x2000, True, 4 * KiB, 0x11000),
                (0x2000, 0x3000, True, 4 * KiB, 0x12000),
                (0x3000, 0x4000, True, 4 * KiB, 0x13000),
                (0x4000, 0x5000, False, 4 * KiB, 0),
                (0x5000, 0x6000, False, 4 * KiB, 0),
            ],
            4,
        ),
        # part of a 2 MiB page, then an empty PD entry: 2 MiB in one chunk
        (
            0x201000,
            0x500000,
            [
                (0x201000, 0x400000, True, 2 * MiB, 0x201000),
                (0x400000, 0x500000, False, 2 * MiB, 0),
            ],
            3,
        ),
        # inside a 1 GiB page
        (GiB + 0x3000, GiB + 0x5000, [(GiB + 0x3000, GiB + 0x5000, True, GiB, 0x40003000)], 2),
        # an empty PML4 entry leaves 512 GiB unmapped: one read, one chunk
        (
            0x7F0000000000,
            0x7F0000001000,
            [(0x7F0000000000, 0x7F0000001000, False, 512 * GiB, 0)],
            1,
        ),
        # the kernel half (sign-extended addresses) indexes the PML4's upper half
        (
            0xFFFF888000000000,
            0xFFFF888000001000,
            [(0xFFFF888000000000, 0xFFFF888000001000, False, 512 * GiB, 0)],
            1,
        ),
    ],
)
def test_walk(
    start: int, end: int, want: list[tuple[int, int, bool, int, int]], reads: int
) -> None:
    tabs, log = walker()
    got = [(c.start, c.end, c.present, c.page_size, c.pa) for c in tabs.walk(start, end)]
    assert got == want
    assert len(log) == reads and len(set(log)) == len(log), log  # each table page read once


def test_leaf_flags_and_table_tree() -> None:
    tabs, _ = walker()
    chunks = list(tabs.walk(0, 0x4000)) + list(tabs.walk(0x200000, 0x201000))
    assert [c.writable for c in chunks[:4]] == [False, True, False, True]
    assert chunks[0].executable and not chunks[-1].executable  # NX on the 2 MiB page
    pt_page = tabs.tables[0x4000]
    assert (pt_page.level, pt_page.parent, pt_page.parent_index) == (3, 0x3000, 0)
    assert tabs.present(pt_page) == [0, 1, 2, 3]


def test_modes() -> None:
    assert pt.mode_of(0x80000001, 0x20, 0x500) is pt.LONG4
    assert pt.mode_of(0x80000001, 0x20, 0) is pt.PAE
    assert pt.mode_of(0x80000001, 0, 0) is pt.LEGACY
    with pytest.raises(Exception, match="paging is off"):
        pt.mode_of(0x11, 0, 0)


def test_memmap_runs_and_sharing() -> None:
    """An area's pages as runs (present pages split by their writability), and
    sharing from map counts."""
    tabs, _ = walker()
    area = memmap._area(tabs, VMA(0, 0x6000, 3, "/bin/busybox"), "/bin/busybox", 0x12)
    runs = [(r.start, r.end, r.present, r.writable) for r in area.runs]
    assert runs == [
        (0, 0x1000, True, False),
        (0x1000, 0x2000, True, True),
        (0x2000, 0x3000, True, False),
        (0x3000, 0x4000, True, True),
        (0x4000, 0x6000, False, False),
    ]
    assert area.pfns == {0: 0x10, 0x1000: 0x11, 0x2000: 0x12, 0x3000: 0x13}
    assert area.zero_vas == {0x2000} and area.tables == {0x4000}
    memmap._count_shared(area, {0x10: 3, 0x11: 1, 0x13: 2})
    assert area.shared_vas == {0, 0x3000} and area.shared == 2 and area.present == 4
    assert "<TD" in memmap._strip(area)


def test_sparse_lime_round_trip(tmp_path: Path) -> None:
    pages = {0x1000: b"a" * 4096, 0x2000: b"b" * 4096, 0x9000: b"c" * 4096}
    out = tmp_path / "x.lime"
    assert write_pages(out, pages) == [(0x1000, 0x3000), (0x9000, 0xA000)]
    ranges = read_lime(out)
    assert [(s, e) for s, e, _ in ranges] == [(0x1000, 0x3000), (0x9000, 0xA000)]
    raw = out.read_bytes()
    start, end, off = ranges[1]
    assert raw[off : off + end - start] == b"c" * 4096
    assert struct.unpack_from("<IIQQ", raw, 0) == (0x4C694D45, 1, 0x1000, 0x2FFF)


@pytest.mark.parametrize(
    ("port", "direction", "val", "cmd_before", "want"),
    [
        (0x92, "out", 0x02, None, "fast A20 gate on"),
        (0x92, "out", 0x00, None, "fast A20 gate off"),
        (0x92, "in", 0x02, None, None),
        (0x64, "out", 0xDF, None, "keyboard controller A20 on"),
        (0x64, "out", 0xD1, None, "write output port"),
        (0x60, "out", 0xDF, 0xD1, "A20 on"),
        (0x60, "out", 0xDD, 0xD1, "A20 off"),
        (0x60, "out", 0xDF, None, None),
        (0x64, "out", 0xAE, None, None),
    ],
)
def test_a20_io(
    port: int, direction: str, val: int, cmd_before: int | None, want: str | None
) -> None:
    kbc = {} if cmd_before is None else {"cmd": cmd_before}
    got = describe_a20_io(port, direction, val, kbc)
    assert (got is None) if want is None else (got is not None and got.endswith(want)), got


def steps() -> list[Step]:
    e820 = [(0, 0x9FC00, 1), (0x100000, 0x1F900000, 1)]
    out = [Step(1, 0x616, "int 13h disk ah=00h reset drive 80h", 0.01, "disk")]
    for walk in range(2):
        for i, (base, length, kind) in enumerate(e820):
            nxt = i + 1 if i + 1 < len(e820) else 0
            out.append(
                Step(
                    0,
                    0x9102,
                    f"int 15h e820 {walk}",
                    0.1 + walk * 0.1 + i * 0.01,
                    "memory map",
                    "real",
                    {"base": base, "length": length, "type": kind, "next": nxt},
                )
            )
    t = 0.5
    for lba in (2, 129, 256, 1000):
        out.append(
            Step(
                0,
                0x8058,
                "read",
                t,
                "disk",
                "real",
                {"lba": lba, "count": 127 if lba < 256 else 17, "buffer": 0x70000},
            )
        )
        t += 0.1
    for _ in range(3):  # the boot loader's round trips to real mode
        out.append(
            Step(0, 0x82E7, "cr0 0x10 -> 0x11: PE on: protected mode", t, "mode", "protected")
        )
        out.append(Step(0, 0x8373, "cr0 0x11 -> 0x10: PE off: real mode", t + 0.01, "mode"))
        t += 0.1
    out.append(Step(0, 0x82E7, "cr0 0x10 -> 0x11: PE on: protected mode", t, "mode", "protected"))
    out.append(
        Step(0, 0x1000145, "cr0 0x11 -> 0x80050033: PG on: long mode", t + 1, "mode", "long")
    )
    for i, s in enumerate(out, 1):
        s.index = i
    return out


class Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.rows.append({"tag": tag, **dict(attrs)})


def test_timeline_page() -> None:
    s = steps()
    trace = bt.BootTrace(s, 0x600, s[-1].t, 10.0, "0000:0600")
    assert [int(x.info["base"]) for x in bt.e820_map(s)] == [0, 0x100000]
    runs = bt.read_runs([x for x in s if "lba" in x.info])
    assert [r[:3] for r in runs] == [(2, 254 + 17, 3), (1000, 17, 1)]
    page = bt.render(trace)
    parsed = Rows()
    parsed.feed(page)
    tags = parsed.rows
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    modes = {t.get("data-mode") for t in tags if t.get("class") == "band"}
    assert modes == {"real", "protected", "long"}  # long: from the last event on, and a marker
    assert any(t.get("class") == "band-end" and t.get("data-mode") == "long" for t in tags)
    trips = [t for t in tags if t.get("class") == "ev trips"]
    assert [t.get("data-trips") for t in trips] == ["3"]
    assert [t.get("data-base") for t in tags if t.get("class") == "e820"] == ["0", "1048576"]
    assert len([t for t in tags if t.get("class") == "read"]) == 4
    assert "0000:0600" in page
