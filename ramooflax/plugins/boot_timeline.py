"""Boot timeline: a boot trace (plugins/boot_trace.py) as one self-contained HTML page.

    ramooflax plot boot [HOST:PORT] -o boot.html

The VM must wait at its first instruction (the hypervisor booted with
`ctrl_wait=1`). The page shows, against the VM's own run time: the CPU mode
(real, protected, long) as bands, one lane per kind of BIOS call (int 13h
disk reads with their LBA and buffer, int 15h E820 with the entries the
VM got, the A20 services and gates, video, keyboard, clock) and the mode
switches; then the disk reads as LBA over time, the memory map, and every
event in a table. No script: SVG and CSS inline, titles for tooltips.
"""

import html
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ramooflax.errors import ClientError
from ramooflax.model.enums import CPUMode
from ramooflax.model.vm import VM
from ramooflax.plugins.boot_trace import E820_TYPES, Step, trace_boot

LANES = [
    ("mode", "mode switches"),
    ("disk", "int 13h disk"),
    ("memory map", "int 15h E820"),
    ("a20", "A20"),
    ("video", "int 10h video"),
    ("keyboard", "int 16h keyboard"),
    ("clock", "int 1Ah clock"),
    ("system", "int 15h other"),
]
MODE_COLORS = {"real": "#f2b134", "protected": "#4e88c7", "long": "#5aae61", "paging": "#5aae61"}
LANE_COLORS = {
    "mode": "#333333",
    "disk": "#d6604d",
    "memory map": "#8e44ad",
    "a20": "#1b9e77",
    "video": "#888888",
    "keyboard": "#b8860b",
    "clock": "#b8860b",
    "system": "#555555",
    "end": "#000000",
}
PHASE_COLORS = {
    "boot stub": "#7b3294",
    "boot sector": "#c2a5cf",
    "boot loader": "#737373",
    "kernel": "#1a9850",
    "BIOS": "#bdbdbd",
}
# Who runs there, by the address of the instruction (the lab's chain; a guess elsewhere).
PHASES = [
    (0x600, 0x7C00, "boot stub"),
    (0x7C00, 0x7E00, "boot sector"),
    (0x7E00, 0xA0000, "boot loader"),
    (0x100000, 1 << 32, "kernel"),
]


@dataclass
class BootTrace:
    steps: list[Step]
    start: int  # linear address of the first instruction traced
    vm_seconds: float  # the VM's run time from the first instruction to the last step
    wall_seconds: float
    start_text: str = ""  # as CS:IP


def record(vm: VM, timeout: float = 600, progress: bool = True) -> BootTrace:
    """Trace the boot of an attached VM that waits at its first instruction."""
    status = vm.status()
    if status.mode is not CPUMode.REAL or vm.cpu.sr.cr0 & 1:
        raise ClientError(
            f"the VM is in {status.mode.value} mode at {status.rip:#x}, past its boot: boot the "
            "hypervisor with ctrl_wait=1 (`ramooflax lab run --hv-option ctrl_wait=1`) and "
            "trace it before any client lets it run"
        )
    start = (vm.cpu.sr.cs_base + vm.cpu.gpr.rip) & 0xFFFFFFFF
    start_text = f"{vm.cpu.gpr.cs & 0xFFFF:04x}:{vm.cpu.gpr.rip & 0xFFFF:04x}"
    t0, wall0 = vm.run_seconds, time.monotonic()
    last = [0.0]
    counts: Counter[str] = Counter()

    tty = sys.stderr.isatty()

    def show(step: Step) -> None:
        counts[step.kind] += 1
        now = time.monotonic()
        if progress and now - last[0] > (0.2 if tty else 10):
            last[0] = now
            sys.stderr.write(
                f"{chr(13) if tty else ''}boot trace: {step.index} events, "
                f"{step.t - t0:6.2f} s of VM time, {step.mode} mode, "
                f"{counts['disk']} disk calls{'   ' if tty else chr(10)}"
            )
            sys.stderr.flush()

    steps = trace_boot(vm, timeout, show)
    if progress and tty:
        sys.stderr.write("\n")
    for s in steps:
        s.t -= t0
    return BootTrace(steps, start, vm.run_seconds - t0, time.monotonic() - wall0, start_text)


