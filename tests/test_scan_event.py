"""events.scan_event, the quick reading `simulate --jobs` takes of other processes' lines (issue 19): the
customer and time of the usual line without decoding it, None for anything it is not sure of, and never
a customer or time other than parse_event's for a line that parse_event accepts."""
import json

import pytest
from hypothesis import given, settings, strategies as st

from journeyctl.engine.core.events import BadEvent, format_instant, parse_event, scan_event

T = "2026-03-02T22:00:00.000Z"
T_MS = 1772488800000


def line(obj, **dumps) -> bytes:
    return json.dumps(obj, **dumps).encode()


def parsed(raw: bytes):
    try:
        e = parse_event(raw)
    except BadEvent:
        return None
    return e.customer_id.encode(), e.time


@pytest.mark.parametrize("raw, customer", [
    (b'{"event":"purchase","customer_id":"c1","timestamp":"2026-03-02T22:00:00.000Z","message_id":"m1"}', "c1"),
    (line({"event": "purchase", "customer_id": "c1", "timestamp": T, "properties": {"a": {"b": [1]}}}), "c1"),
    (line({"message_id": 7, "n": -1.5e3, "ok": True, "no": None, "event": "purchase", "timestamp": T,
           "customer_id": "c1", "properties": {"customer_id": "x"}}), "c1"),
    (line({"customer_id": "c 1", "timestamp": T, "event": "purchase"}, separators=(",", ":")), "c 1"),
    (line({"event": "purchase", "customer_id": "Zoë", "timestamp": T}, ensure_ascii=False), "Zoë"),
])
def test_the_usual_lines_are_read_as_a_parse_reads_them(raw, customer):
    assert scan_event(raw) == parsed(raw) == (customer.encode(), T_MS)


@pytest.mark.parametrize("raw", [
    line({"type": "identify", "userId": "c1", "timestamp": T, "traits": {}}),       # another name for the customer
    line({"event": "purchase", "customer_id": "c1", "timestamp": T_MS}),            # a number for the time
    line({"event": "purchase", "customer_id": "c1", "timestamp": "2026-03-02T23:00:00+01:00"}),  # an offset
    line({"event": "purchase", "customer_id": "c1", "timestamp": "2026-03-02T22:00:00Z"}),       # no milliseconds
    line({"event": "purchase", "customer_id": "Zoë", "timestamp": T}),              # an escape in the id
    line({"event": "purchase", "customer_id": "c\u0085", "timestamp": T}, ensure_ascii=False),  # a C1 control
    line({"event": "purchase", "customer_id": "c1", "timestamp": T, "message_id": "m\u0007"}),  # an escape
    line({"event": "purchase", "customer_id": "c\x7f", "timestamp": T}),  # DEL, which JSON need not escape
    line({"properties": {"customer_id": "c2"}, "event": "purchase", "customer_id": "c1", "timestamp": T}),
    line({"event": "purchase", "customer_id": 42, "timestamp": T}),                  # a number for the customer
    line({"customer_id": "c1", "timestamp": T}),                                     # no event name
    line({"event": "", "customer_id": "c1", "timestamp": T}),
    b'{"event":"purchase","customer_id":"c1","timestamp":"2026-02-30T22:00:00.000Z"}',  # no such day
    b'{"event":"purchase","customer_id":"c1","timestamp":"0001-01-01T00:00:00.000Z"}',  # before the range
    b'{"event":"purchase","customer_id":"c1","timestamp":"2026-03-02T22:00:00.000Z","p":{"a":1',  # cut
    b'{"event":"purchase","customer_id":"c1","timestamp":"2026-03-02T22:00:00.000Z","p":"\xe9"}',  # no UTF-8
    b' {"event":"purchase","customer_id":"c1","timestamp":"2026-03-02T22:00:00.000Z"}',
    b'[{"event":"purchase","customer_id":"c1","timestamp":"2026-03-02T22:00:00.000Z"}]',
    b'{"k":"a\\",\\"customer_id\\":\\"c2","event":"purchase","customer_id":"c1","timestamp":"2026-03-02T22:00:00.000Z"}',
])
def test_any_other_line_is_left_to_the_parse(raw):
    assert scan_event(raw) is None


def test_past_the_size_limit_it_is_left_to_the_parse():
    raw = line({"event": "purchase", "customer_id": "c1", "timestamp": T})
    assert scan_event(raw, max_bytes=len(raw)) is not None
    assert scan_event(raw, max_bytes=len(raw) - 1) is None


# Event objects as producers write them: the envelope's names in any order, other fields around them, ids
# and times of every kind, encoded compactly or as json.dumps does, ASCII-escaped or not.
ids = st.one_of(st.text(max_size=8), st.integers(-5, 2**70), st.none())
stamps = st.one_of(st.integers(0, 2**45).map(format_instant),
                   st.integers(-10, 2**45), st.sampled_from([T, "2026-03-02T22:00:00Z", "2026-13-02T22:00:00.000Z",
                                                             "2026-03-02T22:00:60.000Z", "9999-12-31T23:59:59.999Z"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=6))
others = {
    "event": st.one_of(st.text(max_size=5), scalars), "customer_id": ids, "userId": ids, "timestamp": stamps,
    "ts": stamps, "message_id": ids, "properties": st.dictionaries(st.text(max_size=4), scalars, max_size=3),
    "type": st.sampled_from(["identify", "track", "x"]), "customer": ids, "extra": scalars,
    "nested": st.dictionaries(st.sampled_from(["customer_id", "timestamp", "event"]), scalars, max_size=2)}
envelope = {"event": st.text("abc_", min_size=1, max_size=5),
            "customer_id": st.text(st.characters(min_codepoint=32, max_codepoint=0x17F), min_size=1, max_size=8),
            "timestamp": st.integers(0, 2**45).map(format_instant)}
objects = st.one_of(st.fixed_dictionaries({}, optional=others),  # anything
                    st.fixed_dictionaries(envelope, optional={k: v for k, v in others.items() if k not in envelope}))


@settings(max_examples=500)
@given(objects, st.randoms(use_true_random=False), st.booleans(), st.booleans())
def test_a_line_it_reads_is_read_as_the_parse_reads_it(obj, rng, compact, ascii_only):
    keys = list(obj)
    rng.shuffle(keys)
    raw = json.dumps({k: obj[k] for k in keys}, ensure_ascii=ascii_only,
                     separators=(",", ":") if compact else None).encode()
    quick = scan_event(raw)
    if quick is not None:
        assert quick == parsed(raw)


def test_the_property_above_sees_lines_it_reads():
    """(It would hold vacuously if scan_event read nothing.)"""
    read = []

    @settings(max_examples=200, database=None)
    @given(objects)
    def count(obj):
        read.append(scan_event(json.dumps(obj, ensure_ascii=False).encode()) is not None)
    count()
    assert sum(read) > 20
