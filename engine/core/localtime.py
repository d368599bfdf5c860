"""Times of day in a customer's own time zone, DST-correct: `wait until 09:00` and quiet hours.

The engine counts in epoch milliseconds; only these two questions need a calendar.
Neither ever raises: a time zone comes from a profile trait, which may hold anything,
and an instant near the end of the calendar (year 9999) has no next local day. Event
times are kept well inside the calendar (events.EVENT_RANGE), so that edge is only
reached by a chain of very long waits; there quiet hours and `wait until` hold nothing back.
"""
from __future__ import annotations

import functools
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc


_OFF_THE_CALENDAR = (OverflowError, ValueError, OSError)


def zone(name):
    """A zone by IANA name, or None when the value is not one: a list, a number, an unknown name are
    all treated like a missing trait (a bad profile trait must not stop anything)."""
    if not isinstance(name, str) or not name:
        return None  # before the cache, which would choke on an unhashable value
    return _zone(name)


@functools.lru_cache(maxsize=512)
def _zone(name: str):
    try:
        return ZoneInfo(name)
    except Exception:  # zoneinfo raises several kinds for bad names
        return None


def _local(ms: int, tz) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz)


@functools.lru_cache(maxsize=65_536)
def _at(day: date, minute: int, tz) -> int:
    """Epoch ms of `minute` past local midnight on `day`; a time skipped by DST moves forward past the gap.
    Cached: every customer waiting for 09:00 in one zone on one day asks the same question."""
    naive = datetime(day.year, day.month, day.day, minute // 60, minute % 60)
    aware = naive.replace(tzinfo=tz)
    # round-trip through UTC: a nonexistent local time comes back shifted, which is where it really falls
    utc = aware.astimezone(UTC)
    return int(utc.timestamp() * 1000)


def next_time_of_day(now_ms: int, minute: int, tz) -> int:
    """The next instant at local HH:MM, or now if it is exactly that (or if the calendar ends first)."""
    try:
        today = _local(now_ms, tz).date()
        for days in range(0, 3):
            candidate = _at(today + timedelta(days=days), minute, tz)
            if candidate >= now_ms:
                return candidate
    except _OFF_THE_CALENDAR:
        pass
    return now_ms  # (otherwise unreachable: some day within three has that time)


def quiet_until(now_ms: int, start: int, end: int, tz) -> int | None:
    """If now falls in the quiet window [start, end) local time, the instant the window ends; else None."""
    try:
        local = _local(now_ms, tz)
    except _OFF_THE_CALENDAR:
        return None
    minute_of_day = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
    inside = start <= minute_of_day < end if start < end else (minute_of_day >= start or minute_of_day < end)
    if not inside:
        return None
    return next_time_of_day(now_ms, end, tz)
