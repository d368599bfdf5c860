"""End to end through the embedded broker: `journeyctl run` as its own process, SQLite state.

Throughput: the standard benchmark input (../shared/tools/make-bench-input, 200,000 events over
20,000 customers by default) is loaded into the events topic first; then `journeyctl run
--clock event` reads it all, and the rate is taken from the offsets it commits to its state
file (start-up and the group join are left out). The input is a week of history, so the clock
is event time only.

Latency: events of the same mix, stamped at wall-clock now, are produced at a fixed rate
(5,000/s by default) while `journeyctl run` works live; for every action the time from its
event's production to the action's arrival on the actions topic is measured by a reader.
Both runs use --fetch-wait-ms 10, as --embedded-broker does: tansu answers a fetch only when
its wait ends, so the wait is latency.

Figures measured while events were dead-lettered are void: the throughput run fails (exit 1) when a
single event of its input went to the dead-letter topic, and says why. `--partitions N` spreads the
input over N partitions keyed by customer id (a backlog over several partitions, as after downtime);
`--check` also replays the same events in process, as `simulate` does, and fails when `run` missed an
action the replay gives or sent one it does not.

usage: .venv/bin/python bench/run_throughput.py [--input DIR] [--events N] [--customers N] [--limit N]
           [--journeys cart_abandon,...|all] [--partitions N] [--check] [--latency-rate 5000]
           [--latency-seconds 15] [--skip throughput|latency] [--profile FILE]
"""
from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from journeyctl.engine.live.broker import EmbeddedBroker  # noqa: E402
from journeyctl.engine.core.events import format_instant  # noqa: E402
from journeyctl.engine.live.kafka_edge import Admin, KafkaSettings, Producer, Reader  # noqa: E402

# the standard benchmark's generator, from the tools folder beside the checkout (or a folder above it)
MAKE_INPUT = next((tool for tool in (p / "shared" / "tools" / "make-bench-input" for p in ROOT.parents)
                   if tool.exists()), ROOT.parent / "shared" / "tools" / "make-bench-input")
RUNNER = "import sys; sys.argv[0] = 'journeyctl'; from journeyctl.engine.cli.main import program; program()"


def make_input(folder: Path, events: int, customers: int) -> Path:
    if not (folder / "events.jsonl").exists():
        subprocess.run([sys.executable, str(MAKE_INPUT), str(folder), str(events), str(customers)], check=True)
    return folder


def journeys_of(folder: Path, names: str, work: Path) -> Path:
    """A folder holding the chosen benchmark journeys."""
    if names == "all":
        return folder / "journeys"
    out = work / "journeys"
    out.mkdir(exist_ok=True)
    for name in names.split(","):
        (out / f"{name}.journey").write_text((folder / "journeys" / f"{name}.journey").read_text())
    return out


def create_topics(kafka, tag: str, partitions: int = 1) -> tuple[str, str, str]:
    topics = (f"events-{tag}", f"actions-{tag}", f"dead-{tag}", f"profiles-{tag}")
    admin = Admin(kafka)
    admin.create(list(topics), partitions)
    admin.close()
    return topics


def start_run(kafka, journeys: Path, topics, state: Path, extra: list[str], profile: str | None,
              log: Path) -> subprocess.Popen:
    cmd = [sys.executable]
    if profile:
        script = state.parent / "journeyctl_main.py"
        script.write_text(RUNNER + "\n")
        cmd += ["-m", "cProfile", "-o", profile, str(script)]
    else:
        cmd += ["-c", RUNNER]
    cmd += ["run", str(journeys), "--bootstrap-servers", kafka.bootstrap_servers, "--events-topic", topics[0],
            "--actions-topic", topics[1], "--dead-letter-topic", topics[2], "--profiles-topic", topics[3], "--group-id", f"bench-{topics[0]}",
            "--state", f"sqlite:///{state}", "--no-dashboard", "--quiet", "--fetch-wait-ms", "10", *extra]
    return subprocess.Popen(cmd, cwd=state.parent, stdout=subprocess.DEVNULL, stderr=open(log, "wb"),
                            env=dict(os.environ))


def committed(state: Path) -> int:
    if not state.exists():
        return 0
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        return conn.execute('SELECT coalesce(sum("offset"), 0) FROM offsets').fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux), to tell a busy run from a waiting one."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def read_topic(kafka, topic: str, settle_s: float = 1.0) -> list[dict]:
    """Every record on the topic, as JSON, once nothing new arrived for settle_s."""
    reader = Reader(kafka, topic)
    out, quiet_since = [], time.monotonic()
    while time.monotonic() - quiet_since < settle_s:
        got = reader.read(200)
        if got:
            out.extend(orjson.loads(r.value) for r in got)
            quiet_since = time.monotonic()
    reader.close()
    return out


