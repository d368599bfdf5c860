"""The live view of `journeyctl run`: a rich dashboard on a terminal, JSON lines otherwise.

`render(snapshot)` builds the dashboard from a Snapshot (engine/obs/monitor.py) and nothing
else; `Dashboard` keeps it on screen with rich's Live, redrawn in place once per update
(no auto refresh thread, no clearing of the screen, so no flicker); `JsonLog` writes one
JSON object per line: a status line per snapshot and single events (an action, a note).
`open_view()` picks one of the two.

Journey ids, channels, reasons, health details and actions are user, event or broker text:
they only ever go into `Text` objects, never through rich's markup parser, and only through
`visible`, so no escape sequence in an event reaches the terminal.
"""
from __future__ import annotations

import sys
import time

import orjson
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from journeyctl.dsl.report import visible
from journeyctl.engine.core.events import format_instant, show_instant
from journeyctl.engine.obs.monitor import FUNNEL, Snapshot

HEALTH_STYLE = {True: "bold green", False: "bold red", None: "yellow"}
COLUMNS = (*FUNNEL, "blocked")
STATUS_STYLE = {"send": "green", "suppressed": "yellow", "held_out": "cyan", "unreachable": "red"}


# ---- rendering ------------------------------------------------------------------------------

def render(snap: Snapshot | None) -> Panel:
    """The whole dashboard for one snapshot (a placeholder before the first)."""
    if snap is None:
        return Panel(Text("journeyctl run: starting…", style="dim"), title="journeyctl run", title_align="left",
                     border_style="dim")
    bottom = Table.grid(padding=(0, 3))
    bottom.add_row(_actions(snap), _lag(snap), _dead_letters(snap))
    return Panel(Group(_header(snap), Text(""), _funnel(snap), bottom),
                 title="journeyctl run", title_align="left", border_style="dim")


def _header(snap: Snapshot) -> Text:
    t = Text()
    for name in sorted(snap.health, key=lambda c: (c not in ("broker", "store"), c)):
        h = snap.health[name]
        word = "ok" if h.ok else ("down" if h.ok is False else "?")
        t.append(f"{name} ", style="bold")
        t.append(word, style=HEALTH_STYLE[h.ok])
        if h.detail:
            t.append(f" ({visible(h.detail)})", style="dim")
        t.append("   ")
    t.append("in ", style="bold")
    t.append(f"{snap.events_per_s:,.1f} events/s", style="cyan")
    t.append("   out ", style="bold")
    t.append(f"{snap.actions_per_s:,.1f} actions/s", style="cyan")
    t.append("\n")
    t.append(f"{snap.events:,} events · {snap.duplicates:,} duplicates · {snap.actions:,} actions · "
             f"{sum(snap.dead_letters.values()):,} dead letters · up {_duration(snap.uptime)}", style="dim")
    if snap.clock is not None:
        t.append(f" · clock {show_instant(snap.clock)}", style="dim")
    for n, what in ((snap.engine_errors, "engine errors"), (snap.parked_timers, "parked timers"),
                    (snap.recreated_partitions, "partitions recreated")):
        if n:
            t.append(f" · {n:,} {what}", style="bold red")
    t.append("\n")
    t.append("timers ", style="bold")
    t.append(f"{snap.pending_timers:,} waiting")
    if snap.next_due is not None:
        t.append(f", next due {show_instant(snap.next_due)}")
        if snap.clock is not None:
            t.append(f" ({_relative(snap.next_due - snap.clock)})")
    lat = snap.latency
    t.append("   latency ", style="bold")
    t.append(f"p50 {_seconds(lat.p50)} · p99 {_seconds(lat.p99)}")
    return t


def _funnel(snap: Snapshot) -> Table:
    table = Table(title="Journeys", title_justify="left", expand=False)
    table.add_column("journey", min_width=8, overflow="fold")
    for col in COLUMNS:
        table.add_column(col, justify="right")
    for j in snap.journeys:
        f = snap.funnel[j]
        table.add_row(Text(visible(j)), *(Text(f"{f.get(c, 0):,}") for c in COLUMNS))
    if not snap.funnel:
        table.add_row(Text("(none)", style="dim"), *("" for _ in COLUMNS))
    return table


def _actions(snap: Snapshot) -> Table:
    by = snap.by_channel_status()
    statuses = sorted({s for _, s in by}) or ["send"]
    channels = sorted({c for c, _ in by})
    table = Table(title="Actions", title_justify="left")
    table.add_column("channel")
    for s in statuses:
        table.add_column(Text(visible(s), style=STATUS_STYLE.get(s, "")), justify="right")
    for c in channels:
        table.add_row(Text(visible(c)), *(Text(f"{by.get((c, s), 0):,}") for s in statuses))
    if not channels:
        table.add_row(Text("(none)", style="dim"), *("" for _ in statuses))
    return table


