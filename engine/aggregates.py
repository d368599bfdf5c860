"""count/sum/min/max/avg over a customer's events, kept up to date one event at a time.

No history is ever scanned: a whole-history aggregate is a running total, a
windowed one keeps only the (time, value) pairs still inside its window.
Values that are not numbers are skipped by sum/min/max/avg and counted in
`ignored` so a data problem shows up as a warning, not a crash.
"""
from __future__ import annotations

from .expr import compile_pred, lookup


_NO_TRIGGER: dict = {}  # what an aggregate's `where` sees as the trigger: nothing (expressions never write)


class Aggregates:
    """The aggregates some loaded journey or segment reads, indexed by the event they watch."""

    def __init__(self, specs: dict):
        self.specs = specs
        self.by_event: dict = {}
        for key, spec in specs.items():
            path = tuple(spec["prop"].split(".")) if spec.get("prop") else None
            self.by_event.setdefault(spec["event"], []).append(
                (key, spec["fn"], path, compile_pred(spec.get("where")), spec.get("within")))
        self.fns = {key: (spec["fn"], spec.get("within")) for key, spec in specs.items()}
        self.ignored = 0

    def update(self, cust, name: str, props: dict, now: int, read) -> list:
        """Fold this event into every aggregate that watches it; return the keys that took it in.
        `read` is what expressions call for an aggregate's value (a `where` may use one)."""
        changed = []
        aggs = None
        for key, fn, path, where, within in self.by_event.get(name, ()):
            if where is not None and not where((props, _NO_TRIGGER, cust.profile, now, cust, read)):
                continue
            if fn == "count":
                value = 1
            else:
                value = props.get(path[0]) if len(path) == 1 else lookup(props, path)
                if type(value) is not int and type(value) is not float:
                    if value is not None:
                        self.ignored += 1
                    continue
            if aggs is None:
                aggs = cust.aggs
            if within is not None:
                window = aggs.get(key)
                if window is None:
                    window = aggs[key] = []
                window.append((now, value))  # a list once stored and read back
                if window[0][0] <= now - within:
                    prune(window, now - within)
                due = cust.window_due  # see Engine._windows_due: it may only move earlier here
                if due is not None and window[0][0] + within < due:
                    cust.window_due = window[0][0] + within
            else:
                aggs[key] = _fold(fn, aggs.get(key), value)
            changed.append(key)
        return changed

    def value(self, cust, key: str, now: int):
        return self.read(key, (None, None, None, now, cust, None))

    def read(self, key: str, ctx: tuple):
        """An aggregate's value as an expression reads it (ctx as in expr.py): the one call between
        a segment's condition and its windows, so it is kept flat."""
        fn, within = self.fns[key]
        now = ctx[3]
        aggs = ctx[4]._aggs
        state = aggs.get(key) if aggs else None
        if within is None:
            return _result(fn, state)
        if not state:
            return 0 if fn in ("count", "sum") else None
        # Entries that fell out are skipped, not dropped: a read must not hide a window's move from the
        # segments over it. Windows are pruned where that is seen (update, Engine._segments).
        start = _expired(state, now - within)
        if state[-1][0] <= now:  # the usual case: nothing in the window is after now
            if fn == "count":
                return len(state) - start
            values = [v for _, v in state[start:]] if start else [v for _, v in state]
        else:
            values = [v for t, v in state[start:] if t <= now]
        if fn == "count":
            return len(values)
        if fn == "sum":
            return sum(values)
        if not values:
            return None
        return {"min": min, "max": max}[fn](values) if fn != "avg" else sum(values) / len(values)


def _expired(window: list, cutoff: int) -> int:
    """How many entries at the front are at or before `cutoff`."""
    drop = 0
    while drop < len(window) and window[drop][0] <= cutoff:
        drop += 1
    return drop


def prune(window: list, cutoff: int) -> None:
    """Drop what fell out of the window: it never comes back."""
    drop = _expired(window, cutoff)
    if drop:
        del window[:drop]


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
