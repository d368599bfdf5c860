"""The run loop (engine/live/loop.py) on the in-memory cluster (engine/testing/memory_cluster.py) and a real
SQLite file: batching, rebalances, a broker away, a recreated topic, and what a bug of ours costs (one
record, or one timer parked), without a broker. The same loop on Kafka: test_run_*.py.

The poison used is real, not a mock: `set profile.score = profile.score * profile.score` squares an
integer at each `bump`; from 2**2048 on, `profile.score / 2` raises OverflowError inside the engine
(no check can see it coming: it depends on the data)."""
from __future__ import annotations

import json
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import event, expected_actions
from test_event_fuzz import JOURNEYS as FUZZ_JOURNEYS, SEGMENT as FUZZ_SEGMENT, hostile_event
from journeyctl.engine.core.events import REASONS, format_instant
from journeyctl.dsl.compiler import compile_text
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.live.loop import Live, LiveSettings
from journeyctl.engine.live.outbox import Outbox
from journeyctl.engine.store.faults import StoreFault
from journeyctl.engine.store.memory import MemoryStore
from journeyctl.engine.store.sqlite import SqliteStore
from journeyctl.engine.testing.memory_cluster import MemoryCluster

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
GROW = {"grow": 'on bump -> set profile.score = profile.score * profile.score -> '
                'send email "grown" with half = profile.score / 2\n',
        "count": 'on ping -> set profile.n = profile.n + 1 -> send sms "pinged" with n = profile.n\n'}
GROW_LATER = {"grow": 'journey grow\n  on bump\n  set profile.score = profile.score * profile.score\n'
                      '  wait 1m\n  send email "grown" with half = profile.score / 2\n'}
PLAIN = {"cart": 'on cart_abandoned within 10m unless purchase -> send sms "cart" with value = cart_value\n',
         "pay": 'on payment_failed -> send email "pay" with amount = amount\n'}


class Report:
    def __init__(self):
        self.notes: list[str] = []
        self.acted: list[dict] = []

    def actions(self, actions):
        self.acted.extend(actions)

    def handed(self, actions, arrived_at, handed_at):
        pass

    def status(self, live):
        pass

    def note(self, text):
        self.notes.append(text)


class Harness:
    """One Live worker over `store` on `cluster` (topics events, actions, dead, profiles), event time only
    (no wall clock: what fires is decided by the events), asking the broker at every step."""

    def __init__(self, journeys: dict, store, cluster: MemoryCluster | None = None, partitions: int = 1,
                 worker: str | None = None, **settings):
        self.journeys = journeys
        self.cluster = cluster or MemoryCluster()
        for topic in ("events", "actions", "dead", "profiles"):
            self.cluster.create(topic, partitions)
        self.store = store
        irs = [compile_text(text, f"{name}.journey").ir for name, text in journeys.items()]
        self.engine = Engine([ir for ir in irs if ir.kind == "journey"], [ir for ir in irs if ir.kind == "segment"],
                             store=store, lateness=1_000, profiles=True)
        store.commit()
        self.report = Report()
        options = dict(events_topics=("events",), actions_topic="actions", dead_letter_topic="dead",
                       profiles_topic="profiles", wall_clock=False, tick_s=0, ask_broker_s=0, status_s=3600)
        if worker is not None:  # a store shared by workers (PostgreSQL): own only what the group assigns
            options["shared"] = True
        outbox = Outbox(store, "actions", "dead", profiles_topic="profiles", worker=worker)
        self.live = Live(self.engine, outbox, self.cluster, LiveSettings(**{**options, **settings}), self.report)
        self.live.start()

    def send(self, values: list[bytes]) -> None:
        for v in values:
            self.cluster.produce("events", orjson.loads(v)["customer_id"].encode(), v)

    def run(self, until=None, steps: int = 50) -> None:
        """Step until `until()` holds (and at least until everything produced is read and committed)."""
        for _ in range(steps):
            self.live.step()
            lags = self.live.source.lags()
            if (until is None or until()) and lags is not None and not any(lags.values()) \
                    and self.live._batch.empty() and not self.live.outbox_waiting:
                return
        raise AssertionError(f"not done after {steps} steps; notes: {self.report.notes}")

    def actions(self) -> list[dict]:
        return [orjson.loads(v) for v in self.cluster.values("actions")]

    def dead(self) -> list[dict]:
        return [orjson.loads(v) for v in self.cluster.values("dead")]

    def stop(self) -> None:
        self.live.stop()
        self.live.shutdown()


