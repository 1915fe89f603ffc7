"""GDB remote serial protocol: a pure codec (no I/O).

A packet on the wire is `$<data>#<cs>`, where cs is two lowercase hex digits of
the sum of the (escaped) data bytes modulo 256. In data, `$ # } *` are sent as
`}` followed by the byte XOR 0x20. Replies may use run-length encoding
`X*<n>` (X repeated n - 29 more times). The receiver answers `+` (good) or `-`
(resend). A bare 0x03 byte is an interrupt request.

`PacketParser` is a state machine that takes whole runs of bytes: feed it
whatever arrived and it returns the complete events, so any transport (TCP,
serial) can reuse it.
"""

import re
import zlib
from dataclasses import dataclass
from enum import Enum

from ramooflax.errors import ProtocolError

ESCAPED = frozenset(b"$#}*")
INTERRUPT = b"\x03"
ACK = b"+"
NACK = b"-"


_CK_BLOCK = 0xF000  # 255 * 0xF000 < 255 * 65521: a block's sum is exact by the CRT


def checksum(data: bytes | bytearray) -> int:
    """Sum of the bytes modulo 256.

    sum() takes a Python step per byte (about 7 ns); a 128 KiB reply needs
    better. Per block of B bytes the sum S < 255 * B is told by two C-speed
    residues: S mod 65521 (zlib's Adler-32 keeps A = 1 + S mod 65521, RFC
    1950 §8) and S mod 255 (the block as a little-endian integer: 256 is 1
    mod 255), which fix S below 65521 * 255 (Chinese remainder theorem).
    """
    if len(data) < 512:
        return sum(data) & 0xFF
    total = 0
    for off in range(0, len(data), _CK_BLOCK):
        block = data[off : off + _CK_BLOCK]
        a = (zlib.adler32(block) & 0xFFFF) - 1  # S mod 65521, in [-1, 65519]
        r = int.from_bytes(block, "little") % 255  # S mod 255
        # S = a + 65521 k (mod 65521 * 255) with a + 65521 k = r (mod 255):
        # 65521 = 241 (mod 255), whose inverse mod 255 is 91.
        k = (r - a) * 91 % 255
        total += (a + 65521 * k) % (65521 * 255)
    return total & 0xFF


def escape(data: bytes) -> bytes:
    """Escape `$ # } *` as `}` + (byte ^ 0x20)."""
    out = bytearray()
    for b in data:
        if b in ESCAPED:
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


_XOR20 = [bytes((b ^ 0x20,)) for b in range(256)]


def decode_body(body: bytes | bytearray) -> bytes:
    """Decode a packet body as it came off the wire: escapes and run lengths.

    One pass, in wire order: `}` escapes the next byte, and a raw `*` repeats
    the previous *decoded* byte. Undoing the escapes first and the run
    lengths after would read an escaped `*` (a 0x2a byte in binary data) as
    a run length. The runs between two special bytes are copied whole (a
    128 KiB binary reply has a few hundred escapes and no run length).
    """
    if b"*" not in body:
        if b"}" not in body:
            return bytes(body)
        if b"}}" not in body and not body.endswith(b"}"):
            # Each `}` starts a pair (no `}}`: an escaped `}` is `}]`), so the
            # pieces between them each begin with an escaped byte.
            parts = body.split(b"}")
            return b"".join([parts[0], *(_XOR20[p[0]] + p[1:] for p in parts[1:])])
    out = bytearray()
    pos, n = 0, len(body)
    esc, star = body.find(b"}"), body.find(b"*")  # the next of each (memchr, not a regex)
    while True:
        if esc < 0 and star < 0:
            out += body[pos:]
            return bytes(out)
        i = star if esc < 0 or 0 <= star < esc else esc
        out += body[pos:i]
        if i + 1 >= n:
            if body[i] == 0x7D:
                raise ProtocolError("packet data ends inside an escape (`}` at the end)")
            raise ProtocolError("run-length `*` with nothing to repeat or no count")
        if body[i] == 0x7D:  # '}'
            out.append(body[i + 1] ^ 0x20)
        else:  # '*'
            if not out:
                raise ProtocolError("run-length `*` with nothing to repeat or no count")
            out += bytes((out[-1],)) * (body[i + 1] - 29)
        pos = i + 2
        if esc < pos:
            esc = body.find(b"}", pos)
        if star < pos:
            star = body.find(b"*", pos)


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


