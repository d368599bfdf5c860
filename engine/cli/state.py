"""What the commands that read a store share (`status`, `inspect`, `segments`; `clock` its output):
a store opened to be read, and the figures read from it.

Operators ask "who is waiting, until when?" and "why did this customer get that
message?" at 3 a.m.; `status`, `inspect` and `segments` read the same store the engine writes,
nothing else, and never change it: the store is opened read-only, and a mistyped location is an
error (exit 2), not a new empty store. Text from the store goes to a terminal only through
`visible` (a customer id may hold anything an event sent).
"""
from __future__ import annotations

import json
import sys

import click
import orjson
from rich.console import Console

from journeyctl.dsl.report import visible
from journeyctl.engine.core.stats import Stats
from journeyctl.engine.store.open import open_store
from journeyctl.engine.store.secrets import redact

STATE_HELP = "The engine's state store, e.g. sqlite:///journeyctl-state.db"


def open_read_only(url: str):
    """The store at `url`, opened read-only; exit 2 with one line for a location that cannot be opened
    or holds no engine state (a mistyped path must not read as an empty store)."""
    try:
        store = open_store(url, read_only=True)
    except (ValueError, OSError) as e:
        click.echo(f"journeyctl: {visible(e)}", err=True)
        sys.exit(2)
    if store.get_meta("clock") is None and not any(True for _ in store.customers()):
        click.echo(f"journeyctl: {visible(redact(url))} holds no engine state yet", err=True)
        sys.exit(2)
    return store


def out_console() -> Console:
    """stdout as rich sees it: no highlighting of what the store holds, 160 columns when piped."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def emit_json(data) -> None:
    """`--format json`: the record, indented, as bytes (orjson's, see to_json)."""
    sys.stdout.buffer.write(to_json(data, indent=True) + b"\n")


def to_json(data, indent: bool = False) -> bytes:
    """orjson, or the stdlib for what orjson refuses (an integer past 64 bits a `set` step stored)."""
    try:
        return orjson.dumps(data, option=orjson.OPT_INDENT_2 if indent else None)
    except TypeError:
        return json.dumps(data, indent=2 if indent else None, ensure_ascii=False, default=str).encode()


def stats_added(store) -> dict:
    """The engine's counts: one `stats` entry for a single worker, or one `stats:<worker>` per worker
    sharing the store, added up."""
    parts = [store.get_meta("stats")]
    parts += list(store.meta_like("stats:").values())
    total = Stats()
    for part in parts:
        one = Stats()
        one.restore(part)
        total.events += one.events
        total.unused += one.unused
        total.duplicates += one.duplicates
        total.parked += one.parked
        for j, c in one.journeys.items():
            total.journeys[j].update(c)
        total.actions.update(one.actions)
        total.dead_letters.update(one.dead_letters)
        for seg, c in one.segments.items():
            total.segments[seg].update(c)
    return total.to_dict()


def step_kind(store, version: str, state: str, cache: dict) -> str:
    """The kind of a step (wait, send, ...) from the IR of the version the instance runs on, each
    version read from the store once per command (`cache`)."""
    if version not in cache:
        cache[version] = (store.load_version(version) or {}).get("states", {})
    return cache[version].get(state, {}).get("kind", "?")
