"""`journeyctl clock`: the clocks a state store keeps, and setting back one that a bad event moved.

`run` keeps, with each input partition's offset, that partition's stream time (an event
more than the allowed lateness behind it is late), and the engine clock, the latest of
them (`clock`, or `clock:<worker>` per worker of a shared store). An event stamped in the
future is dead-lettered since issue 15, but a store written before that (or with
`--max-clock-skew off`) may hold a clock years ahead, and then every later event of that
partition is dead-lettered `late`. This shows each clock and sets back the ones later
than an instant. Stop every `run` on the store first: a running worker writes its own
clocks back at its next commit.
"""
from __future__ import annotations

import sys
import time

import click

from journeyctl.engine.cli.state import STATE_HELP, emit_json, out_console
from journeyctl.engine.core.events import format_instant, parse_instant
from journeyctl.engine.core.store import DurableStore, StateStore
from journeyctl.engine.store.open import open_store

FUTURE_MS = 5 * 60_000  # what `run` allows by default (--max-clock-skew): later than now plus this is wrong


@click.command()
@click.option("--state", "state_url", default="sqlite:///journeyctl-state.db", show_default=True, help=STATE_HELP)
@click.option("--set-back-to", "set_back_to", metavar="now|INSTANT",
              help="Set every clock later than this (now, or an RFC 3339 instant) back to it. Stop `run` first.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def clock(state_url, set_back_to, fmt):
    """The engine clock and each input partition's stream time kept in the store; --set-back-to repairs them."""
    now = int(time.time() * 1000)
    try:
        target = None if set_back_to is None else now if set_back_to == "now" else parse_instant(set_back_to)
    except ValueError as e:
        click.echo(f"journeyctl clock: --set-back-to: {e}", err=True)
        sys.exit(2)
    try:
        store = open_store(state_url)
    except (ValueError, OSError) as e:
        click.echo(f"journeyctl clock: {e}", err=True)
        sys.exit(2)
    durable = store.durable()
    if durable is None:
        click.echo("journeyctl clock: memory: keeps no clock between runs", err=True)
        sys.exit(2)
    try:
        clocks = read_clocks(durable)
        changed = set_back(durable, clocks, target) if target is not None else []
    finally:
        store.close()
    if fmt == "json":
        emit_json({"clocks": [{"name": name, "offset": offset, "clock": _shown(value)}
                               for name, _, offset, value in clocks],
                    "set_back": [name for name, _, _, _ in changed], "to": _shown(target)})
        return
    console = out_console()
    for name, _, offset, value in clocks:
        where = f"offset {offset:>10,}  " if offset is not None else " " * 19
        late = "  (in the future: every event behind it is late)" if value is not None and value > now + FUTURE_MS \
            else ""
        console.print(f"{name:<28} {where}{_shown(value) or '-'}{late}", markup=False, highlight=False)
    if not clocks:
        console.print("no clock stored yet", markup=False)
    if target is not None:
        names = ", ".join(name for name, _, _, _ in changed) or "none was later"
        console.print(f"set back to {format_instant(target)}: {names}", markup=False, highlight=False)


def read_clocks(store: StateStore) -> list[tuple[str, object, int | None, int | None]]:
    """(name shown, where it is kept: a meta key or a (topic, partition), offset or None, clock) of the
    engine clock(s) and of every input partition."""
    out = [("engine clock" + (f" of worker {key[6:]}" if key != "clock" else ""), key, None, value)
           for key, value in sorted(store.meta_like("clock").items()) if key == "clock" or key.startswith("clock:")]
    out += [(f"{part[0]}[{part[1]}]", part, position.offset, position.clock)
            for part, position in sorted(store.positions().items())]
    return out


def set_back(store: DurableStore, clocks: list, target: int) -> list:
    """Set every stored clock later than `target` back to it, in one transaction; returns those changed."""
    changed = [c for c in clocks if c[3] is not None and c[3] > target]
    positions = store.positions()
    for _, where, _, _ in changed:
        if isinstance(where, str):
            store.set_meta(where, target)
    store.save_positions({where: positions[where]._replace(clock=target)
                          for _, where, _, _ in changed if not isinstance(where, str)})
    store.commit()
    return changed


def _shown(value) -> str | None:
    return format_instant(value) if isinstance(value, int) else None
