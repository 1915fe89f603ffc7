"""The kernel's own symbol table (kallsyms), found and decoded in its image.

scripts/kallsyms.c writes these tables into .rodata, each aligned to a
pointer (`ALGN`):

* kallsyms_offsets: one 32-bit value per symbol, sorted by address; a
  symbol's address is kallsyms_relative_base + value, or, with
  CONFIG_KALLSYMS_ABSOLUTE_PERCPU, value itself for a non-negative value (the
  per-CPU symbols) and relative_base - 1 - value for a negative one;
* kallsyms_relative_base: a pointer, relocated with the kernel;
* kallsyms_num_syms;
* kallsyms_names: per symbol a length (one byte, or two when the first has
  bit 7 set: 6.1+) and that many indices into the token table; the expanded
  name starts with the type letter (t, T, d, D, ...);
* kallsyms_markers: the names offset of every 256th symbol;
* kallsyms_token_table: 256 NUL-terminated tokens, and
  kallsyms_token_index: 256 16-bit offsets into it.

Up to 6.2 the order is offsets, relative_base, num_syms, names, markers,
(6.2: seqs_of_names), token_table, token_index; since 6.3 it is num_syms,
names, markers, token_table, token_index, offsets, relative_base,
seqs_of_names. Both are found from the offsets table, whose shape (a long
sorted run of small 32-bit values) a sparse sample of the image finds with
few small reads.
"""

import itertools
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ramooflax.errors import AddressNotMapped
from ramooflax.os.vmlinuz import LinuxError

Read = Callable[[int, int], bytes]  # (address, size) -> bytes; raises for unmapped memory

SAMPLE_STEP = 0x10000  # a 64 KiB stride: the offsets table of any kernel spans several
SAMPLE = 64
BLOCK = 0x4000
MAX_GAP = 0x8000000  # between two consecutive symbols (text/data holes, big .bss arrays)
MIN_SYMS = 5000


@dataclass
class Kallsyms:
    """Names, type letters and runtime addresses, in the table's (address) order."""

    names: list[str]
    types: str
    addrs: list[int]
    where: dict[str, int]  # table name -> address in the image, for reports

    def __post_init__(self) -> None:
        self._index = {n: i for i, n in reversed(list(enumerate(self.names)))}

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def get(self, name: str) -> int | None:
        i = self._index.get(name)
        return None if i is None else self.addrs[i]

    def __getitem__(self, name: str) -> int:
        i = self._index.get(name)
        if i is None:
            raise LinuxError(f"{name} is not in the kernel's kallsyms")
        return self.addrs[i]

    def items(self) -> Iterator[tuple[str, str, int]]:
        yield from zip(self.names, self.types, self.addrs, strict=True)


def _i32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


def _step_ok(a: int, b: int) -> bool:
    """b may follow a in kallsyms_offsets (as raw 32-bit values)."""
    sa, sb = _i32(a), _i32(b)
    if sa >= 0 and sb >= 0:
        return 0 <= sb - sa < MAX_GAP  # relative (or absolute per-CPU) values rise
    if sa < 0 and sb < 0:
        return 0 <= sa - sb < MAX_GAP  # relative_base - 1 - value: they fall
    return sa >= 0 > sb  # absolute per-CPU symbols, then the relative ones


