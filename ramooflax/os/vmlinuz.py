"""The kernel image of a Debian kernel package: vmlinuz -> ELF vmlinux.

A vmlinuz is an x86 bzImage (Documentation/arch/x86/boot.rst): its setup
header gives the compressed payload's place (payload_offset and
payload_length, boot protocol 2.08+); the payload is the ELF vmlinux (section
headers kept, symbols stripped) compressed with one of the kernel's
CONFIG_KERNEL_* methods. zstd (Debian's 6.12), xz (Debian's 6.1), gzip and
lz4 are recognised by their magic numbers.
"""

import gzip
import lzma
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from ramooflax.errors import RamooflaxError


class LinuxError(RamooflaxError):
    """The kernel's artifacts or memory do not look as expected."""


XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
LZ4_LEGACY_MAGIC = b"\x02\x21\x4c\x18"  # lz4 -l, the kernel's lz4 format
LZ4_LEGACY_BLOCK = 8 << 20


def payload(blob: bytes) -> bytes:
    """The compressed kernel inside a bzImage (the whole blob if it is not one)."""
    if len(blob) > 0x250 and blob[0x202:0x206] == b"HdrS":
        setup_sects = blob[0x1F1] or 4
        offset, length = struct.unpack_from("<II", blob, 0x248)
        start = (setup_sects + 1) * 512 + offset
        if length and start + length <= len(blob):
            return blob[start : start + length]
    return blob


def decompress(data: bytes, name: str = "the kernel") -> bytes:
    """Decompress a kernel payload by its magic: zstd, xz, gzip or lz4 (legacy)."""
    try:
        if data.startswith(ZSTD_MAGIC):
            import zstandard

            return zstandard.ZstdDecompressor().decompressobj().decompress(data)
        if data.startswith(XZ_MAGIC):
            return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
        if data.startswith(GZIP_MAGIC):
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)
        if data.startswith(LZ4_LEGACY_MAGIC):
            return _lz4_legacy(data)
    except (lzma.LZMAError, zlib.error, gzip.BadGzipFile, ValueError, RuntimeError) as exc:
        raise LinuxError(f"{name}: cannot decompress the kernel: {exc}") from None
    raise LinuxError(
        f"{name}: unknown compression (magic {data[:4].hex()}): zstd, xz, gzip and lz4 "
        "kernels are supported; pass the decompressed vmlinux instead"
    )


def _lz4_legacy(data: bytes) -> bytes:
    """lz4's legacy frame: the magic, then blocks of (le32 size, block), each block
    decompressing to 8 MiB except the last; the kernel appends the total size."""
    import lz4.block

    total = struct.unpack_from("<I", data, len(data) - 4)[0]
    out = bytearray()
    pos = 4
    while len(out) < total and pos + 4 <= len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        pos += 4
        want = min(LZ4_LEGACY_BLOCK, total - len(out))
        out += lz4.block.decompress(data[pos : pos + size], uncompressed_size=want)
        pos += size
    return bytes(out)


@dataclass(frozen=True)
class Section:
    name: str
    addr: int
    offset: int
    size: int


class Vmlinux:
    """The ELF inside a vmlinuz: sections, reads at link-time addresses."""

    def __init__(self, elf: bytes) -> None:
        if elf[:4] != b"\x7fELF":
            raise LinuxError("the decompressed kernel is not an ELF file")
        self.data = elf
        self.bits = 64 if elf[4] == 2 else 32
        if self.bits == 64:
            (shoff,) = struct.unpack_from("<Q", elf, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
        else:
            (shoff,) = struct.unpack_from("<I", elf, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x2E)
        raw = []
        for i in range(shnum):
            off = shoff + i * shentsize
            if self.bits == 64:
                name, _t, _f, addr, offset, size = struct.unpack_from("<IIQQQQ", elf, off)
            else:
                name, _t, _f, addr, offset, size = struct.unpack_from("<IIIIII", elf, off)
            raw.append((name, _t, addr, offset, size))
        strtab = raw[shstrndx]
        names = elf[strtab[3] : strtab[3] + strtab[4]]
        self.sections: dict[str, Section] = {}
        self._loaded: list[Section] = []
        for name, stype, addr, offset, size in raw:
            n = names[name : names.find(b"\0", name)].decode()
            sec = Section(n, addr, offset, size)
            self.sections.setdefault(n, sec)
            if addr and stype != 8:  # SHT_NOBITS (.bss) has no bytes in the file
                self._loaded.append(sec)

    @classmethod
    def from_vmlinuz(cls, path: Path) -> "Vmlinux":
        try:
            blob = path.read_bytes()
        except OSError as exc:
            raise LinuxError(f"cannot read {path}: {exc.strerror}") from None
        if blob[:4] == b"\x7fELF":  # a vmlinux already
            return cls(blob)
        return cls(decompress(payload(blob), str(path)))

    def section(self, name: str) -> Section:
        try:
            return self.sections[name]
        except KeyError:
            raise LinuxError(f"the kernel image has no {name} section") from None

    def read(self, addr: int, size: int) -> bytes:
        for s in self._loaded:
            if s.addr <= addr and addr + size <= s.addr + s.size:
                off = s.offset + addr - s.addr
                return self.data[off : off + size]
        raise LinuxError(f"link address 0x{addr:x} is in no section of the kernel image")

    def btf(self) -> bytes:
        s = self.section(".BTF")
        return self.data[s.offset : s.offset + s.size]

    def exported(self, name: str) -> int:
        """The link-time address of an exported symbol (EXPORT_SYMBOL) from __ksymtab."""
        strs = self.section("__ksymtab_strings")
        blob = self.data[strs.offset : strs.offset + strs.size]
        key = b"\0" + name.encode() + b"\0"
        at = blob.find(key)
        if at < 0:
            raise LinuxError(f"{name} is not an exported kernel symbol")
        name_addr = strs.addr + at + 1
        for tab in ("__ksymtab", "__ksymtab_gpl"):
            s = self.sections.get(tab)
            if s is None:
                continue
            table = self.data[s.offset : s.offset + s.size]
            mask = (1 << self.bits) - 1
            for i in range(0, len(table) - 11, 12):
                # CONFIG_HAVE_ARCH_PREL32_RELOCATIONS: {value, name, namespace} as
                # int32 offsets from each field; else absolute pointers.
                v, n, _ = struct.unpack_from("<iii", table, i)
                if (s.addr + i + 4 + n) & mask == name_addr:
                    return int((s.addr + i + v) & mask)
                if self.bits == 32 and n & mask == name_addr:
                    return int(v & mask)
        raise LinuxError(f"{name} is in __ksymtab_strings but in no __ksymtab entry")
