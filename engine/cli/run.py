"""`journeyctl run`: the live engine on Kafka (engine/live/loop.py), wired and rendered.

Every option can also come from the environment (`JOURNEYCTL_` + its name, like
JOURNEYCTL_BOOTSTRAP_SERVERS) or from the `run:` mapping of journeyctl.yaml (its
name with - or _); the command line wins over the environment, the environment
over the file. The SASL password comes only from JOURNEYCTL_SASL_PASSWORD or
--sasl-password-file, and is never printed.

Output: on a terminal, the live dashboard (engine/obs/dashboard.py: rates, lag per
partition, funnel, actions by channel and status, timers, dead letters, latency,
health), with a line per action above it; with --no-dashboard (or when stdout is not
a terminal) one structured JSON log on stdout (engine/obs/dashboard.JsonLog): {"ts",
"level", "msg": "action", ...the action}, {"msg": "status", ...the same figures as the
dashboard} every 5 s, {"msg": "note", "text"} for what the loop has to say. Problems
and the broker's state are also plain-text lines on stderr either way.
`--metrics-port PORT` serves the same figures to Prometheus (engine/obs/metrics.py).

Journeys reload without a restart on SIGHUP (and with --watch when a journey file
changes, checked every 2 s): new versions take effect for new entries, running
instances keep theirs; a file with errors is reported and the journeys loaded before
keep running. Only journeys and segments reload: other settings need a restart.

Several workers: give every `journeyctl run` the same --group-id and the same
`--state postgresql://...`; see engine/live/loop.py and docs/scaling.md. A store belongs to one
consumer group (recorded in it on first use): another group is refused at start.

SIGTERM and SIGINT are caught from the first moment of the command (StopSignals), so a stop
during the start (loading journeys, starting the embedded broker, opening the store) is clean.
Exit 0 after SIGTERM/SIGINT; 2 for what a person must fix (settings, a refused login, a missing
topic, a full disk or tables gone under the state store); 1 for an internal error (only with
--on-engine-error stop: otherwise an engine error costs one record or one timer, see
engine/live/loop.py).
"""
from __future__ import annotations

import os
import signal
import socket
import sys
import time
import traceback

import click
from click.core import ParameterSource
from rich.console import Console
from rich.text import Text

from journeyctl.dsl.diagnostics import did_you_mean

from journeyctl.engine.core.actions import ACTION_KEYS
from journeyctl.dsl.durations import duration_option
from journeyctl.engine.core.events import format_instant
from journeyctl.engine.cli.kafka_opts import PASSWORD_ENV, env_option, kafka_settings
from journeyctl.engine.cli.startup import UsageProblem, open_state, project_to_run
from journeyctl.dsl.report import visible
from journeyctl.engine.store.secrets import redact

NOT_IN_CONFIG = {"config_path"}


_opt = env_option


@click.command()
@click.argument("journeys", nargs=-1, required=True, type=click.Path())
@_opt("--bootstrap-servers", default="localhost:9092", show_default=True,
      help="HOST:PORT[,HOST:PORT...] of the cluster.")
@_opt("--embedded-broker", is_flag=True,
      help="Start a memory-only broker on a free local port (for trying things out).")
@_opt("--events-topic", "events_topics", multiple=True, default=("events",), show_default=True,
      help="Topic of customer events; repeat for several.")
@_opt("--actions-topic", default="journey.actions", show_default=True,
      help="Where actions go: one JSON message per action, keyed by customer id.")
@_opt("--dead-letter-topic", default="journey.dead-letter", show_default=True,
      help="Where bad or late events go, with the reason and where they were read.")
@_opt("--profiles-topic", default="journey.profiles", show_default=True,
      help="Where every profile change and segment membership change goes, keyed by customer id.")
@_opt("--group-id", default="journeyctl", show_default=True, help="Consumer group (offsets shown to lag tools).")
@_opt("--state", "state_url", default="sqlite:///journeyctl-state.db", show_default=True,
      help="Where customer state, offsets and the outbox live.")
