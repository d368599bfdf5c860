"""The delivery loop: journey.actions in, messages out through providers, each action's effect once.

    Kafka thread: group consumer on journey.actions ──records──► asyncio loop
    asyncio loop: per action a task: dedup ─► render ─► rate limit ─► provider (retries, backoff)
                  ─► settled ─► every ~20 ms ONE store transaction: delivered ids, receipt and
                  dead-letter rows, the UI's counts, each partition's next offset ─► receipts
                  produced, then dropped

Exactly-once effect. An action id is recorded in the `deliveries` table in the same
transaction that moves the partition's stored offset past it, so after a crash the offset
and the record agree: what the stored offset passed is recorded, and what it did not pass is
read again and looked up in the table before anything is sent. Duplicates on the topic (the
engine may produce an action twice) meet the same look-up, or the in-process table of ids in
flight and recently settled. Offsets advance by each partition's lowest unsettled offset, so a
message waiting for a retry holds its partition's offset back without holding up the others.

The window that remains: a provider accepted a message and we crashed before the commit that
records it (at most `commit_ms` plus one store commit later). Then the next run sends it again
with the same Idempotency-Key (webhook) or Message-ID (smtp), and the receiver drops it. No
order of the two steps closes it: committing before sending would lose a message on a crash
between the two, and there is no transaction spanning our store and a provider. Committing
right after acceptance, as here, makes it as short as it can be.

Several workers in one group share a PostgreSQL store: Kafka gives each its partitions; an
assignment reads the stored offsets; a revocation waits (up to stop_s) for what is in flight
on those partitions, commits, and lets go; a lost partition (our session expired) is let go
without committing its offsets (delivered ids are facts and are still recorded). Stored
offsets only move forward (GREATEST), so a late commit by a worker that lost a partition
cannot move its new owner back.

The store failing (a PostgreSQL restart, a lost connection, a lock) is waited out, as `run` waits
out its own: what was settled stays here in one pending commit (`_Commit`) and reading pauses
until the store answers again, when the same writes are made, or found made when the connection
broke as the answer to COMMIT came back (every delivered id of it is in the table then); so a
store away for a while sends nothing twice and counts nothing twice. A fault that waiting cannot
cure (tables gone, a full disk) stops deliver in plain words, exit 2.
"""
from __future__ import annotations

import asyncio
import queue
import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import orjson

from journeyctl.engine.deliver import receipts
from journeyctl.engine.deliver.providers import Message, Outcome
from journeyctl.engine.deliver.ratelimit import Pacer
from journeyctl.engine.deliver.tally import Tally, due_ms
from journeyctl.engine.deliver.templates import TemplateError
from journeyctl.engine.core.store import OutboxRow
from journeyctl.engine.live.edge import Cluster, EdgeError, ensure_topics
from journeyctl.engine.store.faults import StoreFault, store_fault
from journeyctl.engine.store.counts import record_deliveries

RECENT_IDS = 200_000  # settled ids remembered in memory (the table answers for older ones)
STORE_RETRY_MAX_S = 10.0  # the longest wait between two tries of a failing store


@dataclass
class Topics:
    actions: str = "journey.actions"
    deliveries: str = "journey.deliveries"
    dead_letter: str = "journey.dead-letter"
    events: str = "events"


@dataclass
class DeliverSettings:
    topics: Topics = field(default_factory=Topics)
    group_id: str = "journeyctl-deliver"
    create_topics: bool = False
    partitions: int = 1
    receipts_to_events: bool = False
    max_in_flight: int = 2_000      # actions read and not settled; past this, reading pauses
    commit_ms: int = 20
    fetch_wait_ms: int = 100
    max_records: int = 1_000
    stop_s: float = 8.0
    backoff_s: float = 0.5          # first retry after about this long, doubling
    backoff_max_s: float = 60.0
    retry_after_max_s: float = 900.0


@dataclass
class Counts:
    read: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    rate_limited: int = 0
    duplicates: int = 0
    recorded: int = 0               # statuses other than send
    receipts_stopped: int = 0       # kept off the events topic (loop depth)
    broker: str = "connecting"
    store: str = "ok"               # failing: a commit waits for the state store to answer again
    by_channel: dict = field(default_factory=dict)   # channel -> {"sent", "failed", "retried", "rate_limited": n}

    def add(self, channel, what: str) -> None:
        """One more `what` (sent, failed, retried, rate_limited), in all and for its channel."""
        setattr(self, what, getattr(self, what) + 1)
        per = self.by_channel.get(channel)
        if per is None:
            per = self.by_channel[channel] = dict.fromkeys(PER_CHANNEL, 0)
        per[what] += 1


