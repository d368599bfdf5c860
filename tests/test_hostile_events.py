"""Issue 15 items 4 and 9: a value the engine cannot represent is refused where it enters, as a dead letter
with a precise reason, never as an exception while it is applied (or committed). Every test here runs the
real path: raw JSON bytes through parse_event, then Engine.process, then a commit to a real store."""
import json

import orjson
import pytest

from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import EVENT_MAX_MS, MAX_DEPTH, MAX_ID_CHARS, BadEvent, parse_event
from journeyctl.engine.store.memory import MemoryStore
from journeyctl.engine.store.open import checkpoint, open_store
from tests.test_dashboard import compiled as journeys

QUIET = 'journey quiet\n  quiet hours 21:00-08:00\n  on a\n  send email\n'
MORNING = 'journey morning\n  on a\n  wait until 09:00\n  send email\n'
WAIT_THEN_QUIET = 'journey later\n  quiet hours 21:00-08:00\n  on b\n  wait 1h\n  send email\n'


def apply(engine, raw: bytes):
    """What simulate and run do with one record: parse, then process. Returns the actions or the BadEvent."""
    try:
        return engine.process(parse_event(raw))
    except BadEvent as e:
        return e


def event(customer="c1", at="2026-03-02T12:00:00.000Z", name="a", **extra) -> bytes:
    return orjson.dumps({"event": name, "customer_id": customer, "timestamp": at, **extra})


# ---- deep nesting ----------------------------------------------------------------------------------

def test_an_event_nested_1000_deep_without_message_id_is_a_dead_letter_not_a_recursion_error():
    deep = b'{"x":' * 1000 + b"1" + b"}" * 1000
    raw = b'{"event":"a","customer_id":"c1","timestamp":"2026-03-02T12:00:00Z","properties":' + deep + b"}"
    with pytest.raises(BadEvent) as e:
        parse_event(raw)
    assert e.value.reason == "too_deep" and str(MAX_DEPTH) in e.value.detail


def test_nesting_up_to_the_limit_is_an_event_and_its_state_is_stored(tmp_path):
    props = 1
    for _ in range(MAX_DEPTH - 1):  # the event is level 1, these are levels 2 to 64
        props = {"x": props}
    raw = orjson.dumps({"type": "identify", "userId": "c1", "timestamp": "2026-03-02T12:00:00Z", "traits": props})
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    engine = Engine(journeys(QUIET), store=store)
    assert apply(engine, raw) == []
    checkpoint(engine)
    store.close()
    with pytest.raises(BadEvent, match="too_deep"):  # one level more
        parse_event(orjson.dumps({"event": "a", "customer_id": "c1", "ts": 1, "properties": {"y": props}}))


# ---- times -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("zone", ["Europe/Lisbon", "Pacific/Kiritimati", "Asia/Tokyo"])
def test_an_event_stamped_9999_12_31_is_bad_time_not_an_overflow_in_quiet_hours(zone):
    engine = Engine(journeys(QUIET, MORNING), store=MemoryStore(), default_timezone=zone)
    got = apply(engine, event(at="9999-12-31T22:00:00Z"))
    assert isinstance(got, BadEvent) and got.reason == "bad_time"
    assert "0001-01-02T00:00:00.000Z to 9899-12-31T23:59:59.999Z" in got.detail
    # the latest time an event may carry still works in every zone, and so does a timer after it
    last = apply(engine, event(at="9899-12-31T23:59:59.999Z", message_id="last"))
    assert not isinstance(last, BadEvent)
    assert isinstance(apply(engine, event(at=EVENT_MAX_MS + 1)), BadEvent)


def test_a_timer_fired_near_the_end_of_the_calendar_sends_without_an_overflow():
    engine = Engine(journeys(WAIT_THEN_QUIET), store=MemoryStore(), default_timezone="Pacific/Kiritimati")
    assert apply(engine, event(name="b", at="9899-12-31T23:00:00Z")) == []
    actions = engine.advance_to(EVENT_MAX_MS + 3_600_000)
    assert len(actions) == 0 or actions[0].as_dict()["status"] == "send"  # held by quiet hours or sent


# ---- time zones from profiles ----------------------------------------------------------------------

@pytest.mark.parametrize("value", [["Europe/Lisbon"], {"name": "Europe/Lisbon"}, 42, True, "Mars/Olympus",
                                   "x" * 5000, "Europe/Lisbon\x00", "../../etc/passwd"])
