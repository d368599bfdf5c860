"""`simulate --jobs N`: one replay split over N processes by customer, with the output of one process.

Customers share no state, so each process replays its own customers: customer c belongs to process
`murmur2(c) % N`, the partition `run` would give it among N partitions (engine/core/partition.py).
What customers do share is the clock (spec section 6): whether an event is late depends on every
event before it. So this process reads and parses the input, runs the clock as the engine does (the
largest time of the events applied so far; a late event leaves it), and hands each event to its
customer's process together with the clock it meets; that process sets its engine's clock to it
before applying the event. Per customer the work is then the work of a single replay: the same
events, each judged against the same clock, the same timers fired at the same instants.

The engine leaves the clock alone in one case this model cannot see from here: a repeated message
(a duplicate) stamped later than every event before it. Each process checks, after every event,
that its engine's clock is what the model said; when one is not, the split replay is thrown away
(`diverged`) and the caller replays in one process, so the output is always that of one process.

The processes send back what the caller writes: actions in output order (as JSON lines when that is
the format, formatted in parallel), dead letters with their place in the input, profile records,
the trace, the counters, and for a stored state (--state) the customers they changed, which only
this process writes, after every replay process has finished.
"""
from __future__ import annotations

import gc
import heapq
import multiprocessing
import traceback
from dataclasses import dataclass, field
from typing import Callable, Iterable


from journeyctl.engine.core.actions import CUSTOMER, DUE_AT
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import BadEvent, Event, parse_event
from journeyctl.engine.core.partition import customer_partition
from journeyctl.engine.core.state import Customer
from journeyctl.engine.core.stats import Stats
from journeyctl.engine.replay.loop import DeadLetter, Replay, apply, counted, tune_gc
from journeyctl.engine.replay.output import action_line, output_order

BATCH = 2048  # events per message to a replay process


class ReplayFailed(Exception):
    """A replay process stopped on an error of ours (its traceback is the message)."""


@dataclass
class SplitReplay:
    """What simulate writes, as a one-process replay would have given it."""
    actions: list = field(default_factory=list)       # dicts, or JSON lines (bytes) when asked for
    dead_letters: list = field(default_factory=list)  # DeadLetter, in input order
    profiles: list = field(default_factory=list)
    trace: list = field(default_factory=list)
    after_until: int = 0
    events: int = 0
    last_time: int | None = None
    names: set = field(default_factory=set)          # the event names the input held (replay/hints.py)


@dataclass
class _Part:
    """One process's results."""
    actions: list
    dead: list            # (position in the input, DeadLetter)
    stats: dict
    ignored: int
    profiles: list
    trace: list
    customers: list       # (customer id, encoded state) of the customers it changed, for a stored state
    events: int
    diverged: bool
    pending: tuple        # Stats.pending(): counts per minute and hour, recent actions (the web UI's)


