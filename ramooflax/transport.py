"""Byte transports to the VMM's control UART: TCP (the lab, a serial-to-TCP
bridge) and a local serial port through pyserial.

A transport moves bytes and nothing else: `send(data)`, `recv(timeout)`
(b"" when nothing arrived in time), `close()` and `reconnect()`. A closed
line raises ChannelLost. Framing is ramooflax.rsp's, acks are the session's.

    open_transport("127.0.0.1:1234")            # Tcp
    open_transport("serial:/dev/ttyUSB0")       # Serial, 115200 baud
    open_transport("serial:/dev/ttyUSB0@57600")
"""

import socket
import time
from typing import Any, Protocol

from ramooflax.errors import ChannelLost, ClientError

_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class Transport(Protocol):
    """What a session needs from a line."""

    def send(self, data: bytes) -> None: ...

    def recv(self, timeout: float) -> bytes: ...

    def close(self) -> None: ...

    def reconnect(self) -> None: ...

    def describe(self) -> str: ...

    # Optional: `silence_hint() -> str`, why a line that never answered may be
    # silent (Session's timeout message uses it).


class Tcp:
    """A TCP connection (QEMU's `-chardev socket,server=on`, or ser2net)."""

    def __init__(self, host: str, port: int, connect_timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self._sock: socket.socket | None = None

    def describe(self) -> str:
        return f"{self.host}:{self.port}"

    def silence_hint(self) -> str:
        return (
            "the connection was accepted but nothing came back, so the line is probably held "
            "by another client (QEMU's TCP chardev, like a serial line, serves one client at a "
            "time and leaves the others connected but unanswered): detach the other debugger "
            "or shell (in the lab, Machine.free_ctrl_port() releases the lab's own). Otherwise "
            "no VMM stub is behind this port"
        )

    def connect(self) -> None:
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=2)
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise ChannelLost(
                        f"cannot connect to the control channel {self.describe()}: {exc} "
                        "(is the VMM's machine running, and nobody else attached?)"
                    ) from None
                time.sleep(0.1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock

    def _s(self) -> socket.socket:
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        return self._sock

    def send(self, data: bytes) -> None:
        try:
            self._s().sendall(data)
        except OSError as exc:
            raise ChannelLost(f"the control channel {self.describe()} closed: {exc}") from None

    def _quickack(self, sock: socket.socket) -> None:
        # The peer (QEMU's chardev, one UART byte per write) may run Nagle's
        # algorithm: with our delayed ACKs every reply would stall ~40 ms.
        # TCP_QUICKACK (Linux) is not sticky, so it is set again on each read.
        if _QUICKACK is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:
                pass

    def recv(self, timeout: float) -> bytes:
        sock = self._s()
        sock.settimeout(max(timeout, 0.0001))
        self._quickack(sock)
        try:
            data = sock.recv(65536)
            self._quickack(sock)
        except TimeoutError:
            return b""
        except OSError as exc:
            raise ChannelLost(f"the control channel {self.describe()} failed: {exc}") from None
        if not data:
            raise ChannelLost(
                f"the control channel {self.describe()} closed (QEMU exited, or the machine "
                "was reset)"
            )
        return data

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def reconnect(self) -> None:
        self.close()
        self.connect()


class Serial:
    """A local serial port (a real machine's COM port), through pyserial."""

    def __init__(self, device: str, baudrate: int = 115200) -> None:
        self.device = device
        self.baudrate = baudrate
        self._port: Any = None

    def describe(self) -> str:
        return f"serial:{self.device}@{self.baudrate}"

    def silence_hint(self) -> str:
        # Opened exclusively: another client of ours would have failed the open.
        return (
            "nothing came back on the line: is the hypervisor running, with its control "
            f"channel (ctrl=uart:...) on this port, at {self.baudrate} baud?"
        )

    def connect(self) -> None:
        try:
            import serial  # type: ignore[import-untyped]
        except ImportError:
            raise ClientError("serial transports need pyserial: pip install pyserial") from None
        try:
            # exclusive: a second client on the same line (POSIX: flock) would
            # interleave its packets with ours; TCP's server takes one client.
            # pyserial also drops bytes left unread in the input buffer.
            self._port = serial.Serial(self.device, self.baudrate, timeout=0, exclusive=True)
        except (OSError, serial.SerialException) as exc:
            hint = " (another client is attached on it)" if "lock" in str(exc) else ""
            raise ChannelLost(f"cannot open {self.device}: {exc}{hint}") from None

    def _p(self) -> Any:
        if self._port is None:
            self.connect()
        return self._port

    def send(self, data: bytes) -> None:
        try:
            self._p().write(data)
            self._p().flush()
        except OSError as exc:
            raise ChannelLost(f"{self.describe()} failed: {exc}") from None

    def recv(self, timeout: float) -> bytes:
        port = self._p()
        port.timeout = max(timeout, 0.0001)
        try:
            first = port.read(1)
            if not first:
                return b""
            return bytes(first) + bytes(port.read(port.in_waiting or 0))
        except OSError as exc:
            raise ChannelLost(f"{self.describe()} failed: {exc}") from None

    def close(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port = None

    def reconnect(self) -> None:
        self.close()
        self.connect()


def open_transport(target: str) -> Transport:
    """`HOST:PORT` -> Tcp; `serial:DEVICE[@BAUD]` -> Serial."""
    if target.startswith("serial:"):
        dev, _, baud = target[len("serial:") :].partition("@")
        if not dev:
            raise ClientError(f"{target!r}: give a device, e.g. serial:/dev/ttyUSB0")
        try:
            return Serial(dev, int(baud) if baud else 115200)
        except ValueError:
            raise ClientError(f"{target!r}: the baud rate after @ must be a number") from None
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClientError(f"{target!r} is not HOST:PORT or serial:DEVICE (e.g. 127.0.0.1:1234)")
    return Tcp(host or "127.0.0.1", int(port))
