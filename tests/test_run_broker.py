"""`journeyctl run` when the broker is not there: at start it keeps trying with a clear status line, and
a broker lost mid-run (restarted empty: the embedded broker keeps nothing) loses no action. Each test
has a broker of its own, since it stops it."""
from __future__ import annotations

import time

import pytest

from conftest import PATIENCE, wait_until
from journeyctl.engine.live.broker import free_port
from journeyctl.engine.live.kafka_edge import KafkaSettings

JOURNEYS = {
    "cart": 'on cart_abandoned within 3s unless purchase -> send sms "cart" with value = cart_value\n',
    "pay": 'on payment_failed -> send email "pay" with amount = amount\n',
}


def _batch(make_event, tag: str, now: int, n: int = 10) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(n):
        c = f"{tag}{i}"
        out.append((c.encode(), make_event("cart_abandoned", c, now + i, f"{tag}a{i}", cart_value=i)))
        out.append((c.encode(), make_event("payment_failed", c, now + i, f"{tag}f{i}", amount=i)))
    return out


@pytest.mark.slow
def test_broker_down_at_start_then_started(own_broker, names, journeys_dir, run_journeyctl, topic_reader,
                                           produce_to, make_event, replay_actions, tmp_path):
    port = free_port()
    run = run_journeyctl([journeys_dir(JOURNEYS), "--bootstrap-servers", f"127.0.0.1:{port}", *names.args(),
                          "--create-topics", "--state", f"sqlite:///{tmp_path / 'state.db'}", "--no-dashboard"])
    run.wait_for(f"cannot reach the broker at 127.0.0.1:{port}; trying again in")
    assert "Traceback" not in run.err()
    broker = own_broker(port)
    kafka = KafkaSettings(broker.bootstrap)
    run.wait_for("created topics")
    now = int(time.time() * 1000)
    batch = _batch(make_event, "x", now)
    produce_to(kafka, names.events, batch)
    expected = {a["action_id"] for a in replay_actions(JOURNEYS, [v for _, v in batch], now + 60_000, 5_000)}
    got = topic_reader(names.actions, kafka).until(lambda vs: {a["action_id"] for a in vs} >= expected, PATIENCE)
    code, _ = run.terminate()
    assert code == 0, run.err()
    assert {a["action_id"] for a in got} == expected


@pytest.mark.slow
def test_broker_lost_mid_run_and_back_empty_loses_nothing(own_broker, names, journeys_dir, run_journeyctl,
                                                          topic_reader, produce_to, make_event, replay_actions,
                                                          tmp_path):
    broker = own_broker()
    kafka = KafkaSettings(broker.bootstrap)
    names.create(kafka)
    run = run_journeyctl([journeys_dir(JOURNEYS), "--bootstrap-servers", broker.bootstrap, *names.args(),
                          "--allowed-lateness", "1s", "--state", f"sqlite:///{tmp_path / 'state.db'}",
                          "--no-dashboard"])
    reader = topic_reader(names.actions, kafka)
    warm_up = [(b"w", make_event("payment_failed", "w", int(time.time() * 1000), "w", amount=1))]
    produce_to(kafka, names.events, warm_up)
    reader.until(lambda vs: len(vs) >= 1, PATIENCE)  # in the group and working
    now = int(time.time() * 1000)
    first = _batch(make_event, "a", now)
    produce_to(kafka, names.events, first)
    # the payments are sent at once; the carts wait 3 s, and the broker goes before they are due
    before = reader.until(lambda vs: len(vs) >= 11, PATIENCE)
    assert {a["template"] for a in before} == {"pay"}
    broker.kill()
    run.wait_for("cannot reach the broker")
    # the carts' due time plus the allowed lateness passes while nobody can be told (the loop fires
    # them when it can tell the broker's lag again, overdue)
    wait_until(lambda: time.time() * 1000 >= now + 4_500, what="the carts' due time")
    broker = own_broker(broker.port)  # back, and empty
    names.create(kafka)
    run.wait_for("the topic was recreated", timeout=2 * PATIENCE)
    now2 = int(time.time() * 1000)
    second = _batch(make_event, "b", now2)
    produce_to(kafka, names.events, second)

    expected = replay_actions(JOURNEYS, [v for _, v in warm_up + first + second], now2 + 60_000, 1_000)
    want = {a["action_id"] for a in expected}
    seen_before = {a["action_id"] for a in before}
    after = topic_reader(names.actions, kafka).until(
        lambda vs: seen_before | {a["action_id"] for a in vs} >= want, 2 * PATIENCE)
    code, _ = run.terminate()
    assert code == 0, run.err()
    assert seen_before | {a["action_id"] for a in after} == want, run.err()
    assert {a["template"] for a in after} >= {"cart", "pay"}
    assert "Traceback" not in run.err()
