"""The kernel's export table (__ksymtab, __ksymtab_gpl), found in memory.

Where kallsyms lacks data symbols (a kernel without CONFIG_KALLSYMS_ALL,
like Debian's 686), the exported ones still have an entry each:
struct kernel_symbol (include/linux/export.h) is {value, name, namespace},
absolute pointers, or 32-bit offsets from each field where the arch has
CONFIG_HAVE_ARCH_PREL32_RELOCATIONS (x86-64). The names are C strings in
__ksymtab_strings. A sparse sample of the image finds the table.
"""

import struct

from ramooflax.errors import AddressNotMapped
from ramooflax.os.kallsyms import Read
from ramooflax.os.vmlinuz import LinuxError

ENTRY = 12
STEP = 0x8000
WINDOW = 0x100000  # names of one sample lie within this span


def _entries(data: bytes, at: int, prel: bool, mask: int) -> list[tuple[int, int]]:
    """(value, name address) of the 12-byte entries in data (data starts at at)."""
    out = []
    for i in range(0, len(data) - ENTRY + 1, ENTRY):
        v, n, _ = struct.unpack_from("<III", data, i)
        if prel:
            v = (at + i + _s32(v)) & mask
            n = (at + i + 4 + _s32(n)) & mask
        out.append((v, n))
    return out


def _s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


def _plausible(entries: list[tuple[int, int]], lo: int, hi: int) -> bool:
    names = [n for _, n in entries]
    return (
        len(set(names)) == len(names)
        and all(lo <= v < hi for v, _ in entries)
        and all(lo <= n < hi for n in names)
        and max(names) - min(names) < WINDOW
    )


def _sorted_names(read: Read, ents: list[tuple[int, int]]) -> bool:
    """The names are C identifiers in ascending order (the linker script sorts
    the ___ksymtab+NAME sections by name)."""
    names = []
    for _, n in ents:
        try:
            raw = read(n, 64).split(b"\0", 1)[0]
        except (AddressNotMapped, LinuxError):
            return False
        if not raw or not raw.replace(b"_", b"").isalnum() or raw[:1].isdigit():
            return False
        names.append(raw)
    return names == sorted(names)


def exports(read: Read, start: int, stop: int, text: int, end: int, ps: int) -> dict[str, int]:
    """name -> address of every exported symbol, the table searched in [start, stop);
    text..end bounds the kernel image (values and names lie inside)."""
    mask = (1 << (8 * ps)) - 1
    for addr in range(start - start % STEP, stop, STEP):
        try:
            sample = read(addr, 5 * ENTRY + 8)
        except (AddressNotMapped, LinuxError):
            continue
        for phase in range(0, ENTRY, 4):
            for prel in (True, False):
                ents = _entries(sample[phase : phase + 5 * ENTRY], addr + phase, prel, mask)
                if _plausible(ents, text, end) and _sorted_names(read, ents):
                    return _table(read, addr + phase, text, end, prel, mask)
    raise LinuxError(f"no __ksymtab between 0x{start:x} and 0x{stop:x}")


def _table(read: Read, hit: int, lo: int, hi: int, prel: bool, mask: int) -> dict[str, int]:
    block = ENTRY * 0x155  # about 4 KiB of entries
    first = hit
    while True:
        try:
            ents = _entries(read(first - block, block), first - block, prel, mask)
        except (AddressNotMapped, LinuxError):
            break
        good = 0
        for v, n in reversed(ents):
            if not (lo <= v < hi and lo <= n < hi):
                break
            good += 1
        first -= good * ENTRY
        if good < len(ents):
            break
    last = hit
    while True:
        try:
            ents = _entries(read(last, block), last, prel, mask)
        except (AddressNotMapped, LinuxError):
            break
        good = 0
        for v, n in ents:
            if not (lo <= v < hi and lo <= n < hi):
                break
            good += 1
        last += good * ENTRY
        if good < len(ents):
            break
    ents = _entries(read(first, last - first), first, prel, mask)
    names = sorted(n for _, n in ents)
    # The bulk of the names (ignore stray hits at the table's fuzzy edges).
    mid = names[len(names) // 2]
    near = [n for n in names if abs(n - mid) < WINDOW]
    s_lo, s_hi = min(near), max(near) + 128
    strings = read(s_lo, s_hi - s_lo)
    out: dict[str, int] = {}
    for v, n in ents:
        if s_lo <= n < s_hi:
            raw = strings[n - s_lo :].split(b"\0", 1)[0]
            if raw and raw.replace(b"_", b"").isalnum():
                out.setdefault(raw.decode(), v)
    return out