@_opt("--allowed-lateness", help="How far behind the clock an event may be (default: journeyctl.yaml, else 5s).")
@_opt("--no-dashboard", is_flag=True, help="JSON log lines on stdout instead of the terminal view.")
@_opt("--quiet", is_flag=True, help="No line per action; status only.")
@_opt("--create-topics/--no-create-topics", default=None,
      help="Create missing topics (default: only with --embedded-broker).")
@_opt("--partitions", type=click.IntRange(1, 1000), default=1, show_default=True, help="Of the topics it creates.")
@_opt("--fetch-wait-ms", type=click.IntRange(1, 10_000),
      help="How long the broker may hold a fetch with nothing new (default 100; 10 with --embedded-broker, "
           "which answers only when the wait ends). Kafka answers when data arrives: 500 costs nothing there.")
@_opt("--clock", type=click.Choice(["wall", "event"]), default="wall", show_default=True,
      help="wall: wall-clock time fires waits too (live); event: only event time moves the clock (history).")
@_opt("--max-clock-skew", default="5m", show_default=True,
      help="An event stamped later than the wall clock plus this goes to the dead-letter topic as `future` and "
           "moves no clock (with --clock event too: history is never in the future); `off` for no limit.")
@_opt("--security-protocol", type=click.Choice(["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]),
      default="PLAINTEXT", show_default=True)
@_opt("--sasl-mechanism", type=click.Choice(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]))
@_opt("--sasl-username", help="SASL user; the password comes from the environment or a file only.")
@_opt("--sasl-password-file", type=click.Path(dir_okay=False),
      help=f"File holding the SASL password (or set {PASSWORD_ENV}).")
@_opt("--ssl-cafile", type=click.Path(dir_okay=False), help="CA certificates to trust (PEM).")
@_opt("--ssl-certfile", type=click.Path(dir_okay=False), help="Client certificate (PEM).")
@_opt("--ssl-keyfile", type=click.Path(dir_okay=False), help="Client private key (PEM).")
@_opt("--metrics-port", type=click.IntRange(0, 65535),
      help="Serve Prometheus metrics on this port (/metrics); 0 picks a free one.")
@_opt("--ui-port", type=click.IntRange(0, 65535),
      help="Serve the web dashboard (journeyctl ui) on this port too; 0 picks a free one. Off loopback "
           "(--ui-host) it needs JOURNEYCTL_UI_TOKEN.")
@_opt("--ui-host", default="127.0.0.1", show_default=True, help="Where --ui-port listens.")
@_opt("--worker-id", help="This worker's name in a shared store (its clock and counts are kept under it; "
                          "default: host-pid). Give a stable one (a pod name) to keep counts across restarts.")
@_opt("--watch/--no-watch", default=False, show_default=True,
      help="Reload the journeys when a journey file changes (checked every 2 s); SIGHUP always reloads.")
@_opt("--on-engine-error", type=click.Choice(["dead-letter", "stop"]), default="dead-letter", show_default=True,
      help="An unexpected error while applying an event or firing a timer: dead-letter the event as engine_error "
           "(park the timer) and go on, or stop (exit 1; every restart stops at the same event).")
@_opt("--retry-parked", is_flag=True,
      help="At start, give every timer parked after an engine error its due time back (after a fix); "
           "one that fails again is parked again.")
@click.option("--config", "config_path", type=click.Path(), help="Project config (default: ./journeyctl.yaml).")
@click.pass_context
def run(ctx, journeys, config_path, **options):
    """Run the JOURNEYS live: events from Kafka in, actions to Kafka out.

    State, input offsets and outgoing messages are committed together, so a crash
    at any moment loses no action, and one sent twice has the same action_id."""
    err = Console(stderr=True, highlight=False)
    signals = StopSignals(err).install()  # first: a stop at any moment from here on is a clean one
    try:
        project, irs, segments = project_to_run(journeys, config_path, err)
        opts = resolve_options(ctx, options, project.run)
        kafka = kafka_settings(opts)
        lateness = duration_option(opts["allowed_lateness"]) if opts["allowed_lateness"] else \
            (project.allowed_lateness or 5_000)
        clock_skew(opts["max_clock_skew"])  # a bad value stops here, before any connection
    except (UsageProblem, ValueError) as e:
        _fail(err, str(e))
    broker = None
    try:
        if opts["embedded_broker"] and not signals.asked:
            from journeyctl.engine.live.broker import BrokerError, EmbeddedBroker
            try:
                broker = EmbeddedBroker().start()
            except BrokerError as e:
                _fail(err, str(e))
            kafka = kafka_settings({**opts, "bootstrap_servers": broker.bootstrap})
            _say(err, f"embedded broker on {broker.bootstrap} (memory only: its topics go when journeyctl stops)")
            from journeyctl.engine.cli.tail import try_it
            _say(err, try_it(broker.port, opts["events_topics"][0]))
        problems = kafka.problems()
        if problems:
            _fail(err, "; ".join(problems))
        code, _ = run_live(irs, segments, project, opts, kafka, lateness, err, paths=journeys,
                           config_path=config_path, signals=signals)
    finally:
        if broker is not None:
            broker.stop()
        signals.restore()
    sys.exit(code)


def clock_skew(text) -> int | None:
    """--max-clock-skew in ms; None for `off`."""
    if str(text).strip().lower() in ("off", "none"):
        return None
    try:
        return duration_option(str(text))
    except ValueError as e:
        raise UsageProblem(f"--max-clock-skew: {e}; or off, for no limit") from None


def defaults() -> dict:
    """Every option of `run` at its default, for callers that run the loop themselves (the demo)."""
    return {p.name: None if type(p.default).__name__ == "Sentinel" else p.default  # click's UNSET: no default
            for p in run.params if isinstance(p, click.Option)}


def run_live(irs, segments, project, opts, kafka, lateness, err, report=None, paths=None, config_path=None,
             signals=None):
    """Open the state, start the loop, stop it on SIGTERM/SIGINT (SIGHUP reloads the journeys at
    `paths`). Returns (exit code, the loop)."""
    from journeyctl.engine.store.faults import store_fault

    own_signals = signals is None
    if own_signals:
        signals = StopSignals(err).install()
    store = None
    try:
        if signals.asked:
            return signals.stopped_early(), None
        try:
            store = open_state(opts["state_url"])
        except UsageProblem as e:
            _say(err, str(e))
            return 2, None
        except Exception as e:  # noqa: BLE001 - a locked or foreign file, a full disk
            _say(err, f"cannot open the state {redact(opts['state_url'])}: {e}")
            return 2, None
        try:
            return _run_on(store, irs, segments, project, opts, kafka, lateness, err, report, paths, config_path,
                           signals)
        except Exception as e:  # noqa: BLE001 - a store that fails while starting: plain words, exit 2
            fault = store_fault(e)
            if fault is None:
                raise
            _say(err, _store_stopped(fault, opts))
            return 2, None
    finally:
        if store is not None:
            try:
                store.close()
            except Exception:  # noqa: BLE001 - a store that failed may fail to close too
                pass
        if own_signals:
            signals.restore()


def _store_stopped(fault, opts) -> str:
    verb = "stopped" if not getattr(fault, "transient", False) else "stopped while waiting for it"
    return (f"{verb}: {fault} (state {redact(opts['state_url'])}). Nothing is lost: what was not committed "
            "is read again at the next start.")


def _run_on(store, irs, segments, project, opts, kafka, lateness, err, report, paths, config_path, signals):
    from journeyctl.engine.core.engine import Engine
    from journeyctl.engine.core.stats import Stats
    from journeyctl.engine.live.kafka_edge import EdgeError, KafkaCluster
    from journeyctl.engine.live.loop import Live, LiveSettings
    from journeyctl.engine.live.outbox import Outbox
    from journeyctl.engine.obs.monitor import Monitor
    from journeyctl.engine.store.faults import StoreFault

    shared = store.shared
    settings = LiveSettings(
        events_topics=tuple(opts["events_topics"]), actions_topic=opts["actions_topic"],
        dead_letter_topic=opts["dead_letter_topic"], profiles_topic=opts["profiles_topic"],
        group_id=opts["group_id"],
        create_topics=opts["create_topics"] if opts["create_topics"] is not None else bool(opts["embedded_broker"]),
        partitions=opts["partitions"], wall_clock=opts["clock"] == "wall",
        max_clock_skew=clock_skew(opts.get("max_clock_skew", "5m")),
        fetch_wait_ms=opts["fetch_wait_ms"] or (10 if opts["embedded_broker"] else 100), shared=shared,
        on_engine_error=opts.get("on_engine_error") or "dead-letter")
    worker = (opts.get("worker_id") or f"{socket.gethostname()}-{os.getpid()}") if shared else None
    outbox = Outbox(store, settings.actions_topic, settings.dead_letter_topic, worker=worker,
                    profiles_topic=settings.profiles_topic)
    if outbox.durable:
        owner = outbox.claim(settings.group_id)
        if owner is not None:
            _say(err, f"the state {redact(opts['state_url'])} belongs to consumer group {owner!r}, not "
                      f"{settings.group_id!r}: a store holds one group's offsets, state and outbox. Give "
                      f"--group-id {owner}, or another --state for group {settings.group_id!r}")
            return 2, None
        if opts.get("retry_parked"):
            released = retry_parked(store)
            _say(err, f"--retry-parked: {released} parked timer{'s' if released != 1 else ''} given their due "
                      "time back")
    engine = Engine(irs, segments, store=store, channels=project.contacts,
                    default_timezone=project.options.default_timezone, lateness=lateness, profiles=True,
                    dedup_window=project.dedup_window)
    # Engine() staged its journey versions; commit them now: PgStore keeps the transaction its first
    # write opened until commit(), and another worker inserting the same version would wait on it
    store.commit()
    if shared:
        # per-worker meta: each worker keeps its own clock and counts; it starts from the latest clock
        clocks = [v for v in store.meta_like("clock").values() if isinstance(v, int)]
        engine.clock = max(clocks) if clocks else None
        engine.stats = Stats()
        engine.stats.restore(store.get_meta(f"stats:{worker}"))
    monitor = Monitor(engine)
    view = None
    if report is None:
        from journeyctl.engine.obs.dashboard import open_view

        view = open_view(opts["no_dashboard"] or not sys.stdout.isatty(), stream=sys.stdout)
        report = ViewReport(err, view, monitor, quiet=opts["quiet"], worker=worker,
                            store_kind=opts["state_url"].split(":", 1)[0])
        settings.status_s = 1.0
    live = Live(engine, outbox, KafkaCluster(kafka), settings, report)
    reloader = None
    if paths:
        reloader = live.reloader = _reloader(paths, config_path, err, watch=bool(opts.get("watch")))
    metrics = None
    if opts.get("metrics_port") is not None:
        from journeyctl.engine.obs.metrics import serve_metrics
        try:
            metrics = serve_metrics(opts["metrics_port"], monitor)
        except OSError as e:
            _say(err, f"cannot serve metrics on port {opts['metrics_port']}: {e.strerror or e}")
            return 2, None
        _say(err, f"metrics on {metrics.url}")
    ui = None
    if opts.get("ui_port") is not None:
        from journeyctl.engine.cli.ui import start_for_run
        try:
            ui = start_for_run(opts["state_url"], opts.get("ui_host") or "127.0.0.1", opts["ui_port"])
        except (ValueError, OSError) as e:
            _say(err, f"cannot serve the dashboard: {e}")
            store.close()
            return 2, None
        _say(err, f"dashboard on {ui.url}")
    if worker is not None:
        _say(err, f"worker {worker}: shared state; this worker handles the partitions the group assigns it")
    if not outbox.durable:
        _say(err, "state in memory: nothing survives a restart (use --state sqlite:///file.db)")
    _say(err, f"{len(irs)} journeys; reading {', '.join(settings.events_topics)} from {kafka.where()}; "
              f"actions to {settings.actions_topic}, dead letters to {settings.dead_letter_topic}; "
              f"state in {redact(opts['state_url'])}")
    previous = {}
    if reloader is not None:
        def on_hup(signum, frame):
            reloader.hup = True

        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    if view is not None:
        view.start()
    code = 0
    signals.live = live
    try:
        if signals.asked:
            live.stop()
        live.run()
    except EdgeError as e:
        _say(err, str(e))
        code = 2
    except StoreFault as e:
        _say(err, _store_stopped(e, opts))
        code = 2
    except Exception:  # noqa: BLE001 - a bug (--on-engine-error stop): nothing of the batch in hand was committed
        _say(err, "internal error; nothing of the batch in hand was committed:\n" + traceback.format_exc())
        code = 1
    finally:
        signals.live = None
        for s, handler in previous.items():
            signal.signal(s, handler)
        if view is not None:
            view.stop()
        if metrics is not None:
            metrics.close()
        if ui is not None:
            ui.close()
    if code == 0:
        c = live.counts
        _say(err, f"stopped: {c.events} events read, {c.actions} actions, {c.dead_letters} dead letters, "
                  f"{live.outbox_waiting} messages left in the outbox for the next start")
    return code, live


def retry_parked(store) -> int:
    """Give every timer parked after an engine error its due time back, in one commit; how many. Reads
    every customer (parked timers are rare and this is asked for by hand, after a fix)."""
    released = 0
    for cid, cust in store.customers():
        if cust.parked_timers():
            released += cust.unpark()
            store.put(cid, cust)
    store.commit()
    return released


class StopSignals:
    """SIGTERM and SIGINT from the first moment of `run`: before the loop exists a signal is only
    remembered (each step of the start looks, and stops there: exit 0), then it stops the loop
    (the batch in hand committed, the producer flushed, the group left). Asked twice: exit at once,
    which is safe, since everything read is committed already or read again at the next start."""

    def __init__(self, err: Console):
        self.err = err
        self.asked: str | None = None
        self.live = None
        self._previous: dict = {}

    def install(self) -> "StopSignals":
        for s in (signal.SIGTERM, signal.SIGINT):
            self._previous[s] = signal.signal(s, self._on_signal)
        return self

    def restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}

    def _on_signal(self, signum, frame) -> None:
        if self.asked is not None:
            os._exit(1)
        self.asked = signal.Signals(signum).name
        if self.live is None:
            _say(self.err, f"{self.asked}: stopping before the start is complete")
        else:
            _say(self.err, f"{self.asked}: finishing the batch in hand, flushing, leaving the group")
            self.live.stop()

    def stopped_early(self) -> int:
        _say(self.err, "stopped before reading anything")
        return 0


