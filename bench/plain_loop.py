"""Issue 3's yardstick: a plain orjson + dict + heap loop over the benchmark's lines, no journey logic.

usage: python bench/plain_loop.py [BENCH_DIR]
It parses each line, keeps a per-customer dict, and pushes and pops a heap entry for one event name: the
least any engine must do per event. Run it beside bench/core.py: this machine's speed drifts by a
fifth or more between sessions, and this says how fast the machine is that day.
"""
import heapq
import sys
import time
from pathlib import Path

import orjson

root = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out/std")
with open(root / "events.jsonl", "rb") as f:
    lines = f.readlines()
start = time.perf_counter()
state: dict = {}
heap: list = []
for line in lines:
    e = orjson.loads(line)
    cid = e.get("customer_id") or e.get("anonymous_id")
    s = state.get(cid)
    if s is None:
        s = state[cid] = {"n": 0, "last": None}
    ts = e.get("timestamp") or ""
    s["n"] += 1
    s["last"] = ts
    if e.get("event") == "cart_abandoned":
        heapq.heappush(heap, (ts, cid))
    while heap and heap[0][0] < ts[:10]:
        heapq.heappop(heap)
elapsed = time.perf_counter() - start
print(f"{len(lines):,} events: {elapsed:.2f} s, {len(lines) / elapsed:,.0f} events/s")
