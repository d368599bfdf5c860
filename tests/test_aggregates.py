"""Aggregates kept one event at a time must equal the same aggregate computed from the whole history."""
from hypothesis import given, settings
from hypothesis import strategies as st

from journeyctl.dsl.compiler import compile_text
from journeyctl.engine.core.aggregates import Aggregates
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.store.memory import MemoryStore
from journeyctl.engine.core.events import BadEvent, Event
from journeyctl.engine.core.state import Customer

FNS = ("count", "sum", "min", "max", "avg")
values = st.one_of(st.integers(-50, 200), st.floats(-10, 10, allow_nan=False), st.none(), st.text(max_size=2))
streams = st.lists(st.tuples(st.integers(0, 3_600_000), st.sampled_from(["buy", "view"]), values,
                             st.sampled_from(["a", "b"])), max_size=40)


def brute(fn, history, now, within, where_kind):
    """history: (time, value, kind) of every `buy` so far."""
    rows = [(t, v) for t, v, k in history if t <= now and (within is None or t > now - within)
            and (where_kind is None or k == where_kind)]
    if fn == "count":
        return len(rows)
    nums = [v for _, v in rows if type(v) in (int, float)]
    if fn == "sum":
        return sum(nums)
    if not nums:
        return None
    return {"min": min(nums), "max": max(nums), "avg": sum(nums) / len(nums)}[fn]


@settings(max_examples=200, deadline=None)
@given(streams, st.sampled_from(FNS), st.one_of(st.none(), st.integers(1, 7_200_000)),
       st.one_of(st.none(), st.sampled_from(["a", "b"])), st.integers(0, 7_200_000))
def test_incremental_equals_recomputed(stream, fn, within, where_kind, later):
    where = None if where_kind is None else ["bin", "==", ["ref", "event", ["kind"]], ["lit", where_kind]]
    spec = {"fn": fn, "event": "buy", "prop": None if fn == "count" else "amount", "where": where, "within": within}
    aggs = Aggregates({"k": spec})
    cust = Customer()
    history = []
    now = 0
    for step, name, value, kind in sorted(stream, key=lambda e: e[0]):
        now = step
        if name == "buy":
            aggs.update(cust, name, {"amount": value, "kind": kind}, now, None)
            history.append((now, value, kind))
        got, want = aggs.value(cust, "k", now), brute(fn, history, now, within, where_kind)
        assert got == want or (got is not None and want is not None and abs(got - want) < 1e-6)
    # time passing alone (a timer firing later) moves the window too
    end = now + later
    got, want = aggs.value(cust, "k", end), brute(fn, history, end, within, where_kind)
    assert got == want or (got is not None and want is not None and abs(got - want) < 1e-6)


def test_windows_keep_only_what_is_inside():
    aggs = Aggregates({"k": {"fn": "count", "event": "buy", "prop": None, "where": None, "within": 1000}})
    cust = Customer()
    for t in range(0, 100_000, 100):
        aggs.update(cust, "buy", {}, t, None)
    assert len(cust.aggs["k"]) <= 2 * 10  # flat: [t, v, t, v, ...]


SEGMENTS = {  # members of the first four can only leave as entries expire (Aggregates.exit_only)
    "busy": "segment busy\n  where count(buy within 1h) >= 2{tail}\n",
    "big": "segment big\n  where max(buy.amount within 30m) > 100{tail}\n",
    "small": "segment small\n  where min(buy.amount within 30m) < 50{tail}\n",
    "crowded": "segment crowded\n  where count(buy within 30m) > 2{tail}\n",
    "quiet": "segment quiet\n  where count(view within 20m) == 0{tail}\n",
    "few": "segment few\n  where count(buy within 1h) < 2{tail}\n",
    "spend": "segment spend\n  where sum(buy.amount within 1h) > 150{tail}\n",
}
events = st.lists(st.tuples(st.integers(0, 3 * 3_600_000), st.sampled_from(["buy", "view", "ping"]),
                            st.integers(0, 200), st.sampled_from(["c1", "c2"])), max_size=40)