# ---- settings from the command line, the environment and journeyctl.yaml --------------------

def resolve_options(ctx, options: dict, from_file: dict) -> dict:
    """Fill in options the command line and environment left at their defaults from journeyctl.yaml `run:`."""
    params = {p.name: p for p in ctx.command.params if isinstance(p, click.Option) and p.name not in NOT_IN_CONFIG}
    out = dict(options)
    for key, value in (from_file or {}).items():
        name = str(key).replace("-", "_")
        if name in ("sasl_password", "password"):
            raise UsageProblem("journeyctl.yaml run: a password does not belong in the config; set "
                               f"{PASSWORD_ENV} or give sasl_password_file")
        if name == "events_topic":
            name = "events_topics"
        if name == "state":
            name = "state_url"
        param = params.get(name)
        if param is None:
            names = [p.opts[0][2:] for p in params.values()]
            close = did_you_mean(str(key).replace("_", "-"), names)
            raise UsageProblem(f"journeyctl.yaml run: unknown setting {key!r}" +
                               (f"; did you mean {close!r}?" if close else f"; known: {', '.join(sorted(names))}"))
        if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None):
            continue
        if param.multiple and isinstance(value, str):
            value = [value]
        try:
            out[name] = param.type_cast_value(ctx, value)
        except click.BadParameter as e:
            raise UsageProblem(f"journeyctl.yaml run: {key}: {e.message}") from None
    explicit = ctx.get_parameter_source("bootstrap_servers") not in (ParameterSource.DEFAULT, None) or \
        "bootstrap_servers" in {str(k).replace("-", "_") for k in (from_file or {})}
    if out.get("embedded_broker") and explicit:
        raise UsageProblem("give either --bootstrap-servers or --embedded-broker, not both")
    return out


