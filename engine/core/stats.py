"""Counters for the summary table, the dashboard and metrics: what happened, per journey."""
from __future__ import annotations

from collections import Counter, defaultdict

OUTCOMES = ("converted", "cancelled", "exited", "completed", "restarted")


class Stats:
    def __init__(self):
        self.events = 0
        self.unused = 0       # events no journey, history or segment reads (their ids are still de-duplicated)
        self.duplicates = 0
        self.journeys: dict = defaultdict(Counter)     # journey -> entered/blocked/outcome counts
        self.actions: Counter = Counter()             # (journey, channel, status) -> n
        self.dead_letters: Counter = Counter()        # reason -> n
        self.segments: dict = defaultdict(Counter)    # segment -> entered/exited
        self.parked = 0       # timers that raised when they fired, parked (engine_error; Engine._park)

    def entered(self, journey: str) -> None:
        self.journeys[journey]["entered"] += 1

    def blocked(self, journey: str) -> None:
        self.journeys[journey]["blocked"] += 1

    def ended(self, journey: str, reason: str) -> None:
        self.journeys[journey][reason] += 1

    def action(self, journey: str, channel: str, status: str) -> None:
        self.actions[(journey, channel, status)] += 1

    def dead_letter(self, reason: str) -> None:
        self.dead_letters[reason] += 1

    def segment(self, segment: str, entered: bool) -> None:
        self.segments[segment]["entered" if entered else "exited"] += 1

    def to_dict(self) -> dict:
        """What `journeyctl status` reads back from the store: the counts survive restarts."""
        return {"events": self.events, "unused": self.unused, "duplicates": self.duplicates,
                "journeys": {j: dict(c) for j, c in self.journeys.items()},
                "actions": [[*k, n] for k, n in self.actions.items()],
                "dead_letters": dict(self.dead_letters),
                "segments": {s: dict(c) for s, c in self.segments.items()}, "parked": self.parked}

    def restore(self, data: dict | None) -> None:
        if not data:
            return
        self.events, self.duplicates = data.get("events", 0), data.get("duplicates", 0)
        self.unused = data.get("unused", 0)
        self.parked = data.get("parked", 0)
        for j, c in data.get("journeys", {}).items():
            self.journeys[j].update(c)
        for journey, channel, status, n in data.get("actions", []):
            self.actions[(journey, channel, status)] += n
        self.dead_letters.update(data.get("dead_letters", {}))
        for s, c in data.get("segments", {}).items():
            self.segments[s].update(c)

    def funnel(self, journey: str) -> dict:
        c = self.journeys[journey]
        ended = sum(c[o] for o in OUTCOMES)
        return {"entered": c["entered"], "active": c["entered"] - ended,
                **{o: c[o] for o in OUTCOMES}}
