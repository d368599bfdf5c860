"""`simulate --jobs N`: one replay split over N processes by customer, with the output of one process.

Customers share no state, so each process replays its own customers: customer c belongs to process
`murmur2(c) % N`, the partition `run` would give it among N partitions (engine/core/partition.py).
What customers do share is the clock (spec section 6): whether an event is late depends on every
event before it. So every process runs the clock over every line, as the engine does (the largest time of
the events applied so far; a late event leaves it), and applies its own customers' events, each after
setting its engine's clock to the one that event meets. Per customer the work is then the work of a single
replay: the same events, each judged against the same clock, the same timers fired at the same instants.

No line is read twice at a glance. The input comes in shares, one per process (replay/shares.py): a file of
JSON lines in byte ranges, anything else whole to the first process. Each process reads its share and finds
each line's time and process (replay/glance.py): from the line's bytes without decoding it where it can (a
block of lines at once, in one pass of the regex engine), else from a parse; bad lines are its own to set
aside. The processes then swap what they found, times and processes of every line (a few bytes a line),
through files in a spool folder. Each runs the model of the clock over the times of every share in input
order, and reads each share again for its own lines, picked by their process (a file's byte range is split
into lines again a block at a time; the lines of an input that cannot be read again came with the swap).

A quick reading may take a line for an event that a parse refuses or reads otherwise (a broken value past the
fields it reads, a key given twice, an identify call naming a customer_id after its userId): the process that
applies the line parses it, and when its time is not the one the clock was run on, or its customer is another
process's, the processes ran the clock on something untrue, or the wrong one would apply it (`diverged`). So
does the engine in the one case this model cannot see: a repeated message (a duplicate) stamped later than
every event before it, which moves no clock. Each process checks, after each of its events, that its engine's
clock is what the model said. Either way the split replay is thrown away and the caller replays in one process,
so the output is always that of one process.

The parent only starts the processes, shows the progress the first one reports (the input line its replay
reached), and merges what they send back: actions in output order (as JSON lines when that is the format,
formatted in parallel), dead letters with their place in the input, profile records, the trace, the
counters, and for a stored state (--state) the customers they changed, which only the parent writes, after
every replay process has finished.
"""
from __future__ import annotations

import fcntl
import gc
import multiprocessing
import os
import pickle
import resource
import tempfile
import traceback
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import accumulate, chain, repeat
from multiprocessing.connection import wait
from typing import Callable, Iterable, Iterator

try:  # Cython's pure-Python mode: True only where this module is compiled (scripts/build_fast.py, parallel.pxd)
    import cython  # type: ignore[import-untyped,import-not-found,unused-ignore]
    COMPILED = cython.compiled
except ImportError:  # no Cython installed: this is the pure build
    COMPILED = False

from journeyctl.engine.core.actions import CUSTOMER, DUE_AT
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import EVENT_MAX_MS, Event
from journeyctl.engine.core.partition import customer_partition
from journeyctl.engine.core.state import Customer
from journeyctl.engine.core.stats import Stats
from journeyctl.engine.replay.glance import NO_TIME, Found, batches, own_lines, parsed, read_share
from journeyctl.engine.replay.leave import leave_for_exit
from journeyctl.engine.replay.loop import DeadLetter, Replay, collector_paused, refused, set_aside, tune_gc
from journeyctl.engine.replay.output import action_line, output_order
from journeyctl.engine.replay.sources import NO_ROOM, InputError

BATCH = 1024  # a process's own events applied at a time (_apply)
CHUNK = 256  # JSON lines formatted and sent at a time (_Blocks)
FAILED = b"\0"  # what begins a block that is a traceback instead (no JSON line begins so: _send)
ENDED = "a replay process ended without a word (out of memory?)"  # (what the parent says then: _receive, _block)
PIPE_BYTES = 1 << 20  # what a process's pipe to the parent holds, where the system allows it (_widened)
PROGRESS_EVERY = 4096  # lines between two progress reports of the first process (as loop.counted)
MAX_JOBS = 255  # (a line's process is a byte, glance.Found.owners)


class ReplayFailed(Exception):
    """A replay process stopped on an error of ours (its traceback is the message)."""


class Unsplit(Exception):
    """The replay cannot be split: the caller replays in one process. The message says why, `so` what
    follows from it."""
    so = ""


