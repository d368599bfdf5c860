"""Durations and times of day as the language writes them: `1h30m`, `21:00`."""
from __future__ import annotations

import re

UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PART = re.compile(r"(\d+)([smhdw])")
_WHOLE = re.compile(r"(?:\d+[smhdw])+")


def parse_duration(text: str) -> int | None:
    """Milliseconds, or None when `text` is not a duration."""
    if not _WHOLE.fullmatch(text):
        return None
    return sum(int(n) * UNIT_MS[u] for n, u in _PART.findall(text))


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
