"""`status`, `inspect` and `segments`: what the store says, with no engine running.

Operators ask "who is waiting, until when?" and "why did this customer get that
message?" at 3 a.m.; these read the same store the engine writes, nothing else, and
never change it: the store is opened read-only, and a mistyped location is an error
(exit 2), not a new empty store. Text from the store goes to a terminal only through
`visible` (a customer id may hold anything an event sent).
"""
from __future__ import annotations

import json
import sys
from collections import Counter

import click
import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from journeyctl.dsl.report import visible
from journeyctl.engine.core.events import show_instant as format_instant  # a stored timer may lie past 9999
from journeyctl.engine.core.state import HELD_OUT
from journeyctl.engine.core.stats import OUTCOMES, Stats
from journeyctl.engine.obs.render import entries_shown, funnels
from journeyctl.engine.store.open import open_store
from journeyctl.engine.store.secrets import redact

STATE_HELP = "The engine's state store, e.g. sqlite:///journeyctl-state.db"


def _open(url: str):
    try:
        store = open_store(url, read_only=True)
    except (ValueError, OSError) as e:
        click.echo(f"journeyctl: {visible(e)}", err=True)
        sys.exit(2)
    if store.get_meta("clock") is None and not any(True for _ in store.customers()):
        click.echo(f"journeyctl: {visible(redact(url))} holds no engine state yet", err=True)
        sys.exit(2)
    return store


def _console() -> Console:
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def _emit_json(data) -> None:
    sys.stdout.buffer.write(_json(data, indent=True) + b"\n")


def _json(data, indent: bool = False) -> bytes:
    """orjson, or the stdlib for what orjson refuses (an integer past 64 bits a `set` step stored)."""
    try:
        return orjson.dumps(data, option=orjson.OPT_INDENT_2 if indent else None)
    except TypeError:
        return json.dumps(data, indent=2 if indent else None, ensure_ascii=False, default=str).encode()


def _stats(store) -> dict:
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


def _aggregate_shown(key: str, state):
    """A window as [[instant, value], ...]; other states as stored (a number, or [total, n] for an avg
    over all history). The key starts with the function. A list or tuple is a window unless the
    function is avg, where [total, n] and a window of one entry look alike: those two are shown as stored."""
    if ":per:" in key:  # a window per item (engine/core/per_item.py): [[instant, item, value], ...]
        return [[format_instant(state[i]), state[i + 1], state[i + 2]] for i in range(0, len(state) - 2, 3)]
    if type(state) in (list, tuple) and (not key.startswith("avg:") or len(state) != 2):
        return [[format_instant(state[i]), state[i + 1]] for i in range(0, len(state) - 1, 2)]
    return state


def _kind(store, version: str, state: str, cache: dict) -> str:
    if version not in cache:
        cache[version] = (store.load_version(version) or {}).get("states", {})
    return cache[version].get(state, {}).get("kind", "?")


def _parked_of(cid: str, cust) -> list[tuple]:
    """(was due, customer, journey, step, error) of a customer's parked timers."""
    return [(due, cid, j, step, why) for j, _, due, step, why in cust.parked_timers()]


def _parked(store) -> list[tuple]:
    """Every parked timer in the store, earliest first."""
    return sorted(p for cid, cust in store.customers() for p in _parked_of(cid, cust))


@click.command()
@click.option("--state", "state_url", default="sqlite:///journeyctl-state.db", show_default=True, help=STATE_HELP)
@click.option("--limit", default=20, show_default=True, help="How many waiting customers to list.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--period", type=click.Choice(["1h", "24h", "7d", "all"]), default="all", show_default=True,
              help="With --format json: counts over the last hour, day, week (of engine time) or all.")
def status(state_url, limit, fmt, period):
    """Per-journey counts and the customers waiting, and until when."""
    if fmt == "json":  # the numbers of the web UI's overview (engine/ui/figures.py), read from counters
        from journeyctl.engine.cli.ui import overview_record
        data = overview_record(state_url, period, limit)
        if data["parked_timers"]:  # a bug of ours parked timers: the one case worth looking at customers for
            parked = _parked(_open(state_url))
            data["parked"] = [{"due": format_instant(d), "customer_id": c, "journey": j, "step": s, "error": w}
                              for d, c, j, s, w in parked[:limit]]
            data["parked_timers"] = len(parked)
            data["pending_timers"] -= len(parked)  # they wait for `run --retry-parked`, not for a time
        return _emit_json(data)
    store = _open(state_url)
    stats = _stats(store)
    active: Counter = Counter()
    waiting = []
    parked = []  # timers that raised when they fired (engine_error), waiting for `run --retry-parked`
    kinds: dict = {}
    for cid, cust in store.customers():
        for inst in cust.instances:
            active[inst.journey] += 1
            if inst.due is not None:
                waiting.append((inst.due, cid, inst.journey, inst.state, _kind(store, inst.version, inst.state, kinds)))
        parked += _parked_of(cid, cust)
    waiting.sort()
    parked.sort()
    journeys = sorted(set(active) | set(stats.get("journeys", {})))
    funnel = {j: {"entered": stats.get("journeys", {}).get(j, {}).get("entered", 0), "active": active[j],
                  **{o: stats.get("journeys", {}).get(j, {}).get(o, 0) for o in OUTCOMES}} for j in journeys}
    clock = store.get_meta("clock")
    # `run`: where each input partition is read up to, and its stream time (lateness is judged against it)
    partitions = [{"topic": t, "partition": p, "offset": at.offset,
                   "clock": format_instant(at.clock) if at.clock is not None else None}
                  for (t, p), at in sorted(store.positions().items())]
    console = _console()
    console.print(Text(f"clock {format_instant(clock) if clock is not None else '-'}, "
                       f"{stats.get('events', 0):,} events applied, {len(waiting):,} waiting instances"
                       + (f", {len(parked):,} parked timers" if parked else "")))
    for p in partitions:
        console.print(Text(f"{p['topic']}[{p['partition']}]: read up to offset {p['offset']:,}, "
                           f"clock {p['clock'] or '-'}"))
    console.print(funnels((j, funnel[j]) for j in journeys))
    wait = Table(title=f"Waiting (first {min(limit, len(waiting))} of {len(waiting)})", title_justify="left")
    for col in ("until", "customer", "journey", "step"):
        wait.add_column(col)
    for due, cid, j, sid, kind in waiting[:limit]:
        wait.add_row(format_instant(due), Text(visible(cid)), Text(visible(j)), visible(f"{sid} ({kind})"))
    console.print(wait)
    if parked:
        table = Table(title=f"Parked timers: they raised when they fired; `journeyctl run --retry-parked` gives "
                            f"them their due time back (first {min(limit, len(parked))} of {len(parked)})",
                      title_justify="left")
        for col in ("was due", "customer", "journey", "step", "error"):
            table.add_column(col)
        for due, cid, j, sid, why in parked[:limit]:
            table.add_row(format_instant(due), Text(visible(cid)), Text(visible(j)), Text(visible(sid)),
                          Text(visible(why)))
        console.print(table)


