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
import re
import random
import signal
import subprocess
import time

import orjson
import pytest

from conftest import JOURNEYCTL
from journeyctl.engine.core.events import format_instant, parse_instant
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
    assert "recreated" not in run.err() and "read nothing" not in run.err()  # no false alarm


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


SHORT = {
    "cart": 'on cart_abandoned within 3s unless purchase -> send sms "cart" with value = cart_value\n',
    "pay": 'on payment_failed -> send email "pay" with amount = amount\n',
}


def on_own_broker(broker, names, journeys_dir, tmp_path) -> tuple[KafkaSettings, list]:
    """(settings, `run` arguments) for a test with a broker of its own and the SHORT journeys."""
    kafka = KafkaSettings(broker.bootstrap)
    names.create(kafka)
    return kafka, [journeys_dir(SHORT), "--bootstrap-servers", broker.bootstrap, *names.args(),
                   "--allowed-lateness", "1s", "--state", f"sqlite:///{tmp_path / 'state.db'}", "--no-dashboard",
                   "--quiet"]


def test_an_event_stamped_in_the_future_is_dead_lettered_and_moves_no_clock(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, replay_actions, tmp_path):
    """Issue 15 item 1: one event stamped 2036-01-01 (that no journey reads) fired every pending wait at
    once and made every later event late, across restarts; a producer 10 minutes fast did the same."""
    names.create(kafka)
    folder = journeys_dir(SHORT)
    args = [folder, "--bootstrap-servers", kafka.bootstrap_servers, *names.args(), "--allowed-lateness", "1s",
            "--state", f"sqlite:///{tmp_path / 'state.db'}", "--no-dashboard", "--quiet"]
    run = run_journeyctl(args, tag="first")
    now = int(time.time() * 1000)
    good = [make_event("cart_abandoned", "c1", now, "a1", cart_value=5),
            make_event("purchase", "c1", now + 1_000, "p1"),  # before the wait is over: no cart sms
            make_event("payment_failed", "c2", now + 1_500, "g1", amount=7)]
    future = [make_event("page_viewed", "x", parse_instant("2036-01-01T00:00:00Z"), "f1"),
              make_event("payment_failed", "y", now + 10 * 60_000, "f2", amount=1)]  # a producer 10 min fast
    produce_to(kafka, names.events, keyed([good[0], *future, *good[1:]]))
    dead = topic_reader(names.dead).until(lambda vs: len(vs) >= 2, timeout=30)
    actions = topic_reader(names.actions).until(lambda vs: any(a["customer_id"] == "c2" for a in vs), timeout=30)
    code, _ = run.terminate()
    assert code == 0, run.err()
    assert sorted((d["reason"], orjson.loads(d["value"])["message_id"]) for d in dead) == \
        [("future", "f1"), ("future", "f2")]
    assert "more than the allowed clock skew (5m) after the wall clock" in dead[0]["detail"]
    want = replay_actions(SHORT, good, now + 60_000, 1_000)
    assert [a["action_id"] for a in actions] == [a["action_id"] for a in want]
    from journeyctl.engine.store.sqlite import SqliteStore

    with SqliteStore(tmp_path / "state.db") as store:
        (offset, clock, _), = store.positions().values()
        assert offset == 5 and now + 1_500 <= clock < now + 60_000 and store.get_meta("clock") < now + 60_000

    # across a restart: a new event is applied, nothing is late
    run = run_journeyctl(args, tag="again")
    later = make_event("payment_failed", "c3", int(time.time() * 1000), "g2", amount=9)
    produce_to(kafka, names.events, keyed([later]))
    topic_reader(names.actions).until(lambda vs: any(a["customer_id"] == "c3" for a in vs), timeout=30)
    code, _ = run.terminate()
    assert code == 0, run.err()
    assert len(topic_reader(names.dead).read(500)) == 2