def identify(customer: str, at: int, mid: str, **traits) -> bytes:
    return orjson.dumps({"type": "identify", "customer_id": customer, "timestamp": _iso(at), "message_id": mid,
                         "traits": traits})


def _iso(ms: int) -> str:
    from journeyctl.engine.core.events import format_instant

    return format_instant(ms)


def grow_stream() -> list[bytes]:
    """c1 squares its score at each bump: the sixth bump's `score / 2` overflows. c2 counts pings around it."""
    out = [identify("c1", T0, "i1", score=2 ** 32, email="c1@example.com"),
           identify("c2", T0, "i2", n=0, phone="+351900000002")]
    t = T0 + 1_000
    for i in range(1, 9):
        out.append(event("bump", "c1", t, f"b{i}"))
        out.append(event("ping", "c2", t + 1, f"p{i}"))
        t += 1_000
    return out


def pays(n: int, tag: str = "c", at: int = T0) -> list[bytes]:
    return [event("payment_failed", f"{tag}{i}", at + i, f"{tag}-f{i}", amount=i) for i in range(n)]


def assert_replayed(h: Harness, values: list[bytes], until: int = T0 + 1_000) -> None:
    """Every action a replay of `values` gives came out once, and nothing else."""
    got = Counter(a["action_id"] for a in h.actions())
    assert got == Counter(a["action_id"] for a in expected_actions(h.journeys, values, until, 1_000))


def as_store(engine: Engine) -> dict:
    """The engine's in-memory view that must match the store: clock, lanes, counts, scheduled timers. (Not
    the notes the stats carry for the web UI, the lag last seen and the versions loaded: the loop writes
    them afresh at every commit.)"""
    stats = engine.stats.to_dict()
    stats.pop("lag", None), stats.pop("current", None)
    return {"clock": engine.clock, "lanes": dict(engine.lanes), "stats": stats,
            "timers": sorted((due, cid) for cid, due in engine._scheduled.items())}


# ---- the seam: the loop's ordinary work --------------------------------------------------------------

def test_a_stream_over_three_partitions_gives_what_a_replay_gives(tmp_path):
    h = Harness(PLAIN, SqliteStore(tmp_path / "state.db"), partitions=3, max_records=7)
    values = []
    for i in range(40):
        c = f"c{i % 11}"
        values.append(event("cart_abandoned", c, T0 + i * 1_000, f"a{i}", cart_value=i))
        if i % 3 == 0:
            values.append(event("purchase", c, T0 + i * 1_000 + 500, f"p{i}"))
        if i % 5 == 0:
            values.append(event("payment_failed", c, T0 + i * 1_000 + 700, f"f{i}", amount=i))
    values.append(event("tick", "late-comer", T0 + 3_600_000, "end"))  # moves every partition's time on
    h.send(values)
    h.run()
    # each partition's time moved only with its own events (the last one reached one partition only), and
    # with event time alone, partitions caught up hold nobody back: every wait up to the last event fired
    assert len(set(h.engine.lanes.values())) > 1
    got = Counter(a["action_id"] for a in h.actions())
    want = expected_actions(PLAIN, values, T0 + 3_600_000, 1_000)
    assert got == Counter(a["action_id"] for a in want) and max(got.values()) == 1
    positions = h.store.positions()
    assert {p: o for p, (o, _, _) in positions.items()} == {
        ("events", p): len(log.records) for p, log in enumerate(h.cluster.topics["events"].logs)}
    h.stop()


