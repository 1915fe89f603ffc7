"""The hypervisor's control channel (COM2 over TCP): just enough of a GDB
remote client for the lab's `monitor` commands (qRcmd). The full client
(transport/session/model) reuses ramooflax.rsp the same way.
"""

import socket
import time

from ramooflax import rsp
from ramooflax.errors import GuestTimeout, LabError, ProtocolError


class HvControl:
    """A TCP connection to the VMM's GDB stub."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._sock: socket.socket | None = None
        self._parser = rsp.PacketParser()

    def connect(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                return
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise LabError(f"cannot connect to the hv control port {self.port}: {exc}")
                time.sleep(0.1)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _events(self, deadline: float) -> list[rsp.Event]:
        assert self._sock is not None
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self._sock.settimeout(min(left, 1.0))
        try:
            data = self._sock.recv(4096)
        except TimeoutError:
            return []
        if not data:
            raise LabError("the hv control connection closed (QEMU exited?)")
        return self._parser.feed(data)

    def _resume(self) -> None:
        """Our packet stopped the VM: let it run again (else it waits ctrl_timeout)."""
        assert self._sock is not None
        self._sock.sendall(rsp.frame("c"))

    def monitor(self, command: str, timeout: float = 15) -> str:
        """Send `qRcmd,<hex command>`; return the concatenated `O` output texts.

        The VMM polls the channel only on vm-exits, so replies can take seconds.
        """
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        self._sock.sendall(rsp.qrcmd(command))
        deadline = time.monotonic() + timeout
        text = bytearray()
        try:
            while True:
                for ev in self._events(deadline):
                    if ev.kind is rsp.Kind.NACK:
                        self._sock.sendall(rsp.qrcmd(command))
                    elif ev.kind is rsp.Kind.BAD_CHECKSUM:
                        self._sock.sendall(rsp.NACK)
                    elif ev.kind is rsp.Kind.PACKET:
                        self._sock.sendall(rsp.ACK)
                        out = rsp.console_output(ev.data)
                        if out is not None:
                            text += out
                        elif ev.data == b"OK" or ev.data == b"":
                            self._resume()
                            if ev.data == b"" and not text:
                                raise ProtocolError(
                                    f"the VMM does not know `monitor {command}` (empty reply)"
                                )
                            return text.decode("utf-8", "replace")
                        elif ev.data.startswith(b"E"):
                            self._resume()
                            raise ProtocolError(
                                f"the VMM answered `monitor {command}` with {ev.data.decode()}"
                            )
                        else:
                            self._resume()
                            text += rsp.hex_decode(ev.data)
                            return text.decode("utf-8", "replace")
        except TimeoutError:
            got = f"; partial output:\n{text.decode('utf-8', 'replace')}" if text else ""
            raise GuestTimeout(
                f"the VMM did not answer `monitor {command}` on the control port within "
                f"{timeout:.0f} s (it polls COM2 only on vm-exits: is the hv running?){got}"
            ) from None
