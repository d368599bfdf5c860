"""De-duplication by message id (spec section 6, issue 15 item 8): a message id names one event, so a
copy within the window (24 h of event time by default, `dedup_window` in journeyctl.yaml) is ignored
whatever its name, even when no journey read the first copy; a copy further apart is applied again;
memory is bounded by time, not by a count of ids."""
from __future__ import annotations

import json
import sqlite3

import orjson
import pytest
from click.testing import CliRunner

from journeyctl.dsl.compiler import compile_text
from journeyctl.dsl.project.config import load_config
from journeyctl.engine.cli.main import main
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import Event, format_instant
from journeyctl.engine.store.memory import MemoryStore
from journeyctl.engine.store.open import checkpoint
from journeyctl.engine.store.sqlite import SqliteStore

T0 = 1_772_452_800_000  # 2026-03-02T12:00:00Z
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR

JOURNEYS = {
    "hello": 'on app_opened -> send email "hello"\n',
    "second": 'on purchase where count(purchase) == 2 -> send email "second"\n',
    "gold": 'journey gold\n  reentry once\n  on purchase where sum(purchase.amount) >= 150\n  send email "gold"\n',
}
SEGMENT = {"browsers": "segment browsers\n  where count(app_opened within 1h) >= 2\n"}


def compiled(texts: dict) -> tuple[list, list]:
    irs = [compile_text(text, f"{name}.journey").ir for name, text in texts.items()]
    return [i for i in irs if i.kind == "journey"], [i for i in irs if i.kind == "segment"]


def run(events, store=None, texts=JOURNEYS, restart_at=(), **options) -> tuple[list[tuple], Engine]:
    """(journey, customer, template) of every action, and the last engine. Before each position in
    `restart_at` the engine checkpoints, the store closes and a new engine opens it again."""
    journeys, segments = compiled(texts)
    opener = store or MemoryStore
    engine = Engine(journeys, segments, store=opener(), **options)
    out = []
    for i, ev in enumerate(events):
        if i in restart_at:
            checkpoint(engine)
            engine.store.close()
            engine = Engine(journeys, segments, store=opener(), **options)
        out += engine.process(ev)
    out += engine.advance_to(max(ev.time for ev in events) + DAY)
    return [(a["journey"], a["customer_id"], a["template"]) for a in out], engine


def ev(name, at, mid, customer="c10", **props) -> Event:
    return Event(name, customer, at, props, mid)


def others(n: int, start: int, customer: str = "c10") -> list[Event]:
    """`n` events some journey reads, a minute apart, with ids of their own."""
    return [ev("app_opened", start + i * MIN, f"o{i}", customer) for i in range(n)]


def _one_memory_store():
    store = MemoryStore()  # a restart builds a new engine over the same objects
    return lambda: store


STORES = {
    "memory": lambda tmp: _one_memory_store(),
    "sqlite, cache 1": lambda tmp: lambda: SqliteStore(tmp / "s.db", cache_size=1),
}


@pytest.mark.parametrize("store", sorted(STORES))
@pytest.mark.parametrize("texts", [JOURNEYS, {**JOURNEYS, **SEGMENT}], ids=["journeys", "with a segment"])
def test_a_copy_of_an_event_no_journey_reads_is_a_duplicate(tmp_path, store, texts):
    """Issue 14's m13: first as subscription_started (read by nobody), then as app_opened."""
    events = [ev("subscription_started", T0, "m13"), ev("app_opened", T0 + MIN, "x1", "c11"),
              ev("app_opened", T0 + 2 * MIN, "m13")]
    actions, engine = run(events, STORES[store](tmp_path), texts)
    assert actions == [("hello", "c11", "hello")]
    assert (engine.stats.duplicates, engine.stats.unused, engine.stats.events) == (1, 1, 1)
    restarted, _ = run(events, STORES[store](tmp_path / "again"), texts, restart_at={1, 2})
    assert restarted == actions


def test_a_repeated_purchase_65_events_later_is_not_counted_twice():
    events = [ev("purchase", T0, "p1", amount=100), *others(65, T0 + MIN),
              ev("purchase", T0 + 2 * HOUR, "p1", amount=100)]
    actions, engine = run(events)
    assert actions == [("hello", "c10", "hello")] * 65  # no "second", no "gold" on a doubled sum
    assert engine.stats.duplicates == 1
    actions, _ = run(events + [ev("purchase", T0 + 3 * HOUR, "p2", amount=60)])
    assert actions[65:] == [("second", "c10", "second"), ("gold", "c10", "gold")]


@pytest.mark.parametrize("window, options", [(DAY, {}), (HOUR, {"dedup_window": HOUR})], ids=["24h", "1h"])
def test_a_copy_is_a_duplicate_within_the_window_and_applied_again_beyond_it(window, options):
    def second_after(gap: int) -> list:
        actions, _ = run([ev("purchase", T0, "p1", amount=10), ev("purchase", T0 + gap, "p1", amount=10)], **options)
        return actions

    assert second_after(window - 1) == []
    assert second_after(window) == [("second", "c10", "second")]
    assert second_after(-4_000) == []  # a copy stamped earlier, within the allowed lateness
    # applied again, the id counts from that copy
    actions, engine = run([ev("purchase", T0, "p1", amount=10), ev("purchase", T0 + window, "p1", amount=10),
                           ev("purchase", T0 + window + 1, "p1", amount=10),
                           ev("purchase", T0 + 2 * window, "p1", amount=10)], **options)
    assert actions == [("second", "c10", "second")] and engine.stats.duplicates == 1


