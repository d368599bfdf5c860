"""`journeyctl deliver`: journey.actions in, messages out, each action's effect once (engine/deliver/loop.py).

Options work like `run`'s: each is also JOURNEYCTL_<NAME> in the environment, and the
settings the two share (the cluster, --state, the actions and dead-letter topics) are read
from `run:` in journeyctl.yaml too. The channels' providers come from journeyctl.yaml `delivery:`,
each option of which can be set with `--delivery CHANNEL.OPTION=VALUE` or
JOURNEYCTL_DELIVERY_<CHANNEL>_<OPTION>. Secrets only from environment variables or files.

Exit 0 after SIGTERM/SIGINT; 2 for what a person must fix (settings, a missing topic, a
refused login); 1 for an internal error.
"""
from __future__ import annotations

import os
import signal
import sys
import traceback

import click
from click.core import ParameterSource
from rich.console import Console
from rich.text import Text

from journeyctl.engine.cli.kafka_opts import PASSWORD_ENV, env_option, kafka_settings
from journeyctl.engine.cli.startup import UsageProblem, open_state
from journeyctl.engine.store.secrets import redact

SHARED_WITH_RUN = ("bootstrap_servers", "state", "actions_topic", "dead_letter_topic", "security_protocol",
                   "sasl_mechanism", "sasl_username", "sasl_password_file", "ssl_cafile", "ssl_certfile",
                   "ssl_keyfile", "embedded_broker")


_opt = env_option


@click.command()
@_opt("--bootstrap-servers", default="localhost:9092", show_default=True, help="HOST:PORT[,HOST:PORT...] of the cluster.")
@_opt("--actions-topic", default="journey.actions", show_default=True, help="The actions `run` produces.")
@_opt("--deliveries-topic", default="journey.deliveries", show_default=True,
      help="Where receipts go: message_sent / message_failed events, keyed by customer id.")
@_opt("--dead-letter-topic", default="journey.dead-letter", show_default=True,
      help="Where messages that cannot be delivered go, with the provider's answer.")
@_opt("--events-topic", default="events", show_default=True, help="Where --receipts-to-events sends receipts.")
@_opt("--receipts-to-events", is_flag=True,
      help="Also send each receipt to the events topic, as an event of its customer, so journeys can react.")
@_opt("--group-id", default="journeyctl-deliver", show_default=True, help="Consumer group of the deliver workers.")
@_opt("--state", "state_url", default="sqlite:///journeyctl-state.db", show_default=True,
      help="Where delivered ids and offsets live: run's store (sqlite:///... or postgresql://...).")
@_opt("--delivery", "delivery_overrides", multiple=True, metavar="CHANNEL.OPTION=VALUE",
      help="Set a delivery option of journeyctl.yaml, like whatsapp.url=http://...; repeat.")
@_opt("--create-topics", is_flag=True, help="Create missing topics.")
@_opt("--partitions", type=click.IntRange(1, 1000), default=1, show_default=True, help="Of the topics it creates.")
@_opt("--max-in-flight", type=click.IntRange(1, 1_000_000), default=2_000, show_default=True,
      help="Actions read and not yet settled; past this, reading pauses until half are.")
@_opt("--fetch-wait-ms", type=click.IntRange(1, 10_000), default=100, show_default=True,
      help="How long the broker may hold a fetch with nothing new (10 suits the embedded broker).")
