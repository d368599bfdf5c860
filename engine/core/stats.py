"""Counters for the summary table, the dashboard, metrics and the web UI: what happened, per journey.

Two kinds, both kept by the engine as it works so that no reader ever has to scan the customers:

- Totals since the store began: per journey (entered, outcomes, holdout), actions, dead letters,
  segments, and per journey version every move from step to step and every end at a step. They
  go to the store as one meta value with each commit (`to_dict`), in the same transaction as the
  state they describe, so a reader sees both as of the same moment.
- Counts per minute of engine time (`series`), for the UI's periods (last hour, 24 h, 7 d) and its
  charts: they pile up here between commits and `drain_series()` hands them to the store, which
  adds them to its `counts` table in that same transaction (engine/store/counts.py). Engine time,
  not wall time, so a replay of last month's history shows last month's hours.
"""
from __future__ import annotations

from collections import Counter, defaultdict

from journeyctl.engine.core.actions import DUE_AT
from journeyctl.engine.core.state import HELD_OUT, Instance

OUTCOMES = ("converted", "cancelled", "exited", "completed", "restarted")
MINUTE = 60_000
FOLD_AFTER = 48 * 60  # minutes: older pending minutes are summed into their hour (what the store keeps anyway)
ENTRY = ""  # the step an instance moves from when it enters
RECENT_PENDING = 100_000  # actions held for the recent-actions table between drains, before the old ones are let go
RECENT_MS = 7 * 86_400_000  # how far behind the latest action the recent actions reach (the store keeps as much)