def replayed(journeys: Path, lines: list[bytes], lateness_ms: int) -> tuple[dict, int]:
    """({action_id: action} a replay of the lines gives, as `simulate` does; the last event's time)."""
    from journeyctl.dsl.compiler import compile_text
    from journeyctl.engine.core.engine import Engine
    from journeyctl.engine.replay.loop import replay
    from journeyctl.engine.replay.sources import read_jsonl
    from journeyctl.engine.store.memory import MemoryStore

    irs = [compile_text(f.read_text(), f.name).ir for f in sorted(journeys.glob("*.journey"))]
    result = replay(Engine(irs, store=MemoryStore(), lateness=lateness_ms), read_jsonl(lines))
    return {a["action_id"]: a for a in result.actions}, result.last_time


def check_against_replay(journeys: Path, lines: list[bytes], actions: list[dict], lateness_ms: int) -> bool:
    """`run --clock event` fires a timer once every partition is past its due time plus the allowed
    lateness; a replay fires every timer due by the last event. So every action of `run` must be one
    the replay gives, and every action the replay gives due by the last event minus the lateness must
    be one `run` gave."""
    from journeyctl.engine.core.events import format_instant

    want, last = replayed(journeys, lines, lateness_ms)
    got = {a["action_id"]: a for a in actions}
    horizon = format_instant(last - lateness_ms)
    missing = [i for i, a in want.items() if i not in got and a["due_at"] <= horizon]
    extra = [i for i in got if i not in want]
    changed = [i for i, a in got.items() if i in want and a != {k: want[i][k] for k in a}]
    print(f"check: the replay gives {len(want):,} actions ({sum(a['due_at'] <= horizon for a in want.values()):,} "
          f"due by the last event minus the allowed lateness); run gave {len(got):,}: {len(missing):,} missing, "
          f"{len(extra):,} the replay does not give, {len(changed):,} different")
    return not (missing or extra or changed)


def throughput(kafka, folder: Path, journeys: Path, work: Path, profile: str | None, partitions: int = 1,
               limit: int | None = None, check: bool = False) -> None:
    lines = (folder / "events.jsonl").read_bytes().splitlines()[:limit]
    topics = create_topics(kafka, "tp", partitions)
    t = time.perf_counter()
    producer = Producer(kafka, linger_ms=20, batch_size=512 * 1024)
    for line in lines:
        producer.send(topics[0], orjson.loads(line).get("customer_id", "").encode() or None, line)
    producer.flush(120)
    producer.close()
    print(f"loaded {len(lines):,} events into the events topic ({partitions} partition{'s' if partitions > 1 else ''}, "
          f"keyed by customer id) in {time.perf_counter() - t:.1f} s")

    state = work / "throughput.db"
    log = work / "throughput.log"
    proc = start_run(kafka, journeys, topics, state, ["--clock", "event"], profile, log)
    first = first_at = None
    while True:
        n = committed(state)
        now = time.perf_counter()
        if first is None and n > 0:
            first, first_at, first_cpu = n, now, cpu_seconds(proc.pid)
        if n >= len(lines):
            break
        if proc.poll() is not None:
            sys.exit(f"journeyctl run stopped early:\n{log.read_text()}")
        time.sleep(0.02)
    took = now - first_at
    busy = cpu_seconds(proc.pid) - first_cpu
    stop(proc)
    actions = read_topic(kafka, topics[1])
    dead = read_topic(kafka, topics[2])
    rate = (len(lines) - first) / took if took > 0 else float("inf")
    print(f"throughput: {len(lines) - first:,} events in {took:.2f} s = {rate:,.0f} events/s end to end "
          f"({len(actions):,} actions on the actions topic, state {state.stat().st_size / 1e6:.0f} MB); journeyctl used "
          f"{busy:.2f} s of CPU in that time ({busy / took:.0%} of one core)")
    failed = []
    if dead:
        reasons = Counter(d.get("reason") for d in dead)
        failed.append(f"{len(dead):,} of {len(lines):,} events were dead-lettered "
                      f"({', '.join(f'{r} {n:,}' for r, n in reasons.most_common())}): the figures above are void")
    if check and not check_against_replay(journeys, lines, actions, 5_000):
        failed.append("run and a replay of the same events disagree")
    if failed:
        sys.exit("FAILED: " + "; ".join(failed))
    if profile:
        import pstats
        print(f"profile of journeyctl run written to {profile}; top functions by own time:")
        pstats.Stats(profile).sort_stats("tottime").print_stats(22)


