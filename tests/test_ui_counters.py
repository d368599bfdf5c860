"""The counters the UI reads: kept by the engine, written with the state, read over periods of engine
time; and the uplift statistics against published figures."""
from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from journeyctl.engine.cli.main import main
from journeyctl.engine.ui.uplift import compare, wilson

JOURNEY = 'journey hello\n  holdout 50%\n  goal purchase within 1d\n  on signed_up\n  wait 2h unless purchase\n  send email "welcome"\n'
SEGMENT = 'segment buyers\n  where count(purchase within 1d) >= 1\n'


def ev(name, customer, at, **props):
    return {"event": name, "customer_id": customer, "timestamp": at, "message_id": f"{customer}-{name}-{at}",
            "properties": props}


EVENTS = [ev("signed_up", "old", "2026-02-20T10:00:00Z"),   # 8 days before the clock: in "all" only
          ev("signed_up", "a", "2026-02-27T12:30:00Z"),     # 23.5 h before: 24 h and 7 d
          ev("signed_up", "d", "2026-02-28T10:59:00Z"),     # one minute before the last hour
          ev("signed_up", "b", "2026-02-28T11:00:00Z"),     # the last hour (from 11:00)
          ev("purchase", "b", "2026-02-28T11:30:00Z"),
          ev("signed_up", "c", "2026-02-28T11:59:00Z"),
          ev("app_opened", "z", "2026-02-28T11:59:30Z")]    # the clock


def replay(tmp_path, events=EVENTS, *extra):
    (tmp_path / "j").mkdir(exist_ok=True)
    (tmp_path / "j" / "hello.journey").write_text(JOURNEY)
    (tmp_path / "j" / "buyers.journey").write_text(SEGMENT)
    (tmp_path / "e.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    url = f"sqlite:///{tmp_path / 's.db'}"
    r = CliRunner().invoke(main, ["simulate", str(tmp_path / "j"), "--events", str(tmp_path / "e.jsonl"),
                                  "--state", url, "--format", "jsonl", *extra])
    assert r.exit_code == 0, r.output
    return url


def status(url, period):
    r = CliRunner().invoke(main, ["status", "--state", url, "--format", "json", "--period", period])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_periods_count_what_happened_in_them_by_engine_time(tmp_path):
    url = replay(tmp_path)
    entered = {p: status(url, p)["journeys"]["hello"]["entered"] for p in ("1h", "24h", "7d", "all")}
    assert entered == {"1h": 2, "24h": 4, "7d": 4, "all": 5}
    hour = status(url, "1h")
    assert hour["since"] == "2026-02-28T11:00:00.000Z" and hour["clock"] == "2026-02-28T11:59:30.000Z"
    assert hour["journeys"]["hello"]["converted"] == 1 and hour["segments"]["buyers"]["entered"] == 1
    assert hour["journeys"]["hello"]["active"] == status(url, "all")["journeys"]["hello"]["active"] == 2  # now: c, d
    week = status(url, "7d")  # a week back from the end of the clock's minute, read as whole hours
    assert week["since"] == "2026-02-21T12:00:00.000Z"


def test_counts_are_written_with_the_state_and_add_up_to_the_totals(tmp_path):
    url = replay(tmp_path)
    db = sqlite3.connect(tmp_path / "s.db")
    hours = dict(db.execute("SELECT series, sum(n) FROM counts WHERE res = 60 GROUP BY series").fetchall())
    totals = json.loads(db.execute("SELECT value FROM meta WHERE key = 'stats'").fetchone()[0])
    assert hours["entered:hello"] == totals["journeys"]["hello"]["entered"] == 5
    assert hours.get("holdout_entered:hello", 0) == totals["holdout"]["hello"]["entered"]
    assert hours["segment_entered:buyers"] == 1
    # minutes older than two days before the clock are not kept; their hours are
    old = db.execute("SELECT count(*) FROM counts WHERE res = 1 AND bucket < ?", (1772186400000 // 60000,)).fetchone()
    assert old == (0,)
    # a second replay into the same store adds to the same rows, as a second worker would
    more = [ev("signed_up", "e", "2026-02-28T11:59:40Z")]
    replay(tmp_path, more)
    assert status(url, "1h")["journeys"]["hello"]["entered"] == 3
    assert dict(db.execute("SELECT series, sum(n) FROM counts WHERE res = 60 GROUP BY series"))["entered:hello"] == 6


def test_steps_and_moves_per_version(tmp_path):
    url = replay(tmp_path)
    from journeyctl.engine.ui import figures
    from journeyctl.engine.ui.reader import open_reader

    page = figures.journey(open_reader(url), "hello")
    assert page["steps"]["s1"] == {"passed": 5, "waiting": 2, "left": {"converted": 1}}
    assert page["steps"]["s2"] == {"passed": 2, "waiting": 0, "left": {"completed": 2}}  # old and a waited 2 h out
    assert page["funnel"] == [{"stage": "entered", "count": 5}, {"stage": 's2: send email "welcome"', "count": 2},
                              {"stage": "converted", "count": 1}]
    assert page["versions"] == [{"version": page["current"], "current": True, "entered": 5, "active": 2}]
    assert sum(e["count"] for e in page["graph"]["edges"] if e["target"] == "r_converted") == 1


def test_uplift_interval_matches_newcombe_1998():
    # Newcombe (1998), Statistics in Medicine 17:873, method 10: 56/70 against 48/80, and 9/10 against 3/10
    out = compare((56, 70), (48, 80))
    assert out["uplift"] == pytest.approx(0.2)
    assert out["interval"] == pytest.approx([0.0524, 0.3339], abs=1e-4)
    assert compare((9, 10), (3, 10))["interval"] == pytest.approx([0.1705, 0.8090], abs=1e-4)
    lo, hi = wilson(0, 10)  # no conversion at all still gets an honest upper bound
    assert lo == 0 and hi == pytest.approx(0.2775, abs=1e-4)
    assert compare((5, 10), (0, 0))["uplift"] is None


def test_the_ui_socket_says_it_is_tcp_so_asyncio_turns_nagle_off(tmp_path):
    """Each answer on a kept-alive connection waited 40 ms for the client's delayed ACK while the
    listening socket was made with protocol 0: asyncio sets TCP_NODELAY only on sockets whose proto is
    IPPROTO_TCP, and accepted sockets inherit it. (Found by bench/ui.py.)"""
    import socket

    from journeyctl.engine.ui.app import UiServer
    from journeyctl.engine.ui.reader import open_reader

    server = UiServer(open_reader(replay(tmp_path)), port=0)
    try:
        assert server.sock.proto == socket.IPPROTO_TCP
    finally:
        server.close()


def test_the_customer_page_shows_a_replays_trace(tmp_path):
    from journeyctl.engine.ui import figures
    from journeyctl.engine.ui.reader import open_reader

    url = replay(tmp_path, EVENTS, "--trace", "b")
    page = figures.customer(open_reader(url), "b")
    first, second = page["trace"][:2]
    assert first["journey"] == "hello" and first["decision"].startswith("entered")
    assert second == {"at": "2026-02-28T11:00:00.000Z", "journey": "hello",
                      "decision": "wait at s1 started, until 2026-02-28T13:00:00.000Z"}
    assert any("converted" in t["decision"] for t in page["trace"])
    assert figures.customer(open_reader(url), "c")["trace"] == []  # kept for the traced customer only
