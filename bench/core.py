"""Core throughput: parse + process of the standard benchmark, in process, one core.

usage: python bench/core.py [BENCH_DIR] [N_EVENTS] [--no-gc-tuning] [--md5]
BENCH_DIR defaults to bench/out/std, written by ../shared/tools/make-bench-input.
Lines are read into memory first, so the number is the engine's, not the disk's.
`cpu` is the process's CPU time over the same span: on a machine shared with other work it moves
less than the wall clock. `--md5` adds a digest of every action in output order (spec form, after
the timing), so two builds can be shown to decide the same.
"""
import hashlib
from contextlib import nullcontext
import sys
import time
from pathlib import Path

import orjson

from journeyctl.dsl.project.loader import load_journeys
from journeyctl.engine.obs.build import build_name
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.store.memory import MemoryStore
from journeyctl.engine.core.events import BadEvent, parse_event
from journeyctl.engine.replay.loop import as_dicts, collector_paused

args = [a for a in sys.argv[1:] if not a.startswith("--")]
root = Path(args[0] if args else "bench/out/std")
limit = int(args[1]) if len(args) > 1 else None
digest = "--md5" in sys.argv
irs = load_journeys([root / "journeys"])
with open(root / "events.jsonl", "rb") as f:
    lines = f.readlines() if limit is None else [next(f) for _ in range(limit)]
engine = Engine(irs, store=MemoryStore())
# The collector as simulate has it (replay.loop.collector_paused); --no-gc-tuning leaves Python's defaults.
collector = nullcontext() if "--no-gc-tuning" in sys.argv else collector_paused()
kept = [] if digest else None


def replay(lines: list, kept: list | None) -> tuple[int, int, list]:
    """The loop in a function, as simulate's is (replay.loop): at a module's top level every name it reads is
    a dictionary lookup, which both builds paid alike (0.2-0.4 s of 9-16 s at 1M events)."""
    process, actions, dead = engine.process, 0, 0
    for line in lines:
        try:
            out = process(parse_event(line))
            actions += len(out)
            if kept is not None:
                kept.extend(out)
        except BadEvent:
            dead += 1
    out = engine.advance_to(engine.clock)
    return actions + len(out), dead, out


with collector:
    start, cpu_start = time.perf_counter(), time.process_time()
    actions, dead, out = replay(lines, kept)
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
line = (f"{len(lines):,} events, {len(irs)} journeys: {elapsed:.2f} s, {len(lines) / elapsed:,.0f} events/s, "
        f"{actions:,} actions, {dead} dead letters, {engine.pending_timers():,} customers with timers, "
        f"cpu {cpu:.2f} s, {len(lines) / cpu:,.0f} events/cpu-s, build {build_name()}")
if digest:
    kept.extend(out)
    md5 = hashlib.md5()
    for a in as_dicts(kept):
        md5.update(orjson.dumps(a) + b"\n")
    line += f", actions md5 {md5.hexdigest()}"
print(line)