PER_CHANNEL = ("sent", "failed", "retried", "rate_limited")


@dataclass
class _Commit:
    """One commit's writes, kept until the store has them. `counts`: the UI's counts of what it settled, worked
    out at its first try (None before), so a second try writes the same ones. `tried`: a try failed, which may
    have failed only in its answer (then every id of `ledger` is in the table)."""
    ledger: list
    rows: list
    acked: list
    offsets: dict
    settled: list
    counts: list | None = None
    clock: int | None = None
    tried: bool = False


class Item:
    __slots__ = ("part", "offset", "action", "attempts", "cancelled", "task")

    def __init__(self, part, offset, action):
        self.part, self.offset, self.action = part, offset, action
        self.attempts = 0
        self.cancelled = False
        self.task = None


class _Part:
    """One partition's offsets read and not yet settled, in order; `next` is one past the last read."""

    __slots__ = ("open", "next", "stored")

    def __init__(self):
        self.open: OrderedDict = OrderedDict()  # offset -> settled?
        self.next: int | None = None
        self.stored: int | None = None

    def read(self, offset: int) -> None:
        self.open[offset] = False
        self.next = offset + 1

    def settle(self, offset: int) -> None:
        if offset in self.open:
            self.open[offset] = True
        while self.open:
            first = next(iter(self.open))
            if not self.open[first]:
                break
            del self.open[first]

    def watermark(self) -> int | None:
        """The next offset to read after a restart: the first unsettled one, else one past the last read."""
        if self.open:
            return next(iter(self.open))
        return self.next


