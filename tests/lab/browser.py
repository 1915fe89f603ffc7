"""Opening the pictures as a person would: Debian's Chromium, headless, on the
file itself (no server, the network closed), for its DOM and a screenshot; and
a check that a screenshot is a real PNG with something drawn in it."""

import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian's chromium is needed to open the pictures (tools/install-deps.sh)")
    return path


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="rfx-chromium-") as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def dump_dom(page: Path) -> str:
    """The DOM Chromium builds from the file, serialised."""
    done = _run(["--dump-dom", page.resolve().as_uri()])
    assert done.returncode == 0 and "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


def screenshot(page: Path, out: Path, width: int = 1280, height: int = 1000) -> Path:
    done = _run([f"--screenshot={out}", f"--window-size={width},{height}", page.resolve().as_uri()])
    assert done.returncode == 0 and out.exists(), done.stderr[-2000:]
    return out


@dataclass
class Png:
    width: int
    height: int
    compressed: int  # bytes of image data, compressed
    distinct_rows: int  # distinct scanlines (filtered): a blank page has a handful


def read_png(path: Path) -> Png:
    """Parse a PNG (PNG spec, ISO/IEC 15948: signature, IHDR, IDAT, IEND): the
    checksums, the size, and how varied its scanlines are."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    pos, idat, ihdr, end = 8, b"", b"", False
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in chunk {kind!r}"
        if kind == b"IHDR":
            ihdr = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            end = True
        pos += 12 + n
    assert ihdr and idat and end, "a PNG needs IHDR, IDAT and IEND"
    width, height, depth, color = struct.unpack(">IIBB", ihdr[:10])
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    stride = 1 + width * channels * depth // 8
    raw = zlib.decompress(idat)
    assert len(raw) == stride * height, "the image data does not match IHDR"
    rows = {raw[i : i + stride] for i in range(0, len(raw), stride)}
    return Png(width, height, len(idat), len(rows))


def assert_drawn(png: Path, width: int, height: int) -> Png:
    """A real PNG of the window's size with real content in it."""
    info = read_png(png)
    assert (info.width, info.height) == (width, height), info
    assert info.compressed > 20_000 and info.distinct_rows > height // 4, info
    return info