def _membership_changes(tail: str, stream, in_order: bool = True, lateness: int = 4 * 3_600_000,
                        chosen=tuple(SEGMENTS)) -> list:
    """Every segment_entered/segment_exited the engine emits for `stream` (out of order: each event
    arrives within the allowed lateness, or is dead-lettered, and is read at its own instant)."""
    segments = [compile_text(SEGMENTS[sid].format(tail=tail), f"{sid}.journey").ir for sid in chosen]
    # a journey reading the same windows prunes them on its own schedule
    reader = compile_text('on ping where count(buy within 1h) >= 0 -> send email "p"', "reader.journey").ir
    engine = Engine([reader], segments, profiles=True, lateness=lateness, store=MemoryStore())
    for i, (t, name, amount, cid) in enumerate(sorted(stream, key=lambda e: e[0]) if in_order else stream):
        try:
            engine.process(Event(name, cid, t, {"amount": amount}, f"m{i}"))
        except BadEvent:
            pass
    return [(r["customer_id"], r["cause"], r["segments_entered"], r["segments_exited"])
            for r in engine.drain_profile_records()]


@settings(max_examples=400, deadline=None)
@given(events, st.booleans(), st.sampled_from([5_000, 600_000, 4 * 3_600_000]),
       st.lists(st.sampled_from(sorted(SEGMENTS)), min_size=1, max_size=len(SEGMENTS), unique=True))
def test_segments_over_windows_change_exactly_when_rechecking_on_every_event_would(stream, in_order, lateness,
                                                                                    chosen):
    """A segment that reads now() is re-checked on every event; the same condition without it is
    re-checked only when its window may have moved (and, for a `count >= 2` one, only for its
    members). Both must enter and exit at the same events, whichever segments share the windows."""
    assert _membership_changes("", stream, in_order, lateness, chosen) \
        == _membership_changes(" and now() >= 0", stream, in_order, lateness, chosen)


def test_a_segment_added_by_a_reload_leaves_when_its_window_empties(tmp_path):
    """The customer's note of its next window expiry was made, after a restart, before the segment
    reading that window was loaded."""
    from journeyctl.engine.store.sqlite import SqliteStore
    from journeyctl.engine.store.open import checkpoint

    def ir(text, name):
        return compile_text(text, f"{name}.journey").ir

    journey = ir('on view where count(view within 1h) >= 1 -> send email "v"', "j")
    busy = ir("segment busy\n  where count(buy within 1h) >= 1\n", "busy")
    viewers = ir('segment viewers\n  where count(view within 1h) >= 1 and profile.plan == "pro"\n', "viewers")
    minute = 60_000
    first = Engine([journey], [busy], store=SqliteStore(tmp_path / "s.db"))
    first.process(Event("view", "c1", 0, {}, "m1"))
    checkpoint(first)
    first.store.close()
    engine = Engine([journey], [busy], store=SqliteStore(tmp_path / "s.db"))
    engine.process(Event("ping", "c1", 10 * minute, {}, "m2"))
    engine.load([journey], [busy, viewers])
    engine.process(Event("identify", "c1", 20 * minute, {}, "m3", traits={"plan": "pro"}))
    assert "viewers" in engine.store.get("c1").segments
    engine.process(Event("ping", "c1", 61 * minute, {}, "m4"))  # the view at 0 left the hour at 60m
    assert "viewers" not in engine.store.get("c1").segments
    engine.store.close()


def test_a_late_event_takes_its_place_in_the_window_and_leaves_it_on_time():
    """An event within the allowed lateness lands among later entries; it must still fall out of the
    window when its own time is up (pruning from the front and the engine's note rely on order)."""
    seg = compile_text("segment busy\n  where count(buy within 1h) >= 2\n", "busy.journey").ir
    engine = Engine([], [seg], store=MemoryStore())
    engine.process(Event("buy", "c1", 10_000, {}, "a"))
    engine.process(Event("buy", "c1", 6_000, {}, "b"))  # 4 s late: inside the 5 s allowance
    engine.process(Event("ping", "c1", 3_605_000, {}, "p1"))  # both buys inside the hour
    assert engine.store.get("c1").segments == {"busy"}
    engine.process(Event("ping", "c1", 3_606_500, {}, "p2"))  # the late buy is over an hour old
    assert engine.store.get("c1").segments == set()
    key = next(iter(engine.aggregates.specs))
    assert engine.aggregates.value(engine.store.get("c1"), key, 3_606_500) == 1


def _segment_ir(text: str, name: str):
    return compile_text(text, f"{name}.journey").ir


