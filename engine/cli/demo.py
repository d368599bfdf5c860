"""`journeyctl demo`: the main job on an embedded default, for a first look.

Live (the default): an embedded Kafka-compatible broker, the short-wait journeys of
examples/live/, a generator of realistic traffic (engine/traffic.py) and the live
engine (`journeyctl run`'s own loop) printing each action as it happens, until
Ctrl-C (or --duration). `--offline` checks the project's journeys and replays
examples/events.jsonl through them instead, with no broker.
"""
from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

import click
from rich.console import Console
from rich.text import Text

from journeyctl.dsl.loader import load_paths
from journeyctl.dsl.report import render, should_color

from journeyctl.engine.obs import render as show
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.store.memory import MemoryStore
from journeyctl.engine.replay.sources import read_events
from journeyctl.engine.replay.loop import replay

ROOT = Path(__file__).resolve().parents[2]  # the repository: examples/ and journeys/


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
def demo(offline, journeys_dir, events_path, rate, seed, duration):
    """Watch journeys run live on generated traffic (Ctrl-C stops), or replay examples with --offline."""
    if offline:
        _offline(journeys_dir or str(ROOT / "journeys"), events_path)
    else:
        _live(journeys_dir or str(ROOT / "examples" / "live"), rate, seed, duration)


def _live(journeys_dir: str, rate: float, seed: int | None, duration: float | None) -> None:
    from journeyctl.engine.live.broker import BrokerError, EmbeddedBroker
    from journeyctl.engine.cli.run import TerminalReport, defaults, run_live
    from journeyctl.engine.live.kafka_edge import Admin, EdgeError, KafkaSettings
    from journeyctl.engine.cli.setup import UsageProblem, load_project
    from journeyctl.engine.live.traffic import produce_traffic

    err = Console(stderr=True, highlight=False)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    try:
        project, irs, segments = load_project([journeys_dir], None, err)
    except UsageProblem as e:
        err.print(Text(f"journeyctl demo: {e}"))
        sys.exit(2)
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


def _offline(journeys_dir: str, events_path: str) -> None:
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    loaded = load_paths([journeys_dir])
    console.print(Text(f"Checked {loaded.files_checked} journey files in {journeys_dir}", style="bold"))
    if loaded.diagnostics:
        console.print(Text(render(loaded.diagnostics, "text", loaded.sources, color=should_color(console.file))))
    irs = [c.ir for c in loaded.compiled if c.ir is not None]
    for ir in irs:
        console.print(Text(f"  {ir.id:<20} {ir.title or ''}"))
    engine = Engine([i for i in irs if i.kind == "journey"], [i for i in irs if i.kind == "segment"], store=MemoryStore())
    result = replay(engine, read_events(events_path), None)
    # run the clock three weeks past the last event so every wait in the examples comes due
    result.actions.extend(a.as_dict() for a in engine.advance_to((result.last_time or 0) + 21 * 86_400_000))
    result.actions.sort(key=lambda a: (a["due_at"], a["customer_id"]))
    console.print()
    show.timeline(console, result.actions)
    show.summary(console, engine.stats, sorted(engine.current), engine.stats.dead_letters, engine.stats.duplicates)