class Diverged(Unsplit):
    """The split replay cannot give one process's output (module doc)."""
    so = ", which --jobs cannot split exactly"


class NotStarted(Unsplit):
    """The system refused the processes or their pipes (too many open files, too many processes)."""


class NoRoom(Unsplit):
    """The temporary folder has no room for what the processes swap (the disk full, a quota)."""


class _Abandoned(Exception):
    """Another process ended while this one swapped with it (every other, when it waited): that one failed,
    and says why."""


ABANDONED = "abandoned"  # what a process so left tells the parent


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
    lines: bool = False                              # every action a JSON line (bytes) already


@dataclass
class _Part:
    """One process's results."""
    dues: array           # its actions in output order: their due times,
    customers_of: list    # customers,
    actions: list         # and the actions: dicts, or JSON lines (formatted and sent in blocks: _Blocks)
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


def replay_split(parent: Engine, make_engine: Callable, make_store: Callable, shares: list[Callable[[], Iterable]],
                 until: int | None, *, jsonl: bool, stored: bool,
                 on_progress: Callable[[int], None] | None = None) -> SplitReplay:
    """Replay the input over one process per share (replay/shares.py). `shares[k]()` gives process k its
    lines, as `(line, raw, item)` where item is the Event or BadEvent, or None for a JSON line not parsed
    yet (sources.jsonl_lines), and says how many lines it held (`.lines`); a share read again (`again`: a
    file's byte range) gives its lines `.blocks()` at a time as well (glance.py). `parent` is the caller's
    engine: its clock and lateness start the model, its counters receive everyone's, its store receives the
    changed customers when `stored`. `make_engine(store)` builds a replay process's engine over `make_store()`.
    Raises Diverged when the split replay cannot give one process's output (see the module doc)."""
    tune_gc()
    with tempfile.TemporaryDirectory(prefix="journeyctl-jobs-") as spool:  # (the lines they swap: _swap)
        parts = _run(shares, spool, until, (parent.clock, parent.lateness), make_engine, make_store, jsonl,
                     stored, on_progress)
    result = _merge(parent, parts, until, stored)
    result.lines = jsonl
    return result


def _run(shares: list, spool: str, until, start, make_engine, make_store, jsonl, stored, on_progress) -> list:
    """Start a process per share, each with an inbox where the others say what they left it in the spool
    (_swap), and collect their parts. One pipe per process: a pipe from each to each took 2N(N-1)
    descriptors, past a limit of 1,024 at --jobs 23. Should the system refuse a pipe or a process, none of
    them is left behind, and the caller replays in one process (NotStarted)."""
    ctx = multiprocessing.get_context("fork")
    jobs = len(shares)
    _room_for(jobs)
    inboxes: list = []
    outputs: list = []
    procs: list = []
    try:
        try:
            inboxes = [ctx.Pipe(duplex=False) for _ in range(jobs)]
            for k in range(jobs):
                recv_out, send_out = ctx.Pipe(duplex=False)
                _widened(recv_out)
                outputs.append(recv_out)
                p = ctx.Process(target=_work, args=(k, shares, inboxes, spool, until, start, send_out, make_engine,
                                                    make_store, jsonl, stored, k == 0 and on_progress is not None),
                                daemon=True, name=f"journeyctl-replay-{k}")
                try:
                    p.start()
                finally:
                    send_out.close()
                procs.append(p)
        except OSError as e:
            raise NotStarted(f"{jobs} replay processes could not be started ({e.strerror or e})") from None
        finally:
            for conn in (conn for pair in inboxes for conn in pair):
                conn.close()
        return _collect(outputs, on_progress)
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


def _room_for(jobs: int) -> None:
    """Raise the soft limit of open files toward the hard one when `jobs` processes need more than it allows
    (the parent holds five descriptors a process while it starts them: both ends of its inbox, the end of
    its output, and the two pipe ends multiprocessing keeps for it), as a program that opens many files
    does: a soft limit of 1,024 stops at about 200 processes. Where the hard limit is too low as well,
    NotStarted says so."""
    need = 5 * jobs + _open_files() + 32
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need if hard == resource.RLIM_INFINITY else min(need, hard),
                                                        hard))
        except (ValueError, OSError):
            pass


