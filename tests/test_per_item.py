"""Aggregates per item (`count(product_viewed within 1d per sku)`): kept one event at a time, they equal the
same aggregate computed from the whole history of that item; only the entries inside the window are kept;
the window survives encoding (a restart from a SQL store)."""
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from journeyctl.engine.core.aggregates import Aggregates
from journeyctl.engine.core.state import Customer

FNS = ("count", "sum", "min", "max", "avg")
values = st.one_of(st.integers(-50, 200), st.floats(-10, 10, allow_nan=False), st.none(), st.text(max_size=2))
items = st.one_of(st.sampled_from(["X", "Y"]), st.sampled_from([1, 1.0, 2]), st.none(), st.booleans())
streams = st.lists(st.tuples(st.integers(0, 3_600_000), values, items), max_size=40)


def brute(fn, history, now, within, item):
    """history: (time, value, item) of every event so far; `==` as the language says (1 == 1.0)."""
    if item is None or type(item) is bool:
        return {"count": 0, "sum": 0}.get(fn)
    rows = [v for t, v, k in history if now - within < t <= now and type(k) is not bool and k is not None
            and k == item and type(k) in (str, int, float) and (type(k) is str) == (type(item) is str)]
    if fn == "count":
        return len(rows)
    nums = [v for v in rows if type(v) in (int, float)]
    if fn == "sum":
        return sum(nums)
    if not nums:
        return None
    return {"min": min(nums), "max": max(nums), "avg": sum(nums) / len(nums)}[fn]


def close(got, want):
    return got == want or (got is not None and want is not None and abs(got - want) < 1e-6)


@settings(max_examples=300, deadline=None)
@given(streams, st.sampled_from(FNS), st.integers(1, 7_200_000), items, st.integers(0, 7_200_000))
def test_incremental_equals_recomputed_for_each_item(stream, fn, within, read_item, later):
    spec = {"fn": fn, "event": "view", "prop": None if fn == "count" else "price", "where": None,
            "within": within, "per": "sku"}
    aggs = Aggregates({"k": spec})
    cust = Customer()
    history = []
    now = 0
    for t, value, item in sorted(stream, key=lambda e: e[0]):
        now = t
        aggs.update(cust, "view", {"price": value, "sku": item}, now, None)
        history.append((now, value, item))
        assert close(aggs.readers["k"](cust, now, item), brute(fn, history, now, within, item))
        assert close(aggs.readers["k"](cust, now, read_item), brute(fn, history, now, within, read_item))
    end = now + later
    assert close(aggs.readers["k"](cust, end, read_item), brute(fn, history, end, within, read_item))


def test_only_the_entries_inside_the_window_are_kept():
    """A week of a view a minute over 500 products: the window holds the last day (and the allowed
    lateness behind it), whatever the number of products seen before."""
    spec = {"fn": "count", "event": "view", "prop": None, "where": None, "within": 86_400_000, "per": "sku"}
    aggs = Aggregates({"k": spec}, margin=5_000)
    cust = Customer()
    for minute in range(7 * 24 * 60):
        aggs.update(cust, "view", {"sku": f"SKU-{minute % 500}"}, minute * 60_000, None)
    window = cust.aggs["k"]
    last = 7 * 24 * 60 - 1
    # (t, item, value) per view of the last day, and the one exactly a day back (within the allowed lateness
    # of the window's start, kept for a late read), nothing older
    assert len(window) == 3 * (24 * 60 + 1)
    assert window[0] == (last - 24 * 60) * 60_000
    assert aggs.readers["k"](cust, window[-3], "SKU-7") == 3  # every 500 minutes: 2 or 3 a day
    # every entry of one item shares one string: the items cost nothing per entry
    assert len({id(window[i]) for i in range(1, len(window), 3) if window[i] == "SKU-7"}) == 1
    assert sys.getsizeof(window) - sys.getsizeof(()) == 8 * len(window)  # 24 bytes an entry


def test_a_window_per_item_survives_encoding():
    spec = {"fn": "sum", "event": "view", "prop": "price", "where": None, "within": 3_600_000, "per": "sku"}
    aggs = Aggregates({"sum:view:per:1": spec})
    cust = Customer()
    for t, sku, price in ((0, "X", 5), (1000, "Y", 7), (2000, "X", 11)):
        aggs.update(cust, "view", {"sku": sku, "price": price}, t, None)
    back = Customer.decode(cust.encode())
    assert back.aggs["sum:view:per:1"] == (0, "X", 5, 1000, "Y", 7, 2000, "X", 11)
    read = aggs.readers["sum:view:per:1"]
    assert (read(back, 2000, "X"), read(back, 2000, "Y"), read(back, 2000, "Z")) == (16, 7, 0)
