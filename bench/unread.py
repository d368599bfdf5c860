"""The cost of events no journey reads: the standard benchmark through one journey, in process.

With only `cart_abandon` loaded, about nine events in ten are read by no journey (product views,
app opens, ...). Each one still has its message id remembered for de-duplication (spec section 6),
which means reading and writing its customer's state. MemoryStore shows the engine's share;
SqliteStore shows what `run` pays, the way `run` does it: each batch's customers read in one
go (prefetch), then one commit per batch.

usage: python bench/unread.py [BENCH_DIR] [N_EVENTS] [--store memory|sqlite] [--journeys cart_abandon,...]
BENCH_DIR defaults to bench/out/std, written by make-bench-input. Lines are parsed before the clock
starts, so the number is the engine's and the store's.
"""
import argparse
import tempfile
import time
from pathlib import Path

from journeyctl.dsl.project.loader import load_journeys
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import BadEvent, parse_event
from journeyctl.engine.replay.loop import tune_gc
from journeyctl.engine.store.memory import MemoryStore
from journeyctl.engine.store.open import checkpoint
from journeyctl.engine.store.sqlite import SqliteStore

BATCH = 2_000  # events per prefetch and commit, as `run` takes them per poll


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", nargs="?", default="bench/out/std")
    ap.add_argument("n", nargs="?", type=int, default=300_000)
    ap.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    ap.add_argument("--journeys", default="cart_abandon")
    args = ap.parse_args()
    root = Path(args.root)
    files = [root / "journeys" / f"{name}.journey" for name in args.journeys.split(",")]
    irs = load_journeys(files)
    with open(root / "events.jsonl", "rb") as f:
        events = [parse_event(line) for _, line in zip(range(args.n), f)]
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore() if args.store == "memory" else SqliteStore(Path(tmp) / "bench.db")
        engine = Engine(irs, store=store)
        tune_gc()
        actions = 0
        start = time.perf_counter()
        for at in range(0, len(events), BATCH):
            batch = events[at:at + BATCH]
            store.prefetch([ev.customer_id for ev in batch])
            for ev in batch:
                try:
                    actions += len(engine.process(ev))
                except BadEvent:
                    pass
            checkpoint(engine)
        elapsed = time.perf_counter() - start
        st = engine.stats
        store.close()
    print(f"{len(events):,} events, {args.store}, journeys {args.journeys}: {elapsed:.2f} s, "
          f"{len(events) / elapsed:,.0f} events/s; {st.unused:,} read by no journey, {actions:,} actions")


if __name__ == "__main__":
    main()
