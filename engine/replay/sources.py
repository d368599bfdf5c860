"""Reading event files: the I/O edge in front of `engine.events`.

Every reader yields `(line_number, raw, Event | BadEvent)` and never raises for a bad
record, so one malformed line goes to the dead-letter output with its line number
instead of stopping a million-event replay. Problems with the options themselves
(an unknown column, a bad --map) raise ValueError before any record is read.
"""
from __future__ import annotations

import csv
import errno
import gzip
import io
import math
import re
import shutil
import sys
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

from journeyctl.engine.core.events import BadEvent, Event, event_from_object, parse_event

Item = tuple[int, bytes, "Event | BadEvent"]
Unparsed = tuple[int, bytes, None]  # a JSON line read but not parsed (read_events(parse=False))

# Our fields a CSV column can fill; each defaults to the column of the same name.
CSV_FIELDS = ("event", "customer_id", "timestamp", "message_id")
TIME_UNITS = {"s": 1000, "ms": 1}
# A cell that would be a JSON number becomes one; "00123" stays text (zip codes, ids).
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?", re.ASCII)


def read_jsonl(stream: Iterable[bytes], *, max_bytes: int = 1_000_000) -> Iterator[Item]:
    """One JSON object per line; blank lines are skipped but still counted, so line
    numbers match what an editor shows."""
    # (jsonl_lines' reading written out here: one generator less between the file and the engine)
    for number, line in enumerate(stream, 1):
        raw = blank_or_line(line)
        if raw is None:
            continue
        try:
            yield number, raw, parse_event(raw, max_bytes=max_bytes)
        except BadEvent as bad:
            yield number, raw, bad


def jsonl_lines(stream: Iterable[bytes]) -> Iterator[Unparsed]:
    """The lines read_jsonl parses, numbered as it numbers them, not parsed: for a reader that parses only
    some (`simulate --jobs`, engine/replay/parallel.py)."""
    for number, line in enumerate(stream, 1):
        raw = blank_or_line(line)
        if raw is not None:
            yield number, raw, None


def blank_or_line(line: bytes | str) -> bytes | None:
    """A line read as bytes without its end, or None for a blank one."""
    if isinstance(line, str):
        line = line.encode("utf-8", "surrogatepass")
    raw = line.rstrip(b"\r\n")
    return None if not raw or raw.isspace() else raw


def _number(text: str):
    """A cell's number as JSON readers give it: a whole number in 64 bits as an int, else a float, and
    text when not even a float holds it (`1e400`, a thousand digits): never infinity, never a failure."""
    if not _NUMBER.fullmatch(text):
        return text
    if "." not in text and "e" not in text and "E" not in text and len(text) <= 20:
        value = int(text)
        if -2**63 <= value < 2**64:
            return value
    value = float(text)
    return value if math.isfinite(value) else text


def _time_cell(text: str, scale: int):
    """Numeric time cells are epoch seconds or ms per time_unit; anything else is RFC 3339 text."""
    value = _number(text)
    if isinstance(value, str) or scale == 1:
        return value
    return value * scale if isinstance(value, int) else round(value * scale)


def read_csv(stream, mapping: dict[str, str] | None = None, columns: list[str] | None = None,
             time_unit: str = "ms", *, event_values: dict[str, str] | None = None,
             max_bytes: int = 1_000_000) -> Iterator[Item]:
    """CSV rows as events. The first row is the header unless `columns` names them.

    mapping: our field (CSV_FIELDS) -> column; unmapped fields use the column of their own
      name if there is one. Every other column becomes a property.
    event_values: raw value of the event column -> event name (pv -> product_viewed);
      values not listed pass through unchanged.
    A row with a different number of cells than the header is `invalid_json`, the
    reason for "cannot be decoded", with the counts in the detail. Options are checked
    at the call; columns named by `mapping` are checked against the header when it is read.
    """
    if time_unit not in TIME_UNITS:
        raise ValueError(f"time unit {time_unit!r} is not one of: {', '.join(TIME_UNITS)}")
    return _csv_items(stream, _check_fields(mapping or {}), columns, TIME_UNITS[time_unit],
                      event_values or {}, max_bytes)


