"""Durations and times of day as the language writes them: `1h30m`, `21:00`."""
from __future__ import annotations

import re

from .ir import MAX_DURATION_MS

UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PART = re.compile(r"(\d+)([smhdw])", re.ASCII)
_WHOLE = re.compile(r"(?:\d+[smhdw])+", re.ASCII)
MAX_DURATION_TEXT = "36500d (100 years)"  # MAX_DURATION_MS in words (dsl/ir.py: part of the IR's contract)
_MAX_DIGITS = 15  # a number of more digits is past the limit in any unit, and is not converted at all


def read_duration(text: str) -> int | str:
    """Milliseconds, or plain words saying why `text` is not a duration the engine can keep."""
    if not _WHOLE.fullmatch(text):
        return (f"{text!r} is not a duration; write a number and a unit (s, m, h, d, w) "
                "such as 45s, 30m or 1h30m")
    parts = _PART.findall(text)
    if any(len(n) > _MAX_DIGITS for n, _ in parts) or \
            (ms := sum(int(n) * UNIT_MS[u] for n, u in parts)) > MAX_DURATION_MS:
        return f"{_short(text)} is longer than {MAX_DURATION_TEXT}, the longest duration there is"
    return ms


def duration_option(text: str) -> int:
    """A duration given on the command line or in the environment (`--allowed-lateness 5s`): ms, or
    ValueError in plain words."""
    ms = read_duration(text.strip())
    if isinstance(ms, str):
        raise ValueError(ms)
    return ms


def parse_duration(text: str) -> int | None:
    """Milliseconds, or None when `text` is not a duration or is longer than MAX_DURATION_MS."""
    ms = read_duration(text)
    return ms if type(ms) is int else None


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def format_duration(ms: int, weeks: bool = True) -> str:
    """The shortest way to write `ms` back, largest units first: 5400000 -> 1h30m. Messages pass
    weeks=False, because people write 7d and 365d, not 1w and 52w1d."""
    if ms == 0:
        return "0s"
    out = []
    for unit in "wdhms" if weeks else "dhms":
        n, ms = divmod(ms, UNIT_MS[unit])
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)


def parse_time_of_day(text: str) -> int | None:
    """Minutes after midnight, or None when `text` is not HH:MM on a 24 h clock."""
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        return None
    return int(m.group(1)) * 60 + int(m.group(2))


def format_time_of_day(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
