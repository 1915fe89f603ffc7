"""Process memory map: a process's areas, its page tables' shape, the pages it shares.

Drawn with Graphviz:

    ramooflax plot memmap [HOST:PORT] PID -o map.svg      # or .png, .pdf, .dot

    from ramooflax.plugins.memmap import collect, draw
    mm = collect(Linux.from_memory(vm), pid)
    draw(mm, Path("map.svg"))

What it reads, over a line that moves about 0.2 MB/s: the process's areas
(os/linux.py), the table pages on their path only (os/pagetables.py: an
empty entry high up stands for its whole span), the first level of the
kernel half, one struct page per present page (its map count, as
/proc/PID/smaps counts sharing), and the same walk for the other processes
(up to `others`) to say who shares which pages. Pages are summarised as
runs: the picture never has one box per page-table entry.
"""

import html
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ramooflax.errors import ClientError
from ramooflax.os import pagetables as pt
from ramooflax.os.linux import VMA, Linux, LinuxError, Task

if TYPE_CHECKING:
    import graphviz

PAGE = 0x1000
STRIP = 32  # cells in an area's page strip
KERNEL_TEXT_MAP = 0xFFFFFFFF80000000  # __START_KERNEL_map
CPU_ENTRY_AREA = 0xFFFFFE0000000000
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Run:
    """Pages in a row with one state: present (by page size, writable,
    executable) or absent; `shared` counts those mapped two or more times."""

    start: int
    end: int
    present: bool
    page_size: int
    writable: bool = False
    executable: bool = False
    shared: int = 0
    zero: int = 0  # pages that map the kernel's shared zero page

    @property
    def pages(self) -> int:
        return (self.end - self.start) // PAGE


@dataclass
class Area:
    vma: VMA
    name: str  # its file, [heap], [stack], [vdso], or "" (anonymous)
    runs: list[Run]
    tables: set[int]  # the leaf tables (pa) that map it
    pfns: dict[int, int] = field(default_factory=dict)  # va -> pfn of each present 4 KiB page
    shared_vas: set[int] = field(default_factory=set)  # pages mapped two or more times
    zero_vas: set[int] = field(default_factory=set)  # pages mapping the shared zero page
    sharers: dict[int, int] = field(default_factory=dict)  # pid -> pages it maps too
    # va -> {pid: how many of that process's entries map the page}
    page_sharers: dict[int, dict[int, int]] = field(default_factory=dict)
    mapcounts: dict[int, int] = field(default_factory=dict)  # va -> the kernel's map count

    @property
    def pages(self) -> int:
        return (self.vma.end - self.vma.start) // PAGE

    @property
    def present(self) -> int:
        return len(self.pfns)

    @property
    def shared(self) -> int:
        return len(self.shared_vas)


@dataclass
class KernelRegion:
    """Present root entries of the kernel half that map one region, and (for the
    direct map and the kernel image) the page sizes one and two levels down."""

    label: str
    slots: list[int]
    entries: int = 0  # present entries in the slots' next tables (read ones only)
    huge: int = 0  # 1 GiB pages among them
    large: int = 0  # 2 MiB pages in the tables below
    small: int = 0  # entries pointing to page tables (4 KiB pages) there
    pds: int = 0  # page directories read

    @property
    def span(self) -> str:
        a, b = self.slots[0], self.slots[-1]
        return f"[{a}]" if a == b else f"[{a}–{b}]"


