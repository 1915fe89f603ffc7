"""Whole-RAM dumps in a format Volatility 3 reads: LiME, or raw with the holes.

LiME (github.com/504ensicsLabs/LiME, doc/README.md "Output formats"): per
range a 32-byte header, little-endian: magic 0x4C694D45, version 1, the
first and the last physical address (inclusive), 8 reserved bytes; then
the range's bytes. Raw: the ranges at their own offsets, holes as zeros
(sparse in the file).

The RAM ranges are the VM's: conventional memory below 640 KiB and
everything from 1 MiB up to the VMM's hidden range, which the VMM reports.
"""

import struct
from pathlib import Path
from typing import TYPE_CHECKING

from ramooflax.errors import AddressNotMapped
from ramooflax.lab import facts

if TYPE_CHECKING:
    from ramooflax.model.vm import VM

LIME_MAGIC = 0x4C694D45
CHUNK = 0x3FF8 * 16


def ram_ranges(vm: "VM") -> list[tuple[int, int]]:
    """[start, end) of the VM's RAM."""
    top = facts.vmm_range(vm.exits()).start
    return [(0, 0xA0000), (0x100000, top)]


def dump_all(vm: "VM", out: Path, fmt: str = "lime", progress: bool = True,
             ranges: list[tuple[int, int]] | None = None) -> int:  # fmt: skip
    """Write the RAM ranges to out; the bytes of memory written."""
    from ramooflax.progressbar import Bar

    ranges = ranges or ram_ranges(vm)
    total = sum(e - s for s, e in ranges)
    done = 0
    with out.open("wb") as f, Bar(total if progress else 1, "dump") as advance:
        for start, end in ranges:
            if fmt == "lime":
                f.write(struct.pack("<IIQQ8x", LIME_MAGIC, 1, start, end - 1))
            else:
                f.seek(start)
            pos = start
            while pos < end:
                n = min(CHUNK, end - pos)
                try:
                    data = vm.mem.pread(pos, n, progress=False)
                except AddressNotMapped:
                    data = bytes(n)
                f.write(data)
                pos += n
                done += n
                if progress:
                    advance(n)
    return done


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