def _open_files() -> int:
    """How many descriptors this process holds (Linux); a guess elsewhere."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 64


def _collect(outputs: list, on_progress: Callable[[int], None] | None) -> list[_Part]:
    """Every process's _Part, in process order, passing on the progress the first one reports. One message
    at a time from whichever process is ready: a part's blocks of JSON lines (_send) are read and split into
    lines as they come, while that process formats the next and the others may still be replaying (a core is
    free once one ends). The first divergence or failure ends the wait: the others' work is of no use then
    (the caller kills them). A process that was left waiting by the others' end (ABANDONED) is not the one
    to say why: one of them is."""
    parts: dict = {}
    waiting = {conn: k for k, conn in enumerate(outputs)}
    blocks_left: dict = {}  # conn -> how many blocks of its part's JSON lines are still to come
    while waiting:
        for conn in wait(list(waiting)):
            if conn in blocks_left:
                part = parts[waiting[conn]]
                part.actions += _block(conn).splitlines(keepends=True)  # (a JSON line holds no line end but its last)
                blocks_left[conn] -= 1
                if not blocks_left[conn]:
                    del blocks_left[conn], waiting[conn]
                continue
            message = _receive(conn)
            if type(message) is tuple and message[0] == "progress":
                if on_progress is not None:
                    on_progress(message[1])
                continue
            if type(message) is tuple and message[0] == "unsplit":
                raise message[1]
            parts[waiting[conn]] = message
            if type(message) is _Part and type(message.actions) is int and message.actions:
                blocks_left[conn], message.actions = message.actions, []
            else:
                del waiting[conn]
    if ABANDONED in parts.values():  # (every other ended first, and none said why: not seen)
        raise ReplayFailed("the replay processes stopped waiting for one another")
    return [parts[k] for k in range(len(outputs))]


def _receive(conn):
    """What a process says: a part (its JSON lines, when it sends them, follow it: _block), or a word."""
    try:
        message = conn.recv()
    except (EOFError, OSError):  # (OSError: it ended partway through a message)
        raise ReplayFailed(ENDED) from None
    if isinstance(message, tuple) and message[0] == "error":
        raise ReplayFailed(message[1])
    if isinstance(message, tuple) and message[0] == "input":
        raise InputError(message[1])
    return message


def _block(conn) -> bytes:
    """A block of a part's JSON lines (_send)."""
    try:
        block = conn.recv_bytes()
    except (EOFError, OSError):
        raise ReplayFailed(ENDED) from None
    if block.startswith(FAILED):
        raise ReplayFailed(block[len(FAILED):].decode("utf-8", "replace"))
    return block



def _widened(conn):
    """The pipe behind `conn` made to hold PIPE_BYTES (Linux; elsewhere, or past the system's limit, it stays as
    it is): a process then formats its next blocks while the parent is busy with another's (64 KB held one)."""
    try:
        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (AttributeError, OSError, ValueError):  # (AttributeError: no F_SETPIPE_SZ here)
        pass
    return conn


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
    """A stable sort by (due, customer) of the processes' runs one after the other: actions of one customer at
    one instant, all from one process, keep their order. The collector waits: the tuples and lists made here
    hold no cycle, and walking them took a third of the time."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return (_merged_in_c if COMPILED else _sorted_runs)(parts)
    finally:
        if collecting:
            gc.enable()


def _sorted_runs(parts: list[_Part]) -> list:
    """The pure build's way: the sort merges the runs (in C). The keys are sorted by place, and the actions
    then taken in that order: a third less time than sorting (due, customer, action) tuples by a key."""
    keys = list(zip(chain.from_iterable(part.dues for part in parts),
                    chain.from_iterable(part.customers_of for part in parts)))
    actions = list(chain.from_iterable(part.actions for part in parts))
    return list(map(actions.__getitem__, sorted(range(len(keys)), key=keys.__getitem__)))


def _merged_in_c(parts: list[_Part]) -> list:
    """The compiled build's way to the same order (COMPILED): neighbouring runs merged two at a time, the
    earlier first on a tie, by their due times in C (parallel.pxd), their customers compared only where two due
    times are equal; where the sort's keys were (due, customer) tuples of every action (the standard
    input's first 100,000 events at --jobs 2: 0.09 G instructions in the parent after the processes end, callgrind)."""
    runs = [(part.dues, part.customers_of, part.actions) for part in parts]
    while len(runs) > 1:
        runs = [_merge_two(*runs[r], *runs[r + 1]) if r + 1 < len(runs) else runs[r] for r in range(0, len(runs), 2)]
    return list(runs[0][2]) if runs else []


