"""`journeyctl run`: the live engine on Kafka (engine/live.py), wired and rendered.

Every option can also come from the environment (`JOURNEYCTL_` + its name, like
JOURNEYCTL_BOOTSTRAP_SERVERS) or from the `run:` mapping of journeyctl.yaml (its
name with - or _); the command line wins over the environment, the environment
over the file. The SASL password comes only from JOURNEYCTL_SASL_PASSWORD or
--sasl-password-file, and is never printed.

Output: on a terminal, one line per action on stdout and a status line on stderr
every few seconds; with --no-dashboard (or when stdout is not a terminal), JSON
lines on stdout: {"log": "action", ...the action} and {"log": "status", ...}.
Problems and the broker's state are plain-text lines on stderr either way.
Exit 0 after SIGTERM/SIGINT; 2 for what a person must fix (settings, a refused
login, a missing topic); 1 for an internal error.
"""
from __future__ import annotations

import os
import signal
import sys
import time
import traceback

import click
import orjson
from click.core import ParameterSource
from rich.console import Console
from rich.text import Text

from dsl.diagnostics import did_you_mean

from .cli_simulate import ACTION_KEYS
from .events import format_instant, parse_duration
from .setup import UsageProblem, load_project, open_state

ENV = "JOURNEYCTL_"
PASSWORD_ENV = "JOURNEYCTL_SASL_PASSWORD"
NOT_IN_CONFIG = {"config_path"}


