"""`journeyctl run` end to end on the embedded broker and a real SQLite file: events in, actions out as a
replay of the same events gives them, bad input to the dead-letter topic, a clean stop on SIGTERM."""
from __future__ import annotations

import base64
import signal
import time
from collections import Counter

import orjson

from conftest import PATIENCE
from journeyctl.engine.live.kafka_edge import committed_offsets

JOURNEYS = {
    # fires with no further event: nothing cancels most of these waits
    "cart": 'on cart_abandoned within 2s unless purchase -> send sms "cart" with value = cart_value\n',
    "pay": 'on payment_failed -> send email "pay" with amount = amount\n',
    "onboard": 'journey onboard\n  on signup_completed\n  send email "welcome"\n'
               '  when app_opened within 2s\n    send push "tips"\n  otherwise\n    send sms "need_help"\n',
}
LATENESS = ["--allowed-lateness", "1s"]


def _stream(make_event, now: int, n_customers: int = 30) -> list[bytes]:
    """A small mixed stream stamped around now: carts (some bought back), failed payments, sign-ups."""
    out = []
    t = now
    for i in range(n_customers):
        c = f"c{i}"
        out.append(make_event("signup_completed", c, t, f"s{i}"))
        out.append(make_event("cart_abandoned", c, t + 1, f"a{i}", cart_value=i))
        if i % 3 == 0:
            out.append(make_event("purchase", c, t + 2, f"p{i}"))
        if i % 4 == 0:
            out.append(make_event("app_opened", c, t + 3, f"o{i}"))
        if i % 5 == 0:
            out.append(make_event("payment_failed", c, t + 4, f"f{i}", amount=i * 10))
        t += 5
    return out


def _by_id(actions: list[dict]) -> dict:
    return {a["action_id"]: a for a in actions}


def test_actions_match_a_replay_including_waits_that_fire_without_further_events(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, replay_actions, tmp_path):
    names.create(kafka)
    folder = journeys_dir(JOURNEYS)
    run = run_journeyctl([folder, "--bootstrap-servers", kafka.bootstrap_servers, *names.args(), *LATENESS,
                          "--state", f"sqlite:///{tmp_path / 'state.db'}", "--no-dashboard"])
    now = int(time.time() * 1000)
    values = _stream(make_event, now)
    produce_to(kafka, names.events, [(orjson.loads(v)["customer_id"].encode(), v) for v in values])
    expected = replay_actions(JOURNEYS, values, now + 60_000, 1_000)
    assert any(a["template"] == "cart" for a in expected) and any(a["template"] == "need_help" for a in expected)

    reader = topic_reader(names.actions)
    got = reader.until(lambda vs: {a["action_id"] for a in vs} >= set(_by_id(expected)), timeout=PATIENCE)
    code, _ = run.terminate()
    assert code == 0, run.err()

    assert Counter(a["action_id"] for a in got) == Counter(a["action_id"] for a in expected), run.err()
    assert _by_id(got) == _by_id(expected)
    for r in reader.records:  # keyed by customer id
        assert r.key.decode() == orjson.loads(r.value)["customer_id"]
    # the group's offsets show the consumer is at the end (for lag tools); the state store agrees
    from journeyctl.engine.store.sqlite import SqliteStore

    assert committed_offsets(kafka, names.group, names.events) == {0: len(values)}
    with SqliteStore(tmp_path / "state.db") as store:
        assert store.offsets() == {(names.events, 0): len(values)} and store.outbox() == []
    # the structured JSON log on stdout carries the same actions, and status lines
    logged = [orjson.loads(line) for line in run.out().splitlines()]
    assert {a["action_id"] for a in logged if a["msg"] == "action"} == set(_by_id(expected))
    assert all({"ts", "level", "msg"} <= set(line) for line in logged)


