"""Hypothesis properties of the engine core (issue 3), on journeys from a fixed pool and random event streams.

- per-customer independence: a customer's actions do not depend on other customers' events;
- determinism: the same input gives the same actions, ids included;
- a duplicate event (same message id, same customer) changes nothing;
- no action of an instance is due after a goal, `exit on` or `unless` ended that instance;
- split arms and the holdout are within 2 points of their shares over 100,000 customers (no hypothesis);
- determinism and independence again on random journeys from the grammar strategy (tests/strategies.py).

The pool is the 20 journeys of ../shared/tools/make-bench-input (spec syntax, copied as text) plus a few
that use `when`, `split`, `goal`, `exit on`, `quiet hours`, `cap` and `holdout` together.
"""
from __future__ import annotations

import gc
from collections import Counter

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import strategies as S  # tests/strategies.py (pytest puts tests/ on sys.path)
from journeyctl.dsl.compiler import compile_text
from journeyctl.engine.core.engine import MAX_EMITS, Engine
from journeyctl.engine.store.memory import MemoryStore
from journeyctl.engine.core.events import BadEvent, Event, parse_instant
from journeyctl.engine.replay.loop import replay

BENCH_JOURNEYS = {
    "cart_abandon": 'on cart_abandoned within 30m unless purchase -> send whatsapp "cart" or sms "cart_sms" with value = cart_value\n',
    "payment_failed": 'on payment_failed -> send sms "payment_failed" with amount = amount\n',
    "running_shoes": 'on product_viewed where category == "running_shoes" and profile.loyal == true -> send whatsapp "running_picks" with name = profile.first_name\n',
    "big_cart": 'journey big_cart\n  cap email 1 per 1d\n  on cart_abandoned where cart_value > 150\n  wait 2h unless purchase\n  send email "big_cart"\n',
    "onboarding": 'journey onboarding\n  reentry once\n  on signup_completed\n  send email "welcome"\n  when app_opened within 1d\n    send push "tips"\n  otherwise\n    send sms "need_help"\n',
    "inactivity": 'journey inactivity\n  reentry restart\n  on app_opened within 3d unless app_opened -> send email "we_miss_you"\n',
    "win_back": 'on app_opened where last_seen(app_opened) != null and now() - last_seen(app_opened) > 2d -> send push "welcome_back"\n',
    "loyalty": 'journey loyalty\n  reentry once\n  audience profile.tier != "gold"\n  on purchase where amount >= 180\n  set profile.tier = "gold"\n  emit tier_upgraded with tier = "gold"\n  send email "gold"\n',
    "gold_perks": 'on tier_upgraded where tier == "gold" -> send push "gold_perks"\n',
    "quiet_push": 'journey quiet_push\n  quiet hours 22:00-07:00\n  on price_dropped -> send push "price_drop" with sku = sku\n',
    "review": 'journey review\n  reentry concurrent by order_id\n  on order_delivered within 1d unless review_submitted where order_id == trigger.order_id -> send email "review"\n',
    "vip_branch": 'journey vip_branch\n  on purchase\n  if profile.ltv > 500\n    send email "vip_thanks"\n  else if profile.ltv > 100\n    send email "thanks"\n  else\n    send push "thanks"\n',
    "ab_test": 'journey ab_test\n  on signup_completed\n  split\n    a 50%\n      send email "variant_a"\n    b 50%\n      send push "variant_b"\n',
    "holdout": 'journey holdout\n  holdout 10%\n  on email_clicked where campaign == "spring" -> send push "spring_follow_up"\n',
    "goal_upsell": 'journey goal_upsell\n  goal purchase within 1d\n  exit on account_closed\n  on product_viewed where price > 190\n  wait 1h\n  send email "upsell"\n',
    "count_third": 'on purchase where count(purchase) == 3 -> send email "third_purchase"\n',
    "morning": 'journey morning\n  timezone "Asia/Kolkata"\n  reentry after 1d\n  on newsletter_signup\n  wait until 09:00\n  send email "digest"\n',
    "fraud": 'on payment_failed where amount > 150 -> send sms "fraud_check" or email "fraud_check"\n',
    "uninstall": 'on app_uninstalled within 1h unless app_installed -> send email "come_back"\n',
    "email_chain": 'journey email_chain\n  on email_clicked\n  wait 10m unless purchase\n  send push "still_interested"\n  wait 1h unless purchase\n  send sms "last_chance"\n',
}

