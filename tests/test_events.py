"""Events in (LANGUAGE.md section 9) and times (section 6): engine.events, engine.event_sources."""
import io
import pickle
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given, strategies as st

from journeyctl.engine.replay.sources import (
    input_format, open_input, parse_columns, parse_event_values, parse_map_option,
    read_csv, read_events, read_jsonl, sort_by_time,
)
from journeyctl.dsl.durations import duration_option
from journeyctl.engine.core.events import (
    MAX_MS, MIN_MS, BadEvent, Event, format_instant, line_shape, parse_event, parse_instant,
)

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"
T = "2026-03-02T22:00:00.000Z"
T_MS = 1772488800000


def ev(**fields) -> dict:
    """A valid event object with the given fields added (None removes a field)."""
    base = {"event": "purchase", "customer_id": "c1", "timestamp": T, "message_id": "m1"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def reason(data, **kw) -> str:
    with pytest.raises(BadEvent) as info:
        parse_event(data, **kw)
    assert info.value.detail
    return info.value.reason


# ---------------------------------------------------------------- first match wins

@pytest.mark.parametrize("fields, name", [
    ({"event": "a", "type": "b", "name": "c"}, "a"),
    ({"type": "b", "name": "c"}, "b"),
    ({"name": "c"}, "c"),
    ({"type": "track", "name": "c"}, "c"),
    ({"type": "track", "event": "Order Completed"}, "Order Completed"),
    ({"event": None, "type": "b"}, "b"),       # null counts as absent
    ({"event": "", "name": "c"}, "c"),         # so does ""
])
def test_event_name_first_match(fields, name):
    obj = ev(event=None) | fields
    assert parse_event(obj).name == name


@pytest.mark.parametrize("fields, customer", [
    ({"customer_id": "a", "userId": "b", "user_id": "c", "anonymousId": "d"}, "a"),
    ({"userId": "b", "user_id": "c", "anonymousId": "d"}, "b"),
    ({"user_id": "c", "anonymousId": "d"}, "c"),
    ({"anonymousId": "d"}, "d"),
    ({"userId": None, "anonymousId": "anon"}, "anon"),  # Segment's anonymous visitor
    ({"customer_id": "", "user_id": "c"}, "c"),
    ({"customer_id": 42}, "42"),
    ({"customer_id": 42.0}, "42"),
])
def test_customer_first_match(fields, customer):
    obj = ev(customer_id=None) | fields
    assert parse_event(obj).customer_id == customer


@pytest.mark.parametrize("fields, ms", [
    ({"timestamp": T, "ts": 5, "time": 6}, T_MS),
    ({"ts": 5, "time": 6}, 5),
    ({"time": 6}, 6),
    ({"timestamp": None, "ts": 7}, 7),
])
def test_time_first_match(fields, ms):
    assert parse_event(ev(timestamp=None) | fields).time == ms


def test_properties_first_match_and_remaining_fields():
    assert parse_event(ev(properties={"a": 1}, props={"b": 2}, extra=3)).properties == {"a": 1}
    assert parse_event(ev(props={"b": 2}, extra=3)).properties == {"b": 2}
    obj = ev(extra=3, userId="ignored", ts=1, id="x", type="page", traits={"t": 1}, cart_value=9.5)
    assert parse_event(obj).properties == {"extra": 3, "cart_value": 9.5}
    assert parse_event(ev()).properties == {}


@pytest.mark.parametrize("fields, mid", [
    ({"message_id": "a", "messageId": "b", "id": "c"}, "a"),
    ({"messageId": "b", "id": "c"}, "b"),
    ({"id": "c"}, "c"),
    ({"id": 17}, "17"),
])
def test_message_id_first_match(fields, mid):
    assert parse_event(ev(message_id=None) | fields).message_id == mid


def test_message_id_hash_is_stable_and_order_free():
    a = b'{"event":"x","customer_id":"c","timestamp":5,"properties":{"p":1,"q":[1,2]}}'
    b = b'{"properties":{"q":[1,2],"p":1},"timestamp":5,"customer_id":"c","event":"x"}'
    ida = parse_event(a).message_id
    assert ida.startswith("h:") and len(ida) == 2 + 40
    assert ida == parse_event(b).message_id == parse_event(orjson.loads(a)).message_id
    # Pinned: a change here would make a re-sent old event look new.
    assert ida == "h:" + __import__("hashlib").sha1(
        b'{"customer_id":"c","event":"x","properties":{"p":1,"q":[1,2]},"timestamp":5}').hexdigest()
    assert parse_event(a.replace(b'"p":1', b'"p":2')).message_id != ida


# ---------------------------------------------------------------- identify / track

def test_identify_carries_traits_and_needs_no_name():
    e = parse_event(b'{"type":"identify","userId":"q1","timestamp":"2026-03-02T00:00:00.000Z",'
                    b'"messageId":"m90","traits":{"timezone":"Asia/Tokyo"}}')
    assert e == Event("identify", "q1", 1772409600000, {}, "m90", {"timezone": "Asia/Tokyo"}, e.raw_size)
    assert e.raw_size > 0


def test_identify_wins_over_event_field_and_traits_default_empty():
    e = parse_event({"type": "identify", "event": "x", "userId": "u", "ts": 1})
    assert (e.name, e.traits) == ("identify", {})


def test_track_and_other_events_have_no_traits():
    e = parse_event({"type": "track", "event": "identify", "userId": "u", "ts": 1, "traits": {"a": 1}})
    assert (e.name, e.traits) == ("identify", None)  # an event *named* identify is not an identify call


# ---------------------------------------------------------------- times

@pytest.mark.parametrize("text, ms", [
    (T, T_MS),
    ("2026-03-02T22:00:00Z", T_MS),
    ("2026-03-02 22:00:00Z", T_MS),
    ("2026-03-02t22:00:00z", T_MS),
    ("2026-03-02T22:00:00.5Z", T_MS + 500),
    ("2026-03-02T22:00:00.12Z", T_MS + 120),
    ("2026-03-02T22:00:00.123456789Z", T_MS + 123),
    ("2026-03-03T00:00:00.000+02:00", T_MS),
    ("2026-03-02T17:30:00-04:30", T_MS),
    ("2026-03-02T22:00:00.000-00:00", T_MS),
    ("1970-01-01T00:00:00.000Z", 0),
    ("1969-12-31T23:59:59.999Z", -1),
    ("2024-02-29T00:00:00Z", 1709164800000),
])
def test_parse_instant(text, ms):
    assert parse_instant(text) == ms


@pytest.mark.parametrize("text, words", [
    ("2026-03-02T22:00:00", "no time zone"),
    ("2026-03-02T22:00:00.000", "no time zone"),
    ("2026-03-02", "not an RFC 3339"),
    ("1511658000", "not an RFC 3339"),
    ("2026-03-02T22:00:00+0200", "not an RFC 3339"),
    ("2026-02-30T22:00:00.000Z", "not a real date"),
    ("2026-13-01T22:00:00Z", "not a real date"),
    ("2026-03-02T24:00:00.000Z", "no such time of day"),
    ("2026-03-02T22:60:00Z", "no such time of day"),
    ("2026-03-02T22:00:60.000Z", "no such time of day"),
    ("2026-03-02T22:00:00+24:00", "impossible offset"),
    ("2026-03-02T22:00:0٣.000Z", "not an RFC 3339"),  # non-ASCII digit
    # the usual shape's length with no digit where one must be (the compiled build reads these digits itself)
    ("2026-03-02T22:00:0/.000Z", "not an RFC 3339"),
    ("2026-03-02T22:00:00.0:0Z", "not an RFC 3339"),
    ("2026-03-02T22:00:00.00٣Z", "not an RFC 3339"),
    ("2026-03-02T22:00:61.000Z", "no such time of day"),
    ("", "not an RFC 3339"),
])
def test_parse_instant_rejects_in_plain_words(text, words):
    with pytest.raises(ValueError, match=words):
        parse_instant(text)


def test_format_instant():
    assert format_instant(T_MS) == T
    assert format_instant(T_MS + 7) == "2026-03-02T22:00:00.007Z"
    assert format_instant(0) == "1970-01-01T00:00:00.000Z"
    assert format_instant(-1) == "1969-12-31T23:59:59.999Z"
    assert format_instant(MAX_MS) == "9999-12-31T23:59:59.999Z"
    assert format_instant(MIN_MS) == "0001-01-01T00:00:00.000Z"
    with pytest.raises(ValueError):
        format_instant(MAX_MS + 1)


@given(st.integers(min_value=MIN_MS, max_value=MAX_MS))
def test_format_parse_round_trip(ms):
    text = format_instant(ms)
    assert parse_instant(text) == ms
    assert format_instant(parse_instant(text)) == text


@given(st.integers(min_value=MIN_MS, max_value=MAX_MS - 86_400_000),
       st.lists(st.integers(min_value=-90_000, max_value=90_000), min_size=1, max_size=30))
def test_times_near_each_other_in_any_order(start, steps):
    """Times a few seconds apart, as events come: the compiled build reads the usual shape by keeping the last
    minute it saw (events.COMPILED), so minutes met again, left and met again must all read true."""
    for step in steps:
        ms = min(max(start + step, MIN_MS), MAX_MS)
        assert parse_instant(format_instant(ms)) == ms
        assert parse_instant(format_instant(ms)[:-1] + "z") == ms


@given(st.binary(max_size=300) | st.lists(st.sampled_from([b"{", b"[", b"}", b"\\", b"\x7f", b"\xc2", b"a", b'"',
                                                            "\u00e9".encode(), b"\xff"])).map(b"".join))
def test_the_shape_of_a_line_is_its_brackets_and_whether_it_is_plain(raw):
    """_shape (memchr in the compiled build) against its definition: twice the brackets that open, plus one
    when a backslash, DEL or the UTF-8 lead byte of C1 (0xC2) is there."""
    brackets = sum(b in b"{[" for b in raw)
    assert line_shape(raw) == 2 * brackets + any(b in b"\\\x7f\xc2" for b in raw)


@given(st.integers(min_value=MIN_MS + 2 * 86_400_000, max_value=MAX_MS - 2 * 86_400_000),
       st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59))
