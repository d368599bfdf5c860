"""`simulate --jobs N`: one replay split over N processes by customer, with the output of one process.

Customers share no state, so each process replays its own customers: customer c belongs to process
`murmur2(c) % N`, the partition `run` would give it among N partitions (engine/core/partition.py).
What customers do share is the clock (spec section 6): whether an event is late depends on every
event before it. So every process reads the whole input and runs the clock as the engine does (the
largest time of the events applied so far; a late event leaves it), and applies its own customers'
events, each after setting its engine's clock to the one that event meets. Per customer the work is
then the work of a single replay: the same events, each judged against the same clock, the same
timers fired at the same instants.

For the clock a process needs of another's event only its customer and its time, and it takes them from
the line's bytes without decoding it (events.scan_event: about 1 us a line where a parse takes 2.5 us);
a line of another shape is parsed in full, and bad lines are the first process's to set aside. A quick
reading may take a line for an event that a parse refuses or reads otherwise (a broken value past the
fields it reads, a key given twice): the process whose customer the line names parses it, and when the
two differ the processes ran the clock on something untrue (`diverged`). So does the engine in the one
case this model cannot see: a repeated message (a duplicate) stamped later than every event before it,
which moves no clock. Each process checks, after each of its events, that its engine's clock is what the
model said. Either way the split replay is thrown away and the caller replays in one process, so the
output is always that of one process.

The input is read once per process: a file, so standard input is first spooled to one (the caller does
that, for the fallback too). CSV rows and a --sort input reach the processes parsed: each parses them
all, so that only the engine's work is split. The parent only starts the processes, shows the progress
the first one reports, and merges what they send back: actions in output order (as JSON lines when that
is the format, formatted in parallel), dead letters with their place in the input, profile records, the
trace, the counters, and for a stored state (--state) the customers they changed, which only the parent
writes, after every replay process has finished.
"""
from __future__ import annotations

import gc
import multiprocessing
import traceback
from array import array
from dataclasses import dataclass, field
from itertools import chain
from multiprocessing.connection import wait
from operator import itemgetter
from typing import Callable, Iterable

from journeyctl.engine.core.actions import CUSTOMER, DUE_AT
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import BadEvent, Event, parse_event, scan_event
from journeyctl.engine.core.partition import customer_partition, partition_for
from journeyctl.engine.core.state import Customer
from journeyctl.engine.core.stats import Stats
from journeyctl.engine.replay.leave import leave_for_exit
from journeyctl.engine.replay.loop import DeadLetter, Replay, collector_paused, refused, set_aside, tune_gc
from journeyctl.engine.replay.output import action_line, output_order

_DUE_AND_CUSTOMER = itemgetter(0, 1)
BATCH = 1024  # a process's own events applied at a time (_Share.apply)
PROGRESS_EVERY = 4096  # lines between two progress reports of the first process (as loop.counted)


class ReplayFailed(Exception):
    """A replay process stopped on an error of ours (its traceback is the message)."""


class Diverged(Exception):
    """The split replay cannot give one process's output (module doc): the message says why."""


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
    dues: array           # its actions in output order: their due times,
    customers_of: list    # customers,
    actions: list | bytes  # and the actions: dicts, or JSON lines one after the other (split by `ends`)
    ends: array           # where each JSON line ends in `actions` (flat lists and buffers pickle fast)
    dead: list            # (position in the input, DeadLetter)
    stats: dict
    ignored: int
    profiles: list
    trace: list
    customers: list       # (customer id, encoded state) of the customers it changed, for a stored state
    events: int
    after_until: int
    names: set
    clock: int | None     # the model's, at the end (the same in every process)
    last_time: int | None
    pending: tuple | None  # Stats.pending() for a stored state: counts per minute and hour, recent actions
    #                        (the web UI's; a store that keeps nothing drops them, store/counts.record)


