"""`--metrics-port`: Prometheus metrics (engine/obs/metrics.py) scraped over HTTP from a real engine's figures."""
from __future__ import annotations

import json
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from journeyctl.dsl.compiler import compile_text
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.store.memory import MemoryStore
from journeyctl.engine.core.events import BadEvent, format_instant, parse_event
from journeyctl.engine.obs.metrics import serve_metrics
from journeyctl.engine.obs.monitor import Monitor

T0 = 1_772_488_800_000          # 2026-03-02T22:00:00.000Z
MIN = 60_000

ONBOARDING = """journey onboarding "Onboarding"
  reentry once

  on signup
  send email "welcome"
  when app_opened within 30m
    send push "tips"
  otherwise
    send sms "need_help"
"""
WINBACK = """journey winback
  exit on account_deleted

  on subscription_cancelled
  wait 1d
  send email "come_back"
"""


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def event(name: str, customer: str, at_ms: int, msg: str) -> bytes:
    return json.dumps({"event": name, "customer_id": customer, "timestamp": format_instant(at_ms),
                       "message_id": msg}).encode()


def engine_and_monitor():
    irs = []
    for name, text in (("onboarding", ONBOARDING), ("winback", WINBACK)):
        c = compile_text(text, f"{name}.journey")
        assert c.ir is not None, c.diagnostics
        irs.append(c.ir)
    engine = Engine(irs, channels={"sms": "phone"}, store=MemoryStore())
    clock = FakeClock()
    monitor = Monitor(engine, clock=clock)
    raws = [
        event("signup", "a", T0, "1"),
        event("signup", "b", T0, "2"),
        event("signup", "c", T0, "3"),
        event("app_opened", "a", T0 + 5 * MIN, "4"),        # a: tips by push, completed
        event("subscription_cancelled", "d", T0 + 5 * MIN, "5"),
        event("subscription_cancelled", "e", T0 + 5 * MIN, "6"),
        event("account_deleted", "e", T0 + 6 * MIN, "7"),   # e: exited
        event("signup", "a", T0 + 6 * MIN, "8"),            # blocked: reentry once
        b'{"event": "signup"}',                             # missing_customer
        b"[]",                                              # not_an_object
    ]
    for raw in raws:
        try:
            engine.process(parse_event(raw))
        except BadEvent as e:
            if e.reason != "late":
                engine.stats.dead_letter(e.reason)
    engine.advance_to(T0 + 31 * MIN)                         # b and c: no app within 30m -> sms, no phone
    clock.t = 2.0
    return engine, monitor, clock


def scrape(server) -> dict:
    """{(name, frozenset(labels)): value} of every sample on /metrics."""
    with urllib.request.urlopen(server.url, timeout=10) as r:
        assert r.status == 200
        text = r.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(samples: dict, name: str, **labels):
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def served():
    servers = []

    def start(source):
        srv = serve_metrics(0, source, addr="127.0.0.1")
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.close()


