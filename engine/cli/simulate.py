"""`journeyctl simulate`: replay history through the journeys, deterministically.

`--format jsonl` is the conformance interface (spec section 9); on a terminal the
default is a summary per journey. Exit 0 even with dead letters (they are
reported); 2 only for usage or I/O errors.
"""
from __future__ import annotations

import sys

import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from journeyctl.engine.obs import explain, render
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.replay.sources import parse_columns, parse_event_values, parse_map_option, read_events, sort_by_time
from journeyctl.dsl.durations import duration_option
from journeyctl.dsl.project.files import why_unreadable
from journeyctl.engine.core.actions import ACTION_KEYS
from journeyctl.engine.core.instants import command_line_instant
from journeyctl.engine.replay.hints import input_hints
from journeyctl.engine.replay.loop import replay
from journeyctl.engine.cli.startup import UsageProblem, open_state, project_to_run
from journeyctl.engine.store.open import checkpoint



def _jsonl(out, result, engine, console):
    for a in result.actions:
        record = {k: a[k] for k in ACTION_KEYS}
        if "message" in a:  # --render
            record["message"] = a["message"]
        out.write(orjson.dumps(record) + b"\n")


def _table(out, result, engine, console):
    render.timeline(console, result.actions)


def _summary(out, result, engine, console):
    render.summary(console, engine.stats, sorted(engine.current), engine.stats.dead_letters,
                   engine.stats.duplicates, engine.aggregates.ignored, engine.aggregates.not_times)


FORMATS = {"jsonl": _jsonl, "table": _table, "summary": _summary}


@click.command()
@click.argument("journeys", nargs=-1, required=True, type=click.Path())
@click.option("--events", "events_path", required=True, help="JSONL or CSV file of events, or - for stdin.")
@click.option("--input-format", type=click.Choice(["jsonl", "csv"]), help="Default: from the file name.")
@click.option("--map", "mapping", help="CSV columns for our fields: event=behavior,customer_id=user_id,...")
@click.option("--columns", help="Column names for a CSV file without a header row.")
@click.option("--event-values", help="Rename event values from a CSV column: pv=product_viewed,buy=purchase")
@click.option("--time-unit", type=click.Choice(["ms", "s"]), default="ms", help="Unit of numeric CSV times.")
@click.option("--until", help="Run the clock to this RFC 3339 instant, or a date (midnight UTC), at the end "
                             "(default: the last event).")
@click.option("--sort", "sort_input", is_flag=True, help="Order the input by timestamp before replaying.")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)),
              help="jsonl: actions as the spec says; table: a timeline; summary: counts per journey. "
                   "Default: summary on a terminal, jsonl otherwise.")
@click.option("--dead-letter", "dead_letter_path", type=click.Path(dir_okay=False),
              help="Write each bad line with its reason and line number here (JSONL).")
@click.option("--trace", "trace_customer", help="Print every decision taken for this customer.")
@click.option("--allowed-lateness", default=None, help="How far behind the clock an event may be (default 5s).")
@click.option("--state", "state_url", default="memory:", show_default=True,
              help="Where customer state lives: memory: or sqlite:///file.db")
@click.option("--profiles", "profiles_path", type=click.Path(dir_okay=False),
              help="Write every profile and segment membership change here (JSONL), as `run` publishes them.")
@click.option("--config", "config_path", type=click.Path(), help="Project config (default: ./journeyctl.yaml).")
@click.option("--render", "render_messages", is_flag=True,
              help="Add each action's rendered template as `message` ({subject?, body}) to --format jsonl.")
