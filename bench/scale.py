"""Several `journeyctl run` workers on one PostgreSQL store: throughput with 1, 2 and 3 workers, and
the takeover time after `kill -9` of a worker.

Throughput: the standard benchmark input (../shared/tools/make-bench-input; 100,000 events over
10,000 customers by default), keyed by customer id, is loaded into a 6-partition events topic of
the embedded broker; then N workers (`journeyctl run --clock event --state postgresql://...
?schema=<fresh>`, one consumer group) read it all. Progress is the sum of the offsets committed to
the store. Two rates: end to end from the first committed batch (including the group's
rebalances while the workers join), and steady, from the moment the last worker got its
partitions.

Takeover: two workers run live (wall clock) while events flow at a fixed rate; one is killed with
kill -9. Reported: seconds from the kill until the survivor owns every partition, and until the
offsets of the dead worker's partitions move again in the store.

Every process here shares one machine: the broker, PostgreSQL, the workers and this script. On a
2-core machine more workers cannot add CPU; see docs/scaling.md for what to expect elsewhere.

usage: .venv/bin/python bench/scale.py [--events N] [--customers N] [--workers 1,2,3]
           [--journeys cart_abandon,...|all] [--skip throughput|takeover]
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psycopg  # noqa: E402

from journeyctl.engine.live.broker import EmbeddedBroker  # noqa: E402
from journeyctl.engine.core.events import format_instant, parse_instant  # noqa: E402
from journeyctl.engine.live.kafka_edge import Admin, KafkaSettings, Producer  # noqa: E402
from run_throughput import journeys_of, make_input  # noqa: E402

PG = os.environ.get("JOURNEYCTL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PARTITIONS = 6
RUNNER = "import sys; sys.argv[0] = 'journeyctl'; from journeyctl.engine.cli.main import program; program()"
OWNED = re.compile(r"partitions owned: \S+\[([\d,]+)\]")


def topics(kafka, tag: str) -> tuple[str, str, str]:
    names = (f"events-{tag}", f"actions-{tag}", f"dead-{tag}", f"profiles-{tag}")
    admin = Admin(kafka)
    admin.create(list(names), PARTITIONS)
    admin.close()
    return names


def load(kafka, topic: str, lines: list[bytes]) -> None:
    producer = Producer(kafka, linger_ms=20, batch_size=512 * 1024)
    for line in lines:
        ev = orjson.loads(line)
        key = ev.get("customer_id") or ev.get("userId")  # identify events name the customer userId
        producer.send(topic, key.encode() if key else None, line)
    producer.flush(120)
    producer.close()


def worker(kafka, journeys: Path, names, schema: str, wid: str, work: Path, extra: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-c", RUNNER, "run", str(journeys), "--bootstrap-servers", kafka.bootstrap_servers,
           "--events-topic", names[0], "--actions-topic", names[1], "--dead-letter-topic", names[2], "--profiles-topic", names[3],
           "--group-id", f"g-{names[0]}", "--state", f"{PG}?schema={schema}", "--no-dashboard", "--quiet",
           "--fetch-wait-ms", "10", "--worker-id", wid, *extra]
    return subprocess.Popen(cmd, cwd=work, stdout=open(work / f"{wid}.out", "wb"), stderr=open(work / f"{wid}.err", "wb"),
                            env=dict(os.environ))


def committed(schema: str, topic: str, partitions=None) -> int:
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        try:
            rows = conn.execute('SELECT partition, "offset" FROM offsets WHERE topic = %s', (topic,)).fetchall()
        except psycopg.errors.UndefinedTable:
            return 0
    return sum(o for p, o in rows if partitions is None or p in partitions)


def drop(schema: str) -> None:
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def assignments(work: Path, wid: str) -> list[tuple[float, set]]:
    """(wall time, partitions) of every 'partitions owned' note in a worker's JSON log."""
    out = []
    path = work / f"{wid}.out"
    for line in path.read_bytes().splitlines() if path.exists() else ():
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        m = OWNED.search(rec.get("text", "")) if rec.get("msg") == "note" else None
        if m:
            out.append((parse_instant(rec["ts"]) / 1000, {int(p) for p in m.group(1).split(",")}))
    return out


def throughput(kafka, lines: list[bytes], journeys: Path, n_workers: int, work: Path) -> dict:
    tag = uuid.uuid4().hex[:8]
    names = topics(kafka, tag)
    load(kafka, names[0], lines)
    schema = f"bench_{tag}"
    total = len(lines)
    procs = [worker(kafka, journeys, names, schema, f"w{i}", work, ["--clock", "event"]) for i in range(n_workers)]
    samples = []
    try:
        while True:
            n = committed(schema, names[0])
            now = time.time()
            samples.append((now, n))
            if n >= total:
                break
            for p in procs:
                if p.poll() is not None:
                    sys.exit(f"a worker stopped early:\n{(work / 'w0.err').read_text()}")
            time.sleep(0.05)
    finally:
        for p in procs:
            stop(p)
    settled = max((a[-1][0] for a in (assignments(work, f"w{i}") for i in range(n_workers)) if a), default=None)
    first = next((t, n) for t, n in samples if n > 0)
    end = samples[-1]
    rate = (end[1] - first[1]) / max(1e-6, end[0] - first[0])
    steady = None
    if settled is not None and settled < end[0] - 1:
        at = next(((t, n) for t, n in samples if t >= settled), None)
        if at is not None and end[0] > at[0]:
            steady = (end[1] - at[1]) / (end[0] - at[0])
    drop(schema)
    return {"workers": n_workers, "events": total, "seconds": end[0] - first[0], "rate": rate, "steady": steady}


