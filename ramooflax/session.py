"""A GDB remote protocol session over a transport: acks, no-ack mode,
requests and replies, console output, stop replies, timeouts, reconnects.

    s = Session(open_transport("127.0.0.1:1234"))
    s.handshake()                       # qSupported, QStartNoAckMode
    s.interrupt()                       # 0x03 -> StopReply (T02)
    s.request("qRfx.Status")            # b"mode:long;..."
    s.resume("c")                       # the VM runs
    stop = s.wait_stop(timeout=None)    # blocks until the next stop reply

The VMM serves packets only while the VM is stopped; while it runs it polls
the line at vm-exits (docs/protocol.md, "When the VMM listens"), so the first
reply after a stop request may take a while. The session is thread-safe: one
request at a time (a lock), so a keep-alive thread can share it.

A request whose caller is interrupted (Ctrl-C in the middle of a 16 KiB
binary reply, say) still gets its reply from the VMM: the session counts it
as owed and consumes it before the next request, so every reply goes to the
request it answers.
"""

import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager

from ramooflax import rsp
from ramooflax.errors import ChannelLost, ChannelTimeout, ProtocolError, StubError
from ramooflax.transport import Transport


class _Broken(Exception):
    """A reply that arrived damaged in no-ack mode: nobody resends it."""


DEFAULT_TIMEOUT = 10.0
MAX_RESENDS = 3
# Replies owed to interrupted requests are given up after this long with no
# byte on the line: the stub serves a stopped VM's queued requests at once.
SETTLE_QUIET = 1.0


