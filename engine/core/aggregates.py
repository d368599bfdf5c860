"""count/sum/min/max/avg over a customer's events, kept up to date one event at a time.

No history is ever scanned: a whole-history aggregate is a running total, a
windowed one keeps only the (time, value) pairs still inside its window, flat in one tuple
((t0, v0, t1, v1, ...): a tuple per entry was most of a window's memory). A tuple, not a
list: its entries sit in the object itself, one memory read from the customer's aggregates
instead of two, and the collector stops tracking it after one pass; a window holds a few entries.
Values that are not numbers (NaN included) are skipped by sum/min/max/avg and counted in
`ignored` so a data problem shows up as a warning, not a crash.

Each aggregate gets its own reader, made once from its function and window: a
segment re-checked after every event it watches reads one, and a generic read
that worked out what to do on each call was most of what segments cost. A reader
takes (customer, now), not an expression context: a segment's usual condition
(`count(purchase within 7d) >= 2`) calls it without building one.
"""
from __future__ import annotations

from collections.abc import Sequence

from journeyctl.engine.core import per_item
from journeyctl.engine.core.expr import NUMBER_TEST, compile_pred, context, lookup
from journeyctl.engine.core.instants import ENV, DataWarnings, Env

READ_EARLY = -1  # a customer's window_epoch when a window holds entries after the instant it was read at
_NO_TRIGGER: dict = {}  # what an aggregate's `where` sees as the trigger: nothing (expressions never write)


