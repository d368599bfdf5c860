"""Counters for the summary table, the dashboard, metrics and the web UI: what happened, per journey.

Two kinds, both kept by the engine as it works so that no reader ever has to scan the customers:

- Totals since the store began: per journey (entered, outcomes, holdout), actions, dead letters,
  segments, and per journey version every move from step to step and every end at a step (brought
  up to date from the counts of each minute when read: Stats). They go to the store as one meta value with each commit (`to_dict`), in the same transaction as the
  state they describe, so a reader sees both as of the same moment.
- Counts per minute of engine time (`series`), for the UI's periods (last hour, 24 h, 7 d) and its
  charts: they pile up here between commits and `drain_series()` hands them to the store, which
  adds them to its `counts` table in that same transaction (engine/store/counts.py). Engine time,
  not wall time, so a replay of last month's history shows last month's hours.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from itertools import compress, repeat

from journeyctl.engine.core.actions import DUE_AT
from journeyctl.engine.core.state import HELD_OUT, Instance

OUTCOMES = ("converted", "cancelled", "exited", "completed", "restarted")
MINUTE = 60_000
FOLD_AFTER = 48 * 60  # minutes: older pending minutes are summed into their hour (what the store keeps anyway)
ENTRY = ""  # the step an instance moves from when it enters
RECENT_PENDING = 100_000  # actions held for the recent-actions table between drains, before the old ones are let go
FRESH_MINUTES = 60  # the fresh buckets _sync folds in at once when nothing has read them (a replay)
RECENT_MS = 7 * 86_400_000  # how far behind the latest action the recent actions reach (the store keeps as much)


# A count noted on the hot path is a key of a minute's fresh bucket, its kind first, whose value is a cell
# (a list of one number) added to in place: one dictionary lookup per count while the engine works, where
# reading the number and writing it back hashed the key twice (both builds; in the compiled one, a dict
# write of a 5-tuple key was 550 instructions a count). When the counts are next read (Stats._sync), each
# key adds to the per-minute series it names (SERIES, worked out once per key) and, summed over the minutes,
# to the totals (TOTALS): a little more per key and minute, the rest once per key.
def _entered_series(key) -> tuple:
    _, journey, held, _version, _start = key
    return ("entered:" + journey, "holdout_entered:" + journey) if held else ("entered:" + journey,)


def _entered(st, key, n: int) -> None:
    _, journey, held, version, start = key
    st._journeys[journey]["entered"] += n
    if version is not None:
        _add(st._moves, (version, ENTRY, start), n)
    if held:
        st._holdout[journey]["entered"] += n


def _ended_series(key) -> tuple:
    _, journey, reason, _version, _step, flags = key
    held = flags & HELD_OUT and reason == "converted"
    return (f"{reason}:{journey}", "holdout_converted:" + journey) if held else (f"{reason}:{journey}",)


def _ended(st, key, n: int) -> None:
    _, journey, reason, version, step, flags = key
    st._journeys[journey][reason] += n
    if version is not None:
        _add(st._ends, (version, step or ENTRY, reason), n)
    if flags & HELD_OUT and reason == "converted":
        st._holdout[journey]["converted"] += n


def _action(st, key, n: int) -> None:
    st._actions[key[1:]] += n


def _dead_letter(st, key, n: int) -> None:
    st._dead_letters[key[1]] += n


def _segment(st, key, n: int) -> None:
    st._segments[key[1]][key[0][len("segment_"):]] += n


def _itself(key) -> tuple:
    return (":".join(key),)


SERIES = {"entered": _entered_series, "ended": _ended_series, "action": _itself, "dead_letter": _itself,
          "segment_entered": _itself, "segment_exited": _itself}
TOTALS = {"entered": _entered, "ended": _ended, "action": _action, "dead_letter": _dead_letter,
          "segment_entered": _segment, "segment_exited": _segment}


def _synced(field: str) -> property:
    """A table of totals as its readers see it: up to date with every count (Stats._sync first)."""
    def read(stats):
        stats._sync()
        return getattr(stats, field)
    return property(read)


def _add(table: dict, key, n: int) -> None:
    table[key] = table.get(key, 0) + n


class Stats:
    """The engine reports each thing as it happens with one update of the current minute's bucket
    (`_fresh`); the totals and the per-minute series are brought up to date from those buckets when
    something reads them (`_sync`, behind the properties below). Counting each thing into every table it
    shows in, as it happened, cost the engine 12.5% of its throughput; this way the counters cost it 2.6-4%
    as `run` uses them, 4.5-5.2% in a replay drained once at its end (bench/ui_counters.py, medians)."""

    def __init__(self):
        self.events = 0
        self.unused = 0       # events no journey, history or segment reads (their ids are still de-duplicated)
        self.duplicates = 0
        self.parked = 0       # timers that raised when they fired, parked (engine_error; Engine._park)
        self._journeys: dict = defaultdict(Counter)     # journey -> entered/blocked/outcome counts
        self._holdout: dict = defaultdict(Counter)      # journey -> entered/converted of its holdout group
        self._actions: Counter = Counter()             # (journey, channel, status) -> n
        self._dead_letters: Counter = Counter()        # reason -> n
        self._segments: dict = defaultdict(Counter)    # segment -> entered/exited
        # plain dicts where the engine counts: CPython specializes item access for dict, not for Counter
        self._ends: dict = {}                          # (version, step, reason) -> n
        self._fresh_moves: dict = {}                   # (version, from step, to step) -> [n], since the last _sync
        self._moves: dict = {}                         # (version, from step or ENTRY, to step) -> n
        self.lag: dict | None = None                  # {"lag": n, "at": epoch ms}, set by the run loop
        self.current: dict = {}                        # journey -> the version loaded (set before each write)
        self.recent: list = []                        # actions since the last drain_recent()
        self._recent_limit = RECENT_PENDING           # how many before the old ones are let go again
        self._fresh: dict[int | None, dict] = {}      # minute (None: no time) -> {key: [n]}, since the last _sync
        # _bucket is _fresh[minute] for every time in [_from, _to); an empty span sends the next count to _at
        # (two comparisons cost less than the floor division that finds a time's minute)
        self._bucket: dict = {}
        self._from, self._to = 1, 0
        self._minutes: dict[int, dict] = {}           # minute -> {series name: n}, synced, not yet drained
        self._hours: dict[int, dict] = {}             # hour -> {series name: n}: pending minutes folded
        self._undated: dict = {}                      # dead letters (no time of their own) not yet placed
        # fresh key -> (the series it counts in (SERIES), its sum in the _sync under way): one lookup per key
        # and minute, where a table of the sums beside it was two more
        self._series_of: dict = {}

    # ---- what the engine reports --------------------------------------------------------------

    def entered(self, journey: str, now: int | None = None, held_out: bool = False, version: str | None = None,
                start: str | None = None) -> None:
        """With `version`, also the instance's first move, into its `start` step: the engine does not
        report that one with moved()."""
        b = self._bucket if now is not None and self._from <= now < self._to else self._at(now)
        key = ("entered", journey, held_out, version, start)
        n = b.get(key)
        if n is None:
            b[key] = n = [0]
        n[0] += 1

    def blocked(self, journey: str) -> None:
        self._journeys[journey]["blocked"] += 1

    def moved(self, version: str, step: str | None, to: str) -> None:
        """An instance of `version` went from `step` (None: it just entered) to `to`: counted in a cell, as the
        counts of a minute are, and added to the totals by _sync."""
        key = (version, step or ENTRY, to)
        n = self._fresh_moves.get(key)
        if n is None:
            self._fresh_moves[key] = n = [0]
        n[0] += 1

    def ended(self, journey: str, reason: str, inst: Instance | None = None, now: int | None = None) -> None:
        """`inst`: the engine's instance, whose step is where it ended."""
        b = self._bucket if now is not None and self._from <= now < self._to else self._at(now)
        if inst is None:
            key: tuple = ("ended", journey, reason, None, None, 0)
        else:
            key = ("ended", journey, reason, inst.version, inst.state, inst.flags)
        n = b.get(key)
        if n is None:
            b[key] = n = [0]
        n[0] += 1

    def action(self, journey: str, channel: str, status: str, now: int | None = None, action=None) -> None:
        """`action`: the engine's Action, kept until the next drain for the customer's recent actions."""
        if action is not None:
            self.recent.append(action)  # (let go of old ones as the minute turns: _at)
        b = self._bucket if now is not None and self._from <= now < self._to else self._at(now)
        key = ("action", journey, channel, status)
        n = b.get(key)
        if n is None:
            b[key] = n = [0]
        n[0] += 1

    def dead_letter(self, reason: str, at: int | None = None) -> None:
        """Counted in the minute of `at`, the engine's clock when it was set aside: a bad event has no
        trustworthy time of its own. Before the clock has a time, in the minute of the first event the
        engine applies (clock_set), which every process of a split replay knows (replay/parallel.py); or,
        counted where no engine sets a clock, of the next count with a time or of the clock at the next
        drain."""
        if at is None:
            self._dead_letters[reason] += 1
            self._undated[reason] = self._undated.get(reason, 0) + 1
            self._from, self._to = 1, 0  # the next count with a time places it in the series (_at)
            return
        b = self._at(at)
        key = ("dead_letter", reason)
        n = b.get(key)
        if n is None:
            b[key] = n = [0]
        n[0] += 1

    def clock_set(self, t: int) -> None:
        """The engine's clock has its first time, `t`: the dead letters set aside before it count in its
        minute."""
        if self._undated:
            self._place_undated(t // MINUTE)

    def segment(self, segment: str, entered: bool, now: int | None = None) -> None:
        b = self._bucket if now is not None and self._from <= now < self._to else self._at(now)
        key = ("segment_entered" if entered else "segment_exited", segment)
        n = b.get(key)
        if n is None:
            b[key] = n = [0]
        n[0] += 1

    # ---- the totals, up to date when read -----------------------------------------------------

    journeys = _synced("_journeys")          # journey -> Counter of entered/blocked/outcomes
    holdout = _synced("_holdout")            # journey -> Counter of its holdout group's entered/converted
    actions = _synced("_actions")            # Counter of (journey, channel, status)
    dead_letters = _synced("_dead_letters")  # Counter of reasons
    segments = _synced("_segments")          # segment -> Counter of entered/exited
    moves = _synced("_moves")                # (version, from step or ENTRY, to step) -> n
    ends = _synced("_ends")                  # (version, step, reason) -> n

    def _sync(self) -> None:
        """Add the fresh counts to the series pending for the store and to the totals."""
        if self._fresh_moves:
            moves = self._moves
            for key, cell in self._fresh_moves.items():
                moves[key] = moves.get(key, 0) + cell[0]
            self._fresh_moves = {}
        if not self._fresh:
            return
        minutes, known = self._minutes, self._series_of
        touched: list = []  # (key, its sum over the minutes) of each key counted since the last _sync
        for m, bucket in self._fresh.items():
            series = {} if m is None else minutes.setdefault(m, {})  # (no time: the totals only)
            for key, cell in bucket.items():
                n = cell[0]
                of_key = known.get(key)
                if of_key is None:
                    of_key = known[key] = (SERIES[key[0]](key), [0])
                names, total = of_key
                if not total[0]:
                    touched.append((key, total))
                total[0] += n
                for name in names:
                    series[name] = series.get(name, 0) + n
        for key, total in touched:
            TOTALS[key[0]](self, key, total[0])
            total[0] = 0
        self._fresh, self._bucket, self._from, self._to = {}, {}, 1, 0
        if len(minutes) > FOLD_AFTER + 1440:  # a day's worth at a time: folding is a loop
            self._fold(max(minutes) - FOLD_AFTER)

    # ---- per-minute series --------------------------------------------------------------------

    def _at(self, now: int | None) -> dict:
        """The fresh bucket of `now`'s minute: the engine's hot path comes here only when the minute
        turns. A count without a time has a bucket of its own, which adds to the totals only."""
        fresh = self._fresh
        if len(fresh) > FRESH_MINUTES:  # not read for an hour of minutes (a replay): catch up while in the cache
            self._sync()
            fresh = self._fresh
        if now is None:
            return fresh.setdefault(None, {})
        m = now // MINUTE
        bucket = fresh.get(m)
        if bucket is None:
            bucket = fresh[m] = {}
        if self._undated:  # counted in the totals when set aside: only the series is left
            self._place_undated(m)
        if len(self.recent) > self._recent_limit:
            self._forget_old_actions()
        self._bucket, self._from, self._to = bucket, m * MINUTE, (m + 1) * MINUTE
        return bucket

    def _place_undated(self, m: int) -> None:
        series = self._minutes.setdefault(m, {})
        for reason, n in self._undated.items():
            _add(series, "dead_letter:" + reason, n)
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
        self._sync()
        if self._undated and clock is not None:
            self._place_undated(clock // MINUTE)
        minutes: list = []
        hours = self._hours
        for m, bucket in self._minutes.items():
            minutes.extend([(name, m, n) for name, n in bucket.items()])
            hour = hours.get(m // 60)
            if hour is None:
                hour = hours[m // 60] = {}
            for name, n in bucket.items():
                hour[name] = hour.get(name, 0) + n
        self._minutes, self._hours = {}, {}
        return minutes, [(name, h, n) for h, bucket in hours.items() for name, n in bucket.items()]

    def _forget_old_actions(self) -> None:
        """A long replay drains at its end: keep only the actions the store would keep (RECENT_MS behind
        the latest). By time, not by count, so which ones are kept does not depend on the order they
        came in (simulate --jobs adds each process's in turn: add_pending)."""
        # (the due times read by tuple.__getitem__ in C loops: an Action's own a[DUE_AT] is a Python call)
        dues = list(map(tuple.__getitem__, self.recent, repeat(DUE_AT)))
        since = max(dues) - RECENT_MS
        self.recent = list(compress(self.recent, [due >= since for due in dues]))
        # all of them within the span (a busy week): look again only when there are twice as many
        self._recent_limit = max(RECENT_PENDING, 2 * len(self.recent))

    def drain_recent(self) -> list:
        out, self.recent, self._recent_limit = self.recent, [], RECENT_PENDING
        return out

    def pending(self) -> tuple:
        """What the next drains will write (the minutes and hours counted, dead letters not yet placed in
        a minute, recent actions): a replay process of `simulate --jobs` hands it to the parent."""
        self._sync()
        return self._minutes, self._hours, self._undated, self.recent

    def add_pending(self, pending: tuple) -> None:
        """Add another Stats' pending() to what this one's next drains write."""
        minutes, hours, undated, recent = pending
        self._sync()
        for table, into in ((minutes, self._minutes), (hours, self._hours)):
            for at, bucket in table.items():
                mine = into.setdefault(at, {})
                for key, n in bucket.items():
                    mine[key] = mine.get(key, 0) + n
        for reason, n in undated.items():
            self._undated[reason] = self._undated.get(reason, 0) + n
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
            _add(self.moves, (version, step, to), n)
        for version, step, reason, n in data.get("ends", []):
            _add(self.ends, (version, step, reason), n)

    def funnel(self, journey: str) -> dict:
        c = self.journeys[journey]
        ended = sum(c[o] for o in OUTCOMES)
        return {"entered": c["entered"], "active": c["entered"] - ended,
                **{o: c[o] for o in OUTCOMES}}
