"""Issue 7 bench: the standard benchmark with and without 5 segments over windowed aggregates.

usage: python bench/segments.py [BENCH_DIR] [N_EVENTS] [CHUNK]
Reports events/s for both, the drop, and the bytes of window state per customer.

Each engine runs in its own process, and the two take the same chunks of lines in turn, each chunk
timed on its own. This machine's speed drifts by 10% or more within a minute, more than the
difference measured, and drift over one chunk hits both alike. Two engines in one process (the
earlier version of this bench) share one heap and one collector, so each chunk paid for the other
engine's garbage and memory layout: the measured drop grew as chunks shrank (25% at 5,000 lines,
-7% with one chunk each).
"""
import multiprocessing as mp
import sys
import time
from pathlib import Path

import orjson

from journeyctl.dsl.compiler import compile_text
from journeyctl.dsl.project.loader import load_journeys
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.store.memory import MemoryStore
from journeyctl.engine.core.events import parse_event
from journeyctl.engine.replay.loop import tune_gc

SEGMENTS = {
    "frequent_buyers": "segment frequent_buyers\n  where count(purchase within 7d) >= 2\n",
    "big_carts": "segment big_carts\n  where max(cart_abandoned.cart_value within 1d) > 150\n",
    "active_users": "segment active_users\n  where count(app_opened within 3d) >= 2\n",
    "spenders": "segment spenders\n  where sum(purchase.amount within 7d) > 300\n",
    "shoe_browsers": 'segment shoe_browsers\n  where count(product_viewed where category == "running_shoes" within 1d) >= 3\n',
}

root = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out/std")
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
chunk = int(sys.argv[3]) if len(sys.argv) > 3 else 5_000
journeys = load_journeys([root / "journeys"])
segments = [compile_text(text, f"{name}.journey").ir for name, text in SEGMENTS.items()]
with open(root / "events.jsonl", "rb") as f:
    lines = [line for _, line in zip(range(limit), f)]


def worker(conn, with_segments: bool) -> None:
    """Run the chunk the parent names, answer with the seconds it took; at the end, the window state."""
    tune_gc()  # as simulate and run do
    engine = Engine(journeys, segments if with_segments else [], store=MemoryStore())
    while (at := conn.recv()) is not None:
        start = time.perf_counter()
        if at < 0:
            engine.advance_to(engine.clock)
        else:
            for line in lines[at:at + chunk]:
                engine.process(parse_event(line))
        conn.send(time.perf_counter() - start)
    conn.send(window_state(engine) if with_segments else None)


def window_state(engine: Engine) -> tuple[int, int, int, dict]:
    """Encoded bytes and RAM bytes of the windows, customers, members per segment. RAM counts the
    aggregates dict, the lists, and each entry's time and value objects (a time shared by two windows
    counts twice, so this errs high)."""
    keys = set().union(*(s.aggregates for s in segments))
    window_bytes = ram = customers = 0
    members: dict = {}
    for _, cust in engine.store.customers():
        customers += 1
        windows = {k: v for k, v in cust.aggs.items() if k in keys}
        window_bytes += len(orjson.dumps(windows)) if windows else 0
        if windows:
            ram += sys.getsizeof(cust.aggs) + sum(
                sys.getsizeof(w) + sum(sys.getsizeof(x) for x in w if not (type(x) is int and -5 <= x <= 256))
                for w in windows.values())
        for s in cust.segments:
            members[s] = members.get(s, 0) + 1
    return window_bytes, ram, customers, members


def main() -> None:
    ctx = mp.get_context("fork")  # the children share the lines read above
    pipes, procs = [], []
    for with_segments in (False, True):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker, args=(child, with_segments))
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    took = [0.0, 0.0]
    for n, at in enumerate([*range(0, len(lines), chunk), -1]):
        for which in ((0, 1) if n % 2 == 0 else (1, 0)):
            pipes[which].send(at)
            took[which] += pipes[which].recv()
    for pipe in pipes:
        pipe.send(None)
    _, (window_bytes, ram, customers, members) = (pipe.recv() for pipe in pipes)
    for proc in procs:
        proc.join()
    base, with_segs = took
    print(f"{len(lines):,} events, {len(journeys)} journeys, each engine in its own process, "
          f"fed the same {chunk:,}-line chunks in turn")
    print(f"without segments: {len(lines) / base:,.0f} events/s")
    print(f"with 5 segments:  {len(lines) / with_segs:,.0f} events/s  (drop {100 * (1 - base / with_segs):.1f}%)")
    print(f"window state per customer: {window_bytes / customers:,.0f} bytes encoded, {ram / customers:,.0f} bytes "
          f"of RAM ({customers:,} customers)")
    print("members:", members)


if __name__ == "__main__":
    main()
