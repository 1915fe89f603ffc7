"""The two register views the paper gives, `cpu.gpr` and `cpu.sr`, over the
layout the stub describes in its target.xml (ramooflax.tdesc): names,
sizes, numbers and which registers are general or system ones all come from
the stub at attach.

Reads come from one `g` packet per stop (cached until the VM runs). Writes
are lazy: `cpu.gpr.rax = 0` records the value, and the CPU commits every
dirty register with `P n=v` just before the VM resumes or steps (or at
detach).
"""

from collections.abc import Callable, Iterator

from ramooflax.tdesc import Layout

# 32-bit and 16-bit names for the low parts: (register, mask). x86 itself
# defines these views; the stub describes only the full registers.
ALIASES: dict[str, tuple[str, int]] = {"rflags": ("eflags", 0xFFFFFFFF)}
for _r in ["ax", "bx", "cx", "dx", "si", "di", "bp", "sp"]:
    ALIASES["e" + _r] = ("r" + _r, 0xFFFFFFFF)
    ALIASES[_r] = ("r" + _r, 0xFFFF)
ALIASES["eip"] = ("rip", 0xFFFFFFFF)
ALIASES["ip"] = ("rip", 0xFFFF)
for _i in range(8, 16):
    ALIASES[f"r{_i}d"] = (f"r{_i}", 0xFFFFFFFF)


class RegisterFile:
    """Cached values and pending writes, shared by the gpr and sr views.

    `layout` gives the attached stub's Layout (it raises NotAttached
    before); `fetch` returns the `g` values; the cache is dropped by
    invalidate() when the VM runs. `dirty` holds the writes not yet sent.
    """

    def __init__(
        self,
        layout: Callable[[], Layout],
        fetch: Callable[[], dict[str, int]],
        check: Callable[[str], None],
    ) -> None:
        self.layout = layout
        self._fetch = fetch
        self._check = check
        self._values: dict[str, int] | None = None
        self.dirty: dict[str, int] = {}

    def invalidate(self) -> None:
        self._values = None

    def values(self) -> dict[str, int]:
        if self._values is None:
            self._check("reading registers")
            self._values = self._fetch()
        merged = dict(self._values)
        merged.update(self.dirty)
        return merged

    def get(self, name: str) -> int:
        if name in ALIASES:
            base, mask = ALIASES[name]
            return self.get(base) & mask
        if name not in self.layout().by_name:
            raise AttributeError(f"no register {name!r}")
        if name in self.dirty:
            return self.dirty[name]
        return self.values()[name]

    def set(self, name: str, value: int) -> None:
        if name in ALIASES:
            base, mask = ALIASES[name]
            value = (self.get(base) & ~mask) | (value & mask)
            name = base
        reg = self.layout().by_name.get(name)
        if reg is None:
            raise AttributeError(f"no register {name!r}")
        self._check(f"writing {name}")
        self.dirty[name] = value & ((1 << (8 * reg.size)) - 1)

    def take_dirty(self) -> list[str]:
        """The P packets for the pending writes, in register order; clears them."""
        layout = self.layout() if self.dirty else None
        packets = (
            [
                layout.p_packet(n, v)
                for n, v in sorted(self.dirty.items(), key=lambda kv: layout.by_name[kv[0]].num)
            ]
            if layout
            else []
        )
        if self._values is not None:
            self._values.update(self.dirty)
        self.dirty.clear()
        return packets


class RegisterView:
    """Attribute access to a set of registers, with a readable table as repr.

    `select` picks the view's names from the layout (Layout.gpr_names or
    Layout.sr_names); before attach there is no layout, and no register.
    """

    def __init__(
        self, regs: RegisterFile, select: Callable[[Layout], list[str]], title: str
    ) -> None:
        object.__setattr__(self, "_regs", regs)
        object.__setattr__(self, "_select", select)
        object.__setattr__(self, "_title", title)

    @property
    def _names(self) -> list[str]:
        regs: RegisterFile = object.__getattribute__(self, "_regs")
        select: Callable[[Layout], list[str]] = object.__getattribute__(self, "_select")
        return select(regs.layout())

    def _ok(self, name: str) -> bool:
        base = ALIASES.get(name, (name, 0))[0]
        return base in self._names

    def __getattr__(self, name: str) -> int:
        if name.startswith("_") or not self._ok(name):
            raise AttributeError(f"{self._title} has no register {name!r}")
        regs: RegisterFile = object.__getattribute__(self, "_regs")
        return regs.get(name)

    def __setattr__(self, name: str, value: int) -> None:
        if not self._ok(name):
            raise AttributeError(f"{self._title} has no register {name!r}")
        regs: RegisterFile = object.__getattribute__(self, "_regs")
        regs.set(name, int(value))

    def __getitem__(self, name: str) -> int:
        return self.__getattr__(name)

    def __setitem__(self, name: str, value: int) -> None:
        self.__setattr__(name, value)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __dir__(self) -> list[str]:
        try:
            names = self._names
        except Exception:  # noqa: BLE001 - completion before attach: no names
            return []
        extra = [a for a, (b, _) in ALIASES.items() if b in names]
        return sorted(set(names) | set(extra))

    def as_dict(self) -> dict[str, int]:
        regs: RegisterFile = object.__getattribute__(self, "_regs")
        values = regs.values()
        return {n: values[n] for n in self._names}

    def table(self, columns: int = 3) -> str:
        """The registers as `name = 0x...` cells, `columns` per line ('*' marks pending writes)."""
        regs: RegisterFile = object.__getattribute__(self, "_regs")
        values = regs.values()
        layout = regs.layout()
        cells = []
        for n in self._names:
            width = 2 * layout.by_name[n].size
            mark = "*" if n in regs.dirty else " "
            cells.append(f"{n:>14} = 0x{values[n]:0{width}x}{mark}")
        lines = []
        for i in range(0, len(cells), columns):
            lines.append("  ".join(f"{c:<36}" for c in cells[i : i + columns]).rstrip())
        return "\n".join(lines)

    def __repr__(self) -> str:
        try:
            return self.table()
        except Exception as exc:  # noqa: BLE001 - a repr must not raise (the shell calls it)
            return f"<{self._title}: {exc}>"
