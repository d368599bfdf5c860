"""`journeyctl status`: per-journey counts, the customers waiting and until when, the parked timers
and where `run` has read each input partition up to, from the store alone (engine/cli/state.py)."""
from __future__ import annotations

from collections import Counter

import click
from rich.table import Table
from rich.text import Text

from journeyctl.dsl.report import visible
from journeyctl.engine.cli.state import STATE_HELP, emit_json, open_read_only, out_console, stats_added, step_kind
from journeyctl.engine.core.events import show_instant as format_instant  # a stored timer may lie past 9999
from journeyctl.engine.core.stats import OUTCOMES
from journeyctl.engine.obs.render import funnels


def _parked_of(cid: str, cust) -> list[tuple]:
    """(was due, customer, journey, step, error) of a customer's parked timers."""
    return [(p.due, cid, p.journey, p.step, p.error) for p in cust.parked_timers()]


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
            parked = _parked(open_read_only(state_url))
            data["parked"] = [{"due": format_instant(d), "customer_id": c, "journey": j, "step": s, "error": w}
                              for d, c, j, s, w in parked[:limit]]
            data["parked_timers"] = len(parked)
            data["pending_timers"] -= len(parked)  # they wait for `run --retry-parked`, not for a time
        return emit_json(data)
    store = open_read_only(state_url)
    stats = stats_added(store)
    active: Counter = Counter()
    waiting = []
    parked = []  # timers that raised when they fired (engine_error), waiting for `run --retry-parked`
    kinds: dict = {}
    for cid, cust in store.customers():
        for inst in cust.instances:
            active[inst.journey] += 1
            if inst.due is not None:
                waiting.append((inst.due, cid, inst.journey, inst.state, step_kind(store, inst.version, inst.state, kinds)))
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
    console = out_console()
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
