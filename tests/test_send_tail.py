"""`journeyctl send` and `journeyctl tail` against the embedded broker, as an operator types them:
the commands `run --embedded-broker` prints are pasted as they are, an event sent goes through the
engine, and its action comes back through `tail`. A bad event is refused before it reaches Kafka."""
from __future__ import annotations

import json
import re
import subprocess

from conftest import JOURNEYCTL, PATIENCE, wait_until

HELLO = 'journey hello\n  on signed_up\n  send email "welcome"\n'


def journeyctl(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*JOURNEYCTL, *args], capture_output=True, text=True, timeout=PATIENCE, **kw)


def test_the_commands_run_prints_send_an_event_and_tail_its_action(run_journeyctl, journeys_dir, tmp_path):
    folder = journeys_dir({"hello": HELLO})
    run = run_journeyctl([folder, "--embedded-broker", "--state", f"sqlite:///{tmp_path / 's.db'}", "--no-dashboard"])
    run.wait_for("reading events")
    pasted = re.findall(r"^  (journeyctl (?:send|tail) .*)$", run.err(), re.M)
    send = next(c for c in pasted if c.startswith("journeyctl send")).split()[1:]
    tail = next(c for c in pasted if c.startswith("journeyctl tail actions")).split()[1:]
    # as printed, with our own event: the send line's --event/--customer/--prop are examples to edit
    cut = send.index("--event")
    sent = journeyctl(*send[:cut], "--event", "signed_up", "--customer", "zoe")
    assert sent.returncode == 0, sent.stderr
    assert re.match(r"sent signed_up of zoe at \S+ to events\[0\] offset 0", sent.stdout)
    shown = journeyctl(*tail, "--from-beginning", "--count", "1")
    assert shown.returncode == 0, shown.stderr
    line = shown.stdout.strip()
    assert "send" in line and "email" in line and "welcome" in line and "-> zoe" in line and "hello" in line
    as_json = journeyctl(*tail, "--from-beginning", "--count", "1", "--format", "jsonl")
    action = json.loads(as_json.stdout)
    assert (action["customer_id"], action["journey"], action["template"], action["status"]) == \
        ("zoe", "hello", "welcome", "send")


def test_a_bad_event_is_refused_before_kafka_and_the_good_ones_still_go(kafka, names, topic_reader, tmp_path):
    names.create(kafka)
    lines = [json.dumps({"event": "signed_up", "customer_id": "ana", "timestamp": "2026-03-01T10:00:00Z"}),
             "{not json",
             json.dumps({"event": "signed_up", "timestamp": "2026-03-01T10:00:00Z"}),
             json.dumps({"event": "signed_up", "customer_id": "ben", "timestamp": "2026-03-01T10:00:00"}),
             json.dumps({"type": "identify", "userId": "cy", "timestamp": "2026-03-01T10:01:00Z",
                         "traits": {"email": "cy@example.com"}})]
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n")
    result = journeyctl("send", "--bootstrap-servers", kafka.bootstrap_servers, "--topic", names.events,
                        "--file", str(tmp_path / "events.jsonl"))
    assert result.returncode == 1
    assert "line 2: refused, invalid_json" in result.stderr
    assert "line 3: refused, missing_customer" in result.stderr
    assert "line 4: refused, bad_time" in result.stderr
    assert "sent 2 events" in result.stderr and "3 refused" in result.stderr
    reader = topic_reader(names.events)
    records = wait_until(lambda: len(reader.read()) >= 2 and reader.records, PATIENCE, "the two good events")
    reader.read(500)
    assert [(r.key, json.loads(r.value).get("customer_id") or json.loads(r.value).get("userId")) for r in records] == \
        [(b"ana", "ana"), (b"cy", "cy")]  # keyed by customer id, sent as written

    one = journeyctl("send", "--bootstrap-servers", kafka.bootstrap_servers, "--topic", names.events,
                     "--event", "cart_abandoned", "--customer", "dan", "--at", "2026-03-01T10:00:00",
                     "--prop", "cart_value=80")
    assert one.returncode == 2 and "--at" in one.stderr  # a time without a zone: said, nothing sent
    typed = journeyctl("send", "--bootstrap-servers", kafka.bootstrap_servers, "--topic", names.events,
                       "--event", "cart_abandoned", "--customer", "dan", "--prop", "cart_value=80",
                       "--prop", "vip=true", "--prop", "note=hello there", "--message-id", "m-dan")
    assert typed.returncode == 0, typed.stderr
    value = wait_until(lambda: [json.loads(r.value) for r in reader.read() if r.key == b"dan"], PATIENCE, "dan's event")
    assert value[0]["properties"] == {"cart_value": 80, "vip": True, "note": "hello there"}
    assert value[0]["message_id"] == "m-dan"


def test_tail_shows_dead_letters_and_profiles_readably(kafka, names, produce_to):
    names.create(kafka)
    produce_to(kafka, names.dead, [(b"ana", json.dumps({"reason": "invalid_json", "detail": "not JSON",
                                                        "topic": "events", "partition": 0, "offset": 7,
                                                        "value": "{oops\u001b[31m"}).encode())])
    produce_to(kafka, names.profiles, [(b"ana", json.dumps({"customer_id": "ana", "at": "2026-03-01T10:00:00.000Z",
                                                            "traits": {"tier": {"old": None, "new": "gold"}},
                                                            "segments_entered": ["vip"], "segments_exited": [],
                                                            "cause": "m1"}).encode())])
    dead = journeyctl("tail", "dead-letter", "--bootstrap-servers", kafka.bootstrap_servers, "--topic", names.dead,
                      "--from-beginning", "--count", "1")
    assert dead.returncode == 0, dead.stderr
    assert "invalid_json" in dead.stdout and "events[0]@7" in dead.stdout
    assert "\u001b" not in dead.stdout  # an escape from a producer never reaches the terminal
    prof = journeyctl("tail", "profiles", "--bootstrap-servers", kafka.bootstrap_servers, "--topic", names.profiles,
                      "--from-beginning", "--count", "1")
    assert 'tier: null -> "gold"' in prof.stdout and "+vip" in prof.stdout