def test_a_zero_window_turns_de_duplication_off():
    actions, engine = run([ev("purchase", T0, "p1", amount=10), ev("purchase", T0, "p1", amount=10)], dedup_window=0)
    assert actions == [("second", "c10", "second")] and engine.stats.duplicates == 0


def test_ids_are_kept_for_the_window_only_and_stored_with_their_time(tmp_path):
    """Memory is bounded by time: a customer with an event every 10 minutes for 3 days keeps the ids of
    its last day (and the allowed lateness), each with its event time, in the store too."""
    events = [ev("heartbeat" if i % 2 else "app_opened", T0 + i * 10 * MIN, f"e{i}") for i in range(3 * 144)]
    _, engine = run(events, lambda: SqliteStore(tmp_path / "s.db"))
    last = events[-1].time
    expected = {e.message_id: e.time for e in events if e.time > last - DAY - 5_000}
    checkpoint(engine)
    engine.store.close()
    with SqliteStore(tmp_path / "s.db") as store:
        assert store.get("c10").seen == expected
    assert len(expected) == 145


def test_ids_in_state_from_before_schema_5_count_as_seen_at_the_next_event(tmp_path):
    path = tmp_path / "s.db"
    with SqliteStore(path) as store:
        store.commit()
    with sqlite3.connect(path) as conn:  # what journeyctl wrote before ids had times
        conn.execute("INSERT INTO customers (customer_id, state) VALUES ('c10', ?)",
                     (orjson.dumps({"m": ["p1", "p2"]}),))
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
        for column in ("clock", "fingerprint"):  # what migration 6 added: a file at schema 4 has neither
            conn.execute(f"ALTER TABLE offsets DROP COLUMN {column}")
    events = [ev("purchase", T0, "p1", amount=10), ev("purchase", T0 + HOUR, "p2", amount=10),
              ev("purchase", T0 + DAY, "p1", amount=10)]  # a day after the first event read them: applied
    actions, engine = run(events, lambda: SqliteStore(path))
    assert engine.stats.duplicates == 2 and engine.stats.events == 1 and actions == []


# ---- the project config and the commands ---------------------------------------------------------

def test_dedup_window_is_read_from_the_project_config(tmp_path):
    (tmp_path / "journeyctl.yaml").write_text("dedup_window: 2h\n")
    config = load_config(cwd=tmp_path)
    assert config.ok and config.dedup_window == 2 * HOUR
    assert load_config(cwd=tmp_path / "nowhere").dedup_window is None  # the engine's default, 24 h
    (tmp_path / "journeyctl.yaml").write_text("channels:\n  sms: phone\ndedup_window: two hours\n")
    bad = load_config(cwd=tmp_path)
    assert [(d.code, d.span.line) for d in bad.diagnostics] == [("J009", 3)]
    assert "dedup_window" in bad.diagnostics[0].message and "24h" in bad.diagnostics[0].hint


def _lines(*events) -> str:
    return "".join(json.dumps({"event": name, "customer_id": "c10", "timestamp": format_instant(at),
                               "message_id": mid, "properties": {"amount": 10}}) + "\n"
                   for name, at, mid in events)


def _simulate(tmp_path, events_text: str, *extra) -> list[dict]:
    """The actions of `simulate`, with the project config at tmp_path (not the working folder's)."""
    (tmp_path / "events.jsonl").write_text(events_text)
    result = CliRunner().invoke(main, ["simulate", str(tmp_path / "j"), "--events", str(tmp_path / "events.jsonl"),
                                       "--format", "jsonl", "--config", str(tmp_path / "journeyctl.yaml"), *extra])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]


@pytest.fixture
def journeys_folder(tmp_path):
    (tmp_path / "j").mkdir()
    for name, text in JOURNEYS.items():
        (tmp_path / "j" / f"{name}.journey").write_text(text)
    (tmp_path / "journeyctl.yaml").write_text("allowed_lateness: 5s\n")
    return tmp_path


def test_simulate_uses_the_configs_window(journeys_folder):
    tmp = journeys_folder
    events = _lines(("purchase", T0, "p1"), ("purchase", T0 + 2 * HOUR, "p1"))
    assert _simulate(tmp, events) == []  # 24 h: the copy is a duplicate
    (tmp / "journeyctl.yaml").write_text("dedup_window: 1h\n")
    actions = _simulate(tmp, events)
    assert [a["template"] for a in actions] == ["second"]


def test_simulate_across_runs_remembers_the_ids_of_events_no_journey_reads(journeys_folder):
    tmp = journeys_folder
    state = f"sqlite:///{tmp / 'state.db'}"
    assert _simulate(tmp, _lines(("subscription_started", T0, "m13")), "--state", state) == []
    assert _simulate(tmp, _lines(("app_opened", T0 + MIN, "m13")), "--state", state) == []
    actions = _simulate(tmp, _lines(("app_opened", T0 + 2 * MIN, "m14")), "--state", state)
    assert [a["template"] for a in actions] == ["hello"]
