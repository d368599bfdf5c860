"""The live run loop: Kafka in, the engine, one transaction per batch, Kafka out.

    poll a batch ─► parse_event ─► engine.process ─► actions
         │              └─ bad or late ─► dead letter
         ▼
    ONE state-store transaction: customers, next offsets, clock, outbox rows
         ▼
    produce the rows (acks=all, idempotent) ─► acknowledged ids deleted in the next transaction

Start: every outbox row left by an earlier run is produced (and acknowledged) before
any input is read. Partition assignment: each partition starts at the offset in the
state store, not the group's; offsets also go to the group about once a second so
lag shows in the usual tools. See engine/live/outbox.py for why this loses nothing.

Is it the same partition? A topic deleted and created again, or a broker that came back
empty and was given new events, holds other records at the same offsets, and reading on
from the offset reached would skip the new ones unseen. So a partition is started one
record before its stored offset, and that record must be the one read there before (its
fingerprint is stored with the offset); the same check is made again before reading on
whenever the broker may have gone and come back unseen: after it was unreachable, and
after a gap of AWAY_S between two polls (the process stopped, the machine stalled). A
topic whose id (Kafka 2.8+, tansu) changes is another topic at once. Any of these: the
partition is read again from its first offset, with a note and a count (`recreated`);
see `_verify`, `_check_starts`, `_trusted`.

Time: each partition is a lane of the engine with its own stream time, stored with its
offset (engine/core/engine.py): an event is late only against its own partition, and
timers fire at the earliest stream time of the partitions (the watermark), so a backlog
read from several partitions at different speeds is not judged late. An event stamped
later than the wall clock plus `max_clock_skew` is dead-lettered `future` and moves
nothing (a producer with a wrong clock must not move time for everybody). The wall
clock moves a partition only when the broker has answered, within the last second,
that the partition holds nothing this consumer has not read: asked at wall time T,
the partition may move to T, never further, so a broker that is down or frozen moves
nothing, and neither does a backlog (after a restart or an outage) before it is read.
The broker is asked once a second, so a due timer fires within about a second of its
due time plus the allowed lateness. With event time alone (`wall_clock` False) a
partition known to be caught up stops holding the others back instead.

Several workers (`--state postgresql://...`, LiveSettings.shared): workers in one consumer
group share the store; Kafka's partitions decide who handles which customer. A customer's
partition is the producers' default partitioner (murmur2) of its id over the events topic's
partition count, stored with the customer, so a worker loads the timers of exactly the
partitions it owns. The engine starts owning no timer; on assignment the worker reads the
stored offsets of the new partitions again (other workers moved them), forgets its cache,
adopts the stored timers of those partitions and produces what other workers left in the
outbox for them. On revocation (kafka-python calls back while this thread waits in poll, so
the batch in hand is consistent) it commits that batch with its offsets, flushes what is
pending for up to a second, releases the customers of the partitions it no longer owns and
forgets its cache. Lost partitions (our session expired: another worker has them already)
are let go WITHOUT committing: the batch in hand is rolled back and its new owner reads it
again. A timer fires only on the worker owning its customer's partition, so none fires
twice under different ids, and one whose worker died is adopted with its partition. See
docs/scaling.md.

The broker away, at start or later: every call is retried with backoff and one
status line says so; committed work waits in the outbox. Stop (SIGTERM/SIGINT):
the batch in hand is committed, the producer flushed, the group left.

The broker is reached through a seam (engine/live/edge.py): `Live` is handed a Cluster, Kafka's
for `journeyctl run`, an in-memory one (engine/testing/memory_cluster.py) for its tests.

No bug of ours stops a partition. An unexpected exception while applying a record, or while
firing a timer (the engine's TimerFailed names it), costs that record or that timer, never the
rest: the batch in hand is dropped (`_drop_batch`: the store rolled back, the engine's clock,
counts and timers read again from it as a restart would, each partition sought back to where
the batch began reading it), the record is remembered as poisoned and, when read again, becomes
an `engine_error` dead letter; the timer is parked (Engine.parking: it keeps no due time, is
counted, shown by status and inspect, and fires again only after `journeyctl run --retry-parked`).
The traceback goes to the log once per place it comes from, never into a dead letter.
`on_engine_error="stop"` stops instead, as before. A store that keeps nothing (`memory:`) cannot
roll back: there the record is dead-lettered where it failed and whatever it changed stays.

Store faults (engine/store/faults.py): a transient one (a lost connection, a lock) drops the batch
in hand the same way once the store answers again, retried with backoff and one status line; a
persistent one (a full disk, tables gone) stops the loop with a StoreFault in plain words. Nothing
is lost either way: nothing uncommitted was produced, and what was read is read again.
"""
from __future__ import annotations

import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from journeyctl.dsl.durations import format_duration
from journeyctl.engine.core.actions import DUE_AT
from journeyctl.engine.core.engine import TimerFailed
from journeyctl.engine.core.events import BadEvent, format_instant, id_problem, parse_event, show_instant
from journeyctl.engine.core.store import OutboxRow, Part, Position
from journeyctl.engine.live.edge import Cluster, EdgeError, EventSource, ensure_topics
from journeyctl.engine.live.outbox import (Outbox, action_message, dead_letter_message, fingerprint,
                                           profile_message, timer_dead_letter)
from journeyctl.engine.replay.loop import tune_gc
from journeyctl.engine.store.faults import StoreFault, store_fault


class Stopped(Exception):
    """Stop was asked for while waiting for the broker."""


class _Redo(Exception):
    """An engine error was noted (a poisoned record, a timer to park): drop the batch and read it again."""


ASK_BROKER_S = 1.0  # how often the broker is asked whether each partition is caught up
AWAY_S = 3.0        # a gap between two polls longer than this (yet shorter than the group session):
                    # the broker may have gone and come back unseen


