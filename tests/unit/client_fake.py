"""A scripted transport for session and model tests: no VM, no sockets.

Each rule maps a packet the client sends to the raw bytes the stub answers
(as recorded from the real stub); `sent` keeps what the client wrote.
STUB_TARGET_XML is the stub's own target.xml, captured from it
(tests/lab/test_gdb.py checks the live one still equals it).
"""

from collections.abc import Callable
from pathlib import Path

from ramooflax import rsp
from ramooflax.errors import ChannelLost

Reply = bytes | Callable[[bytes], bytes]

STUB_TARGET_XML = (Path(__file__).parent / "data" / "stub-target.xml").read_bytes()
QXFER = b"qXfer:features:read:target.xml:"


def xfer(document: bytes) -> Callable[[bytes], bytes]:
    """A rule serving `document` to qXfer:features:read:target.xml:OFF,LEN as the stub does."""

    def reply(packet: bytes) -> bytes:
        off, length = (int(x, 16) for x in packet[len(QXFER) :].split(b","))
        chunk = document[off : off + length]
        return rsp.frame((b"m" if off + len(chunk) < len(document) else b"l") + chunk)

    return reply


class FakeStub:
    def __init__(self, rules: dict[bytes, Reply] | None = None, ack: bool = True) -> None:
        self.rules: dict[bytes, Reply] = dict(rules or {})
        self.sent: list[bytes] = []  # payloads of the packets received
        self.raw_sent = bytearray()
        self.pending = bytearray()
        self.ack = ack
        self.closed = False
        self._parser = rsp.PacketParser()

    def describe(self) -> str:
        return "fake"

    def send(self, data: bytes) -> None:
        if self.closed:
            raise ChannelLost("fake line closed")
        self.raw_sent += data
        for ev in self._parser.feed(data):
            if ev.kind is rsp.Kind.INTERRUPT:
                self.pending += rsp.frame(b"T02")
            elif ev.kind is rsp.Kind.PACKET:
                self.sent.append(ev.data)
                if self.ack:
                    self.pending += b"+"
                self.pending += self.reply_to(ev.data)
                if ev.data == b"QStartNoAckMode":
                    self.ack = False

    def reply_to(self, packet: bytes) -> bytes:
        for prefix in sorted(self.rules, key=len, reverse=True):
            if packet.startswith(prefix):
                r = self.rules[prefix]
                return r(packet) if callable(r) else r
        return rsp.frame(b"")

    def recv(self, timeout: float) -> bytes:
        if self.closed:
            raise ChannelLost("fake line closed")
        data, self.pending = bytes(self.pending), bytearray()
        return data

    def push(self, data: bytes) -> None:
        """Bytes the stub sends on its own (a stop reply while the VM runs)."""
        self.pending += data

    def close(self) -> None:
        self.closed = True

    def reconnect(self) -> None:
        self.closed = False
        self.ack = True


def f(payload: bytes | str) -> bytes:
    return rsp.frame(payload)
