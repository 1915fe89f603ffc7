"""A BPF Type Format (BTF) reader: structure layouts, lazily or in full.

Format: the kernel's Documentation/bpf/btf.rst (a header, the type section,
the string section; type ids start at 1). The blob comes as bytes (the
package's .BTF section) or as a read function over the kernel's memory
(__start_BTF..__stop_BTF): types are then parsed in order only as far as
the ones asked for, and strings are read by the page, so that a few
structures cost a few hundred KB rather than the whole blob. Anonymous
struct/union members are searched through, as C does (mm_struct keeps its
fields in an anonymous struct).
"""

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ramooflax.errors import RamooflaxError

BTF_MAGIC = 0xEB9F
KIND_INT, KIND_PTR, KIND_ARRAY, KIND_STRUCT, KIND_UNION, KIND_ENUM = 1, 2, 3, 4, 5, 6
KIND_FWD, KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT = 7, 8, 9, 10, 11
KIND_FUNC, KIND_FUNC_PROTO, KIND_VAR, KIND_DATASEC, KIND_FLOAT = 12, 13, 14, 15, 16
KIND_DECL_TAG, KIND_TYPE_TAG, KIND_ENUM64 = 17, 18, 19
QUALIFIERS = (KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_TYPE_TAG)

# Bytes that follow the common 12-byte header, per kind (vlen-scaled ones apart).
_EXTRA = {KIND_INT: 4, KIND_ARRAY: 12, KIND_VAR: 4, KIND_DECL_TAG: 4}
_PER_VLEN = {
    KIND_STRUCT: 12,
    KIND_UNION: 12,
    KIND_ENUM: 8,
    KIND_FUNC_PROTO: 8,
    KIND_DATASEC: 12,
    KIND_ENUM64: 12,
}
CHUNK = 0x10000


class BtfError(RamooflaxError):
    """The BTF blob is malformed, or lacks a type or member."""


@dataclass(frozen=True)
class Member:
    name: str
    type_id: int
    bit_offset: int
    bit_size: int = 0  # a bit field's width (kind_flag set), else 0


@dataclass(frozen=True)
class Type:
    id: int
    kind: int
    name: str
    size: int  # size for struct/union/int/enum, referenced type id for ptr/typedef/...
    members: tuple[Member, ...] = ()
    array: tuple[int, int] = (0, 0)  # (element type id, count) for arrays
    encoding: int = 0  # INT: BTF_INT_SIGNED 1, CHAR 2, BOOL 4
    bits: int = 0  # INT: bit width
    values: tuple[tuple[str, int], ...] = ()  # ENUM/ENUM64 constants
    signed: bool = False  # ENUM/ENUM64


Source = bytes | Callable[[int, int], bytes]


