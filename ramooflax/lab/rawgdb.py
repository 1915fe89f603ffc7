"""A raw GDB-remote client over TCP for lab tests and benchmarks.

Deliberately tiny and independent of the Python client (ramooflax.session &
co.): tests of the stub must see the bytes on the wire. Works against the
VMM's stub (the ctrl port) and against QEMU's own gdbstub (`-gdb tcp:...`).

    with RawGdb.connect(port) as g:
        g.noack()                     # QStartNoAckMode
        g.command("?")                # -> b"T05"
        g.interrupt(); g.wait_stop()  # 0x03 -> b"T02"
"""

import re
import socket
import time
from types import TracebackType
from typing import Self

from ramooflax import rsp
from ramooflax.errors import LabError

_UNESCAPE = re.compile(rb"}(.)", re.DOTALL)


def unescape(body: bytes) -> bytes:
    if b"}" not in body:
        return body
    return _UNESCAPE.sub(lambda m: bytes((m.group(1)[0] ^ 0x20,)), body)


def expand_rle(body: bytes) -> bytes:
    """Run-length `X*n` (QEMU's stub uses it in hex replies; binary data escapes `*`)."""
    if b"*" not in body:
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        if body[i] == 0x2A and out and i + 1 < len(body):
            out += out[-1:] * (body[i + 1] - 29)
            i += 2
        else:
            out.append(body[i])
            i += 1
    return bytes(out)


class RawGdb:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.ack = True
        self.acks_seen = 0
        self.console = bytearray()  # text of `O` packets

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
        self.buf += data

    def recv_packet(self, timeout: float = 10, raw: bool = False) -> bytes:
        """The next packet's payload (unescaped; RLE expanded unless raw)."""
        deadline = time.monotonic() + timeout
        while True:
            start = self.buf.find(b"$")
            if start < 0:
                self.acks_seen += self.buf.count(b"+")
                self.buf.clear()
            else:
                self.acks_seen += self.buf.count(b"+", 0, start)
                end = self.buf.find(b"#", start)
                if end >= 0 and len(self.buf) >= end + 3:
                    body = bytes(self.buf[start + 1 : end])
                    cs = bytes(self.buf[end + 1 : end + 3])
                    del self.buf[: end + 3]
                    if self.ack:
                        self.sock.sendall(rsp.ACK)
                    if int(cs, 16) != rsp.checksum(body):
                        raise LabError(f"bad checksum in reply {body[:60]!r}#{cs!r}")
                    data = unescape(body)
                    return data if raw else expand_rle(data)
                del self.buf[:start]
            self._fill(deadline)

    def reply(self, timeout: float = 10, raw: bool = False) -> bytes:
        """The next packet that is not console output (`O...` text is kept)."""
        while True:
            data = self.recv_packet(timeout, raw)
            text = rsp.console_output(data)
            if text is None:
                return data
            self.console += text

    def command(self, payload: bytes | str, timeout: float = 10, raw: bool = False) -> bytes:
        self.send(payload)
        return self.reply(timeout, raw)

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
            if data[:1] in (b"T", b"S"):
                return data

    def monitor(self, command: str, timeout: float = 30) -> str:
        """`qRcmd`; the `O` text up to the final OK (or a hex reply)."""
        self.console.clear()
        self.send(rsp.qrcmd(command)[1:-3].decode())  # re-framed: qrcmd() is framed already
        data = self.reply(timeout)
        if data not in (b"OK", b"") and not data.startswith(b"E"):
            self.console += rsp.hex_decode(data)
        return self.console.decode("utf-8", "replace")

    def regs(self) -> bytes:
        return rsp.hex_decode(self.command("g"))

    def reg(self, n: int) -> int:
        return int.from_bytes(rsp.hex_decode(self.command(f"p{n:x}")), "little")


# Register numbers of the stub's target.xml (docs/protocol.md).
RIP = 16
CR0, CR2, CR3, CR4, CR8, EFER = range(57, 63)
LSTAR = 102


def parse_status(reply: bytes) -> dict[str, str]:
    """`qRfx.Status` → {"mode": ..., "cr3": ..., "rip": ...}."""
    out = {}
    for item in reply.decode().split(";"):
        if ":" in item:
            k, v = item.split(":", 1)
            out[k] = v
    return out
