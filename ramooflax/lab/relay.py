"""A TCP relay in front of an emulator's serial line, for one client at a time.

Bochs's serial `socket-server` accepts one connection, once, at start-up (and
blocks until it comes), and sets no SO_REUSEADDR. So a Bochs serial line is a
`socket-client` that connects to the relay's inner port at start-up, and the
relay serves the line on the outer port the way QEMU's TCP chardev does with
`server=on,wait=off`: one client at a time (the next one waits in the listen
backlog until the first leaves), and what the line sends while no client is
connected is dropped.
"""

import select
import socket
import threading

from ramooflax.errors import LabError


def listener(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:port (0: any free port), SO_REUSEADDR set;
    LabError if the port is taken."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        raise LabError(
            f"TCP port {port} is in use (something listens on it): pick another or omit it"
        ) from None
    s.listen(4)
    return s


class SerialRelay:
    """Relays the serial line that connects to inner_port to the client of outer.

    start() runs the relay in a daemon thread; close() ends it and closes every
    socket it holds."""

    def __init__(self, outer_port: int) -> None:
        self.outer = listener(outer_port)
        self.inner = listener(0)
        self.inner_port: int = self.inner.getsockname()[1]
        self.outer_port: int = self.outer.getsockname()[1]
        self.line: socket.socket | None = None  # the emulator's connection
        self.client: socket.socket | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="serial-relay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def line_up(self) -> bool:
        """True once the emulator's serial line has connected."""
        return self.line is not None

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self._step()
        except (OSError, ValueError):
            pass  # a socket closed under us by close()
        finally:
            self._drop_client()

    def _step(self) -> None:
        watch: list[socket.socket] = [self.inner if self.line is None else self.line]
        # While a client is connected, the next one waits in the backlog; its
        # bytes wait in its socket until the line is up.
        if self.client is None:
            watch.append(self.outer)
        elif self.line is not None:
            watch.append(self.client)
        ready, _, _ = select.select(watch, [], [], 0.2)
        for sock in ready:
            if sock is self.inner:
                self.line, _ = self.inner.accept()
                self.line.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.inner.close()
            elif sock is self.outer:
                self.client, _ = self.outer.accept()
                self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            elif sock is self.line:
                data = self.line.recv(65536)
                if not data:  # the emulator exited
                    self._stop.set()
                    return
                if self.client is not None:
                    try:
                        self.client.sendall(data)
                    except OSError:
                        self._drop_client()
            elif sock is self.client:
                try:
                    data = self.client.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self._drop_client()
                elif self.line is not None:
                    self.line.sendall(data)

    def _drop_client(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for sock in (self.outer, self.inner, self.line):
            if sock is not None:
                sock.close()
        self._drop_client()