class Stats:
    def __init__(self):
        self.events = 0
        self.unused = 0       # events no journey, history or segment reads (their ids are still de-duplicated)
        self.duplicates = 0
        self.journeys: dict = defaultdict(Counter)     # journey -> entered/blocked/outcome counts
        self.holdout: dict = defaultdict(Counter)      # journey -> entered/converted of its holdout group
        self.actions: Counter = Counter()             # (journey, channel, status) -> n
        self.dead_letters: Counter = Counter()        # reason -> n
        self.segments: dict = defaultdict(Counter)    # segment -> entered/exited
        self.parked = 0       # timers that raised when they fired, parked (engine_error; Engine._park)
        self.moves: Counter = Counter()               # (version, from step or ENTRY, to step) -> n
        self.ends: Counter = Counter()                # (version, step, reason) -> n
        self.lag: dict | None = None                  # {"lag": n, "at": epoch ms}, set by the run loop
        self.current: dict = {}                        # journey -> the version loaded (set before each write)
        self.recent: list = []                        # actions since the last drain_recent()
        self._recent_limit = RECENT_PENDING           # how many before the old ones are let go again
        self._minutes: dict[int, dict] = {}           # minute -> {series: n}, not yet drained
        self._hours: dict[int, dict] = {}             # hour -> {series: n}: pending minutes folded (long replays)
        self._minute = None
        self._bucket: dict = {}
        self._undated: dict = {}                      # dead letters (no time of their own) not yet placed

    # ---- what the engine reports --------------------------------------------------------------

    def entered(self, journey: str, now: int | None = None, held_out: bool = False) -> None:
        self.journeys[journey]["entered"] += 1
        if held_out:
            self.holdout[journey]["entered"] += 1
        if now is not None:
            b = self._at(now)
            key = ("entered", journey)
            b[key] = b.get(key, 0) + 1
            if held_out:
                key = ("holdout_entered", journey)
                b[key] = b.get(key, 0) + 1

    def blocked(self, journey: str) -> None:
        self.journeys[journey]["blocked"] += 1

    def moved(self, version: str, step: str | None, to: str) -> None:
        """An instance of `version` went from `step` (None: it just entered) to `to`."""
        key = (version, step or ENTRY, to)
        moves = self.moves
        moves[key] = moves.get(key, 0) + 1

    def ended(self, journey: str, reason: str, inst: Instance | None = None, now: int | None = None) -> None:
        """`inst`: the engine's instance, whose step is where it ended."""
        self.journeys[journey][reason] += 1
        held = False
        if inst is not None:
            end = (inst.version, inst.state or ENTRY, reason)
            self.ends[end] = self.ends.get(end, 0) + 1
            held = bool(inst.flags & HELD_OUT) and reason == "converted"
            if held:
                self.holdout[journey]["converted"] += 1
        if now is not None:
            b = self._at(now)
            key: tuple = (reason, journey)
            b[key] = b.get(key, 0) + 1
            if held:
                key = ("holdout_converted", journey)
                b[key] = b.get(key, 0) + 1

    def action(self, journey: str, channel: str, status: str, now: int | None = None, action=None) -> None:
        """`action`: the engine's Action, kept until the next drain for the customer's recent actions."""
        key: tuple = (journey, channel, status)
        self.actions[key] += 1
        if action is not None:
            self.recent.append(action)
            if len(self.recent) > self._recent_limit:
                self._forget_old_actions()
        if now is not None:
            b = self._at(now)
            key = ("action", journey, channel, status)
            b[key] = b.get(key, 0) + 1

    def dead_letter(self, reason: str, at: int | None = None) -> None:
        """Counted in the minute of `at`, the engine's clock when it was set aside: a bad event has no
        trustworthy time of its own. Before the clock has a time, in the minute of the engine's next
        step (or of the clock at the next drain)."""
        self.dead_letters[reason] += 1
        if at is not None:
            b = self._at(at)
            key = ("dead_letter", reason)
            b[key] = b.get(key, 0) + 1
        else:
            self._undated[reason] = self._undated.get(reason, 0) + 1

    def segment(self, segment: str, entered: bool, now: int | None = None) -> None:
        change = "entered" if entered else "exited"
        self.segments[segment][change] += 1
        if now is not None:
            b = self._at(now)
            key = ("segment_" + change, segment)
            b[key] = b.get(key, 0) + 1

    # ---- per-minute series --------------------------------------------------------------------

    def _at(self, now: int) -> dict:
        """The pending counts of `now`'s minute."""
        m = now // MINUTE
        if m != self._minute:
            bucket = self._minutes.get(m)
            if bucket is None:
                bucket = self._minutes[m] = {}
                if len(self._minutes) > FOLD_AFTER + 1440:  # a day's worth at a time: folding is a loop
                    self._fold(max(self._minutes) - FOLD_AFTER)
            self._minute, self._bucket = m, bucket
        if self._undated:
            self._place_undated(self._bucket)
        return self._bucket

    def _place_undated(self, bucket: dict) -> None:
        for reason, n in self._undated.items():
            key = ("dead_letter", reason)
            bucket[key] = bucket.get(key, 0) + n
        self._undated = {}

    def _fold(self, before: int) -> None:
        """Sum the pending minutes before `before` into their hours: a long replay drained only at its
        end would otherwise hold every minute of its history."""
        for m in [m for m in self._minutes if m < before]:
            hour = self._hours.setdefault(m // 60, {})
            for key, n in self._minutes.pop(m).items():
                hour[key] = hour.get(key, 0) + n

    def drain_series(self, clock: int | None) -> tuple[list, list]:
        """(minute rows, hour rows) pending since the last drain, each (series, bucket, n) with the
        series as text ("entered:cart_recovery", "action:cart_recovery:email:send"); dead letters not yet
        placed go to the minute of `clock`."""
        if self._undated and clock is not None:
            self._place_undated(self._minutes.setdefault(clock // MINUTE, {}))
        minutes: list = []
        hours: dict = {}
        for m, bucket in self._minutes.items():
            for key, n in bucket.items():
                name = ":".join(key)
                minutes.append((name, m, n))
                hours[(name, m // 60)] = hours.get((name, m // 60), 0) + n
        for h, bucket in self._hours.items():
            for key, n in bucket.items():
                name = ":".join(key)
                hours[(name, h)] = hours.get((name, h), 0) + n
        self._minutes, self._hours, self._minute, self._bucket = {}, {}, None, {}
        return minutes, [(name, h, n) for (name, h), n in hours.items()]

    def _forget_old_actions(self) -> None:
        """A long replay drains at its end: keep only the actions the store would keep (RECENT_MS behind
        the latest). By time, not by count, so which ones are kept does not depend on the order they
        came in (simulate --jobs adds each process's in turn: add_pending)."""
        latest = max(a[DUE_AT] for a in self.recent)
        self.recent = [a for a in self.recent if a[DUE_AT] >= latest - RECENT_MS]
        # all of them within the span (a busy week): look again only when there are twice as many
        self._recent_limit = max(RECENT_PENDING, 2 * len(self.recent))

    def drain_recent(self) -> list:
        out, self.recent, self._recent_limit = self.recent, [], RECENT_PENDING
        return out

    def pending(self) -> tuple:
        """What the next drains will write (the minutes and hours counted, dead letters not yet placed in
        a minute, recent actions): a replay process of `simulate --jobs` hands it to the parent."""
        return self._minutes, self._hours, self._undated, self.recent

    def add_pending(self, pending: tuple) -> None:
        """Add another Stats' pending() to what this one's next drains write."""
        minutes, hours, undated, recent = pending
        for table, into in ((minutes, self._minutes), (hours, self._hours)):
            for at, bucket in table.items():
                mine = into.setdefault(at, {})
                for key, n in bucket.items():
                    mine[key] = mine.get(key, 0) + n
        for reason, n in undated.items():
            self._undated[reason] = self._undated.get(reason, 0) + n
        self._minute, self._bucket = None, {}
        self.recent.extend(recent)
        if len(self.recent) > self._recent_limit:
            self._forget_old_actions()

    # ---- to and from the store ----------------------------------------------------------------

    def to_dict(self) -> dict:
        """What `journeyctl status` and the UI read back from the store: the counts survive restarts.
        Lists are sorted: the same counts give the same record whatever order they were counted in
        (timers due at one instant fire in an order a cache may change)."""
        out = {"events": self.events, "unused": self.unused, "duplicates": self.duplicates,
               "journeys": {j: dict(c) for j, c in self.journeys.items()},
               "actions": sorted([*k, n] for k, n in self.actions.items()),
               "dead_letters": dict(self.dead_letters),
               "segments": {s: dict(c) for s, c in self.segments.items()},
               "holdout": {j: dict(c) for j, c in self.holdout.items()},
               "moves": sorted([*k, n] for k, n in self.moves.items()),
               "ends": sorted([*k, n] for k, n in self.ends.items()), "parked": self.parked}
        if self.lag is not None:
            out["lag"] = self.lag
        if self.current:
            out["current"] = self.current
        return out

    def restore(self, data: dict | None) -> None:
        if not data:
            return
        self.add(data)

    def add(self, data: dict) -> None:
        """Add counts read back from the store (to_dict's form): one worker's at start, or each
        worker's in turn when a reader sums the workers sharing a store."""
        self.events += data.get("events", 0)
        self.duplicates += data.get("duplicates", 0)
        self.unused += data.get("unused", 0)
        self.parked += data.get("parked", 0)
        for j, c in data.get("journeys", {}).items():
            self.journeys[j].update(c)
        for journey, channel, status, n in data.get("actions", []):
            self.actions[(journey, channel, status)] += n
        self.dead_letters.update(data.get("dead_letters", {}))
        for s, c in data.get("segments", {}).items():
            self.segments[s].update(c)
        for j, c in data.get("holdout", {}).items():
            self.holdout[j].update(c)
        for version, step, to, n in data.get("moves", []):
            self.moves[(version, step, to)] += n
        for version, step, reason, n in data.get("ends", []):
            self.ends[(version, step, reason)] += n

    def funnel(self, journey: str) -> dict:
        c = self.journeys[journey]
        ended = sum(c[o] for o in OUTCOMES)
        return {"entered": c["entered"], "active": c["entered"] - ended,
                **{o: c[o] for o in OUTCOMES}}