@dataclass
class MemMap:
    task: Task
    mode: pt.Mode
    areas: list[Area]
    tables: dict[int, pt.Table]
    root_user: list[int]  # present root entries of the user half
    kernel: list[KernelRegion]
    others: dict[int, Task]  # the processes walked for sharing
    mapcount: bool  # whether the kernel's map counts were read
    bytes_read: int = 0
    seconds: float = 0.0


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def collect(
    linux: Linux, pid: int, others: int = 16, progress: Progress | None = _stderr
) -> MemMap:
    """The memory map of process pid, read from the stopped VM."""
    say = progress or (lambda _m: None)
    t0 = time.monotonic()
    vm = linux.vm
    before = linux.kmem.stats.bytes
    sr = vm.cpu.sr
    mode = pt.mode_of(int(sr.cr0), int(sr.cr4), int(sr.efer))
    tasks = list(linux.tasks(with_cr3=True))
    task = next((t for t in tasks if t.pid == pid), None)
    if task is None:
        raise LinuxError(f"no process with pid {pid} in the guest (`ramooflax ps` lists them)")
    if not task.mm:
        raise LinuxError(f"pid {pid} ({task.comm}) is a kernel thread: it has no user memory")
    cache: dict[int, bytes] = {}
    phys_read = [0]

    def read_page(pa: int) -> bytes:
        phys_read[0] += PAGE
        return vm.mem.pread(pa, PAGE, progress=False)

    vmas = linux.vmas(task)
    names = linux.vma_names(task, vmas)
    say(f"memmap: {task.comm} ({pid}): {len(vmas)} areas; walking its page tables")
    tables = pt.PageTables(read_page, task.cr3, mode, cache)
    zero_pfn = _zero_pfn(linux)
    areas = [_area(tables, v, names.get(v.start, v.file), zero_pfn) for v in vmas]
    say(
        f"memmap: {len(tables.tables)} table pages read "
        f"({sum(a.present for a in areas)} pages present)"
    )

    counts: dict[int, int] = {}
    try:
        pfns = [p for a in areas for p in a.pfns.values() if p != zero_pfn]
        if not pfns:
            raise LinuxError("no page present")
        say(f"memmap: map counts of {len(set(pfns))} pages (struct page)")
        counts = linux.mapcounts(pfns)
    except LinuxError as exc:
        say(f"memmap: no map counts: {exc}")
    for a in areas:
        _count_shared(a, counts)

    walked = _sharers(linux, task, tasks, areas, mode, cache, read_page, others, say)
    root = tables.table(0, tables.root, 0)
    half = mode.counts[0] // 2
    user = [i for i in tables.present(root) if i < half or mode is not pt.LONG4]
    kernel = _kernel_half(linux, tables, root) if mode is pt.LONG4 else []
    mm = MemMap(task, mode, areas, dict(tables.tables), user, kernel, walked, bool(counts))
    mm.bytes_read = phys_read[0] + linux.kmem.stats.bytes - before
    mm.seconds = time.monotonic() - t0
    say(f"memmap: {mm.bytes_read / 1e3:.0f} kB read in {mm.seconds:.1f} s")
    return mm


def _zero_pfn(linux: Linux) -> int:
    addr = linux.lookup("empty_zero_page")
    if addr is None:
        return -1
    try:
        return linux.kmem.translate(addr) >> 12
    except ClientError:
        return -1


def _area(tables: pt.PageTables, vma: VMA, name: str, zero_pfn: int) -> Area:
    runs: list[Run] = []
    area = Area(vma, name, runs, set())
    for c in tables.walk(vma.start, vma.end):
        if c.present:
            area.tables.add(c.table)
            for va in range(c.start, c.end, PAGE):
                pfn = (c.pa + (va - c.start)) >> 12
                area.pfns[va] = pfn
                if pfn == zero_pfn:
                    area.zero_vas.add(va)
        run = Run(
            c.start,
            c.end,
            c.present,
            c.page_size if c.present else PAGE,
            c.present and c.writable,
            c.present and c.executable,
        )
        key = (run.present, run.page_size, run.writable, run.executable)
        if (
            runs
            and (runs[-1].present, runs[-1].page_size, runs[-1].writable, runs[-1].executable)
            == key
            and runs[-1].end == run.start
        ):
            runs[-1] = Run(runs[-1].start, run.end, *key)
        else:
            runs.append(run)
    return area


def _count_shared(a: Area, counts: dict[int, int]) -> None:
    a.mapcounts = {va: counts[pfn] for va, pfn in a.pfns.items() if pfn in counts}
    a.shared_vas = {va for va, n in a.mapcounts.items() if n >= 2}
    a.runs = [
        Run(
            r.start,
            r.end,
            r.present,
            r.page_size,
            r.writable,
            r.executable,
            sum(1 for va in a.shared_vas if r.start <= va < r.end),
            sum(1 for va in a.zero_vas if r.start <= va < r.end),
        )
        for r in a.runs
    ]


