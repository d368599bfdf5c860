"""What `journeyctl deliver` counts for the web UI and `status --format json`: per journey, channel and
outcome (delivered, failed, retried, rate_limited), per minute and hour, and in all.

Counted in the minute the action was due, engine time, as the engine counts its sends: a period then
sets what the engine sent beside what became of those very messages, and a replayed day's actions
delivered today land on that day. The counts wait here until deliver's next commit takes them
(`drain`), into the transaction that records the delivered ids and moves the offsets past them
(engine/store/counts.py `record_deliveries`): after a crash the counts and the `deliveries` table
say the same, and a message sent again is counted once.
"""
from __future__ import annotations

import time

from journeyctl.engine.core.events import parse_instant
from journeyctl.engine.core.stats import MINUTE
from journeyctl.engine.store.counts import DELIVERY, KEEP, TOTAL


def due_ms(action: dict) -> int | None:
    """The action's due time (epoch ms), None when it has none that reads as a time."""
    try:
        return parse_instant(action["due_at"])
    except (KeyError, ValueError, TypeError):
        return None


def series(action: dict, outcome: str) -> str:
    """delivery:<journey>:<channel>:<outcome>; a ':' in a name read off the topic would shift the fields."""
    journey = str(action.get("journey")).replace(":", "_")
    channel = str(action.get("channel")).replace(":", "_")
    return f"{DELIVERY}{journey}:{channel}:{outcome}"


class Tally:
    def __init__(self):
        self._pending: dict[tuple[str, int], int] = {}  # (series, minute) -> n
        self.clock: int | None = None                   # the latest due time seen (ms)

    def __bool__(self) -> bool:
        return bool(self._pending)

    def add(self, action: dict, outcome: str) -> None:
        due = due_ms(action)
        if due is None:
            due = int(time.time() * 1000)  # counted all the same, in the minute it happened
        if self.clock is None or due > self.clock:
            self.clock = due
        key = (series(action, outcome), due // MINUTE)
        self._pending[key] = self._pending.get(key, 0) + 1

    def drain(self) -> list[tuple[int, int, str, int]]:
        """(res, bucket, series, n) rows of what was counted since the last drain: minutes, hours and
        totals. Minutes and hours older than the store keeps behind the clock count in the totals only
        (writing them would race the prune that lets them go)."""
        pending, self._pending = self._pending, {}
        if not pending:
            return []
        now = (self.clock or 0) // MINUTE  # set by every add()
        rows: dict[tuple[int, int, str], int] = {}
        for (name, minute), n in pending.items():
            for res, bucket in ((TOTAL, 0), (1, minute), (60, minute // 60)):
                if res != TOTAL and bucket < now // res - KEEP[res]:
                    continue
                key = (res, bucket, name)
                rows[key] = rows.get(key, 0) + n
        return [(res, bucket, name, n) for (res, bucket, name), n in rows.items()]