def test_a_rebalance_away_and_back_loses_and_repeats_nothing(tmp_path):
    h = Harness(PLAIN, SqliteStore(tmp_path / "state.db"), partitions=4)
    first = pays(20)
    h.send(first)
    h.run()
    other = h.cluster.source(["events"], h.live.settings.group_id, lambda parts: {})  # a second member joins
    h.live.step()
    assert len(h.live.owned) == 2, h.report.notes
    second = pays(20, "d", T0 + 100)
    h.send(second)
    h.live.step()  # reads only its two partitions' share
    other.close()  # ... and leaves, having read nothing: its two come back, read from the stored offsets
    h.run(lambda: len(h.live.owned) == 4)
    assert_replayed(h, first + second)
    h.stop()


def test_a_broker_away_costs_nothing_and_what_waited_is_delivered_after(tmp_path):
    h = Harness(PLAIN, SqliteStore(tmp_path / "state.db"))
    values = pays(10)
    h.send(values[:5])
    h.run()
    h.cluster.down = True
    h.live.step()
    h.live.step()
    assert h.live.counts.broker == "unreachable"
    h.cluster.down = False
    h.send(values[5:])
    h.run()
    assert h.live.counts.broker == "ok"
    assert_replayed(h, values)
    h.stop()


def test_a_recreated_topic_is_read_from_its_start(tmp_path):
    h = Harness(PLAIN, SqliteStore(tmp_path / "state.db"))
    h.send(pays(10))
    h.run()
    h.cluster.recreate("events")
    again = pays(3, "n", T0 + 100)
    h.send(again)
    h.run(lambda: h.live.recreated)
    assert h.live.recreated == 1 and any("recreated" in n for n in h.report.notes)
    assert {a["customer_id"] for a in h.actions()} >= {"n0", "n1", "n2"}
    h.stop()


# ---- engine errors: a bug of ours costs one record, or one timer -------------------------------------

def test_a_record_that_makes_the_engine_raise_is_dead_lettered_and_the_rest_applied_once(tmp_path):
    h = Harness(GROW, SqliteStore(tmp_path / "state.db"), max_records=5)
    values = grow_stream()
    h.send(values)
    h.run()
    # b6 squares the score to 2**2048, and `score / 2` raises: b6 is rolled back, so b7 and b8 square the
    # same score and raise too; each is its own engine_error, the rest goes on
    dead = h.dead()
    assert [(d["reason"], orjson.loads(d["value"])["message_id"]) for d in dead] == \
        [("engine_error", "b6"), ("engine_error", "b7"), ("engine_error", "b8")]
    assert all(d["detail"].startswith("OverflowError: ") and "Traceback" not in d["detail"] for d in dead)
    assert [d["offset"] for d in dead] == [12, 14, 16] and dead[0]["partition"] == 0
    # everything else applied exactly once, though batches were dropped and read again: c2 counted
    # every ping, c1 squared five times (b1..b5)
    assert h.store.get("c2").profile["n"] == 8
    assert h.store.get("c1").profile["score"] == 2 ** 1024
    got = Counter(a["action_id"] for a in h.actions())
    assert max(got.values()) == 1
    assert sorted(a["variables"]["n"] for a in h.actions() if a["template"] == "pinged") == list(range(1, 9))
    assert len([a for a in h.actions() if a["template"] == "grown"]) == 5
    assert h.engine.stats.dead_letters["engine_error"] == 3 and h.live.counts.engine_errors == 3
    # the traceback is in the log once (one place in the code raised), later ones are one line
    shown = [n for n in h.report.notes if "engine error while applying" in n]
    assert sum("Traceback" in n for n in shown) == 1 and "OverflowError" in shown[0]
    h.stop()


def test_the_engine_holds_what_the_store_holds_after_a_rollback(tmp_path):
    db = tmp_path / "state.db"
    h = Harness(GROW, SqliteStore(db), max_records=3)
    h.send(grow_stream())
    h.run()
    assert h.live.counts.engine_errors >= 1
    seen = as_store(h.engine)
    h.stop()
    fresh = Harness(GROW, SqliteStore(tmp_path / "state.db"))  # a restart reads the store
    fresh.live.step()
    restarted = as_store(fresh.engine)
    assert restarted["stats"] == seen["stats"] and restarted["timers"] == seen["timers"]
    assert restarted["lanes"] == seen["lanes"] and restarted["clock"] == seen["clock"]
    fresh.stop()


