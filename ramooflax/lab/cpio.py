"""A newc ("070701") cpio writer, enough for an initramfs.

Writing the archive ourselves lets it hold device nodes (/dev/console) and
root-owned files without mknod or root on the host, and makes it reproducible
(fixed mtimes and inode numbers).
"""

import gzip
import stat
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    name: str  # path inside the archive, without a leading /
    mode: int  # full st_mode: type bits | permissions
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)  # (major, minor) for device nodes


def directory(name: str) -> Entry:
    return Entry(name, stat.S_IFDIR | 0o755)


def file(name: str, data: bytes, perm: int = 0o644) -> Entry:
    return Entry(name, stat.S_IFREG | perm, data)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, stat.S_IFLNK | 0o777, target.encode())


def chardev(name: str, major: int, minor: int, perm: int = 0o600) -> Entry:
    return Entry(name, stat.S_IFCHR | perm, rdev=(major, minor))


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _record(ino: int, entry: Entry) -> bytes:
    name = entry.name.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(entry.mode) else 1
    fields = (
        ino, entry.mode, 0, 0, nlink, 0, len(entry.data),
        0, 0, entry.rdev[0], entry.rdev[1], len(name), 0,
    )  # fmt: skip
    header = b"070701" + b"".join(b"%08X" % f for f in fields)
    return _pad4(header + name) + _pad4(entry.data)


def archive(entries: list[Entry]) -> bytes:
    """The uncompressed newc archive of entries (parents must come first)."""
    out = [_record(ino, e) for ino, e in enumerate(entries, start=1)]
    out.append(_record(0, Entry("TRAILER!!!", 0)))
    return b"".join(out)


def gzipped(entries: list[Entry]) -> bytes:
    """archive() compressed with gzip (mtime 0: the bytes depend on the input only)."""
    return gzip.compress(archive(entries), compresslevel=6, mtime=0)
