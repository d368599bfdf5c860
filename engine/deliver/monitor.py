"""What `journeyctl deliver` shows: a dashboard on a terminal, JSON log lines otherwise, Prometheus.

The same figures everywhere: sent, failed, retried, rate-limited, duplicates dropped, other
statuses recorded, in flight, receipts waiting, consumer lag, and the latency from an
action's due time to the provider's acceptance (p50/p99 of the last 2,000 sends).

    journeyctl_deliver_messages_total{channel,outcome}   outcome: sent, failed (dead-lettered)
    journeyctl_deliver_retries_total{channel}, journeyctl_deliver_rate_limited_total{channel}
    journeyctl_deliver_duplicates_total, journeyctl_deliver_recorded_total
    journeyctl_deliver_in_flight, journeyctl_deliver_receipts_waiting, journeyctl_deliver_consumer_lag
    journeyctl_deliver_latency_seconds                   histogram since the start (due time to acceptance)
    journeyctl_deliver_latency_recent_seconds{quantile}  p50/p99 of the last 2,000 sends
    journeyctl_up{component="broker"}                    1 ok, 0 unreachable (absent while connecting)
    journeyctl_up{component="store"}                     1 ok, 0 failing (a commit waits for it)

Every configured channel has its per-channel series from the start (at 0), so a rate over them is
right from the first scrape.
"""
from __future__ import annotations

import time
from bisect import bisect_left
from collections import deque

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from journeyctl.engine.obs.monitor import LATENCY_BUCKETS

LATENCY_SAMPLES = 2_000