def test_bad_messages_go_to_the_dead_letter_topic_while_good_ones_flow(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, replay_actions, tmp_path):
    names.create(kafka)
    folder = journeys_dir(JOURNEYS)
    run = run_journeyctl([folder, "--bootstrap-servers", kafka.bootstrap_servers, *names.args(), *LATENESS,
                          "--state", f"sqlite:///{tmp_path / 'state.db'}", "--no-dashboard", "--quiet"])
    now = int(time.time() * 1000)
    good = [make_event("payment_failed", f"g{i}", now + i, f"g{i}", amount=i) for i in range(20)]
    bad = {
        b"{not json": "invalid_json",
        b"[1, 2]": "not_an_object",
        orjson.dumps({"customer_id": "x", "timestamp": "2026-01-01T00:00:00Z"}): "missing_event",
        orjson.dumps({"event": "payment_failed", "timestamp": "2026-01-01T00:00:00Z"}): "missing_customer",
        orjson.dumps({"event": "payment_failed", "customer_id": "x"}): "missing_time",
        orjson.dumps({"event": "payment_failed", "customer_id": "x", "timestamp": "yesterday"}): "bad_time",
        b"\xff\xfe binary": "invalid_json",
        orjson.dumps({"event": "payment_failed", "customer_id": "x", "timestamp": "2026-01-01T00:00:00Z",
                      "properties": {"blob": "x" * 1_200_000}}): "too_large",
    }
    late = make_event("payment_failed", "late1", now - 60_000, "late1", amount=1)
    messages = []
    for i, v in enumerate(good):
        messages.append((f"g{i}".encode(), v))
        if i == 10:
            messages.extend((b"bad", b) for b in bad)
    messages.append((b"late1", late))  # after good ones stamped now: a minute behind the clock
    messages.append((b"g-last", make_event("payment_failed", "g-last", now + 100, "g-last", amount=7)))
    produce_to(kafka, names.events, messages)

    dead_reader = topic_reader(names.dead)
    dead = dead_reader.until(lambda vs: len(vs) >= len(bad) + 1, timeout=PATIENCE)
    actions = topic_reader(names.actions).until(lambda vs: len(vs) >= len(good) + 1, timeout=PATIENCE)
    code, _ = run.terminate(sig=signal.SIGINT)  # Ctrl-C stops as cleanly as SIGTERM
    assert code == 0, run.err()
    assert "SIGINT" in run.err() and "Traceback" not in run.err()

    assert sorted(d["reason"] for d in dead) == sorted([*bad.values(), "late"])
    sent = [v for _, v in messages]  # one partition: a record's offset is its place in this list
    for d in dead:
        assert d["topic"] == names.events and d["partition"] == 0
        raw = sent[d["offset"]]
        assert d["size"] == len(raw)
        if d.get("truncated"):
            assert d["reason"] == "too_large" and raw.startswith(d["value"].encode())
        elif "value" in d:
            assert d["value"].encode() == raw
        else:
            assert base64.b64decode(d["value_base64"]) == raw
        assert d["detail"]
    expected = replay_actions(JOURNEYS, [*good, late, messages[-1][1]], now + 60_000, 1_000)
    assert {a["action_id"] for a in actions} == {a["action_id"] for a in expected}
    assert len(expected) == len(good) + 1  # the late event sent nothing


def test_sigterm_in_the_group_commits_and_stops_cleanly(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, tmp_path):
    """How fast a stop is, is not judged here (a loaded machine is slow): that it is clean is."""
    names.create(kafka)
    run = run_journeyctl([journeys_dir(JOURNEYS), "--bootstrap-servers", kafka.bootstrap_servers, *names.args(),
                          "--state", f"sqlite:///{tmp_path / 'state.db'}", "--no-dashboard"])
    produce_to(kafka, names.events, [(b"c1", make_event("payment_failed", "c1", int(time.time() * 1000), "m1", amount=5))])
    # the event's action is out: the process is in the group and has read the partition
    assert len(topic_reader(names.actions).until(lambda vs: len(vs) >= 1, timeout=PATIENCE)) == 1, run.err()
    code, _ = run.terminate()
    assert code == 0, run.err()
    assert "SIGTERM: finishing the batch in hand, flushing, leaving the group" in run.err()
    assert "stopped: 1 events read, 1 actions, 0 dead letters, 0 messages left in the outbox" in run.err()
    assert "Traceback" not in run.err()
    assert committed_offsets(kafka, names.group, names.events) == {0: 1}  # the group knows where it stopped


def test_a_missing_topic_is_a_clear_error(kafka, names, journeys_dir, run_journeyctl, tmp_path):
    run = run_journeyctl([journeys_dir(JOURNEYS), "--bootstrap-servers", kafka.bootstrap_servers, *names.args(),
                          "--state", f"sqlite:///{tmp_path / 'state.db'}"])
    assert run.proc.wait(PATIENCE) == 2
    err = run.err()
    assert f"topics {names.events}, {names.actions}, {names.dead}, {names.profiles} do not exist" in err
    assert "--create-topics" in err and "Traceback" not in err


def test_profile_changes_are_published_keyed_by_customer(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, tmp_path):
    """Spec section 10: identify merges, `set` steps and segment membership changes go to the profiles
    topic through the same outbox as actions."""
    names.create(kafka)
    folder = journeys_dir({
        "vip": 'segment vip "VIP"\n  where profile.ltv > 500\n',
        "gold": 'on purchase where amount > 100 -> set profile.tier = "gold"\n',
    })
    run = run_journeyctl([folder, "--bootstrap-servers", kafka.bootstrap_servers, *names.args(), *LATENESS,
                          "--state", f"sqlite:///{tmp_path / 'state.db'}", "--no-dashboard"])
    now = int(time.time() * 1000)
    identify = orjson.dumps({"type": "identify", "userId": "u1", "timestamp": now, "messageId": "i1",
                             "traits": {"ltv": 900}})
    produce_to(kafka, names.events, [(b"u1", identify), (b"u1", make_event("purchase", "u1", now + 1, "p1", amount=150))])
    reader = topic_reader(names.profiles)
    got = reader.until(lambda vs: len(vs) >= 2, timeout=PATIENCE)
    code, _ = run.terminate()
    assert code == 0, run.err()
    assert [(r["customer_id"], r["cause"], r["traits"], r["segments_entered"]) for r in got] == [
        ("u1", "i1", {"ltv": {"old": None, "new": 900}}, ["vip"]),
        ("u1", "p1", {"tier": {"old": None, "new": "gold"}}, []),
    ]
    assert all(r.key == b"u1" for r in reader.records)
