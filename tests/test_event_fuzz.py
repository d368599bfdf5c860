"""Issue 15: hostile event JSON through the parse-and-apply path of `simulate` and `run` (parse_event, then
Engine.process, the actions encoded as a sink gets them, the state committed to a real SQLite file) raises
nothing but BadEvent, a dead letter. The strategies aim at what broke before: deep nesting, numbers past 64
bits and past a float, NaN-like text, any type in any field, control characters, very long strings, times
at and past the ends of the calendar, time zones of any value."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings, strategies as st

from journeyctl.dsl.compiler import compile_text
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import MAX_MS, BadEvent, parse_event
from journeyctl.engine.store.open import checkpoint, open_store

JOURNEYS = [
    'journey quiet\n  quiet hours 21:00-08:00\n  cap email 1 per 1d\n  on a where amount > 10\n'
    '  wait 1h unless b\n  send email with amount = amount, name = profile.name\n',
    'journey morning\n  timezone "Asia/Tokyo"\n  reentry concurrent by order\n  on a\n  wait until 09:00\n'
    '  set profile.last = order\n  emit b with order = order\n  send sms\n',
    'journey sums\n  on b where sum(a.amount within 30d) > 5 and count(a within 7d) >= 1\n'
    '  if max(a.amount within 30d) > avg(a.amount within 30d)\n    send push with last = last(a).amount\n'
    '  else\n    exit\n',
    'journey aged\n  on c where now() - last_seen(a) > 1d\n  wait 36500d\n  send webhook\n',
]
SEGMENT = 'segment buyers\n  where count(a within 7d) >= 2 or profile.tier == "gold"\n'
NAMES = {"event": ("event", "type", "name"), "customer": ("customer_id", "userId", "user_id", "anonymousId"),
         "time": ("timestamp", "ts", "time"), "props": ("properties", "props"), "id": ("message_id", "messageId", "id")}

control_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x2FF, blacklist_categories=("Cs",)),
                       max_size=12)
long_text = st.integers(0, 4_000).map(lambda n: "é" * n)
huge_int = st.one_of(st.integers(-2**70, 2**70), st.integers(-10**400, 10**400), st.sampled_from([2**64, 2**64 + 1]))
odd_float = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e308, -1e308, 5e-324]))
nan_text = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "nan", "null", "true", "", " ", "0x10", "١٢"])
times = st.one_of(
    st.sampled_from(["2026-03-02T12:00:00Z", "2026-03-02T12:00:00.000Z", "9999-12-31T22:00:00Z",
                     "9999-12-31T23:59:59.999Z", "9899-12-31T23:59:59.999Z", "9900-01-01T00:00:00Z",
                     "0001-01-01T00:00:00Z", "0001-01-02T00:00:00Z", "2026-02-30T00:00:00Z", "2026-03-02T24:00:00Z",
                     "2026-03-02T12:00:00+23:59", "2026-03-02T12:00:00", "1e400"]),
    st.integers(-2**70, 2**70), odd_float, nan_text, control_text)
zones = st.one_of(st.sampled_from(["Europe/Lisbon", "Pacific/Kiritimati", "America/St_Johns", "Mars/Olympus",
                                   "../../etc/passwd", "UTC\x00", ""]),
                  st.lists(st.just("Europe/Lisbon"), max_size=2), st.dictionaries(st.text(max_size=3), st.none(),
                                                                                  max_size=2), huge_int)
scalars = st.one_of(st.none(), st.booleans(), huge_int, odd_float, nan_text, control_text, long_text)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.sampled_from(["amount", "order", "x", "tier"])
                                                                       | control_text, inner, max_size=4)),
                      max_leaves=12)


@st.composite
def deep(draw):
    """Objects or lists nested 1 to 1,200 levels, with or without a scalar at the bottom."""
    depth = draw(st.integers(1, 1_200))
    leaf = draw(scalars)
    for _ in range(depth):
        leaf = {"x": leaf} if draw(st.booleans()) else [leaf]
    return leaf


def field(kind: str):
    plausible = {"event": st.sampled_from(["a", "b", "c", "identify", "track", "segment_entered"]),
                 "customer": st.sampled_from(["c1", "c2", 42, 2**64, 2**64 + 1, 1.5, "c\x00", "x" * 600]),
                 "time": times,
                 "props": st.fixed_dictionaries({}, optional={"amount": values, "order": values, "tier": values,
                                                              "x": deep()}),
                 "id": st.sampled_from(["m1", "m2", 7, 2**64, 2**64 + 1, 1e20, "m\x1b"])}[kind]
    return st.one_of(plausible, plausible, values, deep())


BASE = {"event": "a", "customer_id": "c1", "timestamp": "2026-03-02T12:00:00Z", "properties": {"amount": 20}}


@st.composite
def hostile_event(draw) -> bytes:
    """A usable event with one to four of its parts made hostile: most draws still reach the engine."""
    obj = dict(BASE)
    if draw(st.booleans()):
        obj["message_id"] = draw(st.sampled_from(["m1", "m2", "m3"]))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from([*NAMES, "traits", "deep", "drop"]))
        if kind == "traits":
            obj.update(type="identify", userId=obj.get("customer_id", "c1"),
                       traits=draw(st.one_of(st.fixed_dictionaries({"timezone": zones},
                                                                   optional={"tier": values, "name": values}),
                                             values, deep())))
        elif kind == "deep":
            obj["properties"] = {"amount": 20, "order": draw(deep())}
            obj.pop("message_id", None)  # then the whole object is hashed for its id
        elif kind == "drop":
            obj.pop(draw(st.sampled_from(sorted(obj))), None)
        else:
            obj[draw(st.sampled_from(NAMES[kind]))] = draw(field(kind))
    if draw(st.integers(0, 9)) == 0:  # now and then, broken JSON too
        return json.dumps(obj, allow_nan=True).encode()[:-1]
    raw = json.dumps(obj, allow_nan=True, ensure_ascii=draw(st.booleans()))
    return raw.encode("utf-8", "surrogatepass")


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(hostile_event(), min_size=1, max_size=6), st.sampled_from(["Europe/Lisbon", "Pacific/Kiritimati"]))
def test_hostile_event_json_is_applied_or_dead_lettered_never_an_exception(raws, default_zone):
    irs = [compile_text(text, f"j{i}.journey").ir for i, text in enumerate([*JOURNEYS, SEGMENT])]
    assert all(irs)
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'state.db'}")
        engine = Engine([ir for ir in irs if ir.kind == "journey"], [ir for ir in irs if ir.kind == "segment"],
                        store=store, default_timezone=default_zone, profiles=True)
        actions = []
        for raw in raws:
            try:
                actions += engine.process(parse_event(raw))
            except BadEvent:
                pass  # a dead letter: the one outcome besides being applied
        actions += engine.advance_to(MAX_MS)  # every timer, to the last instant there is
        for a in actions:
            orjson.dumps(a.as_dict())  # as simulate prints it and run hands it to the outbox
        orjson.dumps(engine.drain_profile_records())
        checkpoint(engine)  # every customer encoded and committed
        store.close()