# -- the page ------------------------------------------------------------------------------

W, LEFT, RIGHT = 1200, 140, 20  # SVG width and margins
LANE_H, BAND_H = 22, 26


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def phase_of(at: int) -> str:
    return next((name for lo, hi, name in PHASES if lo <= at < hi), "BIOS")


def _mode_spans(trace: BootTrace) -> list[tuple[float, float, str]]:
    spans, mode, since = [], "real", 0.0
    end = trace.vm_seconds
    for s in trace.steps:
        if s.kind == "mode" and s.mode != mode:
            spans.append((since, s.t, mode))
            mode, since = s.mode, s.t
    spans.append((since, end, mode))
    return [sp for sp in spans if sp[1] >= sp[0]]


def _phase_spans(trace: BootTrace) -> list[tuple[float, float, str]]:
    """(first, last event time, phase) of each run of events in one phase; what ran
    between two runs is not known (no event), and is drawn as such."""
    spans: list[tuple[float, float, str]] = []
    for s in trace.steps:
        phase = phase_of(s.at)
        if spans and spans[-1][2] == phase:
            spans[-1] = (spans[-1][0], s.t, phase)
        else:
            spans.append((0.0 if not spans and phase_of(trace.start) == phase else s.t, s.t, phase))
    return spans


def _ticks(end: float) -> list[float]:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120):
        if end / step <= 12:
            return [i * step for i in range(int(end / step) + 1)]
    return [0.0, end]


