"""What a `simulate --jobs` process finds in its share of the input at a glance: each line's time and
process, without decoding it, and then its own lines of every share (engine/replay/parallel.py says why).

A file's byte range (replay/shares.py: RangeLines) is read a block of whole lines at a time. Where a block
holds none of what could make a line's ids unreadable without decoding it (a backslash, DEL, text that is not
UTF-8, a C1 character, a line too long to be an event: events.scan_event's conditions, true of every line when
true of the block; nor a control character JSON escapes), one pass of the regex engine over the block finds the
customer and time of every line of the usual shape (events._IN_ORDER, or an identify call; ending in `}`), and
the times and processes of the whole block are computed in C, by maps over its columns. Lines of another shape,
and every line of a block that is not so plain, are read one by one as before: events.scan_event, else a parse.
Reading the first 100,000 lines of the standard input so took a third fewer instructions than line by line
(callgrind: 2.6 G against 3.9 G; wall times on this machine move by more than that from one run to the next).

A block's lines are numbered as they lie, blank ones included (a blank line has no time and no process), so a
line's place in its share is its line number less one, in the first process's reading and in every other's.
"""
from __future__ import annotations

import re
from array import array
from dataclasses import dataclass
from functools import cache
from itertools import compress, count, repeat
from operator import add, gt
from typing import Iterator

from journeyctl.engine.core.events import (EVENT_MAX_MS, EVENT_MIN_MS, MAX_ID_CHARS, BadEvent, Event,
                                           ascii_minute_start, is_utf8, parse_event, scan_event)
from journeyctl.engine.core.partition import partition_for
from journeyctl.engine.replay.sources import blank_or_line

NO_TIME = -(1 << 63)  # the time of a bad or blank line, which moves no clock; the clock before any was set
BAD = 255             # the process of a bad or blank line (a process is a byte: --jobs is at most 255)
MAX_LINE = 1_000_000  # bytes: a longer line is no event (events.parse_event's max_bytes)
KNOWN = 1_000_000     # customers whose process is remembered (murmur2 in Python costs more than a lookup),
#                       and minutes whose start is

# events._IN_ORDER for every line of a block, or an identify call as Segment's libraries write it (its customer the
# userId, as events.event_from_object reads it when no customer_id comes later; the process that applies the line
# finds out otherwise, or that the line is no event after all, say its traits are no object: module doc of
# parallel.py); the line ending in `}` (scan_event: a line cut short is not read; a CRLF line end is the reader's,
# sources.blank_or_line); the second and millisecond as one group; or any other line, whole. `[^"]` and `.` are
# single steps of the regex engine where a set such as `[^"\n]` is a call a character: a `[^"]` may then run on
# past a line end, which _read_plain sees as fewer matches than lines.
_LINE = re.compile(rb'^(?:\{(?:"event": ?"[^"]+", ?"customer_id"|"type": ?"identify", ?"userId"): ?"([^"]+)", ?'
                   rb'"timestamp": ?"([0-9]{4}-[0-9][0-9]-[0-9][0-9][Tt][0-9][0-9]:[0-9][0-9]:)'
                   rb'([0-5][0-9]\.[0-9]{3})[Zz]".*\}\r?$|(.*)$)', re.M)
# the control characters JSON escapes but tab and the line ends, its own white space (a find each costs a
# tenth of one pass of the regex engine for all of them)
_CONTROLS = [bytes([c]) for c in range(32) if c not in b"\t\n\r"]


@dataclass
class Found:
    """What a process found in its share of the input."""
    lines: int         # the lines it held, blank ones counted (the next share's line numbers follow on)
    last_line: int     # the number of its last line that is not blank (0: none)
    times: array       # each line's time (NO_TIME: bad or blank), by its place in the share
    owners: bytearray  # each line's process (BAD: bad or blank)
    to: list | None    # for each process, its lines (place, line, raw, item), when they cannot be read again
    bad: list          # (place, line, raw, BadEvent): this process sets them aside


def read_share(share, jobs: int) -> Found:
    """Each line's time and process. A share that cannot be read again (`again`: anything but a file's byte
    range) is read line by line, and its lines are kept for the processes they go to."""
    found = Found(0, 0, array("q"), bytearray(), None if share.again else [[] for _ in range(jobs)], [])
    if share.again:
        _read_blocks(share, jobs, found)
    else:
        _read_items(share, jobs, found)
    found.lines = len(found.times) if share.again else share.lines
    return found


def own_lines(share, owners: bytearray, k: int) -> Iterator[tuple]:
    """Process k's lines of a share read again (a file's byte range): (place, line, raw, None), picked by
    `owners` a block at a time, in C."""
    pick = bytes(int(o == k) for o in range(256))
    at = 0
    for block in share.blocks():
        lines = _lines_of(block)
        end = at + len(lines)
        yield from compress(zip(count(at), count(at + 1), lines, repeat(None)), owners[at:end].translate(pick))
        at = end


def _lines_of(block: bytes) -> list[bytes]:
    """A block's lines as a reader gives them (sources.blank_or_line: without their line end, `\\r` too)."""
    lines = block.split(b"\n")
    if block.endswith(b"\n"):
        lines.pop()
    if b"\r" in block:
        lines = [line.rstrip(b"\r\n") for line in lines]
    return lines


def _read_blocks(share, jobs: int, found: Found) -> None:
    known: dict = {b"": BAD}
    starts: dict = {b"": NO_TIME}
    at = 0
    for block in share.blocks():
        at = (_read_plain if _plain(block) else _read_lines)(block, at, jobs, known, starts, found)