@dataclass
class LiveSettings:
    events_topics: tuple = ("events",)
    actions_topic: str = "journey.actions"
    dead_letter_topic: str = "journey.dead-letter"
    profiles_topic: str = "journey.profiles"
    group_id: str = "journeyctl"
    create_topics: bool = False
    partitions: int = 1             # of topics it creates
    wall_clock: bool = True         # False: event time alone moves the clock (history through Kafka)
    max_clock_skew: int | None = 300_000  # ms an event may be stamped after the wall clock (None: no limit)
    max_records: int = 2_000        # per poll
    batch_events: int = 10_000      # per transaction, at most
    batch_ms: int = 100             # a transaction waits no longer than this for more input (only
                                    # with a backlog: it commits as soon as a poll finds less than max)
    poll_ms: int = 100
    fetch_wait_ms: int = 100        # see kafka_edge.Source
    tick_s: float = 0.25
    ask_broker_s: float = ASK_BROKER_S
    status_s: float = 5.0
    max_unacked: int = 50_000       # rows sent or waiting to be; past this, reading pauses
    stop_s: float = 8.0             # flush and leave within this on stop
    max_event_bytes: int = 1_000_000
    shared: bool = False            # a store shared by several workers: own only assigned partitions
    on_engine_error: str = "dead-letter"  # or "stop": an unexpected exception stops the loop (exit 1)
    no_partition_s: float = 6.0     # owning no partition longer than this (the group's session, as
                                    # kafka_edge.Source asks for) is reported


@dataclass
class Batch:
    """What the loop has read and made since its last commit."""
    actions: list = field(default_factory=list)         # dicts, fired by events (and timers due with them)
    timer_actions: list = field(default_factory=list)   # dicts, fired by the wall clock
    messages: list = field(default_factory=list)        # (key, value) of each action, in the order above
    timer_messages: list = field(default_factory=list)
    profiles: list = field(default_factory=list)        # (key, value) of profile sync records
    dead: list = field(default_factory=list)
    offsets: dict = field(default_factory=dict)
    fingerprints: dict = field(default_factory=dict)   # of the last record read from each partition
    starts: dict = field(default_factory=dict)          # where each partition is read again if it is dropped
    checks: dict = field(default_factory=dict)          # the start checks (Live._to_check) it consumed
    poisoned: list = field(default_factory=list)        # keys of poisoned records dead-lettered in it
    parked: list = field(default_factory=list)          # Engine.parking keys of the timers it parked
    n: int = 0
    arrived: float | None = None                         # epoch s the first record of it was read

    def empty(self) -> bool:
        return not (self.n or self.actions or self.timer_actions or self.dead or self.profiles)


@dataclass
class Counters:
    events: int = 0          # records read
    actions: int = 0
    dead_letters: int = 0
    delivered: int = 0
    lag: int | None = None
    broker: str = "connecting"
    store: str = "ok"
    engine_errors: int = 0   # records dead-lettered and timers parked as engine_error by this run


class RunReport(Protocol):
    """Where the loop's output goes: the terminal, the dashboard or JSON log with its monitor, a test."""

    def actions(self, actions: list[dict]) -> None: ...
    # the actions of a committed batch, as handed to the producer: `arrived_at` (time.time()) when
    # the records that made them arrived, None for those fired by timers (a monitor's latencies)
    def handed(self, actions: list[dict], arrived_at: float | None, handed_at: float) -> None: ...
    def status(self, live: Live) -> None: ...
    def note(self, text: str) -> None: ...


