"""A BPF Type Format (BTF) reader: enough to get structure member offsets.

Format: linux/Documentation/bpf/btf.rst (header, type section, string
section; type ids start at 1). Anonymous struct/union members are searched
through, as C does (mm_struct keeps its fields in an anonymous struct).
"""

import struct
from dataclasses import dataclass

from ramooflax.errors import RamooflaxError

BTF_MAGIC = 0xEB9F
KIND_INT, KIND_PTR, KIND_ARRAY, KIND_STRUCT, KIND_UNION, KIND_ENUM = 1, 2, 3, 4, 5, 6
KIND_FWD, KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT = 7, 8, 9, 10, 11
KIND_FUNC, KIND_FUNC_PROTO, KIND_VAR, KIND_DATASEC, KIND_FLOAT = 12, 13, 14, 15, 16
KIND_DECL_TAG, KIND_TYPE_TAG, KIND_ENUM64 = 17, 18, 19

# Bytes that follow the common 12-byte header, per kind (vlen-scaled ones apart).
_EXTRA = {KIND_INT: 4, KIND_ARRAY: 12, KIND_VAR: 4, KIND_DECL_TAG: 4}
_PER_VLEN = {KIND_STRUCT: 12, KIND_UNION: 12, KIND_ENUM: 8, KIND_FUNC_PROTO: 8,
             KIND_DATASEC: 12, KIND_ENUM64: 12}  # fmt: skip


class BtfError(RamooflaxError):
    """The BTF blob is malformed, or lacks a type or member."""


@dataclass(frozen=True)
class Member:
    name: str
    type_id: int
    bit_offset: int


@dataclass(frozen=True)
class Type:
    id: int
    kind: int
    name: str
    size: int  # size for struct/union/int, referenced type id for ptr/typedef/...
    members: tuple[Member, ...] = ()


class Btf:
    def __init__(self, blob: bytes) -> None:
        if len(blob) < 24:
            raise BtfError("BTF blob shorter than its header")
        magic, _ver, _flags, hdr_len = struct.unpack_from("<HBBI", blob, 0)
        if magic != BTF_MAGIC:
            raise BtfError(f"not BTF (magic 0x{magic:04x}, expected 0x{BTF_MAGIC:04x})")
        type_off, type_len, str_off, str_len = struct.unpack_from("<IIII", blob, 8)
        self._strings = blob[hdr_len + str_off : hdr_len + str_off + str_len]
        self.types: list[Type | None] = [None]  # id 0 is void
        self._by_name: dict[tuple[int, str], Type] = {}
        pos, end = hdr_len + type_off, hdr_len + type_off + type_len
        while pos < end:
            name_off, info, size = struct.unpack_from("<III", blob, pos)
            pos += 12
            kind, vlen, kflag = (info >> 24) & 0x1F, info & 0xFFFF, info >> 31
            members: list[Member] = []
            if kind in (KIND_STRUCT, KIND_UNION):
                for i in range(vlen):
                    m_name, m_type, m_off = struct.unpack_from("<III", blob, pos + 12 * i)
                    bit = m_off & 0xFFFFFF if kflag else m_off
                    members.append(Member(self._str(m_name), m_type, bit))
            pos += _EXTRA.get(kind, 0) + _PER_VLEN.get(kind, 0) * vlen
            t = Type(len(self.types), kind, self._str(name_off), size, tuple(members))
            self.types.append(t)
            if t.name:
                self._by_name.setdefault((kind, t.name), t)

    def _str(self, off: int) -> str:
        end = self._strings.find(b"\0", off)
        return self._strings[off:end].decode("ascii", "replace")

    def struct(self, name: str) -> Type:
        t = self._by_name.get((KIND_STRUCT, name)) or self._by_name.get((KIND_UNION, name))
        if t is None:
            raise BtfError(f"no struct {name} in the kernel's BTF")
        return t

    def _find(self, t: Type, member: str) -> int | None:
        for m in t.members:
            if m.name == member:
                return m.bit_offset
            if not m.name:  # anonymous struct/union: look inside
                inner = self.types[m.type_id]
                if inner is not None and inner.kind in (KIND_STRUCT, KIND_UNION):
                    off = self._find(inner, member)
                    if off is not None:
                        return m.bit_offset + off
        return None

    def offsetof(self, struct_name: str, member: str) -> int:
        """Byte offset of member (dotted paths allowed: "thread.sp") in struct."""
        t = self.struct(struct_name)
        total = 0
        for i, part in enumerate(member.split(".")):
            bit = self._find(t, part)
            if bit is None:
                raise BtfError(f"struct {t.name} has no member {part}")
            total += bit
            if i < member.count("."):
                mt = self._member_type(t, part)
                t = mt
        if total % 8:
            raise BtfError(f"{struct_name}.{member} is a bit field")
        return total // 8

    def _member_type(self, t: Type, name: str) -> Type:
        for m in t.members:
            if m.name == name:
                inner = self._resolve(m.type_id)
                if inner.kind in (KIND_STRUCT, KIND_UNION):
                    return inner
        raise BtfError(f"{t.name}.{name} is not a struct")

    def _resolve(self, tid: int) -> Type:
        t = self.types[tid]
        while t is not None and t.kind in (KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST,
                                           KIND_RESTRICT, KIND_TYPE_TAG):  # fmt: skip
            t = self.types[t.size]
        if t is None:
            raise BtfError(f"type {tid} resolves to void")
        return t

    def sizeof(self, struct_name: str) -> int:
        return self.struct(struct_name).size