def _csv_items(stream, mapping, columns, scale, event_values, max_bytes) -> Iterator[Item]:
    text = _as_text(stream)
    try:
        yield from _csv_rows(text, mapping, columns, scale, event_values, max_bytes)
    finally:
        if text is not stream:
            text.detach()  # leave the caller's stream (maybe stdin) open


def _csv_rows(text, mapping, columns, scale, event_values, max_bytes) -> Iterator[Item]:
    lines = _LineTap(iter(text))
    reader = csv.reader(lines)
    header = list(columns) if columns else next(reader, None)
    if header is None:
        return
    if not columns:
        lines.take()
    for field, column in mapping.items():
        if column not in header:
            raise ValueError(f"column {column!r} (for {field}) is not in the file; the columns are: "
                             + ", ".join(header))
    source = {f: mapping.get(f, f) for f in CSV_FIELDS if mapping.get(f, f) in header}
    envelope = {header.index(c): f for f, c in source.items()}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:  # a cell past the field limit, a broken quote: that row, never the file
            number, raw = lines.take()
            big = "larger than field limit" in str(e)
            yield number, raw, BadEvent("too_large" if big else "invalid_json",
                                        f"a cell is longer than {csv.field_size_limit():,} characters" if big
                                        else f"not a readable CSV row: {e}")
            continue
        number, raw = lines.take()
        if not row:
            continue
        try:
            if len(raw) > max_bytes:
                raise BadEvent("too_large", f"{len(raw)} bytes, more than the limit of {max_bytes}")
            if len(row) != len(header):
                raise BadEvent("invalid_json", f"row has {len(row)} cells, the header has {len(header)}")
            obj, props = {}, {}
            for i, cell in enumerate(row):
                field = envelope.get(i)
                if field is None:
                    props[header[i]] = _number(cell) if cell else None
                elif cell:
                    obj[field] = _time_cell(cell, scale) if field == "timestamp" else cell
            if "event" in obj:
                obj["event"] = event_values.get(obj["event"], obj["event"])
            obj["properties"] = props
            yield number, raw, event_from_object(obj, len(raw))
        except BadEvent as bad:
            yield number, raw, bad


def _check_fields(mapping: dict[str, str]) -> dict[str, str]:
    unknown = [k for k in mapping if k not in CSV_FIELDS]
    if unknown:
        raise ValueError(f"cannot map {', '.join(map(repr, unknown))}; the fields are: {', '.join(CSV_FIELDS)}")
    return mapping


def _as_text(stream):
    """A text view of a binary stream: UTF-8, byte-order mark dropped, undecodable bytes
    shown as U+FFFD rather than stopping the whole file. Text passes through."""
    if hasattr(stream, "read") and isinstance(stream.read(0), bytes):
        return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    return stream


class _LineTap:
    """Feeds csv.reader and remembers the physical lines behind each row, so a
    dead letter shows the row exactly as written and where it starts."""

    def __init__(self, lines: Iterator[str]):
        self._lines, self._count, self._start, self._pending = lines, 0, 1, []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self._count += 1
        self._pending.append(line)
        return line

    def take(self) -> tuple[int, bytes]:
        start, raw = self._start, "".join(self._pending).rstrip("\r\n")
        self._start, self._pending = self._count + 1, []
        return start, raw.encode("utf-8", "surrogatepass")


def sort_by_time(items: Iterable[Item]) -> list[Item]:
    """For `simulate --sort`: good events in time order (stable, so equal times keep file
    order); bad records stay in their own slots, so dead letters still come out in file order."""
    items = list(items)
    slots = [i for i, item in enumerate(items) if isinstance(item[2], Event)]
    ordered = sorted((items[i] for i in slots), key=lambda item: item[2].time)
    for i, item in zip(slots, ordered):
        items[i] = item
    return items


