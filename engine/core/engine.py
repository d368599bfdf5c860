"""The engine: events and the passing of time in, actions out. Pure and deterministic.

No wall clock, no files, no network: `process(event)`, `advance_to(instant)` and
`tick(...)` are the only ways time moves, so a replay of the same input gives the
same actions with the same ids. Order of work within one instant (spec section 6):
the customer's due timers, then goals, `exit on`, `unless` and `when` of running
instances, then new entries, then the events those steps emitted.

Time comes in lanes: each input partition of `run` is one (a customer lives in one
partition, in order), a replay has a single lane. An event is late against its own
lane's stream time (the latest event time it read), never against another lane's,
so a backlog read from several partitions at different speeds is not judged late.
Timers fire at the watermark minus the allowed lateness: the earliest stream time
of the lanes that may still hold unread events (Flink's and Kafka Streams' stream
time), so no timer fires before an event of any lane that could cancel it. A lane
known to be caught up does not hold the watermark back (`tick`). `clock` is the
latest event time of all lanes (spec section 6's engine clock).
"""
from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence

from journeyctl.dsl.ir import BUILTIN_CHANNELS, JourneyIR, SegmentIR

from journeyctl.engine.core.actions import Action, new_action
from journeyctl.engine.core.aggregates import READ_EARLY, Aggregates, next_expiry, note_expiry, prune
from journeyctl.engine.core.events import BadEvent, Event, format_instant, show_instant
from journeyctl.engine.core.expr import context, event_of, lookup
from journeyctl.engine.core.instants import day_at, next_yearly
from journeyctl.engine.core.localtime import next_time_of_day, quiet_until, zone
from journeyctl.engine.core.runtime import Journey, build_journey, build_segment, histories
from journeyctl.engine.core.state import (DEDUP_WINDOW, DEFERRED, HELD_OUT, UNKNOWN_TIME, Customer, Instance,
                                          Parked)
from journeyctl.engine.core.stats import Stats
from journeyctl.engine.core.store import StateStore
from journeyctl.engine.core.timers import TimerQueue

NEVER = 1 << 62  # an instant after every other
UNKNOWN = -NEVER  # the watermark while some lane that may still hold events has no stream time yet
MAX_EMITS = 1_000  # emitted events handled for one input event before the chain is cut
# Window notes (Customer.window_epoch) are made under one engine's loaded segments: every load in the
# process gets its own epoch, so a new engine over the objects of a MemoryStore cannot trust the notes
# an earlier engine made under other segments (a SQL store's customers come back with none).
_EPOCHS = itertools.count(1)


class TimerFailed(Exception):
    """Firing one instance's timer raised (a bug of ours, or data no check foresaw). It names the timer
    (`key`: customer id, journey, instance id), so the run loop can roll the batch back and park that
    timer (`Engine.parking`) rather than fail on it at every tick and every restart."""

    def __init__(self, customer_id: str, journey: str | None, instance_id: str, due: int | None = None):
        at = f", due {show_instant(due)}" if due is not None else ""
        super().__init__(f"the timer of customer {customer_id!r} in journey {journey or '?'} (instance "
                         f"{instance_id}{at}) raised")
        self.key = (customer_id, journey, instance_id)
        self.due = due


