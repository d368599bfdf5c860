"""What a person sees of a replay or a store: the journeys' funnels, a timeline, a customer's trace.

Rendering only: everything shown comes from the engine's Stats, actions and trace
records. User text is never read as rich markup, and reaches the terminal only through
`visible` (no escape sequence from an event's data).
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from journeyctl.dsl.report import visible
from journeyctl.engine.core.events import show_instant
from journeyctl.engine.core.stats import OUTCOMES


def entries_shown(entries: dict) -> dict:
    """A customer's entries (Customer.entries: journey id -> [last entry, count]) as `state show` and the
    web UI's customer page both show them: {journey: {"last": instant, "count": n}}. The one reader of
    that pair outside the core, so its order is named once."""
    return {journey: {"last": show_instant(last), "count": count} for journey, (last, count) in entries.items()}


def funnels(rows: Iterable[tuple[str, dict]]) -> Table:
    """Per journey (given as (id, counts)): entered, active and each outcome; simulate's summary and `status`."""
    table = Table(title="Journeys", title_justify="left")
    table.add_column("journey")
    for col in ("entered", "active", *OUTCOMES):
        table.add_column(col, justify="right")
    for j, counts in rows:
        table.add_row(Text(visible(j)), *(str(counts[c]) for c in ("entered", "active", *OUTCOMES)))
    return table


def summary(console: Console, stats, journeys: list[str], dead_letters: Counter, duplicates: int,
            ignored_values: int = 0, not_times: int = 0) -> None:
    console.print(funnels((j, stats.funnel(j)) for j in journeys))

    actions = Table(title="Actions", title_justify="left")
    for col in ("journey", "channel", "status", "count"):
        actions.add_column(col, justify="right" if col == "count" else "left")
    for (journey, channel, status), n in sorted(stats.actions.items()):
        actions.add_row(Text(visible(journey)), Text(visible(channel)), Text(visible(status)), str(n))
    if not stats.actions:
        actions.add_row("(none)", "", "", "0")
    console.print(actions)

    line = f"{stats.events} events applied, {stats.unused} read by no journey, {duplicates} duplicates ignored"
    if dead_letters:
        line += ", dead letters: " + ", ".join(f"{visible(r)} {n}" for r, n in sorted(dead_letters.items()))
    else:
        line += ", no dead letters"
    if ignored_values:
        line += f"; data warning: {ignored_values} non-numeric values ignored by sum/min/max/avg"
    if not_times:
        line += f"; data warning: {not_times} {'value that is' if not_times == 1 else 'values that are'} not a time " \
                "read as null where a time was needed"
    console.print(Text(line))


def timeline(console: Console, actions: list[dict]) -> None:
    table = Table(title="Timeline", title_justify="left")
    for col in ("due_at", "customer", "journey", "channel", "template", "status", "variables"):
        table.add_column(col)
    for a in actions:
        variables = ", ".join(f"{k}={v}" for k, v in a["variables"].items())
        table.add_row(*(Text(visible(x)) for x in (a["due_at"], a["customer_id"], a["journey"], a["channel"],
                                                a["template"], a["status"], variables)))
    console.print(table)


def trace(console: Console, customer: str, records: list) -> None:
    console.print(Text(f"Trace of customer {visible(customer)}", style="bold"))
    if not records:
        console.print(Text("  (no decisions: no event of this customer touched any journey)"))
    for t, journey, text in records:
        console.print(Text(f"  {show_instant(t)}  {visible(journey):<20}  {visible(text)}"))