def _merge_two(dues_a, customers_a: list, actions_a: list, dues_b, customers_b: list,
               actions_b: list) -> tuple[array, list, list]:
    """Two runs in (due, customer) order as one, a's first where both hold the same (due, customer)."""
    na, nb = len(dues_a), len(dues_b)
    dues = array("q", bytes(8 * (na + nb)))
    customers: list = []
    actions: list = []
    da, db, out = dues_a, dues_b, dues
    i = j = k = 0
    while i < na and j < nb:
        x, y = da[i], db[j]
        if x < y or x == y and customers_a[i] <= customers_b[j]:
            out[k] = x
            customers.append(customers_a[i])
            actions.append(actions_a[i])
            i += 1
        else:
            out[k] = y
            customers.append(customers_b[j])
            actions.append(actions_b[j])
            j += 1
        k += 1
    customers.extend(customers_a[i:] if i < na else customers_b[j:])  # (what is left of one of them)
    actions.extend(actions_a[i:] if i < na else actions_b[j:])
    while i < na:
        out[k] = da[i]
        k += 1
        i += 1
    while j < nb:
        out[k] = db[j]
        k += 1
        j += 1
    return dues, customers, actions


# ---- a replay process -----------------------------------------------------------------------------

def _own_ends(inboxes: list, k: int) -> tuple:
    """Of the processes' inboxes (a pipe each: receiving end, sending end), the ends process k uses: the
    receiving end of its own, the sending ends of the others'. It closes every other (a forked process
    holds them all): its inbox ends when every other process has ended (_Abandoned)."""
    senders: list = [None] * len(inboxes)
    for j, (receiving, sending) in enumerate(inboxes):
        if j == k:
            sending.close()
        else:
            receiving.close()
            senders[j] = sending
    return inboxes[k][0], senders


def _work(k: int, shares, inboxes, spool: str, until, start, outbox, make_engine, make_store, jsonl: bool,
          stored: bool, progress: bool) -> None:
    try:
        links = _own_ends(inboxes, k)
        report = (lambda line: outbox.send(("progress", line))) if progress else None
        with collector_paused():  # (as a one-process replay runs: replay.loop)
            part = _replay_part(k, shares, links, spool, until, start, make_engine, make_store, jsonl, stored, report)
        word = part
    except Unsplit as e:
        word = ("unsplit", e)
    except _Abandoned:
        word = ABANDONED
    except InputError as e:  # (the input's fault, not ours: said as a one-process replay says it)
        word = ("input", str(e))
    except BaseException:  # noqa: BLE001 - everything goes back to the parent, which says it
        word = ("error", traceback.format_exc())
    try:
        _send(outbox, word)
    except OSError:  # (the parent has gone: no one to tell)
        pass
    finally:
        outbox.close()