def _lag(snap: Snapshot) -> Table:
    table = Table(title="Consumer lag", title_justify="left")
    table.add_column("partition")
    table.add_column("lag", justify="right")
    if not snap.lag_known:
        table.add_row(Text("(broker not answering)", style="yellow"), Text("?"))
    for (topic, partition), n in sorted(snap.lag.items()):
        table.add_row(Text(visible(f"{topic}[{partition}]")), Text(f"{n:,}", style="bold red" if n else ""))
    if snap.lag_known and not snap.lag:
        table.add_row(Text("(none assigned)", style="dim"), Text(""))
    return table


def _dead_letters(snap: Snapshot) -> Table:
    table = Table(title="Dead letters", title_justify="left")
    table.add_column("reason")
    table.add_column("count", justify="right")
    for reason, n in sorted(snap.dead_letters.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(Text(visible(reason)), Text(f"{n:,}"))
    if not snap.dead_letters:
        table.add_row(Text("(none)", style="dim"), Text("0"))
    return table


def _seconds(s: float | None) -> str:
    if s is None:
        return "—"
    if s < 1:
        return f"{s * 1000:,.1f} ms"
    return f"{s:,.2f} s"


def _duration(s: float) -> str:
    s = int(s)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else (f"{m}m{sec:02d}s" if m else f"{sec}s")


def _relative(ms: int) -> str:
    if ms < 0:
        return f"{_duration(-ms / 1000)} ago"
    return f"in {_duration(ms / 1000)}"


# ---- the two outputs ----------------------------------------------------------------------------

class Dashboard:
    """The rich dashboard kept in place on the terminal. Lines printed to the same terminal while it
    runs (actions, notes) appear above it. Use as a context manager, or start()/stop()."""

    def __init__(self, console: Console | None = None, refresh_per_second: float = 2):
        self.console = console or Console(stderr=False, highlight=False)
        self.live = Live(render(None), console=self.console, auto_refresh=False,
                         refresh_per_second=refresh_per_second, transient=False, screen=False,
                         redirect_stdout=True, redirect_stderr=True)

    def start(self) -> "Dashboard":
        self.live.start(refresh=True)
        return self

    def update(self, snap: Snapshot) -> None:
        self.live.update(render(snap), refresh=True)

    def event(self, msg: str, level: str = "info", **fields) -> None:
        """A single event as a line above the dashboard."""
        line = Text(f"{visible(msg)} ", style="bold" if level != "info" else "")
        line.append(visible(" ".join(f"{k}={v}" for k, v in fields.items())), style="dim")
        self.console.print(line, soft_wrap=True)

    def stop(self) -> None:
        self.live.stop()

    def __enter__(self) -> "Dashboard":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class JsonLog:
    """Structured log lines, one JSON object each: {"ts", "level", "msg", ...}. `update(snapshot)`
    writes the status line (msg "status") with the same figures as the dashboard."""

    def __init__(self, stream=None, wall=time.time):
        self.stream = stream if stream is not None else sys.stderr
        self.wall = wall

    def _write(self, record: dict) -> None:
        line = orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS, default=str) + b"\n"
        buf = getattr(self.stream, "buffer", None)
        if buf is not None:
            self.stream.flush()
            buf.write(line)
            buf.flush()
        else:
            self.stream.write(line.decode())
            self.stream.flush()

    def _head(self, level: str, msg: str) -> dict:
        return {"ts": format_instant(int(self.wall() * 1000)), "level": level, "msg": msg}

    def update(self, snap: Snapshot) -> None:
        self._write({**self._head("info", "status"), **snap.to_dict()})

    def event(self, msg: str, level: str = "info", **fields) -> None:
        """One event: log.event("action", action_id=..., journey=..., status=...)."""
        self._write({**self._head(level, msg), **fields})

    def start(self) -> "JsonLog":
        return self

    def stop(self) -> None:
        pass

    def __enter__(self) -> "JsonLog":
        return self

    def __exit__(self, *exc) -> None:
        pass


def open_view(no_dashboard: bool = False, console: Console | None = None, stream=None):
    """The dashboard on a terminal, unless --no-dashboard; JSON lines on stderr otherwise.
    Both have start(), update(snapshot), event(msg, **fields), stop()."""
    console = console or Console(highlight=False)
    if not no_dashboard and console.is_terminal:
        return Dashboard(console)
    return JsonLog(stream)
