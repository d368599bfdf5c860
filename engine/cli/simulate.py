"""`journeyctl simulate`: replay history through the journeys, deterministically.

`--format jsonl` is the conformance interface (spec section 9); on a terminal the
default is a summary per journey. Exit 0 even with dead letters (they are
reported); 2 only for usage or I/O errors.
"""
from __future__ import annotations

import atexit
import os
import sys
import tempfile
from contextlib import contextmanager

import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from journeyctl.dsl.durations import duration_option
from journeyctl.dsl.project.files import why_unreadable
from journeyctl.engine.obs import explain, render
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.replay.sources import (NO_ROOM, input_format as reader_for, copy_input,
                                              parse_columns, parse_event_values, parse_map_option, read_events,
                                              sort_by_time)
from journeyctl.engine.core.instants import command_line_instant
from journeyctl.engine.replay.hints import input_hints
from journeyctl.engine.replay.leave import leave_for_exit
from journeyctl.engine.replay.loop import replay
from journeyctl.engine.replay.output import action_line, by_customer, jsonl_line
from journeyctl.engine.replay.parallel import MAX_JOBS, ReplayFailed, SplitReplay, Unsplit, replay_split
from journeyctl.engine.replay.shares import input_shares
from journeyctl.engine.cli.startup import UsageProblem, open_state, project_to_run
from journeyctl.engine.store.open import checkpoint, open_store

WRITE_CHUNK = 4096  # output lines joined per write


def _jsonl(out, result, engine, console):
    # the engine's tuples, spec objects (--render added their messages) or lines the replay processes wrote
    actions = result.actions
    if isinstance(result, SplitReplay) and result.lines:
        for start in range(0, len(actions), WRITE_CHUNK):  # (every one a line already: joined as they are)
            out.write(b"".join(actions[start:start + WRITE_CHUNK]))
        return
    for start in range(0, len(actions), WRITE_CHUNK):
        out.write(b"".join(a if type(a) is bytes else jsonl_line(a) if type(a) is dict else action_line(a)
                           for a in actions[start:start + WRITE_CHUNK]))


def _table(out, result, engine, console):
    render.timeline(console, result.actions)


def _summary(out, result, engine, console):
    render.summary(console, engine.stats, sorted(engine.current), engine.stats.dead_letters,
                   engine.stats.duplicates, engine.aggregates.warnings.ignored,
                   engine.aggregates.warnings.not_times)


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
@click.option("--jobs", type=click.IntRange(min=1, max=MAX_JOBS), default=1, show_default=True,
              help="Replay in this many processes, customers split by murmur2 of their id as `run` splits them "
                   "over partitions. The output is that of one process.")