def _split_pairs(text: str, what: str) -> dict[str, str]:
    pairs = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = (s.strip() for s in part.partition("="))
        if not eq or not key or not value:
            raise ValueError(f"{part!r} in {what} should be written name=value")
        if key in pairs:
            raise ValueError(f"{key!r} is given twice in {what}")
        pairs[key] = value
    return pairs


def parse_map_option(text: str) -> dict[str, str]:
    """`event=behavior,customer_id=user_id,timestamp=ts` -> {field: column}."""
    return _check_fields(_split_pairs(text, "the column map"))


def parse_event_values(text: str) -> dict[str, str]:
    """`pv=product_viewed,buy=purchase` -> {raw value: event name}."""
    return _split_pairs(text, "the event values")


def parse_columns(text: str) -> list[str]:
    """`user_id,item_id,category_id,behavior,ts` -> column names for a headerless CSV."""
    names = [c.strip() for c in text.split(",")]
    if not all(names) or len(set(names)) != len(names):
        raise ValueError(f"{text!r} should be distinct column names separated by commas")
    return names


FORMATS = ("jsonl", "csv")


def input_format(path: str, fmt: str | None = None) -> str:
    """The reader for a path: `fmt` if given, CSV for *.csv (or *.csv.gz), else JSON lines."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"format {fmt!r} is not one of: {', '.join(FORMATS)}")
        return fmt
    return "csv" if path.lower().removesuffix(".gz").endswith(".csv") else "jsonl"


def open_input(path: str) -> BinaryIO:
    """A binary stream: '-' is standard input; *.gz is decompressed on the fly."""
    if path == "-":
        return sys.stdin.buffer
    return gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb")


def read_events(path: str, fmt: str | None = None, *, mapping: dict[str, str] | None = None,
                columns: list[str] | None = None, time_unit: str = "ms",
                event_values: dict[str, str] | None = None, max_bytes: int = 1_000_000,
                parse: bool = True) -> Iterator[Item | Unparsed]:
    """Open, pick the reader, read; closes what it opened but never standard input. `parse=False` leaves
    JSON lines unparsed (jsonl_lines), for the caller to parse with parse_event(raw, max_bytes=...); CSV
    rows are parsed anyway (their raw text is no JSON)."""
    kind = input_format(path, fmt)
    with reading(path) as stream:
        if kind == "csv":
            yield from read_csv(stream, mapping, columns, time_unit,
                                event_values=event_values, max_bytes=max_bytes)
        elif parse:
            yield from read_jsonl(stream, max_bytes=max_bytes)
        else:
            yield from jsonl_lines(stream)


@contextmanager
def reading(path: str) -> Iterator[BinaryIO]:
    """The input opened (open_input), a damaged gzip file said in words (InputError), closed after unless it
    is standard input."""
    stream = open_input(path)
    try:
        yield stream
    except _DAMAGED as e:
        raise damaged(path, e) from None
    finally:
        if path != "-":
            stream.close()


class InputError(ValueError):
    """The input cannot be read on (a gzip file cut short or damaged): said in words, with an exit code."""


# What gzip and zlib raise for a file that is not what it says, in words
_DAMAGED_WORDS = {
    EOFError: "the compressed file is cut short (it ends before its end-of-stream marker)",
    gzip.BadGzipFile: "not a gzip file, or a damaged one ({e})",  # (a bad CRC or length too)
    zlib.error: "the compressed data is damaged ({e})",
}
_DAMAGED = tuple(_DAMAGED_WORDS)


def damaged(path: str, e: Exception) -> InputError:
    words = next(words for kind, words in _DAMAGED_WORDS.items() if isinstance(e, kind))
    return InputError(f"{path}: " + words.format(e=e))


def copy_input(path: str, to: BinaryIO) -> None:
    """The input as read_events reads it (standard input, a file, a gzip file decompressed) into `to`."""
    with reading(path) as stream:
        shutil.copyfileobj(stream, to, 1 << 20)


NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # what the system says when a file may not grow
