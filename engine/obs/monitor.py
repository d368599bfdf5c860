"""What the running engine is doing, once a second: the figures behind the dashboard, the JSON
status lines and the Prometheus metrics (engine/obs/dashboard.py, engine/obs/metrics.py).

`Monitor.snapshot()` reads the engine's Stats and timers, adds what only the edge knows
(consumer lag, broker and store health, event-to-action latency, fed in by the run loop)
and returns an immutable `Snapshot`. Rates are taken from the counters over a sliding
window, so nothing in the engine's hot path has to report to the monitor.

Pure apart from the injected clock: no threads, no I/O. Call `snapshot()` from the thread
that runs the engine (it reads the engine's counters); the snapshot it returns may be read
from any thread (the metrics server reads `monitor.latest`).
"""
from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field

from journeyctl.engine.core.events import format_instant, parse_instant
from journeyctl.engine.core.stats import OUTCOMES

FUNNEL = ("entered", "active", *OUTCOMES)
# Upper bounds (seconds) of the latency histogram; the last bucket is +Inf. Wide on purpose: an
# action sent for an event takes milliseconds, one for a timer includes the allowed lateness.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
COMPONENTS = ("broker", "store")


@dataclass(frozen=True)
class Health:
    ok: bool | None        # None: not known yet
    detail: str = ""
    since: float = 0.0     # monitor clock when `ok` last changed


@dataclass(frozen=True)
class Latency:
    """Event-to-action latency. p50/p99 from the recent samples (the last `window` seconds, at most
    `reservoir` of them); count, total and buckets since the start (for a Prometheus histogram)."""

    p50: float | None = None
    p99: float | None = None
    recent: int = 0                       # samples behind p50/p99
    count: int = 0
    total: float = 0.0
    buckets: tuple = ()                   # ((upper bound, cumulative count), ...), +Inf last


@dataclass(frozen=True)
class Snapshot:
    at: float                             # monitor clock (seconds)
    uptime: float
    events: int                           # applied by the engine (restored counts included)
    duplicates: int
    actions: int                          # produced by the engine, every status
    events_per_s: float                   # events + duplicates, over the rate window
    actions_per_s: float
    funnel: dict                          # journey -> {entered, active, converted, ..., blocked}
    actions_by: dict                      # (journey, channel, status) -> n
    lag: dict                             # (topic, partition) -> records not yet read
    lag_known: bool                       # False: the broker did not answer the last question
    pending_timers: int                   # customers with a timer
    next_due: int | None                  # epoch ms of the earliest timer
    clock: int | None                     # the engine's clock, epoch ms
    dead_letters: dict                    # reason -> n
    latency: Latency
    health: dict = field(default_factory=dict)   # component -> Health
    data_warnings: dict = field(default_factory=dict)  # kind (not_a_number, not_a_time) -> values read as null
    parked_timers: int = 0                # timers parked after an engine error (restored counts included)
    engine_errors: int = 0                # engine_error dead letters: records, and parked timers
    partitions_owned: int | None = None   # None: not a live run
    recreated_partitions: int = 0         # found holding other records than the store said: read again

    @property
    def total_lag(self) -> int | None:
        return sum(self.lag.values()) if self.lag_known else None

    @property
    def journeys(self) -> list[str]:
        return sorted(self.funnel)

    def by_channel_status(self) -> dict:
        """(channel, status) -> n, summed over journeys."""
        out: dict = {}
        for (_, channel, status), n in self.actions_by.items():
            out[(channel, status)] = out.get((channel, status), 0) + n
        return out

    def to_dict(self) -> dict:
        """JSON-ready: the same figures, tuple keys spelled out."""
        lat = self.latency
        return {
            "uptime_s": round(self.uptime, 1),
            "events": self.events, "duplicates": self.duplicates, "actions": self.actions,
            "events_per_s": round(self.events_per_s, 1), "actions_per_s": round(self.actions_per_s, 1),
            "funnel": {j: dict(self.funnel[j]) for j in self.journeys},
            "actions_by": [{"journey": j, "channel": c, "status": s, "n": n}
                           for (j, c, s), n in sorted(self.actions_by.items())],
            "lag": ([{"topic": t, "partition": p, "lag": n} for (t, p), n in sorted(self.lag.items())]
                    if self.lag_known else None),
            "total_lag": self.total_lag,
            "pending_timers": self.pending_timers,
            "next_due": _iso(self.next_due), "clock": _iso(self.clock),
            "dead_letters": dict(sorted(self.dead_letters.items())),
            "latency": {"p50_s": _round(lat.p50), "p99_s": _round(lat.p99), "count": lat.count},
            "health": {c: {"ok": h.ok, "detail": h.detail} for c, h in sorted(self.health.items())},
            "data_warnings": dict(self.data_warnings),
            "parked_timers": self.parked_timers, "engine_errors": self.engine_errors,
            "partitions_owned": self.partitions_owned, "recreated_partitions": self.recreated_partitions,
        }