def timeline_svg(trace: BootTrace) -> str:
    end = max(trace.vm_seconds, 1e-3)
    span = W - LEFT - RIGHT

    def x(t: float) -> float:
        return LEFT + span * min(max(t, 0.0), end) / end

    height = 30 + 2 * (BAND_H + 8) + LANE_H * len(LANES) + 30
    out = [
        (
            f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{W}" '
            f'height="{height}" viewBox="0 0 {W} {height}" font-family="sans-serif" '
            'font-size="12">'
        )
    ]
    y = 30
    out.append(f'<text x="8" y="{y + 17}">CPU mode</text>')
    for lo, hi, mode in _mode_spans(trace):
        w = max(x(hi) - x(lo), 0.5)
        out.append(
            f'<rect class="band" data-mode="{mode}" x="{x(lo):.2f}" y="{y}" '
            f'width="{w:.2f}" height="{BAND_H}" fill="{MODE_COLORS.get(mode, "#ccc")}">'
            f"<title>{mode} mode, {lo:.3f}-{hi:.3f} s</title></rect>"
        )
    if trace.steps and trace.steps[-1].mode in ("long", "paging"):
        last = trace.steps[-1]
        out.append(
            f'<line class="band-end" data-mode="{last.mode}" x1="{x(last.t):.2f}" '
            f'x2="{x(last.t):.2f}" y1="{y - 4}" y2="{y + BAND_H + 4}" stroke-width="3" '
            f'stroke="{MODE_COLORS[last.mode]}"><title>{_e(last.what)}</title></line>'
            f'<text x="{x(last.t) - 4:.2f}" y="{y - 6}" text-anchor="end">'
            f"{'long mode' if last.mode == 'long' else 'paging'} at {last.t:.2f} s</text>"
        )
    y += BAND_H + 8
    out.append(f'<text x="8" y="{y + 17}">code</text>')
    out.append(
        f'<rect x="{LEFT}" y="{y}" width="{span}" height="{BAND_H}" fill="#eeeeee">'
        "<title>no event: what ran there is not known</title></rect>"
    )
    for lo, hi, phase in _phase_spans(trace):
        color = PHASE_COLORS.get(phase, "#ccc")
        out.append(
            f'<rect class="phase" data-phase="{phase}" x="{x(lo):.2f}" y="{y}" '
            f'width="{max(x(hi) - x(lo), 0.5):.2f}" height="{BAND_H}" fill="{color}">'
            f"<title>{phase}, {lo:.3f}-{hi:.3f} s</title></rect>"
        )
        if x(hi) - x(lo) > 70:
            out.append(f'<text x="{x(lo) + 4:.2f}" y="{y + 17}" fill="#fff">{phase}</text>')
    y += BAND_H + 8
    lane_y = {}
    for i, (kind, label) in enumerate(LANES):
        ly = y + i * LANE_H
        lane_y[kind] = ly
        fill = "#f7f7f7" if i % 2 == 0 else "#ffffff"
        out.append(f'<rect x="{LEFT}" y="{ly}" width="{span}" height="{LANE_H}" fill="{fill}"/>')
        out.append(f'<text x="8" y="{ly + 15}">{_e(label)}</text>')
    for s in trace.steps:
        if s.kind not in lane_y:
            continue
        ly = lane_y[s.kind]
        color = LANE_COLORS.get(s.kind, "#000")
        tip = f"#{s.index} {s.t:.3f} s {s.at:#x}: {s.what}"
        if s.kind == "mode":
            out.append(
                f'<circle class="event" data-kind="mode" data-index="{s.index}" '
                f'cx="{x(s.t):.2f}" cy="{ly + LANE_H / 2}" r="3" fill="{color}">'
                f"<title>{_e(tip)}</title></circle>"
            )
        else:
            out.append(
                f'<line class="event" data-kind="{_e(s.kind)}" data-index="{s.index}" '
                f'x1="{x(s.t):.2f}" x2="{x(s.t):.2f}" y1="{ly + 3}" y2="{ly + LANE_H - 3}" '
                f'stroke="{color}" stroke-width="1"><title>{_e(tip)}</title></line>'
            )
    axis = y + LANE_H * len(LANES)
    out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{axis}" y2="{axis}" stroke="#000"/>')
    for t in _ticks(end):
        out.append(
            f'<line x1="{x(t):.2f}" x2="{x(t):.2f}" y1="{axis}" y2="{axis + 5}" '
            f'stroke="#000"/><text x="{x(t):.2f}" y="{axis + 18}" '
            f'text-anchor="middle">{t:g} s</text>'
        )
    out.append(
        f'<text x="{LEFT}" y="18">VM run time, from {trace.start:#x} to paging on '
        f"({trace.vm_seconds:.2f} s)</text>"
    )
    out.append("</svg>")
    return "\n".join(out)