def test_a_timer_that_raises_is_parked_counted_shown_and_never_retried_in_a_loop(tmp_path):
    from click.testing import CliRunner

    from journeyctl.engine.cli.run import retry_parked
    from journeyctl.engine.cli.inspect import inspect
    from journeyctl.engine.cli.status import status

    db = tmp_path / "state.db"
    h = Harness(GROW_LATER, SqliteStore(db), max_records=4)
    values = [identify("c1", T0, "i1", score=2 ** 32, email="c1@example.com")]
    values += [event("bump", "c1", T0 + i * 120_000, f"b{i}") for i in range(1, 7)]
    values.append(event("noise", "c9", T0 + 3_600_000, "n1"))  # moves time on: every wait falls due
    h.send(values)
    h.run()
    # b6's timer raised when it fired (2**2048 / 2): parked, with a dead letter naming it, not the record
    grown = [a for a in h.actions() if a["template"] == "grown"]
    assert len(grown) == 5
    (dead,) = h.dead()
    assert dead["reason"] == "engine_error" and dead["detail"].startswith("OverflowError: ")
    assert dead["timer"]["customer_id"] == "c1" and dead["timer"]["journey"] == "grow"
    assert dead["timer"]["instance_id"] == "b6" and dead["timer"]["due_at"] == _iso(T0 + 6 * 120_000 + 60_000)
    assert h.engine.stats.parked == 1 and h.engine.stats.dead_letters["engine_error"] == 1
    for _ in range(20):  # never fired again
        h.live.step()
    assert h.engine.stats.parked == 1 and h.live.counts.engine_errors == 1 and len(h.dead()) == 1
    h.send([event("noise", "c9", T0 + 7_200_000, "n2")])
    h.run()
    assert h.engine.stats.parked == 1 and len(h.dead()) == 1
    h.stop()
    h.store.close()

    shown = CliRunner().invoke(status, ["--state", f"sqlite:///{db}", "--format", "json"])
    data = orjson.loads(shown.output)
    assert data["parked_timers"] == 1 and data["parked"][0]["customer_id"] == "c1"
    assert data["parked"][0]["error"].startswith("OverflowError") and data["pending_timers"] == 0
    assert "Parked timers" in CliRunner().invoke(status, ["--state", f"sqlite:///{db}"]).output
    one = json.loads(CliRunner().invoke(inspect, ["c1", "--state", f"sqlite:///{db}", "--format", "json"]).output)
    assert [p["instance_id"] for p in one["parked"]] == ["b6"] and one["parked"][0]["was_due"] == dead["timer"]["due_at"]

    # released by hand (run --retry-parked): it is due again and fires at the next start; this one
    # raises again (nothing was fixed), so it is parked again, once
    store = SqliteStore(db)
    (timer,) = store.get("c1").parked_timers()  # (named: inspect, status and --retry-parked read it by name)
    assert (timer.instance_id, timer.step, format_instant(timer.due)) == ("b6", one["parked"][0]["step"],
                                                                          dead["timer"]["due_at"])
    assert retry_parked(store) == 1
    again = Harness(GROW_LATER, store, cluster=h.cluster)
    again.run(lambda: again.engine.stats.parked == 2)
    assert len(again.dead()) == 2 and again.live.counts.engine_errors == 1
    again.stop()


def test_on_engine_error_stop_stops_as_before(tmp_path):
    h = Harness(GROW, SqliteStore(tmp_path / "state.db"), on_engine_error="stop")
    h.send(grow_stream())
    with pytest.raises(OverflowError):
        h.run()
    committed = h.store.positions().get(("events", 0), (0,))[0]
    assert committed <= 12  # nothing of the batch with b6 (offset 12) was committed


def test_a_store_that_keeps_nothing_dead_letters_where_it_failed(tmp_path):
    h = Harness(GROW, MemoryStore())
    h.send(grow_stream())
    h.run()
    # b6 is dead-lettered and the rest goes on; what b6 changed before it raised stays (its instance is
    # left active, so b7 and b8 are blocked from entering): what a store that cannot roll back costs
    assert [orjson.loads(d["value"])["message_id"] for d in h.dead()] == ["b6"]
    assert h.store.get("c2").profile["n"] == 8
    h.stop()


