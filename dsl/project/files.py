"""Reading a project's files (journeys, config, catalog, journey tests) without ever blocking.

A path in a project folder can be anything: opening a FIFO for reading waits
for a writer forever, and a device never ends. So a file is opened without
blocking and checked with fstat on the open descriptor (no gap between the
check and the read for the path to change in), and only a regular file is read,
never more than `limit` bytes.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MAX_BYTES = 1024 * 1024  # a journey, a config, a catalog or a test file is far smaller than this


class NotRegularFile(OSError):
    """The path is a FIFO, a device, a socket or a folder: nothing a project file can be."""

    def __init__(self, path):
        super().__init__(errno.EINVAL, "it is not a regular file", str(path))


class TooLarge(OSError):
    """The file is over the limit; size is what fstat said (or limit + 1 when it grew while read)."""

    def __init__(self, path, size: int, limit: int):
        super().__init__(errno.EFBIG, f"it is over the {limit / (1024 * 1024):g} MB limit", str(path))
        self.size = size


def read_regular(path: str | Path, limit: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; NotRegularFile, TooLarge or OSError otherwise."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(path)
        if info.st_size > limit:
            raise TooLarge(path, info.st_size, limit)
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, limit + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:  # it grew after fstat
        raise TooLarge(path, len(data), limit)
    return data


def read_text(path: str | Path, limit: int = MAX_BYTES) -> str:
    """A small UTF-8 file's text: read_regular's errors, or UnicodeDecodeError."""
    return read_regular(path, limit).decode("utf-8")


def why_unreadable(e: OSError) -> str:
    """An OSError in plain lower-case words, without the path (the diagnostic already names it)."""
    return (e.strerror or str(e)).lower()


def size_text(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"
