"""The guest console (COM1) over TCP: a transcript and shell commands.

A reader thread appends everything the guest sends to a transcript; waits
look for text in it past a given offset, so nothing is lost between waits.
Shell commands are wrapped between markers whose literal text only appears in
the output (the command line splits them with quotes), so an echoed command
line never matches.
"""

import codecs
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ramooflax.errors import GuestTimeout, LabError

BEGIN = "__RFX_BEGIN__"
END = "__RFX_END__"
_END_RE = re.compile(re.escape(END) + r" (\d+)\r?\n")
_BEGIN_RE = re.compile(re.escape(BEGIN) + r"\r?\n")


@dataclass(frozen=True)
class Result:
    status: int
    output: str


def wrap(cmd: str) -> str:
    """One shell line that prints BEGIN, runs cmd (stderr merged), prints END <status>."""
    return f'echo "{BEGIN[:6]}""{BEGIN[6:]}"; ( {cmd} ) 2>&1; echo "{END[:6]}""{END[6:]} $?"'


def connect(port: int, timeout: float, alive: Callable[[], bool]) -> socket.socket:
    """Connect to 127.0.0.1:port, retrying while alive() and until timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError as exc:
            if not alive():
                raise LabError("QEMU exited before its console socket came up") from exc
            if time.monotonic() > deadline:
                raise LabError(f"cannot connect to the console on port {port}: {exc}") from exc
            time.sleep(0.05)


class Console:
    """Owns the socket; `text` is the whole transcript decoded as UTF-8."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._sock.settimeout(None)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._text: list[str] = []
        self._len = 0
        self._cond = threading.Condition()
        self._closed = False
        self.tee: Callable[[bytes], None] | None = None
        self._thread = threading.Thread(target=self._reader, name="console", daemon=True)
        self._thread.start()

    def _reader(self) -> None:
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                data = b""
            tee = self.tee
            if data and tee is not None:
                tee(data)
            with self._cond:
                if not data:
                    self._closed = True
                else:
                    chunk = self._decoder.decode(data)
                    self._text.append(chunk)
                    self._len += len(chunk)
                self._cond.notify_all()
            if not data:
                return

    @property
    def text(self) -> str:
        with self._cond:
            joined = "".join(self._text)
            self._text = [joined]
            return joined

    @property
    def closed(self) -> bool:
        return self._closed

    def offset(self) -> int:
        with self._cond:
            return self._len

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.text.replace("\r", "").splitlines()[-lines:])

    def send(self, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        try:
            self._sock.sendall(raw)
        except OSError as exc:
            raise LabError(f"cannot write to the guest console: {exc}") from exc

    def wait_for(self, pattern: re.Pattern[str], start: int, timeout: float) -> re.Match[str]:
        """First match of pattern in the transcript at or after offset start."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                text = "".join(self._text)
                self._text = [text]
                match = pattern.search(text, start)
                if match:
                    return match
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    why = "the console closed (QEMU exited)" if self._closed else "timeout"
                    raise GuestTimeout(f"{why} waiting for {pattern.pattern!r}")
                self._cond.wait(min(left, 0.5))

    def run(
        self,
        cmd: str,
        timeout: float = 120,
        on_output: Callable[[str], None] | None = None,
    ) -> Result:
        """Run cmd in the guest shell; stream its output to on_output; return it."""
        start = self.offset()
        self.send(wrap(cmd) + "\n")
        try:
            begin = self.wait_for(_BEGIN_RE, start, timeout)
        except GuestTimeout as exc:
            raise GuestTimeout(f"the guest shell did not start `{cmd}` ({exc})") from None
        deadline = time.monotonic() + timeout
        pos = begin.end()
        out: list[str] = []
        with self._cond:
            while True:
                text = "".join(self._text)
                self._text = [text]
                end = _END_RE.search(text, pos)
                stop = end.start() if end else _safe_end(text, pos)
                if stop > pos:
                    piece = text[pos:stop].replace("\r\n", "\n")
                    out.append(piece)
                    if on_output is not None:
                        on_output(piece)
                    pos = stop
                if end:
                    return Result(int(end.group(1)), "".join(out))
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    why = (
                        "lost the guest: the console closed (QEMU exited)"
                        if self._closed
                        else f"timed out after {timeout:.0f} s"
                    )
                    raise GuestTimeout(f"`{cmd}` {why}; last output:\n{self.tail_of(text)}")
                self._cond.wait(min(left, 0.5))

    @staticmethod
    def tail_of(text: str, lines: int = 20) -> str:
        return "\n".join(text.replace("\r", "").splitlines()[-lines:])

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._thread.join(timeout=2)


def _safe_end(text: str, pos: int) -> int:
    """How far text[pos:] can be passed on without cutting an END marker or a CR LF."""
    limit = len(text)
    marker = END + " "
    for i in range(max(pos, limit - len(marker) - 12), limit):
        rest = text[i:]
        if marker.startswith(rest) or re.fullmatch(re.escape(marker) + r"\d*\r?", rest):
            return i
    if limit > pos and text[limit - 1] == "\r":
        return limit - 1
    return limit
