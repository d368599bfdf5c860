"""`journeyctl demo`: the main job on an embedded default, for a first look.

It checks the project's own journeys, then replays the example events through
them and shows what would have been sent and why the funnel looks as it does.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.text import Text

from dsl.loader import load_paths
from dsl.report import render, should_color

from . import render as show
from .core import Engine
from .event_sources import read_events
from .replay import replay

ROOT = Path(__file__).resolve().parent.parent


@click.command()
@click.option("--journeys", "journeys_dir", default=str(ROOT / "journeys"), show_default=True, type=click.Path())
@click.option("--events", "events_path", default=str(ROOT / "examples" / "events.jsonl"), show_default=True,
              type=click.Path())
def demo(journeys_dir, events_path):
    """Validate the project's journeys and replay the example events through them."""
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    loaded = load_paths([journeys_dir])
    console.print(Text(f"Checked {loaded.files_checked} journey files in {journeys_dir}", style="bold"))
    if loaded.diagnostics:
        console.print(Text(render(loaded.diagnostics, "text", loaded.sources, color=should_color(console.file))))
    irs = [c.ir for c in loaded.compiled if c.ir is not None]
    for ir in irs:
        console.print(Text(f"  {ir.id:<20} {ir.title or ''}"))
    engine = Engine([i for i in irs if i.kind == "journey"], [i for i in irs if i.kind == "segment"])
    result = replay(engine, read_events(events_path), None)
    # run the clock three weeks past the last event so every wait in the examples comes due
    result.actions.extend(engine.advance_to((result.last_time or 0) + 21 * 86_400_000))
    result.actions.sort(key=lambda a: (a["due_at"], a["customer_id"]))
    console.print()
    show.timeline(console, result.actions)
    show.summary(console, engine.stats, sorted(engine.current), engine.stats.dead_letters, engine.stats.duplicates,
                 engine.aggregates.ignored)