# ---- rendering --------------------------------------------------------------------------------

def status_record(live) -> dict:
    """The short status of TerminalReport (the demo's output)."""
    c = live.counts
    clock = live.engine.clock
    return {"events": c.events, "actions": c.actions, "dead_letters": c.dead_letters, "delivered": c.delivered,
            "outbox": live.outbox_waiting, "lag": c.lag, "broker": c.broker,
            "timers": live.engine.pending_timers(), "clock": format_instant(clock) if clock is not None else None}


def clocks(live) -> dict:
    """The watermark timers fire at (minus the allowed lateness), each partition's stream time, and how
    many partitions were found recreated (read again from their first offset)."""
    from journeyctl.engine.core.engine import UNKNOWN

    engine = live.engine
    return {"watermark": format_instant(engine.watermark) if engine.watermark != UNKNOWN else None,
            "partition_clocks": {f"{t}[{p}]": format_instant(c) if c is not None else None
                                 for (t, p), c in sorted(engine.lanes.items())},
            "recreated_partitions": live.recreated}


class _Rate:
    def __init__(self):
        self.at = time.monotonic()
        self.events = 0

    def __call__(self, events: int) -> float:
        now = time.monotonic()
        rate = (events - self.events) / max(1e-6, now - self.at)
        self.at, self.events = now, events
        return rate