def test_offsets_convert_to_utc(ms, offset_min):
    """The same instant written in any zone parses to the same ms."""
    from datetime import datetime, timedelta, timezone
    ms -= ms % 1000
    local = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)
    text = local.astimezone(timezone(timedelta(minutes=offset_min))).isoformat()
    assert parse_instant(text) == ms


@pytest.mark.parametrize("text, ms", [
    ("45s", 45_000), ("30m", 1_800_000), ("2h", 7_200_000), ("1d", 86_400_000),
    ("1w", 604_800_000), ("1h30m", 5_400_000), ("1d12h", 129_600_000), ("0s", 0), (" 5s ", 5000),
])
def test_a_duration_option(text, ms):
    assert duration_option(text) == ms


@pytest.mark.parametrize("text", ["", "5", "s", "5x", "1.5h", "-5s", "5 s", "1h 30m"])
def test_a_duration_option_that_is_no_duration_is_refused(text):
    with pytest.raises(ValueError, match="not a duration"):
        duration_option(text)


def test_epoch_ms_numbers():
    assert parse_event(ev(timestamp=T_MS)).time == T_MS
    assert parse_event(ev(timestamp=1.9)).time == 1       # sub-ms dropped toward the past
    assert parse_event(ev(timestamp=-1.5)).time == -2
    assert parse_event(ev(timestamp=0)).time == 0


