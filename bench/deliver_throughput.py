"""`journeyctl deliver` end to end: embedded broker -> deliver (its own process, SQLite state) -> a local
webhook receiver (in this process) that answers each POST after 20 ms.

Throughput: N actions (20,000 by default) are loaded into the actions topic first; deliver then
sends them all with bounded concurrency (the channel's `concurrency`, 64 by default), and the
rate is taken at the receiver from its first to its last request (start-up and the group join
are left out). Target (issue 16): >= 2,000 messages/s on 2 cores.

Latency: actions are produced at a fixed rate (500/s by default), each stamped with its
production time; the receiver measures production -> arrival for each. Target: p99 < 100 ms.
Both use --fetch-wait-ms 10: the embedded broker answers a fetch only when its wait ends.

usage: .venv/bin/python bench/deliver_throughput.py [--actions 20000] [--delay-ms 20] [--concurrency 64]
           [--latency-rate 500] [--latency-seconds 15] [--skip throughput|latency]
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent

from journeyctl.engine.deliver.local import LocalWebhook  # noqa: E402
from journeyctl.engine.live.broker import EmbeddedBroker  # noqa: E402
from journeyctl.engine.live.kafka_edge import Admin, KafkaSettings, Producer  # noqa: E402

JOURNEYCTL = [sys.executable, "-c", "from journeyctl.engine.cli.main import program; program()"]


def action(i: int, tag: str, sent_at: float | None = None) -> dict:
    return {"action_id": f"{tag}-{i:08d}", "journey": "bench", "journey_version": "v", "customer_id": f"c{i % 5000}",
            "channel": "whatsapp", "template": "bench", "variables": {"name": f"N{i}", "sent_at": sent_at},
            "due_at": "2026-01-01T00:00:00.000Z", "status": "send", "step": "s1", "trigger_message_id": f"m{i}",
            "to": f"+3519{i:08d}"}


def project(folder: Path, url: str, concurrency: int) -> None:
    (folder / "templates").mkdir(exist_ok=True)
    (folder / "templates" / "bench.whatsapp.liquid").write_text("Hi {{ name }}, check out the latest running shoes.")
    (folder / "journeyctl.yaml").write_text(
        f"delivery:\n  whatsapp: {{provider: webhook, url: '{url}/w', concurrency: {concurrency}}}\n")


def start_deliver(folder: Path, bootstrap: str, topic: str, group: str) -> subprocess.Popen:
    return subprocess.Popen([*JOURNEYCTL, "deliver", "--bootstrap-servers", bootstrap, "--actions-topic", topic,
                             "--group-id", group, "--state", f"sqlite:///{folder}/state.db", "--no-dashboard",
                             "--quiet", "--fetch-wait-ms", "10", "--create-topics", "--max-in-flight", "5000"],
                            cwd=folder, stdout=subprocess.DEVNULL, stderr=open(folder / f"{group}.err", "wb"))


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def throughput(kafka, bootstrap, folder, hook, n: int) -> None:
    topic = "actions-throughput"
    Admin(kafka).create([topic])
    p = Producer(kafka, linger_ms=20, batch_size=512 * 1024)
    for i in range(n):
        a = action(i, "t")
        p.send(topic, a["customer_id"].encode(), orjson.dumps(a))
    p.flush(120)
    p.close()
    proc = start_deliver(folder, bootstrap, topic, "bench-throughput")
    deadline = time.monotonic() + 600
    while len(hook.received.effects) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    stop(proc)
    times = sorted(r[0] for r in hook.received.requests)
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    print(f"throughput: {len(hook.received.effects):,} of {n:,} messages delivered, "
          f"{len(times) / span:,.0f} messages/s at the receiver ({hook.delay_ms:g} ms per answer)")


def latency(kafka, bootstrap, folder, hook, rate: float, seconds: float) -> None:
    topic = "actions-latency"
    Admin(kafka).create([topic])
    hook.received.requests.clear()
    hook.received.effects.clear()
    proc = start_deliver(folder, bootstrap, topic, "bench-latency")
    time.sleep(5)  # the group join; the measurement starts after it
    offset = time.time() - time.monotonic()
    p = Producer(kafka, linger_ms=0)
    n = int(rate * seconds)
    start = time.monotonic()
    for i in range(n):
        due = start + i / rate
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        a = action(i, "l", time.time())
        p.send(topic, a["customer_id"].encode(), orjson.dumps(a))
    p.flush(30)
    p.close()
    deadline = time.monotonic() + 60
    while len(hook.received.effects) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    stop(proc)
    lat = sorted((t + offset - body["variables"]["sent_at"]) * 1000 for t, _, _, body, status in hook.received.requests
                 if status < 300 and isinstance(body, dict))
    if not lat:
        print("latency: nothing arrived")
        return
    q = lambda x: lat[min(len(lat) - 1, int(x * len(lat)))]  # noqa: E731
    print(f"latency at {rate:g} messages/s for {seconds:g} s: {len(lat):,} arrived; production -> receiver "
          f"p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, max {lat[-1]:.1f} ms "
          f"(arrival is when the request reaches the receiver, before its {hook.delay_ms:g} ms answer)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--actions", type=int, default=20_000)
    ap.add_argument("--delay-ms", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency-rate", type=float, default=500.0)
    ap.add_argument("--latency-seconds", type=float, default=15.0)
    ap.add_argument("--skip", choices=["throughput", "latency"])
    args = ap.parse_args()
    broker = EmbeddedBroker().start()
    hook = LocalWebhook(delay_ms=args.delay_ms).start()
    folder = Path(tempfile.mkdtemp(prefix="bench-deliver-"))
    try:
        kafka = KafkaSettings(broker.bootstrap)
        project(folder, hook.url, args.concurrency)
        if args.skip != "throughput":
            throughput(kafka, broker.bootstrap, folder, hook, args.actions)
        if args.skip != "latency":
            latency(kafka, broker.bootstrap, folder, hook, args.latency_rate, args.latency_seconds)
    finally:
        hook.stop()
        broker.stop()
        print(f"(work folder {folder}; cores: {os.cpu_count()})")


if __name__ == "__main__":
    main()