def replay_split(parent: Engine, make_engine: Callable, make_store: Callable, items: Iterable, until: int | None,
                 jobs: int, *, jsonl: bool, reparse: bool, stored: bool,
                 on_progress: Callable[[int], None] | None = None) -> SplitReplay | None:
    """Replay `items` over `jobs` processes. `parent` is the caller's engine: its clock and lateness
    start the model, its counters receive everyone's, its store receives the changed customers when
    `stored`. `make_engine(store)` builds a replay process's engine over `make_store()`. `reparse`: the
    raw lines are JSON, and a process parses its events again rather than receiving them: parsing (4 us an
    event, measured) costs less than pickling and unpickling the parsed event (7 us) or than writing and
    reading its fields as JSON with orjson (5 us).
    None when the split replay diverged (see the module doc)."""
    tune_gc()
    ctx = multiprocessing.get_context("fork")
    inputs, outputs, procs = [], [], []
    for k in range(jobs):
        recv_in, send_in = ctx.Pipe(duplex=False)
        recv_out, send_out = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_work, args=(k, jobs, recv_in, send_out, make_engine, make_store, jsonl, stored),
                        daemon=True, name=f"journeyctl-replay-{k}")
        p.start()
        recv_in.close()
        send_out.close()
        inputs.append(send_in)
        outputs.append(recv_out)
        procs.append(p)
    collecting = gc.isenabled()
    # The dispatch makes no reference cycles, only batches of tuples that live until sent: the collector
    # would only walk them (a tenth of this process's time, perf). It runs again once they are sent.
    gc.disable()
    try:
        try:
            result = SplitReplay()
            dead: list = []
            clock, lateness = parent.clock, parent.lateness
            copies = _Copies(parent.dedup_window, lateness)
            batches: list[list] = [[] for _ in range(jobs)]
            owner: dict = {}  # customer id -> its process (murmur2 in Python costs more than a lookup)
            for pos, (line, raw, item) in enumerate(counted(items, on_progress) if on_progress else items):
                if not isinstance(item, Event):
                    parent.stats.dead_letter(item.reason, clock)
                    dead.append((pos, DeadLetter(line, item.reason, item.detail, raw)))
                    continue
                t = item.time
                if until is not None and t > until:
                    result.after_until += 1
                    continue
                result.names.add(item.name)
                k = owner.get(item.customer_id)
                if k is None:
                    if len(owner) > 1_000_000:
                        owner.clear()
                    k = owner[item.customer_id] = customer_partition(item.customer_id, jobs)
                batch = batches[k]
                batch.append((pos, line, raw, None if reparse else item, clock))
                if len(batch) >= BATCH:
                    inputs[k].send(batch)
                    batches[k] = []
                if clock is None or t >= clock - lateness:  # applied (the engine's rule)
                    # the clock moves, but not for a copy of an event already applied (spec section 6)
                    if (clock is None or t > clock) and not copies.seen(item.customer_id, item.message_id, t):
                        clock = t
                    if result.last_time is None or t > result.last_time:
                        result.last_time = t
            end = until if until is not None else result.last_time
            for k in range(jobs):
                if batches[k]:
                    inputs[k].send(batches[k])
                inputs[k].send(("end", end))
            if collecting:
                gc.enable()
        except BrokenPipeError:  # a replay process stopped early: it says why
            for conn in outputs:
                _receive(conn)
            raise ReplayFailed("a replay process stopped early") from None
        parts = [_receive(conn) for conn in outputs]
    finally:
        if collecting:
            gc.enable()
        for conn in (*inputs, *outputs):
            conn.close()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
    if any(part.diverged for part in parts):
        return None
    return _merge(parent, parts, dead, result, clock, end, stored)


def _receive(conn):
    try:
        message = conn.recv()
    except EOFError:
        raise ReplayFailed("a replay process ended without a word (out of memory?)") from None
    if isinstance(message, tuple) and message[0] == "error":
        raise ReplayFailed(message[1])
    return message


def _merge(parent: Engine, parts: list[_Part], dead: list, result: SplitReplay, clock, end,
           stored: bool) -> SplitReplay:
    """The processes' results as one replay's: actions merged in output order (no two processes share a
    customer, so (due, customer) never ties across them), dead letters in input order, counters summed."""
    # (due, customer, action) tuples compared as they are, in C: only heads from different processes meet,
    # and those differ in (due, customer) before the action would be compared
    result.actions = [a[2] for a in heapq.merge(*(part.actions for part in parts))]
    dead.extend(d for part in parts for d in part.dead)
    dead.sort(key=lambda d: d[0])
    result.dead_letters = [d for _, d in dead]
    stats = parent.stats
    for part in parts:
        _add_stats(stats, part.stats)
        stats.add_pending(part.pending)
        parent.aggregates.ignored += part.ignored
        result.profiles.extend(part.profiles)
        result.trace.extend(part.trace)
        result.events += part.events
    parent.clock = clock if end is None or (clock is not None and clock >= end) else end  # as advance_to leaves it
    if stored:
        for part in parts:
            for cid, blob in part.customers:
                parent.store.put(cid, Customer.decode(blob))
    return result


def _add_stats(stats: Stats, data: dict) -> None:
    """Add one process's counters (Stats.restore adds the tables but sets the three totals)."""
    totals = (stats.events + data.get("events", 0), stats.unused + data.get("unused", 0),
              stats.duplicates + data.get("duplicates", 0))
    stats.restore(data)
    stats.events, stats.unused, stats.duplicates = totals


# ---- a replay process -----------------------------------------------------------------------------