def stable_share(*parts: str) -> float:
    """A number in [0, 100) fixed by its inputs: the same customer lands in the same arm on every run."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 1_000_000 / 10_000


class Engine:
    """Runs loaded journeys over one store. `channels` maps channel name to the profile trait that holds
    its contact address (or None); `lateness` is the allowed lateness in ms; `dedup_window` the event
    time in ms within which a copy of a message id is a duplicate (None: 24 h; 0: no de-duplication)."""

    def __init__(self, journeys: list[JourneyIR], segments: Sequence[SegmentIR] = (), *, store: StateStore,
                 channels: dict | None = None, default_timezone: str | None = None, lateness: int = 5_000,
                 trace_customer: str | None = None, explain=None, profiles: bool = False, dedup_window: int | None = None):
        self.store = store
        self._resident = store.resident()  # (the store's own dict of customers, or None: StateStore.resident)
        self.dedup_window = DEDUP_WINDOW if dedup_window is None else dedup_window
        self._keep_ids = self.dedup_window + lateness  # how long an id can still be matched (_forget_ids)
        self.channels = {**dict.fromkeys(BUILTIN_CHANNELS), **(channels or {})}  # name -> its contact trait
        self.default_timezone = default_timezone
        if lateness < 0:
            raise ValueError(f"the allowed lateness is {lateness} ms: it cannot be less than none")
        self.lateness = lateness
        self.stats = Stats()
        self.trace_customer = trace_customer
        self.explain = explain  # words for the trace (engine/obs/explain.py), given by those who show it
        self.trace: list = []
        self.profile_records: list = []   # profile sync records (spec section 10), drained by the caller
        self.sync_profiles = profiles     # keep them only when someone will read them
        self.versions: dict[str, Journey] = {}
        self.load(journeys, segments)
        self.clock = self.store.get_meta("clock")
        self.lanes: dict = {} if self.clock is None else {None: self.clock}  # lane -> its stream time
        self.caught_up: set = set()  # lanes that hold nothing unread (event time alone: see tick)
        self.watermark = UNKNOWN if self.clock is None else self.clock
        self.stats.restore(self.store.get_meta("stats"))
        self._timers = TimerQueue()
        self._scheduled: dict = {}
        self.adopt(self.store.timers())
        # Timers to park rather than fire, (customer id, journey or None, instance id) -> why, and those
        # timers parked since the caller last looked (state.Parked). See _park.
        self.parking: dict = {}
        self.parked: list = []

    def reopen(self, clock: int | None, stats: dict | None, timers) -> None:
        """Forget everything since the store's last commit, which the caller rolled back: the clock, the
        counts and the timers as a restart reads them from the store. The caller opens its lanes again."""
        self.clock = clock
        self.lanes, self.caught_up, self.watermark = {}, set(), UNKNOWN
        self.stats = Stats()
        self.stats.restore(stats)
        self.profile_records, self.parked = [], []
        self._timers = TimerQueue()
        self._scheduled = {}
        self.adopt(timers)

    # ---- set-up -------------------------------------------------------------------

    def load(self, journeys: list[JourneyIR], segments: Sequence[SegmentIR] = ()) -> None:
        """(Re)load journey files: new entries use these versions; running instances keep theirs."""
        self.current: dict[str, Journey] = {}
        for ir in journeys:
            j = self.versions.get(ir.version) or build_journey(ir)
            self.versions[ir.version] = j
            self.current[ir.id] = j
            self.store.save_version(ir.version, ir.to_dict())
        self.by_trigger: dict[str, list[Journey]] = {}
        for j in self.current.values():
            if j.date is None:
                self.by_trigger.setdefault(j.trigger.event, []).append(j)
        self.date_journeys = [j for j in self.current.values() if j.date is not None]  # (their trigger: no event)
        self.segments = [build_segment(s) for s in segments]
        self._segment_irs = list(segments)
        self._keep_histories()

    def _keep_histories(self) -> None:
        """Keep the history every journey version in memory reads, not only the loaded files': an
        instance still running an earlier version may read an aggregate the new files dropped."""
        current = {j.version for j in self.current.values()}
        earlier = [j.ir for j in self.versions.values() if j.version not in current]
        last_seen, last_props, aggregates = histories([*(j.ir for j in self.current.values()),
                                                       *self._segment_irs, *earlier])
        self.last_seen_names = last_seen
        self.last_props_names = {k: sorted(v) for k, v in last_props.items()}
        before = getattr(self, "aggregates", None)  # (its data warnings so far still count)
        self.aggregates = Aggregates(aggregates, self.segments, self.lateness,
                                     before.warnings if before is not None else None)
        self.aggregates.env.zone = zone(self.default_timezone)  # (a date in a text is midnight in it)
        self._agg_readers = self.aggregates.readers  # it goes into every expression context
        self.listened = {name for j in self.versions.values() for name in j.listens}
        self._relevance()

    def _relevance(self) -> None:
        """Event names that can change anything. Any other event only moves the clock, lets its
        customer's due timers fire and is remembered for de-duplication (a later copy under a name
        some journey reads is still a duplicate)."""
        self.relevant = (set(self.by_trigger) | self.listened | self.last_seen_names | set(self.last_props_names)
                         | set(self.aggregates.by_event))
        # One lookup per event gives everything its name can touch: (journeys it may start, with their
        # trigger conditions; whether running instances listen for it; whether last_seen() or last() keep
        # it; the fold of the aggregates that watch it).
        self._routes = {
            name: (tuple((j, j.trigger.where) for j in self.by_trigger.get(name, ())), name in self.listened,
                   name in self.last_seen_names, self.last_props_names.get(name), self.aggregates.by_event.get(name))
            for name in self.relevant}
        # Each segment is a bit: what can move it is looked up as a mask, and the segments a mask
        # names come out as one list in file order (_due_segments).
        bits = self._bits
        self._seg_always = bits(seg.always for seg in self.segments)
        self._seg_profile = bits(seg.profile for seg in self.segments)
        self._all_segments = (1 << len(self.segments)) - 1
        self._seg_by_event: dict = {}
        for bit, seg in enumerate(self.segments):
            for event in seg.events:
                self._seg_by_event[event] = self._seg_by_event.get(event, 0) | 1 << bit
        windows = {window for seg in self.segments for window in seg.windows}
        # window key -> (its width, the bits of the segments over it, whether its expiry matters to the
        # customer's note whatever their memberships, the segments for which it matters to members only)
        exit_only = self.aggregates.exit_only
        self._windows = {key: (within, bits(key in seg.keys for seg in self.segments), key in self.aggregates.noted,
                               tuple(seg.id for bit, seg in enumerate(self.segments)
                                     if key in seg.keys and exit_only >> bit & 1))
                         for key, within in sorted(windows)}
        self._window_epoch = next(_EPOCHS)  # notes made under other journeys and segments no longer count
        empty = Customer()
        self._empty_members = bits(not seg.always and _ok(seg.where, context({}, {}, empty, 0, self._agg_readers))
                                   for seg in self.segments)
        self._by_mask: dict = {}
        # segment_entered/exited are processed like emitted events; when nothing reads them (no journey
        # or segment names them, no segment is re-checked on every event) they are not queued at all.
        # Then they change nothing, but for one thing: they no longer count towards MAX_EMITS, so a
        # runaway emit chain is cut after 1,000 emitted events, not 1,000 events of both kinds.
        self._segment_events_read = bool(self._seg_always) or any(
            name in self._routes or name in self._seg_by_event for name in ("segment_entered", "segment_exited"))

    @staticmethod
    def _bits(flags) -> int:
        return sum(1 << bit for bit, flag in enumerate(flags) if flag)

    def _due_segments(self, mask: int) -> list:
        """(segment id, check(customer, now), the windows a member's note must cover or None) of the
        segments a mask names, in file order."""
        exit_only = self.aggregates.exit_only
        due = self._by_mask[mask] = [(seg.id, self.aggregates.checks[bit], seg.windows if exit_only >> bit & 1 else None)
                                     for bit, seg in enumerate(self.segments) if mask >> bit & 1]
        return due

    def _version(self, version: str) -> Journey | None:
        j = self.versions.get(version)
        if j is None:
            data = self.store.load_version(version)
            if data is not None:  # an instance on a version these files replaced (after a restart)
                j = self.versions[version] = build_journey(JourneyIR.from_dict(data))
                self._keep_histories()  # (its aggregates count from now: note J129)
        return j

    # ---- the two ways in -------------------------------------------------------------

    def process(self, ev: Event, lane=None) -> list[Action]:
        """Apply one event read from `lane` (in `run`, its input partition; a replay has one lane).
        Raises BadEvent('late') for an event too far behind that lane's clock."""
        t = ev.time
        clock = self.lanes.get(lane)
        # (t < clock first: an event in order, as nearly all are, is let through without the subtraction)
        if clock is not None and t < clock and t < clock - self.lateness:
            self.stats.dead_letter("late", self.clock)
            raise BadEvent("late", f"stamped {format_instant(t)}, more than the allowed lateness behind "
                                   f"the clock at {format_instant(clock)}")
        out: list = []
        cid = ev.customer_id
        name = ev.name
        msg = ev.message_id
        resident = self._resident
        cust = known = self.store.get(cid) if resident is None else resident.get(cid)
        if cust is None:
            cust = self._new_customer()
        window = self.dedup_window
        if window:
            # Spec section 6: every applied event's id is remembered, read or not, in the customer's
            # stored state, so a cache or a restart cannot change what is a duplicate (_seen_before).
            seen = cust.seen
            first = seen.get(msg)
            if first is not None and self._seen_before(seen, msg, first, t):
                self.stats.duplicates += 1
                return out
            seen[msg] = t
            for oldest in seen.values():
                if oldest + self._keep_ids <= t:  # (added in C in the compiled build: engine.pxd)
                    self._forget_ids(seen, t)
                break
        if name not in self._routes and ev.traits is None:
            # An event no journey, history or segment reads: counted as `unused`. It changes nothing
            # but the clock and its id, and lets its customer's due timers fire; unless it may move a
            # segment (_may_move), that is all it does, without the journeys, histories and segments
            # of the full path. Most live traffic is such events.
            self.stats.unused += 1
            if not (self.segments and self._may_move(known, t)):
                due = self._scheduled.get(cid)
                if due is not None and due <= t:
                    self._fire_customer(cid, cust, t, out)
                    if self.segments and self._windows_passed(cust, t):
                        # the timers' emits started windows that have moved again by `t`
                        queue: list = []
                        self._segments(cid, cust, t, msg, queue, None, False, 0, True)
                        if queue:
                            self._drain(cid, cust, queue, t, out)
                    self._store(cid, cust)
                elif window:  # it holds the id now
                    if resident is None:
                        self.store.put(cid, cust)
                    else:
                        resident[cid] = cust
                if clock is None or t > clock:
                    self._advance(lane, t, clock)
                if self._timers.head <= self.watermark - self.lateness:
                    self._fire_due(self.watermark - self.lateness, out)
                return out
        else:
            self.stats.events += 1
        due = self._scheduled.get(cid)
        if due is not None and due <= t:
            self._fire_customer(cid, cust, t, out)
        if clock is None or t > clock:
            self._advance(lane, t, clock)
        queue = []
        self._one_event(cid, cust, name, ev.properties, ev.traits, msg, t, out, queue)
        if queue:
            self._drain(cid, cust, queue, t, out)
        self._store(cid, cust)
        if self._timers.head <= self.watermark - self.lateness:
            self._fire_due(self.watermark - self.lateness, out)
        return out

    def advance_to(self, instant: int) -> list[Action]:
        """Move every lane to `instant` (--until at the end of a replay) and fire what is due.
        Timers due at or before `instant` fire; the lateness allowance does not apply to an explicit advance."""
        out: list = []
        if self.clock is None or instant > self.clock:
            self.clock = instant
        lanes = self.lanes
        for lane, clock in list(lanes.items()) or [(None, None)]:
            if clock is None or instant > clock:
                lanes[lane] = instant
        self._rewatermark()
        self._fire_due(instant, out)
        return out

    def tick(self, wall_ms: int | None, caught_up) -> list[Action]:
        """Live mode: `caught_up` are the lanes known to hold nothing unread as of `wall_ms`. With the
        wall clock (wall_ms given) each of them moves on to it; with event time alone (None) they stop
        holding the watermark back until they read again (`reading`). Then what is due at the
        watermark minus the allowed lateness fires."""
        lanes = self.lanes
        if wall_ms is None:
            self.caught_up = {lane for lane in caught_up if lane in lanes}
        else:
            for lane in caught_up:
                if lane in lanes and (lanes[lane] is None or wall_ms > lanes[lane]):
                    lanes[lane] = wall_ms
                    if self.clock is None or wall_ms > self.clock:
                        self.clock = wall_ms
        self._rewatermark()
        out: list = []
        self._fire_due(self.watermark - self.lateness, out)
        return out

    # ---- lanes: the input partitions this engine reads ----------------------------------

    def open_lane(self, lane, clock: int | None) -> None:
        """Start reading a lane (a partition assigned), at the stream time stored with it (None: unknown,
        and the watermark waits for it until it reads an event or is caught up)."""
        have = self.lanes.get(lane)
        self.lanes[lane] = clock if have is None or (clock is not None and clock > have) else have
        if clock is not None and (self.clock is None or clock > self.clock):
            self.clock = clock
        self._rewatermark()

    def close_lane(self, lane) -> None:
        """Stop reading a lane (its partition went to another worker): it holds nothing back any more."""
        self.lanes.pop(lane, None)
        self.caught_up.discard(lane)
        self._rewatermark()

    def reading(self, lane) -> None:
        """The lane has events to read again: it holds the watermark back at its stream time."""
        if lane in self.caught_up:
            self.caught_up.discard(lane)
            self._rewatermark()

    def follow(self, clock: int) -> None:
        """`simulate --jobs`: a replay process meets each event at the clock the whole input has reached
        (engine/replay/parallel.py), not the one its own customers' events would give: its one lane, the
        watermark and the clock are that clock."""
        self.clock = self.lanes[None] = self.watermark = clock

    def _advance(self, lane, t: int, was: int | None) -> None:
        """`lane`, whose clock was `was`, read an event stamped `t`, later than every event it read before."""
        lanes = self.lanes
        lanes[lane] = t
        if self.clock is None:
            self.stats.clock_set(t)
            self.clock = t
        elif t > self.clock:
            self.clock = t
        if len(lanes) == 1:
            self.watermark = t  # a replay: its one lane is the watermark
        elif was is None or was <= self.watermark or self.caught_up:
            self._rewatermark()

    def _rewatermark(self) -> None:
        """The earliest stream time of the lanes that may still hold unread events; when every lane is
        caught up, the latest of them; unknown while one that may hold events has no stream time yet."""
        idle = self.caught_up
        waiting = [clock for lane, clock in self.lanes.items() if lane not in idle]
        if waiting:
            mark = None if None in waiting else min(waiting)
        else:
            mark = max((clock for clock in self.lanes.values() if clock is not None), default=None)
        self.watermark = UNKNOWN if mark is None else mark

    # ---- timers --------------------------------------------------------------------

    def _fire_due(self, upto: int, out: list) -> None:
        timers = self._timers
        while timers.head <= upto:
            due, cid = timers.pop()
            if self._scheduled.get(cid) != due:
                continue  # stale: that timer moved earlier or was cancelled
            del self._scheduled[cid]
            cust = self.store.get(cid) if self._resident is None else self._resident.get(cid)
            if cust is None:
                continue
            self._fire_customer(cid, cust, upto, out)
            self._store(cid, cust)

    def _fire_customer(self, cid: str, cust: Customer, upto: int, out: list) -> None:
        """Fire this customer's timers due at or before `upto`, earliest first, each at its own instant."""
        while True:
            inst, due = None, upto + 1
            for i in cust.instances:
                d = i.due
                if d is not None and d < due:
                    inst, due = i, d
            if cust._dates and self._fire_dates(cid, cust, due, out):
                continue  # a date trigger came first (at one instant, the instances' timers go first)
            if inst is None:
                return
            if self.parking and self._park(cid, cust, inst, due):
                continue
            queue: list = []
            try:
                self._fire(cid, cust, inst, due, out, queue)
                if queue:
                    self._drain(cid, cust, queue, due, out)
            except Exception as e:
                raise TimerFailed(cid, inst.journey, inst.iid, due) from e

    def _park(self, cid: str, cust: Customer, inst: Instance, due: int) -> bool:
        """Park the instance's timer instead of firing it when `parking` names it (the caller saw it raise):
        it keeps no due time, so it never fires again until released (Customer.unpark), and is counted."""
        why = self.parking.get((cid, inst.journey, inst.iid))
        if why is None:
            why = self.parking.get((cid, None, inst.iid))
            if why is None:
                return False
        cust.park(inst, due, why)
        self.stats.parked += 1
        self.parked.append(Parked(cid, inst.journey, inst.iid, due, why))
        return True

    def _fire(self, cid, cust, inst, now, out, queue) -> None:
        j = self._version(inst.version)
        inst.due = None
        if j is None:  # its version is gone from the store: nothing left to run it with
            self._end(cid, cust, inst, None, "exited", now)
            return
        st = j.states[inst.state]
        if inst.flags & DEFERRED:
            inst.flags &= ~DEFERRED
            if cid == self.trace_customer:
                self._trace(cid, now, j.id, f"quiet hours over at {inst.state}: sending")
            self._send(cid, cust, inst, j, inst.state, st, now, out)
            nxt = st.next
        elif st.kind == "when":
            if cid == self.trace_customer:
                self._trace(cid, now, j.id, f"when at {inst.state} timed out: otherwise")
            nxt = st.otherwise
        else:
            if cid == self.trace_customer:
                self._trace(cid, now, j.id, f"{st.kind.replace('_', ' ')} at {inst.state} fired")
            nxt = st.next
        self._run(cid, cust, inst, j, nxt, now, out, queue)

    # ---- events --------------------------------------------------------------------

    def _drain(self, cid, cust, queue: list, t: int, out: list) -> None:
        """Handle emitted events (and segment changes) in order; handling one may append more."""
        handled = 0
        while handled < len(queue):
            name, props, traits, msg = queue[handled]
            handled += 1
            if handled > MAX_EMITS:
                # journeys that emit each other's triggers without a wait: stop the chain, say so
                self.stats.dead_letter("emit_loop", t)
                if cid == self.trace_customer:
                    self._trace(cid, t, "-", f"emit chain stopped after {MAX_EMITS} events ({name})")
                break
            self._one_event(cid, cust, name, props, traits, msg, t, out, queue)
        queue.clear()

    def _one_event(self, cid, cust, name, props, traits, msg, t, out, queue) -> None:
        if traits is not None:
            self._merge_traits(cid, cust, traits, t, msg)
        changed = 0  # the bits of the segments this event's aggregates may have moved
        route = self._routes.get(name)
        if route is not None:
            entering, listened, keep_seen, keep_props, aggregated = route
            if aggregated is not None:
                changed = aggregated(cust, props, t, self._agg_readers)
            if listened and cust.instances:
                self._match_running(cid, cust, name, props, t, out, queue)
            if entering:
                ctx = context(props, props, cust, t, self._agg_readers)
                for j, where in entering:
                    if where is not None and not where(ctx):
                        if cid == self.trace_customer:
                            self._trace(cid, t, j.id, "not entered: the trigger's where is false"
                                        + self._why_false(j.ir.trigger["where"], ctx, j.ir.aggregates))
                        continue
                    self._try_enter(cid, cust, j, ctx, msg, t, out, queue)
            if keep_seen:
                cust.last_seen[name] = t
            if keep_props:
                cust.last_props[name] = {p: lookup(props, p.split(".")) for p in keep_props}
        if self.segments:
            # _windows_passed, written out: this runs for nearly every event
            passed = ((noted := cust.window_due) is None or t >= noted or t < self.clock
                      or cust.window_epoch != self._window_epoch)
            if changed or passed or traits is not None and self._seg_profile or name in self._seg_by_event \
                    or self._seg_always:
                self._segments(cid, cust, t, msg, queue, name, traits is not None, changed, passed)

    def _match_running(self, cid, cust, name, props, t, out, queue) -> None:
        for inst in list(cust.instances):
            if inst not in cust.instances:
                continue  # ended by an earlier instance's step in this same event
            j = self._version(inst.version)
            if j is None or name not in j.listens:
                continue
            ctx = context(props, inst.trigger, cust, t, self._agg_readers)
            goal = j.goal
            if goal and goal.event == name and t < inst.entered + j.goal_within and _ok(goal.where, ctx):
                self._end(cid, cust, inst, j, "converted", t)
                continue
            if j.exit_on and _matched(j.exit_on, name, ctx):
                self._end(cid, cust, inst, j, "exited", t)
                continue
            if inst.flags & DEFERRED:
                continue
            waits = j.waits_on.get(inst.state)
            if not waits or name not in waits:
                continue
            for matcher, goto in waits[name]:
                if _ok(matcher.where, ctx):
                    if goto is None:
                        reason = "converted" if goal and goal.event == name else "cancelled"
                        if cid == self.trace_customer:
                            self._trace(cid, t, j.id, f"wait at {inst.state} ended by {name}")
                        self._end(cid, cust, inst, j, reason, t)
                    else:
                        if cid == self.trace_customer:
                            self._trace(cid, t, j.id, f"when at {inst.state} matched {name}")
                        inst.due = None
                        self._run(cid, cust, inst, j, goto, t, out, queue)
                    break

    def _try_enter(self, cid, cust, j: Journey, ctx: tuple, msg, t, out, queue) -> None:
        if j.audience is not None and not j.audience(ctx):
            if cid == self.trace_customer:
                self._trace(cid, t, j.id, "not entered: audience is false"
                            + self._why_false(j.ir.audience, ctx, j.ir.aggregates))
            return
        jid = j.id
        instances = cust.instances
        active = [i for i in instances if i.journey == jid] if instances else ()
        entry = cust.entries.get(jid)
        key = None
        blocked = None
        mode = j.reentry
        if mode == "default":
            if active:
                blocked = "re-entry blocked: an instance is still active"
        elif mode == "once" and entry:
            blocked = "re-entry blocked: reentry once, already entered"
        elif mode == "after" and active:
            blocked = "re-entry blocked: an instance is still active"
        elif mode == "after" and entry and t < entry[0] + j.reentry_after:
            blocked = f"re-entry blocked: last entry at {format_instant(entry[0])} is too recent"
        elif mode == "concurrent":
            key = j.reentry_by(ctx) if j.reentry_by else msg
            for other in active:
                if other.key == key:
                    blocked = f"re-entry blocked: an instance with key {key!r} is active"
                    break
        if blocked:
            if cid == self.trace_customer:
                self._trace(cid, t, jid, blocked)
            self.stats.blocked(jid)
            return
        if mode == "restart":
            for inst in active:
                self._end(cid, cust, inst, j, "restarted", t)
        flags = HELD_OUT if j.holdout and stable_share("holdout", jid, cid) < j.holdout else 0
        props = event_of(ctx)
        trig = {k: props[k] for k in j.trigger_keys if k in props} if j.trigger_keys else {}
        inst = Instance(jid, j.version, msg, None, None, t, trig, msg, flags, key)
        cust.entries[jid] = [t, entry[1] + 1 if entry else 1]
        instances.append(inst)
        self.stats.entered(jid, t, bool(flags & HELD_OUT), j.version, j.start)
        if cid == self.trace_customer:
            self._trace(cid, t, jid, "entered" + (" (holdout group)" if flags & HELD_OUT else ""))
        self._run(cid, cust, inst, j, j.start, t, out, queue)

    # ---- the flow ------------------------------------------------------------------

    def _run(self, cid, cust, inst, j: Journey, sid, now, out, queue) -> None:
        """Step through states until one waits or the flow ends."""
        while sid is not None:
            if inst.state is not None:  # (the move in from the entry is counted with the entry: Stats.entered)
                self.stats.moved(inst.version, inst.state, sid)
            inst.state = sid
            st = j.states[sid]
            kind = st.kind
            if kind == "wait":
                inst.due = now + st.duration
                if cid == self.trace_customer:
                    self._trace(cid, now, j.id, f"wait at {sid} started, until {show_instant(inst.due)}")
                return
            if kind == "when":
                inst.due = now + st.within
                if cid == self.trace_customer:
                    self._trace(cid, now, j.id, f"when at {sid} waiting until {show_instant(inst.due)}")
                return
            if kind == "wait_until":
                due = next_time_of_day(now, st.minute, self._zone(cust, j)) if st.fn is None \
                    else self._until(cid, cust, inst, j, st, now)
                if due is None:  # `wait until EXPR` with no time there: nothing to wait for
                    self._end(cid, cust, inst, j, "exited", now)
                    return
                if due > now:
                    inst.due = due
                    if cid == self.trace_customer:
                        self._trace(cid, now, j.id, f"wait until at {sid}: {show_instant(due)}")
                    return
                sid = st.next
            elif kind == "send":
                if j.quiet_hours:
                    until = quiet_until(now, *j.quiet_hours, self._zone(cust, j))
                    if until is not None:
                        inst.due = until
                        inst.flags |= DEFERRED
                        if cid == self.trace_customer:
                            self._trace(cid, now, j.id, f"send at {sid} deferred by quiet hours to "
                                                    f"{show_instant(until)}")
                        return
                self._send(cid, cust, inst, j, sid, st, now, out)
                sid = st.next
            elif kind == "if":
                ctx = context(inst.trigger, inst.trigger, cust, now, self._agg_readers)
                sid = st.otherwise
                for pred, goto in st.conds:
                    if pred(ctx):
                        sid = goto
                        break
            elif kind == "split":
                share = stable_share(j.id, cid)
                sid = st.next
                total = 0.0
                for arm in st.arms:
                    total += arm["percent"]
                    if share < total:
                        if cid == self.trace_customer:
                            self._trace(cid, now, j.id, f"split at {inst.state}: arm {arm['name']}")
                        sid = arm["goto"]
                        break
            elif kind == "set":
                ctx = context(inst.trigger, inst.trigger, cust, now, self._agg_readers)
                value = st.fn(ctx)
                old = lookup(cust.profile, st.trait)
                _assign(cust.profile, st.trait, value)
                if old != value or type(old) is not type(value):
                    self._record(cid, now, inst.trigger_message, traits={".".join(st.trait): [old, value]})
                    if self.date_journeys:
                        self._schedule_dates(cid, cust, now)
                if self.segments:
                    self._segments(cid, cust, now, inst.trigger_message, queue, None, True, 0,
                                   self._windows_passed(cust, now))
                sid = st.next
            elif kind == "emit":
                ctx = context(inst.trigger, inst.trigger, cust, now, self._agg_readers)
                props = {name: f(ctx) for name, f in st.vars}
                queue.append((st.event, props, None, f"{inst.iid}/{j.id}/{sid}"))
                sid = st.next
            else:  # exit
                self._end(cid, cust, inst, j, "exited", now)
                return
        self._end(cid, cust, inst, j, "completed", now)

    # ---- date triggers: `on date EXPR [yearly] [at HH:MM]` -----------------------------------------

    def _date_of(self, j: Journey, cust: Customer, now: int) -> int | None:
        """The instant j's date trigger is for, as the customer's traits say at `now` (yearly: the next
        time it comes round, at or after `now`), or None when they give no time."""
        d = j.date
        if d is None:
            return None
        at = d.instant(context(_NO_EVENT, _NO_EVENT, cust, now, self._agg_readers))
        if at is None:
            return None
        if d.yearly:
            return next_yearly(at, now, self._zone(cust, j), d.minute)
        return day_at(at, d.minute, self._zone(cust, j)) if d.minute is not None else at

    def _schedule_dates(self, cid: str, cust: Customer, t: int) -> None:
        """The customer's traits changed: (re)schedule each date trigger. A date already fired for is not
        scheduled again, nor one already past (it did not come while we watched: a reminder 7 days before
        a renewal set 6 days before it would be late), nor one the traits give no time for."""
        for j in self.date_journeys:
            when = self._date_of(j, cust, t)
            entry = cust._dates.get(j.id) if cust._dates else None
            fired = entry[1] if entry else None
            due = when if when is not None and when >= t and when != fired else None
            if (entry[0] if entry else None) == due:
                continue
            if due is None and fired is None:
                del cust.dates[j.id]
            elif entry is None:
                cust.dates[j.id] = [due, None]
            else:
                entry[0] = due
            if cid == self.trace_customer:
                self._trace(cid, t, j.id, f"on date: scheduled for {format_instant(due)}" if due is not None else
                            "on date: not scheduled, " + ("the traits give no time" if when is None else
                                                          f"already fired for {format_instant(when)}" if when == fired
                                                          else f"{format_instant(when)} has passed"))

    def _fire_dates(self, cid: str, cust: Customer, before: int, out: list) -> bool:
        """Fire the customer's earliest date trigger due before `before`, if any (ties in journey id order);
        True when one fired. It fires once for its date, as the trigger of its journey at that instant, the
        journey's audience and re-entry rule deciding, like any trigger; a yearly one is scheduled again."""
        dates = cust.dates
        pending = [(d, jid) for jid, (d, _) in dates.items() if d is not None]
        if not pending:
            return False
        due, jid = min(pending)
        if due >= before:
            return False
        entry = dates[jid]
        entry[0] = None
        j = self.current.get(jid)
        when = self._date_of(j, cust, due) if j is not None and j.date is not None else None
        if j is None or when != due:  # the journey is gone, or a version loaded since works its date out otherwise
            if when is not None and when > due and when != entry[1]:
                entry[0] = when
            elif entry[1] is None:
                del dates[jid]
            return True
        entry[1] = due
        if cid == self.trace_customer:
            self._trace(cid, due, jid, f"on date: {format_instant(due)} has come")
        queue: list = []
        self._try_enter(cid, cust, j, context(_NO_EVENT, _NO_EVENT, cust, due, self._agg_readers),
                        f"date:{format_instant(due)}", due, out, queue)
        if queue:
            self._drain(cid, cust, queue, due, out)
        kept = cust.dates.get(jid) is entry  # (entering may have scheduled the date again)
        if j.date is not None and j.date.yearly and kept and entry[0] is None:
            entry[0] = self._date_of(j, cust, due + 1)
            if cid == self.trace_customer and entry[0] is not None:
                self._trace(cid, due, jid, f"on date: next on {format_instant(entry[0])}")
        return True

    def _until(self, cid, cust, inst, j: Journey, st, now) -> int | None:
        """The instant `wait until EXPR [at HH:MM]` waits for (that day's HH:MM in the customer's zone), or
        None when EXPR gives no time (a missing trait, a text that is not one)."""
        at = st.fn(context(inst.trigger, inst.trigger, cust, now, self._agg_readers))
        if at is not None and st.minute is not None:
            at = day_at(at, st.minute, self._zone(cust, j))
        if at is None and cid == self.trace_customer:
            what = self.explain.written(st.instant, j.ir.aggregates) if self.explain else "the instant"
            self._trace(cid, now, j.id, f"wait until at {inst.state}: {what} is no time (null): the instance exits")
        return at

    def _send(self, cid, cust, inst, j: Journey, sid, st, now, out) -> None:
        profile = cust.profile
        trig = inst.trigger
        if st.vars:
            ctx = context(trig, trig, cust, now, self._agg_readers)
            variables = {name: f(ctx) for name, f in st.vars}
        else:
            variables = {}
        target = None
        for tg in st.targets:
            if self._reachable(profile, tg["channel"]):
                target = tg
                break
        if target is None:
            target, status, why = st.targets[0], "unreachable", "no listed channel is reachable"
        elif j.caps and self._capped(cust, j, target["channel"], now):
            status, why = "suppressed", "over the journey's cap"
        elif inst.flags & HELD_OUT:
            status, why = "held_out", "the customer is in the holdout group"
        else:
            status, why = "send", "on " + target["channel"]
            if j.caps:
                cust.sends.setdefault(j.id, []).append([now, target["channel"]])
        channel = target["channel"]
        if cid == self.trace_customer:
            self._trace(cid, now, j.id, f"send at {sid}: {status} ({why})")
        action = new_action((j.id, inst.version, cid, inst.iid, sid, channel, target["template"] or j.id,
                             variables, now, status, inst.trigger_message,
                             self._address(profile, channel) if status == "send" else None))
        self.stats.action(j.id, channel, status, now, action)
        out.append(action)

    def _reachable(self, profile: dict, channel: str) -> bool:
        if profile:
            unsubscribed = profile.get("unsubscribed")
            if unsubscribed and type(unsubscribed) in (list, str) and channel in unsubscribed:
                return False
        trait = self.channels.get(channel)
        if trait is None:
            return True
        address = profile.get(trait)
        return address is not None and address != ""

    def _address(self, profile: dict, channel: str):
        """The send's `to` (spec section 9): the value of the channel's contact trait, read when the
        send goes out, so a sender needs no profile lookup; None for a channel without a trait."""
        trait = self.channels.get(channel)
        return None if trait is None or not profile else profile.get(trait)

    def _capped(self, cust, j: Journey, channel: str, now: int) -> bool:
        if not j.caps:
            return False
        sends = cust.sends.get(j.id)
        if not sends:
            return False
        while sends and sends[0][0] <= now - j.max_cap_window:
            sends.pop(0)
        for cap in j.caps:
            if cap["channel"] is not None and cap["channel"] != channel:
                continue
            n = sum(1 for t, ch in sends if t > now - cap["per"] and (cap["channel"] is None or ch == channel))
            if n >= cap["count"]:
                return True
        return False

    def _end(self, cid, cust, inst, j, reason: str, now: int) -> None:
        cust.instances.remove(inst)
        journey_id = inst.journey
        self.stats.ended(journey_id, reason, inst, now)
        if cid == self.trace_customer:
            self._trace(cid, now, journey_id, f"instance {reason}")

    # ---- helpers -------------------------------------------------------------------

    def _zone(self, cust, j: Journey):
        return (zone(cust.profile.get("timezone")) or zone(j.timezone) or zone(self.default_timezone)
                or zone("UTC"))

    def _segments(self, cid, cust, t, msg, queue, name, profile_changed, changed, passed) -> None:
        """Re-check only the segments this event, a trait change or the passing of time can move:
        most events touch none, and checking all of them for every event would dominate the cost.
        `changed`: the bits of the segments the event's aggregates may have moved (Aggregates.update);
        `passed`: whether the customer's window note has passed (_windows_passed)."""
        mask = changed | self._seg_by_event.get(name, 0) | self._seg_always
        if profile_changed:
            mask |= self._seg_profile
        if passed:
            if cust.window_epoch != self._window_epoch:
                # the first look at this customer under the loaded segments (after a reload, after the
                # customer was read back from a store, or at a new customer when some segment holds for
                # one with no history): a segment loaded since may already hold.
                # (A window read early, READ_EARLY, also lands here: a needless look, nothing worse.)
                mask |= self._all_segments
            mask |= self._windows_moved(cust, t)
        if not mask:
            return
        member_of = cust._segments or ()
        for seg_id, check, exit_windows in self._by_mask.get(mask) or self._due_segments(mask):
            inside = check(cust, t)
            if inside != (seg_id in member_of):
                if inside:
                    cust.segments.add(seg_id)
                    if exit_windows is not None:
                        self._note_windows(cust, exit_windows, t)
                else:
                    cust.segments.discard(seg_id)
                if self.sync_profiles:
                    self._record(cid, t, msg, **{"entered" if inside else "exited": [seg_id]})
                self.stats.segment(seg_id, inside, t)
                if self._segment_events_read:
                    change = "segment_entered" if inside else "segment_exited"
                    queue.append((change, {"segment": seg_id}, None, f"{msg}/{change}/{seg_id}"))

    def _windows_passed(self, cust: Customer, t: int) -> bool:
        """Has the customer's window note passed by `t`, or was it made under other segments (see
        _windows_moved)?"""
        return ((noted := cust.window_due) is None or t >= noted or t < self.clock
                or cust.window_epoch != self._window_epoch)

    def _windows_moved(self, cust: Customer, t: int) -> int:
        """Prune the windows that lost entries by `t`; return the bits of the segments over them.
        Checking every windowed segment on every event was the biggest cost of segments, so the
        customer keeps a note of the earliest instant a window next loses one (`window_due`, made
        under `window_epoch`) and this runs only once it has passed. A late note is the danger: an
        entry added to a window moves the note earlier (Aggregates.update) and a reload voids it;
        an early note only costs a needless call. Events behind the clock are the one other way a
        window's content, as read, moves (READ_EARLY).

        The note leaves out a window whose losing an entry can change no membership of this customer:
        one read only by `count(...) >= 2`-like segments (Aggregates.exit_only) the customer is not in.
        That was most of the calls. Such a window is not pruned on time, so pruning must never change
        what a read sees: it keeps entries up to the allowed lateness behind the window, which an
        event that late still reads (spec: the span is `(now() - D, now()]`, whenever it is read)."""
        moved, due, epoch = 0, NEVER, self._window_epoch
        early = cust.window_epoch == READ_EARLY or self.clock is not None and t < self.clock
        aggs = cust._aggs
        emptied = None
        if aggs:
            windows = self._windows
            margin = self.lateness
            member_of = None
            for key, window in aggs.items():
                if key in windows and window:
                    within, over, noted, members = windows[key]
                    cutoff = t - within
                    if window[0] <= cutoff:
                        moved |= over
                        if window[-2] <= cutoff - margin:  # all of it fell out: the commonest case
                            if emptied is None:
                                emptied = []
                            emptied.append(key)
                            continue
                        if window[0] <= cutoff - margin:
                            aggs[key] = window = prune(window, cutoff - margin)
                    if not noted:
                        if member_of is None:
                            member_of = cust._segments or ()
                        noted = any(seg_id in member_of for seg_id in members)
                    if noted:
                        expiry = window[0] + within if window[0] > cutoff else next_expiry(window, cutoff, within)
                        if expiry is not None and expiry < due:
                            due = expiry
                    if early:
                        # `now` went back (an event behind the clock): a read at `t` leaves out the
                        # entries after it, and the next read at a later instant counts them again,
                        # so the segments over it look each time, until no entry is ahead of `t`.
                        moved |= over
                        if window[-2] > t:
                            epoch = READ_EARLY
            for key in emptied or ():
                del aggs[key]  # (a customer whose windows all emptied keeps none)
        cust.window_due, cust.window_epoch = due, epoch
        return moved

    def _note_windows(self, cust: Customer, windows: tuple, t: int) -> None:
        """A customer just joined a segment its windows' expiry can end: the note covers them now."""
        aggs = cust._aggs or {}
        for key, within in windows:
            window = aggs.get(key)
            expiry = next_expiry(window, t - within, within) if window else None
            if expiry is not None:
                note_expiry(cust, expiry)  # (no note yet: it is worked out at the next look)

    def _new_customer(self) -> Customer:
        cust = Customer()
        if not self._empty_members:
            cust.window_due, cust.window_epoch = NEVER, self._window_epoch  # no windows yet
        # else left unset: like a customer read back from a store, it gets a first look at every
        # segment (_segments), and some segment holds for a customer with no history at all
        return cust

    def _seen_before(self, seen: dict, msg: str, first: int, t: int) -> bool:
        """The event's id was applied at `first`: is this a copy within the window? If not, it is
        applied again and its id counts from `t`. A copy may be stamped before the first one (within
        the allowed lateness)."""
        if first == UNKNOWN_TIME:  # from state written before schema 5
            self._forget_ids(seen, t)
            return True
        if -self.dedup_window < t - first < self.dedup_window:
            return True
        del seen[msg]  # (re-inserted at the end: the oldest stay first)
        return False

    def _forget_ids(self, seen: dict, t: int) -> None:
        """Drop the ids no copy can match any more: those the window plus the allowed lateness behind
        this customer's event at `t`. An event stamped earlier than that is dead-lettered as late
        before it is compared, so when ids are dropped changes no answer, and memory is bounded by
        event time. Ids are kept in arrival order, oldest first give or take the allowed lateness."""
        cutoff = t - self._keep_ids
        expired = []
        for old, when in seen.items():
            if when == UNKNOWN_TIME:
                seen[old] = t  # from state before schema 5: seen now, as far as anyone knows
            elif when > cutoff:
                break
            else:
                expired.append(old)
        for old in expired:
            del seen[old]

    def _may_move(self, cust: Customer | None, t: int) -> bool:
        """Can an event no journey listens to still change a segment? Only by letting a window expire,
        by meeting a customer for the first time when some segment holds for an empty history, by being
        the customer's first event under the loaded segments, by arriving behind the clock, or through
        a segment that reads now() or other segments. Asked by the cheap path, which must not prune
        (see _windows_moved for the note)."""
        if self._seg_always:
            return True
        if cust is None:  # the first we see of the customer
            return bool(self._empty_members)
        return self._windows_passed(cust, t)

    def _merge_traits(self, cid, cust, traits: dict, t: int, msg: str) -> None:
        profile = cust.profile
        changed = {k: [profile.get(k), v] for k, v in traits.items()
                   if k not in profile or profile[k] != v or type(profile[k]) is not type(v)}
        profile.update(traits)
        if changed:
            self._record(cid, t, msg, traits=changed)
            if self.date_journeys:
                self._schedule_dates(cid, cust, t)

    def _record(self, cid, t, cause, traits=None, entered=(), exited=()) -> None:
        """One profile sync record per customer and cause: changes made while handling one event
        (its identify, the `set` steps and segment changes it led to) are folded into one record."""
        if not self.sync_profiles:
            return
        records = self.profile_records
        if records and records[-1]["customer_id"] == cid and records[-1]["cause"] == cause \
                and records[-1]["_t"] == t:
            rec = records[-1]
        else:
            rec = {"customer_id": cid, "traits": {}, "segments_entered": [], "segments_exited": [],
                   "at": format_instant(t), "cause": cause, "_t": t}
            records.append(rec)
        for k, (old, new) in (traits or {}).items():
            rec["traits"][k] = [rec["traits"][k][0] if k in rec["traits"] else old, new]
        rec["segments_entered"] += entered
        rec["segments_exited"] += exited

    def drain_profile_records(self) -> list[dict]:
        """Profile sync records since the last call, each {customer_id, traits: {name: {old, new}},
        segments_entered, segments_exited, at, cause}."""
        out = []
        for rec in self.profile_records:
            rec.pop("_t", None)
            rec["traits"] = {k: {"old": old, "new": new} for k, (old, new) in rec["traits"].items()}
            out.append(rec)
        self.profile_records = []
        return out

    def _store(self, cid: str, cust: Customer) -> None:
        """Hand the customer back to the store and keep its timer scheduled.

        `_scheduled[cid]` is a lower bound of the customer's earliest timer, not always the timer itself:
        a timer that moves later (a `restart` journey re-entered, say) keeps its earlier queue entry,
        which on popping finds nothing due and schedules the real one. Pushing every move instead
        filled the queue with stale entries, and popping them was a tenth of a replay's time."""
        if self._resident is None:
            self.store.put(cid, cust)
        else:
            self._resident[cid] = cust
        due = None
        for i in cust.instances:
            d = i.due
            if d is not None and (due is None or d < due):
                due = d
        if cust._dates:  # date triggers wait like instances (Customer.next_due)
            for d, _ in cust._dates.values():
                if d is not None and (due is None or d < due):
                    due = d
        scheduled = self._scheduled
        current = scheduled.get(cid)
        if due is None:
            if current is not None:
                del scheduled[cid]  # its queue entry turns stale and is skipped when popped
        elif current is None or due < current or (due > current and self.clock is not None
                                                   and current <= self.clock):
            scheduled[cid] = due
            self._timers.push(due, cid)

    def _why_false(self, x, ctx, aggregates) -> str:
        """Which part of a condition was false, in the journey's words, when someone shows the trace."""
        return ": " + self.explain.why_false(x, ctx, aggregates) if self.explain else ""

    def _trace(self, cid, t, journey, text) -> None:
        """Callers test `cid == self.trace_customer` first, so no message is built for anyone else.
        Tracing must never change what the engine does, so a message never fails to build (show_instant)."""
        self.trace.append((t, journey, text))

    # ---- partition ownership (several workers) -----------------------------------------

    def release(self, customer_ids) -> None:
        """Stop firing these customers' timers: their partition now belongs to another worker.
        Their queue entries turn stale and are skipped when popped."""
        for cid in customer_ids:
            self._scheduled.pop(cid, None)

    def release_where(self, owned) -> None:
        """Release every scheduled customer for whom `owned(customer_id)` is false."""
        self.release([cid for cid in self._scheduled if not owned(cid)])

    def adopt(self, timers) -> None:
        """Take over (due, customer_id) timers read from the store for newly assigned partitions."""
        for due, cid in timers:
            current = self._scheduled.get(cid)
            if current is None or due < current:
                self._scheduled[cid] = due
                self._timers.push(due, cid)

    def pending_timers(self) -> int:
        return len(self._scheduled)

    def next_due(self) -> int | None:
        return min(self._scheduled.values(), default=None)


_NO_EVENT: dict = {}  # what a date trigger's journey sees as its event and trigger: nothing (never written)


def _ok(pred, ctx) -> bool:
    return pred is None or pred(ctx)


def _matched(matchers: list, name: str, ctx) -> bool:
    """Whether a matcher for the event `name` holds. A loop rather than any(...) over a generator: the
    compiled build calls the engine's steps in C only when they have no closure inside (engine.pxd)."""
    for m in matchers:
        if m.event == name and _ok(m.where, ctx):
            return True
    return False


def _assign(profile: dict, path: list, value) -> None:
    target = profile
    for name in path[:-1]:
        nxt = target.get(name)
        if not isinstance(nxt, dict):
            nxt = target[name] = {}
        target = nxt
    target[path[-1]] = value
