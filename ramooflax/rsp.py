"""GDB remote serial protocol: a pure codec (no I/O).

A packet on the wire is `$<data>#<cs>`, where cs is two lowercase hex digits of
the sum of the (escaped) data bytes modulo 256. In data, `$ # } *` are sent as
`}` followed by the byte XOR 0x20. Replies may use run-length encoding
`X*<n>` (X repeated n - 29 more times). The receiver answers `+` (good) or `-`
(resend). A bare 0x03 byte is an interrupt request.

`PacketParser` is a byte-at-a-time state machine: feed it whatever arrived and
it returns the complete events, so any transport (TCP, serial) can reuse it.
"""

from dataclasses import dataclass
from enum import Enum

from ramooflax.errors import ProtocolError

ESCAPED = frozenset(b"$#}*")
INTERRUPT = b"\x03"
ACK = b"+"
NACK = b"-"


def checksum(data: bytes) -> int:
    """Sum of the bytes modulo 256."""
    return sum(data) & 0xFF


def escape(data: bytes) -> bytes:
    """Escape `$ # } *` as `}` + (byte ^ 0x20)."""
    out = bytearray()
    for b in data:
        if b in ESCAPED:
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def decode_body(body: bytes) -> bytes:
    """Decode a packet body as it came off the wire: escapes and run lengths.

    One pass, in wire order: `}` escapes the next byte, and a raw `*` repeats
    the previous *decoded* byte. Undoing the escapes first and the run
    lengths after would read an escaped `*` (a 0x2a byte in binary data) as
    a run length.
    """
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        b = body[i]
        if b == 0x7D:  # '}'
            if i + 1 >= n:
                raise ProtocolError("packet data ends inside an escape (`}` at the end)")
            out.append(body[i + 1] ^ 0x20)
            i += 2
        elif b == 0x2A:  # '*'
            if not out or i + 1 >= n:
                raise ProtocolError("run-length `*` with nothing to repeat or no count")
            out += bytes((out[-1],)) * (body[i + 1] - 29)
            i += 2
        else:
            out.append(b)
            i += 1
    return bytes(out)


def frame(data: bytes | str) -> bytes:
    """`$<escaped data>#<checksum>` for one packet."""
    raw = data.encode() if isinstance(data, str) else data
    body = escape(raw)
    return b"$" + body + b"#%02x" % checksum(body)


