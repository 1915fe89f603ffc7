"""Whole-RAM dumps in a format Volatility 3 reads: LiME, or raw with the holes.

LiME (github.com/504ensicsLabs/LiME, doc/README.md "Output formats"): per
range a 32-byte header, little-endian: magic 0x4C694D45, version 1, the
first and the last physical address (inclusive), 8 reserved bytes; then
the range's bytes. Raw: the ranges at their own offsets, holes as zeros
(sparse in the file).

Which ranges are RAM: the guest kernel's own memory map when the client
understands the kernel (Linux: iomem_resource's "System RAM" entries, what
/proc/iomem lists), which is right on a real machine too: it skips the
firmware's reserved ranges and the MMIO holes, and takes RAM above 4 GiB.
Otherwise the VMM's view: conventional memory below 640 KiB and everything
from 1 MiB up to the VMM's hidden range, which the VMM reports; on a real
machine that misses RAM above 4 GiB and reads reserved ranges.
"""

import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ramooflax.errors import AddressNotMapped, ClientError, RamooflaxError
from ramooflax.lab import facts

if TYPE_CHECKING:
    from ramooflax.model.vm import VM

LIME_MAGIC = 0x4C694D45
CHUNK = 8 << 20  # one pread: its pipeline drains once per CHUNK
SOURCES = ("auto", "kernel", "vmm")
Ranges = list[tuple[int, int]]


def vmm_ranges(vm: "VM") -> Ranges:
    """[start, end) of the VM's RAM as the VMM sees it (below 640 KiB, 1 MiB to its range)."""
    top = facts.vmm_range(vm.exits()).start
    return [(0, 0xA0000), (0x100000, top)]


def ram_ranges(vm: "VM", source: str = "auto") -> tuple[Ranges, str]:
    """The RAM ranges and where they come from: "kernel" (the guest kernel's map),
    "vmm", or "auto" (the kernel's when it can be read, else the VMM's)."""
    if source not in SOURCES:
        raise ClientError(f"--ranges {source}: give one of {', '.join(SOURCES)}")
    why = ""
    if source in ("auto", "kernel"):
        try:
            from ramooflax.os.linux import Linux

            return Linux.from_memory(vm).ram_ranges(), "the kernel's map (System RAM in iomem)"
        except RamooflaxError as exc:
            if source == "kernel":
                raise ClientError(f"no RAM map from the guest kernel: {exc}") from None
            why = f" (the kernel's map is not readable: {exc})"
    return vmm_ranges(vm), f"the VMM's view{why}"


Read = Callable[[int, int], bytes]


def write_ranges(
    out: Path,
    ranges: Ranges,
    read: Read,
    fmt: str = "lime",
    advance: Callable[[int], None] | None = None,
) -> int:
    """Write each [start, end) range, its bytes from read(addr, n), as LiME or raw;
    the bytes of memory written."""
    done = 0
    with out.open("wb") as f:
        for start, end in ranges:
            if fmt == "lime":
                f.write(struct.pack("<IIQQ8x", LIME_MAGIC, 1, start, end - 1))
            else:
                f.seek(start)
            pos = start
            while pos < end:
                n = min(CHUNK, end - pos)
                f.write(read(pos, n))
                pos += n
                done += n
                if advance is not None:
                    advance(n)
    return done


def dump_all(
    vm: "VM", out: Path, fmt: str = "lime", progress: bool = True, ranges: Ranges | None = None
) -> int:
    """Write the RAM ranges (default: ram_ranges(vm)) to out; the bytes of memory written."""
    from ramooflax.progressbar import Bar

    ranges = ranges or ram_ranges(vm)[0]

    def read(pos: int, n: int) -> bytes:
        try:
            return vm.mem.pread(pos, n, progress=False)
        except AddressNotMapped:
            pass
        # Somewhere in it a page is not there: page by page, those as zeros.
        out = bytearray()
        for page in range(pos, pos + n, 4096):
            size = min(4096, pos + n - page)
            try:
                out += vm.mem.pread(page, size, progress=False)
            except AddressNotMapped:
                out += bytes(size)
        return bytes(out)

    total = sum(e - s for s, e in ranges)
    if not progress:
        return write_ranges(out, ranges, read, fmt)
    with Bar(total, "dump") as advance:
        return write_ranges(out, ranges, read, fmt, advance)


def write_pages(out: Path, pages: dict[int, bytes], fmt: str = "lime") -> Ranges:
    """A sparse dump of the 4 KiB pages given (physical address -> bytes), adjacent
    pages merged into one range; the ranges written."""
    ranges: Ranges = []
    for pa in sorted(pages):
        if ranges and ranges[-1][1] == pa:
            ranges[-1] = (ranges[-1][0], pa + len(pages[pa]))
        else:
            ranges.append((pa, pa + len(pages[pa])))

    def read(pos: int, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            page = pos + len(out)
            out += pages[page & ~0xFFF][page & 0xFFF :]
        return bytes(out[:n])

    write_ranges(out, ranges, read, fmt)
    return ranges


def read_lime(path: Path) -> list[tuple[int, int, int]]:
    """(start, end, file offset) of each range of a LiME file."""
    out: list[tuple[int, int, int]] = []
    with path.open("rb") as f:
        while True:
            head = f.read(32)
            if len(head) < 32:
                return out
            magic, _ver, s, e = struct.unpack("<IIQQ", head[:24])
            if magic != LIME_MAGIC:
                raise ValueError(f"{path}: not a LiME file (magic 0x{magic:x})")
            out.append((s, e + 1, f.tell()))
            f.seek(e + 1 - s, 1)