def takeover(kafka, mix: list[dict], journeys: Path, work: Path, rate: int) -> dict:
    tag = uuid.uuid4().hex[:8]
    names = topics(kafka, tag)
    schema = f"bench_{tag}"
    procs = {w: worker(kafka, journeys, names, schema, w, work, ["--allowed-lateness", "15s"]) for w in ("ka", "kb")}
    stop_flow = threading.Event()

    def flow() -> None:
        producer = Producer(kafka, linger_ms=2)
        i, start = 0, time.perf_counter()
        while not stop_flow.is_set():
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            ev = dict(mix[i % len(mix)])
            ev.pop("messageId", None)
            ev["message_id"] = f"t{i}"
            ev["timestamp"] = format_instant(int(time.time() * 1000))
            producer.send(names[0], (ev.get("customer_id") or ev.get("userId")).encode(), orjson.dumps(ev))
            i += 1
        producer.flush(10)
        producer.close()

    thread = threading.Thread(target=flow, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 60
        while True:
            a, b = assignments(work, "ka"), assignments(work, "kb")
            if a and b and len(a[-1][1]) == len(b[-1][1]) == PARTITIONS // 2:
                break
            if time.time() > deadline:
                sys.exit("the two workers did not share the partitions within 60 s")
            time.sleep(0.1)
        time.sleep(3)
        dead = set(assignments(work, "ka")[-1][1])
        before = committed(schema, names[0], dead)
        procs["ka"].kill()
        killed = time.time()
        owned_at = moved_at = None
        while (owned_at is None or moved_at is None) and time.time() < killed + 60:
            b = assignments(work, "kb")
            if owned_at is None and b and b[-1][1] == set(range(PARTITIONS)):
                owned_at = b[-1][0]
            if moved_at is None and committed(schema, names[0], dead) > before:
                moved_at = time.time()
            time.sleep(0.05)
    finally:
        stop_flow.set()
        thread.join(10)
        for p in procs.values():
            stop(p)
    drop(schema)
    return {"owned": None if owned_at is None else owned_at - killed,
            "moving": None if moved_at is None else moved_at - killed, "rate": rate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", type=Path, default=ROOT / "bench" / "out" / "scale")
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--workers", default="1,2,3")
    ap.add_argument("--journeys", default="cart_abandon")
    ap.add_argument("--takeover-rate", type=int, default=500, help="events/s while a worker is killed")
    ap.add_argument("--skip", choices=["throughput", "takeover"])
    args = ap.parse_args()
    folder = make_input(args.input, args.events, args.customers)
    lines = (folder / "events.jsonl").read_bytes().splitlines()
    print(f"{os.cpu_count()} cores; input {folder}: {len(lines):,} events; {PARTITIONS} partitions; "
          f"PostgreSQL {PG}")
    with tempfile.TemporaryDirectory(prefix="journeyctl-scale-") as tmp, EmbeddedBroker() as broker:
        kafka = KafkaSettings(broker.bootstrap)
        journeys = journeys_of(folder, args.journeys, Path(tmp))
        if args.skip != "throughput":
            for n in (int(x) for x in args.workers.split(",")):
                work = Path(tmp) / f"tp{n}"
                work.mkdir()
                r = throughput(kafka, lines, journeys, n, work)
                steady = f"{r['steady']:,.0f}" if r["steady"] is not None else "n/a"
                print(f"{n} worker{'s' if n > 1 else ' '}: {r['events']:,} events in {r['seconds']:.1f} s = "
                      f"{r['rate']:,.0f} events/s end to end; {steady} events/s after the last rebalance",
                      flush=True)
        if args.skip != "takeover":
            work = Path(tmp) / "takeover"
            work.mkdir()
            mix = [orjson.loads(x) for x in lines[:20_000]]
            r = takeover(kafka, mix, journeys, work, args.takeover_rate)
            fmt = lambda v: "never (60 s)" if v is None else f"{v:.1f} s"  # noqa: E731
            print(f"takeover after kill -9 (2 workers, {r['rate']} events/s, session timeout 6 s): survivor owns "
                  f"every partition {fmt(r['owned'])} after the kill; the dead worker's partitions move again "
                  f"{fmt(r['moving'])} after it", flush=True)


if __name__ == "__main__":
    main()