def _replay_part(k, shares, links, spool, until, start, make_engine, make_store, jsonl, stored, report) -> _Part:
    """Process k's part: its share of the input read at a glance, each line's time and process swapped, the
    model of the clock run over every line, its own customers' events applied."""
    jobs = len(shares)
    base = make_store()
    store = _Overlay(base) if stored else base
    engine = make_engine(store)
    engine.release_where(lambda cid: customer_partition(cid, jobs) == k)  # others' timers are not ours
    engine.stats = Stats()  # the parent holds the stored counts; this process reports what it adds
    found = read_share(shares[k](), jobs)
    got = _swap(k, found, links, spool)
    clock, lateness = start
    clock = NO_TIME if clock is None else clock
    last = NO_TIME
    limit = until if until is not None else EVENT_MAX_MS
    share = _Share(engine, lateness, k, jobs)
    pos_at = line_at = end_line = 0
    due = 0  # the next input position at which the first process reports its progress
    undated: list = []  # its bad lines before the clock had a time, while no event after them was applied
    for r, (count, last_line, times, owners, rows) in enumerate(got):
        before, clock, last = _clocks(times, clock, last, lateness, limit)
        for batch in (batches(list(rows), BATCH) if rows is not None else own_lines(shares[r](), owners, k, BATCH)):
            _apply(share, batch, times, before, pos_at, line_at, limit)
            if report is not None and pos_at + batch[-1][0] >= due:
                report(line_at + batch[-1][1])
                due = pos_at + batch[-1][0] + PROGRESS_EVERY
        if undated and clock != NO_TIME:
            share.bad_lines(undated, _first_time(before, 0, clock))
            undated = []
        if r == k:  # its share's bad lines: set aside at the model's clock, or before it had a time at the
            for pos, line, raw, bad in found.bad:  # time of the first event applied after them (Stats.clock_set)
                at = before[pos]
                if at == NO_TIME:
                    at = _first_time(before, pos + 1, clock)
                bad_line = (pos_at + pos, line_at + line, raw, bad)
                if at == NO_TIME:
                    undated.append(bad_line)
                else:
                    share.bad_lines([bad_line], at)
        if last_line:
            end_line = line_at + last_line
        pos_at += len(times)
        line_at += count
    if report is not None:
        report(end_line)
    share.bad_lines(undated, None)
    clock = None if clock == NO_TIME else clock
    last = None if last == NO_TIME else last
    result = share.result
    end = until if until is not None else last
    if end is not None:
        result.actions.extend(engine.advance_to(end))
    ordered = output_order(result.actions)
    at = tuple.__getitem__
    dues = array("q", [at(a, DUE_AT) for a in ordered])
    customers_of = [at(a, CUSTOMER) for a in ordered]
    actions = _Blocks(ordered) if jsonl else [a.as_dict() for a in ordered]
    customers = [(cid, c.encode()) for cid, c in store.changed.items()] if stored else []
    leave_for_exit(engine, share, ordered, found, got, process_ends=True)  # (it ends once it has sent its part)
    return _Part(dues, customers_of, actions, share.dead, engine.stats.to_dict(),
                 engine.aggregates.warnings.ignored,
                 engine.drain_profile_records(), engine.trace, customers, result.events, share.after,
                 result.names, clock, last,
                 engine.stats.pending() if stored else None)  # (unkept, it would cost seconds to send)


def _swap(k: int, read: Found, links: tuple, spool: str) -> list:
    """Every share's `(lines, last_line, times, owners, rows)` for this process, in input order, where rows
    are its lines of that share, or None when it reads them again (glance.own_lines). What it found in its share it
    writes once to a file in `spool` for every other process (and each one's lines to a file of that one's,
    when they cannot be read again), then tells each in its inbox; it then reads what the others tell it.
    (Through a pipe itself, megabytes go 64 KB at a time.)"""
    inbox, senders = links
    keep = read.to is not None
    try:
        with open(os.path.join(spool, str(k)), "wb") as f:
            pickle.dump((read.lines, read.last_line, read.times, read.owners, keep), f, protocol=5)
        if keep:
            for j, sender in enumerate(senders):
                if sender is not None:
                    with open(os.path.join(spool, f"{k}-{j}"), "wb") as f:
                        pickle.dump(_columns(read.to[j]), f, protocol=5)
                    read.to[j] = None  # (written: its lines' memory goes back before the replay grows)
    except OSError as e:
        if e.errno not in NO_ROOM:
            raise
        raise NoRoom(f"no room in {os.path.dirname(spool)} for what the replay processes swap "
                     f"({os.strerror(e.errno)})") from None
    try:
        for sender in senders:
            if sender is not None:
                sender.send_bytes(b"%d" % k)  # (a few bytes: one write, whole, however many send at once)
    except BrokenPipeError:  # (that one has ended: it failed, and says why)
        raise _Abandoned() from None
    got: list = [None] * len(senders)
    got[k] = (read.lines, read.last_line, read.times, read.owners, read.to[k] if keep else None)
    for _ in range(len(senders) - 1):
        try:
            j = int(inbox.recv_bytes())
        except EOFError:
            raise _Abandoned() from None
        with open(os.path.join(spool, str(j)), "rb") as f:
            lines, last_line, times, owners, kept = pickle.load(f)
        rows = None
        if kept:
            path = os.path.join(spool, f"{j}-{k}")
            with open(path, "rb") as f:
                rows = _rows(pickle.load(f))
            os.unlink(path)
        got[j] = (lines, last_line, times, owners, rows)
    return got


