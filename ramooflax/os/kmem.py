"""Kernel memory through the VM, read as little as needed and counted.

Small reads (under a page) go to the stub as they are, for the samples that
locate the kernel's tables; bigger ones fetch whole 4 KiB pages, kept in a
cache, so that overlapping reads of a table cost the line once. `stats`
says how many bytes and requests crossed the control channel.
"""

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ramooflax.errors import AddressNotMapped

if TYPE_CHECKING:
    from ramooflax.model.vm import VM

PAGE = 0x1000
SMALL = 0x200


@dataclass
class ReadStats:
    bytes: int = 0
    requests: int = 0
    started: float = field(default_factory=time.monotonic)
    elapsed: float | None = None

    @property
    def seconds(self) -> float:
        return self.elapsed if self.elapsed is not None else time.monotonic() - self.started

    def stop(self) -> None:
        self.elapsed = time.monotonic() - self.started

    def __str__(self) -> str:
        return f"{self.bytes / 1e6:.2f} MB in {self.requests} reads, {self.seconds:.2f} s"


class KernelMemory:
    """Reads of the kernel's virtual memory through its own page tables."""

    def __init__(self, vm: "VM", probe: int) -> None:
        """probe: a kernel address mapped in every address space (the syscall
        entry), used to choose the kernel's half of a PTI pair of tables."""
        self.vm = vm
        self.stats = ReadStats()
        self._pages: dict[int, bytes] = {}
        cr3 = vm.cpu.sr.cr3 & ~0xFFF
        self.cr3 = cr3
        kernel = cr3 & ~0x1FFF  # PTI: the user copy is the kernel pgd + 4 KiB
        if kernel != cr3:
            try:
                if self._fetch(probe, 16, kernel) == self._fetch(probe, 16, cr3):
                    self.cr3 = kernel
            except AddressNotMapped:
                pass

    def _fetch(self, addr: int, size: int, cr3: int | None = None) -> bytes:
        self.stats.requests += (size + 0x3FF7) // 0x3FF8
        data = self.vm.mem.vread(addr, size, self.cr3 if cr3 is None else cr3, progress=False)
        self.stats.bytes += size
        return data

    def read(self, addr: int, size: int) -> bytes:
        first, last = addr & ~(PAGE - 1), (addr + size - 1) & ~(PAGE - 1)
        if size < SMALL and first not in self._pages:
            return self._fetch(addr, size)
        out = bytearray()
        page = first
        while page <= last:
            if page in self._pages:
                out += self._pages[page]
                page += PAGE
                continue
            run = page
            while run <= last and run not in self._pages:
                run += PAGE
            try:
                data = self._fetch(page, run - page)
            except AddressNotMapped:
                data = b"".join(self._fetch(p, PAGE) for p in range(page, run, PAGE))
            for i in range(0, len(data), PAGE):
                self._pages[page + i] = data[i : i + PAGE]
            out += data
            page = run
        off = addr - first
        return bytes(out[off : off + size])

    def ptr(self, addr: int, size: int = 8) -> int:
        return int.from_bytes(self.read(addr, size), "little")

    def cstring(self, addr: int, limit: int = 512) -> bytes:
        data = self.read(addr, limit)
        return data.split(b"\0", 1)[0]

    def translate(self, addr: int) -> int:
        return self.vm.mem.translate(addr, self.cr3)