# ---------------------------------------------------------------- dead letters

@pytest.mark.parametrize("data, why", [
    (b'{"event": "x",', "invalid_json"),
    (b"\xff\xfe", "invalid_json"),
    ("", "invalid_json"),
    (b"[1, 2]", "not_an_object"),
    (b'"text"', "not_an_object"),
    (b"null", "not_an_object"),
    (ev(event=None), "missing_event"),
    (ev(event=None, type="track"), "missing_event"),
    (ev(event=5), "missing_event"),
    (ev(customer_id=None), "missing_customer"),
    (ev(customer_id=""), "missing_customer"),
    (ev(customer_id={"id": 1}), "missing_customer"),
    (ev(customer_id=True), "missing_customer"),
    (ev(timestamp=None), "missing_time"),
    (ev(timestamp=""), "missing_time"),
    (ev(timestamp="yesterday"), "bad_time"),
    (ev(timestamp="2026-03-02T22:00:00"), "bad_time"),
    (ev(timestamp="1511658000"), "bad_time"),
    (ev(timestamp=True), "bad_time"),
    (ev(timestamp=[1]), "bad_time"),
    (ev(timestamp=float("nan")), "bad_time"),
    (ev(timestamp=10**20), "bad_time"),
    (ev(properties=[1]), "not_an_object"),
    ({"type": "identify", "userId": "u", "ts": 1, "traits": "x"}, "not_an_object"),
])
def test_dead_letter_reasons(data, why):
    assert reason(data) == why