EXTRA_JOURNEYS = {
    "when_goal": """journey when_goal "Nudge after sign-up"
  goal purchase within 2d
  exit on account_closed
  on signup_completed
  wait 1h unless account_closed
  when app_opened within 1d
    send push "tips"
  or when email_clicked where campaign == "spring" within 1d
    send email "spring_tips"
  otherwise
    send sms "need_help"
  send email "wrap_up"
""",
    "split_quiet": """journey split_quiet
  goal purchase where amount >= 100 within 1d
  exit on account_closed
  quiet hours 22:00-07:00
  holdout 10%
  on cart_abandoned
  split
    control 30%
      wait 2h unless purchase
      send email "reminder_control"
    treatment 70%
      send push "reminder_push" -> wait 1h -> send sms "reminder_sms"
""",
    "price_watch": """journey price_watch
  reentry restart
  exit on app_uninstalled
  quiet hours 21:00-08:00
  timezone "America/New_York"
  cap push 1 per 6h
  on price_dropped within 30m unless purchase or cart_abandoned where cart_value > 100
  send push "price_alert" with sku = sku, text = "Now {sku}!"
  wait 6h
  send push "price_again" or email "price_digest"
""",
    "order_followup": """journey order_followup
  reentry concurrent by order_id
  exit on account_closed
  on order_delivered
  when review_submitted where order_id == trigger.order_id within 2d
    send email "thanks_review"
  otherwise
    send email "please_review"
    wait 1d unless review_submitted where order_id == trigger.order_id
    send sms "last_call_review"
""",
    "vip_when": """journey vip_when
  reentry after 2h
  exit on account_closed where profile.tier == "gold"
  on purchase where amount >= 100
  if profile.ltv > 100
    when app_opened within 2h
      send push "vip_app"
    otherwise
      send email "vip_mail"
  else
    wait until 09:00
    send sms "regular"
""",
}

POOL_TEXT = {**BENCH_JOURNEYS, **EXTRA_JOURNEYS}


def _compile(name: str, text: str):
    compiled = compile_text(text, f"{name}.journey")
    assert compiled.ir is not None, [d.message for d in compiled.diagnostics]
    return compiled.ir


POOL = {name: _compile(name, text) for name, text in POOL_TEXT.items()}
NAMES = sorted(POOL)

# contact traits for reachability: whatsapp and sms need profile.phone (identify events may set it)
CHANNELS = {"whatsapp": "phone", "sms": "phone"}


def _events_of(irs, emitted: bool = True) -> set:
    """Every event name a set of journeys reacts to (triggers, goals, exits, waits, when, last_seen, count),
    and, with `emitted`, the names they emit."""
    names = set()

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "event" and isinstance(v, str) and (emitted or x.get("kind") != "emit"):
                    names.add(v)
                walk(v)
        elif isinstance(x, list):
            if len(x) >= 2 and x[0] in ("last_seen", "last") and isinstance(x[1], str):
                names.add(x[1])
            for v in x:
                walk(v)

    for ir in irs:
        walk(ir.to_dict())
    return names


def new_engine(names) -> Engine:
    return Engine([POOL[n] for n in names], channels=CHANNELS, store=MemoryStore())


def run(engine: Engine, events, end: int | None = None) -> list:
    """Feed events in order (none may be late: the streams are time-ordered), then advance to `end`."""
    out = []
    for ev in events:
        out.extend(engine.process(ev))
    if end is not None:
        out.extend(engine.advance_to(end))
    return out


# One example: a few journeys from the pool and a time-ordered stream over the events they use.
@st.composite
def scenarios(draw, customers=("c0", "c1", "c2"), max_size=40):
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    events = _events_of([POOL[n] for n in names]) | {"page_view"}  # page_view: an event no journey uses
    stream = draw(S.event_streams(events, customers=customers, max_size=max_size))
    return names, stream


def _end(stream) -> int:
    return stream[-1].time + 4 * 86_400_000  # past every wait in the pool: every timer has fired


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- per-customer independence --------------------------------------------------------------------


@SETTINGS
@given(scenarios(customers=("c0", "c1", "c2", "c3")))
def test_a_customers_actions_do_not_depend_on_other_customers(scenario):
    names, stream = scenario
    alone = [ev for ev in stream if ev.customer_id == "c0"]
    assume(alone)
    end = _end(stream)
    mixed = [a for a in run(new_engine(names), stream, end) if a["customer_id"] == "c0"]
    solo = run(new_engine(names), alone, end)
    assert mixed == solo