class Session:
    """Packets to and from the stub. Knows the protocol, not the VM."""

    def __init__(
        self,
        transport: Transport,
        timeout: float = DEFAULT_TIMEOUT,
        on_console: Callable[[bytes], None] | None = None,
    ) -> None:
        self.transport = transport
        self.timeout = timeout
        self.on_console = on_console
        self.noack = False
        self.features: dict[str, str] = {}
        self.console = bytearray()  # `O` packet text received so far
        self.lock = threading.RLock()
        self.last_activity = time.monotonic()
        self._parser = rsp.PacketParser()
        self._events: deque[rsp.Event] = deque()
        self._stops: deque[rsp.StopReply] = deque()  # stop replies that came unasked
        self._owed: deque[bytes] = deque()  # requests whose caller left before the reply
        self._heard = False  # any byte from the VMM since the line was opened
        self._last_byte = 0.0  # time.monotonic() of the last bytes received
        self._budget = timeout  # the seconds the current wait was given

    @property
    def heard(self) -> bool:
        """Whether any byte came from the VMM since the line was opened."""
        return self._heard

    # -- bytes and events -----------------------------------------------------
    def _next_event(self, deadline: float | None) -> rsp.Event:
        """The next parsed event, or ChannelTimeout once `deadline` passes."""
        while not self._events:
            left = 1.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise ChannelTimeout(self._silence())
            data = self.transport.recv(min(left, 1.0))
            if data:
                self._heard = True
                self._last_byte = time.monotonic()
                self._events.extend(self._parser.feed(data))
        return self._events.popleft()

    def _silence(self) -> str:
        where = self.transport.describe()
        if not self._heard:
            hint = getattr(self.transport, "silence_hint", None)
            if hint is not None:
                return f"no reply from the VMM on {where} within {self._budget:.0f} s: {hint()}"
        return (
            f"no reply from the VMM on {where} within {self._budget:.0f} s (a VM running with "
            "few exits polls slowly; is the hypervisor alive?)"
        )

    def _send_frame(self, frame: bytes) -> None:
        self.transport.send(frame)
        self.last_activity = time.monotonic()

    def _packet(
        self, deadline: float | None, resend: bytes | None, broken_ends: bool = False
    ) -> bytes:
        """The next good packet; acks it, answers bad ones with `-`, resends on `-`.
        With broken_ends, a bad packet in no-ack mode (which nobody resends)
        raises _Broken."""
        resends = 0
        while True:
            ev = self._next_event(deadline)
            if ev.kind is rsp.Kind.PACKET:
                if not self.noack:
                    self.transport.send(rsp.ACK)
                return ev.data
            if ev.kind is rsp.Kind.BAD_CHECKSUM:
                if not self.noack:
                    self.transport.send(rsp.NACK)
                elif broken_ends:
                    raise _Broken
            elif ev.kind is rsp.Kind.NACK and resend is not None:
                resends += 1
                if resends > MAX_RESENDS:
                    raise ProtocolError(
                        f"the VMM asked {MAX_RESENDS} times for a resend: the line corrupts data"
                    )
                self._send_frame(resend)
            # ACKs and stray interrupt bytes carry nothing for us.

    def _console(self, payload: bytes) -> bool:
        text = rsp.console_output(payload)
        if text is None:
            return False
        self.console += text
        if self.on_console is not None:
            self.on_console(text)
        return True

    # -- requests -------------------------------------------------------------
    def request(self, payload: bytes | str, timeout: float | None = None) -> bytes:
        """Send one packet and return its reply; `O` output goes to the console.

        A stop reply that arrives first (the VM stopped on its own just as we
        asked) is queued for wait_stop() and the wait goes on.
        """
        data = payload.encode() if isinstance(payload, str) else payload
        frame = rsp.frame(data)
        with self.lock:
            self._settle()
            self._send_frame(frame)
            deadline = self._deadline(timeout)
            with self._owing(data):
                reply = self._reply_to(data, deadline, frame)
            self.last_activity = time.monotonic()
            return reply

    def _reply_to(self, data: bytes, deadline: float | None, frame: bytes | None) -> bytes:
        """The reply to the request `data`: console output and unasked stops set aside."""
        while True:
            reply = self._packet(deadline, frame)
            if self._console(reply) and not data.startswith(b"qRcmd,"):
                continue
            if reply and rsp.is_stop(reply) and not _expects_stop(data):
                self._stops.append(rsp.parse_stop(reply))
                continue
            return reply

    def _deadline(self, timeout: float | None) -> float:
        self._budget = self.timeout if timeout is None else timeout
        return time.monotonic() + self._budget

    @contextmanager
    def _owing(self, data: bytes) -> Iterator[None]:
        """While waiting for the reply to `data`: if the caller leaves (KeyboardInterrupt),
        the reply is still on its way, and _settle() takes it before the next request."""
        try:
            yield
        except ChannelLost:
            raise  # the line is gone (or silent): nothing will come to confuse the next one
        except BaseException:
            self._owed.append(data)
            raise

    def _settle(self) -> None:
        """Consume the replies owed to interrupted requests, oldest first.

        A caller that left in mid-read may have taken bytes of the reply with
        it: in no-ack mode that reply then ends as a bad packet, which settles
        it too; bytes lost across the end of one reply and the start of the
        next make two replies one. So the wait ends when the owed replies are
        all in, or once the line has been quiet for SETTLE_QUIET seconds (or
        at the session's deadline), and the next request still goes out (the
        VMM's framer starts afresh at its `$`). The VMM gives a stopped VM's
        client ctrl_timeout seconds (3 in the lab) between packets: the
        settle must end well inside that."""
        if not self._owed:
            return
        start, end = time.monotonic(), self._deadline(None)
        try:
            while self._owed:
                data = self._owed[0]
                while True:
                    try:
                        reply = self._owed_packet(start, end)
                    except _Broken:
                        break
                    if data.startswith(b"qRcmd,") and rsp.console_output(reply) is not None:
                        continue  # the monitor command's output: its OK or error follows
                    if not data.startswith(b"qRcmd,") and self._console(reply):
                        continue
                    if reply and rsp.is_stop(reply) and not _expects_stop(data):
                        self._stops.append(rsp.parse_stop(reply))
                        continue
                    break
                self._owed.popleft()
        except ChannelTimeout:
            self._owed.clear()

    def _owed_packet(self, start: float, end: float) -> bytes:
        """The next packet for _settle: ChannelTimeout at `end`, or once no
        byte came for SETTLE_QUIET seconds since the settle's `start`."""
        while True:
            limit = min(end, max(self._last_byte, start) + SETTLE_QUIET)
            if time.monotonic() >= limit:
                raise ChannelTimeout(self._silence())
            try:
                return self._packet(limit, None, broken_ends=True)
            except ChannelTimeout:
                continue  # bytes may have come meanwhile: the limit moves on

    def pipeline(
        self, payloads: Iterable[bytes | str], depth: int = 1, timeout: float | None = None
    ) -> Generator[bytes, None, None]:
        """The replies to payloads, in order, with up to `depth` requests on the
        line at once (the stub serves the next while the reply to the last one
        travels). Only in no-ack mode (a `-` could not say which reply it asks
        again): otherwise one at a time, as request() does. The session is held
        until the generator ends; requests sent whose replies the caller did not
        take (it left, or was interrupted) are owed, as for request()."""
        if not self.noack:
            depth = 1
        with self.lock:
            self._settle()
            it = iter(payloads)
            pending: deque[tuple[bytes, bytes]] = deque()
            try:
                while True:
                    while len(pending) < max(1, depth):
                        payload = next(it, None)
                        if payload is None:
                            break
                        data = payload.encode() if isinstance(payload, str) else payload
                        frame = rsp.frame(data)
                        pending.append((data, frame))  # owed from before its send starts
                        self._send_frame(frame)
                    if not pending:
                        return
                    data, frame = pending[0]
                    reply = self._reply_to(data, self._deadline(timeout), frame)
                    pending.popleft()
                    self.last_activity = time.monotonic()
                    yield reply
            except ChannelLost:
                raise
            except BaseException:
                self._owed.extend(d for d, _ in pending)
                raise

    def checked(self, payload: bytes | str, timeout: float | None = None) -> bytes:
        """request(), raising StubError on an `Exx` / `E.text` reply."""
        reply = self.request(payload, timeout)
        if rsp.is_error(reply):
            text = payload if isinstance(payload, str) else payload.decode("ascii", "replace")
            raise StubError(text[:60], reply.decode("ascii", "replace"))
        return reply

    def expect_ok(self, payload: bytes | str, timeout: float | None = None) -> None:
        reply = self.checked(payload, timeout)
        if reply != b"OK":
            text = payload if isinstance(payload, str) else payload.decode("ascii", "replace")
            if reply == b"":
                raise StubError(text[:60], "empty reply (the VMM does not know this packet)")
            raise ProtocolError(f"`{text[:60]}`: expected OK, got {reply[:40]!r}")

    def monitor(self, command: str, timeout: float | None = None) -> str:
        """A `monitor` command: its `O` output, or the hex text of its final reply."""
        with self.lock:
            data = rsp.qrcmd(command).encode()
            frame = rsp.frame(data)
            self._settle()
            self._send_frame(frame)
            deadline = self._deadline(timeout)
            out = bytearray()
            with self._owing(data):
                while True:
                    reply = self._packet(deadline, frame)
                    text = rsp.console_output(reply)
                    if text is None:
                        break
                    out += text
            self.last_activity = time.monotonic()
            if reply == b"OK":
                pass
            elif reply == b"":
                if not out:
                    raise StubError(f"monitor {command}", "unknown monitor command")
            elif rsp.is_error(reply):
                raise StubError(f"monitor {command}", reply.decode("ascii", "replace"))
            else:
                out += rsp.hex_decode(reply)
            return out.decode("utf-8", "replace")

    def handshake(self) -> dict[str, str]:
        """qSupported, then QStartNoAckMode if offered. Returns the features."""
        reply = self.checked("qSupported:swbreak+;hwbreak+;vContSupported+")
        self.features = rsp.parse_features(reply)
        if self.features.get("QStartNoAckMode") == "+" and not self.noack:
            self.expect_ok("QStartNoAckMode")
            self.noack = True
        return self.features

    # -- running and stopping -------------------------------------------------
    def resume(self, packet: str = "c") -> None:
        """Send a packet that resumes the VM (`c`, `s`, `vCont;c`): no reply until it stops."""
        with self.lock:
            self._send_frame(rsp.frame(packet))

    def interrupt(self, timeout: float | None = None) -> rsp.StopReply:
        """Send 0x03 and wait for the stop reply (`T02`)."""
        with self.lock:
            self.transport.send(rsp.INTERRUPT)
            return self.wait_stop(self.timeout if timeout is None else timeout)

    def wait_stop(self, timeout: float | None = None) -> rsp.StopReply:
        """The next stop reply; timeout None waits forever (Ctrl-C raises KeyboardInterrupt)."""
        with self.lock:
            if self._stops:
                return self._stops.popleft()
            deadline = None if timeout is None else self._deadline(timeout)
            while True:
                reply = self._packet(deadline, None)
                if self._console(reply):
                    continue
                if rsp.is_stop(reply):
                    self.last_activity = time.monotonic()
                    return rsp.parse_stop(reply)
                # A late reply to something else: nothing waits for it any more.

    def poll_stop(self) -> rsp.StopReply | None:
        """A stop reply that already arrived, or None (never blocks long)."""
        try:
            return self.wait_stop(0.01)
        except ChannelTimeout:
            return None

    # -- line ---------------------------------------------------------------
    def close(self) -> None:
        self.transport.close()

    def reconnect(self) -> dict[str, str]:
        """Reconnect the transport and redo the handshake (acks are on again)."""
        with self.lock:
            self.transport.reconnect()
            self._parser = rsp.PacketParser()
            self._events.clear()
            self._stops.clear()
            self._owed.clear()
            self._heard = False
            self.noack = False
            return self.handshake()


def _expects_stop(packet: bytes) -> bool:
    return packet in (b"?", b"c", b"s") or packet.startswith(b"vCont;")


__all__ = ["DEFAULT_TIMEOUT", "ChannelLost", "Session"]