class Aggregates:
    """The aggregates some loaded journey or segment reads, indexed by the event they watch, and the
    conditions of the segments over them.

    `update` reports, as bits, the segments an event may have moved. A segment whose condition is one
    aggregate against a number (`count(purchase within 7d) >= 2`) is checked right where that
    aggregate takes the event in, and reported only when its membership flips: most events move
    no segment, and handing each one to the engine's re-check cost more than the check itself.
    Other segments over an aggregate are reported whenever it takes an event in."""

    def __init__(self, specs: dict, segments=(), margin: int = 0, warnings: DataWarnings | None = None):
        # the data warnings so far (the aggregates they replace, when journeys are reloaded, hand theirs
        # on); not fields of this object: instants.DataWarnings says why
        self.warnings = warnings if warnings is not None else DataWarnings()
        self.specs = specs
        self.margin = margin  # how far behind the clock an event may still be read at: pruning keeps that much
        # what expressions read through the context's AGGS slot: key -> reader(customer, now)
        self.readers = {key: per_item.reader(key, spec["fn"], spec["within"]) if spec.get("per")
                        else _reader(key, spec["fn"], spec.get("within")) for key, spec in specs.items()}
        self.checks = [self.check(seg.ir.where, seg.where) for seg in segments]  # by segment bit
        marks: dict = {}  # key -> bits of the segments reported whenever the aggregate takes an event
        early: dict = {}  # key -> (segment bit, segment id, operator, number) of those checked in update
        # segment bits whose members can only leave as their window's entries expire, never join
        self.exit_only = 0
        noted: set = set()  # window keys whose expiry the customer's note must cover for members and others alike
        for bit, seg in enumerate(segments):
            where = seg.ir.where
            test = None if seg.profile else _aggregate_test(where)  # (profile: the aggregate's `where` reads it)
            if test is not None:
                key, op, number = test
                early.setdefault(key, []).append((1 << bit, seg.id, NUMBER_TEST[op], number))
                if (specs[key]["fn"], op) in _EXIT_ONLY:
                    self.exit_only |= 1 << bit
                    continue
            else:
                for key in seg.keys:
                    marks[key] = marks.get(key, 0) | 1 << bit
            noted.update(key for key, _ in seg.windows)
        self.noted = frozenset(noted)
        # event name -> take(customer, properties, now, readers) -> bits: the name's aggregates folded in
        takes: dict = {}
        for key, spec in specs.items():
            takes.setdefault(spec["event"], []).append(
                per_item.taker(self, key, spec) if spec.get("per") else
                self._taker(key, spec, marks.get(key, 0), tuple(early.get(key, ())), key in noted))
        self.by_event = {name: take[0] if len(take) == 1 else _each(tuple(take)) for name, take in takes.items()}
        self.env = self.readers[ENV] = Env(self.warnings)

    def update(self, cust, name: str, props: dict, now: int, readers) -> int:
        """Fold this event into every aggregate that watches it; return the bits of the segments it
        may have moved. `readers` is what expressions read aggregates through (a `where` may use one)."""
        take = self.by_event.get(name)
        return 0 if take is None else take(cust, props, now, readers)

    def _taker(self, key: str, spec: dict, mark: int, tests: tuple, noted: bool):
        """The fold of one aggregate, as a closure over everything fixed at load: the engine calls one
        per event an aggregate watches, and unpacking a row of settings on each call was a fifth of it.
        `mark`: the bits of segments reported whenever it takes an event in; `tests`: (bit, segment id,
        operator, number) of the segments checked here, reported only when their membership flips;
        `noted`: whether a new head moves the customer's window note (see Engine._windows_moved)."""
        fn, within = spec["fn"], spec.get("within")
        path = tuple(spec["prop"].split(".")) if spec.get("prop") and fn != "count" else None
        prop = path[0] if path and len(path) == 1 else None
        where = spec.get("where")
        match = _property_equals(where)
        if match is not None:
            where = None  # tested inline
        match_prop, match_text = match or (None, None)
        where = compile_pred(where)
        read = self.readers[key]
        fold = _WINDOW_FOLDS.get(fn, (None, None))[1]
        warnings = self.warnings
        margin = self.margin

        def take(cust, props: dict, now: int, readers) -> int:
            if match_prop is not None and props.get(match_prop) != match_text:
                return 0
            if where is not None and not where(context(props, _NO_TRIGGER, cust, now, readers)):
                return 0
            value: object
            if path is None:  # count
                value = 1
            else:
                value = props.get(prop) if prop is not None else lookup(props, path)
                if type(value) is not int and (type(value) is not float or value != value):  # (NaN: not a number)
                    return warnings.not_a_number(value)
            aggs = cust._aggs
            if aggs is None:
                aggs = cust._aggs = {}
            whole = None  # the window when every entry in it is inside (each read at `now` counts)
            if within is None:
                aggs[key] = _fold(fn, aggs.get(key), value)
            else:
                window = aggs.get(key)
                if window and window[-2] <= now:  # the usual case
                    window += (now, value)
                    if window[0] <= now - within:
                        window = prune(window, now - within - margin)
                        if not window or window[0] > now - within:
                            whole = window
                        if noted:  # what was left had all expired (kept for late reads): a new head
                            note_expiry(cust, now + within)
                    else:  # the head stays, so does the note
                        whole = window
                    aggs[key] = window
                elif not window:  # a new head: the note may only move earlier (see Engine._windows_moved)
                    aggs[key] = window = (now, value)
                    if within > 0:  # (`within 0s` holds nothing, not even an entry at `now`)
                        whole = window
                    if noted:
                        note_expiry(cust, now + within)
                else:
                    aggs[key] = _insert_late(cust, window, now, value, within)
            if not tests:
                return mark
            if whole:  # what the reader would give, without looking for entries outside: a number
                y = len(whole) >> 1 if fold is None else fold(whole[1::2])
                is_number = True
            else:
                y = read(cust, now)
                is_number = type(y) is int or type(y) is float
            member_of = cust._segments or ()
            changed = mark
            for bit, seg_id, test, number in tests:
                if (is_number and test(y, number)) != (seg_id in member_of):
                    changed |= bit
            return changed
        return take

    def value(self, cust, key: str, now: int):
        return self.readers[key](cust, now)

    def check(self, where_ir, where):
        """A segment's condition as check(customer, now). `agg OP number`, the usual one, calls the
        aggregate's reader and compares, with the meaning of the general path (only a number orders
        with a number); any other condition is evaluated in a context with no event."""
        if where is None:
            return lambda cust, now: True
        parts = _aggregate_test(where_ir)
        if parts is not None:
            key, op, number = parts
            read, test = self.readers[key], NUMBER_TEST[op]
            return lambda cust, now: (type(y := read(cust, now)) is int or type(y) is float) and test(y, number)
        readers = self.readers
        return lambda cust, now: where(context(_NO_TRIGGER, _NO_TRIGGER, cust, now, readers))


def _each(takes: tuple):
    """The folds of the aggregates one event name feeds, in load order (a `where` may read an earlier one)."""
    def take_each(cust, props: dict, now: int, readers) -> int:
        changed = 0
        for take in takes:
            changed |= take(cust, props, now, readers)
        return changed
    return take_each


# The IR's expression nodes (dsl/ir.py) this module takes apart, read only through _node:
# ["bin", op, left, right], ["ref", scope, path], ["lit", value], ["agg", key].
def _node(x, kind: str) -> Sequence | None:
    """The operands of IR expression `x` when it is a node of `kind`, else None."""
    return x[1:] if x and x[0] == kind else None


def _literal(x, *types: type) -> Sequence | None:
    """(value,) when `x` is a literal of one of `types`, else None (a literal may be null)."""
    lit = _node(x, "lit")
    return lit if lit is not None and type(lit[0]) in types else None