def test_the_allowed_clock_skew_comes_from_the_command_line_the_environment_or_the_config(monkeypatch):
    from journeyctl.engine.cli.run import clock_skew, resolve_options, run
    from journeyctl.engine.cli.startup import UsageProblem

    def options(args, from_file=None):
        ctx = run.make_context("run", ["j.journey", *args])
        params = {k: v for k, v in ctx.params.items() if k not in ("journeys", "config_path")}
        return resolve_options(ctx, params, from_file or {})

    assert clock_skew(options([])["max_clock_skew"]) == 300_000
    assert clock_skew(options([], {"max-clock-skew": "1h"})["max_clock_skew"]) == 3_600_000
    monkeypatch.setenv("JOURNEYCTL_MAX_CLOCK_SKEW", "30s")
    assert clock_skew(options([], {"max_clock_skew": "1h"})["max_clock_skew"]) == 30_000
    assert clock_skew(options(["--max-clock-skew", "off"])["max_clock_skew"]) is None
    with pytest.raises(UsageProblem, match="--max-clock-skew: .soon. is not a duration; .* or off, for no limit"):
        clock_skew("soon")


def test_a_frozen_broker_moves_no_clock(own_broker, names, journeys_dir, run_journeyctl, topic_reader, make_event,
                                        replay_actions, tmp_path):
    """Issue 15 item 2: with the broker frozen (SIGSTOP) the last fetch still said "nothing unread", so
    wall time moved the clock on, and the events sent meanwhile were dead-lettered `late` once it was
    back. Wall time counts only while the broker answers."""
    broker = own_broker()
    kafka, args = on_own_broker(broker, names, journeys_dir, tmp_path)
    run = run_journeyctl(args)
    producer = Producer(kafka)  # made before the freeze, so it knows where the topic lives
    warm = make_event("payment_failed", "w", int(time.time() * 1000), "w", amount=1)
    producer.send(names.events, b"w", warm)
    producer.flush()
    reader = topic_reader(names.actions, kafka)
    reader.until(lambda vs: len(vs) >= 1, timeout=30)  # the worker reads and acts
    os.kill(broker.process.pid, signal.SIGSTOP)
    try:
        run.wait_for("cannot reach the broker", timeout=30)
        sent = []
        for i in range(50):  # stamped now, held by the producer until the broker answers again
            c = f"c{i}"
            values = [make_event("cart_abandoned", c, int(time.time() * 1000), f"a{i}", cart_value=i)]
            if i % 2:
                values.append(make_event("purchase", c, int(time.time() * 1000), f"p{i}"))
            for v in values:
                producer.send(names.events, c.encode(), v)
            sent += values
        last = max(parse_instant(orjson.loads(v)["timestamp"]) for v in sent)
        # frozen long enough for a clock moved by wall time to be well past them (lateness 1 s)
        wait_until(lambda: time.time() * 1000 > last + 5_000, 30, "five seconds of a frozen broker")
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)
    producer.flush(60)
    producer.close()
    want = {a["action_id"] for a in replay_actions(SHORT, [warm, *sent], last + 60_000, 1_000)}
    assert {a["template"] for a in replay_actions(SHORT, sent, last + 60_000, 1_000)} == {"cart"}
    got = reader.until(lambda vs: {a["action_id"] for a in vs} >= want, timeout=60)
    code, _ = run.terminate()
    assert code == 0, run.err()
    dead = [orjson.loads(r.value)["reason"] for r in topic_reader(names.dead, kafka).read(500)]
    assert not dead, f"{len(dead)} of {len(sent)} events sent while the broker was frozen were dead-lettered"
    assert {a["action_id"] for a in got} == want