def _plain(block: bytes) -> bool:
    """Whether every line of the block passes events.scan_event's own checks but the shape: no backslash, no
    DEL, UTF-8 without a C1 character (0xC2 leads each), and no line longer than an event may be; and holds
    no control character JSON would have escaped (a line holding one is no JSON: a parse says so at once)."""
    return (block.find(b"\\") < 0 and block.find(b"\x7f") < 0 and not any(map(block.__contains__, _CONTROLS))
            and (block.isascii() or block.find(b"\xc2") < 0 and is_utf8(block)) and _short_lines(block))


def _short_lines(block: bytes) -> bool:
    """Whether no line is longer than MAX_LINE: a few steps a block (each to the last line end within
    MAX_LINE + 1 bytes on), where measuring every line costs a split."""
    at, size = 0, len(block)
    while size - at > MAX_LINE:
        end = block.rfind(b"\n", at, at + MAX_LINE + 1)
        if end < 0:
            return False
        at = end + 1
    return True


def _read_plain(block: bytes, at: int, jobs: int, known: dict, starts: dict, found: Found) -> int:
    """A plain block's lines from `at` on (their places), read as its module doc says; the next place."""
    rows = _LINE.findall(block)
    if block.endswith(b"\n"):
        rows.pop()  # (the empty match after the last line end)
    if len(rows) != block.count(b"\n") + (not block.endswith(b"\n")):  # (a match ran on past a line end)
        return _read_lines(block, at, jobs, known, starts, found)
    cids, minutes, seconds, others = zip(*rows)
    for minute in _unknown(minutes, starts, NO_TIME):
        starts[minute] = _minute(minute)
    for cid in _unknown(cids, known, BAD):
        known[cid] = partition_for(cid, jobs)
    times = array("q", map(add, map(starts.__getitem__, minutes), map(_ms_in_minute().__getitem__, seconds)))
    owners = bytearray(map(known.__getitem__, cids))
    odd = list(compress(count(), map(gt, repeat(EVENT_MIN_MS), times)))  # another shape, blank, no such minute
    if max(map(len, cids)) > MAX_ID_CHARS:  # (scan_event leaves such a line to a parse)
        odd = sorted({*odd, *(i for i, cid in enumerate(cids) if len(cid) > MAX_ID_CHARS)})
    lines = None
    last = len(rows) - 1
    blank = set()
    for i in odd:
        if cids[i] and lines is None:
            lines = _lines_of(block)
        line = blank_or_line(others[i]) if not cids[i] else lines[i]
        if line is None:
            blank.add(i)
        times[i], owners[i] = _one(line, None, at + i, at + i + 1, jobs, known, found)
    while last in blank:
        last -= 1
    if last >= 0:
        found.last_line = at + last + 1
    found.times.extend(times)
    found.owners.extend(owners)
    return at + len(rows)


def _unknown(values: tuple, table: dict, none) -> set:
    """The values `table` does not hold yet; at KNOWN entries it forgets all it held but b"" (`none`: a line
    of another shape, or blank), so that its memory stays bounded."""
    new = set(values).difference(table)
    if len(table) + len(new) > KNOWN:
        table.clear()
        table[b""] = none
        new = set(values).difference(table)
    return new


def _read_lines(block: bytes, at: int, jobs: int, known: dict, starts: dict, found: Found) -> int:
    """A block that is not plain, line by line."""
    for i, line in enumerate(_lines_of(block)):
        line = blank_or_line(line)
        t, owner = _one(line, None, at + i, at + i + 1, jobs, known, found)
        found.times.append(t)
        found.owners.append(owner)
        if line is not None:
            found.last_line = at + i + 1
    return at + i + 1


def _read_items(share, jobs: int, found: Found) -> None:
    """A share that comes as items (line, raw, item), blank lines left out: each line's place is its item's."""
    known: dict = {}
    times, owners, to = found.times, found.owners, found.to
    for at, (line, raw, item) in enumerate(share):
        t, owner = _one(raw, item, at, line, jobs, known, found)
        times.append(t)
        owners.append(owner)
        if owner != BAD:
            to[owner].append((at, line, raw, item))
        found.last_line = line


def _one(raw: bytes | None, item, at: int, line: int, jobs: int, known: dict, found: Found) -> tuple[int, int]:
    """One line's time and process, from its bytes at a glance (events.scan_event) when it can, else from the
    event itself (parsed here when it was not); a bad line is kept in `found` to be set aside; a blank line
    (None) is neither."""
    if raw is None:
        return NO_TIME, BAD
    quick = scan_event(raw) if item is None else None
    if quick is None:
        if item is None:
            item = parsed(raw)
        if not isinstance(item, Event):
            found.bad.append((at, line, raw, item))
            return NO_TIME, BAD
        cid, t = item.customer_id.encode("utf-8", "surrogatepass"), item.time
    else:
        cid, t = quick
    owner = known.get(cid)
    if owner is None:
        if len(known) > KNOWN:
            known.clear()
            known[b""] = BAD
        owner = known[cid] = partition_for(cid, jobs)
    return t, owner


def _minute(minute: bytes) -> int:
    """The start of a minute (events.ascii_minute_start) when every instant of it is an event's time; else
    NO_TIME, so that its lines' times fall below EVENT_MIN_MS and are read one by one."""
    if not minute:
        return NO_TIME
    start = ascii_minute_start(minute)
    return start if start is not None and EVENT_MIN_MS <= start and start + 59_999 <= EVENT_MAX_MS else NO_TIME


@cache
def _ms_in_minute() -> dict[bytes, int]:
    """"ss.mmm" -> its milliseconds in the minute (one lookup for two int() calls), built on first use."""
    table = {b"%02d.%03d" % (s, ms): s * 1000 + ms for s in range(60) for ms in range(1000)}
    table[b""] = 0
    return table


def parsed(raw: bytes) -> Event | BadEvent:
    try:
        return parse_event(raw)
    except BadEvent as e:
        return e
