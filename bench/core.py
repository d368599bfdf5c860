"""Core throughput: parse + process of the standard benchmark, in process, one core.

usage: python bench/core.py [BENCH_DIR] [N_EVENTS]
BENCH_DIR defaults to bench/out/std, written by ../shared/tools/make-bench-input.
Lines are read into memory first, so the number is the engine's, not the disk's.
"""
import sys
import time
from pathlib import Path

from journeyctl.dsl.project.loader import load_journeys
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.store.memory import MemoryStore
from journeyctl.engine.core.events import BadEvent, parse_event
from journeyctl.engine.replay.loop import tune_gc

root = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out/std")
limit = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else None
irs = load_journeys([root / "journeys"])
with open(root / "events.jsonl", "rb") as f:
    lines = f.readlines() if limit is None else [next(f) for _ in range(limit)]
engine = Engine(irs, store=MemoryStore())
if "--no-gc-tuning" not in sys.argv:
    tune_gc()
actions = 0
dead = 0
start = time.perf_counter()
for line in lines:
    try:
        actions += len(engine.process(parse_event(line)))
    except BadEvent:
        dead += 1
last = engine.clock
actions += len(engine.advance_to(last))
elapsed = time.perf_counter() - start
print(f"{len(lines):,} events, {len(irs)} journeys: {elapsed:.2f} s, {len(lines) / elapsed:,.0f} events/s, "
      f"{actions:,} actions, {dead} dead letters, {engine.pending_timers():,} customers with timers")