def simulate(journeys, events_path, input_format, mapping, columns, event_values, time_unit, until, sort_input,
             fmt, dead_letter_path, trace_customer, allowed_lateness, state_url, profiles_path, config_path,
             render_messages):
    """Replay EVENTS through the JOURNEYS (files or folders) and report the actions."""
    err = Console(stderr=True, highlight=False)
    try:
        project, irs, segments = project_to_run(journeys, config_path, err)
        lateness = (duration_option(allowed_lateness) if allowed_lateness else
                    project.allowed_lateness if project.allowed_lateness is not None else 5_000)
        until_ms = command_line_instant(until) if until else None
        items = read_events(events_path, input_format,
                            mapping=parse_map_option(mapping) if mapping else None,
                            columns=parse_columns(columns) if columns else None,
                            time_unit=time_unit,
                            event_values=parse_event_values(event_values) if event_values else None)
        store = open_state(state_url)
        dead_file = open(dead_letter_path, "wb") if dead_letter_path else None
    except UsageProblem as e:
        err.print(f"journeyctl simulate: {e}", markup=False)
        sys.exit(2)
    except (ValueError, OSError) as e:
        err.print(f"journeyctl simulate: {_problem(e)}", markup=False)
        sys.exit(2)

    engine = Engine(irs, segments, store=store, channels=project.contacts,
                    default_timezone=project.options.default_timezone, lateness=lateness,
                    trace_customer=trace_customer, explain=explain, profiles=bool(profiles_path), dedup_window=project.dedup_window)
    on_dead = (lambda d: dead_file.write(orjson.dumps(d.to_dict()) + b"\n")) if dead_file else None
    fmt = fmt or ("summary" if sys.stdout.isatty() else "jsonl")
    try:
        if sort_input:
            items = sort_by_time(items)
        if fmt == "summary" and sys.stderr.isatty():
            with Progress(TextColumn("replaying"), BarColumn(), TextColumn("{task.completed:,} lines"),
                          console=err, transient=True) as progress:
                task = progress.add_task("replay", total=None)
                result = replay(engine, items, until_ms, on_dead,
                                lambda n: progress.update(task, completed=n))
        else:
            result = replay(engine, items, until_ms, on_dead)
        checkpoint(engine)
    except (ValueError, OSError) as e:
        err.print(f"journeyctl simulate: {_problem(e)}", markup=False)
        sys.exit(2)
    finally:
        if dead_file:
            dead_file.close()
    if profiles_path:
        try:
            with open(profiles_path, "wb") as f:
                for rec in engine.drain_profile_records():
                    f.write(orjson.dumps(rec) + b"\n")
        except OSError as e:
            err.print(f"journeyctl simulate: {e}", markup=False)
            sys.exit(2)
    if render_messages:
        _render_messages(result.actions, project, err)
    out = sys.stdout.buffer
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    FORMATS[fmt](out, result, engine, console)
    out.flush()
    if trace_customer:
        render.trace(err if fmt == "jsonl" else console, trace_customer, engine.trace)
    if result.dead_letters:
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(_count(result.dead_letters).items()))
        where = f" (written to {dead_letter_path})" if dead_letter_path else " (use --dead-letter FILE to keep them)"
        err.print(f"{len(result.dead_letters)} dead letters: {reasons}{where}", markup=False)
    if result.after_until:
        err.print(f"{result.after_until} events stamped after --until were left out", markup=False)
    late = sum(1 for d in result.dead_letters if d.reason == "late")
    for hint in input_hints(irs, result.names, result.events, late, sort_input):
        err.print(f"hint: {hint}", markup=False)
    store.close()


def _problem(e: Exception) -> str:
    """A file that cannot be read, in words: `nope.jsonl: no such file or directory`, no errno."""
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename}: {why_unreadable(e)}" if e.filename is not None else why_unreadable(e)
    return str(e)


def _count(dead_letters):
    from collections import Counter
    return Counter(d.reason for d in dead_letters)


def _render_messages(actions: list, project, err) -> None:
    """--render: each action's template rendered into `message`; failures are said on stderr."""
    from journeyctl.engine.deliver.templates import attach_messages, project_templates

    errors = attach_messages(actions, project_templates(project))
    if errors:
        err.print(f"{len(errors)} message{'s' if len(errors) != 1 else ''} could not be rendered (their `message` "
                  f"holds the error); the first: {errors[0]}", markup=False)
