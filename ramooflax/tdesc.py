"""The register layout, read from the stub's own target description.

The stub describes its registers to every client in `target.xml`
(`qXfer:features:read`, the GDB manual's "Target Descriptions" appendix):
names, sizes, order, features and groups. This module turns that document
into a `Layout`: the `g` packet's offsets, each register's number for
`p`/`P`, and which registers are general or system ones. Nothing here
holds a copy of the layout: a stub that adds a register changes the client.

    layout = Layout.from_xml(read_target_xml(session.checked))
    layout.parse_g(session.checked("g"))["rip"]
    layout.p_packet("cr3", 0x1000)          # "P3b=0010000000000000"

Pure: `read_target_xml` takes the request function of a session.
"""

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from ramooflax import rsp
from ramooflax.errors import ProtocolError

CORE = "org.gnu.gdb.i386.core"
XFER_CHUNK = 0xFF0  # bytes asked per qXfer packet (the stub caps it at its PacketSize)
XINCLUDE = "{http://www.w3.org/2001/XInclude}include"
# Types a register value can have on its own (the manual's predefined types);
# a register of another type is a struct, union or flags the document defines.
SCALAR_TYPES = frozenset(
    [f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64, 128)]
    + ["int", "uint", "code_ptr", "data_ptr", "i387_ext", "arm_fpa_ext", "bfloat16"]
    + ["ieee_half", "ieee_single", "ieee_double"]
)
# The model reads these; a layout without them cannot serve it.
REQUIRED = ("rip", "eflags", "cs", "cr0", "cr3", "efer", "cs_base", "cs_attr")


class TargetDescriptionError(ProtocolError):
    """target.xml is missing or cannot be read as a register layout."""


@dataclass(frozen=True)
class Reg:
    name: str
    num: int  # the number in p/P packets
    size: int  # bytes
    offset: int  # byte offset in the `g` packet, in register-number order
    feature: str
    group: str | None
    type: str

    @property
    def scalar(self) -> bool:
        """A plain number (not a struct or flags of the document's own)."""
        return self.type in SCALAR_TYPES or self.type.startswith("vec")

    @property
    def system(self) -> bool:
        return self.group == "system"

    @property
    def general(self) -> bool:
        """rax..gs: the core feature's integer registers (not x87 state)."""
        return self.feature == CORE and self.group is None and self.type != "i387_ext"


class Layout:
    """The registers of one target description, in register-number order."""

    def __init__(self, regs: list[Reg], architecture: str = "") -> None:
        self.architecture = architecture
        self.regs = regs
        self.by_name = {r.name: r for r in regs}
        # Plain registers make up the `g` packet; the stub may leave the
        # document's composite ones (its `system` struct) to `p` alone.
        self.values = [r for r in regs if r.scalar]
        self.g_size = max((r.offset + r.size for r in self.values), default=0)
        self.gpr_names = [r.name for r in self.values if r.general]
        self.sr_names = [r.name for r in self.values if r.system]
        missing = [n for n in REQUIRED if n not in self.by_name]
        if missing:
            raise TargetDescriptionError(
                f"the stub's target.xml has no register {', '.join(missing)}: it does not "
                "describe an x86 VM this client can drive"
            )

    @classmethod
    def from_xml(cls, text: str, include: Callable[[str], str] | None = None) -> "Layout":
        """Parse a target description; `include(annex)` fetches xi:include'd documents."""
        root = _parse(text, "target.xml")
        if root.tag != "target":
            raise TargetDescriptionError(
                f"the stub's target.xml starts with <{root.tag}>, not <target>"
            )
        arch = (root.findtext("architecture") or "").strip()
        regs: list[Reg] = []
        for feature in _features(root, include):
            name = feature.get("name", "")
            for el in feature.iter("reg"):
                regs.append(_reg(el, name, regs))
        if not regs:
            raise TargetDescriptionError("the stub's target.xml describes no register")
        return cls(regs, arch)

    # -- packets ------------------------------------------------------------
    def parse_g(self, payload: bytes) -> dict[str, int]:
        """Split a `g` reply into {name: value} (little-endian, at the layout's offsets)."""
        raw = rsp.hex_decode(payload)
        if len(raw) < self.g_size:
            raise ProtocolError(
                f"`g` reply has {len(raw)} bytes, the stub's target.xml describes {self.g_size}"
            )
        return {
            r.name: int.from_bytes(raw[r.offset : r.offset + r.size], "little") for r in self.values
        }

    def p_packet(self, name: str, value: int) -> str:
        """The `P n=v` packet that writes one register."""
        reg = self.by_name[name]
        return f"P{reg.num:x}={rsp.int_to_le_hex(value, reg.size)}"

    def num(self, name: str) -> int:
        """The register's number (for `p`)."""
        try:
            return self.by_name[name].num
        except KeyError:
            raise KeyError(f"the stub's target.xml has no register {name!r}") from None


def read_target_xml(request: Callable[[str], bytes], annex: str = "target.xml") -> str:
    """The whole annex, read with `qXfer:features:read:ANNEX:OFFSET,LENGTH` packets."""
    data = bytearray()
    while True:
        reply = request(f"qXfer:features:read:{annex}:{len(data):x},{XFER_CHUNK:x}")
        if reply[:1] not in (b"m", b"l"):
            what = "an empty reply" if not reply else repr(reply[:40])
            raise TargetDescriptionError(
                f"the stub answered qXfer:features:read:{annex} with {what}: it does not "
                "describe its registers (this client reads the layout from the stub's "
                "target.xml; is this the Ramooflax VMM?)"
            )
        data += reply[1:]
        if reply[:1] == b"l" or len(reply) == 1:
            break
    return data.decode("utf-8", "replace")


def _parse(text: str, annex: str) -> ET.Element:
    # The DOCTYPE names gdb's DTD; ElementTree ignores it and resolves no entity.
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise TargetDescriptionError(f"the stub's {annex} is not well-formed XML: {exc}") from None


def _features(root: ET.Element, include: Callable[[str], str] | None) -> list[ET.Element]:
    out = []
    for child in root:
        if child.tag == "feature":
            out.append(child)
        elif child.tag == XINCLUDE:
            href = child.get("href", "")
            if include is None:
                raise TargetDescriptionError(f"target.xml includes {href!r}: cannot fetch it")
            sub = _parse(include(href), href)
            if sub.tag == "feature":
                out.append(sub)
            else:
                out += _features(sub, include)
    return out


def _reg(el: ET.Element, feature: str, before: list[Reg]) -> Reg:
    name = el.get("name")
    bits = el.get("bitsize", "")
    if not name or not bits.isdigit() or int(bits) % 8 or int(bits) == 0:
        raise TargetDescriptionError(
            f"the stub's target.xml has a bad <reg>: name={name!r} bitsize={bits!r}"
        )
    last = before[-1] if before else None
    num = int(el.get("regnum", last.num + 1 if last else 0))
    offset = last.offset + last.size if last else 0
    if last is not None and num <= last.num:
        raise TargetDescriptionError(f"target.xml numbers {name} {num}, after {last.name}")
    return Reg(name, num, int(bits) // 8, offset, feature, el.get("group"), el.get("type", "int"))
