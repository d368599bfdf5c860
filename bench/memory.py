"""Bytes per waiting instance, and per scheduled date, in RAM (MemoryStore) and on disk (SqliteStore);
bytes per customer of the de-duplication window.

The target (issue 3): at 1,000,000 waiting instances, at most 2 KB of RAM and
1 KB of SQLite each. Every customer sends one `cart_abandoned` with the property
set of the throughput benchmark (make-bench-input) and so waits 30 minutes;
events go in through the real parser, so property dicts and strings are what a
replay really holds, and the events all fall inside 30 minutes so no wait fires.

Issue 17: a million customers with a future date (`on date profile.renewal_due - 7d at
09:00`) must cost no more than a million waiting instances. `--what dates` gives every
customer one identify call with a renewal date within the next year (and a first name,
an email address and a plan, as a CRM sends them); `--what both` (the default) measures
the two, one after the other, so they can be compared.

RAM counts the whole process growth: customer states, the store's dict and the
engine's timer index. SQLite counts the file after a final commit and close
(which checkpoints the WAL into it).

The de-duplication window (spec section 6, 24 h of event time by default): each customer's state
keeps the message id and event time of every event of the last window. A typical customer sends
10 events a day, a busy one 1,000; the ids are UUIDs, as most senders make them. RAM is the object
graph of the kept ids (the dict, the id strings, the times), encoded the bytes they add to the
customer's stored state.

usage: .venv/bin/python bench/memory.py [-n 1000000] [--store memory|sqlite|both|none] [--what instances|dates|both]
                                         [--tracemalloc]
"""
from __future__ import annotations

import argparse
import gc
import os
import random
import sqlite3
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from journeyctl.dsl.compiler import compile_text  # noqa: E402
from journeyctl.engine.core.engine import Engine  # noqa: E402
from journeyctl.engine.core.events import parse_event  # noqa: E402
from journeyctl.engine.store.sqlite import SqliteStore  # noqa: E402
from journeyctl.engine.core.state import DEDUP_WINDOW, Customer, Instance  # noqa: E402
from journeyctl.engine.store.memory import MemoryStore  # noqa: E402
from journeyctl.engine.store.open import checkpoint  # noqa: E402

JOURNEY = "on cart_abandoned within 30m unless purchase -> send whatsapp\n"
DATE_JOURNEY = 'journey renewal_reminder\n  on date profile.renewal_due - 7d at 09:00\n  send email "renewal_reminder"\n'
T0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z
SPAN_MS = 25 * 60_000    # every entry inside the 30 minute wait, so all of them are still waiting


def journeys(text: str = JOURNEY):
    compiled = compile_text(text, "bench.journey")
    assert compiled.ir is not None, compiled.diagnostics
    return [compiled.ir]


def events(n: int):
    """One cart_abandoned per customer, as JSON lines through the real parser."""
    rnd = random.Random(7)
    for i in range(n):
        obj = {
            "event": "cart_abandoned", "customer_id": f"c{i}", "timestamp": T0 + SPAN_MS * i // n,
            "message_id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            "properties": {"cart_value": round(rnd.random() * 200, 2), "amount": round(rnd.random() * 200, 2),
                           "category": rnd.choice(["running_shoes", "hats", "bags"]),
                           "price": rnd.randrange(200), "sku": f"s{rnd.randrange(1000)}",
                           "order_id": f"o{rnd.randrange(5)}", "campaign": rnd.choice(["spring", "fall"])},
        }
        yield parse_event(orjson.dumps(obj))


def identify_calls(n: int):
    """One identify call per customer with a renewal date 8 to 365 days ahead: each schedules one date."""
    rnd = random.Random(7)
    for i in range(n):
        due = T0 + (8 + rnd.randrange(358)) * 86_400_000
        obj = {
            "type": "identify", "userId": f"c{i}", "timestamp": T0 + SPAN_MS * i // n,
            "messageId": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            "traits": {"renewal_due": time.strftime("%Y-%m-%d", time.gmtime(due / 1000)),
                       "first_name": rnd.choice(["Ana", "Ben", "Chloé", "Finn"]), "email": f"c{i}@example.com",
                       "plan": rnd.choice(["basic", "pro"])},
        }
        yield parse_event(orjson.dumps(obj))


