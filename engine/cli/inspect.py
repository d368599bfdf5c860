"""`journeyctl inspect`: one customer as the store holds it (profile, segments, instances, timers,
aggregates), read-only (engine/cli/state.py)."""
from __future__ import annotations

import sys

import click
from rich.table import Table
from rich.text import Text

from journeyctl.dsl.report import visible
from journeyctl.engine.cli.state import STATE_HELP, emit_json, open_read_only, out_console, step_kind, to_json
from journeyctl.engine.core.events import show_instant as format_instant  # a stored timer may lie past 9999
from journeyctl.engine.core.state import HELD_OUT
from journeyctl.engine.obs.render import entries_shown
from journeyctl.engine.store.secrets import redact


def _aggregate_shown(key: str, state):
    """A window as [[instant, value], ...]; other states as stored (a number, or [total, n] for an avg
    over all history). The key starts with the function. A list or tuple is a window unless the
    function is avg, where [total, n] and a window of one entry look alike: those two are shown as stored."""
    if ":per:" in key:  # a window per item (engine/core/per_item.py): [[instant, item, value], ...]
        return [[format_instant(state[i]), state[i + 1], state[i + 2]] for i in range(0, len(state) - 2, 3)]
    if type(state) in (list, tuple) and (not key.startswith("avg:") or len(state) != 2):
        return [[format_instant(state[i]), state[i + 1]] for i in range(0, len(state) - 1, 2)]
    return state


@click.command()
@click.argument("customer")
@click.option("--state", "state_url", default="sqlite:///journeyctl-state.db", show_default=True, help=STATE_HELP)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def inspect(customer, state_url, fmt):
    """One customer's profile, segments, journey instances, timers and aggregates."""
    store = open_read_only(state_url)
    cust = store.get(customer)
    if cust is None:
        click.echo(f"journeyctl: no state for customer {visible(repr(customer))} in {visible(redact(state_url))}",
                   err=True)
        sys.exit(1)
    kinds: dict = {}
    instances = [{"journey": i.journey, "version": i.version, "step": i.state,
                  "kind": step_kind(store, i.version, i.state, kinds), "entered_at": format_instant(i.entered),
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
            "parked": [{"journey": p.journey, "instance_id": p.instance_id, "was_due": format_instant(p.due),
                        "step": p.step, "error": p.error} for p in cust.parked_timers()]}
    if fmt == "json":
        emit_json(data)
        return
    console = out_console()
    console.print(Text(f"Customer {visible(customer)}", style="bold"))
    console.print(Text("profile:  " + visible(to_json(cust.profile).decode())))
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
            console.print(Text(f"{label}: " + visible(to_json(data[key]).decode())))