def test_too_large():
    line = orjson.dumps(ev(properties={"blob": "x" * 2000}))
    assert reason(line, max_bytes=1000) == "too_large"
    assert reason(line.decode(), max_bytes=1000) == "too_large"
    assert reason(orjson.loads(line), max_bytes=1000) == "too_large"
    assert reason(b"not json at all" * 100, max_bytes=1000) == "too_large"  # checked before decoding
    assert parse_event(line, max_bytes=len(line)).raw_size == len(line)


def test_bad_event_is_plain_and_picklable():
    bad = pickle.loads(pickle.dumps(BadEvent("bad_time", "field 'ts' is text")))
    assert (bad.reason, bad.detail, str(bad)) == ("bad_time", "field 'ts' is text", "bad_time: field 'ts' is text")


def test_first_present_wins_even_when_unusable():
    """A present but broken `timestamp` is bad_time; we do not quietly fall back to `ts`."""
    assert reason(ev(timestamp="soon", ts=5)) == "bad_time"


# ---------------------------------------------------------------- JSON lines

def test_read_jsonl_numbers_lines_and_keeps_raw():
    data = (orjson.dumps(ev()) + b"\n\n  \n[1]\n{oops\r\n"
            + orjson.dumps(ev(customer_id=None)) + b"\n" + orjson.dumps(ev(message_id="m2")))
    items = list(read_jsonl(io.BytesIO(data)))
    assert [n for n, _, _ in items] == [1, 4, 5, 6, 7]
    assert [getattr(x, "reason", "ok") for _, _, x in items] == [
        "ok", "not_an_object", "invalid_json", "missing_customer", "ok"]
    assert items[2][1] == b"{oops"
    assert items[4][2].message_id == "m2"


def test_read_jsonl_too_large():
    [(_, _, bad)] = read_jsonl(io.BytesIO(orjson.dumps(ev(p="x" * 100))), max_bytes=50)
    assert bad.reason == "too_large"


def test_read_jsonl_spec_case_file():
    path = HERE / "cases/v3_quiet_hours_timezone/events.jsonl"
    items = list(read_jsonl(path.open("rb")))
    assert items and all(isinstance(x, Event) for _, _, x in items)
    assert any(x.traits is not None for _, _, x in items)


# ---------------------------------------------------------------- CSV

def test_csv_with_header_and_mapping():
    text = ("\ufeffbehavior,uid,when,mid,price,zip,note\n"
            "cart,7,2026-03-02T22:00:00.000Z,m1,12.50,00123,hi\n"
            "pv,8,2026-03-02T22:00:01.000Z,,3,,\n")
    items = list(read_csv(io.BytesIO(text.encode()), parse_map_option(
        "event=behavior, customer_id=uid, timestamp=when, message_id=mid"),
        event_values={"cart": "cart_added"}))
    (n1, raw1, a), (n2, _, b) = items
    assert (n1, n2, raw1) == (2, 3, b"cart,7,2026-03-02T22:00:00.000Z,m1,12.50,00123,hi")
    assert a == Event("cart_added", "7", T_MS, {"price": 12.5, "zip": "00123", "note": "hi"}, "m1", None, len(raw1))
    assert b.name == "pv"  # not in the value map: passes through
    assert b.message_id.startswith("h:") and b.properties == {"price": 3, "zip": None, "note": None}


def test_csv_default_columns_and_ms():
    text = "event,customer_id,timestamp,sku\npurchase,c1,1772488800000,S1\n"
    [(_, _, e)] = read_csv(io.StringIO(text))
    assert (e.name, e.customer_id, e.time, e.properties) == ("purchase", "c1", T_MS, {"sku": "S1"})


