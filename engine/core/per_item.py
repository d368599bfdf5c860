"""Aggregates per item: `count(product_viewed within 1d per sku)` counts only the events whose `sku` equals
the current event's.

One window per aggregate and customer, as for any windowed aggregate, but of (time, item, value) triples,
flat in one tuple: (t0, k0, v0, t1, k1, v1, ...). A read scans it for the entries of one item. Keeping one
window rather than one per item means an item costs nothing once its entries leave the window: nothing
records that it was ever seen. Memory is per entry inside the window (and the allowed lateness behind it):
three tuple slots, 24 bytes, plus the entry's time (an int shared with the customer's other aggregates of
that event) and its value (none for count: the small int 1 is shared); item texts are interned, so every
entry and customer with sku "RUN-42" holds one string. A read costs one pass over the window's entries.

Items are texts and numbers (1 and 1.0 are one item, as `==` says); an event whose item is missing, or is
true/false, a list or an object, is not kept, and a current event without one reads the empty window.
"""
from __future__ import annotations

import sys
from collections.abc import Callable

from journeyctl.engine.core.expr import compile_pred, context, lookup

STRIDE = 3
_NO_TRIGGER: dict = {}
_EMPTY = {"count": 0, "sum": 0, "min": None, "max": None, "avg": None}
_FOLD: dict[str, Callable] = {"count": len, "sum": sum, "min": min, "max": max, "avg": lambda v: sum(v) / len(v)}


def item_of(value):
    """The item an entry is kept under, or None when the value cannot be one."""
    kind = type(value)
    if kind is str:
        return sys.intern(value)
    if kind is int or (kind is float and value == value):
        return value
    return None


def reader(key: str, fn: str, within: int):
    """read(customer, now, item): the aggregate over the entries of `item` in `(now - within, now]`."""
    empty, fold = _EMPTY[fn], _FOLD[fn]

    def read(cust, now, item):
        aggs = cust._aggs
        window = aggs.get(key) if aggs else None
        item = item_of(item)
        if not window or item is None:
            return empty
        since = now - within
        values = [window[i + 2] for i in range(0, len(window), STRIDE)
                  if since < window[i] <= now and window[i + 1] == item]
        return fold(values) if values else empty
    return read


def taker(aggregates, key: str, spec: dict):
    """take(customer, properties, now, readers) -> 0: fold one event into the customer's window. A windowed
    aggregate per item never moves a segment (segments have no current event), so it reports none."""
    fn, within, margin, warnings = spec["fn"], spec["within"], aggregates.margin, aggregates.warnings
    path = tuple(spec["prop"].split(".")) if fn != "count" else None
    per = tuple(spec["per"].split("."))
    where = compile_pred(spec.get("where"))

    def take(cust, props: dict, now: int, readers) -> int:
        if where is not None and not where(context(props, _NO_TRIGGER, cust, now, readers)):
            return 0
        item = item_of(lookup(props, per))
        if item is None:
            return 0
        value = 1
        if path is not None:
            value = lookup(props, path)
            if type(value) is not int and (type(value) is not float or value != value):
                return warnings.not_a_number(value)
        aggs = cust._aggs
        if aggs is None:
            aggs = cust._aggs = {}
        window = aggs.get(key) or ()
        if window and window[-STRIDE] > now:  # a late event: its entry goes among the later ones, in time order
            at = len(window) - STRIDE
            while at and window[at - STRIDE] > now:
                at -= STRIDE
            window = (*window[:at], now, item, value, *window[at:])
        else:
            window += (now, item, value)
        cutoff = now - within - margin  # (entries the allowed lateness behind the window stay for late reads)
        if window[0] <= cutoff:
            at = 0
            while at < len(window) and window[at] <= cutoff:
                at += STRIDE
            window = window[at:]
            if not window:  # (`within 0s` keeps nothing)
                del aggs[key]
                return 0
        aggs[key] = window
        return 0
    return take