def _sharers(
    linux: Linux,
    task: Task,
    tasks: list[Task],
    areas: list[Area],
    mode: pt.Mode,
    cache: dict[int, bytes],
    read_page: Callable[[int], bytes],
    limit: int,
    say: Progress,
) -> dict[int, Task]:
    """Walk the other processes' areas; record who maps the same page frames."""
    candidates = [t for t in tasks if t.mm and t.mm != task.mm and t.pid != task.pid]
    walked: dict[int, Task] = {}
    for n, other in enumerate(candidates[:limit], 1):
        say(f"memmap: sharing: {other.comm} ({other.pid}), {n}/{min(len(candidates), limit)}")
        try:
            theirs = pt.PageTables(read_page, other.cr3, mode, cache)
            seen: Counter[int] = Counter()
            for v in linux.vmas(other):
                for c in theirs.walk(v.start, v.end):
                    if c.present:
                        seen.update(range(c.pa >> 12, (c.pa + c.end - c.start) >> 12))
        except (ClientError, LinuxError) as exc:
            say(f"memmap: {other.comm} ({other.pid}) skipped: {exc}")
            continue
        walked[other.pid] = other
        for a in areas:
            both = [va for va, p in a.pfns.items() if p in seen and va not in a.zero_vas]
            for va in both:
                a.page_sharers.setdefault(va, {})[other.pid] = seen[a.pfns[va]]
            if both:
                a.sharers[other.pid] = len(both)
    if len(candidates) > limit:
        say(f"memmap: {len(candidates) - limit} more processes not walked (others={limit})")
    return walked


# Documentation/arch/x86/x86_64/mm.rst, 4-level paging: the fixed part of the kernel half.
FIXED_REGIONS = {
    256: "guard hole",
    272: "LDT remap (PTI)",
    504: "KASAN shadow",
    508: "cpu entry area",
    510: "espfix stacks",
    511: "kernel image, modules, fixmap",
}
DESCEND = ("direct map of RAM", "kernel image, modules, fixmap")
DESCEND_TABLES = 4  # page directories read below a region, at most


def _kernel_half(linux: Linux, tables: pt.PageTables, root: pt.Table) -> list[KernelRegion]:
    """The kernel half's root entries (the same in every process), grouped by the
    region each maps (the kernel's own bases), with page sizes where it matters."""
    m = tables.mode
    starts = dict(FIXED_REGIONS)
    for var, label in (
        ("page_offset_base", "direct map of RAM"),
        ("vmalloc_base", "vmalloc"),
        ("vmemmap_base", "vmemmap (struct pages)"),
    ):
        addr = linux.lookup(var)
        if addr is not None:
            starts[m.index(0, linux.kmem.ptr(addr))] = label
    regions: dict[str, KernelRegion] = {}
    half = m.counts[0] // 2
    for i in tables.present(root):
        if i < half:
            continue
        label = starts[max(k for k in starts if k <= i)]
        reg = regions.setdefault(label, KernelRegion(label, []))
        reg.slots.append(i)
        if label not in DESCEND:
            continue
        pa = root.entry(i, m.entry_size) & m.addr_mask
        pdpt = pt.Table(1, pa, 0, tables.raw(pa))
        for j in tables.present(pdpt):
            e = pdpt.entry(j, m.entry_size)
            reg.entries += 1
            if e & pt.PS:
                reg.huge += 1
                continue
            if reg.pds >= DESCEND_TABLES:
                continue
            reg.pds += 1
            pd = pt.Table(2, e & m.addr_mask, 0, tables.raw(e & m.addr_mask))
            for k in tables.present(pd):
                if pd.entry(k, m.entry_size) & pt.PS:
                    reg.large += 1
                else:
                    reg.small += 1
    return list(regions.values())


# -- drawing ------------------------------------------------------------------------------

COLORS = {"absent": "#f4f4f4", "present": "#7fc97f", "shared": "#5b8fd6", "zero": "#f0d060"}
PERM_COLORS = {"x": "#fde0dd", "w": "#e5f5e0", "r": "#f0f0f0"}


def _size(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << (shift - 3)) == 0:
            v = n / (1 << shift)
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n} B"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _row(text: str) -> str:
    return f'<TR><TD ALIGN="LEFT">{text}</TD></TR>'


def _table(rows: list[str], header: str, cols: int = 1, color: str = "#dddddd") -> str:
    head = f'<TR><TD COLSPAN="{cols}" BGCOLOR="{color}"><B>{header}</B></TD></TR>'
    return (
        '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3" '
        f'BGCOLOR="#ffffff">{head}{"".join(rows)}</TABLE>>'
    )