def latency(kafka, folder: Path, journeys: Path, work: Path, rate: int, seconds: float) -> None:
    mix = [orjson.loads(line) for line in (folder / "events.jsonl").read_bytes().splitlines()[:200_000]]
    topics = create_topics(kafka, "lat")
    state = work / "latency.db"
    log = work / "latency.log"
    proc = start_run(kafka, journeys, topics, state, ["--allowed-lateness", "5s"], None, log)
    time.sleep(5)  # joined the group by now
    sent_at: dict = {}
    arrived: list = []
    produced: list = []  # event produced -> action handed to Kafka (the action record's CreateTime)
    done = threading.Event()

    def read() -> None:
        reader = Reader(kafka, topics[1])
        while not done.is_set():
            for r in reader.read(50):
                now = time.time()
                mid = orjson.loads(r.value)["trigger_message_id"]
                if mid in sent_at:
                    arrived.append(now - sent_at[mid])
                    produced.append(r.timestamp / 1000 - sent_at[mid])
        reader.close()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    producer = Producer(kafka, linger_ms=2)
    start = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        target = start + i / rate
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        ev = dict(mix[i % len(mix)])
        mid = f"lat{i}"
        ev.pop("messageId", None)
        ev["message_id"] = mid
        ev["timestamp"] = format_instant(int(time.time() * 1000))
        key = (ev.get("customer_id") or ev.get("userId")).encode()
        sent_at[mid] = time.time()
        producer.send(topics[0], key, orjson.dumps(ev))
    producer.flush(30)
    achieved = total / (time.perf_counter() - start)
    time.sleep(2)
    done.set()
    thread.join(5)
    producer.close()
    stop(proc)
    if not arrived:
        print("latency: no actions arrived", log.read_text())
        return
    arrived.sort()
    produced.sort()

    def pct(values: list, p: float) -> float:
        return values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000

    print(f"latency at {achieved:,.0f} events/s for {seconds:g} s: {len(arrived):,} actions, "
          f"p50 {pct(arrived, 50):.1f} ms, p90 {pct(arrived, 90):.1f} ms, p99 {pct(arrived, 99):.1f} ms, "
          f"max {arrived[-1] * 1000:.1f} ms (event produced -> action readable on the actions topic); "
          f"of which event produced -> action sent by journeyctl: p50 {pct(produced, 50):.1f} ms, "
          f"p99 {pct(produced, 99):.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", type=Path, default=ROOT / "bench" / "out" / "run")
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--limit", type=int, help="use only the first N events of the input")
    ap.add_argument("--partitions", type=int, default=1, help="partitions of the events topic (keyed by customer id)")
    ap.add_argument("--check", action="store_true", help="compare the actions with a replay of the same events")
    ap.add_argument("--journeys", default="cart_abandon", help="comma-separated benchmark journeys, or all")
    ap.add_argument("--latency-journeys", default="cart_abandon,payment_failed,fraud",
                    help="journeys for the latency run (some must send at once)")
    ap.add_argument("--latency-rate", type=int, default=5_000)
    ap.add_argument("--latency-seconds", type=float, default=15)
    ap.add_argument("--skip", choices=["throughput", "latency"])
    ap.add_argument("--profile", help="write a cProfile of the throughput run here and print its top")
    args = ap.parse_args()
    folder = make_input(args.input, args.events, args.customers)
    with tempfile.TemporaryDirectory(prefix="journeyctl-bench-") as tmp, EmbeddedBroker() as broker:
        work = Path(tmp)
        kafka = KafkaSettings(broker.bootstrap)
        print(f"embedded broker {broker.bootstrap}; input {folder}")
        if args.skip != "throughput":
            throughput(kafka, folder, journeys_of(folder, args.journeys, work), work, args.profile, args.partitions,
                       args.limit, args.check)
        if args.skip != "latency":
            lat = work / "lat"
            lat.mkdir()
            latency(kafka, folder, journeys_of(folder, args.latency_journeys, lat), work, args.latency_rate,
                    args.latency_seconds)


if __name__ == "__main__":
    main()
