"""The session: acks, no-ack mode, resends, console output, stop replies, errors."""

import time

import pytest
from client_fake import FakeStub, f

from ramooflax import rsp
from ramooflax.errors import ChannelLost, ChannelTimeout, ProtocolError, StubError
from ramooflax.session import SETTLE_QUIET, Session

QSUPPORTED = f(
    "PacketSize=4000;qXfer:features:read+;swbreak+;hwbreak+;vContSupported+;QStartNoAckMode+"
)


def session(
    rules: dict[bytes, bytes], ack: bool = True, timeout: float = 0.2
) -> tuple[Session, FakeStub]:
    stub = FakeStub({b"qSupported": QSUPPORTED, b"QStartNoAckMode": f("OK"), **rules}, ack)
    return Session(stub, timeout=timeout), stub


def test_handshake_enters_no_ack_mode() -> None:
    s, stub = session({})
    features = s.handshake()
    assert features["PacketSize"] == "4000" and s.noack
    assert stub.sent == [b"qSupported:swbreak+;hwbreak+;vContSupported+", b"QStartNoAckMode"]
    # The client acked both replies (ack mode until the OK), then no more.
    assert bytes(stub.raw_sent).endswith(b"#0b+$QStartNoAckMode#b0+")
    s.request("?")
    assert bytes(stub.raw_sent).endswith(b"$?#3f")


def test_ack_mode_acks_each_reply() -> None:
    s, stub = session({b"qRfx.Status": f("mode:long")})
    assert s.request("qRfx.Status") == b"mode:long"
    assert bytes(stub.raw_sent).endswith(b"+")


def test_nack_resends() -> None:
    s, stub = session({})
    tries = []

    def flaky(packet: bytes) -> bytes:
        tries.append(packet)
        return b"-" if len(tries) == 1 else f("OK")

    stub.rules[b"QRfx.Filter"] = flaky
    s.expect_ok("QRfx.Filter:npf,1")
    assert len(tries) == 2


def test_bad_checksum_gets_nack() -> None:
    s, stub = session({b"qRfx.Status": b"$mode:long#00" + f("mode:long")})
    assert s.request("qRfx.Status") == b"mode:long"
    assert b"-" in bytes(stub.raw_sent)


def test_console_output_is_collected() -> None:
    seen: list[bytes] = []
    s, _ = session({b"qRfx.Exits": f(b"O" + b"hi\n".hex().encode()) + f("exits:1")})
    s.on_console = seen.append
    assert s.request("qRfx.Exits") == b"exits:1"
    assert seen == [b"hi\n"] and bytes(s.console) == b"hi\n"


@pytest.mark.parametrize(
    ("replies", "text"),
    [
        ([f(b"O" + b"a\n".hex().encode()), f("OK")], "a\n"),
        ([f(b"O" + b"x".hex().encode()), f(b"O" + b"y".hex().encode()), f("OK")], "xy"),
        ([f(b"done".hex())], "done"),
    ],
)
def test_monitor(replies: list[bytes], text: str) -> None:
    s, _ = session({b"qRcmd,": b"".join(replies)})
    assert s.monitor("exits") == text


def test_monitor_unknown() -> None:
    s, _ = session({b"qRcmd,": f("")})
    with pytest.raises(StubError, match="unknown monitor"):
        s.monitor("nope")


@pytest.mark.parametrize(("reply", "exc"), [(b"E14", StubError), (b"E.LBR unsupported", StubError)])
def test_checked_errors(reply: bytes, exc: type[Exception]) -> None:
    s, _ = session({b"qRfx.Lbr": f(reply)})
    with pytest.raises(exc, match=reply.decode()[:3]):
        s.checked("qRfx.Lbr")


def test_expect_ok_on_empty_reply() -> None:
    s, _ = session({})
    with pytest.raises(StubError, match="does not know"):
        s.expect_ok("QRfx.Unknown")
    s2, _ = session({b"QRfx.X": f("42")})
    with pytest.raises(ProtocolError):
        s2.expect_ok("QRfx.X")


def test_interrupt_and_wait_stop() -> None:
    s, stub = session({})
    s.handshake()
    assert s.interrupt().kind is rsp.StopKind.INTERRUPT
    s.resume("c")
    assert stub.sent[-1] == b"c"
    stub.push(f("T05rfx:cr_write,cr=3,val=1000,old=2000;"))
    stop = s.wait_stop(1)
    assert stop.event == "cr_write" and stop.args == {"cr": 3, "val": 0x1000, "old": 0x2000}


def test_stop_reply_before_a_reply_is_queued() -> None:
    s, _ = session({b"qRfx.Status": f("T05swbreak:;") + f("mode:long")})
    assert s.request("qRfx.Status") == b"mode:long"
    assert s.wait_stop(0.1).kind is rsp.StopKind.SWBREAK


def test_timeout_and_lost_channel() -> None:
    s, stub = session({b"qRfx.Status": b""})
    with pytest.raises(ChannelTimeout, match="no reply"):
        s.request("qRfx.Status")
    stub.close()
    with pytest.raises(ChannelLost):
        s.request("?")


def test_reconnect_redoes_the_handshake() -> None:
    s, stub = session({})
    s.handshake()
    stub.close()
    s.reconnect()
    assert s.noack and stub.sent.count(b"QStartNoAckMode") == 2