def test_scrape_shows_the_labelled_figures(served):
    engine, monitor, clock = engine_and_monitor()
    monitor.set_lag({("events", 0): 3, ("events", 1): 0})
    monitor.set_health("broker", True, "127.0.0.1:9092")
    monitor.set_health("store", False, "database is locked")
    for ms in (2, 4, 8, 300):
        monitor.observe_latency(ms / 1000)
    monitor.snapshot()
    server = served(monitor)
    assert server.port > 0
    m = scrape(server)

    assert value(m, "journeyctl_events_total") == 8
    assert value(m, "journeyctl_duplicate_events_total") == 0
    assert value(m, "journeyctl_actions_total", journey="onboarding", channel="email", status="send") == 3
    assert value(m, "journeyctl_actions_total", journey="onboarding", channel="push", status="send") == 1
    assert value(m, "journeyctl_actions_total", journey="onboarding", channel="sms", status="unreachable") == 2
    assert value(m, "journeyctl_actions_total", journey="winback", channel="email", status="send") is None

    funnel = {state: value(m, "journeyctl_journey_instances", journey="onboarding", state=state)
              for state in ("entered", "active", "converted", "cancelled", "exited", "completed", "restarted")}
    assert funnel == {"entered": 3, "active": 0, "converted": 0, "cancelled": 0, "exited": 0, "completed": 3,
                      "restarted": 0}
    assert value(m, "journeyctl_journey_instances", journey="winback", state="entered") == 2
    assert value(m, "journeyctl_journey_instances", journey="winback", state="active") == 1
    assert value(m, "journeyctl_journey_instances", journey="winback", state="exited") == 1
    assert value(m, "journeyctl_journey_entries_blocked_total", journey="onboarding") == 1

    assert value(m, "journeyctl_dead_letters_total", reason="missing_customer") == 1
    assert value(m, "journeyctl_dead_letters_total", reason="not_an_object") == 1
    assert value(m, "journeyctl_consumer_lag", topic="events", partition="0") == 3
    assert value(m, "journeyctl_consumer_lag", topic="events", partition="1") == 0
    assert value(m, "journeyctl_pending_timers") == 1 == engine.pending_timers()      # d's day-long wait
    assert value(m, "journeyctl_next_due_timestamp_seconds") == (T0 + 5 * MIN + 24 * 60 * MIN) / 1000
    assert value(m, "journeyctl_clock_timestamp_seconds") == (T0 + 31 * MIN) / 1000
    assert value(m, "journeyctl_events_per_second") == pytest.approx(8 / 2)
    assert value(m, "journeyctl_actions_per_second") == pytest.approx(6 / 2)
    assert value(m, "journeyctl_up", component="broker") == 1
    assert value(m, "journeyctl_up", component="store") == 0

    h = "journeyctl_event_to_action_latency_seconds"
    assert value(m, h + "_count") == 4
    assert value(m, h + "_sum") == pytest.approx(0.314)
    assert value(m, h + "_bucket", le="0.005") == 2
    assert value(m, h + "_bucket", le="0.01") == 3
    assert value(m, h + "_bucket", le="0.25") == 3
    assert value(m, h + "_bucket", le="0.5") == 4
    assert value(m, h + "_bucket", le="+Inf") == 4
    assert value(m, "journeyctl_event_to_action_latency_recent_seconds", quantile="0.5") == 0.004
    assert value(m, "journeyctl_event_to_action_latency_recent_seconds", quantile="0.99") == 0.3


def test_a_scrape_reads_the_latest_snapshot(served):
    engine, monitor, clock = engine_and_monitor()
    server = served(monitor)
    assert value(scrape(server), "journeyctl_events_total") is None     # nothing before the first snapshot
    monitor.snapshot()
    assert value(scrape(server), "journeyctl_events_total") == 8
    engine.process(parse_event(event("signup", "z", T0 + 40 * MIN, "z1")))
    assert value(scrape(server), "journeyctl_events_total") == 8        # not until the next snapshot
    clock.t = 3.0
    monitor.snapshot()
    m = scrape(server)
    assert value(m, "journeyctl_events_total") == 9
    assert value(m, "journeyctl_journey_instances", journey="onboarding", state="entered") == 4
    assert value(m, "journeyctl_journey_instances", journey="onboarding", state="active") == 1
    monitor.set_lag(None)                                               # unknown lag: no lag samples at all
    monitor.snapshot()
    assert not [k for k in scrape(server) if k[0] == "journeyctl_consumer_lag"]


def test_several_servers_each_with_their_own_registry(served):
    first, m1, _ = engine_and_monitor()
    second, m2, _ = engine_and_monitor()
    second.process(parse_event(event("signup", "y", T0 + 40 * MIN, "y1")))
    m1.snapshot()
    m2.snapshot()
    s1, s2 = served(m1), served(m2)
    assert s1.port != s2.port and s1.registry is not s2.registry
    assert value(scrape(s1), "journeyctl_events_total") == 8
    assert value(scrape(s2), "journeyctl_events_total") == 9

    registry = CollectorRegistry()
    Counter("something_else", "A registry given as is.", registry=registry).inc(5)
    s3 = served(registry)
    assert value(scrape(s3), "something_else_total") == 5
