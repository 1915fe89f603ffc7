"""Parsing what the guest and the hypervisor report: E820 maps, the VMM range,
exit counts. Pure functions shared by the demo, the tests and the benchmarks."""

import re
from dataclasses import dataclass

from ramooflax.errors import LabError

_E820 = re.compile(r"BIOS-e820: \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\] (.+?)\s*$", re.MULTILINE)
_RANGE = re.compile(r"vmm: range (0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)")
_TOTAL = re.compile(r"exits:\s*(\d+)\s+total")
_COUNT = re.compile(r"^\s+([A-Za-z_][\w.-]*)\s+(\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Range:
    start: int
    end: int  # exclusive
    kind: str = ""

    @property
    def size(self) -> int:
        return self.end - self.start

    def overlaps(self, other: "Range") -> bool:
        return self.start < other.end and other.start < self.end

    def __str__(self) -> str:
        return f"0x{self.start:010x}-0x{self.end - 1:010x} {self.kind}".rstrip()


def e820(dmesg: str) -> list[Range]:
    """The kernel's `BIOS-e820: [mem A-B] type` lines (B inclusive) as ranges."""
    return [Range(int(a, 16), int(b, 16) + 1, k) for a, b, k in _E820.findall(dmesg)]


def usable(ranges: list[Range]) -> list[Range]:
    return [r for r in ranges if r.kind == "usable"]


def vmm_range(text: str) -> Range:
    """The `vmm: range A-B` line of the hv log or summary (B exclusive)."""
    match = _RANGE.search(text)
    if not match:
        raise LabError("no `vmm: range 0x...-0x...` line in the hypervisor's output")
    return Range(int(match.group(1), 16), int(match.group(2), 16), "vmm")


def exit_counts(summary: str) -> tuple[int, dict[str, int]]:
    """(total, {exit name: count}) from the `monitor exits` summary."""
    total = _TOTAL.search(summary)
    if not total:
        raise LabError(f"no `exits: N total` line in the hv summary:\n{summary}")
    return int(total.group(1)), {k: int(v) for k, v in _COUNT.findall(summary)}