def _opt(*decls, **kw):
    """An option whose environment variable is JOURNEYCTL_ + its name."""
    name = next(d for d in decls if d.startswith("--")).split("/")[0][2:].replace("-", "_")
    kw.setdefault("envvar", ENV + name.upper())
    kw.setdefault("show_envvar", True)
    return click.option(*decls, **kw)


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
@_opt("--security-protocol", type=click.Choice(["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]),
      default="PLAINTEXT", show_default=True)
@_opt("--sasl-mechanism", type=click.Choice(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]))
@_opt("--sasl-username", help="SASL user; the password comes from the environment or a file only.")
@_opt("--sasl-password-file", type=click.Path(dir_okay=False),
      help=f"File holding the SASL password (or set {PASSWORD_ENV}).")
@_opt("--ssl-cafile", type=click.Path(dir_okay=False), help="CA certificates to trust (PEM).")
@_opt("--ssl-certfile", type=click.Path(dir_okay=False), help="Client certificate (PEM).")
@_opt("--ssl-keyfile", type=click.Path(dir_okay=False), help="Client private key (PEM).")
@click.option("--config", "config_path", type=click.Path(), help="Project config (default: ./journeyctl.yaml).")
@click.pass_context
def run(ctx, journeys, config_path, **options):
    """Run the JOURNEYS live: events from Kafka in, actions to Kafka out.

    State, input offsets and outgoing messages are committed together, so a crash
    at any moment loses no action, and one sent twice has the same action_id."""
    err = Console(stderr=True, highlight=False)
    try:
        project, irs, segments = load_project(journeys, config_path, err)
        opts = resolve_options(ctx, options, project.run)
        kafka = kafka_settings(opts)
        lateness = parse_duration(opts["allowed_lateness"]) if opts["allowed_lateness"] else \
            (project.allowed_lateness or 5_000)
    except (UsageProblem, ValueError) as e:
        _fail(err, str(e))
    broker = None
    if opts["embedded_broker"]:
        from .broker import BrokerError, EmbeddedBroker
        try:
            broker = EmbeddedBroker().start()
        except BrokerError as e:
            _fail(err, str(e))
        kafka = kafka_settings({**opts, "bootstrap_servers": broker.bootstrap})
        _say(err, f"embedded broker on {broker.bootstrap} (memory only: its topics go when journeyctl stops)")
    problems = kafka.problems()
    if problems:
        _fail(err, "; ".join(problems))
    try:
        code, _ = run_live(irs, segments, project, opts, kafka, lateness, err)
    finally:
        if broker is not None:
            broker.stop()
    sys.exit(code)


def defaults() -> dict:
    """Every option of `run` at its default, for callers that run the loop themselves (the demo)."""
    return {p.name: p.default for p in run.params if isinstance(p, click.Option)}


def run_live(irs, segments, project, opts, kafka, lateness, err, report=None):
    """Open the state, start the loop, stop it on SIGTERM/SIGINT. Returns (exit code, the loop)."""
    from .core import Engine
    from .kafka_edge import EdgeError
    from .live import Live, LiveSettings
    from .outbox import Outbox

    try:
        store = open_state(opts["state_url"])
    except UsageProblem as e:
        _say(err, str(e))
        return 2, None
    except Exception as e:  # noqa: BLE001 - a locked or foreign file, a full disk
        _say(err, f"cannot open the state {opts['state_url']}: {e}")
        return 2, None
    settings = LiveSettings(
        events_topics=tuple(opts["events_topics"]), actions_topic=opts["actions_topic"],
        dead_letter_topic=opts["dead_letter_topic"], group_id=opts["group_id"],
        create_topics=opts["create_topics"] if opts["create_topics"] is not None else bool(opts["embedded_broker"]),
        partitions=opts["partitions"], wall_clock=opts["clock"] == "wall",
        fetch_wait_ms=opts["fetch_wait_ms"] or (10 if opts["embedded_broker"] else 100))
    engine = Engine(irs, segments, store=store, channels=project.contacts,
                    default_timezone=project.options.default_timezone, lateness=lateness)
    outbox = Outbox(store, settings.actions_topic, settings.dead_letter_topic)
    if report is None:
        json_lines = opts["no_dashboard"] or not sys.stdout.isatty()
        report = (JsonReport if json_lines else TerminalReport)(err, quiet=opts["quiet"])
    live = Live(engine, outbox, kafka, settings, report)
    if not outbox.durable:
        _say(err, "state in memory: nothing survives a restart (use --state sqlite:///file.db)")
    _say(err, f"{len(irs)} journeys; reading {', '.join(settings.events_topics)} from {kafka.where()}; "
              f"actions to {settings.actions_topic}, dead letters to {settings.dead_letter_topic}; "
              f"state in {opts['state_url']}")

    def on_signal(signum, frame):
        if live.stopping:  # asked twice: everything read is committed already, so going now is safe
            os._exit(1)
        _say(err, f"{signal.Signals(signum).name}: finishing the batch in hand, flushing, leaving the group")
        live.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    code = 0
    try:
        live.run()
    except EdgeError as e:
        _say(err, str(e))
        code = 2
    except Exception:  # noqa: BLE001 - a bug: nothing of the batch in hand was committed
        _say(err, "internal error; nothing of the batch in hand was committed:\n" + traceback.format_exc())
        code = 1
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        store.close()
    if code == 0:
        c = live.counts
        _say(err, f"stopped: {c.events} events read, {c.actions} actions, {c.dead_letters} dead letters, "
                  f"{live.outbox_waiting} messages left in the outbox for the next start")
    return code, live


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


def kafka_settings(opts: dict):
    from .kafka_edge import KafkaSettings

    password = os.environ.get(PASSWORD_ENV) or None
    path = opts.get("sasl_password_file")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                password = f.read().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageProblem(f"cannot read the SASL password file {path}: "
                               f"{getattr(e, 'strerror', None) or 'not text'}") from None
    return KafkaSettings(bootstrap_servers=opts["bootstrap_servers"], security_protocol=opts["security_protocol"],
                         sasl_mechanism=opts["sasl_mechanism"], sasl_username=opts["sasl_username"],
                         sasl_password=password, ssl_cafile=opts["ssl_cafile"], ssl_certfile=opts["ssl_certfile"],
                         ssl_keyfile=opts["ssl_keyfile"])


# ---- rendering --------------------------------------------------------------------------------

def status_record(live) -> dict:
    c = live.counts
    clock = live.engine.clock
    return {"events": c.events, "actions": c.actions, "dead_letters": c.dead_letters, "delivered": c.delivered,
            "outbox": live.outbox_waiting, "lag": c.lag, "broker": c.broker,
            "timers": live.engine.pending_timers(), "clock": format_instant(clock) if clock is not None else None}


class _Rate:
    def __init__(self):
        self.at = time.monotonic()
        self.events = 0

    def __call__(self, events: int) -> float:
        now = time.monotonic()
        rate = (events - self.events) / max(1e-6, now - self.at)
        self.at, self.events = now, events
        return rate


class JsonReport:
    """One JSON object per line on stdout, for log collectors."""

    def __init__(self, err: Console, quiet: bool = False):
        self.err = err
        self.quiet = quiet
        self.out = sys.stdout.buffer
        self.rate = _Rate()

    def actions(self, actions: list) -> None:
        if self.quiet:
            return
        head = b'{"log":"action",'
        self.out.write(b"".join(head + orjson.dumps({k: a[k] for k in ACTION_KEYS})[1:] + b"\n" for a in actions))
        self.out.flush()

    def status(self, live) -> None:
        record = {"log": "status", "at": format_instant(int(time.time() * 1000)), **status_record(live)}
        record["events_per_s"] = round(self.rate(live.counts.events), 1)
        self.out.write(orjson.dumps(record) + b"\n")
        self.out.flush()

    def note(self, text: str) -> None:
        _say(self.err, text)


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
            line.append(f"{a['channel']:<9}{a['template']:<22}")
            line.append(f"-> {a['customer_id']:<12}", style="bold")
            line.append(f" {a['journey']}", style="dim")
            self.console.print(line)

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
    err.print(Text(f"journeyctl run: {text}"), soft_wrap=True)


def _fail(err: Console, text: str):
    _say(err, text)
    sys.exit(2)