def disk_svg(reads: list[Step], end: float) -> str:
    """LBA over time: each read a bar as tall as its sectors."""
    end = max(end, 1e-3)
    h, top, bottom = 260, 20, 30
    lbas = [int(s.info["lba"]) + int(s.info["count"]) for s in reads]
    max_lba = max(lbas, default=1) or 1
    span = W - LEFT - RIGHT
    out = [
        (
            f'<svg id="disk-map" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" '
            f'viewBox="0 0 {W} {h}" font-family="sans-serif" font-size="12">'
        ),
        f'<text x="8" y="{top + 4}">LBA {max_lba}</text>',
        f'<text x="8" y="{h - bottom}">LBA 0</text>',
        (
            f'<rect x="{LEFT}" y="{top}" width="{span}" height="{h - top - bottom}" '
            'fill="#fafafa" stroke="#ccc"/>'
        ),
    ]
    scale = (h - top - bottom) / max_lba
    for s in reads:
        lba, count = int(s.info["lba"]), int(s.info["count"])
        xx = LEFT + span * s.t / end
        y = h - bottom - (lba + count) * scale
        out.append(
            f'<rect class="read" data-lba="{lba}" x="{xx:.2f}" y="{y:.2f}" width="2" '
            f'height="{max(count * scale, 1):.2f}" fill="{LANE_COLORS["disk"]}">'
            f"<title>{s.t:.3f} s: {count} sectors at LBA {lba} to "
            f"{int(s.info['buffer']):#x}</title></rect>"
        )
    for t in _ticks(end):
        out.append(
            f'<text x="{LEFT + span * t / end:.2f}" y="{h - 10}" '
            f'text-anchor="middle">{t:g} s</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def e820_map(steps: list[Step]) -> list[Step]:
    """The entries of the last complete E820 walk (continuation 0 to 0)."""
    walks: list[list[Step]] = [[]]
    for s in steps:
        if s.kind != "memory map" or "base" not in s.info:
            continue
        walks[-1].append(s)
        if int(s.info["next"]) == 0:
            walks.append([])
    done = [w for w in walks if w and int(w[-1].info["next"]) == 0]
    return done[-1] if done else walks[-1]


def read_runs(reads: list[Step]) -> list[tuple[int, int, int, float, float]]:
    """Contiguous reads merged: (first LBA, sectors, calls, first t, last t)."""
    runs: list[list[float]] = []
    for s in reads:
        lba, count = int(s.info["lba"]), int(s.info["count"])
        if runs and runs[-1][0] + runs[-1][1] == lba:
            runs[-1][1] += count
            runs[-1][2] += 1
            runs[-1][4] = s.t
        else:
            runs.append([lba, count, 1, s.t, s.t])
    return [(int(a), int(b), int(c), d, e) for a, b, c, d, e in runs]


CSS = """
body { font-family: sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
th { background: #eee; } td.n { text-align: right; font-family: monospace; }
.legend span { display: inline-block; padding: 2px 8px; margin-right: 8px; color: #fff; }
.summary { font-size: 14px; }
"""


def render(trace: BootTrace) -> str:
    """The page, as a string."""
    steps = trace.steps
    kinds = Counter(s.kind for s in steps)
    reads = [s for s in steps if s.kind == "disk" and "lba" in s.info]
    sectors = sum(int(s.info["count"]) for s in reads)
    modes = [s for s in steps if s.kind == "mode"]
    final = steps[-1].what if steps else "no event"
    legend = "".join(
        f'<span style="background:{c}">{m}</span>' for m, c in MODE_COLORS.items() if m != "paging"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Boot timeline</title>',
        f"<style>{CSS}</style></head><body>",
        f"<h1>Boot timeline: from {_e(trace.start_text or hex(trace.start))} to paging</h1>",
        (
            f'<p class="summary" id="summary">{len(steps)} events in {trace.vm_seconds:.2f} s of VM '
            f"run time ({trace.wall_seconds:.0f} s traced). Times are the VM's run time: the "
            "wall-clock seconds it ran between the stops, as the client measures them, so each "
            "stop adds its packets' round trip, and QEMU's emulation stretches with the host's "
            "load. "
            f"{kinds['disk']} disk calls reading {sectors} sectors "
            f"({sectors * 512 / 2**20:.1f} MiB), {kinds['memory map']} E820 calls, "
            f"{kinds['a20']} A20 events, {len(modes)} mode switches. Last: {_e(final)}.</p>"
        ),
        f'<p class="legend">CPU mode: {legend}</p>',
        timeline_svg(trace),
        "<h2>Disk reads (int 13h): LBA over time</h2>",
        disk_svg(reads, trace.vm_seconds),
        _runs_table(reads),
        "<h2>Memory map the VM was given (int 15h E820, answered by the VMM)</h2>",
        _e820_table(e820_map(steps)),
        "<h2>Mode switches</h2>",
        _modes_table(modes),
        "<h2>A20</h2>",
        _steps_table(
            [s for s in steps if s.kind == "a20"],
            "a20-table",
            empty="no A20 call or gate write: the A20 line was on already",
        ),
        f"<h2>Every event ({len(steps)})</h2>",
        f"<details><summary>show the {len(steps)} events</summary>",
        _steps_table(steps, "event-table"),
        "</details></body></html>",
    ]
    return "\n".join(parts)


def _step_row(s: Step) -> str:
    data = "".join(f' data-{k.replace(" ", "-")}="{_e(v)}"' for k, v in s.info.items())
    return (
        f'<tr class="ev" data-kind="{_e(s.kind)}" data-index="{s.index}" '
        f'data-t="{s.t:.6f}"{data}><td class="n">{s.index}</td>'
        f'<td class="n">{s.t:.3f}</td><td class="n">{s.at:#010x}</td>'
        f"<td>{_e(phase_of(s.at))}</td><td>{_e(s.mode)}</td>"
        f"<td>{_e(s.what)}</td></tr>"
    )


def _steps_table(steps: list[Step], table_id: str, empty: str = "none") -> str:
    if not steps:
        return f'<p id="{table_id}">{_e(empty)}</p>'
    rows = [_step_row(s) for s in steps]
    head = (
        "<tr><th>#</th><th>VM s</th><th>address</th><th>code</th><th>mode</th><th>event</th></tr>"
    )
    return f'<table id="{table_id}">{head}{"".join(rows)}</table>'


def _modes_table(modes: list[Step]) -> str:
    """The mode switches, with the boot loader's round trips to real mode (the same two
    instructions, again and again, for each BIOS call) folded into one row."""
    rows, i = [], 0
    while i < len(modes):
        s, k = modes[i], i
        pair = [(m.at, m.what) for m in modes[i : i + 2]]
        while k + 1 < len(modes) and [(m.at, m.what) for m in modes[k : k + 2]] == pair:
            k += 2
        trips = (k - i) // 2
        if trips < 2 or "PE" not in s.what:
            rows.append(_step_row(s))
            i += 1
            continue
        last = modes[k - 1]
        rows.append(
            f'<tr class="ev trips" data-kind="mode" data-index="{s.index}" '
            f'data-trips="{trips}"><td class="n">{s.index}-{last.index}</td>'
            f'<td class="n">{s.t:.3f}-{last.t:.3f}</td>'
            f'<td class="n">{s.at:#x}, {modes[i + 1].at:#x}</td>'
            f"<td>{_e(phase_of(s.at))}</td><td>{_e(s.mode)}, {_e(last.mode)}</td>"
            f"<td>{trips} round trips: {_e(s.what)} / {_e(modes[i + 1].what)}"
            "</td></tr>"
        )
        i = k
    head = (
        "<tr><th>#</th><th>VM s</th><th>address</th><th>code</th><th>mode</th><th>event</th></tr>"
    )
    return f'<table id="mode-table">{head}{"".join(rows)}</table>'


def _runs_table(reads: list[Step]) -> str:
    rows = [
        f'<tr class="run" data-lba="{lba}" data-sectors="{n}"><td class="n">{lba}</td>'
        f'<td class="n">{lba + n - 1}</td><td class="n">{n}</td>'
        f'<td class="n">{n * 512 / 1024:.0f} KiB</td><td class="n">{calls}</td>'
        f'<td class="n">{t0:.3f}-{t1:.3f} s</td></tr>'
        for lba, n, calls, t0, t1 in read_runs(reads)
    ]
    head = (
        "<tr><th>first LBA</th><th>last LBA</th><th>sectors</th><th>size</th>"
        "<th>calls</th><th>VM time</th></tr>"
    )
    return f'<table id="read-runs">{head}{"".join(rows)}</table>'


def _e820_table(entries: list[Step]) -> str:
    if not entries:
        return '<p id="e820">no E820 entry was returned</p>'
    rows = []
    for s in entries:
        base, length, kind = int(s.info["base"]), int(s.info["length"]), int(s.info["type"])
        rows.append(
            f'<tr class="e820" data-base="{base}" data-length="{length}" '
            f'data-type="{kind}"><td class="n">{base:#014x}</td>'
            f'<td class="n">{base + length - 1:#014x}</td>'
            f'<td class="n">{_size(length)}</td>'
            f"<td>{_e(E820_TYPES.get(kind, f'type {kind}'))}</td></tr>"
        )
    head = "<tr><th>base</th><th>last</th><th>size</th><th>type</th></tr>"
    return f'<table id="e820">{head}{"".join(rows)}</table>'


def _size(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.4g} {unit}"
    return f"{n} B"


def write_html(trace: BootTrace, out: Path) -> Path:
    out.write_text(render(trace), encoding="utf-8")
    return out