# what is measured: (journey, input, what one customer waits with)
SCENARIOS = {"instances": (JOURNEY, events, "waiting instance"), "dates": (DATE_JOURNEY, identify_calls, "scheduled date")}


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def deep_size(obj, seen=None) -> int:
    """Bytes of an object graph, each object counted once (shared strings and small ints included)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        size += sum(deep_size(x, seen) for x in obj)
    elif isinstance(obj, (Customer, Instance)):
        size += sum(deep_size(getattr(obj, name), seen) for name in type(obj).__slots__)  # None until used
    return size


def run_memory(n: int, use_tracemalloc: bool, what: str = "instances") -> None:
    text, inputs, unit = SCENARIOS[what]
    irs = journeys(text)
    gc.collect()
    if use_tracemalloc:
        tracemalloc.start()
    before_rss = rss()
    before_traced = tracemalloc.get_traced_memory()[0] if use_tracemalloc else 0
    started = time.perf_counter()
    engine = Engine(irs, store=MemoryStore())
    for ev in inputs(n):
        engine.process(ev)
    elapsed = time.perf_counter() - started
    gc.collect()
    grown = rss() - before_rss
    waiting = engine.pending_timers()
    assert waiting == n, (waiting, n)
    print(f"MemoryStore: {n:,} customers, each with a {unit}, built in {elapsed:.1f}s")
    if not use_tracemalloc:  # tracemalloc's own bookkeeping would inflate the RSS
        print(f"  RAM (RSS growth):       {grown / n:8.0f} bytes per {unit}  (target <= 2048)")
    else:
        traced = tracemalloc.get_traced_memory()[0] - before_traced
        tracemalloc.stop()
        print(f"  RAM (tracemalloc):      {traced / n:8.0f} bytes per {unit}")
    sample = engine.store.get("c1")
    print(f"  one customer's state:   {deep_size(sample):8d} bytes (object graph, shared objects counted)")
    wait = sample.instances if what == "instances" else sample._dates
    print(f"    of which the {unit}: {deep_size(wait):4d} bytes")
    del engine
    gc.collect()


DAY_MS = 86_400_000
CUSTOMERS_PER_KIND = 100


def run_dedup() -> None:
    """The ids one customer keeps after a day of events, through the real parser and engine. The
    events are read by no journey, so the ids are all the customer's state holds."""
    print(f"De-duplication window ({DEDUP_WINDOW // 3_600_000} h of event time), per customer:")
    for label, per_day in (("typical", 10), ("busy", 1_000)):
        engine = Engine(journeys(), store=MemoryStore())
        rnd = random.Random(per_day)
        for i in range(per_day * 3 // 2):  # a day and a half: the first half day's ids are gone
            for c in range(CUSTOMERS_PER_KIND):
                obj = {"event": "page_viewed", "customer_id": f"c{c}", "timestamp": T0 + i * DAY_MS // per_day,
                       "message_id": str(uuid.UUID(int=rnd.getrandbits(128), version=4))}
                engine.process(parse_event(orjson.dumps(obj)))
        kept = [engine.store.get(f"c{c}") for c in range(CUSTOMERS_PER_KIND)]
        ids = sum(len(c.seen) for c in kept) / len(kept)
        ram = sum(deep_size(c.seen) for c in kept) / len(kept)
        encoded = sum(len(c.encode()) - len(Customer().encode()) for c in kept) / len(kept)
        print(f"  {label:8} ({per_day:>5,} events a day): {ids:7,.0f} ids kept, {ram:9,.0f} B of RAM "
              f"({ram / ids:4.0f} B an id), {encoded:9,.0f} B encoded ({encoded / ids:3.0f} B an id)")


def run_sqlite(n: int, path: Path, every: int, what: str = "instances") -> None:
    text, inputs, unit = SCENARIOS[what]
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    store = SqliteStore(path)
    engine = Engine(journeys(text), store=store)
    started = time.perf_counter()
    for i, ev in enumerate(inputs(n), 1):
        engine.process(ev)
        if i % every == 0:
            checkpoint(engine)
    checkpoint(engine)
    elapsed = time.perf_counter() - started
    store.close()
    size = path.stat().st_size
    conn = sqlite3.connect(path)
    rows, avg_blob, waiting = conn.execute(
        "SELECT count(*), avg(length(state)), count(next_due) FROM customers").fetchone()
    conn.close()
    assert waiting == n, (waiting, n)
    print(f"SqliteStore: {rows:,} customers, {waiting:,} waiting, written in {elapsed:.1f}s "
          f"(commit every {every:,} events)")
    print(f"  SQLite file:            {size / n:8.0f} bytes per {unit}  (target <= 1024)")
    print(f"  encoded state:          {avg_blob:8.0f} bytes per customer on average")
    print(f"  file: {path} ({size / 1e6:.1f} MB)")
    started = time.perf_counter()
    store = SqliteStore(path)
    engine = Engine(journeys(text), store=store)
    assert engine.pending_timers() == n
    print(f"  reopen: engine ready with {n:,} timers in {time.perf_counter() - started:.1f}s")
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="waiting instances (one customer each)")
    ap.add_argument("--store", choices=("memory", "sqlite", "both", "none"), default="both",
                    help="where to measure waiting instances (none: only the de-duplication window)")
    ap.add_argument("--tracemalloc", action="store_true", help="also count Python allocations (slower)")
    ap.add_argument("--db", type=Path, help="SQLite file to write (default: a temporary file)")
    ap.add_argument("--commit-every", type=int, default=50_000)
    ap.add_argument("--what", choices=("instances", "dates", "both"), default="both",
                    help="what each customer waits with: a waiting instance, a scheduled date, or each in turn")
    args = ap.parse_args()
    for what in ("instances", "dates") if args.what == "both" else (args.what,):
        if args.store in ("memory", "both"):
            run_memory(args.n, args.tracemalloc, what)
        if args.store in ("sqlite", "both"):
            if args.db:
                run_sqlite(args.n, args.db, args.commit_every, what)
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    run_sqlite(args.n, Path(tmp) / "bench.db", args.commit_every, what)
    run_dedup()


if __name__ == "__main__":
    main()
