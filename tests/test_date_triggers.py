"""Date triggers (`on date EXPR [yearly] [at HH:MM]`, issue 17 section 2) beyond the conformance case
tests/cases/date_trigger: a schedule survives a restart in every store, the trace says why a date was
(not) scheduled, and a date journey reads no event (J133)."""
import pytest

from journeyctl.dsl.compiler import compile_text
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import format_instant, parse_event, parse_instant
from journeyctl.engine.store.memory import MemoryStore
from journeyctl.engine.store.open import checkpoint, open_store

RENEWAL = "journey renewal\n  on date profile.renewal_due - 7d at 09:00\n  send email \"renewal_reminder\"\n"


def identify(customer: str, at: str, **traits):
    import json
    return parse_event(json.dumps({"type": "identify", "userId": customer, "timestamp": at,
                                   "messageId": f"{customer}-{at}", "traits": traits}).encode())


def journeys(*texts):
    irs = [compile_text(t, f"j{i}.journey").ir for i, t in enumerate(texts)]
    assert all(irs)
    return irs


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_scheduled_date_survives_a_restart(kind, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'state.db'}" if kind == "sqlite" else request.getfixturevalue("pg_state")[0]
    irs = journeys(RENEWAL)
    engine = Engine(irs, store=open_store(url))
    assert engine.process(identify("a", "2026-03-01T00:00:00Z", renewal_due="2026-03-20")) == []
    checkpoint(engine)
    engine.store.close()

    engine = Engine(irs, store=open_store(url))  # a new process: the timer comes back from the store
    assert engine.next_due() == parse_instant("2026-03-13T09:00:00Z")
    fired = [a.as_dict() for a in engine.advance_to(parse_instant("2026-04-01T00:00:00Z"))]
    assert [(a["customer_id"], a["template"], a["due_at"], a["trigger_message_id"]) for a in fired] == [
        ("a", "renewal_reminder", "2026-03-13T09:00:00.000Z", "date:2026-03-13T09:00:00.000Z")]
    checkpoint(engine)
    engine.store.close()

    engine = Engine(irs, store=open_store(url))  # fired once for that date: the same value again is no date
    assert engine.next_due() is None
    assert engine.process(identify("a", "2026-04-02T00:00:00Z", renewal_due="2026-03-20", plan="pro")) == []
    assert engine.next_due() is None
    engine.store.close()


def test_the_trace_says_why_a_date_is_or_is_not_scheduled():
    engine = Engine(journeys(RENEWAL), store=MemoryStore(), trace_customer="a")
    for at, due in (("2026-03-01T00:00:00Z", "2026-03-20"), ("2026-03-02T00:00:00Z", "2026-03-05"),
                    ("2026-03-03T00:00:00Z", None), ("2026-03-04T00:00:00Z", "soon"),
                    ("2026-03-05T00:00:00Z", "2026-03-25")):
        engine.process(identify("a", at, renewal_due=due))
    engine.advance_to(parse_instant("2026-03-31T00:00:00Z"))
    engine.process(identify("a", "2026-03-31T00:00:00Z", renewal_due="2026-03-25", plan="pro"))
    assert [(format_instant(t), text) for t, _, text in engine.trace] == [
        ("2026-03-01T00:00:00.000Z", "on date: scheduled for 2026-03-13T09:00:00.000Z"),
        ("2026-03-02T00:00:00.000Z", "on date: not scheduled, 2026-02-26T09:00:00.000Z has passed"),
        ("2026-03-05T00:00:00.000Z", "on date: scheduled for 2026-03-18T09:00:00.000Z"),
        ("2026-03-18T09:00:00.000Z", "on date: 2026-03-18T09:00:00.000Z has come"),
        ("2026-03-18T09:00:00.000Z", "entered"),
        ("2026-03-18T09:00:00.000Z", "send at s1: send (on email)"),
        ("2026-03-18T09:00:00.000Z", "instance completed"),
    ]
    assert engine.aggregates.warnings.not_times == 1  # "soon"