def test_a_member_leaves_on_time_after_other_windows_moved_the_note():
    """The customer's note covers a `count >= 2` window only while they are a member (see
    Engine._windows_moved). A look made for another window must keep covering it, or the member
    would stay after its entries expired."""
    busy = _segment_ir("segment busy\n  where count(buy within 1h) >= 2\n", "busy")
    quiet = _segment_ir("segment quiet\n  where count(view within 20m) == 0\n", "quiet")
    engine = Engine([], [busy, quiet], store=MemoryStore())
    minute = 60_000
    for t, name, msg in [(0, "buy", "a"), (minute, "buy", "b"), (10 * minute, "view", "c"),
                         (31 * minute, "ping", "d")]:  # d: the view left its window, a look for `quiet`
        engine.process(Event(name, "c1", t, {}, msg))
    assert engine.store.get("c1").segments == {"busy", "quiet"}
    engine.process(Event("ping", "c1", 61 * minute, {}, "e"))  # the buy at 0 left the hour
    assert engine.store.get("c1").segments == {"quiet"}


def test_an_entry_after_a_window_of_expired_entries_moves_the_note():
    """Expired entries are kept for late reads, so a window can hold entries and still have nothing
    left to expire: the next entry is its new head, and the note must cover it or `one` and `quiet`
    would never be looked at again."""
    one = _segment_ir("segment one\n  where count(buy within 1h) == 1\n", "one")
    quiet = _segment_ir("segment quiet\n  where count(view within 20m) == 0\n", "quiet")
    engine = Engine([], [one, quiet], profiles=True, store=MemoryStore())
    hour, minute = 3_600_000, 60_000
    for t, name, msg in [(0, "buy", "a"), (hour + 1_000, "ping", "b"), (hour + 2_000, "buy", "c"), (3 * hour, "ping", "d"),
                         (3 * hour + minute, "view", "e"), (3 * hour + 21 * minute, "ping", "f"),
                         (3 * hour + 21 * minute + 1_000, "view", "g"), (5 * hour, "ping", "h")]:
        engine.process(Event(name, "c1", t, {}, msg))
    assert [(r["cause"], r["segments_entered"], r["segments_exited"]) for r in engine.drain_profile_records()] == [
        ("a", ["one", "quiet"], []), ("b", [], ["one"]), ("c", ["one"], []), ("d", [], ["one"]),
        ("e", [], ["quiet"]), ("f", ["quiet"], []), ("g", [], ["quiet"]), ("h", ["quiet"], [])]


def test_a_value_that_is_not_a_number_is_not_aggregated():
    """NaN (from emit arithmetic: inf - inf) is skipped like text and counted as a data warning: a max
    over it would be NaN, and its leaving the window could then let a customer join `big`."""
    make = _segment_ir("journey mk\n  on calc\n  emit buy with amount = x * x - x * x\n", "mk")
    big = _segment_ir("segment big\n  where max(buy.amount within 30m) > 100\n", "big")
    engine = Engine([make], [big], store=MemoryStore())
    engine.process(Event("calc", "c1", 0, {"x": 1e200}, "a"))
    engine.process(Event("buy", "c1", 60_000, {"amount": 150}, "b"))
    assert engine.store.get("c1").segments == {"big"}
    assert engine.aggregates.warnings.ignored == 1


def test_a_late_event_reads_what_was_inside_the_window_at_its_own_instant():
    """Spec: a window is `(now() - D, now()]` whenever it is read. The buy at 0 left the hour by the
    ping at 1h+1s, but an event stamped 1 s before the hour (2 s late, inside the 5 s allowance)
    still counts it: pruning keeps the allowance's worth of entries behind every window."""
    busy = _segment_ir("segment busy\n  where count(buy within 1h) >= 1\n", "busy")
    late = _segment_ir('on late where count(buy within 1h) == 1 -> send email "late"', "late")
    engine = Engine([late], [busy], store=MemoryStore())
    hour = 3_600_000
    engine.process(Event("buy", "c1", 0, {}, "a"))
    engine.process(Event("ping", "c1", hour + 1_000, {}, "b"))
    assert engine.store.get("c1").segments == set()
    assert [a["journey"] for a in engine.process(Event("late", "c1", hour - 1_000, {}, "c"))] == ["late"]
    assert engine.store.get("c1").segments == {"busy"}  # as read at the late event's own instant
    engine.process(Event("ping", "c1", hour + 2_000, {}, "d"))
    assert engine.store.get("c1").segments == set()
    engine.process(Event("buy", "c1", hour + 6_001, {}, "e"))  # past the allowance too: dropped
    assert list(engine.store.get("c1").aggs.values()) == [(hour + 6_001, 1)]
    # the same when the entry that pushed the buy out was another buy (pruned as it was added)
    engine.process(Event("buy", "c2", 10 * hour, {}, "f"))
    engine.process(Event("buy", "c2", 11 * hour + 1_000, {}, "g"))
    assert [a["journey"] for a in engine.process(Event("late", "c2", 11 * hour - 1_000, {}, "h"))] == ["late"]


