"""`journeyctl demo`: the main job on an embedded default, for a first look.

Live (the default): an embedded Kafka-compatible broker, the short-wait journeys of
examples/live/, a generator of realistic traffic (engine/live/traffic.py) and the live
engine (`journeyctl run`'s own loop) printing each action as it happens, until
Ctrl-C (or --duration). `--offline` checks the project's journeys and replays
examples/events.jsonl through them instead, with no broker: exactly what
`journeyctl simulate journeys/ --events examples/events.jsonl --until ...`
gives, since both load the project (journeyctl.yaml included) the same way
(engine/cli/startup.py, dsl/project/).
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

import click
from rich.console import Console
from rich.text import Text

from journeyctl.dsl.project.config import CONFIG_NAME

from journeyctl.engine.cli import simulate
from journeyctl.engine.cli.startup import UsageProblem, project_to_run
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import format_instant
from journeyctl.engine.obs import render as show
from journeyctl.engine.replay.loop import replay
from journeyctl.engine.replay.sources import read_events
from journeyctl.engine.store.memory import MemoryStore

ROOT = Path(__file__).resolve().parents[2]  # the repository: examples/, journeys/ and journeyctl.yaml
OFFLINE_HORIZON = 21 * 86_400_000  # the offline replay runs three weeks past the last event, so waits come due


@click.command()
@click.option("--offline", is_flag=True, help="Replay examples/events.jsonl through journeys/ instead (no broker).")
@click.option("--journeys", "journeys_dir", type=click.Path(),
              help="Journeys to run (default: examples/live, or journeys/ with --offline).")
@click.option("--events", "events_path", default=str(ROOT / "examples" / "events.jsonl"), show_default=True,
              type=click.Path(), help="With --offline: the events to replay.")
@click.option("--rate", default=2.0, show_default=True, type=click.FloatRange(0.1, 1000),
              help="Customer visits started per second.")
@click.option("--seed", type=int, help="Make the traffic the same on every run.")
@click.option("--duration", type=click.FloatRange(1), help="Stop after this many seconds (default: at Ctrl-C).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Project config (default: the repository's journeyctl.yaml with the default journeys, "
                   "else ./journeyctl.yaml).")
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table", show_default=True,
              help="With --offline: a timeline and a summary, or the actions as `simulate --format jsonl` prints them.")
def demo(offline, journeys_dir, events_path, rate, seed, duration, config_path, fmt):
    """Watch journeys run live on generated traffic (Ctrl-C stops), or replay examples with --offline."""
    if config_path is None and journeys_dir is None and (ROOT / CONFIG_NAME).is_file():
        config_path = str(ROOT / CONFIG_NAME)  # the repository's own journeys go with its own config
    err = Console(stderr=True, highlight=False)
    journeys_dir = journeys_dir or str(ROOT / "journeys" if offline else ROOT / "examples" / "live")
    try:
        loaded = project_to_run([journeys_dir], config_path, err)
    except UsageProblem as e:
        err.print(Text(f"journeyctl demo: {e}"))
        sys.exit(2)
    if offline:
        _offline(journeys_dir, events_path, loaded, fmt)
    else:
        _live(journeys_dir, loaded, rate, seed, duration, err)


def _live(journeys_dir: str, loaded, rate: float, seed: int | None, duration: float | None, err: Console) -> None:
    from journeyctl.engine.live.broker import BrokerError, EmbeddedBroker
    from journeyctl.engine.cli.run import TerminalReport, defaults, run_live
    from journeyctl.engine.live.kafka_edge import Admin, EdgeError, KafkaSettings
    from journeyctl.engine.live.traffic import produce_traffic

    project, irs, segments = loaded
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    try:
        broker = EmbeddedBroker().start()
    except BrokerError as e:
        err.print(Text(f"journeyctl demo: {e}"))
        sys.exit(2)
    workdir = tempfile.mkdtemp(prefix="journeyctl-demo-")
    stop_traffic = threading.Event()
    traffic = None
    delivery = None
    try:
        kafka = KafkaSettings(broker.bootstrap)
        opts = {**defaults(), "state_url": f"sqlite:///{workdir}/state.db", "create_topics": True,
                "fetch_wait_ms": 10}
        try:
            admin = Admin(kafka)
            admin.create([*opts["events_topics"], opts["actions_topic"], opts["dead_letter_topic"],
                          opts["profiles_topic"]])
            admin.close()
        except EdgeError as e:
            err.print(Text(f"journeyctl demo: {e}"))
            sys.exit(2)
        console.print(Text(f"Live demo: {len(irs)} journeys from {journeys_dir}, about {rate:g} customer visits "
                           f"a second, broker on {broker.bootstrap}. Waits are seconds long; actions show as "
                           f"they are due. {'Ctrl-C stops.' if duration is None else f'Stops after {duration:g} s.'}",
                           style="bold"))
        for ir in irs:
            console.print(Text(f"  {ir.id:<22} {ir.title or ''}", style="dim"))
        delivery = _start_delivery(kafka, opts, console, err)
        traffic = threading.Thread(target=produce_traffic, args=(kafka, opts["events_topics"][0], stop_traffic),
                                   kwargs={"rate": rate, "seed": seed}, daemon=True)
        traffic.start()
        if duration is not None:
            timer = threading.Timer(duration, lambda: signal.raise_signal(signal.SIGTERM))
            timer.daemon = True
            timer.start()
        code, live = run_live(irs, segments, project, opts, kafka, 1_000, err, report=TerminalReport(err))
    finally:
        stop_traffic.set()
        if traffic is not None:
            traffic.join(3)
        if delivery is not None:
            delivery.stop()
            console.print()
            console.print(delivery.report.summary())
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if live is not None:
        console.print()
        engine = live.engine
        show.summary(console, engine.stats, sorted(engine.current), engine.stats.dead_letters, engine.stats.duplicates)
    sys.exit(code)


def _start_delivery(kafka, opts: dict, console: Console, err: Console):
    """`deliver` beside `run`: local SMTP and webhook receivers, each message printed as it is accepted
    (engine/deliver/demo.py), and Alex, the scripted first customer."""
    from journeyctl.engine.deliver.demo import DemoDelivery, alex

    delivery = DemoDelivery(kafka, opts["state_url"], ROOT, console, err, opts["actions_topic"],
                            opts["dead_letter_topic"]).start()
    console.print(Text(f"Messages go out for real: {delivery.where()}; each one shows as ✉ when accepted.",
                       style="bold"))
    alex(kafka, opts["events_topics"][0])
    return delivery


def _offline(journeys_dir: str, events_path: str, loaded, fmt: str) -> None:
    """The same engine `simulate` builds from the same project, run to three weeks past the last event."""
    project, irs, segments = loaded
    engine = Engine(irs, segments, store=MemoryStore(), channels=project.contacts,
                    default_timezone=project.options.default_timezone,
                    lateness=project.allowed_lateness if project.allowed_lateness is not None else 5_000)
    try:
        result = replay(engine, read_events(events_path), None)
    except (ValueError, OSError) as e:
        Console(stderr=True).print(Text(f"journeyctl demo: {e}"))
        sys.exit(2)
    until = (result.last_time or 0) + OFFLINE_HORIZON
    result.actions.extend(a.as_dict() for a in engine.advance_to(until))
    result.actions.sort(key=lambda a: (a["due_at"], a["customer_id"]))
    if fmt == "jsonl":
        simulate.FORMATS["jsonl"](sys.stdout.buffer, result, engine, None)
        sys.stdout.buffer.flush()
        return
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    console.print(Text(f"Checked the {len(irs) + len(segments)} journeys and segments in {journeys_dir}", style="bold"))
    for ir in [*irs, *segments]:
        console.print(Text(f"  {ir.id:<20} {ir.title or ''}"))
    console.print()
    show.timeline(console, result.actions)
    show.summary(console, engine.stats, sorted(engine.current), engine.stats.dead_letters, engine.stats.duplicates)
    console.print(Text(f"This is the replay `journeyctl simulate {_shown(journeys_dir)} --events {_shown(events_path)} "
                       f"--until {format_instant(until)}` gives (same project, same config).", style="dim"))


def _shown(path: str) -> str:
    """A path as the user would type it from here: relative when it is under the current folder."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative
