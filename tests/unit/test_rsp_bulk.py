"""The bulk packet parser and decoder (rsp.PacketParser, rsp.decode_body)
against byte-at-a-time references: the same events and the same bytes for
random streams of packets, noise and damage, cut at random places."""

import random

import pytest

from ramooflax import rsp
from ramooflax.errors import ProtocolError


def ref_decode(body: bytes) -> bytes:
    """The one-pass decoder, a byte at a time (escapes and run lengths in wire order)."""
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        b = body[i]
        if b == 0x7D:
            if i + 1 >= n:
                raise ProtocolError("} at the end")
            out.append(body[i + 1] ^ 0x20)
            i += 2
        elif b == 0x2A:
            if not out or i + 1 >= n:
                raise ProtocolError("* with nothing to repeat")
            out += bytes((out[-1],)) * (body[i + 1] - 29)
            i += 2
        else:
            out.append(b)
            i += 1
    return bytes(out)


class RefParser:
    """The state machine of rsp's docstring, one byte per step."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.state = 0
        self.body = bytearray()
        self.cs = 0

    def feed(self, data: bytes) -> list[tuple[rsp.Kind, bytes]]:
        out = []
        for b in data:
            ev = self.step(b)
            if ev is not None:
                out.append(ev)
        return out

    def step(self, b: int) -> tuple[rsp.Kind, bytes] | None:
        if self.state == 0:
            if b == 0x24:
                self.state, self.body = 1, bytearray()
            elif b in (0x2B, 0x2D, 0x03):
                return ({0x2B: rsp.Kind.ACK, 0x2D: rsp.Kind.NACK, 0x03: rsp.Kind.INTERRUPT}[b], b"")
            return None
        if self.state == 1:
            if b == 0x23:
                self.state = 2
            elif b == 0x24:
                self.body = bytearray()
            elif len(self.body) >= self.max_size:
                self.state = 0
                return (rsp.Kind.BAD_CHECKSUM, b"")
            else:
                self.body.append(b)
            return None
        if self.state == 2:
            self.cs, self.state = b, 3
            return None
        self.state = 0
        try:
            good = int(bytes((self.cs, b)).decode("ascii"), 16) == sum(self.body) & 0xFF
            payload = ref_decode(bytes(self.body)) if good else b""
        except (ValueError, UnicodeDecodeError, ProtocolError):
            good = False
        return (rsp.Kind.PACKET, payload) if good else (rsp.Kind.BAD_CHECKSUM, b"")


def random_stream(rng: random.Random) -> bytes:
    """Packets (binary, escaped, with run lengths), noise, acks, cuts and damage."""
    out = bytearray()
    for _ in range(rng.randrange(1, 12)):
        pick = rng.random()
        if pick < 0.5:
            data = bytes(rng.choice(b"ab$#}*\x03+-\x00\xff") for _ in range(rng.randrange(0, 300)))
            framed = bytearray(rsp.frame(data))
            if rng.random() < 0.2:  # damage a byte (the checksum, or the body)
                framed[rng.randrange(1, len(framed))] ^= rng.choice((1, 0x20, 0x80))
            if rng.random() < 0.1:  # cut short
                framed = framed[: rng.randrange(len(framed))]
            out += framed
        elif pick < 0.7:  # a run length in a hand-made body
            body = b"x" + b"*" + bytes((rng.randrange(29, 127),)) + b"y"
            out += b"$" + body + b"#%02x" % (sum(body) & 0xFF)
        elif pick < 0.85:
            out += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        else:
            out += rng.choice((b"+", b"-", b"\x03"))
    return bytes(out)


def events(
    parser: rsp.PacketParser, stream: bytes, cuts: list[int]
) -> list[tuple[rsp.Kind, bytes]]:
    got = []
    prev = 0
    for c in [*cuts, len(stream)]:
        got += [(e.kind, e.data) for e in parser.feed(stream[prev:c])]
        prev = c
    return got


@pytest.mark.parametrize("seed", range(300))
def test_parser_matches_byte_reference(seed: int) -> None:
    rng = random.Random(seed)
    stream = random_stream(rng)
    max_size = rng.choice((1 << 20, 64, 7))
    cuts = sorted(rng.sample(range(len(stream) + 1), min(len(stream), rng.randrange(0, 8))))
    want = RefParser(max_size).feed(stream)
    assert events(rsp.PacketParser(max_size), stream, cuts) == want
    # and a byte at a time
    assert events(rsp.PacketParser(max_size), stream, list(range(len(stream)))) == want


@pytest.mark.parametrize("seed", range(200))
def test_decode_matches_byte_reference(seed: int) -> None:
    rng = random.Random(seed)
    body = bytes(rng.choice(b"ab}*\x00\x5d\x0a ") for _ in range(rng.randrange(0, 60)))
    try:
        want: bytes | type[ProtocolError] = ref_decode(body)
    except ProtocolError:
        want = ProtocolError
    if want is ProtocolError:
        with pytest.raises(ProtocolError):
            rsp.decode_body(body)
    else:
        assert rsp.decode_body(body) == want


def test_big_binary_reply_in_pieces() -> None:
    """A 128 KiB binary reply of every byte value, cut into TCP-sized pieces."""
    data = b"b" + bytes(range(256)) * 512
    wire = rsp.frame(data)
    p = rsp.PacketParser()
    got: list[rsp.Event] = []
    for off in range(0, len(wire), 1448):
        got += p.feed(wire[off : off + 1448])
    assert [(e.kind, e.data) for e in got] == [(rsp.Kind.PACKET, data)]


def test_oversize_is_one_bad_then_noise() -> None:
    """A body past max_size ends as BAD; an ack inside the rest is an ack (noise)."""
    p = rsp.PacketParser(max_size=4)
    got = p.feed(b"$abcdef+gh#00$OK#9a")
    assert [e.kind for e in got] == [rsp.Kind.BAD_CHECKSUM, rsp.Kind.ACK, rsp.Kind.PACKET]
    assert got[-1].data == b"OK"


def test_interrupted_feed_loses_nothing() -> None:
    """A feed() that raises in the middle (KeyboardInterrupt while a packet is
    checked) leaves its events and position for the next feed()."""
    p = rsp.PacketParser()
    wire = rsp.frame(b"one") + rsp.frame(b"two") + rsp.frame(b"three")
    real = rsp.checksum
    calls = 0

    def flaky(data: bytes) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        return real(data)

    rsp.checksum = flaky  # type: ignore[assignment]
    try:
        with pytest.raises(KeyboardInterrupt):
            p.feed(wire)
    finally:
        rsp.checksum = real  # type: ignore[assignment]
    got = p.feed(b"")
    assert [e.data for e in got] == [b"one", b"two", b"three"]


@pytest.mark.parametrize("n", [0, 1, 511, 512, 513, 0xF000 - 1, 0xF000, 0xF001, 0x20000, 0x30001])
@pytest.mark.parametrize("fill", ["random", "ff", "zero", "ff00"])
def test_checksum_matches_sum(n: int, fill: str) -> None:
    """The block checksum (Adler-32 and mod 255 residues) against sum() & 0xff,
    at the block edges and at the largest sums (every byte 0xff)."""
    data = {
        "random": random.Random(n).randbytes(n),
        "ff": b"\xff" * n,
        "zero": bytes(n),
        "ff00": bytes([255, 0]) * (n // 2),
    }[fill]
    assert rsp.checksum(data) == sum(data) & 0xFF