def _property_equals(where) -> tuple | None:
    """(property, text) for `where category == "running_shoes"`, the commonest filter, else None."""
    test = _node(where, "bin")
    if test is None:
        return None
    op, left, right = test
    ref, text = _node(left, "ref"), _literal(right, str)
    if op == "==" and ref is not None and text is not None:
        scope, path = ref
        if scope == "event" and len(path) == 1:
            return path[0], text[0]
    return None


def _aggregate_test(where) -> tuple | None:
    """(aggregate key, operator, number) of a condition `aggregate OP number`, else None."""
    test = _node(where, "bin")
    if test is None:
        return None
    op, left, right = test
    agg, number = _node(left, "agg"), _literal(right, int, float)
    if op in _ORDERING and agg is not None and number is not None:
        return agg[0], op, number[0]
    return None


# the operators of `aggregate OP number` conditions taken apart (`!=` is true of a missing value too)
_ORDERING = {"==", "<", "<=", ">", ">="}
# (fn, operator) of the conditions an entry leaving the window can only make false: fewer entries
# never raise a count or a max, nor lower a min (and an empty window gives no number at all)
_EXIT_ONLY = {("count", ">"), ("count", ">="), ("max", ">"), ("max", ">="), ("min", "<"), ("min", "<=")}


def _insert_late(cust, window: tuple, now: int, value, within: int) -> tuple:
    """A late event's entry (within the allowed lateness) goes among the later ones, in time order:
    pruning from the front and the engine's window note rely on it."""
    at = len(window) - 2
    while at and window[at - 2] > now:
        at -= 2
    window = (*window[:at], now, value, *window[at:])
    # read at this earlier instant, the entries after it are not counted yet; they are once a later
    # event comes, so the engine must look again then
    cust.window_epoch = READ_EARLY
    note_expiry(cust, window[0] + within)
    return window


def _reader(key: str, fn: str, within: int | None):
    if within is None:
        def whole(cust, now):
            aggs = cust._aggs
            return _result(fn, aggs.get(key) if aggs else None)
        return whole
    if fn == "count":
        def count(cust, now):
            aggs = cust._aggs
            window = aggs.get(key) if aggs else None
            if not window:
                return 0
            if window[0] > now - within and window[-2] <= now:
                return len(window) >> 1  # the usual case: all of it inside
            return len(_inside(window, now, within)) >> 1
        return count
    empty, fold = _WINDOW_FOLDS[fn]

    def fold_window(cust, now):
        aggs = cust._aggs
        window = aggs.get(key) if aggs else None
        if not window:
            return empty
        if window[0] > now - within and window[-2] <= now:
            return fold(window[1::2])
        return fold(_inside(window, now, within)[1::2])
    return fold_window


def _inside(window: tuple, now: int, within: int) -> tuple | list:
    """The entries a read at `now` counts, flat. Entries that fell out are skipped, not dropped: a read
    must not hide a window's move from the segments over it (windows are pruned where that is seen)."""
    start = _expired(window, now - within)
    if window[-2] <= now:
        return window[start:]
    return [x for i in range(start, len(window), 2) if window[i] <= now for x in window[i:i + 2]]


def _avg(values: list):
    return sum(values) / len(values) if values else None


# fn -> (the value of an empty window, its value from the values inside)
_WINDOW_FOLDS = {"sum": (0, sum), "min": (None, lambda v: min(v) if v else None),
                 "max": (None, lambda v: max(v) if v else None), "avg": (None, _avg)}


def _expired(window: tuple, cutoff: int) -> int:
    """How far into the flat window the entries at or before `cutoff` reach."""
    drop = 0
    while drop < len(window) and window[drop] <= cutoff:
        drop += 2
    return drop


def prune(window: tuple, cutoff: int) -> tuple:
    """The window without what fell out of it: that never comes back."""
    return window[_expired(window, cutoff):]


def note_expiry(cust, instant: int) -> None:
    """Move the customer's window note (see Engine._windows_moved) to `instant` if that is earlier. It
    never moves later here: a late note would miss a move, an early one only costs a look."""
    due = cust.window_due
    if due is not None and instant < due:
        cust.window_due = instant


def next_expiry(window: tuple, cutoff: int, within: int) -> int | None:
    """The instant the first entry after `cutoff` leaves the window (entries at or before it already
    have, as read at `cutoff + within`; they may still be kept for a late read)."""
    at = _expired(window, cutoff)
    return window[at] + within if at < len(window) else None


def _fold(fn: str, state, value):
    if fn in ("count", "sum"):
        return (state or 0) + value
    if fn == "min":
        return value if state is None else min(state, value)
    if fn == "max":
        return value if state is None else max(state, value)
    total, n = state or (0, 0)
    return total + value, n + 1


def _result(fn: str, state):
    if fn in ("count", "sum"):
        return state or 0
    if fn == "avg":
        return state[0] / state[1] if state else None
    return state