def test_a_segment_over_a_later_segment_joins_in_the_same_event():
    """`vip` comes first in file order and reads `big`, which the buy moves: the segment_entered event
    for `big` is what re-checks `vip` before the event is done."""
    vip = _segment_ir("segment vip\n  where in_segment(big)\n", "vip")
    big = _segment_ir("segment big\n  where max(buy.amount within 1h) > 100\n", "big")
    engine = Engine([], [vip, big], profiles=True, store=MemoryStore())
    engine.process(Event("buy", "c1", 0, {"amount": 150}, "m1"))
    assert engine.store.get("c1").segments == {"vip", "big"}
    assert [(r["cause"], r["segments_entered"]) for r in engine.drain_profile_records()] == \
        [("m1", ["big"]), ("m1/segment_entered/big", ["vip"])]


def test_a_journey_on_segment_changes_sees_each_entry_and_exit():
    big = _segment_ir("segment big\n  where count(buy within 1h) >= 2\n", "big")
    welcome = _segment_ir('on segment_entered where segment == "big" -> send email "welcome"', "welcome")
    bye = _segment_ir('on segment_exited where segment == "big" -> send email "bye"', "bye")
    engine = Engine([welcome, bye], [big], store=MemoryStore())
    sent = []
    for t, name, msg in [(0, "buy", "a"), (60_000, "buy", "b"), (3_700_000, "ping", "c"), (3_800_000, "buy", "d"),
                         (3_900_000, "buy", "e")]:
        sent += [(a["journey"], a["trigger_message_id"]) for a in engine.process(Event(name, "c1", t, {}, msg))]
    assert sent == [("welcome", "b/segment_entered/big"), ("bye", "c/segment_exited/big"),
                    ("welcome", "e/segment_entered/big")]


def test_segment_events_nothing_reads_change_nothing_else():
    """With no reader of segment_entered/exited they are not handled as events; memberships, profile
    records and counts are the same as with a journey that reads them."""
    def run(journeys):
        big = _segment_ir("segment big\n  where count(buy within 1h) >= 2\n", "big")
        engine = Engine(journeys, [big], profiles=True, store=MemoryStore())
        for i, t in enumerate(range(0, 10 * 3_600_000, 1_200_000)):
            engine.process(Event("buy" if i % 8 < 2 else "view", "c1", t, {}, f"m{i}"))
        return engine.store.get("c1").segments, engine.drain_profile_records(), dict(engine.stats.segments)

    reader = _segment_ir('on segment_exited where segment == "nobody" -> send email "x"', "reader")
    assert run([]) == run([reader])
    assert run([])[2]["big"] == {"entered": 4, "exited": 4}


def _entries(engine) -> list:
    return [(r["customer_id"], r["cause"], r["segments_entered"], r["segments_exited"])
            for r in engine.drain_profile_records()]


def test_a_window_moved_after_timers_fired_on_an_unread_event_is_rechecked():
    """A `buy` nothing reads fires c1's timer, whose emitted view fills the window at 25m; by the buy at
    46m that view has left the 20-minute window again, so c1 is back in `quiet` at the buy, as a segment
    re-checked on every event says."""
    journey = compile_text("journey later\n  on ping\n  wait 25m\n  emit view\n", "later.journey").ir
    minute = 60_000

    def run(tail):
        quiet = _segment_ir(f"segment quiet\n  where count(view within 20m) < 1{tail}\n", "quiet")
        engine = Engine([journey], [quiet], profiles=True, store=MemoryStore())
        engine.process(Event("ping", "c1", 0, {}, "m1"))
        engine.process(Event("buy", "c1", 46 * minute, {}, "m2"))
        return engine.store.get("c1").segments, _entries(engine)

    segments, changes = run("")
    assert segments == {"quiet"}
    assert changes == [("c1", "m1", ["quiet"], []), ("c1", "m1/later/s2", [], ["quiet"]),
                       ("c1", "m2", ["quiet"], [])]
    assert (segments, changes) == run(" and now() >= 0")


def test_a_zero_width_window_holds_nothing_when_a_segment_is_checked_on_its_update():
    """`within 0s` counts nothing; `zero`, added by a reload, takes c1 in at its first buy."""
    def run(tail):
        other = _segment_ir("segment other\n  where count(view) >= 1\n", "other")
        zero = _segment_ir(f"segment zero\n  where count(buy within 0s) == 0{tail}\n", "zero")
        engine = Engine([], [other], profiles=True, store=MemoryStore())
        engine.process(Event("view", "c1", 0, {}, "m1"))
        engine.process(Event("view", "c2", 0, {}, "m2"))
        engine.load([], [other, zero])
        engine.process(Event("buy", "c1", 1000, {}, "m3"))
        return engine.store.get("c1").segments, _entries(engine)

    assert run("") == run(" and now() >= 0")
    assert run("")[0] == {"other", "zero"}


