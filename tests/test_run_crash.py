"""Crash safety of `journeyctl run`: kill -9 at random moments while a stream flows, restart each time;
at the end every action of an uninterrupted run is on the actions topic, and no two copies of an
action differ. Also: rows left in the outbox are produced again at the next start. (slow)

The stream flows for at least 20,000 events (30 s) and until the last kill, however long the kills
take on a loaded machine, so every kill lands while events still arrive."""
from __future__ import annotations

import itertools
import random
import threading
import time

import orjson
import pytest

from conftest import PATIENCE, wait_until
from journeyctl.engine.live.kafka_edge import Producer

JOURNEYS = {
    "cart": 'on cart_abandoned within 2s unless purchase -> send sms "cart" with value = cart_value\n',
    "pay": 'on payment_failed -> send email "pay" with amount = amount\n',
    "onboard": 'journey onboard\n  reentry after 1s\n  on signup_completed\n  send email "welcome"\n'
               '  when app_opened within 2s\n    send push "tips"\n  otherwise\n    send sms "need_help"\n',
    "chain": 'journey chain\n  on email_clicked\n  wait 1s unless purchase\n  send push "still_interested"\n'
             '  wait 1s\n  send sms "last_chance"\n',
}
EVENTS = ["cart_abandoned", "purchase", "payment_failed", "signup_completed", "app_opened", "email_clicked",
          "product_viewed"]


def _stream(kafka, topic: str, make_event, rate: float, seed: int, sent: list, stop: threading.Event) -> None:
    """About `rate` events a second until `stop` is set, each stamped when it is produced (one partition,
    so in time order). The sleep paces the producer; it waits for nothing."""
    rng = random.Random(seed)
    producer = Producer(kafka)
    try:
        start = time.monotonic()
        for i in itertools.count():
            if stop.is_set():
                break
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            c = f"c{rng.randrange(300)}"
            value = make_event(rng.choice(EVENTS), c, int(time.time() * 1000), f"m{i}",
                               cart_value=rng.randrange(100), amount=rng.randrange(100))
            producer.send(topic, c.encode(), value)
            sent.append(value)
        producer.flush()
    finally:
        producer.close()


def _progress(db) -> int:
    """Events read so far, as the state store has committed them."""
    import sqlite3

    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute('SELECT coalesce(sum("offset"), 0) FROM offsets').fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        conn.close()


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_no_action_and_never_changes_one(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, make_event, replay_actions, tmp_path):
    names.create(kafka)
    folder = journeys_dir(JOURNEYS)
    args = [folder, "--bootstrap-servers", kafka.bootstrap_servers, *names.args(), "--allowed-lateness", "2s",
            "--state", f"sqlite:///{tmp_path / 'state.db'}", "--no-dashboard", "--quiet"]
    rng = random.Random(20261127)
    sent: list = []
    stop = threading.Event()
    stream = threading.Thread(target=_stream, args=(kafka, names.events, make_event, 700, 7, sent, stop))
    db = tmp_path / "state.db"
    run = run_journeyctl(args, tag="first")
    stream.start()
    read_at_kill = []
    try:
        for kill in range(3):
            before = _progress(db)
            wait_until(lambda: _progress(db) > before, what=lambda: f"progress after kill {kill}:\n{run.err()}")
            # this process is reading: kill it at a random moment (the sleep is that moment, not a wait),
            # either in the burst that catches up on what came in while it was down, or later in the stream
            time.sleep(rng.uniform(0, 0.25) if kill % 2 else rng.uniform(0.25, 2.5))
            run.kill()
            read_at_kill.append(_progress(db))
            run = run_journeyctl(args, tag=f"after-kill-{kill + 1}")
        wait_until(lambda: len(sent) >= 20_000, 2 * PATIENCE, "20,000 events produced")  # ~30 s when quiet
    finally:
        stop.set()
        stream.join()

    expected = replay_actions(JOURNEYS, sent, int(time.time() * 1000) + 60_000, 2_000)
    want = {a["action_id"]: a for a in expected}
    reader = topic_reader(names.actions)
    got = reader.until(lambda vs: {a["action_id"] for a in vs} >= set(want), timeout=2 * PATIENCE)
    code, _ = run.terminate()
    assert code == 0, run.err()

    have: dict = {}
    for a in got:
        assert have.setdefault(a["action_id"], a) == a, "two copies of one action differ"
    missing = set(want) - set(have)
    assert not missing, f"{len(missing)} of {len(want)} actions missing after kills at {read_at_kill}"
    assert set(have) == set(want)
    assert read_at_kill[1] < len(sent), "the kills came after the stream was read: nothing was tested"
    assert all(have[i] == want[i] for i in want)
    dead = topic_reader(names.dead).read(500)
    assert not dead, [orjson.loads(d.value)["reason"] for d in dead]


def test_rows_left_in_the_outbox_are_produced_again_at_start(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, tmp_path):
    """A run that died after committing but before Kafka acknowledged leaves rows in the outbox."""
    from journeyctl.engine.live.outbox import Outbox
    from journeyctl.engine.store.sqlite import SqliteStore

    names.create(kafka)
    db = tmp_path / "state.db"
    with SqliteStore(db) as store:
        outbox = Outbox(store, names.actions, names.dead)
        action = {"action_id": "a" * 32, "journey": "j", "journey_version": "v1", "customer_id": "c1",
                  "channel": "sms", "template": "t", "variables": {}, "due_at": "2026-11-27T00:00:00.000Z",
                  "status": "send", "step": "s1", "trigger_message_id": "m1", "instance_id": "m1",
                  "to": "+351900000001"}
        outbox.add_actions([action, {**action, "action_id": "b" * 32, "customer_id": "c2"}])
        outbox.add_dead_letters([(b"k", b'{"reason":"invalid_json"}')])
        outbox.commit()
    run = run_journeyctl([journeys_dir(JOURNEYS), "--bootstrap-servers", kafka.bootstrap_servers, *names.args(),
                          "--state", f"sqlite:///{db}", "--no-dashboard"])
    run.wait_for("delivered 3 messages left in the outbox by the last run")
    actions = topic_reader(names.actions).until(lambda vs: len(vs) >= 2, timeout=PATIENCE)
    assert sorted(a["action_id"] for a in actions) == ["a" * 32, "b" * 32]
    assert "instance_id" not in actions[0]
    dead = topic_reader(names.dead).until(lambda vs: len(vs) >= 1, timeout=PATIENCE)
    assert dead == [{"reason": "invalid_json"}]
    code, _ = run.terminate()
    assert code == 0
    with SqliteStore(db) as store:
        assert store.outbox() == []
