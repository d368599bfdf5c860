"""Issue 7 bench: the standard benchmark with and without 5 segments over windowed aggregates.

usage: python bench/segments.py [BENCH_DIR] [N_EVENTS]
Reports events/s for both, the drop, and the bytes of window state per customer.
"""
import gc
import sys
import time
from pathlib import Path

import orjson

from dsl.compiler import compile_text
from dsl.loader import load_journeys
from engine.core import Engine
from engine.events import parse_event

SEGMENTS = {
    "frequent_buyers": "segment frequent_buyers\n  where count(purchase within 7d) >= 2\n",
    "big_carts": "segment big_carts\n  where max(cart_abandoned.cart_value within 1d) > 150\n",
    "active_users": "segment active_users\n  where count(app_opened within 3d) >= 2\n",
    "spenders": "segment spenders\n  where sum(purchase.amount within 7d) > 300\n",
    "shoe_browsers": 'segment shoe_browsers\n  where count(product_viewed where category == "running_shoes" within 1d) >= 3\n',
}

root = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out/std")
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
journeys = load_journeys([root / "journeys"])
segments = [compile_text(text, f"{name}.journey").ir for name, text in SEGMENTS.items()]
with open(root / "events.jsonl", "rb") as f:
    lines = [line for _, line in zip(range(limit), f)]
gc.freeze()


def interleaved(chunk: int = 5_000) -> tuple[float, float, Engine]:
    """Both engines take the same lines, a chunk at a time, in alternating order, each timed on its own.
    This machine's speed drifts by 10% or more within a minute, more than the difference measured;
    drift over one chunk hits both engines alike."""
    engines = [Engine(journeys, []), Engine(journeys, segments)]
    took = [0.0, 0.0]
    for n, at in enumerate(range(0, len(lines), chunk)):
        part = lines[at:at + chunk]
        for which in ((0, 1) if n % 2 == 0 else (1, 0)):
            engine = engines[which]
            start = time.perf_counter()
            for line in part:
                engine.process(parse_event(line))
            took[which] += time.perf_counter() - start
    for which, engine in enumerate(engines):
        start = time.perf_counter()
        engine.advance_to(engine.clock)
        took[which] += time.perf_counter() - start
    return took[0], took[1], engines[1]


base, with_segs, engine = interleaved()
keys = set().union(*(s.aggregates for s in segments))
window_bytes = customers = 0
members = {}
for cid, cust in engine.store.customers():
    customers += 1
    windows = {k: v for k, v in cust.aggs.items() if k in keys}
    window_bytes += len(orjson.dumps(windows)) if windows else 0
    for s in cust.segments:
        members[s] = members.get(s, 0) + 1
print(f"{len(lines):,} events, {len(journeys)} journeys, both engines fed the same chunks in turn")
print(f"without segments: {len(lines) / base:,.0f} events/s")
print(f"with 5 segments:  {len(lines) / with_segs:,.0f} events/s  (drop {100 * (1 - base / with_segs):.1f}%)")
print(f"window state: {window_bytes / customers:,.0f} bytes per customer encoded ({customers:,} customers)")
print("members:", members)