def replay_split(parent: Engine, make_engine: Callable, make_store: Callable, read: Callable[[], Iterable],
                 until: int | None, jobs: int, *, jsonl: bool, stored: bool,
                 on_progress: Callable[[int], None] | None = None) -> SplitReplay:
    """Replay the input over `jobs` processes. `read()` gives the input in each process, as
    `(line, raw, item)` where item is the Event or BadEvent, or None for a JSON line not parsed yet (the
    process reads it, sources.read_events(parse=False)). `parent` is the caller's engine: its clock and
    lateness start the model, its counters receive everyone's, its store receives the changed customers
    when `stored`. `make_engine(store)` builds a replay process's engine over `make_store()`.
    Raises Diverged when the split replay cannot give one process's output (see the module doc)."""
    tune_gc()
    ctx = multiprocessing.get_context("fork")
    outputs, procs = [], []
    start = (parent.clock, parent.lateness)
    for k in range(jobs):
        recv_out, send_out = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_work, args=(k, jobs, read, until, start, send_out, make_engine, make_store, jsonl,
                                            stored, k == 0 and on_progress is not None),
                        daemon=True, name=f"journeyctl-replay-{k}")
        p.start()
        send_out.close()
        outputs.append(recv_out)
        procs.append(p)
    try:
        parts = _collect(outputs, on_progress)
    except BaseException:  # (Diverged, or one failed: what the others would send is of no use now)
        for p in procs:
            p.kill()
        raise
    finally:
        for conn in outputs:
            conn.close()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
    return _merge(parent, parts, until, stored)


def _collect(outputs: list, on_progress: Callable[[int], None] | None) -> list[_Part]:
    """Every process's _Part, in process order, passing on the progress the first one reports. The first
    divergence ends the wait: the others' work is of no use then (the caller kills them)."""
    parts: dict = {}
    waiting = {conn: k for k, conn in enumerate(outputs)}
    while waiting:
        for conn in wait(list(waiting)):
            message = _receive(conn)
            if type(message) is tuple and message[0] == "progress":
                if on_progress is not None:
                    on_progress(message[1])
                continue
            if type(message) is tuple and message[0] == "diverged":
                raise Diverged(message[1])
            parts[waiting.pop(conn)] = message
    return [parts[k] for k in range(len(outputs))]


def _receive(conn):
    try:
        message = conn.recv()
    except EOFError:
        raise ReplayFailed("a replay process ended without a word (out of memory?)") from None
    if isinstance(message, tuple) and message[0] == "error":
        raise ReplayFailed(message[1])
    return message


def _merge(parent: Engine, parts: list[_Part], until: int | None, stored: bool) -> SplitReplay:
    """The processes' results as one replay's: actions merged in output order (no two processes share a
    customer, so (due, customer) never ties across them), dead letters in input order, counters summed."""
    result = SplitReplay()
    result.actions = _merged_actions(parts)
    dead = [d for part in parts for d in part.dead]
    dead.sort(key=lambda d: d[0])
    result.dead_letters = [d for _, d in dead]
    stats = parent.stats
    for part in parts:
        stats.add(part.stats)
        if part.pending is not None:
            stats.add_pending(part.pending)
        parent.aggregates.warnings.ignored += part.ignored
        result.profiles.extend(part.profiles)
        result.trace.extend(part.trace)
        result.events += part.events
        result.after_until += part.after_until
        result.names |= part.names
    clock, result.last_time = parts[0].clock, parts[0].last_time  # (every process ran the same model)
    end = until if until is not None else result.last_time
    parent.clock = clock if end is None or (clock is not None and clock >= end) else end  # as advance_to leaves it
    if stored:
        for part in parts:
            for cid, blob in part.customers:
                parent.store.put(cid, Customer.decode(blob))
    return result