# ---- store faults --------------------------------------------------------------------------------------

def test_a_full_disk_stops_with_a_plain_store_fault_and_a_restart_loses_nothing(tmp_path):
    db = tmp_path / "state.db"
    h = Harness(PLAIN, SqliteStore(db, cache_size=10))
    values = [event("payment_failed", f"c{i}", T0 + i, f"f{i}", amount=i, note="x" * 2_000) for i in range(400)]
    h.send(values[:10])
    h.run()
    pages = h.store.pragma("page_count")
    h.store._conn.execute(f"PRAGMA max_page_count = {pages + 20}")  # SQLite's own SQLITE_FULL, as a full disk
    h.send(values[10:])
    with pytest.raises(StoreFault) as fault:
        h.run(steps=200)
    assert not fault.value.transient and "disk holding the state store is full" in str(fault.value)
    assert "database or disk is full" in str(fault.value)
    h.stop()
    h.store.close()
    again = Harness(PLAIN, SqliteStore(db), cluster=h.cluster)  # the disk repaired
    again.run(lambda: again.live.counts.events)
    got = Counter(a["action_id"] for a in again.actions())
    want = expected_actions(PLAIN, values, T0 + 1_000, 1_000)
    assert set(got) == {a["action_id"] for a in want}
    duplicated = {a for a, n in got.items() if n > 1}
    assert all(len({v for v in again.cluster.values("actions") if orjson.loads(v)["action_id"] == a}) == 1
               for a in duplicated)  # a copy produced again has the same bytes
    again.stop()


def test_a_lock_held_by_another_process_is_waited_out(tmp_path):
    db = tmp_path / "state.db"
    h = Harness(PLAIN, SqliteStore(db))
    h.store._conn.execute("PRAGMA busy_timeout = 50")
    values = pays(20)
    h.send(values[:5])
    h.run()
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    h.send(values[5:])
    h.live.step()
    assert h.live.counts.store == "failing" or any("state store failed" in n for n in h.report.notes)
    other.execute("ROLLBACK")
    other.close()
    h.run()
    assert_replayed(h, values)
    assert any("answers again" in n for n in h.report.notes)
    h.stop()


def _pg(pg_state, tag: str) -> str:
    url, _ = pg_state
    return f"{url}&application_name={tag}"


def _terminate(tag: str) -> int:
    import psycopg

    from conftest import PG_URL

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        return len(conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                                (tag,)).fetchall())


def test_a_postgresql_connection_killed_mid_run_is_retried_and_loses_nothing(pg_state):
    from journeyctl.engine.store.postgres import PgStore

    tag = f"jt-kill-{pg_state[1]}"
    h = Harness(PLAIN, PgStore(_pg(pg_state, tag)), partitions=2, worker="w1")
    values = pays(30)
    h.send(values[:10])
    h.run()
    assert _terminate(tag) == 1  # the server ends the session: as a restart or an operator would
    h.send(values[10:])
    h.run()
    assert any("the connection to PostgreSQL was lost" in n or "ended the connection" in n for n in h.report.notes)
    assert any("answers again" in n for n in h.report.notes), h.report.notes
    assert_replayed(h, values)
    h.stop()
    h.store.close()


def test_a_schema_renamed_mid_run_stops_with_a_plain_store_fault(pg_state):
    import psycopg

    from conftest import PG_URL
    from journeyctl.engine.store.postgres import PgStore

    url, schema = pg_state
    h = Harness(PLAIN, PgStore(url), worker="w1")
    h.send(pays(5))
    h.run()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_moved"')
    try:
        h.send([event("payment_failed", "late", T0 + 100, "f100", amount=1)])
        with pytest.raises(StoreFault) as fault:
            h.run()
        assert not fault.value.transient and "tables are gone" in str(fault.value)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'ALTER SCHEMA "{schema}_moved" RENAME TO "{schema}"')
        h.store.close()