def hex_encode(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return raw.hex()


def hex_decode(text: bytes | str) -> bytes:
    s = text.decode("ascii", "replace") if isinstance(text, bytes) else text
    try:
        return bytes.fromhex(s)
    except ValueError:
        raise ProtocolError(f"not a hex string: {s[:40]!r}") from None


def console_output(payload: bytes) -> bytes | None:
    """The text of an `O<hex>` console-output packet, else None (e.g. for `OK`)."""
    if len(payload) < 3 or payload[:1] != b"O" or (len(payload) - 1) % 2:
        return None
    try:
        return bytes.fromhex(payload[1:].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None


def qrcmd(command: str) -> str:
    """The `qRcmd,<hex>` packet (to frame) for a monitor command."""
    return "qRcmd," + hex_encode(command)


class Kind(Enum):
    ACK = "ack"
    NACK = "nack"
    INTERRUPT = "interrupt"
    PACKET = "packet"
    BAD_CHECKSUM = "bad-checksum"


@dataclass(frozen=True)
class Event:
    kind: Kind
    data: bytes = b""  # unescaped, RLE-expanded payload for PACKET


class _State(Enum):
    IDLE = 0
    DATA = 1
    CS1 = 2
    CS2 = 3


class PacketParser:
    """Incremental parser: feed() bytes, get Events. Noise between packets is ignored."""

    def __init__(self, max_size: int = 1 << 20) -> None:
        self.max_size = max_size
        self._state = _State.IDLE
        self._body = bytearray()
        self._cs = b""

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        for b in data:
            ev = self._step(b)
            if ev is not None:
                events.append(ev)
        return events

    def _step(self, b: int) -> Event | None:
        if self._state is _State.IDLE:
            if b == 0x24:  # '$'
                self._state, self._body = _State.DATA, bytearray()
            elif b == 0x2B:
                return Event(Kind.ACK)
            elif b == 0x2D:
                return Event(Kind.NACK)
            elif b == 0x03:
                return Event(Kind.INTERRUPT)
            return None
        if self._state is _State.DATA:
            if b == 0x23:  # '#'
                self._state = _State.CS1
            elif b == 0x24:  # a new '$' restarts: the previous packet was cut short
                self._body = bytearray()
            elif len(self._body) >= self.max_size:
                self._state = _State.IDLE
                return Event(Kind.BAD_CHECKSUM)
            else:
                self._body.append(b)
            return None
        if self._state is _State.CS1:
            self._cs, self._state = bytes((b,)), _State.CS2
            return None
        self._state = _State.IDLE
        body = bytes(self._body)
        try:
            good = int((self._cs + bytes((b,))).decode("ascii"), 16) == checksum(body)
            payload = decode_body(body) if good else b""
        except (ValueError, UnicodeDecodeError, ProtocolError):
            good = False
        if not good:
            return Event(Kind.BAD_CHECKSUM)
        return Event(Kind.PACKET, payload)


# -- replies ----------------------------------------------------------------


def is_error(payload: bytes) -> bool:
    """`Exx` (two hex digits) or `E.text`: the stub refused the request."""
    if payload[:2] == b"E.":
        return True
    return len(payload) == 3 and payload[:1] == b"E" and _is_hex(payload[1:])


def error_code(payload: bytes) -> int | None:
    """The number of an `Exx` reply; None for `E.text` and for non-errors."""
    if len(payload) == 3 and payload[:1] == b"E" and _is_hex(payload[1:]):
        return int(payload[1:], 16)
    return None


def _is_hex(data: bytes) -> bool:
    return bool(data) and all(c in b"0123456789abcdefABCDEF" for c in data)


def le_hex_to_int(text: bytes | str) -> int:
    """A register value as gdb sends it: target (little-endian) byte order in hex."""
    return int.from_bytes(hex_decode(text), "little")


def int_to_le_hex(value: int, size: int) -> str:
    """value as `size` little-endian bytes in hex (the `P n=v` format)."""
    return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little").hex()


def parse_pairs(payload: bytes | str, sep: str = ";", kv: str = ":") -> dict[str, str]:
    """`a:1;b:2;` -> {"a": "1", "b": "2"} (qRfx.Status, qRfx.SysRegs, qSupported's `k=v`)."""
    text = payload.decode("ascii", "replace") if isinstance(payload, bytes) else payload
    out: dict[str, str] = {}
    for item in text.split(sep):
        if not item:
            continue
        key, _, value = item.partition(kv)
        out[key] = value
    return out


def parse_features(payload: bytes) -> dict[str, str]:
    """qSupported reply: `PacketSize=4000;swbreak+;...` -> {"PacketSize": "4000", "swbreak": "+"}."""
    out: dict[str, str] = {}
    for item in payload.decode("ascii", "replace").split(";"):
        if not item:
            continue
        if "=" in item:
            key, _, value = item.partition("=")
            out[key] = value
        elif item[-1] in "+-?":
            out[item[:-1]] = item[-1]
        else:
            out[item] = ""
    return out


def binary_reply(payload: bytes) -> bytes:
    """The data of a `b<binary>` reply (qRfx.PhysReadBin, qRfx.VirtReadBin)."""
    if payload[:1] != b"b":
        raise ProtocolError(f"expected a binary `b...` reply, got {payload[:20]!r}")
    return payload[1:]


class StopKind(Enum):
    """Why the VM stopped, from the keys of a `T` stop reply."""

    INTERRUPT = "interrupt"  # T02: Ctrl-C (0x03)
    SWBREAK = "swbreak"  # int3 breakpoint
    HWBREAK = "hwbreak"  # debug-register instruction breakpoint
    WATCH = "watch"  # write watchpoint
    RWATCH = "rwatch"  # read watchpoint
    AWATCH = "awatch"  # access watchpoint
    EVENT = "rfx"  # a filtered exit: the `rfx` key
    STEP = "step"  # T05 with no key: a single step ended (or the first stop)
    EXITED = "exited"  # W/X: cannot happen with this stub, parsed for completeness


@dataclass(frozen=True)
class StopReply:
    """A parsed stop reply.

    `T05rfx:cr_write,cr=3,val=1000,old=2000;` gives kind EVENT, event
    "cr_write" and args {"cr": 3, "val": 0x1000, "old": 0x2000} (hex numbers
    become ints, other values such as `dir=w` stay strings).
    """

    signal: int
    kind: StopKind
    keys: dict[str, str]
    event: str | None = None
    args: dict[str, int | str] | None = None
    addr: int | None = None  # the data address of a watchpoint

    @property
    def thread(self) -> int | None:
        """The gdb thread id of the vCPU that stopped (`thread:N;`), None if not named."""
        text = self.keys.get("thread", "")
        return int(text, 16) if text and _is_hex(text.encode()) else None

    @property
    def raw(self) -> str:
        body = "".join(f"{k}:{v};" for k, v in self.keys.items())
        return f"T{self.signal:02x}{body}"


_TEXT_VALUES = frozenset({"r", "w", "in", "out"})


def parse_event(text: str) -> tuple[str, dict[str, int | str]]:
    """`cr_write,cr=3,val=1000` -> ("cr_write", {"cr": 3, "val": 4096})."""
    kind, *items = text.split(",")
    args: dict[str, int | str] = {}
    for item in items:
        key, _, value = item.partition("=")
        if value in _TEXT_VALUES or not _is_hex(value.encode()):
            args[key] = value
        else:
            args[key] = int(value, 16)
    return kind, args


def parse_stop(payload: bytes) -> StopReply:
    """Parse `Sxx`, `Txx[key:value;]*`, `Wxx`/`Xxx` into a StopReply."""
    text = payload.decode("ascii", "replace")
    if len(text) < 3 or text[0] not in "STWX" or not _is_hex(payload[1:3]):
        raise ProtocolError(f"not a stop reply: {text[:40]!r}")
    sig = int(text[1:3], 16)
    if text[0] in "WX":
        return StopReply(sig, StopKind.EXITED, {})
    keys = parse_pairs(text[3:])
    if "rfx" in keys:
        event, args = parse_event(keys["rfx"])
        return StopReply(sig, StopKind.EVENT, keys, event, args)
    for name in ("watch", "rwatch", "awatch"):
        if name in keys:
            return StopReply(sig, StopKind(name), keys, addr=int(keys[name] or "0", 16))
    if "swbreak" in keys:
        return StopReply(sig, StopKind.SWBREAK, keys)
    if "hwbreak" in keys:
        return StopReply(sig, StopKind.HWBREAK, keys)
    if sig == 2:
        return StopReply(sig, StopKind.INTERRUPT, keys)
    return StopReply(sig, StopKind.STEP, keys)


def is_stop(payload: bytes) -> bool:
    """A stop reply (`T05...`, `S05`, `W00`): what a resume waits for."""
    return len(payload) >= 3 and payload[:1] in (b"T", b"S", b"W", b"X") and _is_hex(payload[1:3])