def _columns(rows: list) -> tuple:
    """Lines for another process, column by column: arrays, and the values of a column joined into one
    bytes, are written as copies of memory, where 250,000 tuples took 0.4 s to pickle and 0.2 s to read."""
    if not rows:
        return ()
    pos, line, raw, item = zip(*rows)
    return array("q", pos), array("q", line), _joined(raw), item if any(item) else None


def _rows(columns: tuple):
    """_columns' lines as rows again: (place, line, raw, item)."""
    if not columns:
        return ()
    pos, line, raw, item = columns
    return zip(pos, line, _split(raw), repeat(None) if item is None else item)


def _joined(values: list) -> bytes | tuple[bytes, array]:
    """The values one after the other: a line apart when none holds a line end (lines never do), else with
    where each ends."""
    data = b"\n".join(values)
    if data.count(b"\n") == len(values) - 1:
        return data
    return b"".join(values), array("q", accumulate(map(len, values)))


def _split(joined: bytes | tuple[bytes, array]) -> list:
    if type(joined) is bytes:
        return joined.split(b"\n")
    data, ends = joined
    starts = array("q", [0]) + ends[:-1]
    return list(map(data.__getitem__, map(slice, starts, ends)))


def _clocks(times: array, clock: int, last: int, lateness: int, limit: int) -> tuple[array, int, int]:
    """The model's clock before each line of a share, and the clock and the last time applied after it, as
    the engine runs them (spec section 6): an event earlier than clock - lateness is late and leaves both,
    and one after `limit` (--until) is not applied."""
    before = array("q", times)
    seen, at = times, before  # (typed views of both arrays in the compiled build: parallel.pxd)
    for i in range(len(times)):
        t = seen[i]
        at[i] = clock
        if clock <= t + lateness and t <= limit:  # (NO_TIME never is but when no clock was set: then it moves
            if t > clock:                          # nothing; the sum, where clock - lateness would overflow C's)
                clock = t
            if t > last:
                last = t
    return before, clock, last


def _first_time(before: array, start: int, after: int) -> int:
    """The clock once the first event from line `start` of a share on is applied, when the clock had no time
    before it (that event's time: `after`, the clock after the share, when it was its last line); NO_TIME
    when none was. The clock never goes back and NO_TIME is below every time, so a binary search finds it:
    scanning on from each bad line took B x L steps for B bad lines in a share of L lines."""
    first = bisect_right(before, NO_TIME, start)
    return before[first] if first < len(before) else after


