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
"""

import threading
import time
from collections import deque
from collections.abc import Callable

from ramooflax import rsp
from ramooflax.errors import ChannelLost, ChannelTimeout, ProtocolError, StubError
from ramooflax.transport import Transport

DEFAULT_TIMEOUT = 10.0
MAX_RESENDS = 3


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

    # -- bytes and events -----------------------------------------------------
    def _next_event(self, deadline: float | None) -> rsp.Event:
        """The next parsed event, or ChannelTimeout once `deadline` passes."""
        while not self._events:
            left = 1.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise ChannelTimeout(
                    f"no reply from the VMM on {self.transport.describe()} within "
                    f"{self.timeout:.0f} s (a VM running with few exits polls slowly; "
                    "is the hypervisor alive?)"
                )
            data = self.transport.recv(min(left, 1.0))
            if data:
                self._events.extend(self._parser.feed(data))
        return self._events.popleft()

    def _send_frame(self, frame: bytes) -> None:
        self.transport.send(frame)
        self.last_activity = time.monotonic()

    def _packet(self, deadline: float | None, resend: bytes | None) -> bytes:
        """The next good packet; acks it, answers bad ones with `-`, resends on `-`."""
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
            self._send_frame(frame)
            deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
            while True:
                reply = self._packet(deadline, frame)
                if self._console(reply) and not data.startswith(b"qRcmd,"):
                    continue
                if reply and rsp.is_stop(reply) and not _expects_stop(data):
                    self._stops.append(rsp.parse_stop(reply))
                    continue
                self.last_activity = time.monotonic()
                return reply

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
            frame = rsp.qrcmd(command)
            self._send_frame(frame)
            deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
            out = bytearray()
            while True:
                reply = self._packet(deadline, frame)
                text = rsp.console_output(reply)
                if text is not None:
                    out += text
                    continue
                if reply == b"OK":
                    break
                if reply == b"":
                    if not out:
                        raise StubError(f"monitor {command}", "unknown monitor command")
                    break
                if rsp.is_error(reply):
                    raise StubError(f"monitor {command}", reply.decode("ascii", "replace"))
                out += rsp.hex_decode(reply)
                break
            self.last_activity = time.monotonic()
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
            deadline = None if timeout is None else time.monotonic() + timeout
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
            self.noack = False
            return self.handshake()


def _expects_stop(packet: bytes) -> bool:
    return packet in (b"?", b"c", b"s") or packet.startswith(b"vCont;")


__all__ = ["DEFAULT_TIMEOUT", "ChannelLost", "Session"]