def test_partitions_lost_when_the_session_expires_are_let_go_and_read_on_after_the_rejoin(pg_state):
    from journeyctl.engine.store.postgres import PgStore

    h = Harness(PLAIN, PgStore(pg_state[0]), partitions=2, worker="w1")
    values = pays(30)
    h.send(values[:15])
    h.run()
    h.cluster.expire(h.live.source)  # our session expired: the partitions are lost, then assigned again
    h.send(values[15:])
    h.run(lambda: len(h.live.owned) == 2)
    assert any("lost (the session expired" in n for n in h.report.notes), h.report.notes
    assert_replayed(h, values)
    h.stop()
    h.store.close()


def test_the_metrics_carry_engine_errors_parked_timers_partitions_and_recreated_ones(tmp_path):
    from prometheus_client import generate_latest

    from journeyctl.engine.cli.run import ViewReport
    from journeyctl.engine.obs.dashboard import JsonLog
    from journeyctl.engine.obs.metrics import registry_for
    from journeyctl.engine.obs.monitor import Monitor
    from rich.console import Console
    import io

    h = Harness(GROW_LATER, SqliteStore(tmp_path / "state.db"))
    values = [identify("c1", T0, "i1", score=2 ** 32, email="c1@example.com")]
    values += [event("bump", "c1", T0 + i * 120_000, f"b{i}") for i in range(1, 7)]
    values.append(event("noise", "c9", T0 + 3_600_000, "n1"))
    h.send(values)
    h.run()
    h.cluster.recreate("events")
    h.send([event("noise", "c8", T0 + 3_700_000, "n2")])
    h.run(lambda: h.live.recreated)
    monitor = Monitor(h.engine)
    out = io.StringIO()
    ViewReport(Console(file=io.StringIO()), JsonLog(out), monitor, json_every=0).status(h.live)
    text = generate_latest(registry_for(monitor)).decode()
    assert "journeyctl_parked_timers_total 1.0" in text and "journeyctl_engine_errors_total 1.0" in text
    assert "journeyctl_partitions_owned 1.0" in text and "journeyctl_recreated_partitions_total 1.0" in text
    assert 'journeyctl_up{component="partitions"} 1.0' in text
    status = orjson.loads(out.getvalue().splitlines()[-1])
    assert status["parked_timers"] == 1 and status["engine_errors"] == 1 and status["recreated_partitions"] == 1
    h.stop()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(hostile_event(), min_size=1, max_size=8))
def test_hostile_event_json_through_the_run_loop_is_applied_or_dead_lettered(raws):
    """The fuzz of test_event_fuzz.py through `run`'s own path: Kafka records (keyed, or not) into the loop,
    committed to a real SQLite file. Nothing escapes the loop, every record is read past, and none is an
    engine_error (which would be a bug of ours, caught: the fuzz is to find those)."""
    irs = {f"j{i}": text for i, text in enumerate([*FUZZ_JOURNEYS, FUZZ_SEGMENT])}
    with tempfile.TemporaryDirectory() as folder:
        h = Harness(irs, SqliteStore(Path(folder) / "state.db"), max_records=3)
        for i, raw in enumerate(raws):
            h.cluster.produce("events", b"c1" if i % 2 else None, raw)
        h.run(steps=100)
        assert h.store.positions()[("events", 0)][0] == len(raws)
        reasons = [d["reason"] for d in h.dead()]
        assert set(reasons) <= set(REASONS) - {"engine_error"}, h.dead()
        h.stop()
        h.store.close()


def test_a_stall_is_checked_even_when_the_first_poll_after_it_gives_nothing(tmp_path):
    """A worker stopped for longer than AWAY_S (3 s) checks each partition before reading on. The first poll
    after a stop often gives nothing (the fetch is still under way): the gap must not be forgotten by
    the time records come. The stall is the test's input (time.sleep), not a wait for a condition."""
    import time

    from journeyctl.engine.live.loop import AWAY_S

    h = Harness(PLAIN, SqliteStore(tmp_path / "state.db"))
    values = pays(10)
    h.send(values[:5])
    h.run()
    time.sleep(AWAY_S + 0.2)
    h.live.step()  # nothing to read yet
    assert any("read nothing for" in n for n in h.report.notes), h.report.notes
    h.send(values[5:])
    h.run()
    assert_replayed(h, values)
    h.stop()
