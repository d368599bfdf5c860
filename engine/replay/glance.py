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
The compiled build reads a plain block another way to the same answer (COMPILED: _scan_plain): each line matched
byte by byte in one C loop, its time from its digits and its process from its id's bytes where they lie. Half
the standard input so took 0.35 s where the regex and the maps took 1.7-2.0 s (their lookups of 100,000 ids
missed the processor's caches); tests/test_glance.py holds both ways to the same reading, in either build.

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

try:  # Cython's pure-Python mode: True only where this module is compiled (scripts/build_fast.py, glance.pxd)
    import cython  # type: ignore[import-untyped,import-not-found,unused-ignore]
except ImportError:  # no Cython installed: this is the pure build (a stand-in, so that `cython.compiled` reads
    from types import SimpleNamespace  # as Cython reads it: _line_end)
    cython = SimpleNamespace(compiled=False)  # type: ignore[assignment,unused-ignore]
COMPILED = cython.compiled

from journeyctl.engine.core.events import (EVENT_MAX_MS, EVENT_MIN_MS, MAX_ID_CHARS, BadEvent, Event,
                                           ascii_minute_start, is_utf8, parse_event, scan_event)
from journeyctl.engine.core.partition import partition_for, partition_of
from journeyctl.engine.replay.sources import blank_or_line

if not cython.compiled:  # (the compiled build leaves this out, and calls C's memchr instead: glance.pxd)
    def _line_end(data: bytes, p: int, size: int) -> int:
        """Where the line from byte p on ends: its \\n, else `size`. In the compiled build, memchr: a bytes.find
        cost 900 instructions a line, most of them reading its arguments (callgrind), and a loop over its bytes
        in C five instructions a byte."""
        end = data.find(b"\n", p, size)
        return size if end < 0 else end


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
# the control characters JSON escapes but the line ends (a find each costs a tenth of one pass of the regex engine
# for all of them). Tab too: JSON's white space between its tokens, but refused inside a text, where the ids the
# block is read for would take it in; a block holding one is read line by line.
_CONTROLS = [bytes([c]) for c in range(32) if c not in b"\n\r"]
# a minute as _LINE reads it, byte by byte: 0 a digit, T a T or t, else itself (_minute_shape)
_MINUTE_SHAPE = b"0000-00-00T00:00:"


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


def own_lines(share, owners: bytearray, k: int, batch: int) -> Iterator[list]:
    """Process k's lines of a share read again (a file's byte range), in lists of at most `batch`: (place,
    line, raw, None), picked by `owners` a block at a time, in C."""
    pick = bytes(int(o == k) for o in range(256))
    at = 0
    for block in share.blocks():
        if COMPILED:
            mine: list = []
            at = _own_in_block(block, owners, k, at, mine)
        else:
            lines = _lines_of(block)
            end = at + len(lines)
            mine = list(compress(zip(count(at), count(at + 1), lines, repeat(None)), owners[at:end].translate(pick)))
            at = end
        yield from batches(mine, batch)


def batches(rows: list, size: int) -> Iterator[list]:
    """`rows` in lists of at most `size`, in order."""
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _own_in_block(block: bytes, owners, k: int, at: int, mine: list) -> int:
    """The compiled build's way to a block's lines of process k (COMPILED): each line's end found by memchr
    (_line_end), and only k's lines cut out, where splitting the block made every line an object, and went a byte
    at a time too (the first 100,000 standard events at --jobs 2: 0.15 G instructions a process, a twentieth of
    its work; callgrind). The place after the block's last line."""
    data = block
    size = len(block)
    p = 0
    while p < size:
        end = _line_end(data, p, size)
        if owners[at] == k:
            q = end
            while q > p and data[q - 1] == 13:  # (a \r before the line end: _lines_of)
                q -= 1
            mine.append((at, at + 1, block[p:q], None))
        at += 1
        p = end + 1
    return at


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
    no control character JSON would have escaped (a line holding one is no JSON: a parse says so at once), nor a
    tab (_CONTROLS), nor a CR but before a line end (a raw CR inside an identify call's userId made the quick
    reading take for an event a line a parse refuses, where the reading line by line parses such a call)."""
    return (block.find(b"\\") < 0 and block.find(b"\x7f") < 0 and not any(map(block.__contains__, _CONTROLS))
            and (block.find(b"\r") < 0 or block.count(b"\r") == block.count(b"\r\n"))
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
    if COMPILED:
        times, owners, odd = _scanned(block, jobs, starts)
    else:
        read = _read_by_regex(block, jobs, known, starts)
        if read is None:  # (a match ran on past a line end)
            return _read_lines(block, at, jobs, known, starts, found)
        times, owners, odd = read
    count_ = len(times)
    lines = _lines_of(block) if odd else None
    last = count_ - 1
    blank = set()
    for i in odd:
        line = blank_or_line(lines[i])
        if line is None:
            blank.add(i)
        times[i], owners[i] = _one(line, None, at + i, at + i + 1, jobs, known, found)
    while last in blank:
        last -= 1
    if last >= 0:
        found.last_line = at + last + 1
    found.times.extend(times)
    found.owners.extend(owners)
    return at + count_


def _read_by_regex(block: bytes, jobs: int, known: dict, starts: dict) -> tuple | None:
    """The pure build's way through a plain block: one pass of the regex engine, then maps in C over its
    columns. The times and processes of its lines, and which it left to be read one by one (another shape,
    blank, no such minute, an id too long); None when a match ran on past a line end."""
    rows = _LINE.findall(block)
    if block.endswith(b"\n"):
        rows.pop()  # (the empty match after the last line end)
    if len(rows) != block.count(b"\n") + (not block.endswith(b"\n")):
        return None
    cids, minutes, seconds, _ = zip(*rows)
    for minute in _unknown(minutes, starts, NO_TIME):
        starts[minute] = _minute(minute)
    for cid in _unknown(cids, known, BAD):
        known[cid] = partition_for(cid, jobs)
    times = array("q", map(add, map(starts.__getitem__, minutes), map(_ms_in_minute().__getitem__, seconds)))
    owners = bytearray(map(known.__getitem__, cids))
    odd = list(compress(count(), map(gt, repeat(EVENT_MIN_MS), times)))  # another shape, blank, no such minute
    if max(map(len, cids)) > MAX_ID_CHARS:  # (scan_event leaves such a line to a parse)
        odd = sorted({*odd, *(i for i, cid in enumerate(cids) if len(cid) > MAX_ID_CHARS)})
    return times, owners, odd


def _scanned(block: bytes, jobs: int, starts: dict) -> tuple[array, bytearray, list]:
    """The compiled build's way through a plain block: _scan_plain's times, processes and lines left to be read
    one by one. Its columns start with room for a line every 128 bytes and double as it fills them, where
    counting the block's line ends first (bytes.count, a byte at a time) took a third of the time."""
    room = len(block) // 128 + 1
    times, owners, odd = array("q", bytes(8 * room)), bytearray(room), []
    p = line = 0
    while p <= len(block):
        p, line = _scan_plain(block, p, line, jobs, starts, times, owners, odd)
        if line == len(times) and p <= len(block):
            times.extend(array("q", bytes(8 * len(times))))
            owners.extend(bytes(len(owners)))
    del times[line:]
    del owners[line:]
    return times, owners, odd


def _scan_plain(block: bytes, p: int, line: int, jobs: int, starts: dict, times, owners,
                odd: list) -> tuple[int, int]:
    """A plain block's lines from byte p on (line `line` of it) matched against _LINE's usual shapes byte by
    byte in one C loop, each line's time read from its digits (the last minute kept) and its process computed
    from its id's bytes where they lie, into `times` and `owners` (one place a line), until they are full; the
    places of the lines left to be read one by one go to `odd`, as _read_by_regex leaves them (a line the regex
    would run on past its end among them). Where the regex and the maps after it took 3 µs a line in the
    compiled build, this takes a sixth of that (0.5 µs: glance.pxd); in Python it is the slower way, and runs only in
    the tests (tests/test_glance.py). The next byte and line, the byte past the block's end when it is read."""
    data = block
    size = len(block)
    room = len(times)
    no_time, bad, longest, known_max = NO_TIME, BAD, MAX_ID_CHARS, KNOWN  # (as C numbers: glance.pxd)
    jobs_ = jobs
    minute = b""  # the last minute read, and its start
    start = no_time
    while line < room:  # (a line at p, also when the block is empty or p is past its last line end)
        end = _line_end(data, p, size)
        t = no_time
        q = end - 1 if end > p and data[end - 1] == 13 else end  # (a \r before the line end)
        c = i = _usual_prefix(data, p, q)
        if i >= 0:  # the customer id, from i to the next quote; then the time
            while c < q and data[c] != 34:  # (")
                c += 1
            if i < c < q and c - i <= longest:
                at = _expect(data, c + 1, q, b",")
                at = _expect(data, _space(data, at, q), q, b'"timestamp":')
                at = _expect(data, _space(data, at, q), q, b'"')
                # "YYYY-MM-DDTHH:MM:SS.mmmZ", its closing quote, and a } that ends the line after it
                if 0 <= at and at + 25 < q and data[at + 24] == 34 and data[q - 1] == 125:
                    ms = _second_ms(data, at + 17)
                    if ms >= 0 and _minute_shape(data, at):
                        if not _same(data, at, minute):
                            minute = block[at:at + 17]
                            start = starts.get(minute, bad)
                            if start == bad:
                                if len(starts) > known_max:
                                    starts.clear()
                                    starts[b""] = no_time
                                start = starts[minute] = _minute(minute)
                        if start != no_time:
                            owners[line] = partition_of(block, i, c, jobs_)
                            t = start + ms
        if t == no_time:
            odd.append(line)
        times[line] = t
        line += 1
        p = end + 1
        if p >= size:
            return size + 1, line
    return p, line


def _usual_prefix(data: bytes, p: int, q: int) -> int:
    """Where the customer id starts in a line data[p:q] that opens as _LINE's usual shapes do, up to the id's
    opening quote (`{"event": "NAME", "customer_id": "` or an identify call's `{"type": "identify", "userId": "`,
    a space after each colon and comma or none); -1 when it does not."""
    if p >= q or data[p] != 123:  # ({)
        return -1
    i = _expect(data, p + 1, q, b'"event":')
    if i >= 0:
        i = _expect(data, _space(data, i, q), q, b'"')
        name = i
        while 0 <= i < q and data[i] != 34:
            i += 1
        if i < 0 or i == name or i >= q:
            return -1
        i = _expect(data, _space(data, _expect(data, i + 1, q, b","), q), q, b'"customer_id"')
    else:
        i = _expect(data, p + 1, q, b'"type":')
        i = _expect(data, _space(data, i, q), q, b'"identify",')
        i = _expect(data, _space(data, i, q), q, b'"userId"')
    i = _expect(data, i, q, b":")
    return _expect(data, _space(data, i, q), q, b'"')


def _expect(data: bytes, i: int, q: int, text: bytes) -> int:
    """Where data[i:q] goes on after `text`, when it starts with it; else -1 (also when i is)."""
    n = len(text)
    if i < 0 or i + n > q:
        return -1
    want = text
    for j in range(n):
        if data[i + j] != want[j]:
            return -1
    return i + n


def _space(data: bytes, i: int, q: int) -> int:
    """Past one space at i, as `: ?` and `, ?` allow."""
    return i + 1 if 0 <= i < q and data[i] == 32 else i


def _digit(data: bytes, i: int) -> int:
    d = data[i] - 48
    return d if 0 <= d <= 9 else -100_000


def _second_ms(data: bytes, i: int) -> int:
    """`SS.mmmZ` at i (second 00-59): the milliseconds into the minute; else a number below 0."""
    z = data[i + 6]
    if data[i + 2] != 46 or z != 90 and z != 122 or data[i] > 53:  # (".", Z or z, and a second's tens up to 5)
        return -1
    return (_digit(data, i) * 10 + _digit(data, i + 1)) * 1000 + (
        _digit(data, i + 3) * 100 + _digit(data, i + 4) * 10 + _digit(data, i + 5))


def _minute_shape(data: bytes, i: int) -> bool:
    """`YYYY-MM-DDTHH:MM:` at i, as _LINE reads a minute (its day and time of day checked by _minute)."""
    shape = _MINUTE_SHAPE
    for j in range(17):
        d = data[i + j]
        want = shape[j]
        if want == 48:
            if d < 48 or d > 57:
                return False
        elif want == 84:
            if d != 84 and d != 116:
                return False
        elif d != want:
            return False
    return True


def _same(data: bytes, i: int, minute: bytes) -> bool:
    """Whether data holds `minute` at i (the last one read: a minute holds many lines in a row)."""
    if len(minute) != 17:
        return False
    m = minute
    for j in range(17):
        if data[i + j] != m[j]:
            return False
    return True


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