class ViewReport:
    """The run loop's output through the dashboard or the JSON log (engine/obs/dashboard.py), with the
    Monitor (engine/obs/monitor.py) that also feeds --metrics-port. status() is called once a second:
    the dashboard redraws each time, the JSON log writes a status line every `json_every` s."""

    def __init__(self, err: Console, view, monitor, quiet: bool = False, worker: str | None = None,
                 store_kind: str = "", json_every: float = 5.0):
        from journeyctl.engine.obs.dashboard import JsonLog

        self.err = err
        self.view = view
        self.monitor = monitor
        self.quiet = quiet
        self.worker = worker
        self.store_kind = store_kind
        self.json = isinstance(view, JsonLog)
        self.json_every = json_every
        self._json_at = time.monotonic() + json_every

    def actions(self, actions: list) -> None:
        if self.quiet:
            return
        event = self.view.event
        for a in actions:
            event("action", **{k: a[k] for k in ACTION_KEYS})

    def handed(self, actions: list, arrived_at: float | None, handed_at: float) -> None:
        if actions:
            self.monitor.observe_actions(actions, handed_at=handed_at, arrived_at=arrived_at)

    def status(self, live) -> None:
        from journeyctl.engine.live.loop import shown_parts

        m = self.monitor
        if live.lags is not None:
            m.set_lag(live.lags)
        elif live.counts.broker != "ok":
            m.set_lag(None)
        c = live.counts
        m.set_health("broker", c.broker == "ok", "" if c.broker == "ok" else c.broker)
        waiting = live.outbox_waiting
        kind = f"{self.store_kind}; outbox {waiting}" if waiting else self.store_kind
        m.set_health("store", c.store == "ok", kind if c.store == "ok" else f"{kind}; {c.store}")
        idle = live.unowned_for()
        m.set_health("partitions", idle is None,
                     shown_parts(live.owned) if idle is None else f"none owned for {idle:.0f} s")
        m.set_live(partitions_owned=len(live.owned), recreated_partitions=live.recreated)
        snap = m.snapshot()
        if not self.json:
            self.view.update(snap)
            return
        now = time.monotonic()
        if now < self._json_at:
            return
        self._json_at = now + self.json_every
        extra = {"outbox": waiting, "delivered": c.delivered, "broker": c.broker, **clocks(live)}
        if self.worker is not None:
            extra.update(worker=self.worker, partitions=shown_parts(live.owned))
        self.view.event("status", **{**snap.to_dict(), **extra})

    def note(self, text: str) -> None:
        _say(self.err, text)
        if self.json:
            self.view.event("note", level="warning" if _is_problem(text) else "info", text=text)


