"""The monitor's snapshots (engine/obs/monitor.py), the rich dashboard and the JSON log lines
(engine/obs/dashboard.py), over a real engine running real journeys."""
from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from journeyctl.dsl.compiler import compile_text
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.store.memory import MemoryStore
from journeyctl.engine.obs.dashboard import Dashboard, JsonLog, open_view, render
from journeyctl.engine.core.events import BadEvent, format_instant, parse_event
from journeyctl.engine.obs.monitor import Monitor

T0 = 1_772_488_800_000          # 2026-03-02T22:00:00.000Z
MIN = 60_000

WELCOME = """journey welcome "Welcome"
  reentry once
  exit on account_deleted

  on signup
  send email "welcome"
  wait 10m unless churned
  send sms "tips"
"""
CART = """journey cart "Cart"
  goal purchase within 1h

  on cart_abandoned
  wait 30m
  send push "cart"
"""


class FakeClock:
    def __init__(self, t: float = 0.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def compiled(*texts: str):
    irs = []
    for i, text in enumerate(texts):
        c = compile_text(text, f"j{i}.journey")
        assert c.ir is not None, c.diagnostics
        irs.append(c.ir)
    return irs


def event(name: str, customer: str, at_ms: int, msg: str, **props) -> bytes:
    return json.dumps({"event": name, "customer_id": customer, "timestamp": format_instant(at_ms),
                       "message_id": msg, "properties": props}).encode()


def feed(engine: Engine, raws: list[bytes]) -> list[dict]:
    """What the run loop does per record: parse, process, and count the dead letters it sees."""
    actions = []
    for raw in raws:
        try:
            actions += engine.process(parse_event(raw))
        except BadEvent as e:
            if e.reason != "late":   # the engine counts its own
                engine.stats.dead_letter(e.reason)
    return actions


SCENARIO = [
    event("signup", "c1", T0, "m1"),
    event("signup", "c2", T0, "m2"),
    event("signup", "c3", T0, "m3"),
    event("cart_abandoned", "c5", T0, "m4"),
    event("churned", "c2", T0 + 1 * MIN, "m5"),          # c2: cancelled by `unless`
    event("account_deleted", "c3", T0 + 2 * MIN, "m6"),  # c3: exited by `exit on`
    event("signup", "c1", T0 + 3 * MIN, "m7"),           # c1 again: blocked (reentry once)
    event("signup", "c4", T0 + 4 * MIN, "m8"),           # c4: still waiting at the end
    event("signup", "c4", T0 + 4 * MIN, "m8"),           # a duplicate
    event("purchase", "c5", T0 + 5 * MIN, "m9"),         # c5: converted (goal)
    event("signup", "c9", T0, "m10"),                    # late: 5 minutes behind the clock
    b"{not json",                                        # invalid_json
]


@pytest.fixture
def run():
    """A real engine over the scenario; the monitor built before the first event, like the run loop."""
    engine = Engine(compiled(WELCOME, CART), channels={"sms": "phone"}, store=MemoryStore())
    clock = FakeClock()
    monitor = Monitor(engine, clock=clock)
    actions = feed(engine, SCENARIO)
    actions += engine.advance_to(T0 + 11 * MIN)           # c1's wait is over: sms, but no phone
    clock.t = 1.0
    return engine, monitor, clock, actions


def test_snapshot_has_the_engine_figures(run):
    engine, monitor, clock, actions = run
    snap = monitor.snapshot()
    assert snap.funnel["welcome"] == {"entered": 4, "active": 1, "converted": 0, "cancelled": 1, "exited": 1,
                                      "completed": 1, "restarted": 0, "blocked": 1}
    assert snap.funnel["cart"] == {"entered": 1, "active": 0, "converted": 1, "cancelled": 0, "exited": 0,
                                   "completed": 0, "restarted": 0, "blocked": 0}
    assert snap.actions_by == {("welcome", "email", "send"): 4, ("welcome", "sms", "unreachable"): 1}
    assert snap.actions == len(actions) == 5
    assert snap.by_channel_status() == {("email", "send"): 4, ("sms", "unreachable"): 1}
    assert (snap.events, snap.duplicates) == (9, 1)
    assert snap.dead_letters == {"late": 1, "invalid_json": 1}
    assert snap.pending_timers == 1 == engine.pending_timers()
    assert snap.next_due == T0 + 14 * MIN                 # c4's wait
    assert snap.clock == T0 + 11 * MIN
    # everything happened within the first second of the monitor's clock
    assert snap.events_per_s == pytest.approx(10.0)
    assert snap.actions_per_s == pytest.approx(5.0)
    assert monitor.latest is snap


def test_rates_are_over_a_sliding_ten_second_window(run):
    engine, monitor, clock, _ = run
    assert monitor.snapshot().events_per_s == pytest.approx(10.0)
    clock.t = 5.0
    assert monitor.snapshot().events_per_s == pytest.approx(10 / 5)
    feed(engine, [event("signup", f"n{i}", T0 + 11 * MIN, f"n{i}") for i in range(30)])
    clock.t = 6.0
    snap = monitor.snapshot()
    assert snap.events_per_s == pytest.approx(40 / 6)
    assert snap.actions_per_s == pytest.approx(35 / 6)
    clock.t = 11.5            # the window reaches back to the last sample at or before 1.5 s: the one at 1 s
    snap = monitor.snapshot()
    assert snap.events_per_s == pytest.approx(30 / (11.5 - 1.0))
    clock.t = 15.5
    assert monitor.snapshot().events_per_s == pytest.approx(30 / (15.5 - 5.0))
    clock.t = 30.0
    assert monitor.snapshot().events_per_s == 0.0


def test_latency_quantiles_reservoir_and_histogram():
    engine = Engine(compiled(CART), store=MemoryStore())
    clock = FakeClock()
    monitor = Monitor(engine, clock=clock, reservoir=1000, latency_window=60)
    for i in range(1, 101):
        monitor.observe_latency(i / 1000)                 # 1 ms .. 100 ms
    lat = monitor.snapshot().latency
    assert (lat.p50, lat.p99, lat.recent, lat.count) == (0.050, 0.099, 100, 100)
    assert lat.total == pytest.approx(sum(i / 1000 for i in range(1, 101)))
    buckets = dict(lat.buckets)
    assert buckets[0.01] == 10 and buckets[0.05] == 50 and buckets[0.1] == 100 and buckets[float("inf")] == 100
    clock.t = 61.0                                        # the recent samples age out; the histogram keeps them
    lat = monitor.snapshot().latency
    assert (lat.p50, lat.p99, lat.recent, lat.count) == (None, None, 0, 100)

    small = Monitor(engine, clock=clock, reservoir=10)
    for i in range(100):
        small.observe_latency(i)
    lat = small.snapshot().latency
    assert lat.recent == 10 and lat.count == 100 and lat.p50 == 94      # only the last ten are kept


def test_latency_of_actions_from_arrival_or_due_time():
    engine = Engine(compiled(WELCOME), store=MemoryStore())
    monitor = Monitor(engine, clock=FakeClock())
    sent = feed(engine, [event("signup", "a", T0, "a1")])
    due = T0 / 1000
    monitor.observe_actions(sent, handed_at=due + 0.25)                    # a timer's action: from due_at
    monitor.observe_actions(sent, handed_at=due + 3.0, arrived_at=due + 2.9)  # read late: from arrival
    lat = monitor.snapshot().latency
    assert lat.count == 2 and lat.total == pytest.approx(0.35)


def test_lag_and_health_come_from_the_caller(run):
    _, monitor, clock, _ = run
    monitor.set_lag({("events", 0): 12, ("events", 1): 0})
    monitor.set_health("broker", True, "localhost:9092")
    monitor.set_health("store", False, "disk full")
    snap = monitor.snapshot()
    assert snap.lag == {("events", 0): 12, ("events", 1): 0} and snap.total_lag == 12
    assert snap.health["broker"].ok is True and snap.health["store"].detail == "disk full"
    monitor.set_lag(None)                                 # the broker did not answer: unknown, not zero
    snap = monitor.snapshot()
    assert snap.lag_known is False and snap.total_lag is None


def dashboard_text(snap) -> str:
    console = Console(record=True, width=120, file=io.StringIO())
    console.print(render(snap))
    return console.export_text()


def test_dashboard_shows_the_figures(run):
    _, monitor, clock, _ = run
    monitor.set_lag({("events", 0): 1234, ("events", 1): 0})
    monitor.set_health("broker", True)
    monitor.set_health("store", False, "database is locked")
    for i in range(1, 101):
        monitor.observe_latency(i / 1000)
    text = dashboard_text(monitor.snapshot())
    lines = text.splitlines()

    def row(first: str, n: int = 9) -> list[str]:
        """The first n cells from the one starting with `first` (tables stand side by side)."""
        found = [ln[ln.index(f"│ {first} "):] for ln in lines if f"│ {first} " in ln]
        assert len(found) == 1, (first, text)
        return [c.strip() for c in found[0].split("│") if c.strip()][:n]

    assert "broker ok" in text and "store down (database is locked)" in text
    assert "10.0 events/s" in text and "5.0 actions/s" in text
    #               journey    entered active converted cancelled exited completed restarted blocked
    assert row("welcome") == ["welcome", "4", "1", "0", "1", "1", "1", "0", "1"]
    assert row("cart") == ["cart", "1", "0", "1", "0", "0", "0", "0", "0"]
    head = next(ln for ln in lines if "┃ channel" in ln).replace("│", "┃")
    header = [c.strip() for c in head.split("┃") if c.strip()]
    assert header[:3] == ["channel", "send", "unreachable"]
    assert row("email", 3) == ["email", "4", "0"] and row("sms", 3) == ["sms", "0", "1"]
    assert row("events[0]", 2) == ["events[0]", "1,234"] and row("events[1]", 2) == ["events[1]", "0"]
    assert row("late", 2) == ["late", "1"] and row("invalid_json", 2) == ["invalid_json", "1"]
    assert f"1 waiting, next due {format_instant(T0 + 14 * MIN)} (in 3m00s)" in text
    assert "p50 50.0 ms · p99 99.0 ms" in text
    assert "9 events · 1 duplicates · 5 actions · 2 dead letters" in text
    assert max(map(len, lines)) <= 120


def test_user_text_is_never_markup(run):
    engine, monitor, _, _ = run
    engine.stats.dead_letter("[bold]odd[/] reason")
    monitor.set_health("broker", False, "[/] refused by [red]host[/red]")
    text = dashboard_text(monitor.snapshot())
    assert "[bold]odd[/] reason" in text
    assert "[/] refused by [red]host[/red]" in text


def test_dashboard_before_the_first_snapshot_and_with_nothing_known():
    engine = Engine(compiled(CART), store=MemoryStore())
    monitor = Monitor(engine, clock=FakeClock())
    assert "starting" in dashboard_text(None)
    monitor.set_lag(None)
    text = dashboard_text(monitor.snapshot())
    assert "broker ?" in text and "broker not answering" in text and "(none)" in text
    assert "0 waiting" in text and "p50 —" in text


def test_live_dashboard_updates_in_place(run):
    _, monitor, clock, _ = run
    console = Console(record=True, width=120, file=io.StringIO(), force_terminal=True)
    view = open_view(console=console)
    assert isinstance(view, Dashboard)
    live = view.live
    assert live.auto_refresh is False and live.transient is False and live._screen is False
    with view:
        view.update(monitor.snapshot())
        view.event("action", action_id="abc[/]", journey="welcome")
        clock.t = 2.0
        view.update(monitor.snapshot())
    out = console.file.getvalue()
    assert "\x1b[2J" not in out                           # never clears the screen
    text = console.export_text()
    assert "welcome" in text and "action action_id=abc[/] journey=welcome" in text


def test_json_log_without_a_terminal(run):
    _, monitor, _, actions = run
    assert isinstance(open_view(console=Console(file=io.StringIO())), JsonLog)
    assert isinstance(open_view(no_dashboard=True, console=Console(file=io.StringIO(), force_terminal=True)),
                      JsonLog)
    monitor.set_lag({("events", 0): 7})
    monitor.set_health("broker", True, "ok")
    stream = io.StringIO()
    log = JsonLog(stream, wall=lambda: T0 / 1000)
    log.update(monitor.snapshot())
    a = actions[0]
    log.event("action", action_id=a["action_id"], journey=a["journey"], status=a["status"])
    log.event("broker unreachable", level="warning", detail="connection refused")
    status, action, warning = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert status["ts"] == format_instant(T0) and status["level"] == "info" and status["msg"] == "status"
    assert status["funnel"]["welcome"]["entered"] == 4 and status["funnel"]["cart"]["converted"] == 1
    assert {"journey": "welcome", "channel": "sms", "status": "unreachable", "n": 1} in status["actions_by"]
    assert status["lag"] == [{"topic": "events", "partition": 0, "lag": 7}] and status["total_lag"] == 7
    assert status["dead_letters"] == {"invalid_json": 1, "late": 1}
    assert status["pending_timers"] == 1 and status["next_due"] == format_instant(T0 + 14 * MIN)
    assert status["events_per_s"] == 10.0 and status["actions_per_s"] == 5.0
    assert status["health"]["broker"] == {"ok": True, "detail": "ok"}
    assert action == {"ts": format_instant(T0), "level": "info", "msg": "action", "action_id": a["action_id"],
                      "journey": "welcome", "status": "send"}
    assert warning["level"] == "warning" and warning["detail"] == "connection refused"


def test_json_log_writes_bytes_when_the_stream_has_a_buffer():
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8")
    JsonLog(stream).event("note", text="héllo")
    assert json.loads(raw.getvalue().decode())["text"] == "héllo"