# ---- determinism ------------------------------------------------------------------------------------


@SETTINGS
@given(scenarios())
def test_same_input_same_actions_and_ids(scenario):
    names, stream = scenario
    end = _end(stream)
    first = run(new_engine(names), stream, end)
    second = run(new_engine(names), [_copy(ev) for ev in stream], end)
    assert first == second
    # an action id names (version, customer, instance, step), and no instance passes a step twice
    assert len({a["action_id"] for a in first}) == len(first)
    assert len({(a["journey_version"], a["customer_id"], a["instance_id"], a["step"]) for a in first}) == len(first)


def _copy(ev: Event) -> Event:
    return Event(ev.name, ev.customer_id, ev.time, dict(ev.properties), ev.message_id,
                 dict(ev.traits) if ev.traits is not None else None)


# ---- duplicates -------------------------------------------------------------------------------------

LATENESS = 5_000


@st.composite
def with_duplicates(draw):
    """A scenario and the same stream with re-sent copies of some events (same message id and customer),
    each placed after its original while the clock is still within the allowed lateness of it, so the
    copy is judged as a duplicate and not as a late event."""
    names, stream = draw(scenarios())
    out = list(stream)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(stream) - 1))
        original = stream[i]
        pos = out.index(original)
        # the clock at slot j is the latest time of everything before it (earlier copies included)
        clock = [max(e.time for e in out[:j]) for j in range(pos + 1, len(out) + 1)]
        slots = [j for j, c in zip(range(pos + 1, len(out) + 1), clock) if c <= original.time + LATENESS]
        out.insert(draw(st.sampled_from(slots)), _copy(original))
    return names, stream, out


@SETTINGS
@given(with_duplicates())
def test_a_duplicate_event_changes_nothing(case):
    names, stream, duplicated = case
    end = _end(stream)
    clean = run(new_engine(names), stream, end)
    engine = new_engine(names)
    dup = run(engine, duplicated, end)
    assert dup == clean
    # "ignored and counted, whatever its name" (section 6), read by a journey or not
    copies = Counter(ev.message_id for ev in duplicated) - Counter(ev.message_id for ev in stream)
    assert engine.stats.duplicates == sum(copies.values())


def test_an_event_no_journey_reads_is_counted_as_unused_and_its_id_remembered():
    """Spec section 6: a message id names one event, even one no journey reads, so a copy of it is a
    counted duplicate, also under a name some journey reads."""
    engine = Engine([_compile("welcome", "on signup_completed -> send email\n")], store=MemoryStore())
    page_view = Event("page_view", "c0", S.T0, {}, "m0")
    assert engine.process(page_view) == [] and engine.process(_copy(page_view)) == []
    assert (engine.stats.events, engine.stats.unused, engine.stats.duplicates) == (0, 1, 1)
    assert list(engine.store.get("c0").seen) == ["m0"]
    assert engine.process(Event("signup_completed", "c0", S.T0, {}, "m0")) == []
    assert engine.stats.duplicates == 2
    # an event a journey reads is remembered too
    signup = Event("signup_completed", "c0", S.T0, {}, "m1")
    assert len(engine.process(signup)) == 1 and engine.process(_copy(signup)) == []
    assert (engine.stats.events, engine.stats.duplicates) == (1, 3)


# ---- no reference cycles ---------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # (each collects)
@given(scenarios(), st.data())
def test_a_replay_makes_no_reference_cycles(scenario, data):
    """A replay runs with the cycle collector paused (replay.loop.collector_paused), which is safe only
    while the engine makes no garbage that only the collector frees: a history with a late event, a
    duplicate and a bad line in it, replayed and dropped, leaves nothing for the collector to find."""
    names, stream = scenario
    late = Event("page_view", "c0", stream[-1].time - 86_400_000, {}, "late")
    bad = BadEvent("invalid_json", "not valid JSON")
    items = [(n, b"{}", ev) for n, ev in enumerate(stream, 1)]
    at = data.draw(st.integers(0, len(items)))
    items[at:at] = [(0, b"[", bad), (0, b"{}", _copy(stream[0]))]
    items.append((0, b"{}", late))
    engine = new_engine(names)
    enabled = gc.isenabled()
    gc.unfreeze()  # (what the replay froze on its way out is looked at too)
    gc.collect()
    gc.disable()
    try:
        result = replay(engine, items, _end(stream))
        reasons = [d.reason for d in result.dead_letters]
        assert reasons[0] == "invalid_json" and reasons[-1] == "late"  # (the copy: a duplicate, or late)
        del engine, result
        gc.unfreeze()
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()