def test_a_broker_restarted_empty_and_given_new_events_is_read_from_its_start(
        own_broker, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, replay_actions,
        tmp_path):
    """Issue 15 item 3: after kill -9 of the broker, a restart on the same port, the topic created again
    and 500 new events produced before the engine came back, the engine went on at its stored offset
    300 of the new topic, and the actions of the first 300 new events never happened."""
    broker = own_broker()
    kafka, args = on_own_broker(broker, names, journeys_dir, tmp_path)
    run = run_journeyctl(args)
    now = int(time.time() * 1000)
    first = [make_event("payment_failed", f"o{i}", now + i, f"o{i}", amount=i) for i in range(300)]
    produce_to(kafka, names.events, keyed(first))
    topic_reader(names.actions, kafka).until(lambda vs: len(vs) >= 300, timeout=60)
    os.kill(run.proc.pid, signal.SIGSTOP)  # the engine is away while the broker goes and comes back
    try:
        broker.kill()
        broker = own_broker(broker.port)
        names.create(kafka)
        now = int(time.time() * 1000)
        second = [make_event("payment_failed" if i % 2 else "product_viewed", f"n{i}", now + i, f"n{i}", amount=i)
                  for i in range(500)]
        produce_to(kafka, names.events, keyed(second))
    finally:
        os.kill(run.proc.pid, signal.SIGCONT)
    want = {a["action_id"] for a in replay_actions(SHORT, second, now + 60_000, 1_000)}
    assert len(want) == 250
    got = topic_reader(names.actions, kafka).until(lambda vs: {a["action_id"] for a in vs} >= want, timeout=60)
    code, _ = run.terminate()
    assert code == 0, run.err()
    new = {a["action_id"] for a in got if a["customer_id"].startswith("n")}
    assert new == want, f"{len(want - new)} of {len(want)} actions missing"
    # the rest: actions of the first events the broker had not acknowledged when it died, sent again
    assert all(a["customer_id"].startswith("o") for a in got if a["action_id"] not in want)
    assert "the topic was recreated (or the broker lost its data), reading the partition again from offset 0" \
        in run.err()


def test_a_topic_recreated_while_the_engine_was_stopped_is_read_from_its_start(
        own_broker, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, replay_actions,
        tmp_path):
    """The same after a restart of the engine: the record before the stored offset is not the one read
    there, so the partition is another log."""
    broker = own_broker()
    kafka, args = on_own_broker(broker, names, journeys_dir, tmp_path)
    run = run_journeyctl(args, tag="first")
    now = int(time.time() * 1000)
    produce_to(kafka, names.events, keyed([make_event("payment_failed", f"o{i}", now + i, f"o{i}", amount=i)
                                           for i in range(30)]))
    topic_reader(names.actions, kafka).until(lambda vs: len(vs) >= 30, timeout=60)
    code, _ = run.terminate()
    assert code == 0, run.err()
    broker.kill()
    broker = own_broker(broker.port)
    names.create(kafka)
    now = int(time.time() * 1000)
    second = [make_event("payment_failed", f"n{i}", now + i, f"n{i}", amount=i) for i in range(50)]
    produce_to(kafka, names.events, keyed(second))
    run = run_journeyctl(args, tag="again")
    want = {a["action_id"] for a in replay_actions(SHORT, second, now + 60_000, 1_000)}
    got = topic_reader(names.actions, kafka).until(lambda vs: {a["action_id"] for a in vs} >= want, timeout=60)
    wait_until(lambda: '"recreated_partitions":1' in run.out(), 30, "a status line that counts it")
    code, _ = run.terminate()
    assert code == 0, run.err()
    assert {a["action_id"] for a in got} == want
    assert "the record at offset 29 is not the one read there before; the topic was recreated" in run.err()
    status = [line for line in map(orjson.loads, run.out().splitlines()) if line["msg"] == "status"][-1]
    assert list(status["partition_clocks"]) == [f"{names.events}[0]"]
    assert parse_instant(status["watermark"]) >= now


