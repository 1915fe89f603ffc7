"""The Linux queries as tables (rich when installed, plain text otherwise)."""

from typing import Any

from ramooflax.os.linux import VMA, Module, Task


def _table(title: str, cols: list[str], rows: list[list[str]]) -> Any:
    try:
        from rich.table import Table
    except ImportError:
        widths = [
            max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)
        ]
        lines = [title, "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
        return "\n".join(lines)
    table = Table(title=title)
    for c in cols:
        table.add_column(c, justify="right" if c in ("pid", "ppid", "uid", "size") else "left")
    for r in rows:
        table.add_row(*r)
    return table


def ps(tasks: list[Task]) -> Any:
    rows = [
        [
            str(t.pid),
            str(t.ppid),
            "?" if t.uid is None else str(t.uid),
            t.state,
            t.comm,
            f"0x{t.cr3:x}" if t.cr3 else "-",
        ]
        for t in tasks
    ]
    return _table(f"{len(tasks)} processes", ["pid", "ppid", "uid", "state", "comm", "cr3"], rows)


def modules(mods: list[Module]) -> Any:
    rows = [[m.name, f"0x{m.base:x}", str(m.size)] for m in mods]
    return _table(f"{len(mods)} modules", ["name", "base", "size"], rows)


def vmas(task: Task, areas: list[VMA]) -> Any:
    rows = [[f"0x{v.start:x}", f"0x{v.end:x}", v.perms, v.file] for v in areas]
    return _table(
        f"pid {task.pid} ({task.comm}): {len(areas)} areas", ["start", "end", "perms", "file"], rows
    )


def show(table: Any) -> None:
    if isinstance(table, str):
        print(table)
        return
    from rich.console import Console

    Console().print(table)