def quantile(values, q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def snapshot(d, latencies) -> dict:
    c = d.counts
    lag = sum(d.lags.values()) if d.lags else (0 if d.lags == {} else None)
    return {"read": c.read, "sent": c.sent, "failed": c.failed, "retried": c.retried,
            "rate_limited": c.rate_limited, "duplicates": c.duplicates, "recorded": c.recorded,
            "receipts_stopped": c.receipts_stopped, "in_flight": d.in_flight, "receipts_waiting": d.receipts_waiting,
            "lag": lag, "broker": c.broker, "store": c.store, "by_channel": by_channel(d),
            "latency_p50_ms": quantile(latencies, 0.5), "latency_p99_ms": quantile(latencies, 0.99)}


def by_channel(d) -> dict:
    """channel -> {sent, failed, retried, rate_limited}: every configured channel, and any other an
    action named (it failed: no provider)."""
    from journeyctl.engine.deliver.loop import PER_CHANNEL

    out = {ch: dict.fromkeys(PER_CHANNEL, 0) for ch in d.channels}
    for ch, v in d.counts.by_channel.items():
        out[str(ch)] = dict(v)
    return out


class DeliverReport:
    """The loop's output. view: "dashboard", "json" or "quiet" (notes only, on stderr)."""

    def __init__(self, err: Console, view: str = "json", stream=None, quiet: bool = False, json_every: float = 5.0):
        from journeyctl.engine.obs.dashboard import JsonLog

        self.err = err
        self.view = view
        self.quiet = quiet
        self.latencies: deque = deque(maxlen=LATENCY_SAMPLES)
        self.histogram = [0] * (len(LATENCY_BUCKETS) + 1)  # per bucket (not cumulative), +Inf last
        self.latency_sum = 0.0
        self.latest: dict | None = None
        self.log = JsonLog(stream) if view == "json" else None
        self.json_every = json_every
        self._json_at = time.monotonic() + json_every
        self._live = None
        self.lines: deque = deque(maxlen=12)

    def start(self) -> None:
        if self.view == "dashboard":
            self._live = Live(Text("journeyctl deliver: starting"), console=Console(), refresh_per_second=2)
            self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def note(self, text: str) -> None:
        self.err.print(Text(f"journeyctl deliver: {text}"), soft_wrap=True)
        if self.log is not None:
            self.log.event("note", level="warning" if _problem(text) else "info", text=text)

    def outcome(self, action: dict, outcome, attempts: int, latency_ms) -> None:
        if latency_ms is not None:
            self.latencies.append(latency_ms)
            seconds = max(0.0, latency_ms / 1000)
            self.histogram[bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self.latency_sum += seconds
        if self.quiet:
            return
        fields = {"action_id": action.get("action_id"), "customer_id": action.get("customer_id"),
                  "channel": action.get("channel"), "template": action.get("template"),
                  "journey": action.get("journey"), "to": action.get("to"), "outcome": outcome.kind,
                  "answer": outcome.answer, "attempts": attempts}
        if self.log is not None:
            self.log.event("message", level="info" if outcome.kind == "sent" else "warning", **fields)
        else:
            mark = "sent  " if outcome.kind == "sent" else "FAILED"
            self.lines.append(f"{mark} {fields['channel']:<9}{fields['template']:<24}-> {fields['customer_id']}"
                              + ("" if outcome.kind == "sent" else f"  {outcome.answer}"))

    def status(self, d) -> None:
        self.latest = snapshot(d, self.latencies)
        if self.log is not None:
            now = time.monotonic()
            if now >= self._json_at:
                self._json_at = now + self.json_every
                self.log.event("status", **self.latest)
        elif self._live is not None:
            self._live.update(self._render(self.latest))

    def _render(self, s: dict):
        t = Table(title="journeyctl deliver", expand=False)
        t.add_column("channel")
        for col in ("sent", "failed", "retried", "rate-limited"):
            t.add_column(col, justify="right")
        for ch, v in sorted(s["by_channel"].items()):
            t.add_row(ch, *(f"{v[k]:,}" for k in ("sent", "failed", "retried", "rate_limited")))
        p50, p99 = s["latency_p50_ms"], s["latency_p99_ms"]
        summary = (f"read {s['read']:,} · sent {s['sent']:,} · failed {s['failed']:,} · retried {s['retried']:,} · "
                   f"rate-limited {s['rate_limited']:,} · duplicates {s['duplicates']:,} · other statuses "
                   f"{s['recorded']:,} · in flight {s['in_flight']:,} · receipts waiting {s['receipts_waiting']:,} · "
                   f"lag {s['lag'] if s['lag'] is not None else '?'} · broker {s['broker']} · store {s['store']} · latency p50 "
                   f"{_ms(p50)} p99 {_ms(p99)}")
        from rich.console import Group

        return Group(t, Text(summary), Text("\n".join(self.lines), style="dim"))


def _ms(v) -> str:
    return "-" if v is None else f"{v:,.0f} ms"


def _problem(text: str) -> bool:
    return any(w in text for w in ("cannot", "failed", "lost", "refused", "paused", "gave up"))


def serve_metrics(port: int, report: DeliverReport):
    """Prometheus on `port` (0: a free one); returns the server (with .url and .close())."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    from journeyctl.engine.obs.metrics import _le

    class Collector:
        def collect(self):
            s = report.latest
            if s is None:
                return
            channels = sorted(s["by_channel"].items())
            m = CounterMetricFamily("journeyctl_deliver_messages", "Messages settled: sent (accepted by the "
                                    "provider) or failed (dead-lettered)", labels=["channel", "outcome"])
            for ch, v in channels:
                m.add_metric([ch, "sent"], v["sent"])
                m.add_metric([ch, "failed"], v["failed"])
            yield m
            for name, key, what in (("retries", "retried", "Attempts retried"),
                                    ("rate_limited", "rate_limited", "Attempts that waited for a rate limit")):
                per = CounterMetricFamily(f"journeyctl_deliver_{name}", what, labels=["channel"])
                for ch, v in channels:
                    per.add_metric([ch], v[key])
                yield per
            for name, key, what in (("duplicates", "duplicates", "Actions already delivered, dropped"),
                                    ("recorded", "recorded", "Actions of other statuses, recorded")):
                yield CounterMetricFamily(f"journeyctl_deliver_{name}", what, value=s[key])
            yield GaugeMetricFamily("journeyctl_deliver_in_flight", "Actions read, not settled", value=s["in_flight"])
            yield GaugeMetricFamily("journeyctl_deliver_receipts_waiting", "Receipts and dead letters committed, "
                                    "not yet acknowledged by the broker", value=s["receipts_waiting"])
            if s["lag"] is not None:
                yield GaugeMetricFamily("journeyctl_deliver_consumer_lag", "Actions not yet read", value=s["lag"])
            q = GaugeMetricFamily("journeyctl_deliver_latency_recent_seconds",
                                  "Due time to provider acceptance, recent sends", labels=["quantile"])
            for label, key in (("0.5", "latency_p50_ms"), ("0.99", "latency_p99_ms")):
                if s[key] is not None:
                    q.add_metric([label], s[key] / 1000)
            yield q
            cumulative, running = [], 0
            for bound, n in zip((*LATENCY_BUCKETS, float("inf")), report.histogram):
                running += n
                cumulative.append((_le(bound), running))
            yield HistogramMetricFamily("journeyctl_deliver_latency_seconds", "From an action's due time to the "
                                        "provider's acceptance of its message", buckets=cumulative,
                                        sum_value=report.latency_sum)
            up = GaugeMetricFamily("journeyctl_up", "1 when the component is healthy, 0 when not",
                                   labels=["component"])
            if s["broker"] in ("ok", "unreachable"):
                up.add_metric(["broker"], 1 if s["broker"] == "ok" else 0)
            up.add_metric(["store"], 1 if s["store"] == "ok" else 0)
            yield up

    registry = CollectorRegistry()
    registry.register(Collector())
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)

    class Handle:
        url = f"http://127.0.0.1:{server.server_port}/metrics"

        @staticmethod
        def close():
            server.shutdown()
            server.server_close()

    return Handle()
