"""x86 page tables walked from a cr3, reading only the table pages on the way.

A walk covers the address ranges asked for (a process's memory areas) and
reads each table page once, through `read_page(pa) -> 4096 bytes` (the
physical memory of the guest). It yields chunks: a present leaf (a 4 KiB
page, or the part of a 2 MiB / 1 GiB page inside the range), or an empty
entry covering a whole stretch (an empty PML4 entry leaves 512 GiB
unmapped with one read). Layouts (AMD APM Vol.2 5.3 "Long-Mode Page
Translation", 5.2 for PAE and legacy 32-bit paging):

    4-level  PML4 47:39  PDPT 38:30 (1 GiB: PS)  PD 29:21 (2 MiB: PS)  PT 20:12   8-byte entries
    PAE      PDPT 31:30 (4 entries)  PD 29:21 (2 MiB: PS)  PT 20:12             8-byte entries
    2-level  PD 31:22 (4 MiB: PS)  PT 21:12                                     4-byte entries

    entry:  bit 0 P  1 R/W  2 U/S  5 A  6 D  7 PS (a leaf above the last level)  63 NX
            51:12 the next table's or the page's physical address
"""

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ramooflax.errors import ClientError

P, RW, US, ACCESSED, DIRTY, PS = 1 << 0, 1 << 1, 1 << 2, 1 << 5, 1 << 6, 1 << 7
NX = 1 << 63
PAGE = 0x1000


@dataclass(frozen=True)
class Mode:
    name: str
    entry_size: int
    shifts: tuple[int, ...]  # each level's shift, root first
    counts: tuple[int, ...]  # entries per table at each level
    large: tuple[bool, ...]  # whether PS makes a leaf at that level
    level_names: tuple[str, ...]
    addr_mask: int

    @property
    def va_mask(self) -> int:
        return (1 << (self.shifts[0] + (self.counts[0] - 1).bit_length())) - 1

    def index(self, level: int, va: int) -> int:
        return ((va & self.va_mask) >> self.shifts[level]) % self.counts[level]


LONG4 = Mode(
    "4-level",
    8,
    (39, 30, 21, 12),
    (512, 512, 512, 512),
    (False, True, True, False),
    ("PML4", "PDPT", "PD", "PT"),
    0x000F_FFFF_FFFF_F000,
)
PAE = Mode(
    "PAE",
    8,
    (30, 21, 12),
    (4, 512, 512),
    (False, True, False),
    ("PDPT", "PD", "PT"),
    0x000F_FFFF_FFFF_F000,
)
LEGACY = Mode("2-level", 4, (22, 12), (1024, 1024), (True, False), ("PD", "PT"), 0xFFFF_F000)


def mode_of(cr0: int, cr4: int, efer: int) -> Mode:
    """The paging mode the CPU is in (CR0.PG, CR4.PAE, EFER.LMA)."""
    if not cr0 & (1 << 31):
        raise ClientError("paging is off in the VM: no page tables to walk")
    if efer & (1 << 10):
        if cr4 & (1 << 12):
            raise ClientError("5-level paging (CR4.LA57) is not supported")
        return LONG4
    return PAE if cr4 & (1 << 5) else LEGACY


@dataclass
class Table:
    """One table page the walk read: its level, where it is, what it maps."""

    level: int
    pa: int
    va: int  # the first virtual address it maps
    raw: bytes
    parent: int | None = None  # the parent table's pa
    parent_index: int = 0
    used: set[int] = field(default_factory=set)  # entry indexes the walks went through

    def entry(self, i: int, size: int) -> int:
        return int(struct.unpack_from("<Q" if size == 8 else "<I", self.raw, i * size)[0])


@dataclass(frozen=True)
class Chunk:
    """[start, end) with one state: a present leaf (pa of start) or an empty entry."""

    start: int
    end: int
    present: bool
    page_size: int  # the leaf's page size, or the span an empty entry leaves unmapped
    pa: int = 0
    flags: int = 0  # the leaf entry
    table: int = 0  # the pa of the table holding the entry
    level: int = 0

    @property
    def writable(self) -> bool:
        return bool(self.flags & RW)

    @property
    def executable(self) -> bool:
        return not self.flags & NX


class PageTables:
    """The page tables under one cr3; table pages are read once and kept."""

    def __init__(
        self,
        read_page: Callable[[int], bytes],
        cr3: int,
        mode: Mode = LONG4,
        cache: dict[int, bytes] | None = None,
    ) -> None:
        self.read_page = read_page
        self.mode = mode
        self.root = cr3 & (~0x1F if mode is PAE else ~0xFFF) & 0xFFFF_FFFF_FFFF
        self.cache = cache if cache is not None else {}  # pa -> bytes, shared between walks
        self.tables: dict[int, Table] = {}
        self.pages_read = 0

    def raw(self, pa: int) -> bytes:
        """The table at pa (a page, or the 32-byte PAE root), read once."""
        page = pa & ~0xFFF
        data = self.cache.get(page)
        if data is None:
            data = self.cache[page] = self.read_page(page)
            self.pages_read += 1
        off = pa - page
        return data[off : off + self.mode.counts[0] * self.mode.entry_size] if pa != page else data

    def table(
        self, level: int, pa: int, va: int, parent: int | None = None, index: int = 0
    ) -> Table:
        t = self.tables.get(pa)
        if t is None:
            t = self.tables[pa] = Table(level, pa, va, self.raw(pa), parent, index)
        return t

    def walk(self, start: int, end: int) -> Iterator[Chunk]:
        """The chunks of [start, end), by address."""
        if end > start:
            yield from self._walk(self.table(0, self.root, 0), start, end)

    def _walk(self, t: Table, start: int, end: int) -> Iterator[Chunk]:
        m = self.mode
        level, shift = t.level, m.shifts[t.level]
        span = 1 << shift
        va = start & ~(span - 1)  # canonical: the sign-extended bits stay as they are
        while va < end:
            lo, hi = max(start, va), min(end, va + span)
            i = m.index(level, va)
            t.used.add(i)
            e = t.entry(i, m.entry_size)
            if not e & P:
                yield Chunk(lo, hi, False, span, table=t.pa, level=level)
            elif level == len(m.shifts) - 1 or (m.large[level] and e & PS):
                base = e & m.addr_mask & ~(span - 1)
                if level == len(m.shifts) - 1:
                    yield Chunk(lo, hi, True, span, base, e, t.pa, level)
                else:
                    yield Chunk(lo, hi, True, span, base + (lo - va), e, t.pa, level)
            else:
                child = self.table(level + 1, e & m.addr_mask, va, t.pa, i)
                yield from self._walk(child, lo, hi)
            va += span

    def present(self, t: Table) -> list[int]:
        """The indexes of a table's present entries."""
        m = self.mode
        n = min(len(t.raw) // m.entry_size, m.counts[t.level])
        return [i for i in range(n) if t.entry(i, m.entry_size) & P]