class Live:
    """Runs until stop(), writing what it does to `report`."""

    def __init__(self, engine, outbox: Outbox, cluster: Cluster, settings: LiveSettings, report: RunReport):
        self.engine = engine
        self.outbox = outbox
        self.cluster = cluster
        self.settings = settings
        self.report = report
        self.counts = Counters()
        self.stopping = False
        self.source: EventSource | None = None
        self.sink = cluster.sink()
        self._unsent: deque[OutboxRow] = deque()  # rows committed but not handed to the producer
        self._sent: dict[int, OutboxRow] = {}     # row id -> row, handed to the producer, not yet acknowledged
        self._acked: list = []             # ids to delete in the next transaction
        self._retry_at = 0.0
        self._retry_delay = 0.5
        self._group_offsets: dict = {}
        self._group_commit_at = 0.0
        self._next_tick = 0.0
        self._next_check = 0.0
        self._status_at = time.monotonic() + settings.status_s
        self._note_at: dict = {}
        self._paused = False
        self._to_check: dict = {}
        self._batch = Batch()
        self.lags: dict | None = None      # {(topic, partition): lag} as of the last check
        self.owned: set = set()            # (topic, partition) assigned to this worker
        self.partition_count: int | None = None
        self._part_cache: dict = {}
        self._unkeyed_seen = 0
        self.rebalances = 0
        self.recreated = 0                 # partitions found holding other records than the store's offsets say
        self._topic_ids: dict = {}         # topic -> the id the broker gave it when first seen
        self._polled_at = time.monotonic()
        self._assigned = False             # partitions were assigned since the last poll (they are checked)
        # Each partition is a lane with its own stream time, opened on assignment; a store written before
        # partitions had stored stream times lends them the one clock it kept.
        self._stored_clock = engine.clock
        engine.close_lane(None)
        self._in_callback = False          # inside a rebalance callback: the consumer must not be called
        self.reloader = None               # optional: .poll(live) once a turn (journey reload)
        self._poisoned: dict = {}          # (topic, partition, offset) -> why: records to dead-letter when read
        self._traced: set = set()          # where the engine errors shown with a traceback came from
        self._store_delay = 0.5            # the next wait after a transient store fault
        self.unowned_since: float | None = None  # since when this worker owns no partition (from the join on)
        if settings.shared:
            # the engine adopted every stored timer: this worker owns none until the group assigns some
            engine.release_where(lambda cid: False)
            engine.store.partition_of = self.partition_of

    def stop(self) -> None:
        self.stopping = True

    # ---- the whole run -------------------------------------------------------------------

    def run(self) -> None:
        """Raises EdgeError for what a person must fix (a refused login, a missing topic), StoreFault for a
        store a person must repair (a full disk, tables gone)."""
        try:
            self.start()
            while not self.stopping:
                self.step()
        except Stopped:
            pass
        finally:
            self.shutdown()

    def start(self) -> None:
        """Topics checked, what the last run left in the outbox delivered, the group joined."""
        self._retry("checking topics", self._check_topics)
        self._guarded(self._deliver_backlog)
        self.source = self._retry("joining the consumer group", self._subscribe)
        self.counts.broker = "ok"
        tune_gc()
        self._polled_at = self.unowned_since = time.monotonic()

    def step(self) -> None:
        """One turn: poll, apply, tick, commit, produce. An engine error or a transient store fault drops
        the batch in hand (it is read again); a persistent store fault raises StoreFault."""
        self._guarded(self._step)

    def _guarded(self, work) -> None:
        try:
            work()
        except _Redo:
            self._guarded(self._drop_batch)  # (the store may fail while the batch is dropped, too)
        except Exception as e:
            fault = store_fault(e)
            if fault is None:
                raise
            self._store_failed(fault)

    def _retry(self, doing: str, fn):
        delay = 0.5
        while not self.stopping:
            try:
                return fn()
            except EdgeError as e:
                if not e.retry:
                    raise
                if self.stopping:
                    break
                self.counts.broker = "unreachable"
                self.report.note(f"{e}; trying again in {delay:g} s")
                self._sleep(delay)
                delay = min(delay * 2, 10.0)
        raise Stopped

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end:
            time.sleep(min(0.05, end - time.monotonic()))

    def _check_topics(self) -> None:
        s = self.settings
        admin = self.cluster.admin()
        try:
            wanted = [*s.events_topics, s.actions_topic, s.dead_letter_topic, s.profiles_topic]
            ensure_topics(admin, wanted, s.create_topics, s.partitions, self.cluster.address, self.report.note)
            if s.shared:
                counts = {t: admin.partitions(t) for t in s.events_topics}
                self.partition_count = counts[s.events_topics[0]]
                if len(set(counts.values())) > 1:
                    raise EdgeError("with a shared state store every events topic needs the same number of "
                                    "partitions (customers are placed by partition number): " +
                                    ", ".join(f"{t} has {n}" for t, n in counts.items()))
        finally:
            admin.close()

    def _subscribe(self) -> EventSource:
        return self.cluster.source(self.settings.events_topics, self.settings.group_id, self._on_assigned,
                                   max_records=self.settings.max_records, fetch_wait_ms=self.settings.fetch_wait_ms,
                                   on_revoked=self._on_revoked, on_lost=self._on_lost)

    def partition_of(self, customer_id: str) -> int | None:
        """The events partition a customer's events land on when keyed by its id (murmur2)."""
        p = self._part_cache.get(customer_id)
        if p is None:
            if self.partition_count is None:
                return None
            if len(self._part_cache) > 500_000:
                self._part_cache.clear()
            p = self._part_cache[customer_id] = self.cluster.partition_for(customer_id.encode(),
                                                                           self.partition_count)
        return p

    # ---- start: what the last run left undelivered goes first --------------------------------

    def _deliver_backlog(self) -> None:
        after = 0
        total = 0
        while not self.stopping:
            rows = self.outbox.undelivered(after, 10_000)
            if not rows:
                break
            after = rows[-1].id
            self._unsent.extend(rows)
            total += len(rows)
            while (self._unsent or self._sent) and not self.stopping:
                self._pump()
                self.sink.flush(1.0)
                self._settle()
                if self._acked:
                    self.outbox.delivered(self._acked)
                    self.outbox.commit()
                    self._acked = []
                if self._unsent and time.monotonic() < self._retry_at:
                    self._sleep(self._retry_at - time.monotonic())
        if total and not self.stopping:
            self.report.note(f"delivered {total} message{'s' if total != 1 else ''} left in the outbox by the last run")

    # ---- one turn of the loop ----------------------------------------------------------------

    def _step(self) -> None:
        s = self.settings
        self._settle()
        self._pump()
        self._backpressure()
        if self.reloader is not None:
            self.reloader.poll(self)
        started = time.monotonic()
        timeout = s.poll_ms
        while True:
            try:
                got = self.source.poll(timeout)
            except EdgeError as e:
                if not e.retry:
                    raise
                self._note_once("poll", f"{e}; retrying")
                self._sleep(0.5)
                got = {}
            batch = self._batch  # a rebalance inside poll() may have committed the last one
            got = self._trusted(got, batch)
            if got:
                if batch.arrived is None:
                    batch.arrived = time.time()
                self._apply(got, batch)
            if (not got or sum(map(len, got.values())) < s.max_records or batch.n >= s.batch_events
                    or (time.monotonic() - started) * 1000 >= s.batch_ms or self.stopping):
                break
            timeout = 0
        if self._to_check:
            self._check_starts()
        now = time.monotonic()
        if now >= self._next_tick:
            self._next_tick = now + s.tick_s
            self._tick(now)
        if not self._batch.empty() or self._acked:
            self._commit_batch()
        self._check_owned(now)
        if now >= self._status_at:
            self._status_at = now + s.status_s
            self.report.status(self)

    def _apply(self, got: dict, batch: Batch) -> int:
        """Run every record through the engine; bad ones become dead letters. Returns how many."""
        shared = self.settings.shared
        skew = self.settings.max_clock_skew
        horizon = None if skew is None else int(time.time() * 1000) + skew
        for part, records in got.items():  # before anything can fail: where to read again if it is dropped
            batch.starts.setdefault(part, records[0].offset)
            if part in self._to_check:
                batch.checks.setdefault(part, self._to_check[part])
        # Events are keyed by customer id: read the batch's customers from the store in one go.
        self.engine.store.prefetch([k for records in got.values() for r in records if r.key
                                    and id_problem(k := r.key.decode("utf-8", "replace")) is None])
        n = 0
        for part, records in got.items():
            if shared and part not in self.owned:
                continue  # fetched before a rebalance took the partition away: its new owner reads it
            if self._to_check:
                check = self._to_check.pop(part, None)
                if check is not None:
                    records = self._verify(part, *check, records)
                    if not records:
                        continue
            self.engine.reading(part)
            self._apply_records(part, records, horizon, batch)
            n += len(records)
            last = records[-1]
            batch.offsets[part] = last.offset + 1
            batch.fingerprints[part] = fingerprint(last.key, last.value)
        batch.n += n
        return n

    def _apply_records(self, part, records: list, horizon: int | None, batch: Batch) -> None:
        engine = self.engine
        process = engine.process
        max_bytes = self.settings.max_event_bytes
        skew = self.settings.max_clock_skew
        check_keys = self.settings.shared and (self.partition_count or 1) > 1
        poisoned = self._poisoned
        dead = batch.dead
        topic, partition = part
        for r in records:
            if poisoned and (why := poisoned.get((topic, partition, r.offset))) is not None:
                batch.poisoned.append((topic, partition, r.offset))
                engine.stats.dead_letter("engine_error", engine.clock)
                dead.append(dead_letter_message("engine_error", why, topic, partition, r.offset, r.key, r.value))
                continue
            ev = None
            try:
                if r.value is None:
                    raise BadEvent("null_value", "the record has no value (a tombstone); an event is a JSON object")
                ev = parse_event(r.value, max_bytes=max_bytes)
                if horizon is not None and ev.time > horizon:  # never applied: it would move the clock
                    raise BadEvent("future", f"stamped {format_instant(ev.time)}, more than the allowed clock "
                                             f"skew ({format_duration(skew)}) after the wall clock at "
                                             f"{format_instant(horizon - skew)}")
                if check_keys and self.partition_of(ev.customer_id) != partition:
                    self._unkeyed(ev.customer_id, topic, partition)
                out = process(ev, part)
                if out or engine.profile_records or engine.parked:
                    self._collect(out, batch.actions, batch.messages, batch, ev.customer_id)
            except BadEvent as e:
                if e.reason != "late":  # the engine counts its own
                    engine.stats.dead_letter(e.reason, engine.clock)
                dead.append(dead_letter_message(e.reason, e.detail, topic, partition, r.offset, r.key, r.value))
            except Exception as e:  # noqa: BLE001 - a bug of ours costs this record (or a timer), never the rest
                self._engine_failed(e, batch, (part, r, ev))

    def _collect(self, actions: list, dicts: list, messages: list, batch: Batch, customer: str | None) -> None:
        """Write the actions and profile records the engine just made as messages now, while it is known
        what made them: one that cannot be written is an engine error of the record that made it, or
        (another customer's, or made by a tick: `customer` None) of the timer that made it."""
        for a in actions:
            d = a.as_dict()
            try:
                messages.append(action_message(d))
            except Exception as e:
                if d["customer_id"] == customer:
                    raise
                raise TimerFailed(d["customer_id"], d["journey"], d["instance_id"], a[DUE_AT]) from e
            dicts.append(d)
        engine = self.engine
        if engine.profile_records:
            for rec in engine.drain_profile_records():
                try:
                    batch.profiles.append(profile_message(rec))
                except Exception as e:
                    if rec["customer_id"] == customer:
                        raise
                    raise TimerFailed(rec["customer_id"], None, rec["cause"]) from e
        if engine.parked:
            for p in engine.parked:
                engine.stats.dead_letter("engine_error")
                batch.dead.append(timer_dead_letter(p.customer_id, p.journey, p.instance_id, show_instant(p.due),
                                                    p.error))
                batch.parked += [(p.customer_id, p.journey, p.instance_id), (p.customer_id, None, p.instance_id)]
            engine.parked = []

    # ---- engine errors --------------------------------------------------------------------------

    def _engine_failed(self, e: Exception, batch: Batch, record=None) -> None:
        """An exception that is no BadEvent while applying a record (`record`: (part, record, event or
        None)) or firing timers. A store fault is the store's (raised on); anything else is an engine
        error: shown with its traceback once, noted as a poisoned record or a timer to park, and the
        batch dropped to be read again (raises _Redo), unless the store cannot roll back."""
        fault = store_fault(e)
        if fault is not None:
            raise fault from e
        if self.settings.on_engine_error == "stop":
            raise e
        cause = e.__cause__ if isinstance(e, TimerFailed) and e.__cause__ is not None else e
        why = f"{type(cause).__name__}: {cause}"[:1000]
        if isinstance(e, TimerFailed):
            where = f"firing a timer: {e}"
        else:
            (topic, partition), r, ev = record
            who = f", customer {ev.customer_id!r}, event {ev.name!r}" if ev is not None else ""
            where = f"applying {topic}[{partition}] offset {r.offset}{who}"
        self.counts.engine_errors += 1
        fate = ("the timer is parked (journeyctl status lists it; journeyctl run --retry-parked after a fix)"
                if isinstance(e, TimerFailed) else
                f"the event goes to the dead-letter topic {self.settings.dead_letter_topic} as engine_error")
        self._show_engine_error(cause, f"engine error while {where}: {why}", fate)
        if isinstance(e, TimerFailed):
            self.engine.parking[e.key] = why
        else:
            self._poisoned[(record[0][0], record[0][1], record[1].offset)] = why
        if self.outbox.durable:
            raise _Redo
        # A store that keeps nothing cannot roll back: the record or timer is dead-lettered where it
        # failed, and what it changed before failing stays.
        if isinstance(e, TimerFailed):
            self.engine.parking.pop(e.key, None)
            self.engine.stats.dead_letter("engine_error")
            batch.dead.append(timer_dead_letter(*e.key, show_instant(e.due) if e.due is not None else None, why))
        else:
            (topic, partition), r, _ = record
            self._poisoned.pop((topic, partition, r.offset), None)
            self.engine.stats.dead_letter("engine_error")
            batch.dead.append(dead_letter_message("engine_error", why, topic, partition, r.offset, r.key, r.value))

    def _show_engine_error(self, cause: BaseException, text: str, fate: str) -> None:
        """The traceback once per place it comes from (the innermost frame), then one line now and then."""
        frames = traceback.extract_tb(cause.__traceback__)
        place = (type(cause).__name__, frames[-1].filename, frames[-1].lineno) if frames else (type(cause).__name__,)
        if place in self._traced:
            self._note_once("engine_error", f"{text} ({self.counts.engine_errors} engine errors so far; the "
                                            "traceback was shown the first time)", every=5.0)
            return
        self._traced.add(place)
        shown = "".join(traceback.format_exception(cause)).rstrip()
        self.report.note(f"{text}. {fate[0].upper()}{fate[1:]} and the rest goes on; please report this, with "
                         "the traceback:\n" + shown)

    def _drop_batch(self, stored: dict | None = None) -> None:
        """Forget the batch in hand: roll the store back, read the engine's clock, counts and timers again
        from it as a restart would, and read each partition again from where the batch began on it; or, where
        `stored` (the positions read from the store again after a reconnect) is past that, from there: the
        batch was committed, though the answer to its COMMIT was lost with the connection."""
        batch, self._batch = self._batch, Batch()
        self.outbox.rollback()
        self._rebuild()
        for part, offset in batch.starts.items():
            if part not in self.owned:
                continue
            position = (stored or {}).get(part)
            if position is not None and position.offset > offset:
                self.source.seek(part, self._start_at(part, position))
                continue
            self.source.seek(part, offset)
            if part in batch.checks:
                self._to_check[part] = batch.checks[part]

    def _start_at(self, part, position: Position) -> int:
        """Where to read a partition from its stored position: the record read last, when its fingerprint is
        stored, to compare it (`_check_starts`), else the next."""
        offset, last = position.offset, position.fingerprint
        verify = last is not None and offset > 0
        self._to_check[part] = (offset, last if verify else None)
        return offset - 1 if verify else offset

    def _rebuild(self) -> None:
        """The engine's view of the store after a rollback, as a restart (and an assignment) reads it."""
        engine = self.engine
        clock, stats = self.outbox.committed_engine()
        store = engine.store
        if self.settings.shared:
            numbers = {p for _, p in self.owned}
            timers = list(store.timers(partitions=numbers)) if numbers else []
        else:
            timers = store.timers()
        engine.reopen(clock if clock is not None else self._stored_clock, stats, timers)
        stored = self.outbox.positions()
        for part in sorted(self.owned):
            self._open_lane(part, stored)

    def _open_lane(self, part, stored: dict[Part, Position]) -> Position | None:
        """Open the partition's lane at its stored stream time; its stored position, or None."""
        if part not in stored:
            self.engine.open_lane(part, None)
            return None
        position = stored[part]
        clock = position.clock if position.clock is not None else self._stored_clock
        self.engine.open_lane(part, clock)
        self._future_clock(part, clock)
        return position

    # ---- store faults ----------------------------------------------------------------------------

    def _store_failed(self, fault: StoreFault) -> None:
        """A transient fault: wait (backoff, one status line), reconnect, drop the batch in hand. A
        persistent one is raised for a person to repair."""
        if not fault.transient:
            raise fault
        self.counts.store = "failing"
        delay = self._store_delay
        while True:
            self._note_once("store", f"the state store failed: {fault}; nothing is lost: what it did not commit "
                                     f"is read again; trying again in {delay:g} s")
            self._sleep(delay)
            if self.stopping:
                raise Stopped
            try:
                self.outbox.reconnect()
                self._drop_batch(self.outbox.refresh_positions())  # (a commit may have been made unseen)
                self._unseen_rows()
                self._reassign()
                break
            except Exception as e:  # noqa: BLE001
                again = store_fault(e)
                if again is None or not again.transient:
                    raise again or e
                fault, delay = again, min(delay * 2, 10.0)
        self._store_delay = min(delay * 2, 10.0)  # until a commit goes through (_commit_batch)

    def _unseen_rows(self) -> None:
        """After a reconnect: this worker's outbox rows that a commit made though its answer was lost, which
        nothing here knows of; they go out now, where they would have waited for a restart."""
        known = {r.id for r in self._unsent} | set(self._sent) | set(self._acked)
        found, after = [], 0
        while rows := self.outbox.undelivered(after, 10_000):
            after = rows[-1].id
            found += [r for r in rows if r.id not in known and self.outbox.own(r.id)]
        if found:
            self._unsent.extend(found)
            self.report.note(f"the state store's last commit was made, though its answer was lost with the "
                             f"connection: its {len(found)} message{'s' if len(found) != 1 else ''} go out now")

    def _reassign(self) -> None:
        """After a store fault inside a rebalance callback: finish what it left undone."""
        if self.source is None:
            return
        assigned = set(self.source.assignment())
        gone = self.owned - assigned
        if gone:
            self._let_go(sorted(gone), "revoked")
        new = sorted(assigned - self.owned)
        if new:
            for part, offset in self._on_assigned(new).items():
                self.source.seek(part, offset)

    # ---- no partition ------------------------------------------------------------------------------

    def _check_owned(self, now: float) -> None:
        if self.owned:
            self.unowned_since = None
            return
        if self.unowned_since is None:
            self.unowned_since = now
        idle = now - self.unowned_since
        if idle > self.settings.no_partition_s:
            self._note_once("unowned", f"this worker has owned no partition for {idle:.0f} s: the group "
                                       f"{self.settings.group_id} assigns it none (more workers than partitions, "
                                       "or a member that left without saying so holds them until its session "
                                       "ends)", every=60.0)

    def unowned_for(self) -> float | None:
        """Seconds this worker has owned no partition, once that is longer than a group session; else None."""
        if self.owned or self.unowned_since is None:
            return None
        idle = time.monotonic() - self.unowned_since
        return idle if idle > self.settings.no_partition_s else None

    def _trusted(self, got: dict, batch: Batch) -> dict:
        """What a poll gave that can be applied now. Nothing, after a gap long enough for the broker to
        have gone and come back unseen: each partition is then checked again (`_recheck`) and read
        again from where this worker is. Nothing of a topic whose id changed: it was deleted and
        created again, and is read again from its first offset."""
        now = time.monotonic()
        away, self._polled_at = now - self._polled_at, now
        assigned, self._assigned = self._assigned, False  # (a join can hold a poll for seconds)
        # (whether or not this poll gave records: the first poll after a stop often gives none, and the
        # gap must not be forgotten by the time records come)
        if away > AWAY_S and not assigned and self.owned:
            self.report.note(f"this worker read nothing for {away:.0f} s (stopped, or the machine stalled); checking "
                             "that each partition still holds what was read from it before reading on")
            self._recheck(got, batch)
            return {}
        for topic in self.settings.events_topics:
            new = self.source.topic_id(topic)
            if new is None or self._topic_ids.setdefault(topic, new) == new:
                continue
            self._topic_ids[topic] = new
            for part in sorted(p for p in self.owned if p[0] == topic):
                self._to_check.pop(part, None)
                self._recreated(part, f"the broker gives topic {topic} another id than before", self._rewind(part))
            got = {part: records for part, records in got.items() if part[0] != topic}
        return got

    def _recheck(self, got: dict, batch: Batch) -> None:
        """Before reading on, compare the record each partition gave last with what the broker holds
        there now: start each one again at it (`_verify`). `got`: records of a poll left unapplied."""
        committed = self.outbox.positions()
        for part in sorted(self.owned):  # (records fetched for a partition no longer ours are its owner's)
            if part in batch.offsets:
                offset, last = batch.offsets[part], batch.fingerprints.get(part)
            elif part in committed:
                offset, last = committed[part].offset, committed[part].fingerprint
            elif part in got:
                offset, last = got[part][0].offset, None
            else:
                continue  # nothing read from it yet: it starts where it is
            verify = last is not None and offset > 0
            self.source.seek(part, offset - 1 if verify else offset)
            self._to_check[part] = (offset, last if verify else None)

    def _unkeyed(self, customer_id: str, topic: str, partition: int) -> None:
        self._unkeyed_seen += 1
        self._note_once("unkeyed", f"{topic}[{partition}]: an event of customer {customer_id!r} belongs on partition "
                                   f"{self.partition_of(customer_id)} by its id ({self._unkeyed_seen} so far): the "
                                   "input is not keyed by customer id, so with several workers two of them may "
                                   "handle one customer; re-key it upstream (docs/scaling.md)", every=60.0)

    def _tick(self, now: float) -> None:
        """Ask the broker which partitions hold nothing unread; those move on to the wall clock as of
        the question (or, with event time alone, stop holding the others back); fire what is due.
        Only the broker's own answer counts: what the last fetches said stays the same while the
        broker is frozen, and wall time read as "caught up" then made every event sent meanwhile late."""
        if now < self._next_check:
            return
        self._next_check = now + self.settings.ask_broker_s
        asked = int(time.time() * 1000)
        lags = self.source.lags()
        self.lags = lags
        self.counts.lag = sum(lags.values()) if lags else None
        self.engine.stats.lag = {"lag": self.counts.lag, "at": asked}  # written with the next commit, for the web UI
        if lags is None:
            if self.source.assignment():
                self._broker_lost()
            return
        self._broker_back()
        caught_up = [part for part, lag in lags.items() if lag == 0]
        batch = self._batch
        try:
            fired = self.engine.tick(asked if self.settings.wall_clock else None, caught_up)
            if fired or self.engine.profile_records or self.engine.parked:
                self._collect(fired, batch.timer_actions, batch.timer_messages, batch, None)
        except Exception as e:  # noqa: BLE001 - the engine names the timer (TimerFailed)
            if not isinstance(e, TimerFailed) and store_fault(e) is None:
                raise  # no record and no timer to blame: a bug outside firing, as before
            self._engine_failed(e, batch)

    def _commit_batch(self) -> None:
        """ONE transaction: the batch's customers, offsets, outbox rows, acknowledged ids, clock."""
        batch = self._batch
        by_events = len(batch.actions)
        actions = batch.actions + batch.timer_actions if batch.timer_actions else batch.actions
        messages = batch.messages + batch.timer_messages if batch.timer_messages else batch.messages
        dead, offsets = batch.dead, batch.offsets
        rows = [*(self.outbox.add_actions(actions, messages) if actions else ()),
                *(self.outbox.add_dead_letters(dead) if dead else ()),
                *(self.outbox.add_profiles(batch.profiles) if batch.profiles else ())]
        self.outbox.consumed(offsets, batch.fingerprints)
        acked = self._acked
        if acked:
            self.outbox.delivered(acked)
        self.outbox.commit(self.engine)
        # committed: from here on nothing of the batch can be dropped
        self._batch = Batch()
        if self.counts.store != "ok":
            self.counts.store, self._store_delay = "ok", 0.5
            self.report.note("the state store answers again; reading on from its last commit")
        self._acked = []
        self.counts.delivered += len(acked)
        for key in batch.poisoned:
            self._poisoned.pop(key, None)
        for key in batch.parked:
            self.engine.parking.pop(key, None)
        self.counts.events += batch.n
        self.counts.actions += len(actions)
        self.counts.dead_letters += len(dead)
        if actions:
            self.report.actions(actions)
        self._unsent.extend(rows)
        self._pump()
        if actions:
            handed = time.time()
            self.report.handed(actions[:by_events], batch.arrived, handed)
            self.report.handed(actions[by_events:], None, handed)
        if offsets:
            self._group_offsets.update(offsets)
        now = time.monotonic()
        if self._group_offsets and now >= self._group_commit_at and not self._in_callback:
            self._group_commit_at = now + 1.0
            self.source.commit(self._group_offsets)
            self._group_offsets = {}

    # ---- producing ---------------------------------------------------------------------------

    def _pump(self) -> None:
        """Hand committed rows to the producer, unless a failure asked for a pause."""
        if not self._unsent or time.monotonic() < self._retry_at:
            return
        send = self.sink.send
        while self._unsent:
            row = self._unsent[0]
            err = send(row.id, row.topic, row.key, row.value)
            if err is not None:
                if err.too_large:
                    self._unsent.popleft()
                    self._unsent.append(self._swap_too_large(row, err))
                    continue
                self._delivery_failed(err)
                return
            self._unsent.popleft()
            self._sent[row.id] = row

    def _settle(self) -> None:
        done, failed = self.sink.settle()
        for row_id in done:
            if self._sent.pop(row_id, None) is not None:
                self._acked.append(row_id)
        if done:
            self._retry_delay = 0.5
        if not failed:
            return
        again = []
        for row_id, err in failed:
            row = self._sent.pop(row_id, None)
            if row is None:
                continue
            again.append(self._swap_too_large(row, err) if err.too_large else row)
        # the producer was rebuilt: whatever it still held must be sent again too
        again.extend(self._sent.pop(i) for i in self.sink.abandon() if i in self._sent)
        self._unsent.extendleft(reversed(sorted(again)))
        errors = [e for _, e in failed if not e.too_large]
        if errors:
            self._delivery_failed(errors[0])

    def _swap_too_large(self, row: OutboxRow, err: EdgeError) -> OutboxRow:
        self.report.note(f"a message for topic {row.topic} is larger than the broker accepts; "
                         f"a too_large dead letter goes to {self.settings.dead_letter_topic} instead")
        new = self.outbox.replace_too_large(row)
        self.outbox.commit()
        return new

    def _delivery_failed(self, err: EdgeError) -> None:
        self._retry_at = time.monotonic() + self._retry_delay
        waiting = len(self._unsent) + len(self._sent)
        self._note_once("deliver", f"{err}; {waiting} message{'s' if waiting != 1 else ''} wait in the outbox, "
                                   f"trying again in {self._retry_delay:g} s")
        self._retry_delay = min(self._retry_delay * 2, 10.0)

    def _backpressure(self) -> None:
        """Stop reading while too much is committed but unacknowledged (the broker refuses our output)."""
        waiting = len(self._unsent) + len(self._sent)
        if waiting > self.settings.max_unacked and not self._paused:
            self._paused = True
            self.source.pause()
            self.report.note(f"{waiting} messages wait for Kafka; reading paused until they are delivered")
        elif self._paused and waiting <= self.settings.max_unacked // 2:
            self._paused = False
            self.source.resume()

    # ---- partitions and the broker's health ----------------------------------------------------

    def _on_assigned(self, parts: list) -> dict:
        """Where each newly assigned partition starts: the offset in the state store. Called from the
        client's network thread while this one waits in poll(); whether the broker still holds that
        offset shows with the first fetch (`_check_starts`, `_apply`). With a shared store: read the
        offsets again, forget the cache, adopt the partitions' timers, produce what other workers
        left in the outbox for them."""
        parts = [tuple(p) for p in parts]
        self._assigned = True
        shared = self.settings.shared
        stored = self.outbox.refresh_positions() if shared else self.outbox.positions()
        starts = {}
        for part in parts:
            position = self._open_lane(part, stored)
            if position is not None:
                starts[part] = self._start_at(part, position)
        self.owned |= set(parts)
        self.unowned_since = None
        if not shared:
            return starts
        self.rebalances += 1
        store = self.engine.store
        if self._batch.empty():
            store.commit()  # nothing of a batch: only versions, which must not wait in an open transaction
        self.outbox.forget_cache()
        numbers = {p for _, p in parts}
        timers = list(store.timers(partitions=numbers)) if numbers else []
        if self._batch.empty():
            store.commit()
        self.engine.adopt(timers)
        owned_numbers = {p for _, p in self.owned}
        pending = {r.id for r in self._unsent} | set(self._sent)
        orphans = [r for r in self.outbox.orphans(
            lambda key: key is None or self.partition_of(key.decode("utf-8", "replace")) in owned_numbers)
            if r.id not in pending]
        self._unsent.extend(orphans)
        self.report.note(f"partitions owned: {shown_parts(self.owned)} (assigned {shown_parts(parts)}; "
                         f"{len(timers)} timers adopted, {len(orphans)} outbox rows of other workers to produce)")
        return starts

    def _future_clock(self, part, clock: int | None) -> None:
        """A stored clock later than the wall clock plus the allowed skew came from an event stamped in the
        future, read before such events were dead-lettered: every event of the partition would be late."""
        skew = self.settings.max_clock_skew
        if clock is not None and skew is not None and clock > time.time() * 1000 + skew:
            self.report.note(f"{part[0]}[{part[1]}]: its stored clock is {format_instant(clock)}, in the future: an "
                             "event stamped in the future moved it, and every event read from it will be late. Stop "
                             "journeyctl and set it back: journeyctl clock --state <this state> --set-back-to now")

    def _on_revoked(self, parts: list) -> None:
        """The group takes partitions away (a rebalance, or our close): they are still ours while this
        runs. Commit the batch in hand, deliver what is pending if it is quick, let go."""
        parts = [tuple(p) for p in parts]
        if not self.settings.shared:  # one worker: every batch is committed before the next poll's end
            self._let_go(parts, "revoked")  # (and a SQLite connection may not be used from this thread)
            return
        self._in_callback = True
        try:
            if not self._batch.empty() or self._acked:
                self._commit_batch()
        finally:
            self._in_callback = False
        if self._unsent or self._sent:
            self._pump()
            self.sink.flush(1.0)
            self._settle()
            self._commit_delivered()
        self._let_go(parts, "revoked")

    def _on_lost(self, parts: list) -> None:
        """Our session expired and the group gave the partitions to others already: what was read and
        not committed must not be committed now. Roll it back; the new owner reads it again."""
        parts = [tuple(p) for p in parts]
        if not self.settings.shared:
            self._let_go(parts, "lost")
            return
        self._let_go(parts, "lost (the session expired; the batch in hand was dropped for their new owner)")
        self._drop_batch()  # (it seeks only the partitions still owned)
        self._group_offsets = {}

    def _let_go(self, parts: list, how: str) -> None:
        if not parts:
            return
        self.owned -= set(parts)
        for p in parts:
            self._to_check.pop(p, None)
            self._group_offsets.pop(p, None)
            self.engine.close_lane(p)
        if not self.settings.shared:
            return
        owned_numbers = {p for _, p in self.owned}
        self.engine.release_where(lambda cid: self.partition_of(cid) in owned_numbers)
        self.outbox.forget_cache()
        self.report.note(f"partitions {how}: {shown_parts(parts)}")

    def _check_starts(self) -> None:
        """A stored offset past the partition's end: the topic was recreated or truncated (a broker that
        lost its data); read it again from its first offset. (Kafka answers a fetch there with an
        out-of-range error and the client goes back to the first offset on its own: `_verify` says so
        when records come.) A partition that ends at the stored offset is caught up: unless the record
        before it is to be compared, nothing will come to check."""
        for part, (stored, last) in list(self._to_check.items()):
            end = self.source.fetched_end(part)
            if end is None:
                continue  # no fetch answered yet
            if stored > end:
                del self._to_check[part]
                self._recreated(part, f"the state store is at offset {stored} but the partition ends at {end}",
                                self._rewind(part))
            elif stored == end and last is None:
                del self._to_check[part]

    def _verify(self, part, stored: int, last: str | None, records: list) -> list:
        """The first records read from a partition since it was assigned: those to apply. With the
        fingerprint of the record read last (`last`), reading started at it: the same record means the
        same partition, and it is skipped (applied already); another record at that offset means another
        log, read again from its start."""
        first = records[0].offset
        if last is not None and first == stored - 1:
            if fingerprint(records[0].key, records[0].value) == last:
                return records[1:]
            self._recreated(part, f"the record at offset {first} is not the one read there before",
                            self._rewind(part))
            return []
        if first > stored:
            self.report.note(f"{part[0]}[{part[1]}]: offsets {stored} to {first - 1} are gone (deleted by retention "
                             f"before they were read); reading from {first}")
        elif first < (stored - 1 if last is not None else stored):  # the client went back to the first offset
            self._recreated(part, f"the state store is at offset {stored} but the partition now starts over at "
                                  f"{first}", first)
        return records

    def _rewind(self, part) -> int:
        """Read the partition again from its first offset (0 when the broker cannot say: the client goes
        to the first offset it holds on its own); returns the offset."""
        try:
            return self.source.rewind(part)
        except EdgeError:
            self.source.seek(part, 0)
            return 0

    def _recreated(self, part, why: str, first: int) -> None:
        self._batch.starts[part] = first  # (dropped, the batch is read again from there, not checked again)
        self._batch.checks.pop(part, None)
        self.recreated += 1
        self.report.note(f"{part[0]}[{part[1]}]: {why}; the topic was recreated (or the broker lost its data), "
                         f"reading the partition again from offset {first} ({self.recreated} partition"
                         f"{'s' if self.recreated != 1 else ''} found recreated so far)")

    def _broker_lost(self) -> None:
        if self.counts.broker != "unreachable":
            self.counts.broker = "unreachable"
            self._recheck({}, self._batch)  # it may come back empty, or be another broker
        waiting = len(self._unsent) + len(self._sent)
        self._note_once("broker", f"cannot reach the broker at {self.cluster.address}; retrying. "
                                  f"Nothing is lost: {waiting} message{'s' if waiting != 1 else ''} wait in the outbox")

    def _broker_back(self) -> None:
        if self.counts.broker == "unreachable":
            self.report.note(f"the broker at {self.cluster.address} answers again; resuming")
        self.counts.broker = "ok"

    def _note_once(self, kind: str, text: str, every: float = 5.0) -> None:
        now = time.monotonic()
        if now >= self._note_at.get(kind, 0.0):
            self._note_at[kind] = now + every
            self.report.note(text)

    @property
    def outbox_waiting(self) -> int:
        return len(self._unsent) + len(self._sent)

    # ---- stop ----------------------------------------------------------------------------------

    def _commit_delivered(self) -> None:
        """Outside a batch (rebalance, stop): what the broker acknowledged leaves the outbox in its own commit."""
        if self._acked:
            self.outbox.delivered(self._acked)
            self.counts.delivered += len(self._acked)
            self._acked = []
            self.outbox.commit()

    def shutdown(self) -> None:
        """Everything read is already committed; send what is waiting, then leave the group. A store that
        fails now keeps the rows it could not mark delivered: they are produced again at the next start."""
        deadline = time.monotonic() + self.settings.stop_s
        try:
            if self._unsent or self._sent:
                self._retry_at = 0.0
                self._pump()
                self.sink.flush(max(0.1, min(5.0, deadline - time.monotonic() - 2)))
                self._settle()
            self._commit_delivered()
        except Exception as e:  # noqa: BLE001
            if store_fault(e) is None:
                raise
            self.report.note("the state store failed while stopping; what Kafka acknowledged meanwhile stays in the "
                             "outbox and is produced again (with the same ids) at the next start")
        finally:
            if self.source is not None:
                if self._group_offsets:
                    self.source.commit(self._group_offsets)
                if not self.owned:  # stopped during the first join, say: finish it, or the group cannot hear us leave
                    self.source.finish_join(int(max(0.0, deadline - time.monotonic() - 3) * 1000))
                self.source.close(timeout_ms=int(max(0.5, min(2.0, deadline - time.monotonic())) * 1000))
            self.sink.close(max(0.1, min(1.0, deadline - time.monotonic())))


def shown_parts(parts) -> str:
    """events[0,2,4] for [(events, 0), (events, 2), (events, 4)]."""
    by: dict = {}
    for t, p in sorted(parts):
        by.setdefault(t, []).append(str(p))
    return " ".join(f"{t}[{','.join(ps)}]" for t, ps in by.items()) or "none"
