"""Times as values (issue 17 section 1): a number is epoch milliseconds; a text is an RFC 3339 time, or a
date (YYYY-MM-DD) meaning midnight in the customer's time zone. Anything else where an instant is needed
is null, and counted as a data warning, never silently.

The compiler decides where an expression needs an instant (dsl/times.py); this is what the engine does
there, with the value it finds. The customer's time zone is the one `wait until 09:00` uses:
profile.timezone, else the journey's `timezone`, else the project's default, else UTC.
"""
from __future__ import annotations

import functools
from datetime import date

from journeyctl.engine.core.events import parse_instant
from journeyctl.engine.core.localtime import _at, _local, zone

UTC = zone("UTC")
ENV = ""  # the key, in the aggregates' readers (the context's AGGS slot), of the Env below: no aggregate's


class DataWarnings:
    """Values a journey read that were not what it needed, counted, never dropped silently: `ignored`, not
    numbers that sum/min/max/avg skipped; `not_times`, values read as null where a time was needed. An
    object of its own rather than fields of Aggregates, because the aggregates' folds and Env count into
    it: a reference from them back to Aggregates would be a cycle, and a replay runs no cycle collector
    (engine/replay/loop.py, collector_paused)."""

    __slots__ = ("ignored", "not_times")

    def __init__(self):
        self.ignored = 0
        self.not_times = 0

    def not_a_number(self, value) -> int:
        """A value sum/min/max/avg skips: counted unless it is missing. Returns the bits of the segments
        moved: none."""
        if value is not None:
            self.ignored += 1
        return 0


class Env:
    """What the expressions need from the engine beyond the customer: its default time zone, and where a
    value that is not a time is counted."""

    __slots__ = ("zone", "warnings")

    def __init__(self, warnings: DataWarnings | None, default_zone=None):
        self.warnings = warnings
        self.zone = default_zone


def as_instant(value, ctx_profile, env, journey_zone: str | None):
    """`value` as epoch ms, or None (counted when it is there but is not a time)."""
    kind = type(value)
    if kind is int or kind is float:
        return value
    if value is None:
        return None
    if kind is str:
        if len(value) == 10:
            day = _date(value)
            if day is not None:
                tz = (zone(ctx_profile.get("timezone")) if ctx_profile else None) or zone(journey_zone) \
                    or (env.zone if env is not None else None) or UTC
                try:
                    return _at(day, 0, tz)
                except (OverflowError, ValueError, OSError):  # 0001-01-01 east of UTC is before the calendar
                    pass
        else:
            try:
                return parse_instant(value)
            except (ValueError, OverflowError):  # (not RFC 3339, or off the calendar)
                pass
    if env is not None and env.warnings is not None:
        env.warnings.not_times += 1
    return None


@functools.lru_cache(maxsize=4096)
def _date(text: str):
    try:
        return date.fromisoformat(text) if text[4] == "-" and text[7] == "-" else None
    except ValueError:
        return None


def command_line_instant(text: str) -> int:
    """An instant given on the command line (`--until`): RFC 3339, or a date alone, meaning midnight UTC."""
    if len(text) == 10 and text[4:5] == "-" and text[7:8] == "-":
        day = _date(text)
        if day is None:
            raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) nor an RFC 3339 time such as 2026-03-02T22:00:00Z")
        return _at(day, 0, UTC)
    return parse_instant(text)


def day_at(instant, minute: int, tz) -> int | None:
    """The instant of `minute` past midnight on the local day (in `tz`) of `instant`: `wait until X at 09:00`.
    None off the calendar (an epoch-ms number far past year 9999)."""
    try:
        return _at(_local(int(instant), tz).date(), minute, tz)
    except (OverflowError, ValueError, OSError):
        return None


def next_yearly(instant, not_before: int, tz, minute: int | None = None) -> int | None:
    """The first instant at or after `not_before` that falls on the local month and day of `instant` (29
    February: the 28th in a year without it), at `minute` past midnight, or else at `instant`'s own local
    time of day: what `on date profile.birthday yearly [at 09:00]` waits for."""
    try:
        local = _local(int(instant), tz)
        rest = 0
        if minute is None:
            minute, rest = local.hour * 60 + local.minute, local.second * 1000 + local.microsecond // 1000
        year = _local(not_before, tz).year
        for y in (year, year + 1):
            day = date(y, local.month, 28 if local.month == 2 and local.day == 29 and not _leap(y) else local.day)
            at = _at(day, minute, tz) + rest
            if at >= not_before:
                return at
    except (OverflowError, ValueError, OSError):
        pass
    return None


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