def _merged_actions(parts: list[_Part]) -> list:
    """A stable sort by (due, customer) of the processes' runs one after the other: the sort merges the runs
    (in C), and actions of one customer at one instant, all from one process, keep their order. The
    collector waits: the tuples made here hold no cycle, and walking them took a third of the time."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        merged = list(zip(chain.from_iterable(part.dues for part in parts),
                          chain.from_iterable(part.customers_of for part in parts),
                          chain.from_iterable(_actions(part) for part in parts)))
        merged.sort(key=_DUE_AND_CUSTOMER)
        return [a[2] for a in merged]
    finally:
        if collecting:
            gc.enable()


# ---- a replay process -----------------------------------------------------------------------------

def _work(k: int, jobs: int, read, until, start, outbox, make_engine, make_store, jsonl: bool, stored: bool,
          progress: bool) -> None:
    try:
        report = (lambda line: outbox.send(("progress", line))) if progress else None
        with collector_paused():  # (as a one-process replay runs: replay.loop)
            part = _replay_part(k, jobs, read, until, start, make_engine, make_store, jsonl, stored, report)
        outbox.send(part)
    except Diverged as e:
        outbox.send(("diverged", str(e)))
    except BaseException:  # noqa: BLE001 - everything goes back to the parent, which says it
        try:
            outbox.send(("error", traceback.format_exc()))
        except OSError:
            pass
    finally:
        outbox.close()


def _replay_part(k, jobs, read, until, start, make_engine, make_store, jsonl, stored, report) -> _Part:
    """Process k's share: the model of the clock run over every line, its own customers' events applied."""
    base = make_store()
    store = _Overlay(base) if stored else base
    engine = make_engine(store)
    engine.release_where(lambda cid: customer_partition(cid, jobs) == k)  # others' timers are not ours
    engine.stats = Stats()  # the parent holds the stored counts; this process reports what it adds
    clock, lateness = start
    share = _Share(engine, lateness)
    mine: list = []  # its own events not applied yet, each with the clock it meets
    last = None
    owners: dict = {}  # customer id (UTF-8) -> its process: murmur2 in Python costs more than a lookup
    line = 0
    for pos, (line, raw, item) in enumerate(read()):
        if report is not None and not pos % PROGRESS_EVERY:
            report(line)
        quick = scan_event(raw) if item is None else None
        if quick is None:  # another shape, or parsed already: the event itself says
            if item is None:
                item = _parsed(raw)
            if not isinstance(item, Event):
                if k == 0:  # a bad line: the first process sets it aside, at the model's clock
                    share.bad_line(pos, line, raw, item, clock)
                continue
            cid, t = item.customer_id.encode("utf-8", "surrogatepass"), item.time
        else:
            cid, t = quick
        owner = owners.get(cid)
        if owner is None:
            if len(owners) > 1_000_000:
                owners.clear()
            owner = owners[cid] = partition_for(cid, jobs)
        if until is not None and t > until:
            if owner == k:
                share.after_until(line, raw, item, cid, t)
            continue
        if owner == k:
            mine.append((pos, line, raw, item, cid, t, clock))
            if len(mine) == BATCH:
                share.apply(mine)
                mine = []
        if clock is None or t >= clock - lateness:  # applied (the engine's rule): the clock moves
            if clock is None or t > clock:
                clock = t
            if last is None or t > last:
                last = t
    share.apply(mine)
    if report is not None:
        report(line)
    result = share.result
    end = until if until is not None else last
    if end is not None:
        result.actions.extend(engine.advance_to(end))
    ordered = output_order(result.actions)
    at = tuple.__getitem__
    dues = array("q", [at(a, DUE_AT) for a in ordered])
    customers_of = [at(a, CUSTOMER) for a in ordered]
    actions, ends = _lines(ordered) if jsonl else ([a.as_dict() for a in ordered], array("q"))
    customers = [(cid, c.encode()) for cid, c in store.changed.items()] if stored else []
    leave_for_exit(engine, share, ordered, process_ends=True)  # (this process ends once it has sent its part)
    return _Part(dues, customers_of, actions, ends, share.dead, engine.stats.to_dict(),
                 engine.aggregates.warnings.ignored,
                 engine.drain_profile_records(), engine.trace, customers, result.events, share.after,
                 result.names, clock, last,
                 engine.stats.pending() if stored else None)  # (unkept, it would cost seconds to send)


def _lines(ordered: list, chunk: int = 4096) -> tuple[bytes, array]:
    """The actions as JSON lines in one buffer, and where each ends. Kept one by one, orjson's bytes hold
    4 KB each whatever their length (measured: 100,000 lines of 182 bytes, 400 MB): a process holding its
    300,000 held a gigabyte more than its customers, and spent seconds of system time on the pages."""
    chunks, ends, end = [], array("q"), 0
    for start in range(0, len(ordered), chunk):
        lines = [action_line(a) for a in ordered[start:start + chunk]]
        for line in lines:
            end += len(line)
            ends.append(end)
        chunks.append(b"".join(lines))
    return b"".join(chunks), ends


def _actions(part: _Part) -> list:
    """A process's actions, each its own object again (JSON lines sliced out of the buffer)."""
    if type(part.actions) is not bytes:
        return part.actions
    starts = array("q", [0]) + part.ends[:-1]
    return list(map(part.actions.__getitem__, map(slice, starts, part.ends)))


