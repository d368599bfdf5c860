"""The clock of `journeyctl run` (issue 15, items 0-3), end to end on the embedded broker and SQLite.

- A backlog over several partitions gives exactly what `simulate` gives on the same events: each
  partition's events are judged against that partition's own stream time, and timers fire at the
  earliest of them (the watermark).
- An event stamped in the future (past the wall clock plus the allowed skew) is dead-lettered
  `future` and moves no clock.
- A frozen broker (SIGSTOP) moves no clock: wall time counts only while the broker answers that a
  partition holds nothing unread.
- A broker restarted empty, its topic created again and given new events before the engine comes
  back, is read from its first offset, not from the offset stored for the old topic.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import orjson
import pytest

from conftest import JOURNEYCTL
from journeyctl.engine.core.events import format_instant, parse_instant
from journeyctl.engine.live.broker import EmbeddedBroker
from journeyctl.engine.live.kafka_edge import KafkaSettings, Producer

JOURNEYS = {
    "cart": 'on cart_abandoned within 30m unless purchase -> send sms "cart" with value = cart_value\n',
    "pay": 'on payment_failed -> send email "pay" with amount = amount\n',
    "nudge": 'journey nudge\n  on app_opened\n  wait 10m unless purchase\n  send push "nudge"\n',
    "buyers": "segment buyers\n  where count(purchase within 1h) >= 2\n",
    "vip": 'on segment_entered where segment == "buyers" -> send email "vip"\n',
}
KINDS = ["cart_abandoned", "purchase", "payment_failed", "app_opened", "product_viewed", "product_viewed"]


def history(make_event, start_ms: int, n: int, customers: int, seed: int) -> list[bytes]:
    """n events in time order from start_ms, a second or so apart, over `customers` customers."""
    rng = random.Random(seed)
    out, t = [], start_ms
    for i in range(n):
        t += rng.randrange(0, 2_500)
        c = f"c{rng.randrange(customers)}"
        out.append(make_event(rng.choice(KINDS), c, t, f"m{i}", cart_value=rng.randrange(200),
                              amount=rng.randrange(200)))
    return out


def keyed(values: list[bytes]) -> list[tuple[bytes, bytes]]:
    return [(orjson.loads(v)["customer_id"].encode(), v) for v in values]


def simulate(folder, values: list[bytes], until_ms: int, tmp_path, *extra: str) -> dict:
    """{action_id: action} of `journeyctl simulate` over the same events, as a user would run it."""
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(values) + b"\n")
    done = subprocess.run([*JOURNEYCTL, "simulate", str(folder), "--events", str(path), "--format", "jsonl",
                           "--until", format_instant(until_ms), *extra], capture_output=True, cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return {a["action_id"]: a for a in map(orjson.loads, done.stdout.splitlines())}


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


@pytest.fixture
def own_broker():
    brokers = []

    def start(port=None) -> EmbeddedBroker:
        b = EmbeddedBroker(port=port).start()
        brokers.append(b)
        return b

    yield start
    for b in brokers:
        if b.process is not None and b.process.poll() is None:
            os.kill(b.process.pid, signal.SIGCONT)  # a test that failed while it was frozen
        b.stop()


def test_a_backlog_over_four_partitions_gives_exactly_what_simulate_gives(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, tmp_path):
    """Issue 15 item 0: one clock for the whole worker ran ahead with whichever partition was read
    first, and most of the other partitions' events were dead-lettered `late`."""
    names.create(kafka, partitions=4)
    folder = journeys_dir(JOURNEYS)
    now = int(time.time() * 1000)
    values = history(make_event, now - 3 * 3_600_000, 3_000, 300, seed=15)  # about an hour, 3 to 2 hours ago
    produce_to(kafka, names.events, keyed(values))
    want = simulate(folder, values, now + 60_000, tmp_path)
    assert {a["template"] for a in want.values()} == {"cart", "pay", "nudge", "vip"}

    run = run_journeyctl([folder, "--bootstrap-servers", kafka.bootstrap_servers, *names.args(),
                          "--state", f"sqlite:///{tmp_path / 'state.db'}", "--no-dashboard", "--quiet"])
    dead = topic_reader(names.dead)
    got = topic_reader(names.actions).until(
        lambda vs: {a["action_id"] for a in vs} >= set(want) or len(dead.read(0)) > 0, timeout=90)
    code, _ = run.terminate()
    assert code == 0, run.err()
    reasons = [d["reason"] for d in dead.values()]
    assert not reasons, f"{len(reasons)} of {len(values)} events dead-lettered: {set(reasons)}"
    assert {a["action_id"]: a for a in got} == want
    assert len(got) == len(want)


def test_a_backlog_read_with_event_time_alone_is_not_judged_late(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, tmp_path):
    """`--clock event` (history through Kafka): every timer due by the last event minus the allowed
    lateness fires, as in a replay, and partitions that are read to the end do not hold the rest back."""
    names.create(kafka, partitions=4)
    folder = journeys_dir(JOURNEYS)
    start = int(time.time() * 1000) - 30 * 86_400_000
    values = history(make_event, start, 2_000, 200, seed=16)
    produce_to(kafka, names.events, keyed(values))
    last = max(parse_instant(orjson.loads(v)["timestamp"]) for v in values)
    want = simulate(folder, values, int(time.time() * 1000), tmp_path)  # every timer due by now fires
    due = {i for i, a in want.items() if parse_instant(a["due_at"]) <= last - 5_000}

    run = run_journeyctl([folder, "--bootstrap-servers", kafka.bootstrap_servers, *names.args(), "--clock", "event",
                          "--state", f"sqlite:///{tmp_path / 'state.db'}", "--no-dashboard", "--quiet"])
    dead = topic_reader(names.dead)
    got = topic_reader(names.actions).until(
        lambda vs: {a["action_id"] for a in vs} >= due or len(dead.read(0)) > 0, timeout=90)
    code, _ = run.terminate()
    assert code == 0, run.err()
    assert not dead.values()
    got_ids = {a["action_id"] for a in got}
    assert due <= got_ids <= set(want), (len(due - got_ids), len(got_ids - set(want)))
    assert all(want[a["action_id"]] == a for a in got)