# ---- the same two properties on random journeys from the grammar strategy ------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(S.journeys(), st.data())
def test_generated_journeys_are_deterministic_and_per_customer(text, data):
    ir = _compile("generated", text)  # `on E -> emit E` included: the engine cuts such a chain (J131 warns)
    stream = data.draw(S.event_streams(_events_of([ir]) | {"page_view"}, max_size=30))
    end = _end(stream)
    first = run(Engine([ir], channels=CHANNELS, store=MemoryStore()), stream, end)
    assert run(Engine([ir], channels=CHANNELS, store=MemoryStore()), [_copy(ev) for ev in stream], end) == first
    solo = run(Engine([ir], channels=CHANNELS, store=MemoryStore()), [ev for ev in stream if ev.customer_id == "c0"], end)
    assert solo == [a for a in first if a["customer_id"] == "c0"]


def test_a_journey_that_emits_its_own_trigger_is_cut_after_max_emits_and_the_customer_goes_on():
    """The chain is cut by a count, not a clock: the input event and MAX_EMITS emitted copies run the
    journey, the cut is counted as an emit_loop dead letter, and the next event is handled alike."""
    compiled = compile_text("on purchase -> emit purchase\n", "loop.journey")
    assert compiled.ir is not None and [d.code for d in compiled.diagnostics] == ["J131"]
    engine = Engine([compiled.ir], store=MemoryStore())
    for n in (1, 2):
        assert engine.process(Event("purchase", "c0", S.T0 + n, {}, f"m{n}")) == []
        assert engine.stats.dead_letters["emit_loop"] == n
        assert engine.stats.journeys["loop"]["entered"] == engine.stats.journeys["loop"]["completed"] == n * (MAX_EMITS + 1)


# ---- nothing after the end of an instance -----------------------------------------------------------
#
# For each pool journey, the events that certainly end an instance, as (event, where, window):
# where(props, trigger_props) is the matcher's condition; window is how long after entry the event
# counts (None: any time). Only ends that are sure from the text alone are listed: a goal, an `exit on`,
# and an `unless` on a wait that starts at entry (or, for email_chain, two back-to-back waits).

H, D = 3_600_000, 86_400_000


def _num(v) -> bool:
    return type(v) in (int, float)


def _always(p, trig) -> bool:
    return True


ENDERS = {
    "cart_abandon": [("purchase", _always, 30 * 60_000)],
    "big_cart": [("purchase", _always, 2 * H)],
    "inactivity": [("app_opened", _always, 3 * D)],
    "review": [("review_submitted", lambda p, t: p.get("order_id") is not None
                and p.get("order_id") == t.get("order_id"), D)],
    "goal_upsell": [("purchase", _always, D), ("account_closed", _always, None)],
    "uninstall": [("app_installed", _always, H)],
    "email_chain": [("purchase", _always, 70 * 60_000)],  # wait 10m unless + send (no quiet hours) + wait 1h unless
    "when_goal": [("purchase", _always, 2 * D), ("account_closed", _always, None)],  # wait 1h unless: covered
    "split_quiet": [("purchase", lambda p, t: _num(p.get("amount")) and p["amount"] >= 100, D),
                    ("account_closed", _always, None)],
    "price_watch": [("app_uninstalled", _always, None), ("purchase", _always, 30 * 60_000),
                    ("cart_abandoned", lambda p, t: _num(p.get("cart_value")) and p["cart_value"] > 100,
                     30 * 60_000)],
    "order_followup": [("account_closed", _always, None)],
}
ENDING_POOL = sorted(ENDERS)


@st.composite
def ending_scenarios(draw):
    names = draw(st.lists(st.sampled_from(ENDING_POOL), min_size=1, max_size=3, unique=True))
    events = _events_of([POOL[n] for n in names])
    stream = draw(S.event_streams(events, customers=("c0", "c1"), max_size=40))
    return names, stream


