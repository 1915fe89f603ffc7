"""A Volatility 3 symbol table (ISF, JSON) from the kernel's BTF and kallsyms.

Volatility's Linux support wants an Intermediate Symbol Format file,
normally made by dwarf2json from a kernel's DWARF debug info. The types are
all in BTF and the symbols in kallsyms, so the running kernel describes
itself: base_types from BTF INT/FLOAT, user_types from STRUCT/UNION
(anonymous members flagged `anonymous`, as Volatility's reader expects),
enums, and symbols at link addresses (`_text`'s link address plus the
offset) with linux_banner's bytes as `constant_data`, which Volatility
matches against the memory. BTF has no types for most global variables:
the few that Volatility's Linux plugins dereference get theirs by name.
"""

import base64
from typing import Any

from ramooflax.os import btf as B
from ramooflax.os.profile import Profile

# Globals the Linux plugins take as objects (vmlinux.object_from_symbol).
SYMBOL_TYPES = {
    "init_task": "task_struct",
    "init_mm": "mm_struct",
    "init_files": "files_struct",
    "modules": "list_head",
    "init_uts_ns": "uts_namespace",
    "init_pid_ns": "pid_namespace",
    "init_net": "net",
    "super_blocks": "list_head",
    "mod_tree": "mod_tree_root",
}
PRODUCER = {"name": "ramooflax", "version": "0.1.0"}


class _Builder:
    def __init__(self, btf: B.Btf, ptr_size: int) -> None:
        self.btf = btf
        self.ps = ptr_size
        self.user_types: dict[str, Any] = {}
        self.enums: dict[str, Any] = {}
        self.base_types: dict[str, Any] = {
            "void": {"kind": "void", "size": 0, "signed": False, "endian": "little"},
            "pointer": {"kind": "int", "size": ptr_size, "signed": False, "endian": "little"},
        }
        self.names: dict[int, str] = {}

    def name_of(self, t: B.Type) -> str:
        if t.name:
            return t.name
        return self.names.setdefault(t.id, f"unnamed_{t.id}")

    def desc(self, tid: int, depth: int = 0) -> dict[str, Any]:
        if tid == 0:
            return {"kind": "base", "name": "void"}
        t = self.btf.type(tid)
        assert t is not None
        k = t.kind
        if k in B.QUALIFIERS:
            return self.desc(t.size, depth)
        if k in (B.KIND_INT, B.KIND_FLOAT):
            return {"kind": "base", "name": t.name}
        if k == B.KIND_PTR:
            return {"kind": "pointer", "subtype": self.desc(t.size, depth + 1)}
        if k == B.KIND_ARRAY:
            return {"kind": "array", "count": t.array[1], "subtype": self.desc(t.array[0], depth)}
        if k in (B.KIND_STRUCT, B.KIND_UNION, B.KIND_FWD):
            kind = "union" if k == B.KIND_UNION else "struct"
            return {"kind": kind, "name": self.name_of(t)}
        if k in (B.KIND_ENUM, B.KIND_ENUM64):
            return {"kind": "enum", "name": self.name_of(t)}
        return {"kind": "function"}

    def add(self, t: B.Type) -> None:
        if t.kind == B.KIND_INT:
            kind = "bool" if t.encoding & 4 else "char" if t.encoding & 2 or t.size == 1 else "int"
            self.base_types.setdefault(
                t.name,
                {"kind": kind, "size": t.size, "endian": "little", "signed": bool(t.encoding & 1)},
            )
        elif t.kind == B.KIND_FLOAT:
            self.base_types.setdefault(
                t.name, {"kind": "float", "size": t.size, "signed": True, "endian": "little"}
            )
        elif t.kind in (B.KIND_STRUCT, B.KIND_UNION):
            name = self.name_of(t)
            old = self.user_types.get(name)
            if old is not None and old["fields"]:
                return
            fields: dict[str, Any] = {}
            for i, m in enumerate(t.members):
                if m.bit_size:
                    base = self.btf.resolve(m.type_id)
                    unit = max(base.size, 1) * 8
                    fields[m.name] = {
                        "offset": (m.bit_offset // unit) * unit // 8,
                        "type": {
                            "kind": "bitfield",
                            "bit_position": m.bit_offset % unit,
                            "bit_length": m.bit_size,
                            "type": self.desc(m.type_id),
                        },
                    }
                elif m.name:
                    fields[m.name] = {"offset": m.bit_offset // 8, "type": self.desc(m.type_id)}
                else:
                    fields[f"unnamed_field_{i}"] = {
                        "offset": m.bit_offset // 8,
                        "anonymous": True,
                        "type": self.desc(m.type_id),
                    }
            kind = "union" if t.kind == B.KIND_UNION else "struct"
            self.user_types[name] = {"kind": kind, "size": t.size, "fields": fields}
        elif t.kind in (B.KIND_ENUM, B.KIND_ENUM64):
            bname = (
                ("int" if t.signed else "unsigned int") if t.size <= 4 else "long long unsigned int"
            )
            self.base_types.setdefault(
                bname,
                {
                    "kind": "int",
                    "size": 8 if "long" in bname else 4,
                    "signed": t.signed,
                    "endian": "little",
                },
            )
            self.enums.setdefault(
                self.name_of(t), {"size": t.size, "base": bname, "constants": dict(t.values)}
            )
        elif t.kind == B.KIND_FWD:
            self.user_types.setdefault(self.name_of(t), {"kind": "struct", "size": 0, "fields": {}})


def build(
    profile: Profile, btf: B.Btf, symbols: list[tuple[str, str, int, bool]]
) -> dict[str, Any]:
    """The ISF document: types from btf, symbols (name, type letter, offset from
    _text or absolute value, absolute?) at link addresses."""
    b = _Builder(btf, profile.ptr_size)
    for t in btf.all():
        b.add(t)
    out_syms: dict[str, Any] = {}
    for name, _letter, value, absolute in symbols:
        if name in out_syms:
            continue
        addr = value if absolute else profile.link_text + value
        entry: dict[str, Any] = {"address": addr}
        if name in SYMBOL_TYPES and SYMBOL_TYPES[name] in b.user_types:
            entry["type"] = {"kind": "struct", "name": SYMBOL_TYPES[name]}
        out_syms[name] = entry
    banner = profile.banner.encode("latin-1") + b"\0"
    if "linux_banner" in out_syms:
        out_syms["linux_banner"]["constant_data"] = base64.b64encode(banner).decode()
        out_syms["linux_banner"]["type"] = {
            "kind": "array",
            "count": len(banner),
            "subtype": {"kind": "base", "name": "char"},
        }
        b.base_types.setdefault(
            "char", {"kind": "char", "size": 1, "signed": True, "endian": "little"}
        )
    return {
        "metadata": {
            "producer": PRODUCER,
            "format": "6.2.0",
            "linux": {"symbols": [{"kind": "btf+kallsyms", "name": "vmlinux"}]},
        },
        "base_types": b.base_types,
        "user_types": b.user_types,
        "enums": b.enums,
        "symbols": out_syms,
    }
