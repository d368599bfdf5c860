"""`--metrics-port`: the monitor's figures as Prometheus metrics (prometheus-client).

A custom collector reads the latest Snapshot (engine/obs/monitor.py) on every scrape, so the
engine's thread never touches Prometheus objects and a scrape never touches the engine.
Each server gets its own CollectorRegistry (not the process-wide one), so several can run
in one process (tests, or one per worker).

    journeyctl_events_total                          events applied
    journeyctl_duplicate_events_total                duplicates ignored
    journeyctl_actions_total{journey,channel,status}
    journeyctl_journey_instances{journey,state}      the funnel: entered, active, converted, ...
    journeyctl_journey_entries_blocked_total{journey}
    journeyctl_dead_letters_total{reason}
    journeyctl_data_warnings_total{kind}             values read as null: not_a_number, not_a_time
    journeyctl_consumer_lag{topic,partition}
    journeyctl_pending_timers
    journeyctl_next_due_timestamp_seconds            (absent while no timer waits)
    journeyctl_clock_timestamp_seconds               the engine's clock
    journeyctl_events_per_second, journeyctl_actions_per_second   (over the monitor's window)
    journeyctl_event_to_action_latency_seconds       histogram since the start
    journeyctl_event_to_action_latency_recent_seconds{quantile}   p50/p99 of the recent samples
    journeyctl_up{component}                         1 ok, 0 down (absent until known); `partitions` is down
                                                     while a worker has owned none for longer than a session
    journeyctl_engine_errors_total                   engine_error dead letters (records, and timers parked)
    journeyctl_parked_timers_total                   timers parked after an engine error
    journeyctl_partitions_owned                      input partitions this worker owns (run only)
    journeyctl_recreated_partitions_total            partitions found recreated and read again (run only)
"""
from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from journeyctl.engine.obs.monitor import FUNNEL, Snapshot


class SnapshotCollector(Collector):
    """Metrics from `source`: a Monitor (its `latest` snapshot) or a callable returning a Snapshot."""

    def __init__(self, source):
        self.source = source

    def _snapshot(self) -> Snapshot | None:
        src = self.source
        return src() if callable(src) else getattr(src, "latest", None)

    def describe(self):
        return []   # metrics appear only once there is a snapshot; nothing to check at registration

    def collect(self):
        snap = self._snapshot()
        if snap is None:
            return
        yield _counter("journeyctl_events", "Events applied by the engine.", snap.events)
        yield _counter("journeyctl_duplicate_events", "Events ignored as duplicates.", snap.duplicates)

        actions = CounterMetricFamily("journeyctl_actions", "Actions produced, by journey, channel and status.",
                                      labels=["journey", "channel", "status"])
        for (journey, channel, status), n in sorted(snap.actions_by.items()):
            actions.add_metric([journey, channel, status], n)
        yield actions

        instances = GaugeMetricFamily("journeyctl_journey_instances",
                                      "Journey funnel: instances entered, active now, and ended by outcome.",
                                      labels=["journey", "state"])
        blocked = CounterMetricFamily("journeyctl_journey_entries_blocked",
                                      "Entries refused by the journey's re-entry rule.", labels=["journey"])
        for journey in snap.journeys:
            f = snap.funnel[journey]
            for state in FUNNEL:
                instances.add_metric([journey, state], f[state])
            blocked.add_metric([journey], f.get("blocked", 0))
        yield instances
        yield blocked

        warnings = CounterMetricFamily("journeyctl_data_warnings", "Values read as null because they were not "
                                       "what was needed (a number, a time), by kind.", labels=["kind"])
        for kind, n in sorted(snap.data_warnings.items()):
            warnings.add_metric([kind], n)
        yield warnings

        dead = CounterMetricFamily("journeyctl_dead_letters", "Dead letters, by reason.", labels=["reason"])
        for reason, n in sorted(snap.dead_letters.items()):
            dead.add_metric([reason], n)
        yield dead

        lag = GaugeMetricFamily("journeyctl_consumer_lag", "Records on the broker not yet read, by partition.",
                                labels=["topic", "partition"])
        if snap.lag_known:
            for (topic, partition), n in sorted(snap.lag.items()):
                lag.add_metric([topic, str(partition)], n)
        yield lag

        yield GaugeMetricFamily("journeyctl_pending_timers", "Customers waiting on a timer.",
                                value=snap.pending_timers)
        if snap.next_due is not None:
            yield GaugeMetricFamily("journeyctl_next_due_timestamp_seconds",
                                    "When the earliest timer falls due (Unix time).", value=snap.next_due / 1000)
        if snap.clock is not None:
            yield GaugeMetricFamily("journeyctl_clock_timestamp_seconds", "The engine's clock (Unix time).",
                                    value=snap.clock / 1000)
        yield GaugeMetricFamily("journeyctl_events_per_second", "Events in per second, recent average.",
                                value=snap.events_per_s)
        yield GaugeMetricFamily("journeyctl_actions_per_second", "Actions out per second, recent average.",
                                value=snap.actions_per_s)

        lat = snap.latency
        yield HistogramMetricFamily(
            "journeyctl_event_to_action_latency_seconds",
            "From an event's arrival (or a timer's due time) to its action handed to Kafka.",
            buckets=[(_le(bound), n) for bound, n in lat.buckets] or [("+Inf", 0)], sum_value=lat.total)
        recent = GaugeMetricFamily("journeyctl_event_to_action_latency_recent_seconds",
                                   "Quantiles of the recent event-to-action latency samples.", labels=["quantile"])
        for q, v in (("0.5", lat.p50), ("0.99", lat.p99)):
            if v is not None:
                recent.add_metric([q], v)
        yield recent

        yield _counter("journeyctl_engine_errors", "Engine errors: records dead-lettered as engine_error, and "
                       "timers parked.", snap.engine_errors)
        yield _counter("journeyctl_parked_timers", "Timers parked after they raised when they fired.",
                       snap.parked_timers)
        if snap.partitions_owned is not None:
            yield GaugeMetricFamily("journeyctl_partitions_owned", "Input partitions this worker owns.",
                                    value=snap.partitions_owned)
            yield _counter("journeyctl_recreated_partitions", "Partitions found holding other records than the "
                           "state store said (a recreated topic), read again from their start.",
                           snap.recreated_partitions)

        up = GaugeMetricFamily("journeyctl_up", "1 when the component is healthy, 0 when not.", labels=["component"])
        for component, h in sorted(snap.health.items()):
            if h.ok is not None:
                up.add_metric([component], 1 if h.ok else 0)
        yield up


def _counter(name: str, doc: str, value) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


@dataclass
class MetricsServer:
    port: int
    registry: CollectorRegistry
    server: object
    thread: object

    @property
    def url(self) -> str:
        host = self.server.server_address[0]
        host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def registry_for(source) -> CollectorRegistry:
    """A fresh registry holding the snapshot collector for `source` (a Monitor or a callable)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(source))
    return registry


def serve_metrics(port: int, monitor_or_registry, addr: str = "0.0.0.0") -> MetricsServer:
    """Serve /metrics on `port` (0: any free port, see `.port`) in a daemon thread. Give a Monitor
    (or a callable returning a Snapshot) or a ready CollectorRegistry. Raises OSError when the port
    is taken."""
    registry = (monitor_or_registry if isinstance(monitor_or_registry, CollectorRegistry)
                else registry_for(monitor_or_registry))
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return MetricsServer(port=server.server_address[1], registry=registry, server=server, thread=thread)