class Deliverer:
    """Runs until stop(). `report` has note(text), outcome(action, outcome, attempts, latency_ms), status(self).
    `cluster`: the broker through the run loop's seam (engine/live/edge.py), Kafka's KafkaCluster for
    `journeyctl deliver`, so the loop itself imports no Kafka client."""

    def __init__(self, store, cluster: Cluster, settings: DeliverSettings, channels: dict, providers: dict,
                 templates, report):
        self.store = store
        self.cluster = cluster
        self.settings = settings
        self.channels = channels
        self.providers = providers
        self.templates = templates
        self.report = report
        self.counts = Counts()
        self.tally = Tally()    # the same outcomes per journey and minute, for the store's counts table
        self._settled: list = []  # (action, delivered | failed) settled since the last commit, to count there
        self.stopping = False
        self.owned: set = set()
        self.lags: dict | None = None
        self._parts: dict = {}
        self._active: dict[str, Item] = {}
        self._recent: OrderedDict = OrderedDict()
        self._ledger: list = []
        self._rows: list[OutboxRow] = []    # receipts and dead letters for the next commit
        self._unsent: list[OutboxRow] = []  # committed, not handed to the producer
        self._sent: dict[str, OutboxRow] = {}  # row id -> row, handed to the producer, not yet acknowledged
        self._acked: list = []
        self._pacers = {ch: Pacer(c.rate) for ch, c in channels.items() if c.rate}
        self._slots = {}
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._paused = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._fatal: BaseException | None = None
        self.sink = cluster.sink()
        self._group_at = 0.0
        self._retry_at = 0.0
        self._pending: _Commit | None = None  # a commit the store has not yet taken (or not said it took)
        self._held: list[Item] = []           # read while the store was failing: looked up when it answers
        self._store_down = False
        self._store_at = 0.0                  # when to try a failing store again
        self._store_delay = 0.5

    # ---- the whole run ---------------------------------------------------------------------

    def stop(self) -> None:
        """Safe from a signal handler or another thread."""
        self.stopping = True
        loop = self._loop
        if loop is not None and self._wake is not None:
            try:
                loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:
                pass

    def run(self) -> None:
        """Raises EdgeError for what a person must fix (a missing topic, a refused login)."""
        asyncio.run(self._main())
        if self._fatal is not None:
            raise self._fatal

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._slots = {ch: asyncio.Semaphore(c.concurrency) for ch, c in self.channels.items()}
        try:
            if not await self._retry("checking topics", self._check_topics):
                return
            await self._receipts_backlog()
            if self.stopping:
                return
            thread = threading.Thread(target=self._kafka, name="journeyctl-deliver-kafka", daemon=True)
            thread.start()
            try:
                while not self.stopping and self._fatal is None:
                    try:
                        await asyncio.wait_for(self._wake.wait(), self.settings.commit_ms / 1000)
                    except asyncio.TimeoutError:
                        pass
                    self._wake.clear()
                    self._turn()
                await self._drain(list(self._active.values()), self.settings.stop_s)
                await self._last_commit()
                self._flush_receipts(2.0)
            finally:
                self._commands.put(("stop", None))
                await asyncio.to_thread(thread.join, self.settings.stop_s + 5)
        finally:
            for p in self.providers.values():
                try:
                    await p.close()
                except Exception:  # noqa: BLE001 - closing must not hide why we stop
                    pass
            self.sink.close(1.0)

    async def _retry(self, doing: str, fn) -> bool:
        delay = 0.5
        while not self.stopping:
            try:
                await asyncio.to_thread(fn)
                return True
            except EdgeError as e:
                if not e.retry:
                    self._fatal = e
                    return False
                self.counts.broker = "unreachable"
                self.report.note(f"{e}; trying again in {delay:g} s")
                await self._sleep(delay)
                delay = min(delay * 2, 10.0)
        return False

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    def _check_topics(self) -> None:
        s, t = self.settings, self.settings.topics
        admin = self.cluster.admin()
        try:
            wanted = [t.actions, t.deliveries, t.dead_letter] + ([t.events] if s.receipts_to_events else [])
            ensure_topics(admin, wanted, s.create_topics, s.partitions, self.cluster.address, self.report.note)
        finally:
            admin.close()

    async def _receipts_backlog(self) -> None:
        """Receipts and dead letters the last run committed but did not see acknowledged go first."""
        self._unsent = await self._store_read(lambda: list(self.store.receipts("", 1_000_000))) or []
        if not self._unsent:
            return
        total = len(self._unsent)
        while (self._unsent or self._sent) and not self.stopping:
            self._pump()
            await asyncio.to_thread(self.sink.flush, 1.0)
            self._settle_sink()
            if self._acked:
                self._commit()
            if self._unsent:
                await self._sleep(0.5)
        self.report.note(f"produced {total} receipt{'s' if total != 1 else ''} and dead letters left by the last run")

    # ---- the Kafka thread ----------------------------------------------------------------------

    def _kafka(self) -> None:
        """Owns the consumer: polls, pauses and resumes, commits offsets to the group, and runs the
        rebalance callbacks, which hand their work to the asyncio loop and wait for it."""
        source = None
        delay = 0.5
        try:
            while source is None and not self.stopping:
                try:
                    source = self.cluster.source([self.settings.topics.actions], self.settings.group_id,
                                                 self._call(self._assigned, patient=True), max_records=self.settings.max_records,
                                                 fetch_wait_ms=self.settings.fetch_wait_ms,
                                                 on_revoked=self._call(self._revoked), on_lost=self._call(self._lost))
                except EdgeError as e:
                    if not e.retry:
                        raise
                    self._note(f"{e}; trying again in {delay:g} s")
                    time.sleep(delay)
                    delay = min(delay * 2, 10.0)
            self.counts.broker = "ok"
            lags_at = 0.0
            while True:
                try:
                    cmd, arg = self._commands.get_nowait()
                except queue.Empty:
                    cmd = None
                if cmd == "stop":
                    break
                if cmd == "pause":
                    source.pause()
                elif cmd == "resume":
                    source.resume()
                elif cmd == "commit":
                    source.commit(arg)
                if cmd is not None:
                    continue
                try:
                    got = source.poll(100)
                except EdgeError as e:
                    if not e.retry:
                        raise
                    self.counts.broker = "unreachable"
                    self._note(f"{e}; retrying")
                    time.sleep(0.5)
                    continue
                self.counts.broker = "ok"
                if got:
                    self._loop.call_soon_threadsafe(self._incoming, got)
                now = time.monotonic()
                if now >= lags_at:
                    lags_at = now + 1.0
                    self.lags = source.lags(timeout_ms=200)  # asks the broker: a lag only shown, once a second
        except BaseException as e:  # noqa: BLE001 - the loop stops and says why
            self._fatal = e if isinstance(e, (EdgeError, StoreFault)) else \
                EdgeError(f"reading actions: {type(e).__name__}: {e}")
            self.stop()
        finally:
            if source is not None:
                source.close(timeout_ms=int(min(self.settings.stop_s, 3.0) * 1000))

    def _call(self, coro_fn, patient: bool = False):
        """A rebalance callback for the Kafka thread that runs `coro_fn(parts)` on the loop and waits up to
        stop_s and 10 s more, or, `patient`, for as long as it takes (an assignment waits out a failing store,
        and ends when deliver stops)."""
        wait = None if patient else self.settings.stop_s + 10

        def callback(parts):
            future = asyncio.run_coroutine_threadsafe(coro_fn([tuple(p) for p in parts]), self._loop)
            return future.result(timeout=wait)
        return callback

    def _note(self, text: str) -> None:
        self._loop.call_soon_threadsafe(self.report.note, text)

    # ---- partitions -----------------------------------------------------------------------------

    async def _assigned(self, parts: list) -> dict:
        stored = await self._store_read(lambda: self.store.deliver_offsets(self.settings.group_id))
        if stored is None:  # stopping (nothing is read any more), or the store failed for good
            if self._fatal is not None:
                raise self._fatal
            return {}
        starts = {}
        for p in parts:
            self._parts[p] = _Part()
            if p in stored:
                starts[p] = stored[p]
                self._parts[p].stored = stored[p]
        self.owned |= set(parts)
        self.report.note(f"partitions assigned: {_names(parts)}; starting at "
                         + ", ".join(f"{p[1]}:{starts.get(p, 'the group offset')}" for p in sorted(parts)))
        return starts

    async def _revoked(self, parts: list) -> None:
        """Still ours while this runs: let what is in flight finish (a while), commit, let go."""
        mine = set(parts)
        await self._drain([i for i in self._active.values() if i.part in mine], self.settings.stop_s)
        self._commit()
        self._let_go(mine, "revoked")

    async def _lost(self, parts: list) -> None:
        """Another worker has them already: commit nothing of theirs but the facts (delivered ids)."""
        mine = set(parts)
        for item in [i for i in self._active.values() if i.part in mine]:
            self._cancel(item)
        for p in mine:
            self._parts.pop(p, None)
        self._let_go(mine, "lost (our session expired; their new owner reads on from the stored offsets)")

    def _let_go(self, parts: set, how: str) -> None:
        for item in [i for i in self._active.values() if i.part in parts]:
            self._cancel(item)
        for p in parts:
            self._parts.pop(p, None)
        self.owned -= parts
        if parts:
            self.report.note(f"partitions {how}: {_names(parts)}")

    async def _drain(self, items: list, timeout: float) -> None:
        """Wait up to `timeout` for these items to settle; those waiting for a retry are let go at once
        (their offsets were not passed: whoever reads the partition next tries them)."""
        tasks = [i.task for i in items if i.task is not None and not i.task.done()]
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for item in items:
            if item.task in pending:
                self._cancel(item)

    def _cancel(self, item: Item) -> None:
        item.cancelled = True
        if item.task is not None and not item.task.done():
            item.task.cancel()
        if self._active.get(item.action.get("action_id")) is item:
            del self._active[item.action["action_id"]]

    # ---- actions in -------------------------------------------------------------------------------

    def _incoming(self, got: dict) -> None:
        items = []
        for part, records in got.items():
            state = self._parts.get(part)
            if state is None:
                continue  # read before a revocation: its next owner reads it
            for r in records:
                state.read(r.offset)
                self.counts.read += 1
                try:
                    action = orjson.loads(r.value)
                    if not isinstance(action, dict) or not action.get("action_id") or not action.get("customer_id"):
                        raise ValueError("not an action")
                except (ValueError, TypeError):
                    self._dead_input(part, r)
                    state.settle(r.offset)
                    continue
                items.append(Item(part, r.offset, action))
        if items:
            self._admit(items)

    def _admit(self, items: list[Item]) -> None:
        """Start sending what is neither in hand nor in the table; while the store fails, hold it all."""
        if self._store_down:
            self._held += items
            return
        ids = [i.action["action_id"] for i in items if i.action["action_id"] not in self._active
               and i.action["action_id"] not in self._recent]
        try:
            known = self.store.delivered(ids) if ids else {}
        except Exception as e:  # noqa: BLE001 - _store_failed sorts it
            self._held += items
            self._store_failed(e)
            return
        for item in items:
            aid = item.action["action_id"]
            if aid in self._active or aid in self._recent or aid in known:
                self.counts.duplicates += 1
                self._settled_offset(item)
                continue
            if item.action.get("status") != "send":
                self.counts.recorded += 1
                self._record(item, str(item.action.get("status")))
                continue
            self._active[aid] = item
            item.task = asyncio.ensure_future(self._deliver(item))
        self._backpressure()

    def _dead_input(self, part, r) -> None:
        value = r.value if r.value is not None else b""
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.hex()
        letter = {"reason": "bad_action", "detail": "not a JSON action with action_id and customer_id",
                  "topic": part[0], "partition": part[1], "offset": r.offset, "value": text[:65_536]}
        self._rows.append(OutboxRow(f"bad:{part[0]}:{part[1]}:{r.offset}", self.settings.topics.dead_letter, r.key,
                                    orjson.dumps(letter)))

    def _backpressure(self) -> None:
        """Reading pauses at max_in_flight until half are settled, and while the store fails (_store_failed)."""
        n, most = len(self._active), self.settings.max_in_flight
        hold = self._store_down or n >= most or (self._paused and n > most // 2)
        if hold and not self._paused:
            self._paused = True
            self._commands.put(("pause", None))
            if not self._store_down:
                self.report.note(f"{n} messages in flight; reading paused until half of them are settled")
        elif self._paused and not hold:
            self._paused = False
            self._commands.put(("resume", None))

    # ---- one message ------------------------------------------------------------------------------

    async def _deliver(self, item: Item) -> None:
        a = item.action
        channel = a.get("channel")
        provider = self.providers.get(channel)
        if provider is None:
            return self._settle(item, Outcome.failed(f"no provider for channel {channel}: add one under delivery: "
                                                     "in journeyctl.yaml"), None)
        try:
            rendered = self.templates.render(a)
        except TemplateError as e:
            return self._settle(item, Outcome.failed(f"template: {e}"), provider.NAME)
        message = Message(a, rendered["body"], rendered.get("subject"))
        settings = self.channels[channel]
        pacer = self._pacers.get(channel)
        slots = self._slots[channel]
        while True:
            if pacer is not None and await pacer.wait():
                self.counts.add(channel, "rate_limited")
                self.tally.add(a, "rate_limited")
            item.attempts += 1
            async with slots:
                try:
                    outcome = await asyncio.wait_for(provider.send(message), settings.timeout + 5)
                except asyncio.TimeoutError:
                    outcome = Outcome.retry("no answer in time")
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # noqa: BLE001 - a provider bug must not stop the loop
                    outcome = Outcome.retry(f"{provider.NAME} raised {type(e).__name__}")
            if item.cancelled:
                return None
            if outcome.kind != "retry":
                return self._settle(item, outcome, provider.NAME)
            if item.attempts >= settings.max_attempts:
                return self._settle(item, Outcome.failed(f"gave up after {item.attempts} attempts; last answer: "
                                                         f"{outcome.answer}"), provider.NAME)
            self.counts.add(channel, "retried")
            self.tally.add(a, "retried")
            await asyncio.sleep(self._backoff(item.attempts, outcome.retry_after))
            if item.cancelled:
                return None

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        """Exponential with jitter (half to all of the step), or what the provider's Retry-After asked."""
        s = self.settings
        if retry_after is not None:
            return min(retry_after, s.retry_after_max_s) + random.uniform(0, 0.1)
        step = min(s.backoff_max_s, s.backoff_s * 2 ** (attempts - 1))
        return random.uniform(step / 2, step)

    def _settle(self, item: Item, outcome: Outcome, provider: str | None) -> None:
        if item.cancelled:
            return
        a = item.action
        now = int(time.time() * 1000)
        self._ledger.append((a["action_id"], outcome.kind, now))
        rows, stopped = receipts.rows(a, outcome, provider, item.attempts, self.settings.topics,
                                      self.settings.receipts_to_events, now)
        self._rows.extend(rows)
        self.counts.receipts_stopped += stopped
        sent = outcome.kind == "sent"
        self.counts.add(a.get("channel"), "sent" if sent else "failed")
        self._settled.append((a, "delivered" if sent else "failed"))
        due = due_ms(a) if sent else None
        latency = None if due is None else now - due
        self.report.outcome(a, outcome, item.attempts, latency)
        self._settled_offset(item)

    def _record(self, item: Item, status: str) -> None:
        self._ledger.append((item.action["action_id"], status, int(time.time() * 1000)))
        self._settled_offset(item)

    def _settled_offset(self, item: Item) -> None:
        aid = item.action.get("action_id")
        if self._active.get(aid) is item:
            del self._active[aid]
        if aid:
            self._recent[aid] = None
            if len(self._recent) > RECENT_IDS:
                self._recent.popitem(last=False)
        state = self._parts.get(item.part)
        if state is not None:
            state.settle(item.offset)
        self._backpressure()

    # ---- commit and receipts out --------------------------------------------------------------------

    def _turn(self) -> None:
        self._settle_sink()
        self._commit()
        self._pump()
        now = time.monotonic()
        if now >= self._group_at:
            self._group_at = now + 1.0
            offsets = {p: s.stored for p, s in self._parts.items() if s.stored is not None}
            if offsets:
                self._commands.put(("commit", offsets))
            self.report.status(self)

    def _commit(self, final: bool = False) -> None:
        """ONE transaction: delivered ids, receipt rows, produced rows dropped, the counts of what was
        settled (so they say what the delivered ids say, after a crash too), each partition's offset.
        While the store fails it is kept (_Commit) and tried again after a backoff, in order: what is
        settled meanwhile waits for the next. `final`: the counts of retries go even without a delivery."""
        if self._store_down and time.monotonic() < self._store_at:
            return
        if self._pending is None:
            offsets = {}
            for p, s in self._parts.items():
                w = s.watermark()
                if w is not None and w != s.stored:
                    offsets[p] = w
            if self._ledger or self._rows or self._acked or offsets or self._settled or (final and self.tally):
                self._pending = _Commit(self._ledger, self._rows, self._acked, offsets, self._settled)
                self._ledger, self._rows, self._acked, self._settled = [], [], [], []
        batch = self._pending
        try:
            if self._store_down:
                self.store.reconnect()  # (raises while the server is away)
            if batch is not None:
                if batch.tried and self._made(batch):
                    self.report.note("the state store's last commit was made, though its answer was lost with the "
                                     "connection: it is not made twice")
                else:
                    self._write(batch, final)
        except Exception as e:  # noqa: BLE001 - _store_failed sorts it
            if batch is not None:
                batch.tried = True
            self._store_failed(e)
            return
        self._pending = None
        if batch is not None:
            for p, o in batch.offsets.items():
                if p in self._parts:
                    self._parts[p].stored = o
            self._unsent.extend(batch.rows)
        self._store_back()

    def _write(self, batch: _Commit, final: bool) -> None:
        if batch.counts is None:
            # Counted once, at the first try, but for the ids another worker recorded first: the table keeps
            # one record of an id, and so do the counts. That happens when a worker stalls past its session
            # (a pause, a frozen VM) and its partition's new owner, reading on from the stored offset,
            # delivers and commits what the stalled one had settled and not yet committed; the stalled one
            # commits it on waking, often before it learns the partition is gone. The counts of retries
            # ride with a commit of delivered ids, the proof _made reads, but for the last.
            if batch.settled:
                known = self.store.delivered([a["action_id"] for a, _ in batch.settled])
                for a, outcome in batch.settled:
                    if a["action_id"] not in known:
                        self.tally.add(a, outcome)
            batch.counts = self.tally.drain() if batch.ledger or final else []
            batch.clock = self.tally.clock
        record_deliveries(self.store, batch.counts, batch.clock)
        self.store.add_deliveries(batch.ledger)
        self.store.add_receipts(batch.rows)
        self.store.drop_receipts(batch.acked)
        self.store.save_deliver_offsets(self.settings.group_id, batch.offsets)
        self.store.commit()

    def _made(self, batch: _Commit) -> bool:
        """After a failed try: whether the store took the commit all the same, the connection breaking as the
        answer to COMMIT came back. Then every delivered id of it is in the table. A commit without ids is
        written again: its rows, drops and offsets are the same the second time, and it holds no counts (but the
        last one's of retries, which such a loss at stop would count twice)."""
        ids = {aid for aid, _, _ in batch.ledger}
        return bool(ids) and len(self.store.delivered(list(ids))) == len(ids)

    async def _last_commit(self) -> None:
        """At stop: what was settled is recorded before leaving, a failing store given up to stop_s to answer.
        Past that, deliver says how many messages the next run will send again."""
        deadline = time.monotonic() + self.settings.stop_s
        self._commit(final=True)
        while (self._pending or self._ledger) and self._fatal is None and time.monotonic() < deadline:
            await asyncio.sleep(min(max(0.05, self._store_at - time.monotonic()), deadline - time.monotonic()))
            self._commit(final=True)
        n = len(self._ledger) + (len(self._pending.ledger) if self._pending else 0)  # settled, not recorded
        if n and self._fatal is None:
            self._fatal = StoreFault(f"the state store did not answer before deliver stopped: {n} message"
                                     f"{'s' if n != 1 else ''} settled since its last commit are not recorded, "
                                     "and the next run sends them again (with the same idempotency keys)", False)

    async def _store_read(self, read):
        """A read the loop cannot go on without (the receipts left, an assignment's offsets), tried until the
        store answers; None when stopping or the store failed for good."""
        while not self.stopping and self._fatal is None:
            try:
                if self._store_down:
                    self.store.reconnect()
                value = read()
            except Exception as e:  # noqa: BLE001 - _store_failed sorts it
                self._store_failed(e)
                await self._sleep(max(0.0, self._store_at - time.monotonic()))
                continue
            self._store_back()
            return value
        return None

    def _store_failed(self, e: Exception) -> None:
        """A transient store fault: reading pauses, and the store is tried again after a backoff (one status
        line for the whole outage). Anything else stops the loop: a fault waiting cannot cure in plain words
        (exit 2), a bug with its traceback."""
        fault = store_fault(e)
        if fault is None or not fault.transient:
            if self._fatal is None:
                self._fatal = fault or e
            self.stop()
            return
        delay = self._store_delay
        if not self._store_down:
            self._store_down = True
            self.counts.store = "failing"
            self.report.note(f"the state store failed: {fault}; reading paused, and what was delivered is recorded "
                             f"when it answers again (nothing is sent twice); trying again in {delay:g} s")
        self._store_at = time.monotonic() + delay
        self._store_delay = min(delay * 2, STORE_RETRY_MAX_S)
        self._backpressure()

    def _store_back(self) -> None:
        if not self._store_down:
            return
        self._store_down, self._store_delay = False, 0.5
        self.counts.store = "ok"
        self.report.note("the state store answers again; reading resumes")
        held, self._held = self._held, []
        self._backpressure()
        if held:
            self._admit(held)

    def _pump(self) -> None:
        if not self._unsent or time.monotonic() < self._retry_at:
            return
        while self._unsent:
            row = self._unsent[0]
            err = self.sink.send(row.id, row.topic, row.key, row.value)
            if err is not None:
                self._retry_at = time.monotonic() + 1.0
                self.report.note(f"{err}; {len(self._unsent)} receipts wait in the store, trying again in 1 s")
                return
            self._unsent.pop(0)
            self._sent[row.id] = row

    def _settle_sink(self) -> None:
        done, failed = self.sink.settle()
        for row_id in done:
            if self._sent.pop(row_id, None) is not None:
                self._acked.append(row_id)
        if failed:
            again = [self._sent.pop(i) for i, _ in failed if i in self._sent]
            again += [self._sent.pop(i) for i in self.sink.abandon() if i in self._sent]
            self._unsent[:0] = again
            self._retry_at = time.monotonic() + 1.0

    def _flush_receipts(self, seconds: float) -> None:
        self._pump()
        self.sink.flush(seconds)
        self._settle_sink()
        self._commit()

    @property
    def in_flight(self) -> int:
        return len(self._active)

    @property
    def receipts_waiting(self) -> int:
        return len(self._unsent) + len(self._sent)


def _names(parts) -> str:
    by: dict = {}
    for t, p in sorted(parts):
        by.setdefault(t, []).append(str(p))
    return " ".join(f"{t}[{','.join(ps)}]" for t, ps in by.items()) or "none"