def _is_problem(text: str) -> bool:
    return any(w in text for w in ("cannot", "failed", "lost", "gone", "not keyed", "refused", "too large",
                                   "engine error", "owned no partition"))


def _reloader(paths, config_path, err: Console, watch: bool):
    """The run loop's Reloader (engine/live/reload.py), loading the project as `run` did at start: a
    project with errors is shown on the terminal, as `validate` shows it."""
    from journeyctl.engine.live.reload import ReloadFailed, Reloader

    def load():
        try:
            _, irs, segments = project_to_run(paths, config_path, err)
        except UsageProblem as e:
            raise ReloadFailed(str(e)) from None
        return irs, segments

    return Reloader(paths, config_path, load, watch=watch)


class TerminalReport:
    """A line per action as it happens, a status line every few seconds. (The dashboard comes later.)"""

    STYLE = {"send": "green", "suppressed": "yellow", "held_out": "cyan", "unreachable": "red"}

    def __init__(self, err: Console, quiet: bool = False):
        self.err = err
        self.quiet = quiet
        self.console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
        self.rate = _Rate()

    def actions(self, actions: list) -> None:
        if self.quiet:
            return
        for a in actions:
            line = Text(a["due_at"][11:19] + "  ", style="dim")
            line.append(f"{a['status']:<12}", style=self.STYLE.get(a["status"], ""))
            line.append(visible(f"{a['channel']:<9}{a['template']:<22}"))
            line.append(visible(f"-> {a['customer_id']:<12}"), style="bold")
            line.append(visible(f" {a['journey']}"), style="dim")
            self.console.print(line)

    def handed(self, actions: list, arrived_at: float | None, handed_at: float) -> None:
        """No monitor to feed: the lines were printed by actions()."""

    def status(self, live) -> None:
        s = status_record(live)
        lag = "?" if s["lag"] is None else f"{s['lag']:,}"
        text = (f"{s['events']:,} events ({self.rate(s['events']):,.0f}/s) · {s['actions']:,} actions · "
                f"{s['dead_letters']:,} dead letters · lag {lag} · outbox {s['outbox']:,} · "
                f"{s['timers']:,} waiting · broker {s['broker']}")
        self.err.print(Text(text, style="dim"), soft_wrap=True)

    def note(self, text: str) -> None:
        _say(self.err, text)


def _say(err: Console, text: str) -> None:
    err.print(Text("journeyctl run: " + "\n".join(map(visible, text.split("\n")))), soft_wrap=True)


def _fail(err: Console, text: str):
    _say(err, text)
    sys.exit(2)