class _Blocks:
    """A process's actions as JSON lines, formatted a block of CHUNK lines at a time as they are sent (_send):
    the parent reads one block and splits it into lines while the next is formatted, where formatting them all
    and then sending them left the last process's 100 MB (1M standard events) to be read after it, alone.
    Blocks, as the bytes of orjson: kept one by one, they hold 4 KB each whatever their length (measured:
    100,000 lines of 182 bytes, 400 MB). Joined and pickled, 90 MB of them took 0.5 s before the pipe."""

    def __init__(self, ordered: list):
        self.ordered = ordered

    def __len__(self) -> int:
        return -(-len(self.ordered) // CHUNK)

    def __iter__(self) -> Iterator[bytes]:
        ordered = self.ordered
        for start in range(0, len(ordered), CHUNK):
            yield b"".join([action_line(a) for a in ordered[start:start + CHUNK]])


def _send(outbox, word) -> None:
    """What a process says at its end; a part's blocks of JSON lines after it, each as it is (_collect). Should
    formatting one fail (a bug of ours), the traceback goes in its place, marked (FAILED): the part has gone."""
    if type(word) is not _Part or type(word.actions) is not _Blocks:
        outbox.send(word)
        return
    blocks, word.actions = word.actions, len(word.actions)
    outbox.send(word)
    try:
        for block in blocks:
            outbox.send_bytes(block)
    except OSError:
        raise
    except BaseException:  # noqa: BLE001 - said to the parent, as _work says what failed before the part
        outbox.send_bytes(FAILED + traceback.format_exc().encode())


class _Share:
    """What one process does with its own lines: apply its customers' events, each at the clock the model
    gives it, and check the model against its engine; set its share's bad lines aside."""

    def __init__(self, engine: Engine, lateness: int, k: int, jobs: int):
        self.engine, self.lateness, self.k, self.jobs = engine, lateness, k, jobs
        self.result = Replay()
        self.names, self.actions = self.result.names, self.result.actions
        self.dead: list = []  # (position in the input, DeadLetter)
        self.after = 0        # its events stamped after --until
        self.owners: dict = {}  # customer id -> its process

    def mine(self, item, raw: bytes, line: int, t: int) -> Event:
        """One of this process's events, parsed, after every process ran the clock on the time `t` a quick
        reading found, and took it for this process's: had that reading been wrong, their clocks were, or
        another process should have applied it (module doc). (_apply checks its events as this does.)"""
        event = parsed(raw) if item is None else item
        if type(event) is not Event or event.time != t or self._owner(event.customer_id) != self.k:
            self.not_read(line)
        return event

    def _owner(self, cid: str) -> int:
        owner = self.owners.get(cid)
        if owner is None:
            owner = self.owners[cid] = customer_partition(cid, self.jobs)
        return owner

    def not_read(self, line: int) -> None:
        raise Diverged(f"line {line} is not the event a quick reading of it found (a broken value past the "
                       "fields it reads, a key given twice, or an identify call's customer_id after its userId)")

    def after_until(self, line: int, raw: bytes, item, t: int) -> None:
        self.mine(item, raw, line, t)
        self.after += 1

    def bad_lines(self, lines: list, clock: int | None) -> None:
        """`(position, line, raw, BadEvent)`, counted in the minute of `clock`, as the engine counts them."""
        for pos, line, raw, bad in lines:
            self.engine.stats.dead_letter(bad.reason, clock)
            self.dead.append((pos, DeadLetter(line, bad.reason, bad.detail, raw)))


def _apply(share: _Share, batch: list, times: array, before: array, pos_at: int, line_at: int, limit: int) -> None:
    """A batch of the process's own lines of a share, `(place, line, raw, item)` with place and line counted
    in the share (the share's own start at pos_at and line_at): each event parsed and applied at the clock the
    model gives it, and the model checked against the engine. The model said late when t < clock - lateness,
    else that the clock goes to max(t, clock) (module doc: when the engine differs, this replay cannot be split).
    In batches, after the lines around them were read: the engine's code and data stay in the processor's
    caches from one event to the next (a process's CPU time 4.3 s -> 3.7 s on the first 300,000 lines of the
    standard input). One loop, no call but the parse and the engine's for an event of its own (the owner check is
    _Share._owner's, written out): where a tuple was built for each line and a method checked each event, a
    replay process takes 1-3% fewer instructions (callgrind, the first 100,000 standard events), which in time
    is within this machine's noise."""
    engine, result, lateness, names, actions = share.engine, share.result, share.lateness, share.names, share.actions
    owners, k, jobs = share.owners, share.k, share.jobs
    seen, at = times, before  # (typed views in the compiled build: parallel.pxd)
    for pos, line, raw, item in batch:
        t = seen[pos]
        if t > limit:
            share.after_until(line_at + line, raw, item, t)
            continue
        clock = at[pos]
        got = parsed(raw) if item is None else item
        if type(got) is not Event:
            share.not_read(line_at + line)
        event = got  # (an Event: a C struct to the compiled build)
        if event.time != t:
            share.not_read(line_at + line)
        cid = event.customer_id
        owner = owners.get(cid)
        if owner is None:
            owner = owners[cid] = customer_partition(cid, jobs)
        if owner != k:
            share.not_read(line_at + line)
        late = False
        if clock != NO_TIME:
            engine.follow(clock)
            late = t < clock - lateness
        names.add(event.name)
        try:
            actions.extend(engine.process(event))
        except Exception as e:  # noqa: BLE001 - late, or a bug of ours: set aside, as loop.apply does
            letter = set_aside(engine, result, line_at + line, raw, refused(e))
            share.dead.append((pos_at + pos, letter))
            if late and letter.reason == "late":
                continue
            raise Diverged(f"line {line_at + line} was set aside as {letter.reason}, where the model of the clock "
                           "applied it") from None
        result.events += 1
        if late or engine.clock != (t if clock == NO_TIME or t > clock else clock):
            raise Diverged(f"line {line_at + line}: a repeated message was stamped later than every event before it")


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

    def resident(self) -> None:
        """put keeps what changed apart from the base: the engine goes through get and put."""

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
