"""The RSP codec: framing, escapes, run lengths, checksums, hex, stop replies."""

import pytest

from ramooflax import rsp
from ramooflax.errors import ProtocolError


@pytest.mark.parametrize(
    ("data", "wire"),
    [
        (b"", b"$#00"),
        (b"OK", b"$OK#9a"),
        (b"g", b"$g#67"),
        (b"a$b", b"$a}\x04b#" + b"%02x" % ((ord("a") + 0x7D + 0x04 + ord("b")) & 0xFF)),
        (b"*", b"$}\x0a#87"),
    ],
)
def test_frame(data: bytes, wire: bytes) -> None:
    assert rsp.frame(data) == wire


@pytest.mark.parametrize(
    ("body", "decoded"),
    [
        (b"abc", b"abc"),
        (b"0* ", b"0000"),  # ' ' is 32: 3 more copies
        (b"}\x03", b"#"),
        (b"}\x0a", b"*"),  # an escaped '*' is data, not a run length
        (b"b}\x0a}\x0a", b"b**"),  # binary reply made of 0x2a bytes
        (b"x}\x5d", b"x}"),
    ],
)
def test_decode_body(body: bytes, decoded: bytes) -> None:
    assert rsp.decode_body(body) == decoded


@pytest.mark.parametrize("bad", [b"}", b"*", b"a*"])
def test_decode_body_errors(bad: bytes) -> None:
    with pytest.raises(ProtocolError):
        rsp.decode_body(bad)


@pytest.mark.parametrize("payload", [b"", b"OK", b"$#}*", bytes(range(256)), b"b" + b"*" * 40])
def test_parser_round_trip(payload: bytes) -> None:
    events = rsp.PacketParser().feed(rsp.frame(payload))
    assert events == [rsp.Event(rsp.Kind.PACKET, payload)]


def test_parser_byte_at_a_time_and_noise() -> None:
    p = rsp.PacketParser()
    stream = b"+junk-\x03" + rsp.frame(b"T05") + b"$OK#00"
    events = [e for b in stream for e in p.feed(bytes((b,)))]
    kinds = [e.kind for e in events]
    assert kinds == [
        rsp.Kind.ACK,
        rsp.Kind.NACK,
        rsp.Kind.INTERRUPT,
        rsp.Kind.PACKET,
        rsp.Kind.BAD_CHECKSUM,
    ]
    assert events[3].data == b"T05"


@pytest.mark.parametrize(
    ("payload", "kind", "event", "args"),
    [
        (b"T02", rsp.StopKind.INTERRUPT, None, None),
        (b"T05", rsp.StopKind.STEP, None, None),
        (b"S05", rsp.StopKind.STEP, None, None),
        (b"T05swbreak:;", rsp.StopKind.SWBREAK, None, None),
        (b"T05hwbreak:;", rsp.StopKind.HWBREAK, None, None),
        (
            b"T05rfx:cr_write,cr=3,val=1000,old=2000;",
            rsp.StopKind.EVENT,
            "cr_write",
            {"cr": 3, "val": 0x1000, "old": 0x2000},
        ),
        (b"T05rfx:cr_read,cr=0;", rsp.StopKind.EVENT, "cr_read", {"cr": 0}),
        (
            b"T05rfx:excp,vec=e,err=6,cr2=7fff0000;",
            rsp.StopKind.EVENT,
            "excp",
            {"vec": 14, "err": 6, "cr2": 0x7FFF0000},
        ),
        (
            b"T05rfx:msr,msr=c0000080,dir=w,val=d01;",
            rsp.StopKind.EVENT,
            "msr",
            {"msr": 0xC0000080, "dir": "w", "val": 0xD01},
        ),
        (
            b"T05rfx:io,port=70,size=1,dir=out,val=8f;",
            rsp.StopKind.EVENT,
            "io",
            {"port": 0x70, "size": 1, "dir": "out", "val": 0x8F},
        ),
        (
            b"T05rfx:npf,gpa=1fa01000,dir=w;",
            rsp.StopKind.EVENT,
            "npf",
            {"gpa": 0x1FA01000, "dir": "w"},
        ),
        (b"T05rfx:reset,how=kbc;", rsp.StopKind.EVENT, "reset", {"how": "kbc"}),
    ],
)
def test_parse_stop(
    payload: bytes, kind: rsp.StopKind, event: str | None, args: dict[str, object] | None
) -> None:
    stop = rsp.parse_stop(payload)
    assert stop.kind is kind
    assert stop.event == event
    assert stop.args == args


@pytest.mark.parametrize(
    ("payload", "kind", "addr"),
    [
        (b"T05watch:ffffffff81000000;", rsp.StopKind.WATCH, 0xFFFFFFFF81000000),
        (b"T05rwatch:1000;", rsp.StopKind.RWATCH, 0x1000),
        (b"T05awatch:20;", rsp.StopKind.AWATCH, 0x20),
    ],
)
def test_parse_watch(payload: bytes, kind: rsp.StopKind, addr: int) -> None:
    stop = rsp.parse_stop(payload)
    assert (stop.kind, stop.addr) == (kind, addr)


@pytest.mark.parametrize("bad", [b"OK", b"", b"E14", b"Tzz"])
def test_parse_stop_rejects(bad: bytes) -> None:
    assert not rsp.is_stop(bad)
    with pytest.raises(ProtocolError):
        rsp.parse_stop(bad)


@pytest.mark.parametrize(
    ("payload", "is_err", "code"),
    [
        (b"E14", True, 0x14),
        (b"E01", True, 1),
        (b"E.LBR unsupported", True, None),
        (b"OK", False, None),
        (b"Eggs", False, None),
        (b"", False, None),
    ],
)
def test_errors(payload: bytes, is_err: bool, code: int | None) -> None:
    assert rsp.is_error(payload) is is_err
    assert rsp.error_code(payload) == code


@pytest.mark.parametrize(
    ("value", "size", "text"),
    [
        (0, 8, "0000000000000000"),
        (0x1234, 4, "34120000"),
        (-1, 2, "ffff"),
        (0xFFFFFFFF81000000, 8, "00000081ffffffff"),
    ],
)
def test_le_hex(value: int, size: int, text: str) -> None:
    assert rsp.int_to_le_hex(value, size) == text
    assert rsp.le_hex_to_int(text) == value & ((1 << (8 * size)) - 1)


def test_features_and_pairs() -> None:
    f = rsp.parse_features(b"PacketSize=4000;qXfer:features:read+;swbreak+;QStartNoAckMode+")
    assert f == {
        "PacketSize": "4000",
        "qXfer:features:read": "+",
        "swbreak": "+",
        "QStartNoAckMode": "+",
    }
    assert rsp.parse_pairs(b"mode:long;exits:10;cr3:1000") == {
        "mode": "long",
        "exits": "10",
        "cr3": "1000",
    }


def test_binary_reply() -> None:
    assert rsp.binary_reply(b"b\x00\x01*") == b"\x00\x01*"
    with pytest.raises(ProtocolError):
        rsp.binary_reply(b"E14")
