"""The same input gives the same actions whatever the store, its cache size and the restarts (issue 14,
section 1), and a message id names one event within the de-duplication window (spec section 6).

Hypothesis draws a program (journeys alone, with segments over windows, with a segment re-checked on
every event) and a stream of events over a few customers, one of them busy: copies of earlier message
ids under other names and payloads, copies of events no journey reads, copies more than 64 events
later, copies beyond the window (applied again), stragglers within the allowed lateness and late
events. The stream is run on MemoryStore, SqliteStore and PgStore with cache sizes 1, 7 and unbounded,
stopped at random points (checkpoint, close, a new Engine over the store, as `simulate --state` does
across runs); every run must give the actions and counters of one uninterrupted MemoryStore run, and
those must be the actions of the same stream with the duplicates (by a model of the rule) left out.
"""
from __future__ import annotations

import functools
import itertools
import random
import tempfile
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from journeyctl.dsl.compiler import compile_text
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import BadEvent, Event
from journeyctl.engine.store.memory import MemoryStore
from journeyctl.engine.store.open import checkpoint
from journeyctl.engine.store.sqlite import SqliteStore

T0 = 1_772_452_800_000  # 2026-03-02T12:00:00Z
HOUR = 3_600_000
DAY = 24 * HOUR
LATENESS = 5_000
CHANNELS = {"sms": "phone"}

JOURNEYS = {
    # reads app_opened and restarts on it: an applied copy sends the email a different day
    "inactivity": 'journey inactivity\n  reentry restart\n  on app_opened within 6h unless app_opened -> '
                  'send email "we_miss_you"\n',
    "cart": 'on cart_abandoned within 30m unless purchase -> send sms "cart" or email "cart_mail" '
            'with value = cart_value\n',
    # a purchase counted twice changes which purchase is the second, and the sum that makes gold
    "second_purchase": 'on purchase where count(purchase) == 2 -> send email "second"\n',
    "gold": 'journey gold\n  reentry once\n  audience profile.tier != "gold"\n'
            '  on purchase where sum(purchase.amount) >= 400\n  set profile.tier = "gold"\n'
            '  emit tier_upgraded with tier = "gold"\n  send email "gold"\n',
    "gold_perks": 'on tier_upgraded where tier == "gold" -> send push "gold_perks"\n',
    "win_back": 'on app_opened where last_seen(app_opened) != null and now() - last_seen(app_opened) > 3h -> '
                'send push "welcome_back" with last = last(purchase).amount\n',
    "review": 'journey review\n  reentry concurrent\n  on order_delivered within 2h unless review_submitted '
              '-> send email "review"\n',
    "capped": 'journey capped\n  cap 2 per 1d\n  on product_viewed where price > 150\n  wait 20m unless purchase\n'
              '  send email "upsell"\n',
}
WINDOW_SEGMENTS = {
    "big_spenders": 'segment big_spenders\n  where sum(purchase.amount within 3h) > 250 and count(app_opened) >= 1\n',
    "browsers": 'segment browsers\n  where count(product_viewed within 1h) >= 3\n',
    "vip_welcome": 'journey vip_welcome\n  on segment_entered where segment == "big_spenders"\n'
                   '  send email "vip" with member = in_segment(browsers)\n',
    "browse_nudge": 'on segment_exited where segment == "browsers" -> send push "still_looking"\n',
}
ALWAYS_SEGMENTS = {
    # reads now(): re-checked on every event, read or not
    "recent": 'segment recent\n  where last_seen(app_opened) != null and now() - last_seen(app_opened) < 2h\n',
    "recent_entered": 'on segment_entered where segment == "recent" -> send push "hello_again"\n',
}
PROGRAMS = {"journeys": JOURNEYS, "windows": {**JOURNEYS, **WINDOW_SEGMENTS},
            "always": {**JOURNEYS, **WINDOW_SEGMENTS, **ALWAYS_SEGMENTS}}
READ = ["app_opened", "cart_abandoned", "purchase", "order_delivered", "review_submitted", "product_viewed"]
UNREAD = ["subscription_started", "page_scrolled", "heartbeat"]  # no journey or segment reads these


