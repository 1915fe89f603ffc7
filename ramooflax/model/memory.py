"""Guest memory: physical (pread/pwrite), virtual through a cr3 (vread/vwrite),
sized accessors and translation.

    vm.mem.pread(0x1000, 0x100)               # qRfx.PhysReadBin, PacketSize - 8 a chunk
    vm.mem.vread(rsp, 64)                       # qRfx.VirtReadBin:cr3,addr,len
    vm.mem.read_dword(addr) / write_qword(addr, v)
    vm.mem.translate(vaddr)                     # qRfx.V2P -> physical address
    vm.cpu.set_active_cr3(cr3)                  # vread/vwrite/translate use it

Virtual accesses use, in order: the `cr3=` argument, the active cr3 set with
cpu.set_active_cr3, the current cr3 of the vCPU the Memory belongs to:
`vm.mem` follows `vm.cpu` (the vCPU that stopped last), `vm.cpus[k].mem` is
vCPU k's view (its cr3 and paging mode). A page that does not translate
raises AddressNotMapped naming the address and the cr3.
"""

import struct
from collections.abc import Callable
from contextlib import nullcontext
from typing import TYPE_CHECKING

from ramooflax import rsp
from ramooflax.errors import AddressNotMapped, ClientError, StubError
from ramooflax.progressbar import Bar

if TYPE_CHECKING:
    from ramooflax.model.cpu import CPU
    from ramooflax.session import Session

READ_CHUNK = 0x3FF8  # a stub that advertises no PacketSize: 0x4000 minus the reply's framing
READ_CHUNK_MAX = 0x100000 - 8
PIPELINE_DEPTH = 3  # PhysReadBin requests on the line at once, where the stub says it queues them
WRITE_CHUNK = 0x1F00  # hex doubles it: fits a 0x4000 packet with its header
PROGRESS_OVER = 16 * 4096  # reads longer than this show progress by default


def read_chunk(features: dict[str, str]) -> int:
    """The bytes one qRfx.PhysReadBin may ask: the stub's PacketSize (hex) less
    8 (`$`, `b`, `#cs` and slack, as the stub counts it), READ_CHUNK if it
    gives none or nonsense."""
    try:
        size = int(features.get("PacketSize", ""), 16)
    except ValueError:
        return READ_CHUNK
    return min(max(size - 8, 0x100), READ_CHUNK_MAX)


def _is_e14(exc: StubError) -> bool:
    return exc.reply.lower() == "e14"