def test_a_clock_a_future_event_left_in_the_store_is_named_and_can_be_set_back(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, tmp_path):
    """A store written before future events were dead-lettered keeps the clock they moved: `run` says so
    and how to repair it, and after `journeyctl clock --set-back-to now` events are applied again."""
    from journeyctl.engine.store.sqlite import SqliteStore

    names.create(kafka)
    with SqliteStore(tmp_path / "state.db") as store:
        store.set_meta("clock", parse_instant("2036-01-01T00:00:00Z"))
        store.save_positions({(names.events, 0): (0, parse_instant("2036-01-01T00:00:00Z"), None)})
        store.commit()
    url = f"sqlite:///{tmp_path / 'state.db'}"
    args = [journeys_dir(SHORT), "--bootstrap-servers", kafka.bootstrap_servers, *names.args(), "--state", url,
            "--no-dashboard", "--quiet"]
    run = run_journeyctl(args, tag="poisoned")
    run.wait_for(f"{names.events}[0]: its stored clock is 2036-01-01T00:00:00.000Z, in the future", timeout=30)
    assert "journeyctl clock --state <this state> --set-back-to now" in run.err()
    produce_to(kafka, names.events, keyed([make_event("payment_failed", "c1", int(time.time() * 1000), "m1")]))
    assert [d["reason"] for d in topic_reader(names.dead).until(lambda vs: vs, timeout=30)] == ["late"]
    code, _ = run.terminate()
    assert code == 0, run.err()

    repair = subprocess.run([*JOURNEYCTL, "clock", "--state", url, "--set-back-to", "now"], capture_output=True,
                            cwd=tmp_path, timeout=60)
    assert repair.returncode == 0 and b"engine clock, " + names.events.encode() + b"[0]" in repair.stdout
    run = run_journeyctl(args, tag="repaired")
    produce_to(kafka, names.events, keyed([make_event("payment_failed", "c2", int(time.time() * 1000), "m2")]))
    actions = topic_reader(names.actions).until(lambda vs: vs, timeout=30)
    code, _ = run.terminate()
    assert code == 0, run.err()
    assert [a["customer_id"] for a in actions] == ["c2"] and "in the future" not in run.err()


def test_a_worker_stopped_for_seconds_checks_its_partitions_and_loses_or_repeats_nothing(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, replay_actions, tmp_path):
    """After a gap between two polls longer than AWAY_S (3 s) the broker may have gone and come back unseen:
    the records of that poll wait until each partition's last record is compared again. With the same
    broker, that costs one record per partition read twice, and nothing else."""
    names.create(kafka, partitions=2)
    run = run_journeyctl([journeys_dir(SHORT), "--bootstrap-servers", kafka.bootstrap_servers, *names.args(),
                          "--allowed-lateness", "1s", "--state", f"sqlite:///{tmp_path / 'state.db'}",
                          "--no-dashboard", "--quiet"])
    now = int(time.time() * 1000)
    first = [make_event("payment_failed", f"a{i}", now + i, f"a{i}", amount=i) for i in range(40)]
    produce_to(kafka, names.events, keyed(first))
    reader = topic_reader(names.actions)
    reader.until(lambda vs: len(vs) >= 40, timeout=30)
    os.kill(run.proc.pid, signal.SIGSTOP)
    try:
        stopped = time.monotonic()
        now = int(time.time() * 1000)
        second = [make_event("payment_failed", f"b{i}", now + i, f"b{i}", amount=i) for i in range(40)]
        produce_to(kafka, names.events, keyed(second))
        # longer than AWAY_S, shorter than the group's session timeout (6 s): the worker stays in the group
        wait_until(lambda: time.monotonic() - stopped > 4, 30, "the worker stopped for 4 s")
    finally:
        os.kill(run.proc.pid, signal.SIGCONT)
    want = [a["action_id"] for a in replay_actions(SHORT, first + second, now + 60_000, 1_000)]
    got = reader.until(lambda vs: len(vs) >= len(want), timeout=60)
    code, _ = run.terminate()
    assert code == 0, run.err()
    assert sorted(a["action_id"] for a in got) == sorted(want)  # each once
    assert not topic_reader(names.dead).read(500) and "recreated" not in run.err()
    # 4 s or more: a loaded machine may take longer to stop and wake it
    assert re.search(r"this worker read nothing for \d+ s \(stopped, or the machine stalled\); checking", run.err())