def test_a_segment_added_by_a_reload_takes_in_existing_customers_at_their_next_event():
    """`newcomers` holds for anyone without a buy; c1, seen before the reload, joins at its next event,
    even one that nothing reads, as a segment re-checked on every event does."""
    def run(tail):
        other = _segment_ir("segment other\n  where count(view) >= 1\n", "other")
        newcomers = _segment_ir(f"segment newcomers\n  where count(buy) == 0{tail}\n", "newcomers")
        engine = Engine([], [other], profiles=True, store=MemoryStore())
        engine.process(Event("view", "c1", 0, {}, "m1"))
        engine.load([], [other, newcomers])
        engine.process(Event("ping", "c1", 1000, {}, "m2"))
        members = set(engine.store.get("c1").segments)
        engine.process(Event("buy", "c1", 2000, {}, "m3"))
        return members, set(engine.store.get("c1").segments), _entries(engine)

    assert run("") == run(" and now() >= 0")
    assert run("")[:2] == ({"other", "newcomers"}, {"other"})


def test_reading_customers_back_from_a_store_changes_no_membership(tmp_path):
    """After a restart every customer gets a first look under the loaded segments: one whose
    membership already matches its condition must not enter or leave anything."""
    from journeyctl.engine.store.sqlite import SqliteStore
    from journeyctl.engine.store.open import checkpoint

    segments = [_segment_ir("segment busy\n  where count(buy within 1h) >= 2\n", "busy"),
                _segment_ir("segment newcomers\n  where count(buy) == 0\n", "newcomers")]
    first = Engine([], segments, store=SqliteStore(tmp_path / "s.db"), profiles=True)
    for i, (cid, name) in enumerate([("c1", "buy"), ("c1", "buy"), ("c2", "view"), ("c3", "buy")]):
        first.process(Event(name, cid, i * 1000, {}, f"m{i}"))
    before = {cid: set(first.store.get(cid).segments) for cid in ("c1", "c2", "c3")}
    assert before == {"c1": {"busy"}, "c2": {"newcomers"}, "c3": set()}
    checkpoint(first)
    first.store.close()
    engine = Engine([], segments, store=SqliteStore(tmp_path / "s.db"), profiles=True)
    for i, cid in enumerate(("c1", "c2", "c3")):
        engine.process(Event("ping", cid, 10_000 + i, {}, f"p{i}"))
    assert _entries(engine) == []
    assert {cid: engine.store.get(cid).segments for cid in ("c1", "c2", "c3")} == before
    engine.store.close()


V1 = 'journey j\n  on start\n  wait 1h\n  send email "later" with n = count(buy)\n'
V2 = 'journey j\n  on start\n  send email "now"\n'


def test_an_instance_on_an_earlier_version_reads_an_aggregate_the_reload_dropped():
    """The reloaded file no longer reads count(buy); the instance waiting on the first version does,
    and the engine keeps counting for it."""
    engine = Engine([_segment_ir(V1, "j")], store=MemoryStore())
    engine.process(Event("start", "c1", 0, {}, "a"))
    engine.process(Event("buy", "c1", 60_000, {}, "b"))
    engine.load([_segment_ir(V2, "j")])
    engine.process(Event("buy", "c1", 120_000, {}, "c"))
    assert [(a["template"], a["variables"]) for a in engine.advance_to(7_200_000)] == [("later", {"n": 2})]


def test_an_instance_on_an_earlier_version_reads_its_aggregate_after_a_restart(tmp_path):
    from journeyctl.engine.store.sqlite import SqliteStore
    from journeyctl.engine.store.open import checkpoint

    first = Engine([_segment_ir(V1, "j")], store=SqliteStore(tmp_path / "s.db"))
    first.process(Event("start", "c1", 0, {}, "a"))
    first.process(Event("buy", "c1", 60_000, {}, "b"))
    first.process(Event("buy", "c1", 70_000, {}, "b2"))
    checkpoint(first)
    first.store.close()
    engine = Engine([_segment_ir(V2, "j")], store=SqliteStore(tmp_path / "s.db"))
    actions = engine.process(Event("ping", "c1", 7_200_000, {}, "c"))
    assert [(a["template"], a["variables"]) for a in actions] == [("later", {"n": 2})]
    engine.store.close()