def _work(k: int, jobs: int, inbox, outbox, make_engine, make_store, jsonl: bool, stored: bool) -> None:
    try:
        outbox.send(_replay_part(k, jobs, inbox, make_engine, make_store, jsonl, stored))
    except BaseException:  # noqa: BLE001 - everything goes back to the parent, which says it
        try:
            outbox.send(("error", traceback.format_exc()))
        except OSError:
            pass
    finally:
        outbox.close()


def _replay_part(k, jobs, inbox, make_engine, make_store, jsonl, stored) -> _Part:
    base = make_store()
    store = _Overlay(base) if stored else base
    engine = make_engine(store)
    engine.release_where(lambda cid: customer_partition(cid, jobs) == k)  # others' timers are not ours
    engine.stats = Stats()  # the parent holds the stored counts; this process reports what it adds
    lateness = engine.lateness
    tune_gc()
    result = Replay()
    dead = []
    diverged = False
    end = None
    while True:
        batch = inbox.recv()
        if type(batch) is tuple:
            end = batch[1]
            break
        for pos, line, raw, item, clock in batch:
            if item is None:
                try:
                    item = parse_event(raw)
                except BadEvent as e:  # (the parent parsed it as good: never expected)
                    item = e
            if clock is not None:
                engine.follow(clock)
            letter = apply(engine, result, line, raw, item)
            if letter is not None:
                dead.append((pos, letter))
            # the parent's model of the clock, checked: it said late or applied, and where the clock went
            t = item.time if isinstance(item, Event) else None
            late = t is not None and clock is not None and t < clock - lateness
            if letter is None:
                diverged = diverged or late or engine.clock != (t if clock is None or t > clock else clock)
            else:
                diverged = diverged or letter.reason != "late" or not late
    if end is not None:
        result.actions.extend(engine.advance_to(end))
    at = tuple.__getitem__
    actions = [(at(a, DUE_AT), at(a, CUSTOMER), action_line(a) if jsonl else a.as_dict())
               for a in output_order(result.actions)]
    customers = [(cid, c.encode()) for cid, c in store.changed.items()] if stored else []
    return _Part(actions, dead, engine.stats.to_dict(), engine.aggregates.ignored, engine.drain_profile_records(),
                 engine.trace, customers, result.events, diverged, engine.stats.pending())


class _Overlay:
    """A replay process's view of a stored state (--state): reads go to the store, changes stay here and go
    back to the parent, the one process that writes. Meta and journey versions are the parent's to write,
    and nothing of a replay process is committed: it is no DurableStore of its own."""

    shared = False

    def __init__(self, base):
        self._base = base
        self.changed: dict = {}

    def get(self, customer_id):
        c = self.changed.get(customer_id)
        return c if c is not None else self._base.get(customer_id)

    def put(self, customer_id, state) -> None:
        self.changed[customer_id] = state

    def prefetch(self, customer_ids) -> None:
        self._base.prefetch(customer_ids)

    def customers(self):
        return self._base.customers()

    def timers(self):
        return self._base.timers()

    def get_meta(self, key):
        return self._base.get_meta(key)

    def set_meta(self, key, value) -> None:
        pass

    def meta_like(self, prefix):
        return self._base.meta_like(prefix)

    def positions(self):
        return self._base.positions()

    def durable(self):
        return None

    def save_version(self, version, ir) -> None:
        pass

    def load_version(self, version):
        return self._base.load_version(version)

    def commit(self) -> None:
        pass

    def close(self) -> None:
        self._base.close()


class _Copies:
    """Which events the engine will take for copies of one it applied (Engine._seen_before: the same
    message id, for the same customer, within the de-duplication window of event time): a copy moves
    no clock, so the clock handed to the replay processes must not move with it either. Ids are
    dropped once no copy can match them, as the engine drops them."""

    def __init__(self, window: int, lateness: int):
        self.window, self.keep = window, window + lateness
        self.ids: dict = {}  # customer -> {message id: time applied}, oldest first

    def seen(self, customer: str, msg: str, t: int) -> bool:
        """Is this a copy? If not, it counts from `t` (applied again, or the first of its id)."""
        if not self.window:
            return False
        ids = self.ids.get(customer)
        if ids is None:
            ids = self.ids[customer] = {}
        first = ids.get(msg)
        if first is not None:
            if -self.window < t - first < self.window:
                return True
            del ids[msg]
        ids[msg] = t
        for old, when in list(ids.items()):
            if when > t - self.keep:
                break
            del ids[old]
        return False