@pytest.mark.parametrize("text", [QUIET, MORNING, WAIT_THEN_QUIET])
def test_a_time_zone_trait_of_any_value_falls_back_like_a_missing_one(text, value):
    engine = Engine(journeys(text), store=MemoryStore(), default_timezone="Europe/Paris")
    reference = Engine(journeys(text), store=MemoryStore(), default_timezone="Europe/Paris")
    identify = orjson.dumps({"type": "identify", "userId": "c1", "timestamp": "2026-03-02T20:00:00Z",
                             "messageId": "i1", "traits": {"timezone": value}})
    assert apply(engine, identify) == []
    got = [apply(engine, event(name=n, at="2026-03-02T21:30:00Z", message_id=n)) for n in ("a", "b")]
    got.append(engine.advance_to(1773000000000))
    apply(reference, orjson.dumps({"type": "identify", "userId": "c1", "timestamp": "2026-03-02T20:00:00Z",
                                   "messageId": "i1", "traits": {"other": 1}}))
    want = [apply(reference, event(name=n, at="2026-03-02T21:30:00Z", message_id=n)) for n in ("a", "b")]
    want.append(reference.advance_to(1773000000000))
    assert [[a.as_dict()["due_at"] for a in batch] for batch in got] == \
        [[a.as_dict()["due_at"] for a in batch] for batch in want]


# ---- ids ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("customer, words", [
    ("c\x00x", "control character U+0000 at character 2"),
    ("c\x1b]0;PWNED\x1b\\", "control character U+001B at character 2"),
    ("c\u009b2J", "control character U+009B at character 2"),
    ("x" * 3000, "3,000 characters long; ids have at most 512"),
])
def test_customer_ids_past_the_limits_are_bad_id(customer, words):
    for field in ("customer_id", "userId", "anonymousId"):
        with pytest.raises(BadEvent) as e:
            parse_event(orjson.dumps({"event": "a", field: customer, "timestamp": "2026-03-02T12:00:00Z",
                                      "message_id": "m1"}))
        assert e.value.reason == "bad_id" and words in e.value.detail and repr(field) in e.value.detail
    with pytest.raises(BadEvent, match="bad_id"):  # message ids too
        parse_event(orjson.dumps({"event": "a", "customer_id": "c1", "timestamp": "2026-03-02T12:00:00Z",
                                  "message_id": customer}))


def test_ids_at_the_limit_and_beyond_ascii_are_fine():
    for cid in ("x" * MAX_ID_CHARS, "ação 東京 🎉", "a b"):
        assert parse_event(event(customer=cid, message_id="m")).customer_id == cid


def test_a_nul_or_3000_character_id_never_reaches_postgresql(pg_state):
    """PostgreSQL refuses NUL in text, and a 3,000-character key is past its index row limit: both made
    the commit fail, and every restart failed on the same record. Now they are dead letters; the good
    events around them are committed."""
    url, _ = pg_state
    store = open_store(url)
    engine = Engine(journeys(QUIET), store=store)
    outcomes = [apply(engine, event(customer=c, message_id=f"m{i}"))
                for i, c in enumerate(["good1", "c\x00x", "y" * 3000, "good2"])]
    checkpoint(engine)
    assert [o.reason if isinstance(o, BadEvent) else "applied" for o in outcomes] == \
        ["applied", "bad_id", "bad_id", "applied"]
    store.close()
    again = open_store(url, read_only=True)
    assert sorted(cid for cid, _ in again.customers()) == ["good1", "good2"]
    again.close()


@pytest.mark.parametrize("field", ["customer_id", "message_id"])
def test_numeric_ids_past_64_bits_keep_their_exact_value(field):
    """18446744073709551616 and ...617 are read as the same float by a JSON reader: two customers merged,
    two events dropped as duplicates. Each keeps its exact digits."""
    base = {"event": "a", "customer_id": "c1", "timestamp": "2026-03-02T12:00:00Z", "message_id": "m1"}
    texts = ["18446744073709551616", "18446744073709551617", "-9223372036854775809", "123456789012345678901234567890",
             "100000000000000000000.0", "1.10000000000000000001"]
    got = []
    for text in texts:
        raw = json.dumps({**base, field: 0}).replace(f'"{field}": 0', f'"{field}": {text}').encode()
        ev = parse_event(raw)
        got.append(ev.customer_id if field == "customer_id" else ev.message_id)
    assert got == ["18446744073709551616", "18446744073709551617", "-9223372036854775809",
                   "123456789012345678901234567890", "100000000000000000000", "1.10000000000000000001"]
    # and as text or as a small number, the same id as before
    assert parse_event(json.dumps({**base, field: 42}).encode()).__getattribute__(
        "customer_id" if field == "customer_id" else "message_id") == "42"


def test_two_customers_past_64_bits_are_two_customers_in_the_engine():
    engine = Engine(journeys("on a -> send email\n"), store=MemoryStore())
    out = []
    for n in ("18446744073709551616", "18446744073709551617"):
        raw = b'{"event":"a","customer_id":' + n.encode() + b',"timestamp":"2026-03-02T12:00:00Z","id":' \
              + n.encode() + b'}'
        out += [a.as_dict()["customer_id"] for a in apply(engine, raw)]
    assert out == ["18446744073709551616", "18446744073709551617"]
