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


def unescape(data: bytes) -> bytes:
    """Undo escape(); a trailing lone `}` is an error."""
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == 0x7D:
            nxt = next(it, None)
            if nxt is None:
                raise ProtocolError("packet data ends inside an escape (`}` at the end)")
            out.append(nxt ^ 0x20)
        else:
            out.append(b)
    return bytes(out)


def decode_rle(data: bytes) -> bytes:
    """Expand run-length encoding `X*<n>`: n - 29 more copies of X."""
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i] == 0x2A:  # '*'
            if not out or i + 1 >= len(data):
                raise ProtocolError("run-length `*` with nothing to repeat or no count")
            out += bytes((out[-1],)) * (data[i + 1] - 29)
            i += 2
        else:
            out.append(data[i])
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


def qrcmd(command: str) -> bytes:
    """The framed `qRcmd,<hex>` packet for a monitor command."""
    return frame("qRcmd," + hex_encode(command))


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
            payload = decode_rle(unescape(body)) if good else b""
        except (ValueError, UnicodeDecodeError, ProtocolError):
            good = False
        if not good:
            return Event(Kind.BAD_CHECKSUM)
        return Event(Kind.PACKET, payload)