def test_the_same_date_is_not_fired_twice_after_being_moved_away_and_back():
    engine = Engine(journeys(RENEWAL), store=MemoryStore())
    engine.process(identify("a", "2026-03-01T00:00:00Z", renewal_due="2026-03-20"))
    sent = engine.advance_to(parse_instant("2026-03-14T00:00:00Z"))
    engine.process(identify("a", "2026-03-14T00:00:00Z", renewal_due="2026-04-20"))
    engine.process(identify("a", "2026-03-14T00:00:01Z", renewal_due="2026-03-20"))  # back: its date has passed
    sent += engine.advance_to(parse_instant("2026-05-01T00:00:00Z"))
    assert [a.as_dict()["due_at"] for a in sent] == ["2026-03-13T09:00:00.000Z"]


def test_a_journey_removed_drops_its_schedule_when_the_date_comes():
    irs = journeys(RENEWAL)
    store = MemoryStore()
    engine = Engine(irs, store=store)
    engine.process(identify("a", "2026-03-01T00:00:00Z", renewal_due="2026-03-20"))
    engine.load([])
    assert engine.advance_to(parse_instant("2026-04-01T00:00:00Z")) == []
    assert store.get("a").next_due() is None and not store.get("a")._dates


@pytest.mark.parametrize("source, column, message, hint", [
    ('journey j\n  on date profile.trial_ends - 3d\n  send email "x" with plan = plan\n', 30,
     "this journey starts on a date, with no event: `plan` reads nothing", "read a trait instead: profile.plan"),
    ('journey j\n  on date trial_ends - 3d\n  send email "x"\n', 11,
     "this journey starts on a date, with no event: `trial_ends` reads nothing",
     "read a trait instead: profile.trial_ends"),
    ('journey j\n  on date now() + 3d\n  send email "x"\n', 11,
     "now() cannot be read in the date of `on date`: it is worked out from the profile whenever a trait changes",
     "write it with traits and durations, like: on date profile.renewal_due - 7d"),
])
def test_a_date_journey_reads_no_event(source, column, message, hint):
    found = [(d.code, d.span.column, d.message, d.hint) for d in compile_text(source).diagnostics]
    assert found == [("J133", column, message, hint)]


def test_an_event_named_date_still_works_and_date_is_a_property_name():
    ir = compile_text('on date where date > 1 -> send email "x"\n').ir
    assert ir.trigger["event"] == "date" and ir.trigger["where"] == ["bin", ">", ["ref", "event", ["date"]], ["lit", 1]]


def test_inspect_shows_a_customers_dates_and_per_item_windows(tmp_path):
    import json

    from click.testing import CliRunner

    from journeyctl.engine.cli.main import main
    (tmp_path / "renewal.journey").write_text(RENEWAL)
    (tmp_path / "browse.journey").write_text("on product_viewed where count(product_viewed within 1d per sku) >= 3"
                                             " -> send push\n")
    (tmp_path / "events.jsonl").write_text(
        '{"type":"identify","userId":"a","timestamp":"2026-03-01T00:00:00Z","traits":{"renewal_due":"2026-03-20"}}\n'
        '{"event":"product_viewed","customer_id":"a","timestamp":"2026-03-01T00:01:00Z","properties":{"sku":"X"}}\n')
    url = f"sqlite:///{tmp_path / 'state.db'}"
    ran = CliRunner().invoke(main, ["simulate", str(tmp_path / "renewal.journey"), str(tmp_path / "browse.journey"),
                                    "--events", str(tmp_path / "events.jsonl"), "--state", url, "--format", "jsonl"])
    assert ran.exit_code == 0, ran.output
    data = json.loads(CliRunner().invoke(main, ["inspect", "a", "--state", url, "--format", "json"]).output)
    assert data["dates"] == {"renewal": {"due": "2026-03-13T09:00:00.000Z", "fired": None}}
    assert list(data["aggregates"].values()) == [[["2026-03-01T00:01:00.000Z", "X", 1]]]