class Monitor:
    """Turns the engine's state and the edge's facts into a Snapshot.

    `rate_window` (s): events/s and actions/s are averaged over it. `latency_window` (s) and
    `reservoir`: p50/p99 come from at most `reservoir` samples of the last `latency_window`.
    """

    def __init__(self, engine, clock=time.monotonic, *, rate_window: float = 10.0,
                 latency_window: float = 60.0, reservoir: int = 8192, buckets=LATENCY_BUCKETS):
        self.engine = engine
        self.clock = clock
        self.rate_window = rate_window
        self.latency_window = latency_window
        self.buckets = tuple(sorted(buckets))
        self.started = clock()
        self._lag: dict = {}
        self._lag_known = True
        self._health: dict = {c: Health(None, "", self.started) for c in COMPONENTS}
        self._lock = threading.Lock()      # latency may be observed from a producer callback thread
        self._samples: deque = deque(maxlen=reservoir)   # (at, seconds)
        self._bucket_counts = [0] * (len(self.buckets) + 1)
        self._lat_count = 0
        self._lat_sum = 0.0
        events, actions = self._counts()
        self._history: deque = deque([(self.started, events, actions)])
        self._live: dict = {}
        self.latest: Snapshot | None = None

    # ---- what the caller knows -------------------------------------------------------------

    def set_lag(self, lag: dict | None) -> None:
        """{(topic, partition): records not yet read}, replacing the last; None when the broker did
        not answer (the lag is then unknown, not zero)."""
        if lag is None:
            self._lag_known = False
        else:
            self._lag = {(str(t), int(p)): max(0, int(n)) for (t, p), n in lag.items()}
            self._lag_known = True

    def set_live(self, *, partitions_owned: int, recreated_partitions: int) -> None:
        """What only the run loop knows: how many partitions this worker owns, how many were found recreated."""
        self._live = {"partitions_owned": int(partitions_owned), "recreated_partitions": int(recreated_partitions)}

    def set_health(self, component: str, ok: bool, detail: str = "") -> None:
        old = self._health.get(component)
        since = old.since if old is not None and old.ok == ok else self.clock()
        self._health[component] = Health(bool(ok), str(detail), since)

    def observe_latency(self, seconds: float) -> None:
        """One action handed to Kafka, `seconds` after its event arrived (or its timer fell due)."""
        s = max(0.0, float(seconds))
        i = bisect_left(self.buckets, s)
        with self._lock:
            self._samples.append((self.clock(), s))
            self._bucket_counts[i] += 1
            self._lat_count += 1
            self._lat_sum += s

    def observe_actions(self, actions: list, handed_at: float, arrived_at: float | None = None) -> None:
        """Latency of each action dict handed to Kafka at `handed_at` (epoch seconds): from
        `arrived_at`, when the event that caused it was read, or, when it is None (an action fired
        by a timer), from the action's `due_at`. An event-driven batch may also fire timers that
        fell due long ago; for those the later of the two instants counts."""
        for a in actions:
            due = parse_instant(a["due_at"]) / 1000
            start = due if arrived_at is None else max(arrived_at, due)
            self.observe_latency(handed_at - start)

    # ---- the snapshot -------------------------------------------------------------------------

    def _counts(self) -> tuple[int, int]:
        st = self.engine.stats
        return st.events + st.unused + st.duplicates, sum(st.actions.values())

    def snapshot(self) -> Snapshot:
        now = self.clock()
        engine = self.engine
        st = engine.stats
        events_in, actions = self._counts()

        hist = self._history
        hist.append((now, events_in, actions))
        while len(hist) > 2 and hist[1][0] <= now - self.rate_window:
            hist.popleft()   # keep one sample at or before the window's start
        t0, e0, a0 = hist[0]
        span = max(now - t0, 1.0)   # no wild figures from a snapshot taken just after the start
        ev_rate = (events_in - e0) / span
        ac_rate = (actions - a0) / span

        funnel = {}
        for j in sorted(set(getattr(engine, "current", {})) | set(st.journeys)):
            c = st.journeys.get(j)
            c = dict(c) if c is not None else {}
            ended = sum(c.get(o, 0) for o in OUTCOMES)
            f = {"entered": c.get("entered", 0), "active": c.get("entered", 0) - ended}
            f.update({o: c.get(o, 0) for o in OUTCOMES})
            f["blocked"] = c.get("blocked", 0)
            funnel[j] = f

        snap = Snapshot(
            at=now, uptime=now - self.started,
            events=st.events, duplicates=st.duplicates, actions=actions,
            events_per_s=max(0.0, ev_rate), actions_per_s=max(0.0, ac_rate),
            funnel=funnel, actions_by=dict(st.actions),
            lag=dict(self._lag), lag_known=self._lag_known,
            pending_timers=engine.pending_timers(), next_due=engine.next_due(), clock=engine.clock,
            dead_letters=dict(st.dead_letters),
            latency=self._latency(now),
            health=dict(self._health),
            data_warnings=data_warnings(engine),
            parked_timers=st.parked, engine_errors=st.dead_letters.get("engine_error", 0),
            **self._live,
        )
        self.latest = snap
        return snap

    def _latency(self, now: float) -> Latency:
        with self._lock:
            samples = self._samples
            while samples and samples[0][0] < now - self.latency_window:
                samples.popleft()
            recent = sorted(s for _, s in samples)
            counts = list(self._bucket_counts)
            count, total = self._lat_count, self._lat_sum
        cumulative, running = [], 0
        for bound, n in zip((*self.buckets, float("inf")), counts):
            running += n
            cumulative.append((bound, running))
        return Latency(p50=_quantile(recent, 0.50), p99=_quantile(recent, 0.99), recent=len(recent),
                       count=count, total=total, buckets=tuple(cumulative))


def _quantile(ordered: list, q: float) -> float | None:
    """Nearest rank: the smallest sample with at least q of them at or below it."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered) - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def _iso(ms: int | None) -> str | None:
    return format_instant(ms) if ms is not None else None


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


__all__ = ["Monitor", "Snapshot", "Latency", "Health", "FUNNEL", "LATENCY_BUCKETS"]


def data_warnings(engine) -> dict:
    """Values the engine read as null because they were not what was needed, by kind: sum/min/max/avg
    skip what is not a number, a time is read as null when the text is not one (engine/core/instants.py)."""
    aggregates = getattr(engine, "aggregates", None)
    if aggregates is None:
        return {}
    return {"not_a_number": aggregates.warnings.ignored, "not_a_time": aggregates.warnings.not_times}