@_opt("--no-dashboard", is_flag=True, help="JSON log lines on stdout instead of the terminal view.")
@_opt("--quiet", is_flag=True, help="No line per message; status only.")
@_opt("--metrics-port", type=click.IntRange(0, 65535), help="Serve Prometheus metrics on this port (0: a free one).")
@_opt("--security-protocol", type=click.Choice(["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]),
      default="PLAINTEXT", show_default=True)
@_opt("--sasl-mechanism", type=click.Choice(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]))
@_opt("--sasl-username", help=f"SASL user; the password from {PASSWORD_ENV} or --sasl-password-file only.")
@_opt("--sasl-password-file", type=click.Path(dir_okay=False))
@_opt("--ssl-cafile", type=click.Path(dir_okay=False))
@_opt("--ssl-certfile", type=click.Path(dir_okay=False))
@_opt("--ssl-keyfile", type=click.Path(dir_okay=False))
@click.option("--config", "config_path", type=click.Path(), help="Project config (default: ./journeyctl.yaml).")
@click.pass_context
def deliver(ctx, config_path, **opts):
    """Send the actions on --actions-topic through the providers in journeyctl.yaml `delivery:`.

    Each action id takes effect once: delivered ids and offsets are committed together in
    the --state store, and a message sent again after a crash carries the same
    Idempotency-Key / Message-ID."""
    err = Console(stderr=True, highlight=False)
    try:
        project, settings, channels, providers, templates = prepare(ctx, config_path, opts)
        kafka = kafka_settings({**opts, "embedded_broker": False})
    except UsageProblem as e:
        _fail(err, str(e))
    problems = kafka.problems()
    if problems:
        _fail(err, "; ".join(problems))
    view = "json" if opts["no_dashboard"] or not sys.stdout.isatty() else "dashboard"
    from journeyctl.engine.deliver.monitor import DeliverReport

    report = DeliverReport(err, view, stream=sys.stdout, quiet=opts["quiet"])
    code, _ = run_deliver(settings, channels, providers, templates, opts, kafka, err, report)
    sys.exit(code)


def prepare(ctx, config_path, opts: dict):
    """(project, DeliverSettings, channels, providers, templates) or UsageProblem in plain words."""
    from journeyctl.dsl.project import load_project
    from journeyctl.dsl.project.config import ConfigError
    from journeyctl.engine.deliver.loop import DeliverSettings, Topics
    from journeyctl.engine.deliver.providers import SettingsError
    from journeyctl.engine.deliver.settings import build, channels_from, merged
    from journeyctl.engine.deliver.templates import project_templates

    try:
        loaded = load_project([], config_path)  # the project's config alone: deliver reads no journeys
    except ConfigError as e:
        raise UsageProblem(str(e)) from None
    project, errors = loaded.config, loaded.errors
    if errors:
        raise UsageProblem("the project config has errors (journeyctl validate shows them): " +
                           "; ".join(f"{d.path}:{d.span.line}: {d.message}" for d in errors[:3]))
    if ctx is not None:
        _from_file(ctx, opts, project.run)
    try:
        delivery = merged(project.delivery, os.environ, opts.get("delivery_overrides") or (),
                          project.options.channels)
        if not delivery:
            raise UsageProblem("journeyctl.yaml has no delivery: section, so no channel has a provider; add one, "
                               "like  delivery: {whatsapp: {provider: webhook, url: \"http://...\"}}")
        channels = channels_from(delivery)
        providers = {ch: build(c, os.environ) for ch, c in channels.items()}
    except SettingsError as e:
        raise UsageProblem(str(e)) from None
    settings = DeliverSettings(
        topics=Topics(opts["actions_topic"], opts["deliveries_topic"], opts["dead_letter_topic"], opts["events_topic"]),
        group_id=opts["group_id"], create_topics=bool(opts["create_topics"]), partitions=opts["partitions"],
        receipts_to_events=bool(opts["receipts_to_events"]), max_in_flight=opts["max_in_flight"],
        fetch_wait_ms=opts["fetch_wait_ms"])
    return project, settings, channels, providers, project_templates(project)


def _from_file(ctx, opts: dict, run_section: dict) -> None:
    """Settings deliver shares with run, from journeyctl.yaml `run:`, where the command line and the
    environment left the default."""
    for key, value in (run_section or {}).items():
        name = str(key).replace("-", "_")
        if name not in SHARED_WITH_RUN or name == "embedded_broker":
            continue
        target = "state_url" if name == "state" else name
        if ctx.get_parameter_source(target) in (ParameterSource.DEFAULT, None):
            opts[target] = value


def run_deliver(settings, channels, providers, templates, opts, kafka, err, report):
    """Open the store, run the loop until SIGTERM/SIGINT. Returns (exit code, the loop)."""
    from journeyctl.engine.deliver.loop import Deliverer
    from journeyctl.engine.live.kafka_edge import EdgeError, KafkaCluster
    from journeyctl.engine.store.faults import StoreFault

    url = opts["state_url"]
    try:
        store = open_state(url)
    except UsageProblem as e:  # a locked or foreign file, a database that is away: in the store's words
        _say(err, str(e))
        return 2, None
    durable = store.durable()
    if durable is None:
        _say(err, "deliver needs a durable store to deliver each message once: --state sqlite:///file.db or "
                  "postgresql://...")
        return 2, None
    durable.deliver_tables()
    d = Deliverer(durable, KafkaCluster(kafka), settings, channels, providers, templates, report)
    metrics = None
    if opts.get("metrics_port") is not None:
        from journeyctl.engine.deliver.monitor import serve_metrics
        try:
            metrics = serve_metrics(opts["metrics_port"], report)
        except OSError as e:
            _say(err, f"cannot serve metrics on port {opts['metrics_port']}: {e.strerror or e}")
            store.close()
            return 2, None
        _say(err, f"metrics on {metrics.url}")
    for ch, p in sorted(providers.items()):
        rate = channels[ch].rate
        _say(err, f"{ch}: {p.describe()}" + (f", at most {rate:g}/s" if rate else ""))
    _say(err, f"reading {settings.topics.actions} from {kafka.where()} as group {settings.group_id}; receipts to "
              f"{settings.topics.deliveries}" + (f" and {settings.topics.events}" if settings.receipts_to_events else "")
              + f"; state in {redact(url)}")

    def on_signal(signum, frame):
        if d.stopping:
            os._exit(1)
        _say(err, f"{signal.Signals(signum).name}: finishing what is in flight, committing, leaving the group")
        d.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    report.start()
    code = 0
    try:
        d.run()
    except EdgeError as e:
        _say(err, str(e))
        code = 2
    except StoreFault as e:
        _say(err, f"deliver stopped: {e}")
        code = 2
    except Exception:  # noqa: BLE001 - a bug: what was not committed is delivered by the next run
        _say(err, "internal error:\n" + traceback.format_exc())
        code = 1
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        report.stop()
        if metrics is not None:
            metrics.close()
        store.close()
    c = d.counts
    if code == 0:
        _say(err, f"stopped: {c.read} actions read, {c.sent} sent, {c.failed} failed, {c.duplicates} duplicates "
                  f"dropped, {c.recorded} other statuses recorded")
    return code, d


def _say(err: Console, text: str) -> None:
    err.print(Text(f"journeyctl deliver: {text}"), soft_wrap=True)


def _fail(err: Console, text: str):
    _say(err, text)
    sys.exit(2)
