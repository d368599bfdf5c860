"""Who reads which lines of the input in `simulate --jobs N` (engine/replay/parallel.py).

A file of JSON lines is cut into N byte ranges at line ends: process k reads the k-th at a glance, and every
process reads each range again, only to split it into lines and pick its own (`again`: a share that costs
little to read twice, read in blocks of whole lines: `blocks()`). Any other input (CSV, whose quoted cells may
hold a line end; a gzip file, which simulate decompresses to a file first when it holds JSON lines; a --sort
input, read whole to be ordered) is read by the first process, which hands the others their lines.

A share is a callable the process calls to read it; what it gives is iterable as sources.jsonl_lines is,
`(line, raw, item)` with lines numbered from 1 within the share, and says after the reading how many lines
it held (`.lines`, blank ones counted), so that the next share's numbers follow on. (A whole input read by
the first process stops counting at its last item: no share follows it. A byte range read `blocks()` at a
time is counted by its reader, replay/glance.py.)
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from functools import partial

from journeyctl.engine.replay.sources import jsonl_lines

CHUNK = 1 << 22  # bytes read at a time


def input_shares(path: str, count: int, read: Callable[[], Iterable], *, lines: bool) -> list[Callable[[], Iterable]]:
    """`count` shares of the input: byte ranges when it is a file of JSON `lines` as they lie (not sorted
    first) that is neither compressed nor a pipe, else all of it for the first process through `read()`."""
    if lines and not path.lower().endswith(".gz") and os.path.isfile(path):
        return file_shares(path, count)
    return first_reads_all(read, count)


def file_shares(path: str, count: int) -> list[Callable[[], "RangeLines"]]:
    """`count` shares of a file of JSON lines, in file order, each starting on a line of its own."""
    return [partial(RangeLines, path, lo, hi) for lo, hi in byte_ranges(path, count)]


def first_reads_all(read: Callable[[], Iterable], count: int) -> list[Callable[[], "Lines"]]:
    """The whole input read by the first process; the others read nothing."""
    return [partial(Lines, read)] + [partial(Lines, tuple)] * (count - 1)


def byte_ranges(path: str, count: int) -> list[tuple[int, int]]:
    """[lo, hi) of each share: cut near size*k/count, just after the next line end (a share may be empty
    when one line spans several cuts)."""
    size = os.path.getsize(path)
    cuts = [0]
    with open(path, "rb") as f:
        for k in range(1, count):
            at = max(size * k // count, cuts[-1])
            cuts.append(_after_line_end(f, at, size) if at > 0 else 0)
    cuts.append(size)
    return list(zip(cuts, cuts[1:]))


def _after_line_end(f, at: int, size: int) -> int:
    """The offset just after the first line end at or after at - 1 (at itself when a line starts there)."""
    f.seek(at - 1)
    while True:
        block = f.read(1 << 16)
        if not block:
            return size
        end = block.find(b"\n")
        if end >= 0:
            return f.tell() - len(block) + end + 1
        # (a long line: read on)


class Lines:
    """A share's items as its reader gives them, counting the lines (its last line number: a reader skips
    blank lines but numbers them, and lines past the last item are blank and number nothing after them)."""

    again = False

    def __init__(self, read: Callable[[], Iterable]):
        self._read = read
        self.lines = 0

    def __iter__(self) -> Iterator:
        for item in self._read():
            self.lines = item[0]
            yield item


class RangeLines:
    """The JSON lines of bytes [lo, hi) of a file, read in large blocks, counted as they are read."""

    again = True

    def __init__(self, path: str, lo: int, hi: int):
        self._where = (path, lo, hi)
        self.lines = 0

    def __iter__(self) -> Iterator:
        return jsonl_lines(self._counted())

    def blocks(self) -> Iterator[bytes]:
        """The range in blocks of whole lines with their ends (the last may have none), for a reader that
        takes many lines at once and counts them itself (replay/glance.py: `.lines` is not kept here)."""
        return _blocks_between(*self._where)

    def _counted(self) -> Iterator[bytes]:
        for self.lines, line in enumerate(_lines_between(*self._where), 1):
            yield line


def _lines_between(path: str, lo: int, hi: int) -> Iterator[bytes]:
    """The lines of [lo, hi), without their ends, as iterating the file would give them (a last line
    without an end is still a line)."""
    for block in _blocks_between(path, lo, hi):
        lines = block.split(b"\n")
        if block.endswith(b"\n"):
            lines.pop()
        yield from lines


def _blocks_between(path: str, lo: int, hi: int) -> Iterator[bytes]:
    """[lo, hi) a CHUNK or so at a time, each block ending just after a line end but the last (a line longer
    than a CHUNK makes a longer block); none is empty."""
    with open(path, "rb") as f:
        f.seek(lo)
        left = hi - lo
        held: list[bytes] = []  # the start of a line that goes on in the next block
        while left > 0:
            block = f.read(min(CHUNK, left))
            if not block:
                break
            left -= len(block)
            end = block.rfind(b"\n") + 1
            if end == 0:
                held.append(block)
                continue
            whole = block if end == len(block) else block[:end]
            if held:
                held.append(whole)
                whole = b"".join(held)
                held = []
            yield whole
            if end < len(block):
                held.append(block[end:])
        rest = b"".join(held)
        if rest:
            yield rest
