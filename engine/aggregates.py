"""count/sum/min/max/avg over a customer's events, kept up to date one event at a time.

No history is ever scanned: a whole-history aggregate is a running total, a
windowed one keeps only the (time, value) pairs still inside its window, flat in one list
([t0, v0, t1, v1, ...]: a tuple per entry was most of a window's memory).
Values that are not numbers are skipped by sum/min/max/avg and counted in
`ignored` so a data problem shows up as a warning, not a crash.

Each aggregate gets its own reader, made once from its function and window: a
segment re-checked after every event it watches reads one, and a generic read
that worked out what to do on each call was most of what segments cost.
"""
from __future__ import annotations

from .expr import CUST, NOW, compile_pred, lookup

READ_EARLY = -1  # a customer's window_epoch when a window holds entries after the instant it was read at
_NO_TRIGGER: dict = {}  # what an aggregate's `where` sees as the trigger: nothing (expressions never write)


class Aggregates:
    """The aggregates some loaded journey or segment reads, indexed by the event they watch.
    `marks[key]` is what `update` reports when that aggregate takes an event in (the engine passes
    the bits of the segments over it); aggregates without a mark report nothing."""

    def __init__(self, specs: dict, marks: dict | None = None):
        self.specs = specs
        marks = marks or {}
        self.by_event: dict = {}
        for key, spec in specs.items():
            path = tuple(spec["prop"].split(".")) if spec.get("prop") else None
            where = spec.get("where")
            match = _property_equals(where)
            if match is not None:
                where = None  # tested inline
            self.by_event.setdefault(spec["event"], []).append(
                (key, match, compile_pred(where), None if spec["fn"] == "count" else path,
                 path[0] if path and len(path) == 1 else None, spec["fn"], spec.get("within"), marks.get(key, 0)))
        # what expressions read through the context's AGGS slot: key -> reader(ctx)
        self.readers = {key: _reader(key, spec["fn"], spec.get("within")) for key, spec in specs.items()}
        self.ignored = 0

    def update(self, cust, name: str, props: dict, now: int, readers) -> int:
        """Fold this event into every aggregate that watches it; return the marks of those that took it in.
        `readers` is what expressions read aggregates through (a `where` may use one)."""
        changed = 0
        aggs = None
        for key, match, where, path, prop, fn, within, mark in self.by_event.get(name, ()):
            if match is not None and props.get(match[0]) != match[1]:
                continue
            if where is not None and not where((props, _NO_TRIGGER, cust.profile, now, cust, readers)):
                continue
            if path is None:  # count
                value = 1
            else:
                value = props.get(prop) if prop is not None else lookup(props, path)
                if type(value) is not int and type(value) is not float:
                    if value is not None:
                        self.ignored += 1
                    continue
            if aggs is None:
                aggs = cust._aggs
                if aggs is None:
                    aggs = cust._aggs = {}
            if within is None:
                aggs[key] = _fold(fn, aggs.get(key), value)
            else:
                window = aggs.get(key)
                if window and window[-2] <= now:  # the usual case: the head stays, so does the note
                    window.append(now)
                    window.append(value)
                    if window[0] <= now - within:
                        prune(window, now - within)
                elif not window:  # a new head: the note may only move earlier (see Engine._windows_moved)
                    aggs[key] = [now, value]
                    due = cust.window_due
                    if due is not None and now + within < due:
                        cust.window_due = now + within
                else:
                    _insert_late(cust, window, now, value, within)
            changed |= mark
        return changed

    def value(self, cust, key: str, now: int):
        return self.readers[key]((None, None, None, now, cust, self.readers))


def _property_equals(where) -> tuple | None:
    """(property, text) for `where category == "running_shoes"`, the commonest filter, else None."""
    if where and where[0] == "bin" and where[1] == "==" and where[2][:2] == ["ref", "event"] \
            and len(where[2][2]) == 1 and where[3][0] == "lit" and type(where[3][1]) is str:
        return where[2][2][0], where[3][1]
    return None


def _insert_late(cust, window: list, now: int, value, within: int) -> None:
    """A late event's entry (within the allowed lateness) goes among the later ones, in time order:
    pruning from the front and the engine's window note rely on it."""
    at = len(window) - 2
    while at and window[at - 2] > now:
        at -= 2
    window[at:at] = (now, value)
    # read at this earlier instant, the entries after it are not counted yet; they are once a later
    # event comes, so the engine must look again then
    cust.window_epoch = READ_EARLY
    due = cust.window_due
    if due is not None and window[0] + within < due:
        cust.window_due = window[0] + within


def _reader(key: str, fn: str, within: int | None):
    if within is None:
        def whole(c):
            aggs = c[CUST]._aggs
            return _result(fn, aggs.get(key) if aggs else None)
        return whole
    if fn == "count":
        def count(c):
            aggs = c[CUST]._aggs
            window = aggs.get(key) if aggs else None
            if not window:
                return 0
            now = c[NOW]
            if window[0] > now - within and window[-2] <= now:
                return len(window) >> 1  # the usual case: all of it inside
            return len(_inside(window, now, within)) >> 1
        return count
    empty, fold = _WINDOW_FOLDS[fn]

    def fold_window(c):
        aggs = c[CUST]._aggs
        window = aggs.get(key) if aggs else None
        if not window:
            return empty
        now = c[NOW]
        if window[0] > now - within and window[-2] <= now:
            return fold(window[1::2])
        return fold(_inside(window, now, within)[1::2])
    return fold_window


def _inside(window: list, now: int, within: int) -> list:
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


def _expired(window: list, cutoff: int) -> int:
    """How far into the flat window the entries at or before `cutoff` reach."""
    drop = 0
    while drop < len(window) and window[drop] <= cutoff:
        drop += 2
    return drop


def prune(window: list, cutoff: int) -> None:
    """Drop what fell out of the window: it never comes back."""
    del window[:_expired(window, cutoff)]


def _fold(fn: str, state, value):
    if fn in ("count", "sum"):
        return (state or 0) + value
    if fn == "min":
        return value if state is None else min(state, value)
    if fn == "max":
        return value if state is None else max(state, value)
    total, n = state or (0, 0)
    return [total + value, n + 1]


def _result(fn: str, state):
    if fn in ("count", "sum"):
        return state or 0
    if fn == "avg":
        return state[0] / state[1] if state else None
    return state