def _ms(instant: str) -> int:
    return parse_instant(instant)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ending_scenarios())
def test_no_action_after_a_goal_exit_on_or_unless_ended_the_instance(scenario):
    names, stream = scenario
    actions = run(new_engine(names), stream, _end(stream))
    position = {ev.message_id: i for i, ev in enumerate(stream)}
    for a in actions:
        enders = ENDERS.get(a["journey"])
        if not enders or a["trigger_message_id"] not in position:
            continue  # started by an emitted event, or a journey without sure ends
        p = position[a["trigger_message_id"]]
        trigger = stream[p]
        ends = [ev.time for ev in stream[p + 1:]
                if ev.customer_id == trigger.customer_id and any(
                    ev.name == name and (window is None or ev.time < trigger.time + window)
                    and where(ev.properties, trigger.properties) for name, where, window in enders)]
        if ends:
            # a timer due exactly at the ending instant fires before the event (spec section 6)
            assert _ms(a["due_at"]) <= ends[0], (a, "instance ended at", ends[0])


def test_the_end_check_can_fail():
    """The property above is not vacuous: a purchase 10 minutes into cart_abandon's 30m wait must stop
    its send (the engine agrees), and the check would catch a send due after that purchase."""
    t0 = S.T0
    stream = [Event("cart_abandoned", "c0", t0, {"cart_value": 50}, "m0"),
              Event("purchase", "c0", t0 + 10 * 60_000, {}, "m1")]
    assert run(new_engine(["cart_abandon"]), stream, t0 + D) == []
    without = run(new_engine(["cart_abandon"]), stream[:1], t0 + D)
    assert [a["due_at"] for a in without] == ["2026-11-01T00:30:00.000Z"]  # after the purchase: would fail


# ---- split and holdout shares over 100,000 customers --------------------------------------------------

SHARES_JOURNEYS = {
    "ab": """journey ab
  holdout 10%
  on signup_completed
  split
    a 30%
      send email "arm_a"
    b 70%
      send email "arm_b"
""",
    "abc": """journey abc
  on signup_completed
  split
    x 20%
      send push "arm_x"
    y 30%
      send push "arm_y"
    z 50%
      send push "arm_z"
""",
}


def test_split_and_holdout_shares_over_100000_customers():
    n = 100_000
    engine = Engine([_compile(k, v) for k, v in SHARES_JOURNEYS.items()], store=MemoryStore())
    actions = []
    for i in range(n):
        actions += engine.process(Event("signup_completed", f"cust-{i}", S.T0 + i, {}, f"m{i}"))
    actions += engine.advance_to(S.T0 + n + 1)
    ab = {a["customer_id"]: a for a in actions if a["journey"] == "ab"}
    abc = {a["customer_id"]: a["template"] for a in actions if a["journey"] == "abc"}
    assert len(ab) == len(abc) == n  # every customer got exactly one action per journey

    def share(selected, total):
        return 100 * len(selected) / len(total)

    held = [c for c, a in ab.items() if a["status"] == "held_out"]
    assert abs(share(held, ab) - 10) <= 2
    assert {a["status"] for a in ab.values()} == {"send", "held_out"}
    arm_a = [c for c, a in ab.items() if a["template"] == "arm_a"]
    assert abs(share(arm_a, ab) - 30) <= 2
    assert abs(share([c for c, a in ab.items() if a["template"] == "arm_b"], ab) - 70) <= 2
    for template, pct in (("arm_x", 20), ("arm_y", 30), ("arm_z", 50)):
        assert abs(share([c for c, t in abc.items() if t == template], abc) - pct) <= 2, template
    # the holdout and the split draw independently: the held-out group splits 30/70 as well
    assert abs(share([c for c in held if ab[c]["template"] == "arm_a"], held) - 30) <= 2
    # and two journeys split independently (the journey id is part of the hash)
    assert abs(share([c for c in arm_a if abc[c] == "arm_x"], arm_a) - 20) <= 2
    # stable: the same customer lands in the same arm on every run
    again = Engine([_compile("ab", SHARES_JOURNEYS["ab"])], store=MemoryStore())
    for i in range(0, n, 997):
        c = f"cust-{i}"
        (a,) = again.process(Event("signup_completed", c, S.T0, {}, "x"))
        assert (a["template"], a["status"]) == (ab[c]["template"], ab[c]["status"])
