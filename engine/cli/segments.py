"""`journeyctl segments`: each segment's members now, and how many entered and left over time, from
the store alone (engine/cli/state.py)."""
from __future__ import annotations

from collections import Counter

import click
from rich.table import Table
from rich.text import Text

from journeyctl.dsl.report import visible
from journeyctl.engine.cli.state import STATE_HELP, emit_json, open_read_only, out_console, stats_added


@click.command()
@click.option("--state", "state_url", default="sqlite:///journeyctl-state.db", show_default=True, help=STATE_HELP)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def segments(state_url, fmt):
    """Segments with their member counts, and how many entered and left over time."""
    store = open_read_only(state_url)
    members: Counter = Counter()
    for _, cust in store.customers():
        members.update(cust.segments)
    history = stats_added(store).get("segments", {})
    names = sorted(set(members) | set(history))
    rows = {s: {"members": members[s], "entered": history.get(s, {}).get("entered", 0),
                "exited": history.get(s, {}).get("exited", 0)} for s in names}
    if fmt == "json":
        emit_json(rows)
        return
    table = Table(title="Segments", title_justify="left")
    for col in ("segment", "members", "entered", "exited"):
        table.add_column(col, justify="left" if col == "segment" else "right")
    for s in names:
        table.add_row(Text(visible(s)), *(str(rows[s][c]) for c in ("members", "entered", "exited")))
    out_console().print(table)