def simulate(journeys, events_path, input_format, mapping, columns, event_values, time_unit, until, sort_input,
             fmt, dead_letter_path, trace_customer, allowed_lateness, state_url, profiles_path, config_path,
             render_messages, jobs):
    """Replay EVENTS through the JOURNEYS (files or folders) and report the actions."""
    err = Console(stderr=True, highlight=False)
    try:
        project, irs, segments = project_to_run(journeys, config_path, err)
        lateness = (duration_option(allowed_lateness) if allowed_lateness else
                    project.allowed_lateness if project.allowed_lateness is not None else 5_000)
        until_ms = command_line_instant(until) if until else None
        options = dict(mapping=parse_map_option(mapping) if mapping else None,
                       columns=parse_columns(columns) if columns else None, time_unit=time_unit,
                       event_values=parse_event_values(event_values) if event_values else None)
        kind = reader_for(events_path, input_format)
        # a pipe is read once; a gzip file of JSON lines decompressed once is read in byte ranges (shares.py)
        spool = jobs > 1 and (events_path == "-" or kind == "jsonl" and not sort_input
                              and events_path.lower().endswith(".gz"))
        source = _spooled(events_path, err) if spool else events_path
        store = open_state(state_url)
        dead_file = open(dead_letter_path, "wb") if dead_letter_path else None
    except UsageProblem as e:
        err.print(f"journeyctl simulate: {e}", markup=False)
        sys.exit(2)
    except (ValueError, OSError) as e:
        err.print(f"journeyctl simulate: {_problem(e)}", markup=False)
        sys.exit(2)

    def make_engine(store):
        return Engine(irs, segments, store=store, channels=project.contacts,
                      default_timezone=project.options.default_timezone, lateness=lateness,
                      trace_customer=trace_customer, explain=explain, profiles=bool(profiles_path),
                      dedup_window=project.dedup_window)

    def read(parse: bool = True):
        items = read_events(source, kind, parse=parse or sort_input, **options)
        return sort_by_time(items) if sort_input else items

    engine = make_engine(store)
    fmt = fmt or ("summary" if sys.stdout.isatty() else "jsonl")
    stored = state_url not in ("memory:", "", None)
    try:
        with _progress(err, sys.stderr.isatty() and (fmt == "summary" or jobs > 1)) as on_progress:
            result = None
            if jobs > 1:
                # a replay process only reads a stored state: the changes come back here to be written
                reader = (lambda: open_store(state_url, read_only=True)) if stored else (lambda: open_state("memory:"))
                # a file of JSON lines is read a share per process; anything else by the first (replay/shares.py)
                shares = input_shares(source, jobs, lambda: read(parse=False), lines=kind == "jsonl" and not sort_input)
                try:
                    result = replay_split(engine, make_engine, reader, shares, until_ms,
                                          jsonl=fmt == "jsonl" and not render_messages, stored=stored,
                                          on_progress=on_progress)
                    engine.trace = result.trace
                    profiles = result.profiles
                except Unsplit as e:
                    err.print(f"journeyctl simulate: {e}{e.so}; replaying in one process", markup=False)
                    store.close()
                    store = open_state(state_url)
                    engine = make_engine(store)
            if result is None:
                result = replay(engine, read(), until_ms, None, on_progress,
                                spec_form=fmt != "jsonl" or render_messages)
                profiles = engine.drain_profile_records() if profiles_path else []
        checkpoint(engine)
        if dead_file:
            for d in result.dead_letters:
                dead_file.write(orjson.dumps(d.to_dict()) + b"\n")
    except (ValueError, OSError) as e:
        err.print(f"journeyctl simulate: {_problem(e)}", markup=False)
        sys.exit(2)
    except ReplayFailed as e:
        err.print(f"journeyctl simulate: a replay process failed (please report this):\n{e}", markup=False)
        sys.exit(2)
    finally:
        if dead_file:
            dead_file.close()
    if profiles_path:
        try:
            with open(profiles_path, "wb") as f:
                for rec in by_customer(profiles):
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
    leave_for_exit(engine, result)


def _problem(e: Exception) -> str:
    """A file that cannot be read, in words: `nope.jsonl: no such file or directory`, no errno."""
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename}: {why_unreadable(e)}" if e.filename is not None else why_unreadable(e)
    return str(e)


@contextmanager
def _progress(err: Console, show: bool):
    """A line counter on stderr while the replay reads (a terminal only): the callback, or None."""
    if not show:
        yield None
        return
    with Progress(TextColumn("replaying"), BarColumn(), TextColumn("{task.completed:,} lines"),
                  console=err, transient=True) as progress:
        task = progress.add_task("replay", total=None)
        yield lambda n: progress.update(task, completed=n)


def _spooled(path: str, err: Console) -> str:
    """Standard input or a gzip file, as it reads, copied to a temporary file: a split replay reads its
    input in shares, and again in one process if it must fall back (the file is removed when this process
    ends). Decompressed, a gzip file of JSON lines is shared in byte ranges, where the first process read
    it all and handed the others their lines (the standard 1M events at --jobs 2, one run each: 20.0 s and
    0.6 GB where it took 21.9 s and 1.0 GB; 17.8 s for the same file uncompressed). Without the room for
    it, a gzip file is read as before."""
    name = None
    try:
        with tempfile.NamedTemporaryFile(prefix="journeyctl-input-", delete=False) as spool:
            name = spool.name
            atexit.register(_remove, name)  # (cut short or not)
            copy_input(path, spool)
    except OSError as e:
        if path == "-" or e.errno not in NO_ROOM:
            raise
        if name is not None:
            _remove(name)
        err.print(f"journeyctl simulate: no room to decompress {path} for --jobs ({os.strerror(e.errno)}); "
                  "the first process reads it", markup=False)
        return path
    return spool.name


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


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
