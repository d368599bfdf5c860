"""Web UI response times with 1,000,000 customers and 20 journeys, SQLite and PostgreSQL (issue 18).

usage: python bench/ui.py [BENCH_DIR] [--events N] [--customers N] [--requests N] [--pg URL] [--keep DIR]

The store: the standard benchmark (BENCH_DIR, default bench/out/std, from make-bench-input: 20
journeys, 1M events over 100k customers) replayed through the engine into the store, the way `run`
writes it (counters and all), then its customers copied under new ids until the table holds
--customers rows (default 1,000,000): the pages read counters, never every customer, and this
shows that a table ten times larger costs them nothing. Then `journeyctl ui`'s app, in this process
on a free port, answers --requests requests (default 300) of each page's data, one at a time on a
keep-alive connection: /api/overview and /api/journeys/ID of the busiest journey, each over
all, 7d, 24h and 1h. Prints p50/p95/max per endpoint. Target: p95 < 200 ms.
"""
import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from journeyctl.dsl.project.loader import load_journeys
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import BadEvent, parse_event
from journeyctl.engine.store.open import checkpoint, open_store
from journeyctl.engine.ui.app import UiServer
from journeyctl.engine.ui.reader import open_reader


def fill(url: str, root: Path, events: int | None, customers: int) -> None:
    store = open_store(url)
    engine = Engine(load_journeys([root / "journeys"]), store=store)
    started = time.perf_counter()
    with open(root / "events.jsonl", "rb") as f:
        for n, line in enumerate(f):
            if events is not None and n >= events:
                break
            try:
                engine.process(parse_event(line))
            except BadEvent:
                pass
            if n % 50_000 == 49_999:
                checkpoint(engine)  # as run commits: counters with the state
    checkpoint(engine)
    conn, P = store._conn, store.P
    base = have = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
    copy = 0
    while have < customers:
        copy += 1
        take = min(base, customers - have)
        conn.execute("BEGIN")
        conn.execute(f"INSERT INTO customers (customer_id, state, next_due, partition) "
                     f"SELECT customer_id || {P}, state, next_due, partition FROM customers "
                     f"WHERE customer_id NOT LIKE {P} ORDER BY customer_id LIMIT {P}", (f"#{copy}", "%#%", take))
        conn.execute("COMMIT")
        have += take
    conn.execute("ANALYZE")
    store.close()
    print(f"store {url.split('?')[0]}: {have:,} customers ({time.perf_counter() - started:.0f} s to build)", flush=True)


def measure(url: str, requests: int) -> dict:
    reader = open_reader(url)
    server = UiServer(reader, port=0).start()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    overview = _get(conn, "/api/overview")
    busiest = max(overview["journeys"], key=lambda j: overview["journeys"][j]["entered"])
    paths = [f"/api/overview?period={p}" for p in ("all", "7d", "24h", "1h")] + \
        [f"/api/journeys/{busiest}?period={p}" for p in ("all", "7d", "24h", "1h")]
    out = {}
    for path in paths:
        _get(conn, path)  # warm: the first read of a version's IR is cached
        times = []
        for _ in range(requests):
            t = time.perf_counter()
            _get(conn, path)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        out[path] = {"p50": statistics.median(times), "p95": times[int(0.95 * len(times)) - 1], "max": times[-1]}
        print(f"  {path:<48} p50 {out[path]['p50']:6.1f} ms  p95 {out[path]['p95']:6.1f} ms  "
              f"max {out[path]['max']:6.1f} ms", flush=True)
    conn.close()
    server.close()
    return out


def _get(conn, path: str) -> dict:
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise SystemExit(f"{path}: HTTP {r.status} {body[:200]!r}")
    return json.loads(body)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench_dir", nargs="?", default="bench/out/std")
    ap.add_argument("--events", type=int)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--pg", help="postgresql://... (a fresh ?schema= is best); without it, SQLite only")
    ap.add_argument("--keep", type=Path, help="Build the SQLite store here and keep it (reused when there).")
    args = ap.parse_args()
    root = Path(args.bench_dir)
    with tempfile.TemporaryDirectory() as tmp:
        db = (args.keep or Path(tmp)) / "ui-bench.db"
        url = f"sqlite:///{db}"
        if not db.exists():
            fill(url, root, args.events, args.customers)
        print("SQLite:")
        results = {"sqlite": measure(url, args.requests)}
        if args.pg:
            fill(args.pg, root, args.events, args.customers)
            print("PostgreSQL:")
            results["postgresql"] = measure(args.pg, args.requests)
    worst = max(r["p95"] for per in results.values() for r in per.values())
    print(f"worst p95 {worst:.1f} ms: {'under' if worst < 200 else 'OVER'} the 200 ms target")
    sys.exit(0 if worst < 200 else 1)


if __name__ == "__main__":
    main()