def test_csv_dead_letters_and_multiline_rows():
    text = ('event,customer_id,timestamp,note\n'
            'a,c1,5,"two\nlines"\n'
            'a,c1\n'
            ',c1,5,x\n'
            'a,c1,later,x\n'
            '\n'
            'a,c1,6,x\n')
    items = list(read_csv(io.StringIO(text)))
    assert [(n, getattr(x, "reason", "ok")) for n, _, x in items] == [
        (2, "ok"), (4, "invalid_json"), (5, "missing_event"), (6, "bad_time"), (8, "ok")]
    assert items[0][1] == b'a,c1,5,"two\nlines"'
    assert items[0][2].properties == {"note": "two\nlines"}


def test_csv_options_are_checked():
    with pytest.raises(ValueError, match="time unit"):
        read_csv(io.StringIO(""), time_unit="us")
    with pytest.raises(ValueError, match="the fields are"):
        read_csv(io.StringIO(""), {"user": "uid"})
    with pytest.raises(ValueError, match="not in the file"):
        list(read_csv(io.StringIO("a,b\n1,2\n"), {"event": "behavior"}))
    assert list(read_csv(io.StringIO(""))) == []


def test_csv_leaves_caller_stream_open():
    stream = io.BytesIO(b"event,customer_id,timestamp\na,c,1\n")
    assert len(list(read_csv(stream))) == 1
    assert not stream.closed


TAOBAO_OPTIONS = dict(
    mapping=parse_map_option("event=behavior,customer_id=user_id,timestamp=ts"),
    columns=parse_columns("user_id,item_id,category_id,behavior,ts"),
    time_unit="s",
    event_values=parse_event_values("pv=product_viewed,cart=cart_added,fav=wishlisted,buy=purchase"),
)


# Rows shaped like the public Taobao UserBehavior data set (the README replays it): no header,
# user_id,item_id,category_id,behavior,unix_seconds. The values are made up.
TAOBAO_ROWS = b"""543462,1715,1464116,pv,1511658000
662867,2244074,1575622,pv,1511658000
543462,1715,1464116,cart,1511658003
561558,3611281,965809,fav,1511658004
894923,3076029,1879194,pv,1511658004
894923,3076030,1879194,pv,1511658004
543462,1715,1464116,buy,1511658061
834377,4541270,3738615,pv,1511658100
"""


def test_taobao_headerless_rows():
    head = TAOBAO_ROWS.splitlines(keepends=True)
    items = list(read_csv(io.BytesIO(TAOBAO_ROWS), **TAOBAO_OPTIONS))
    assert len(items) == len(head) == 8 and all(isinstance(x, Event) for _, _, x in items)
    for (n, raw, event), line in zip(items, head):
        assert raw == line.rstrip(b"\n")
        user, item, category, behavior, seconds = raw.decode().split(",")
        assert event.customer_id == user and event.time == int(seconds) * 1000
        assert event.properties == {"item_id": int(item), "category_id": int(category)}
        assert event.name == {"pv": "product_viewed", "cart": "cart_added", "fav": "wishlisted", "buy": "purchase"}[behavior]
    assert [n for n, _, _ in items] == list(range(1, 9))
    assert format_instant(items[0][2].time) == "2017-11-26T01:00:00.000Z"
    # no message_id column: each row's id is a hash of it, so rows differing only in the item differ
    assert len({x.message_id for _, _, x in items}) == 8


def test_read_events_picks_reader_by_extension(tmp_path):
    csv_path = tmp_path / "e.csv"
    csv_path.write_text("event,customer_id,timestamp\na,c,1\n")
    jsonl_path = tmp_path / "e.jsonl"
    jsonl_path.write_bytes(orjson.dumps(ev()) + b"\n")
    assert [x.name for _, _, x in read_events(str(csv_path))] == ["a"]
    assert [x.name for _, _, x in read_events(str(jsonl_path))] == ["purchase"]
    assert [getattr(x, "reason", None) for _, _, x in read_events(str(csv_path), "jsonl")] == ["invalid_json"] * 2