@functools.cache
def program(name: str) -> tuple[list, list]:
    journeys, segments = [], []
    for stem, text in PROGRAMS[name].items():
        compiled = compile_text(text, f"{stem}.journey")
        assert compiled.ir is not None, (stem, compiled.diagnostics)
        (segments if compiled.ir.kind == "segment" else journeys).append(compiled.ir)
    return journeys, segments


def _props(rnd: random.Random) -> dict:
    return {"amount": rnd.randrange(20, 300), "cart_value": rnd.randrange(200), "price": rnd.randrange(200)}


@functools.cache
def make_events(seed: int, n: int, customers: int) -> tuple:
    """A stream of `n` events; customer c0 gets 60% of them, and the first 60% of the stream comes within
    a few hours, so c0 sees more than 64 events within a day."""
    rnd = random.Random(seed)
    out: list[Event] = []
    by_customer: dict[str, list[Event]] = {}
    t = T0
    for i in range(n):
        gap = rnd.random()
        if i < n * 3 // 5:  # a busy morning first, then days with pauses
            t += rnd.randrange(10_000, 3 * 60_000)
        else:
            t += (rnd.randrange(60_000, 10 * 60_000) if gap < 0.7 else rnd.randrange(HOUR, 4 * HOUR) if gap < 0.94
                  else rnd.randrange(DAY - HOUR, DAY + 2 * HOUR))  # the last: copies across the 24 h window
        cid = "c0" if rnd.random() < 0.6 else f"c{rnd.randrange(1, customers)}"
        when = t - rnd.randrange(1, LATENESS) if rnd.random() < 0.08 else t  # a straggler, still in time
        if rnd.random() < 0.02:
            when = t - HOUR  # late: dead-lettered in every run alike
        name = rnd.choice(READ + UNREAD + ["identify"])
        mid = f"m{i}"
        earlier = by_customer.get(cid, [])
        kind = rnd.random()
        if earlier and kind < 0.15:
            mid = rnd.choice(earlier[-5:]).message_id  # a copy soon after, under any name and payload
        elif len(earlier) > 70 and kind < 0.22:
            mid = rnd.choice(earlier[-75:-65]).message_id  # a copy more than 64 of its events later
        elif out and kind < 0.26:
            mid = rnd.choice(out).message_id  # maybe another customer's id: not a duplicate for this one
        if name == "identify":
            traits = {"phone": f"+3519{rnd.randrange(10**8):08d}"} if rnd.random() < 0.6 else {"tier": "silver"}
            ev = Event("identify", cid, when, {}, mid, traits)
        else:
            ev = Event(name, cid, when, _props(rnd), mid)
        out.append(ev)
        by_customer.setdefault(cid, []).append(ev)
    return tuple(out)


def duplicates_by_the_rule(events, window: int) -> set[int]:
    """Positions of the events the spec calls duplicates: a message id this customer's applied events
    already used, stamped within `window` of that copy. Late events are never applied; duplicates
    and late events do not move the clock."""
    clock, applied, out = None, {}, set()
    for i, ev in enumerate(events):
        if clock is not None and ev.time < clock - LATENESS:
            continue
        first = applied.get((ev.customer_id, ev.message_id))
        if first is not None and abs(ev.time - first) < window:
            out.add(i)
            continue
        applied[(ev.customer_id, ev.message_id)] = ev.time
        clock = ev.time if clock is None else max(clock, ev.time)
    return out


def _key(action) -> bytes:
    return orjson.dumps(action.as_dict(), option=orjson.OPT_SORT_KEYS)