def _looks_like_offsets(data: bytes) -> bool:
    words = struct.unpack(f"<{len(data) // 4}I", data[: len(data) // 4 * 4])
    if len(set(words)) < len(words) // 2:
        return False
    return all(_step_ok(a, b) for a, b in itertools.pairwise(words))


def find(read: Read, start: int, stop: int, ptr_size: int, step: int = SAMPLE_STEP) -> Kallsyms:
    """Locate and decode kallsyms in [start, stop) of the kernel's address space."""
    first = start - start % step
    for addr in range(first, stop, step):
        try:
            sample = read(addr, SAMPLE)
        except (AddressNotMapped, LinuxError):
            continue
        if not _looks_like_offsets(sample):
            continue
        found = _from_offsets_hit(read, addr, ptr_size)
        if found is not None:
            return found
    raise LinuxError(
        f"no kallsyms tables between 0x{start:x} and 0x{stop:x}: is this a Linux "
        "kernel built with CONFIG_KALLSYMS?"
    )


def _run_bounds(read: Read, hit: int) -> tuple[int, int]:
    """The [start, end) of the sorted 32-bit run through hit, by blocks."""
    start = hit
    while True:  # downwards
        try:
            blk = read(start - BLOCK, BLOCK)
        except (AddressNotMapped, LinuxError):
            break
        words = struct.unpack(f"<{BLOCK // 4}I", blk) + struct.unpack("<I", read(start, 4))
        i = len(words) - 1
        while i > 0 and _step_ok(words[i - 1], words[i]):
            i -= 1
        start -= (len(words) - 1 - i) * 4
        if i > 0:
            break
    end = hit
    while True:  # upwards
        try:
            blk = read(end - 4, BLOCK + 4)
        except (AddressNotMapped, LinuxError):
            break
        words = struct.unpack(f"<{(BLOCK + 4) // 4}I", blk)
        i = 0
        while i < len(words) - 1 and _step_ok(words[i], words[i + 1]):
            i += 1
        end += i * 4
        if i < len(words) - 1:
            break
    return start, end


def _from_offsets_hit(read: Read, hit: int, ps: int) -> Kallsyms | None:
    start, end = _run_bounds(read, hit)
    count = (end - start) // 4
    if count < MIN_SYMS:
        return None
    fmt = "<Q" if ps == 8 else "<I"
    # Up to 6.2: relative_base, then num_syms, then names, each aligned. On
    # 32 bits the base (a negative int32) may extend the run by one word.
    for cut in (0, 4, 8):
        base_at = _align(end - cut, ps)
        after = read(base_at, 2 * ps + 4)
        base = int(struct.unpack_from(fmt, after, 0)[0])
        n = int(struct.unpack_from("<I", after, ps)[0])
        if count - 64 <= n <= count and base >> (8 * ps - 2) == 3:  # a kernel address
            names_at = _align(base_at + ps + 4, ps)
            return _decode_old(read, end - cut - 4 * n, n, base, names_at, ps)
    # Since 6.3: token_index ends (aligned) just before the offsets.
    base = int(struct.unpack_from(fmt, read(_align(end, ps), ps), 0)[0])
    return _decode_new(read, start, end, base, ps)


def _align(v: int, a: int) -> int:
    return (v + a - 1) // a * a


def _token_index(data: bytes, at: int) -> list[int] | None:
    idx = list(struct.unpack_from("<256H", data, at))
    if idx[0] != 0 or not all(1 < b - a < 64 for a, b in itertools.pairwise(idx)):
        return None
    return idx


def _tokens(table: bytes, idx: list[int]) -> list[str] | None:
    out = []
    for i, off in enumerate(idx):
        end = table.find(b"\0", off)
        if end < 0 or (i + 1 < len(idx) and end + 1 != idx[i + 1]):
            return None
        out.append(table[off:end].decode("latin-1"))
    return out


def _expand(names: bytes, n: int, tokens: list[str]) -> tuple[list[str], str, int]:
    """(names, type letters, bytes used) of the first n entries of kallsyms_names."""
    out, types = [], []
    pos = 0
    for _ in range(n):
        length = names[pos]
        pos += 1
        if length & 0x80:
            length = (length & 0x7F) | (names[pos] << 7)
            pos += 1
        full = "".join(tokens[b] for b in names[pos : pos + length])
        pos += length
        types.append(full[:1])
        out.append(full[1:])
    return out, "".join(types), pos


def _walk(names: bytes, n: int) -> int | None:
    """Bytes used by the first n entries of kallsyms_names (None if it runs off)."""
    pos = 0
    for _ in range(n):
        if pos >= len(names):
            return None
        length = names[pos]
        pos += 1
        if length & 0x80:
            length = (length & 0x7F) | (names[pos] << 7)
            pos += 1
        pos += length
    return pos if pos <= len(names) else None


def _addresses(raw: bytes, n: int, base: int) -> list[int]:
    vals = struct.unpack(f"<{n}I", raw[: 4 * n])
    if any(v & 0x80000000 for v in vals):  # CONFIG_KALLSYMS_ABSOLUTE_PERCPU
        return [v if not v & 0x80000000 else base - 1 - _i32(v) for v in vals]
    return [base + v for v in vals]


def _decode_old(
    read: Read, offsets_at: int, n: int, base: int, names_at: int, ps: int
) -> Kallsyms | None:
    offsets = read(offsets_at, 4 * n)
    names = b""
    used = None
    chunk = max(BLOCK, n * 8)
    while used is None:
        names += read(names_at + len(names), chunk)
        used = _walk(names, n)
        if len(names) > n * 64:
            return None
    tail_at = _align(names_at + used, ps)
    # markers, (kallsyms_seqs_of_names: 3 bytes a symbol, in 6.2 and in some 6.1
    # stable kernels), then the token table and its index, whose first entry is 0.
    markers = (n + 255) // 256
    for skip in (0, _align(markers * 4, ps) + 3 * n - 0x40):
        tail = read(tail_at + skip, _align(markers * 8, ps) + 0x1800)
        found = _tokens_in(tail, ps)
        if found is not None:
            tokens, tstart = found
            names_list, types, _ = _expand(names, n, tokens)
            where = {
                "kallsyms_offsets": offsets_at,
                "kallsyms_names": names_at,
                "kallsyms_token_table": tail_at + skip + tstart,
            }
            return Kallsyms(names_list, types, _addresses(offsets, n, base), where)
    return None


def _tokens_in(tail: bytes, ps: int) -> tuple[list[str], int] | None:
    """The token table in tail, from its index (256 rising u16 from 0)."""
    for at in range(0, len(tail) - 512, 2):
        if tail[at : at + 2] != b"\0\0" or not 1 < tail[at + 2] < 64:
            continue
        idx = _token_index(tail, at)
        if idx is None:
            continue
        for pad in range(ps):
            tstart = at - pad - _table_len(tail, at - pad, idx)
            if tstart < 0:
                continue
            tokens = _tokens(tail[tstart:], idx)
            if tokens is not None:
                return tokens, tstart
    return None


def _table_len(data: bytes, end: int, idx: list[int]) -> int:
    """The token table's length if it ends (with its last NUL) just before end."""
    if end < 1 or data[end - 1] != 0:
        return 1 << 30
    last = data.rfind(b"\0", 0, end - 1)  # the NUL before the last token
    return idx[-1] + (end - 1 - last)


def _decode_new(read: Read, start: int, end: int, base: int, ps: int) -> Kallsyms | None:
    # The run may have swallowed zero padding and token_index's tail: find the
    # index in the bytes before the run's first block.
    head_at = start - 0x2000
    head = read(head_at, 0x2000 + 0x400)
    for at in range((len(head) - 512) & ~1, -1, -2):
        if head[at : at + 2] != b"\0\0":
            continue
        idx = _token_index(head, at)
        if idx is None:
            continue
        offsets_at = head_at + _align(at + 512, ps)
        n = (end - offsets_at) // 4
        tlen = None
        for pad in range(ps):
            cand = _table_len(head, at - pad, idx)
            if cand < at and _tokens(head[at - pad - cand :], idx) is not None:
                tlen = cand
                table_at = at - pad - cand
                break
        if tlen is None:
            continue
        tokens = _tokens(head[table_at:], idx)
        assert tokens is not None
        markers_n = (n + 255) // 256
        for pad in range(ps):
            m_at = head_at + table_at - pad - 4 * markers_n
            markers = struct.unpack(f"<{markers_n}I", read(m_at, 4 * markers_n))
            if markers[0] != 0 or list(markers) != sorted(markers):
                continue
            # names end at the markers (aligned); walk back with the last marker
            size_hint = markers[-1] + 0x4000
            region_at = m_at - size_hint - 0x2000
            region = read(region_at, m_at - region_at)
            for names_pad in range(ps):
                names_end = len(region) - names_pad
                for cand in range(names_end - markers[-1] - 1, -1, -1):
                    tail = _walk(region[cand + markers[-1] : names_end], n - 256 * (markers_n - 1))
                    if tail is None or cand + markers[-1] + tail != names_end:
                        continue
                    if (region_at + cand) % ps:
                        continue
                    num = struct.unpack_from("<I", region, cand - ps)[0]
                    if num != n:
                        continue
                    names = region[cand:names_end]
                    names_list, types, _ = _expand(names, n, tokens)
                    offsets = read(offsets_at, 4 * n)
                    where = {
                        "kallsyms_offsets": offsets_at,
                        "kallsyms_names": region_at + cand,
                        "kallsyms_token_table": head_at + table_at,
                    }
                    return Kallsyms(names_list, types, _addresses(offsets, n, base), where)
    return None