def _parsed(raw: bytes) -> Event | BadEvent:
    try:
        return parse_event(raw)
    except BadEvent as e:
        return e


class _Share:
    """What one process does with its own lines: apply its customers' events, each at the clock the model
    gives it, and check the model against its engine; set bad lines aside (the first process)."""

    def __init__(self, engine: Engine, lateness: int):
        self.engine, self.lateness = engine, lateness
        self.result = Replay()
        self.names, self.actions = self.result.names, self.result.actions
        self.dead: list = []  # (position in the input, DeadLetter)
        self.after = 0        # its events stamped after --until

    def apply(self, batch: list) -> None:
        """Its events, each at the clock it meets; the model said late when t < clock - lateness, else that
        the clock goes to max(t, clock) (module doc: when the engine differs, this replay cannot be split).
        In batches, after the lines around them were read: the engine's code and data stay in the
        processor's caches from one event to the next (a process's CPU time 4.3 s -> 3.7 s on the first
        300,000 lines of the standard input)."""
        engine, result, lateness, names, actions = self.engine, self.result, self.lateness, self.names, self.actions
        for pos, line, raw, item, cid, t, clock in batch:
            event = _mine(item, raw, line, cid, t)
            if clock is not None:
                engine.follow(clock)
            late = clock is not None and t < clock - lateness
            names.add(event.name)
            try:
                actions.extend(engine.process(event))
            except Exception as e:  # noqa: BLE001 - late, or a bug of ours: set aside, as loop.apply does
                letter = set_aside(engine, result, line, raw, refused(e))
                self.dead.append((pos, letter))
                if late and letter.reason == "late":
                    continue
                raise Diverged(f"line {line} was set aside as {letter.reason}, where the model of the clock "
                               "applied it") from None
            result.events += 1
            if late or engine.clock != (t if clock is None or t > clock else clock):
                raise Diverged(f"line {line}: a repeated message was stamped later than every event before it")

    def after_until(self, line: int, raw: bytes, item, cid: bytes, t: int) -> None:
        _mine(item, raw, line, cid, t)
        self.after += 1

    def bad_line(self, pos: int, line: int, raw: bytes, bad: BadEvent, clock: int | None) -> None:
        """Counted at the model's clock, as the engine would count it."""
        self.engine.stats.dead_letter(bad.reason, clock)
        self.dead.append((pos, DeadLetter(line, bad.reason, bad.detail, raw)))


def _mine(item, raw: bytes, line: int, cid: bytes, t: int) -> Event:
    """One of this process's events, parsed, after every process ran the clock on `cid` and `t`: had that
    reading been wrong, their clocks were (module doc)."""
    if item is None:
        try:
            event = parse_event(raw)
        except BadEvent:
            event = None
    else:
        event = item
    if (not isinstance(event, Event) or event.time != t
            or event.customer_id.encode("utf-8", "surrogatepass") != cid):
        raise Diverged(f"line {line} is not the event a quick reading of it found (a broken value past its "
                       "envelope, or a key given twice)")
    return event


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
