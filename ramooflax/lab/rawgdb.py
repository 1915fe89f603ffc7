"""A raw GDB-remote client over TCP for lab tests and benchmarks.

Tests of the stub must see the packets on the wire, so this client has no
session logic of its own (no retries, no queued stop replies, no keep-alive):
what it sends is what the test asked for. It frames and parses with the one
codec, ramooflax.rsp. Works against the VMM's stub (the ctrl port) and
against QEMU's own gdbstub (`-gdb tcp:...`).

    with RawGdb.connect(port) as g:
        g.noack()                     # QStartNoAckMode
        g.command("?")                # -> b"T05"
        g.interrupt(); g.wait_stop()  # 0x03 -> b"T02"
        g.reg("lstar")                # numbered by the stub's target.xml
"""

import socket
import time
from collections import deque
from types import TracebackType
from typing import Self

from ramooflax import rsp
from ramooflax.errors import LabError
from ramooflax.tdesc import Layout, read_target_xml


class RawGdb:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.ack = True
        self.acks_seen = 0
        self.console = bytearray()  # text of `O` packets
        self._parser = rsp.PacketParser()
        self._packets: deque[bytes] = deque()
        self._layout: Layout | None = None

    @classmethod
    def connect(cls, port: int, timeout: float = 15) -> "RawGdb":
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=2)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return cls(sock)
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise LabError(f"cannot connect to 127.0.0.1:{port}: {exc}") from None
                time.sleep(0.1)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- wire ---------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, payload: bytes | str) -> None:
        self.sock.sendall(rsp.frame(payload))

    def interrupt(self) -> None:
        self.sock.sendall(rsp.INTERRUPT)

    def resync(self) -> None:
        """Forget anything half-received (after a test wrote to the socket itself)."""
        self._parser = rsp.PacketParser()
        self._packets.clear()

    def drain(self, quiet: float = 0.5) -> None:
        """Read and drop what the stub still sends, until it is quiet for
        `quiet` seconds (the replies to a flood), then forget any half packet."""
        self.sock.settimeout(quiet)
        try:
            while self.sock.recv(1 << 16):
                pass
        except TimeoutError:
            pass
        self.resync()

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no reply from the stub")
        self.sock.settimeout(min(left, 5.0))
        try:
            data = self.sock.recv(1 << 20)
        except TimeoutError:
            return
        if not data:
            raise LabError("the stub closed the connection")
        for ev in self._parser.feed(data):
            if ev.kind is rsp.Kind.ACK:
                self.acks_seen += 1
            elif ev.kind is rsp.Kind.BAD_CHECKSUM:
                raise LabError("a reply with a bad checksum (or an oversize one) from the stub")
            elif ev.kind is rsp.Kind.PACKET:
                if self.ack:
                    self.sock.sendall(rsp.ACK)
                self._packets.append(ev.data)

    def recv_packet(self, timeout: float = 10) -> bytes:
        """The next packet's payload (escapes and run lengths decoded)."""
        deadline = time.monotonic() + timeout
        while not self._packets:
            self._fill(deadline)
        return self._packets.popleft()

    def reply(self, timeout: float = 10) -> bytes:
        """The next packet that is not console output (`O...` text is kept)."""
        while True:
            data = self.recv_packet(timeout)
            text = rsp.console_output(data)
            if text is None:
                return data
            self.console += text

    def command(self, payload: bytes | str, timeout: float = 10) -> bytes:
        self.send(payload)
        return self.reply(timeout)

    def noack(self) -> None:
        got = self.command("QStartNoAckMode")
        if got != b"OK":
            raise LabError(f"QStartNoAckMode answered {got!r}")
        self.ack = False

    def wait_stop(self, timeout: float = 10) -> bytes:
        """The next stop reply (T../S..), skipping anything else."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.reply(max(0.01, deadline - time.monotonic()))
            if rsp.is_stop(data):
                return data

    def first_stop(self, timeout: float = 60, every: float = 5) -> bytes:
        """`?` as a new client after someone else's flood: the line may still
        carry the stub's replies to the flood (skipped up to the stop reply),
        and the flood's last half packet may swallow our first `$` -- a
        checksum digit expected, the packet is bad and, in no-ack mode, never
        answered -- so `?` is asked again every `every` seconds. Whatever
        else the stub still sends is drained afterwards."""
        deadline = time.monotonic() + timeout
        while True:
            self.send("?")
            try:
                stop = self.wait_stop(min(every, max(0.01, deadline - time.monotonic())))
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise
                continue
            self.drain()
            return stop

    def monitor(self, command: str, timeout: float = 30) -> str:
        """`qRcmd`; the `O` text up to the final OK (or a hex reply)."""
        self.console.clear()
        self.send(rsp.qrcmd(command))
        data = self.reply(timeout)
        if data not in (b"OK", b"") and not data.startswith(b"E"):
            self.console += rsp.hex_decode(data)
        return self.console.decode("utf-8", "replace")

    # -- registers, by the stub's own numbering -------------------------------
    def layout(self) -> Layout:
        """The stub's target.xml as a Layout (read once per connection)."""
        if self._layout is None:
            self._layout = Layout.from_xml(read_target_xml(self.command))
        return self._layout

    def regs(self) -> bytes:
        return rsp.hex_decode(self.command("g"))

    def reg(self, which: int | str) -> int:
        """One register (`p`), by number or by its name in target.xml."""
        n = which if isinstance(which, int) else self.layout().num(which)
        return int.from_bytes(rsp.hex_decode(self.command(f"p{n:x}")), "little")


def parse_status(reply: bytes) -> dict[str, str]:
    """`qRfx.Status` → {"mode": ..., "cr3": ..., "rip": ...}."""
    return rsp.parse_pairs(reply)