@click.command()
@click.argument("customer")
@click.option("--state", "state_url", default="sqlite:///journeyctl-state.db", show_default=True, help=STATE_HELP)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def inspect(customer, state_url, fmt):
    """One customer's profile, segments, journey instances, timers and aggregates."""
    store = _open(state_url)
    cust = store.get(customer)
    if cust is None:
        click.echo(f"journeyctl: no state for customer {visible(repr(customer))} in {visible(redact(state_url))}",
                   err=True)
        sys.exit(1)
    kinds: dict = {}
    instances = [{"journey": i.journey, "version": i.version, "step": i.state,
                  "kind": _kind(store, i.version, i.state, kinds), "entered_at": format_instant(i.entered),
                  "waiting_until": format_instant(i.due) if i.due is not None else None,
                  "trigger_message_id": i.trigger_message, "holdout": bool(i.flags & HELD_OUT)} for i in cust.instances]
    data = {"customer_id": customer, "profile": cust.profile, "segments": sorted(cust.segments),
            "instances": instances,
            "entries": entries_shown(cust.entries),
            "aggregates": {key: _aggregate_shown(key, state) for key, state in cust.aggs.items()},
            "last_seen": {n: format_instant(t) for n, t in cust.last_seen.items()},
            # journeys that start `on date`: when each is scheduled for, and the last date it fired for
            "dates": {j: {"due": format_instant(due) if due is not None else None,
                          "fired": format_instant(fired) if fired is not None else None}
                      for j, (due, fired) in (cust._dates or {}).items()},
            "parked": [{"journey": j, "instance_id": iid, "was_due": format_instant(due), "step": step, "error": why}
                       for j, iid, due, step, why in cust.parked_timers()]}
    if fmt == "json":
        _emit_json(data)
        return
    console = _console()
    console.print(Text(f"Customer {visible(customer)}", style="bold"))
    console.print(Text("profile:  " + visible(_json(cust.profile).decode())))
    console.print(Text("segments: " + (visible(", ".join(data["segments"])) or "(none)")))
    table = Table(title="Journey instances", title_justify="left")
    for col in ("journey", "step", "entered", "waiting until", "trigger", "holdout"):
        table.add_column(col)
    for i in instances:
        table.add_row(Text(visible(i["journey"])), visible(f"{i['step']} ({i['kind']})"), i["entered_at"],
                      i["waiting_until"] or "-", Text(visible(i["trigger_message_id"])), "yes" if i["holdout"] else "")
    console.print(table)
    for p in data["parked"]:
        console.print(Text(visible(f"parked timer: {p['journey']} at {p['step']}, was due {p['was_due']}: "
                                   f"{p['error']} (journeyctl run --retry-parked gives it its due time back)"),
                           style="bold red"))
    for label, key in (("entries", "entries"), ("aggregates", "aggregates"), ("last seen", "last_seen"),
                       ("dates", "dates")):
        if data[key]:
            console.print(Text(f"{label}: " + visible(_json(data[key]).decode())))


@click.command()
@click.option("--state", "state_url", default="sqlite:///journeyctl-state.db", show_default=True, help=STATE_HELP)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def segments(state_url, fmt):
    """Segments with their member counts, and how many entered and left over time."""
    store = _open(state_url)
    members: Counter = Counter()
    for _, cust in store.customers():
        members.update(cust.segments)
    history = _stats(store).get("segments", {})
    names = sorted(set(members) | set(history))
    rows = {s: {"members": members[s], "entered": history.get(s, {}).get("entered", 0),
                "exited": history.get(s, {}).get("exited", 0)} for s in names}
    if fmt == "json":
        _emit_json(rows)
        return
    table = Table(title="Segments", title_justify="left")
    for col in ("segment", "members", "entered", "exited"):
        table.add_column(col, justify="left" if col == "segment" else "right")
    for s in names:
        table.add_row(Text(visible(s)), *(str(rows[s][c]) for c in ("members", "entered", "exited")))
    _console().print(table)