def test_input_format_and_stdin(monkeypatch):
    assert input_format("a.csv") == input_format("A.CSV.gz") == input_format("x.jsonl", "csv") == "csv"
    assert input_format("a.jsonl") == input_format("-") == "jsonl"
    with pytest.raises(ValueError):
        input_format("a", "xml")
    stdin = io.TextIOWrapper(io.BytesIO(orjson.dumps(ev()) + b"\n"))
    monkeypatch.setattr("sys.stdin", stdin)
    assert open_input("-") is stdin.buffer
    assert [x.name for _, _, x in read_events("-")] == ["purchase"]
    assert not stdin.buffer.closed


# ---------------------------------------------------------------- options and sorting

def test_option_parsers():
    assert parse_map_option("event=behavior,customer_id=user_id,timestamp=ts") == {
        "event": "behavior", "customer_id": "user_id", "timestamp": "ts"}
    assert parse_event_values("pv=product_viewed, buy=purchase") == {"pv": "product_viewed", "buy": "purchase"}
    for bad, words in [("event", "name=value"), ("event=", "name=value"), ("event=a,event=b", "twice"),
                       ("who=uid", "the fields are")]:
        with pytest.raises(ValueError, match=words):
            parse_map_option(bad)
    with pytest.raises(ValueError):
        parse_columns("a,,b")


def test_sort_by_time_is_stable_and_keeps_bad_slots():
    def good(name, t):
        return Event(name, "c", t, {}, name)
    items = [(1, b"", good("a", 30)), (2, b"", BadEvent("invalid_json", "x")), (3, b"", good("b", 10)),
             (4, b"", good("c", 30)), (5, b"", good("d", 10))]
    out = sort_by_time(iter(items))
    assert [(n, getattr(x, "name", "bad")) for n, _, x in out] == [
        (3, "b"), (2, "bad"), (5, "d"), (1, "a"), (4, "c")]


@pytest.mark.parametrize("field", ["customer_id", "message_id"])
def test_a_raw_del_in_an_id_is_refused_on_the_fast_path_too(field):
    """JSON lets DEL (U+007F) through unescaped. An id holding one is bad_id (id_problem) whichever path
    reads the line: the usual five fields took the fast path, which let it through."""
    fields = {"event": "cart_abandoned", "customer_id": "ana", "timestamp": "2026-11-01T00:00:00.000Z",
              "message_id": "m1", "properties": {}}
    fields[field] = "a\x7fb"
    line = orjson.dumps(fields)
    assert b"\x7f" in line
    with pytest.raises(BadEvent) as fast:
        parse_event(line)
    other = {"customer_id": "userId", "message_id": "messageId"}[field]  # the same id, read by the general path
    with pytest.raises(BadEvent) as general:
        parse_event(orjson.dumps({**{k: v for k, v in fields.items() if k != field}, other: fields[field]}))
    assert fast.value.reason == general.value.reason == "bad_id"


@pytest.mark.parametrize("stamp, words", [("2026-02-30T00:00:00.000Z", "2026-02-30 is not a real date"),
                                          ("2026-11-01T25:00:00.000Z", "no such time of day")])
def test_a_day_or_hour_that_does_not_exist_in_the_usual_shape_is_a_bad_time(stamp, words, tmp_path):
    """The usual five fields with a time of the usual shape whose day or hour does not exist: the fast path
    raised ValueError out of parse_event, so one such line stopped `simulate` (exit 2, every good event lost)."""
    line = orjson.dumps({"event": "viewed", "customer_id": "ana", "timestamp": stamp, "message_id": "m1",
                         "properties": {}})
    with pytest.raises(BadEvent) as bad:
        parse_event(line)
    assert bad.value.reason == "bad_time" and words in bad.value.detail
    events = tmp_path / "events.jsonl"
    events.write_bytes(line + b"\n" + orjson.dumps({**orjson.loads(line), "timestamp": "2026-11-01T00:00:00.000Z",
                                                      "message_id": "m2"}) + b"\n")
    out = subprocess.run([sys.executable, "-c", "from journeyctl.engine.cli.main import program; program()",
                          "simulate", str(EXAMPLES), "--events", str(events), "--format", "summary"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "1 dead letters: bad_time 1" in out.stderr