_IDLE_SPECIAL = re.compile(rb"[$+\-\x03]")


class PacketParser:
    """Incremental parser: feed() bytes, get Events. Noise between packets is ignored.

    Byte for byte the state machine of the module docstring (hv/lib/rsp.c
    on the other side): `$` starts a packet, anywhere, even inside one (the
    packet before was cut short); `#` and two checksum digits end it; a body
    longer than max_size is one BAD_CHECKSUM and what follows it is noise.
    It takes the runs of packet data and of noise whole (one regex search
    per run), so a 128 KiB binary reply costs a few calls, not 128 Ki steps.
    Its position is its own state: a feed() cut short (KeyboardInterrupt)
    loses no byte the next one would need, and the events found so far wait
    for the next feed().
    """

    _IDLE, _DATA, _CS1, _CS2 = range(4)

    def __init__(self, max_size: int = 1 << 20) -> None:
        self.max_size = max_size
        self._state = self._IDLE
        self._body = bytearray()
        self._cs = 0
        self._buf = b""
        self._pos = 0
        self._out: list[Event] = []

    def feed(self, data: bytes) -> list[Event]:
        if self._pos < len(self._buf):
            self._buf = self._buf[self._pos :] + bytes(data)
        else:
            self._buf = bytes(data)
        self._pos = 0
        buf, n = self._buf, len(self._buf)
        while self._pos < n:
            if self._state == self._IDLE:
                m = _IDLE_SPECIAL.search(buf, self._pos)
                if m is None:
                    self._pos = n
                    break
                b = buf[m.start()]
                self._pos = m.start() + 1
                if b == 0x24:  # '$'
                    self._body = bytearray()
                    self._state = self._DATA
                else:
                    self._out.append(Event(_IDLE_EVENTS[b]))
            elif self._state == self._DATA:
                self._data(buf, n)
            elif self._state == self._CS1:
                self._cs = buf[self._pos]
                self._pos += 1
                self._state = self._CS2
            else:
                self._out.append(self._end(buf[self._pos]))
                self._pos += 1
                self._state = self._IDLE
        events, self._out = self._out, []
        return events

    def _data(self, buf: bytes, n: int) -> None:
        """Takes packet data up to the next `#` or `$` (or the end of buf)."""
        end = buf.find(b"#", self._pos)
        end = n if end < 0 else end
        cut = buf.find(b"$", self._pos, end)  # memchr twice: a regex class is slower
        end = end if cut < 0 else cut
        room = self.max_size - len(self._body)
        if end - self._pos > room:
            # One byte past the limit ends the packet: BAD, and the rest is noise.
            self._body += buf[self._pos : self._pos + room]
            self._pos += room + 1
            self._out.append(Event(Kind.BAD_CHECKSUM))
            self._state = self._IDLE
            return
        self._body += buf[self._pos : end]
        self._pos = end
        if end == n:
            return
        self._pos = end + 1
        if buf[end] == 0x23:  # '#'
            self._state = self._CS1
        else:  # a new '$' restarts: the previous packet was cut short
            self._body = bytearray()

    def _end(self, cs2: int) -> Event:
        body = self._body
        try:
            good = int(bytes((self._cs, cs2)).decode("ascii"), 16) == checksum(body)
            payload = decode_body(body) if good else b""
        except (ValueError, UnicodeDecodeError, ProtocolError):
            good = False
        self._body = bytearray()
        if not good:
            return Event(Kind.BAD_CHECKSUM)
        return Event(Kind.PACKET, payload)


_IDLE_EVENTS = {0x2B: Kind.ACK, 0x2D: Kind.NACK, 0x03: Kind.INTERRUPT}


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