def replay(program_name: str, events, open_store, stops=(), window: int | None = None,
           reload: bool = False) -> tuple[list, dict]:
    """(actions in canonical order, the engine's counters). Before each position in `stops`: checkpoint,
    close the store, open it again and build a new Engine over it (with `reload`, on the next program
    in PROGRAMS, as after an upgrade of the journey files)."""
    names = sorted(PROGRAMS)
    options = {} if window is None else {"dedup_window": window}

    def start(store, restarts):
        name = names[(names.index(program_name) + restarts) % len(names)] if reload else program_name
        journeys, segments = program(name)
        return Engine(journeys, segments, store=store, channels=CHANNELS, lateness=LATENESS, **options)

    engine = start(open_store(), 0)
    actions = []
    for i, ev in enumerate(events):
        if i in stops:
            checkpoint(engine)
            engine.store.close()
            engine = start(open_store(), sum(1 for stop in stops if stop <= i))
        try:
            actions += engine.process(ev)
        except BadEvent:
            pass
    actions += engine.advance_to(max(ev.time for ev in events) + 3 * DAY)
    checkpoint(engine)
    stats = engine.stats.to_dict()
    stats["actions"] = sorted(stats["actions"])
    engine.store.close()
    return sorted(actions, key=_key), stats


def reference(program_name: str, events, window: int | None) -> tuple[list, dict]:
    """One uninterrupted run on MemoryStore."""
    return replay(program_name, events, MemoryStore, window=window)


CASES = st.fixed_dictionaries({
    "program": st.sampled_from(sorted(PROGRAMS)),
    "seed": st.integers(0, 10**6),
    "n": st.integers(120, 260),
    "customers": st.integers(2, 5),
    "window": st.sampled_from([None, 2 * HOUR]),  # None: the default, 24 h
})


def _stops(n: int):
    return st.sets(st.integers(1, n - 1), max_size=4)


def _check_against_the_model(case: dict, events, expected: tuple) -> None:
    window = case["window"] or DAY
    dups = duplicates_by_the_rule(events, window)
    without = tuple(ev for i, ev in enumerate(events) if i not in dups)
    actions, stats = expected
    assert stats["duplicates"] == len(dups)
    assert actions == replay(case["program"], without, MemoryStore, window=case["window"])[0]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=CASES, data=st.data())
