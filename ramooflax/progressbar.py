"""A progress bar for long transfers: tqdm when installed, else a plain one on stderr."""

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

Progress = Callable[[int], None]  # called with the bytes done since the last call


class Bar:
    """`with Bar(total, "dump") as advance: advance(n)`; draws at most 10 times a second."""

    def __init__(self, total: int, label: str = "", stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.done = 0
        self._last = 0.0
        self._start = time.monotonic()
        self._tqdm: Any = None

    def __enter__(self) -> Progress:
        try:
            from tqdm import tqdm  # type: ignore[import-untyped]

            self._tqdm = tqdm(
                total=self.total, desc=self.label, unit="B", unit_scale=True, file=self.stream
            )
        except ImportError:
            self._tqdm = None
        return self.advance

    def advance(self, n: int) -> None:
        self.done += n
        if self._tqdm is not None:
            self._tqdm.update(n)
            return
        now = time.monotonic()
        if now - self._last >= 0.1 or self.done >= self.total:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        frac = min(self.done / self.total, 1.0)
        width = 30
        fill = int(frac * width)
        rate = self.done / max(now - self._start, 1e-6) / 1024
        self.stream.write(
            f"\r{self.label} [{'#' * fill}{'.' * (width - fill)}] "
            f"{frac * 100:5.1f}% {self.done}/{self.total} B {rate:.0f} KiB/s"
        )
        self.stream.flush()

    def __exit__(self, *exc: object) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
        else:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()