class Memory:
    def __init__(self, session: Callable[[], "Session"], cpu: Callable[[], "CPU"]) -> None:
        self._session = session
        self._cpu_of = cpu

    @property
    def _cpu(self) -> "CPU":
        return self._cpu_of()

    def _virtual(self) -> None:
        """Virtual accesses walk the tables in the paging mode of the stub's thread: ours."""
        self._cpu.select()

    # -- physical -----------------------------------------------------------
    def pread(self, addr: int, size: int, progress: bool | None = None) -> bytes:
        """size bytes of guest-physical memory at addr.

        In chunks of the stub's PacketSize less the reply's framing, and, where
        the stub offers `rfx.pipeline` (its network channel queues what the
        client sends), with PIPELINE_DEPTH requests in flight: the VMM starts
        the next reply while the last one is on the wire."""
        self._cpu.check_stopped("reading memory")
        if size < 0:
            raise ClientError(f"pread: negative size {size}")
        session = self._session()
        chunk = read_chunk(session.features)
        depth = PIPELINE_DEPTH if session.features.get("rfx.pipeline") == "+" else 1
        reqs = [(a, min(chunk, addr + size - a)) for a in range(addr, addr + size, chunk)]
        show = size > PROGRESS_OVER if progress is None else progress
        out = bytearray()
        replies = session.pipeline((f"qRfx.PhysReadBin:{a:x},{n:x}" for a, n in reqs), depth)
        with Bar(size, f"pread 0x{addr:x}") if show else nullcontext(None) as advance:
            try:
                for (a, n), reply in zip(reqs, replies, strict=True):
                    out += self._pread_reply(a, n, reply)
                    if advance is not None:
                        advance(n)
            finally:
                replies.close()  # what is still on the line is owed (session.pipeline)
        return bytes(out)

    @staticmethod
    def _pread_reply(addr: int, n: int, reply: bytes) -> bytes:
        if rsp.is_error(reply):
            if reply.lower() == b"e14":
                raise AddressNotMapped(addr, physical=True)
            raise StubError(f"qRfx.PhysReadBin:{addr:x},{n:x}", reply.decode("ascii", "replace"))
        data = rsp.binary_reply(reply)
        if len(data) != n:
            raise ClientError(f"pread 0x{addr:x}: asked {n} bytes, got {len(data)}")
        return data

    def pwrite(self, addr: int, data: bytes) -> None:
        """Write data at guest-physical addr (QRfx.PhysWrite)."""
        self._cpu.check_stopped("writing memory")
        for off in range(0, len(data), WRITE_CHUNK):
            chunk = data[off : off + WRITE_CHUNK]
            try:
                self._session().expect_ok(f"QRfx.PhysWrite:{addr + off:x}:{chunk.hex()}")
            except StubError as exc:
                if _is_e14(exc):
                    raise AddressNotMapped(addr + off, physical=True) from None
                raise

    # -- virtual ------------------------------------------------------------
    def _cr3(self, cr3: int | None) -> int:
        if cr3 is not None:
            return cr3
        if self._cpu.active_cr3:
            return self._cpu.active_cr3
        return self._cpu.sr.cr3

    def vread(
        self, addr: int, size: int, cr3: int | None = None, progress: bool | None = None
    ) -> bytes:
        """size bytes at a virtual address, through cr3 (default: active, else current)."""
        self._cpu.check_stopped("reading memory")
        use = self._cr3(cr3)
        self._virtual()

        def chunk(a: int, n: int) -> bytes:
            try:
                reply = self._session().checked(f"qRfx.VirtReadBin:{use:x},{a:x},{n:x}")
            except StubError as exc:
                if _is_e14(exc):
                    raise AddressNotMapped(a, use) from None
                raise
            data = rsp.binary_reply(reply)
            if len(data) < n:
                raise AddressNotMapped(a + len(data), use)
            return data

        return self._chunked(addr, size, progress, "vread", chunk)

    def vwrite(self, addr: int, data: bytes, cr3: int | None = None) -> None:
        """Write data at a virtual address (M packets; through cr3 when given)."""
        self._cpu.check_stopped("writing memory")
        if cr3 is not None and cr3 != self._cpu.active_cr3:
            # Write through the physical pages: M uses the stub's active cr3.
            pos = 0
            while pos < len(data):
                va = addr + pos
                n = min(len(data) - pos, 0x1000 - (va & 0xFFF))
                self.pwrite(self.translate(va, cr3), data[pos : pos + n])
                pos += n
            return
        self._virtual()
        for off in range(0, len(data), WRITE_CHUNK):
            chunk = data[off : off + WRITE_CHUNK]
            a = addr + off
            try:
                self._session().expect_ok(f"M{a:x},{len(chunk):x}:{chunk.hex()}")
            except StubError as exc:
                if _is_e14(exc):
                    raise AddressNotMapped(a, self._cr3(None)) from None
                raise

    def translate(self, vaddr: int, cr3: int | None = None) -> int:
        """The guest-physical address of vaddr through cr3 (qRfx.V2P)."""
        self._cpu.check_stopped("translating")
        use = self._cr3(cr3)
        self._virtual()
        try:
            reply = self._session().checked(f"qRfx.V2P:{use:x},{vaddr:x}")
        except StubError as exc:
            if _is_e14(exc):
                raise AddressNotMapped(vaddr, use) from None
            raise
        return int(reply, 16)

    def guest_to_host(self, gpa: int) -> int:
        """The host-physical address backing gpa (qRfx.G2H)."""
        try:
            return int(self._session().checked(f"qRfx.G2H:{gpa:x}"), 16)
        except StubError as exc:
            if _is_e14(exc):
                raise AddressNotMapped(gpa, physical=True) from None
            raise

    # -- sized accessors (virtual, little-endian) ------------------------------
    def read_byte(self, addr: int, cr3: int | None = None) -> int:
        return self.vread(addr, 1, cr3)[0]

    def read_word(self, addr: int, cr3: int | None = None) -> int:
        return int(struct.unpack("<H", self.vread(addr, 2, cr3))[0])

    def read_dword(self, addr: int, cr3: int | None = None) -> int:
        return int(struct.unpack("<I", self.vread(addr, 4, cr3))[0])

    def read_qword(self, addr: int, cr3: int | None = None) -> int:
        return int(struct.unpack("<Q", self.vread(addr, 8, cr3))[0])

    def write_byte(self, addr: int, value: int, cr3: int | None = None) -> None:
        self.vwrite(addr, struct.pack("<B", value & 0xFF), cr3)

    def write_word(self, addr: int, value: int, cr3: int | None = None) -> None:
        self.vwrite(addr, struct.pack("<H", value & 0xFFFF), cr3)

    def write_dword(self, addr: int, value: int, cr3: int | None = None) -> None:
        self.vwrite(addr, struct.pack("<I", value & 0xFFFFFFFF), cr3)

    def write_qword(self, addr: int, value: int, cr3: int | None = None) -> None:
        self.vwrite(addr, struct.pack("<Q", value & (2**64 - 1)), cr3)

    def read_cstring(self, addr: int, limit: int = 256, cr3: int | None = None) -> bytes:
        """Bytes up to the first NUL (at most limit), not crossing into an unmapped page."""
        out = bytearray()
        while len(out) < limit:
            n = min(limit - len(out), 0x1000 - ((addr + len(out)) & 0xFFF))
            chunk = self.vread(addr + len(out), n, cr3)
            nul = chunk.find(b"\0")
            if nul >= 0:
                return bytes(out + chunk[:nul])
            out += chunk
        return bytes(out)

    # -- helpers ------------------------------------------------------------
    def _chunked(
        self,
        addr: int,
        size: int,
        progress: bool | None,
        label: str,
        read: Callable[[int, int], bytes],
    ) -> bytes:
        if size < 0:
            raise ClientError(f"{label}: negative size {size}")
        show = size > PROGRESS_OVER if progress is None else progress
        out = bytearray()
        if not show:
            while len(out) < size:
                out += read(addr + len(out), min(READ_CHUNK, size - len(out)))
            return bytes(out)
        with Bar(size, f"{label} 0x{addr:x}") as advance:
            while len(out) < size:
                chunk = read(addr + len(out), min(READ_CHUNK, size - len(out)))
                out += chunk
                advance(len(chunk))
        return bytes(out)