def _strip(a: Area) -> str:
    """The area's pages in at most STRIP cells, each colored by most of its
    pages: absent, present, shared (mapped more than once) or the zero page."""
    n = min(STRIP, max(a.pages, 1))
    cells = []
    for c in range(n):
        lo = a.vma.start + (c * a.pages // n) * PAGE
        hi = a.vma.start + max(((c + 1) * a.pages // n), (c * a.pages // n) + 1) * PAGE
        vas = range(lo, hi, PAGE)
        present = sum(1 for v in vas if v in a.pfns)
        if any(v in a.zero_vas for v in vas):
            kind = "zero"
        elif 2 * sum(1 for v in vas if v in a.shared_vas) > len(vas):
            kind = "shared"
        elif 2 * present >= len(vas) and present:
            kind = "present"
        else:
            kind = "absent"
        cells.append(f'<TD BGCOLOR="{COLORS[kind]}" WIDTH="6" HEIGHT="12" FIXEDSIZE="TRUE"></TD>')
    return (
        '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="0"><TR>'
        + "".join(cells)
        + "</TR></TABLE>"
    )


def _area_row(i: int, a: Area) -> str:
    v = a.vma
    perm = "x" if "x" in v.perms else "w" if "w" in v.perms else "r"
    what = _e(a.name) if a.name else "<I>anonymous</I>"
    if v.file and v.pgoff:
        what += f" +0x{v.pgoff * PAGE:x}"
    pages = f"{a.present}/{a.pages} present"
    if a.shared:
        pages += f", {a.shared} shared"
    if a.zero_vas:
        pages += f", {len(a.zero_vas)} zero page"
    runs = len(a.runs)
    cells = [
        f"0x{v.start:x}",
        f"0x{v.end:x}",
        _size(v.end - v.start),
        f"<B>{v.perms}</B>",
        what,
        f"{pages} ({runs} run{'s' if runs != 1 else ''})",
    ]
    bg = PERM_COLORS[perm]
    port = f' PORT="a{i}"'
    tds = [
        f'<TD ALIGN="LEFT" BGCOLOR="{bg}"{port if k == 0 else ""}>{c}</TD>'
        for k, c in enumerate(cells)
    ]
    tds.append(f'<TD PORT="o{i}" BGCOLOR="{PERM_COLORS[perm]}">{_strip(a)}</TD>')
    return "<TR>" + "".join(tds) + "</TR>"


def _table_label(mm: MemMap, t: pt.Table) -> str:
    m = mm.mode
    name = m.level_names[t.level]
    span = 1 << (m.shifts[t.level] + (m.counts[t.level] - 1).bit_length())
    rows = []
    if t.level == 0:
        rows.append(
            _row(
                f"user half: {len(mm.root_user)} present "
                + " ".join(f"[{i}]" for i in mm.root_user[:8])
            )
        )
        if mm.kernel:
            rows.append(_row(f"kernel half: {len(mm.kernel)} present (the same in every process)"))
    else:
        rows.append(_row(f"maps 0x{t.va:x}–0x{t.va + span - 1:x}"))
    leaf_level = t.level == len(m.shifts) - 1
    used = sorted(t.used)
    if leaf_level:
        present = [i for i in used if t.entry(i, m.entry_size) & pt.P]
        rows.append(
            _row(
                f"{len(used)} entries on the areas' path: {len(present)} present "
                f"(4 KiB), {len(used) - len(present)} empty"
            )
        )
    else:
        shown = [i for i in used if t.level > 0 or i < m.counts[0] // 2 or m is not pt.LONG4]
        for i in shown[:8]:
            e = t.entry(i, m.entry_size)
            sub = 1 << m.shifts[t.level]
            if not e & pt.P:
                what = f"empty: {_size(sub)} unmapped"
            elif m.large[t.level] and e & pt.PS:
                what = f"<B>{_size(sub)} page</B> at 0x{e & m.addr_mask & ~(sub - 1):x}"
            else:
                what = f"{m.level_names[t.level + 1]} at 0x{e & m.addr_mask:x}"
            rows.append(_row(f"[{i}] {what}"))
        if len(shown) > 8:
            rows.append(_row(f"… {len(shown) - 8} more entries used"))
    return _table(rows, f"{name} at 0x{t.pa:x}", color="#e8e0f8" if leaf_level else "#dcd6ee")


def _kernel_pages(k: KernelRegion) -> str:
    out = [f"<B>{k.huge} × 1 GiB</B>"] if k.huge else []
    out += [f"<B>{k.large} × 2 MiB</B>"] if k.large else []
    out += [f"{k.small} page tables (4 KiB pages)"] if k.small else []
    return ", ".join(out) or f"{k.entries} entries"


def graph(mm: MemMap) -> "graphviz.Digraph":
    """The memory map as a Graphviz graph: tables (left) map areas (middle);
    the other processes that map the same pages are on the right."""
    try:
        import graphviz
    except ImportError:
        raise ClientError(
            "the graphviz package is not installed: pip install "
            "'ramooflax[plots]' (and apt-get install graphviz for dot)"
        ) from None
    t = mm.task
    present = sum(a.present for a in mm.areas)
    pages = sum(a.pages for a in mm.areas)
    shared = sum(a.shared for a in mm.areas)
    title = (
        f"{t.comm} (pid {t.pid}), cr3 0x{t.cr3:x}: {len(mm.areas)} areas, "
        f"{present} of {pages} pages present"
        + (f", {shared} mapped by other processes too" if mm.mapcount else "")
        + f" — {mm.mode.name} page tables, {len(mm.tables)} table pages read"
    )
    g = graphviz.Digraph(
        "memmap",
        graph_attr={
            "rankdir": "LR",
            "label": title,
            "labelloc": "t",
            "fontname": "DejaVu Sans",
            "fontsize": "14",
            "nodesep": "0.25",
            "ranksep": "0.6",
        },
        node_attr={"shape": "plaintext", "fontname": "DejaVu Sans Mono", "fontsize": "10"},
        edge_attr={"fontname": "DejaVu Sans", "fontsize": "9", "arrowsize": "0.6"},
    )
    for tb in mm.tables.values():
        g.node(f"t{tb.pa:x}", _table_label(mm, tb))
        if tb.parent is not None and tb.parent in mm.tables:
            g.edge(f"t{tb.parent:x}", f"t{tb.pa:x}", label=f"[{tb.parent_index}]")
    if mm.kernel:
        rows = [
            _row(f"{k.span} {_e(k.label)}" + (f": {_kernel_pages(k)}" if k.entries else ""))
            for k in mm.kernel
        ]
        g.node("kernel", _table(rows, "kernel half of the PML4", color="#f8e0d0"))
        g.edge(f"t{next(iter(mm.tables.values())).pa:x}", "kernel", style="dotted")
    head = "".join(
        f'<TD BGCOLOR="#dddddd"><B>{h}</B></TD>'
        for h in ("start", "end", "size", "perms", "mapping", "pages", "page strip")
    )
    area_rows = "".join(_area_row(i, a) for i, a in enumerate(mm.areas))
    g.node(
        "areas",
        '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3" '
        f'BGCOLOR="#ffffff"><TR>{head}</TR>{area_rows}</TABLE>>',
    )
    for i, a in enumerate(mm.areas):
        for leaf in sorted(a.tables):
            g.edge(f"t{leaf:x}", f"areas:a{i}:w", style="dashed", color="#7a6fb0")
        for pid, n in sorted(a.sharers.items()):
            g.edge(
                f"areas:o{i}:e", f"p{pid}", label=f"{n} page{'s' if n > 1 else ''}", color="#5b8fd6"
            )
    for pid, other in mm.others.items():
        if any(pid in a.sharers for a in mm.areas):
            g.node(f"p{pid}", _table([], f"{_e(other.comm)} (pid {pid})", color="#d6e4f8"))
    legend = "".join(
        f'<TR><TD BGCOLOR="{c}" WIDTH="12"></TD><TD ALIGN="LEFT">{k}</TD></TR>'
        for k, c in (
            ("absent", COLORS["absent"]),
            ("present", COLORS["present"]),
            ("shared (mapped 2+ times)", COLORS["shared"]),
            ("the zero page", COLORS["zero"]),
        )
    )
    g.node(
        "legend",
        f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="2">'
        f'<TR><TD COLSPAN="2"><B>page strip</B></TD></TR>{legend}</TABLE>>',
    )
    return g


FORMATS = ("svg", "png", "pdf")


def output_format(out: Path) -> str:
    """The picture's format from the file's suffix (svg, png, pdf, or dot for the source)."""
    fmt = out.suffix.lstrip(".").lower()
    fmt = "dot" if fmt == "gv" else fmt
    if fmt not in (*FORMATS, "dot"):
        raise ClientError(f"{out}: give a .svg, .png, .pdf or .dot file")
    return fmt


def draw(mm: MemMap, out: Path) -> Path:
    """Write the picture; the format follows the suffix (.svg .png .pdf, or .dot/.gv
    for the Graphviz source)."""
    fmt = output_format(out)
    g = graph(mm)
    if fmt == "dot":
        out.write_text(g.source)
        return out
    import graphviz

    try:
        data = g.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise ClientError(
            "Graphviz's dot is not installed: apt-get install graphviz (or write a .dot file)"
        ) from None
    out.write_bytes(data)
    return out