@example(case={"program": "windows", "seed": 3, "n": 240, "customers": 3, "window": None}, data=None)
@example(case={"program": "journeys", "seed": 11, "n": 250, "customers": 4, "window": 2 * HOUR}, data=None)
def test_memory_and_sqlite_give_the_same_actions_whatever_the_cache_and_restarts(case, data):
    events = make_events(case["seed"], case["n"], case["customers"])
    expected = reference(case["program"], events, case["window"])
    draw = data.draw if data is not None else (lambda s, label=None: {1, 60, case["n"] // 2, case["n"] - 1})
    memory = MemoryStore()  # a new Engine over the same objects: what survives only in memory survives here
    got = replay(case["program"], events, lambda: memory, draw(_stops(case["n"]), "memory stops"), case["window"])
    assert got == expected, "MemoryStore with restarts"
    with tempfile.TemporaryDirectory() as tmp:
        for n, cache_size in enumerate((1, 7, 100_000)):
            stops = draw(_stops(case["n"]), f"sqlite stops, cache {cache_size}")
            path = Path(tmp) / f"state{n}.db"
            got = replay(case["program"], events, lambda: SqliteStore(path, cache_size=cache_size), stops,
                         case["window"])
            assert got == expected, f"SqliteStore(cache_size={cache_size}) stopped before {sorted(stops)}"
    _check_against_the_model(case, events, expected)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=CASES, data=st.data())
@example(case={"program": "windows", "seed": 3, "n": 240, "customers": 3, "window": None}, data=None)
def test_postgresql_gives_the_same_actions_whatever_the_cache_and_restarts(pg_state, case, data):
    from journeyctl.engine.store.postgres import PgStore
    import psycopg

    url, schema = pg_state
    events = make_events(case["seed"], case["n"], case["customers"])
    expected = reference(case["program"], events, case["window"])
    draw = data.draw if data is not None else (lambda s, label=None: {1, 60, case["n"] // 2, case["n"] - 1})
    for cache_size in (1, 7, 100_000):
        stops = draw(_stops(case["n"]), f"pg stops, cache {cache_size}")
        here = f"{schema}_{next(_SCHEMAS)}"
        try:
            got = replay(case["program"], events, lambda: PgStore(url, schema=here, cache_size=cache_size), stops,
                         case["window"])
        finally:
            with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{here}" CASCADE')
        assert got == expected, f"PgStore(cache_size={cache_size}) stopped before {sorted(stops)}"


_SCHEMAS = itertools.count()


def test_the_streams_hold_every_kind_of_copy():
    """The examples above are worth something only if their streams hold what the rule is about."""
    events = make_events(3, 240, 3)
    dups = duplicates_by_the_rule(events, DAY)
    first: dict = {}
    kinds = set()
    for i, ev in enumerate(events):
        key = (ev.customer_id, ev.message_id)
        if key in first:
            j = first[key]
            if i in dups:
                kinds.add("duplicate")
                if events[j].name != ev.name:
                    kinds.add("under another name")
                if events[j].name in UNREAD and ev.name not in UNREAD:
                    kinds.add("first copy read by no journey")
                if sum(1 for e in events[j + 1:i] if e.customer_id == ev.customer_id) > 64:
                    kinds.add("more than 64 events later")
            elif ev.time - events[j].time >= DAY:
                kinds.add("beyond the window")
        first.setdefault(key, i)
    assert kinds == {"duplicate", "under another name", "first copy read by no journey", "more than 64 events later",
                     "beyond the window"}


@pytest.mark.parametrize("program_name", sorted(PROGRAMS))
def test_the_programs_do_something(program_name):
    actions, stats = reference(program_name, make_events(3, 240, 3), None)
    assert len(actions) > 40 and stats["duplicates"] > 5 and stats["unused"] > 20
    assert {a["journey"] for a in actions} >= {"inactivity", "second_purchase", "gold", "win_back", "review"}


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_restart_with_other_segments_looks_at_each_customer_again_whatever_the_store(tmp_path, store):
    """An engine's notes of when a customer's windows next change hold for its own segments only. A new
    engine over a MemoryStore's objects must not trust an earlier engine's notes, as it cannot over
    a SQL store (which never stores them): the customer already in the new segment joins it at its
    next event, even one no journey reads."""
    irs = {name: compile_text(text, f"{name}.journey").ir for name, text in {
        "browsers": WINDOW_SEGMENTS["browsers"],
        "gold": 'segment gold\n  where profile.tier == "gold"\n',
        "hello": 'on app_opened -> send email "hi"\n',
        "gold_welcome": 'on segment_entered where segment == "gold" -> send push "gold"\n'}.items()}
    memory = MemoryStore()
    opener = (lambda: memory) if store == "memory" else (lambda: SqliteStore(tmp_path / "s.db"))
    engine = Engine([irs["hello"]], [irs["browsers"]], store=opener())
    engine.process(Event("identify", "c1", T0, {}, "i1", {"tier": "gold"}))
    engine.process(Event("app_opened", "c1", T0 + 1_000, {}, "a1"))
    checkpoint(engine)
    engine.store.close()
    engine = Engine([irs["hello"], irs["gold_welcome"]], [irs["browsers"], irs["gold"]], store=opener())
    actions = engine.process(Event("page_scrolled", "c1", T0 + 2_000, {}, "p1"))
    assert [(a["journey"], a["template"]) for a in actions] == [("gold_welcome", "gold")]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=CASES, stops=st.sets(st.integers(1, 119), min_size=1, max_size=4))
def test_new_journey_files_at_a_restart_give_the_same_actions_in_every_store(case, stops):
    """Restarts on other journeys and segments (the next program each time) change what happens, but
    not with the store or its cache."""
    events = make_events(case["seed"], case["n"], case["customers"])
    memory = MemoryStore()
    expected = replay(case["program"], events, lambda: memory, stops, case["window"], reload=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n, cache_size in enumerate((1, 7, 100_000)):
            path = Path(tmp) / f"state{n}.db"
            got = replay(case["program"], events, lambda: SqliteStore(path, cache_size=cache_size), stops,
                         case["window"], reload=True)
            assert got == expected, f"SqliteStore(cache_size={cache_size})"
