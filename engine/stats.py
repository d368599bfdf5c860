"""Counters for the summary table, the dashboard and metrics: what happened, per journey."""
from __future__ import annotations

from collections import Counter, defaultdict

OUTCOMES = ("converted", "cancelled", "exited", "completed", "restarted")


class Stats:
    def __init__(self):
        self.events = 0
        self.duplicates = 0
        self.journeys: dict = defaultdict(Counter)     # journey -> entered/blocked/outcome counts
        self.actions: Counter = Counter()             # (journey, channel, status) -> n
        self.dead_letters: Counter = Counter()        # reason -> n
        self.segments: dict = defaultdict(Counter)    # segment -> entered/exited

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

    def funnel(self, journey: str) -> dict:
        c = self.journeys[journey]
        ended = sum(c[o] for o in OUTCOMES)
        return {"entered": c["entered"], "active": c["entered"] - ended,
                **{o: c[o] for o in OUTCOMES}}