class CutStub(FakeStub):
    """A line on which the caller is interrupted (Ctrl-C) `after` bytes into a reply."""

    def __init__(self, rules: dict[bytes, bytes], after: int) -> None:
        super().__init__(rules)
        self.after = after
        self.cut = False

    def recv(self, timeout: float) -> bytes:
        if self.cut:
            self.cut = False
            raise KeyboardInterrupt
        data = super().recv(timeout)
        if len(data) > self.after:
            self.cut = True
            self.pending[:0] = data[self.after :]
            return data[: self.after]
        return data


def test_an_interrupted_reply_is_not_the_next_requests() -> None:
    """Ctrl-C in the middle of a binary reply: the next request (detach's `D`)
    gets its own OK, not the rest of the binary data."""
    big = f(b"b" + bytes(range(256)) * 8)
    stub = CutStub({b"qSupported": QSUPPORTED, b"QStartNoAckMode": f("OK")}, after=1 << 30)
    s = Session(stub, timeout=0.5)
    s.handshake()
    stub.rules.update({b"qRfx.PhysReadBin": big, b"D": f("OK"), b"qRfx.Status": f("mode:long")})
    stub.after = 100
    with pytest.raises(KeyboardInterrupt):
        s.request("qRfx.PhysReadBin:0,800")
    stub.after = 1 << 30
    s.expect_ok("D")
    assert s.request("qRfx.Status") == b"mode:long"


def test_an_interrupted_reply_that_lost_bytes_is_settled() -> None:
    """Ctrl-C just after a read returned, before its bytes reached the parser:
    that piece of the binary reply is gone, and in no-ack mode nobody resends
    it. The damaged reply settles the debt (it ends as a bad packet), and
    detach's `D` still goes out and gets its OK -- no wait for a reply that
    never completes, no VM left stopped until the VMM's timeout."""
    big = f(b"b" + bytes(range(256)) * 8)
    stub = CutStub({b"qSupported": QSUPPORTED, b"QStartNoAckMode": f("OK")}, after=1 << 30)
    s = Session(stub, timeout=5)
    s.handshake()
    stub.rules.update({b"qRfx.PhysReadBin": big, b"D": f("OK")})
    stub.after = 100
    with pytest.raises(KeyboardInterrupt):
        s.request("qRfx.PhysReadBin:0,800")
    del stub.pending[:64]  # what the interrupted read had taken
    stub.after = 1 << 30
    s.expect_ok("D")  # before the fix: ChannelTimeout, and the D never sent
    assert stub.sent[-1] == b"D"


def test_replies_that_lost_bytes_across_their_border_are_given_up_once_quiet() -> None:
    """Two binary replies in flight (a dump's pipeline), and the interrupted
    read took the end of the first and the start of the second: the parser
    reads the two as one bad packet, so the second owed reply never comes.
    The settle gives it up once the line is quiet (SETTLE_QUIET), not at the
    session's timeout: the VMM's own (ctrl_timeout, 3 s in the lab) would
    have ended the session first and left the VM stopped that long."""
    big = f(b"b" + bytes(range(256)) * 8)
    stub = CutStub({b"qSupported": QSUPPORTED, b"QStartNoAckMode": f("OK")}, after=1 << 30)
    s = Session(stub, timeout=10)
    s.handshake()
    stub.rules.update({b"qRfx.PhysReadBin": big, b"D": f("OK")})
    stub.after = 100
    reads = ["qRfx.PhysReadBin:0,800", "qRfx.PhysReadBin:800,800"]
    with pytest.raises(KeyboardInterrupt):
        list(s.pipeline(reads, depth=2))
    cut = len(big) - 100 - 10  # 10 bytes before the first reply's end, in what is left
    del stub.pending[cut : cut + 20]
    stub.after = 1 << 30
    start = time.monotonic()
    s.expect_ok("D")
    assert stub.sent[-1] == b"D"
    assert time.monotonic() - start < SETTLE_QUIET + 1


def test_an_interrupted_monitor_is_settled_too() -> None:
    out = f(b"O" + b"line\n".hex().encode()) * 3 + f("OK")
    stub = CutStub({b"qRcmd,": out, b"qRfx.Status": f("mode:real")}, after=20)
    s = Session(stub, timeout=0.5)
    with pytest.raises(KeyboardInterrupt):
        s.monitor("exits")
    stub.after = 1 << 30
    assert s.request("qRfx.Status") == b"mode:real"


class SilentLine(FakeStub):
    """Connected, never answers: what QEMU's chardev gives a second client."""

    def send(self, data: bytes) -> None:
        self.raw_sent += data  # no ack, no reply

    def silence_hint(self) -> str:
        return "held by another client"


def test_a_line_that_never_answered_says_why() -> None:
    s = Session(SilentLine(), timeout=0.2)
    with pytest.raises(ChannelTimeout, match="within 0 s: held by another client"):
        s.handshake()
    # Once the VMM has answered, silence means a busy or dead VMM instead.
    s2, _ = session({b"qRfx.Status": b""})
    s2.handshake()
    with pytest.raises(ChannelTimeout, match="is the hypervisor alive"):
        s2.request("qRfx.Status")