class Btf:
    def __init__(self, blob: Source, size: int | None = None) -> None:
        self._read = blob if callable(blob) else None
        self._blob = blob if isinstance(blob, bytes) else b""
        self._chunks: dict[int, bytes] = {}
        self.bytes_read = 0
        head = self._get(0, 24)
        magic, _ver, _flags, hdr_len = struct.unpack_from("<HBBI", head, 0)
        if magic != BTF_MAGIC:
            raise BtfError(f"not BTF (magic 0x{magic:04x}, expected 0x{BTF_MAGIC:04x})")
        type_off, type_len, str_off, str_len = struct.unpack_from("<IIII", head, 8)
        self.size = hdr_len + max(type_off + type_len, str_off + str_len)
        if size is not None and self.size > size:
            raise BtfError(f"BTF header says {self.size} bytes, the blob has {size}")
        self._types_at, self._types_end = hdr_len + type_off, hdr_len + type_off + type_len
        self._str_at, self._str_len = hdr_len + str_off, str_len
        self._pos = self._types_at
        self.types: list[Type | None] = [None]  # id 0 is void
        self._by_name: dict[tuple[int, str], Type] = {}

    # -- bytes ----------------------------------------------------------------
    def _get(self, off: int, n: int) -> bytes:
        if self._read is None:
            return self._blob[off : off + n]
        out = bytearray()
        while n > 0:
            base = off - off % CHUNK
            chunk = self._chunks.get(base)
            if chunk is None:
                chunk = self._chunks[base] = self._read(base, CHUNK)
                self.bytes_read += len(chunk)
            piece = chunk[off - base : off - base + n]
            if not piece:
                break
            out += piece
            off += len(piece)
            n -= len(piece)
        return bytes(out)

    def raw(self) -> bytes:
        """The whole blob (reads all of it from memory)."""
        if self._read is None:
            return self._blob[: self.size]
        return self._get(0, self.size)

    def _str(self, off: int) -> str:
        if off >= self._str_len:
            return ""
        at = self._str_at + off
        out = b""
        while True:
            piece = self._get(at + len(out), 64)
            end = piece.find(b"\0")
            if end >= 0 or not piece:
                return (out + piece[: max(end, 0)]).decode("ascii", "replace")
            out += piece

    # -- types, in order --------------------------------------------------------
    def _next(self) -> Type | None:
        if self._pos >= self._types_end:
            return None
        pos = self._pos
        name_off, info, size = struct.unpack("<III", self._get(pos, 12))
        kind, vlen, kflag = (info >> 24) & 0x1F, info & 0xFFFF, info >> 31
        body_len = _EXTRA.get(kind, 0) + _PER_VLEN.get(kind, 0) * vlen
        body = self._get(pos + 12, body_len)
        self._pos = pos + 12 + body_len
        tid = len(self.types)
        name = self._str(name_off)
        if kind in (KIND_STRUCT, KIND_UNION):
            members = []
            for i in range(vlen):
                m_name, m_type, m_off = struct.unpack_from("<III", body, 12 * i)
                bit, width = (m_off & 0xFFFFFF, m_off >> 24) if kflag else (m_off, 0)
                members.append(Member(self._str(m_name), m_type, bit, width))
            t = Type(tid, kind, name, size, tuple(members))
        elif kind == KIND_ARRAY:
            elem, _index, count = struct.unpack_from("<III", body, 0)
            t = Type(tid, kind, name, size, array=(elem, count))
        elif kind == KIND_INT:
            (enc,) = struct.unpack_from("<I", body, 0)
            t = Type(tid, kind, name, size, encoding=(enc >> 24) & 0xF, bits=enc & 0xFF)
        elif kind == KIND_ENUM:
            vals = [struct.unpack_from("<Ii", body, 8 * i) for i in range(vlen)]
            t = Type(
                tid,
                kind,
                name,
                size,
                values=tuple((self._str(n), v) for n, v in vals),
                signed=bool(kflag),
            )
        elif kind == KIND_ENUM64:
            vals64 = []
            for i in range(vlen):
                n, lo, hi = struct.unpack_from("<III", body, 12 * i)
                vals64.append((self._str(n), lo | hi << 32))
            t = Type(tid, kind, name, size, values=tuple(vals64), signed=bool(kflag))
        else:
            t = Type(tid, kind, name, size)
        self.types.append(t)
        if t.name:
            self._by_name.setdefault((kind, t.name), t)
        return t

    def type(self, tid: int) -> Type | None:
        while tid >= len(self.types) and self._next() is not None:
            pass
        if tid >= len(self.types):
            raise BtfError(f"BTF has no type {tid}")
        return self.types[tid]

    def all(self) -> Iterator[Type]:
        """Every type (parses the rest of the blob)."""
        while self._next() is not None:
            pass
        for t in self.types[1:]:
            assert t is not None
            yield t

    def struct(self, name: str) -> Type:
        while True:
            t = self._by_name.get((KIND_STRUCT, name)) or self._by_name.get((KIND_UNION, name))
            if t is not None and t.members:
                return t
            if self._next() is None:
                if t is not None:
                    return t
                raise BtfError(f"no struct {name} in the kernel's BTF")

    # -- layouts ----------------------------------------------------------------
    def _find(self, t: Type, member: str) -> Member | None:
        for m in t.members:
            if m.name == member:
                return m
            if not m.name:  # anonymous struct/union: look inside
                inner = self.resolve(m.type_id)
                if inner.kind in (KIND_STRUCT, KIND_UNION):
                    found = self._find(inner, member)
                    if found is not None:
                        return Member(
                            found.name,
                            found.type_id,
                            m.bit_offset + found.bit_offset,
                            found.bit_size,
                        )
        return None

    def member(self, struct_name: str, member: str) -> tuple[int, Type]:
        """(byte offset, resolved type) of member (dotted paths allowed: "thread.sp")."""
        t = self.struct(struct_name)
        total = 0
        mt = t
        for part in member.split("."):
            if mt.kind not in (KIND_STRUCT, KIND_UNION):
                raise BtfError(f"{struct_name}.{member}: {mt.name or 'a member'} is not a struct")
            m = self._find(mt, part)
            if m is None:
                raise BtfError(f"struct {mt.name} has no member {part}")
            total += m.bit_offset
            mt = self.resolve(m.type_id)
        if total % 8:
            raise BtfError(f"{struct_name}.{member} is a bit field")
        return total // 8, mt

    def offsetof(self, struct_name: str, member: str) -> int:
        """Byte offset of member (dotted paths allowed: "thread.sp") in struct."""
        return self.member(struct_name, member)[0]

    def resolve(self, tid: int) -> Type:
        t = self.type(tid)
        while t is not None and t.kind in QUALIFIERS:
            t = self.type(t.size)
        if t is None:
            raise BtfError(f"type {tid} resolves to void")
        return t

    def sizeof(self, struct_name: str) -> int:
        return self.struct(struct_name).size
