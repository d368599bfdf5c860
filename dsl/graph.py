"""Pictures of a journey, for `journeyctl graph`: made from the IR, so they show what the engine runs.

`build(ir)` turns the state table into a small graph (nodes and edges, each with a
kind); `mermaid`, `dot` and `text` render it. The entry (trigger, `where`,
`audience`, `reentry`) is the start node; `goal` and `exit on`, which can end an
instance at any step, are dashed edges from a "while running" note that also lists
quiet hours, caps, holdout and time zone. Every way out of the flow ends in one of
the end nodes, named by the reason the engine records: completed, cancelled
(`unless` matched), converted (the goal event), exited (`exit` or `exit on`).
"""
from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field

from .durations import format_time_of_day
from .formatter import AND, ATOM, CMP, NOT, OR, PRODUCT, SUM, UNARY, event_name, in_units, number, quote

ENDS = ("completed", "converted", "cancelled", "exited")


def duration(ms: int) -> str:
    """Days at most (the IR does not keep how a duration was written, and people say 7d and 30d)."""
    return in_units(ms, "d")
WRAP = 44  # characters per line of a label in a picture
NL = "\n"  # a line break inside a label


@dataclass
class Node:
    """kind: start, note, wait, send, step (set, emit, exit), decision (if, when, split) or end."""
    id: str
    lines: list[str]
    kind: str


@dataclass
class Edge:
    """kind: flow, branch, cancel (an `unless` match), goal or exit_on (from the note)."""
    source: str
    target: str
    label: str = ""
    kind: str = "flow"


@dataclass
class Graph:
    title: str
    subtitle: str | None
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


# ---- IR expressions back to text ----------------------------------------------------------------

_PREC = {"or": OR, "and": AND, "not": NOT, "neg": UNARY}
_BIN_PREC = {**dict.fromkeys(("==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains"), CMP),
             "+": SUM, "-": SUM, "*": PRODUCT, "/": PRODUCT}


def expression(x, aggregates: dict, min_prec: int = OR) -> str:
    """An IR expression as a marketer would write it (bare names in `where` are the matched event's;
    elsewhere they are printed as `trigger.x`). Durations come back as durations next to times."""
    text, prec = _expr(x, aggregates or {})
    return f"({text})" if prec < min_prec else text


def _expr(x, aggs) -> tuple[str, int]:
    op = x[0]
    if op == "instant":  # a value read as a time (dsl/times.py): written as the value itself
        return _expr(x[1], aggs)
    if op in ("or", "and"):
        return f" {op} ".join(expression(i, aggs, _PREC[op] + 1) for i in x[1]), _PREC[op]
    if op == "not":
        return "not " + expression(x[1], aggs, NOT), NOT
    if op == "neg":
        inner = expression(x[1], aggs, UNARY)
        return ("- " if inner.startswith("-") else "-") + inner, UNARY
    if op == "bin":
        _, sym, a, b = x
        prec = _BIN_PREC[sym]
        left_at, right_at = (SUM, SUM) if prec == CMP else (prec, prec + 1)
        timely = _about_time(a) or _about_time(b)
        return f"{_operand(a, aggs, left_at, timely)} {sym} {_operand(b, aggs, right_at, timely)}", prec
    return _atom(x, aggs), ATOM


def _operand(x, aggs, min_prec: int, timely: bool) -> str:
    if timely and x[0] == "lit" and type(x[1]) is int and x[1] > 0 and x[1] % 1000 == 0:
        return duration(x[1])
    return expression(x, aggs, min_prec)


def _about_time(x) -> bool:
    """Whether an expression reads the clock: then the plain numbers beside it are durations."""
    if not isinstance(x, list) or not x or x[0] in ("lit", "ref"):
        return False
    if x[0] in ("last_seen", "instant") or x[:2] == ["fn", "now"]:
        return True
    return any(_about_time(i) for i in x[1:]) or any(_about_time(j) for i in x[1:] if isinstance(i, list)
                                                     and i and isinstance(i[0], list) for j in i)


def _atom(x, aggs) -> str:
    op = x[0]
    if op == "lit":
        v = x[1]
        if isinstance(v, str):
            return quote(v)
        return {True: "true", False: "false", None: "null"}[v] if v is None or isinstance(v, bool) else number(v)
    if op == "ref":
        scope, names = x[1], x[2]
        return ".".join(names if scope == "event" else [scope, *names])
    if op == "list":
        return "[" + ", ".join(expression(i, aggs) for i in x[1]) + "]"
    if op == "fn":
        return f"{x[1]}(" + ", ".join(expression(i, aggs) for i in x[2]) + ")"
    if op == "last_seen":
        return f"last_seen({event_name(x[1])})"
    if op == "last":
        return f"last({event_name(x[1])})" + (f".{x[2]}" if x[2] else "")
    if op == "in_segment":
        return f"in_segment({x[1]})"
    if op == "interp":
        return quote("".join(p if isinstance(p, str) else "{" + expression(p, aggs) + "}" for p in x[1]))
    if op == "agg_per":
        return _atom(["agg", x[1]], aggs)
    if op == "agg":
        spec = aggs.get(x[1])
        if spec is None:
            return x[1]
        inside = event_name(spec["event"]) + (f".{spec['prop']}" if spec.get("prop") else "")
        if spec.get("where") is not None:
            inside += " where " + expression(spec["where"], aggs)
        if spec.get("within") is not None:
            inside += " within " + duration(spec["within"])
        if spec.get("per"):
            inside += " per " + spec["per"]
        return f"{spec['fn']}({inside})"
    return str(x)


def on_what(ir) -> str:
    """What starts the journey, after `on`: the event's name, or a date trigger as written."""
    t = ir.trigger
    if t.get("date") is None:
        return event_name(t["event"])
    return f"date {expression(t['date'], ir.aggregates)}" + (" yearly" if t.get("yearly") else "") + \
        (f" at {format_time_of_day(t['at'])}" if t.get("at") is not None else "")


def match(m: dict, aggs: dict, sep: str = " ") -> str:
    """An event matcher: `purchase where amount > 10` (`sep` before `where`: "\n" in pictures)."""
    where = m.get("where")
    return event_name(m["event"]) + (f"{sep}where {expression(where, aggs)}" if where is not None else "")


# ---- the graph -----------------------------------------------------------------------------------

def _settings(ir) -> tuple[list[str], list[str]]:
    """(entry lines for the start node, running lines for the note)."""
    entry, running = [], []
    if ir.audience is not None:
        entry.append("audience " + expression(ir.audience, ir.aggregates))
    mode = ir.reentry.get("mode", "default")
    if mode == "after":
        entry.append(f"reentry after {duration(ir.reentry['after'])}")
    elif mode == "concurrent" and ir.reentry.get("by") is not None:
        entry.append("reentry concurrent by " + expression(ir.reentry["by"], ir.aggregates))
    elif mode != "default":
        entry.append(f"reentry {mode}")
    if ir.quiet_hours:
        running.append(f"quiet hours {format_time_of_day(ir.quiet_hours[0])}-{format_time_of_day(ir.quiet_hours[1])}")
    for cap in ir.caps:
        running.append(f"cap {cap['channel'] + ' ' if cap['channel'] else ''}{cap['count']} per {duration(cap['per'])}")
    if ir.holdout:
        running.append(f"holdout {number(ir.holdout).removesuffix('.0')}%")
    if ir.timezone:
        running.append(f"timezone {quote(ir.timezone)}")
    return entry, running


def step_text(ir, st: dict, full: bool = False) -> list[str]:
    """The lines that describe one state; `full` also gives the values of `with` variables."""
    kind, aggs = st["kind"], ir.aggregates

    def variables(vs: dict) -> str:
        if not vs:
            return ""
        return "with " + ", ".join(f"{k} = {expression(v, aggs)}" if full else k for k, v in vs.items())

    if kind == "wait":
        return [f"wait {duration(st['duration'])}"]
    if kind == "wait_until":
        at = format_time_of_day(st["minute"]) if st.get("minute") is not None else None
        if "instant" in st:
            return [f"wait until {expression(st['instant'], aggs)}" + (f" at {at}" if at else "")]
        return [f"wait until {at}"]
    if kind == "send":
        targets = [f"{t['channel']} {quote(t['template'] or ir.id)}" for t in st["targets"]]
        lines = ["send " + targets[0], *("or " + t for t in targets[1:])]
        return lines + ([variables(st["variables"])] if st["variables"] else [])
    if kind == "set":
        return [f"set profile.{'.'.join(st['trait'])} = {expression(st['value'], aggs)}"]
    if kind == "emit":
        return [f"emit {event_name(st['event'])}"] + ([variables(st["variables"])] if st["variables"] else [])
    if kind == "exit":
        return ["exit"]
    if kind == "if":
        return ["if " + expression(st["branches"][0]["cond"], aggs)] if len(st["branches"]) == 1 else ["if"]
    if kind == "when":
        return [f"when … within {duration(st['within'])}"]
    if kind == "split":
        return ["split"]
    return [kind]


_NODE_KIND = {"wait": "wait", "wait_until": "wait", "send": "send", "if": "decision", "when": "decision",
              "split": "decision"}


def build(ir) -> Graph:
    """The graph of a journey's IR (dsl.ir.JourneyIR)."""
    aggs = ir.aggregates
    g = Graph(f"journey {ir.id}" + (f" {quote(ir.title)}" if ir.title else ""), ir.description)
    ends: list[str] = []

    def end(reason: str) -> str:
        if reason not in ends:
            ends.append(reason)
        return "r_" + reason

    def to(sid) -> str:
        return sid if sid is not None else end("completed")

    entry, running = _settings(ir)
    on = ["on " + on_what(ir)]
    if ir.trigger.get("where") is not None:
        on.append("where " + expression(ir.trigger["where"], aggs))
    g.nodes.append(Node("start", on + entry, "start"))
    g.edges.append(Edge("start", to(ir.start)))
    for sid, st in ir.states.items():
        kind = st["kind"]
        g.nodes.append(Node(sid, step_text(ir, st), _NODE_KIND.get(kind, "step")))
        if kind == "wait":
            g.edges.append(Edge(sid, to(st["next"])))
            by_end: dict[str, list[str]] = {}
            for m in st["unless"]:
                reason = "converted" if ir.goal and ir.goal["event"] == m["event"] else "cancelled"
                by_end.setdefault(reason, []).append(match(m, aggs, NL))
            for reason, labels in by_end.items():
                g.edges.append(Edge(sid, end(reason), "unless " + "\nor ".join(labels),
                                    "goal" if reason == "converted" else "cancel"))
        elif kind == "if":
            single = len(st["branches"]) == 1
            for b in st["branches"]:
                g.edges.append(Edge(sid, to(b["goto"]), "yes" if single else expression(b["cond"], aggs), "branch"))
            g.edges.append(Edge(sid, to(st["otherwise"]), "no" if single else "else", "branch"))
        elif kind == "when":
            for b in st["branches"]:
                g.edges.append(Edge(sid, to(b["goto"]), match(b, aggs, NL), "branch"))
            g.edges.append(Edge(sid, to(st["otherwise"]), f"otherwise, after {duration(st['within'])}", "branch"))
        elif kind == "split":
            for arm in st["arms"]:
                g.edges.append(Edge(sid, to(arm["goto"]), f"{arm['name']} {number(arm['percent']).removesuffix('.0')}%",
                                    "branch"))
        elif kind == "exit":
            g.edges.append(Edge(sid, end("exited")))
        else:
            g.edges.append(Edge(sid, to(st["next"])))
    if running or ir.goal or ir.exit_on:
        g.nodes.append(Node("running", ["while running", *running], "note"))
        if ir.goal:
            goal = f"goal {match(ir.goal, aggs, NL)}\nwithin {duration(ir.goal['within'])}"
            g.edges.append(Edge("running", end("converted"), goal, "goal"))
        for m in ir.exit_on:
            g.edges.append(Edge("running", end("exited"), "exit on " + match(m, aggs, NL), "exit_on"))
    g.nodes += [Node("r_" + r, [r], "end") for r in ENDS if r in ends]
    return g


def _wrap(text: str) -> list[str]:
    return [part for line in text.split("\n")
            for part in textwrap.wrap(line, WRAP, break_long_words=False, break_on_hyphens=False) or [""]]


def _label(lines: list[str]) -> list[str]:
    return [part for line in lines for part in _wrap(line)]


# ---- renderers -------------------------------------------------------------------------------------

_MERMAID_SHAPE = {"start": '(["{}"])', "note": '["{}"]', "wait": '["{}"]', "send": '["{}"]', "step": '["{}"]',
                  "decision": '{{{{"{}"}}}}', "end": '(["{}"])'}
_MERMAID_ARROW = {"flow": "-->", "branch": "-->", "cancel": "-.->", "goal": "-.->", "exit_on": "-.->"}
_MERMAID_CLASS = {
    "start": "fill:#dbeafe,stroke:#1d4ed8", "note": "fill:#f3f4f6,stroke:#6b7280,stroke-dasharray:4",
    "wait": "fill:#fef3c7,stroke:#b45309", "send": "fill:#dcfce7,stroke:#15803d", "step": "fill:#ede9fe,stroke:#6d28d9",
    "decision": "fill:#fae8ff,stroke:#a21caf", "end": "fill:#e5e7eb,stroke:#374151",
}


def _mermaid_text(s: str) -> str:
    return (s.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("|", "#124;"))


def mermaid(g: Graph) -> str:
    out = ["---", f"title: {json.dumps(g.title, ensure_ascii=False)}", "---", "flowchart TD"]
    for n in g.nodes:
        out.append(f"  {n.id}" + _MERMAID_SHAPE[n.kind].format("<br/>".join(map(_mermaid_text, _label(n.lines)))))
    for e in g.edges:
        label = f'|"{"<br/>".join(map(_mermaid_text, _wrap(e.label)))}"|' if e.label else ""
        out.append(f"  {e.source} {_MERMAID_ARROW[e.kind]}{label} {e.target}")
    for kind, style in _MERMAID_CLASS.items():  # `end` (even as `x_end`) is a Mermaid keyword: jEnd is not
        out.append(f"  classDef j{kind.title()} {style}")
    for kind in _MERMAID_CLASS:
        ids = [n.id for n in g.nodes if n.kind == kind]
        if ids:
            out.append(f"  class {','.join(ids)} j{kind.title()}")
    return "\n".join(out)


_DOT_NODE = {
    "start": 'shape=box style="rounded,filled,bold" fillcolor="#dbeafe" color="#1d4ed8"',
    "note": 'shape=note style="filled,dashed" fillcolor="#f3f4f6" color="#6b7280"',
    "wait": 'shape=box style="rounded,filled" fillcolor="#fef3c7" color="#b45309"',
    "send": 'shape=box style="filled" fillcolor="#dcfce7" color="#15803d"',
    "step": 'shape=box style="filled" fillcolor="#ede9fe" color="#6d28d9"',
    "decision": 'shape=hexagon style="filled" fillcolor="#fae8ff" color="#a21caf"',
    "end": 'shape=ellipse style="filled" fillcolor="#e5e7eb" color="#374151"',
}
_DOT_EDGE = {
    "flow": "", "branch": 'color="#a21caf" fontcolor="#86198f"',
    "cancel": 'style=dashed color="#b91c1c" fontcolor="#b91c1c"',
    "goal": 'style=dashed color="#15803d" fontcolor="#15803d"',
    "exit_on": 'style=dashed color="#4b5563" fontcolor="#4b5563"',
}
_END_COLOR = {"completed": "#e5e7eb", "converted": "#bbf7d0", "cancelled": "#fecaca", "exited": "#d1d5db"}


def _dot_text(lines: list[str]) -> str:
    body = "\\n".join(s.replace("\\", "\\\\").replace('"', '\\"') for s in lines)
    return f'"{body}"'


def dot(g: Graph) -> str:
    title = [g.title] + ([g.subtitle] if g.subtitle else [])
    out = ["digraph journey {",
           f"  graph [label={_dot_text(_label(title))} labelloc=t fontname=\"Helvetica\" fontsize=16 "
           f"rankdir=TB nodesep=0.4 ranksep=0.45 pad=0.3]",
           '  node [fontname="Helvetica" fontsize=11 margin="0.15,0.06"]',
           '  edge [fontname="Helvetica" fontsize=10 color="#374151"]']
    for n in g.nodes:
        style = _DOT_NODE[n.kind]
        if n.kind == "end":
            style = style.replace("#e5e7eb", _END_COLOR.get(n.lines[0], "#e5e7eb"))
        out.append(f"  {n.id} [label={_dot_text(_label(n.lines))} {style}]")
    if any(n.id == "running" for n in g.nodes):
        out.append("  { rank=same; start; running }")
    for e in g.edges:
        label = f" label={_dot_text(_wrap(e.label))}" if e.label else ""
        attrs = (_DOT_EDGE[e.kind] + label).strip()
        out.append(f"  {e.source} -> {e.target}" + (f" [{attrs}]" if attrs else ""))
    out.append("}")
    return "\n".join(out)


def text(ir) -> str:
    """An indented outline of the flow, one state a line with its id, then where each way out leads."""
    aggs = ir.aggregates
    out = [f"journey {ir.id}" + (f" {quote(ir.title)}" if ir.title else "")]
    if ir.description:
        out.append(f"  {ir.description}")
    entry, running = _settings(ir)
    if ir.goal:
        running.append(f"goal {match(ir.goal, aggs)} within {duration(ir.goal['within'])}  => converted")
    running += [f"exit on {match(m, aggs)}  => exited" for m in ir.exit_on]
    for title, lines in (("entry", entry), ("while running", running)):
        if lines:
            out += ["", title] + [f"  {line}" for line in lines]
    out += ["", "flow", f"      on {match(ir.trigger, aggs) if ir.trigger.get('date') is None else on_what(ir)}"]

    def row(sid: str, depth: int, line: str) -> None:
        out.append(f"{sid:<6}{'  ' * depth}{line}")

    def walk(sid, stop, depth: int) -> None:
        while sid is not None and sid != stop:
            st = ir.states[sid]
            lines = step_text(ir, st, full=True)
            kind = st["kind"]
            if kind == "if":
                for i, b in enumerate(st["branches"]):
                    row(sid if i == 0 else "", depth, ("else if " if i else "if ") + expression(b["cond"], aggs))
                    walk(b["goto"], st["next"], depth + 1)
                if st["otherwise"] != st["next"]:
                    row("", depth, "else")
                    walk(st["otherwise"], st["next"], depth + 1)
            elif kind == "when":
                for i, b in enumerate(st["branches"]):
                    # one window for the construct (section 4), said once, as `fmt` writes it when left out
                    row(sid if i == 0 else "", depth, f"or when {match(b, aggs)}" if i else
                        f"when {match(b, aggs)} within {duration(st['within'])}")
                    walk(b["goto"], st["next"], depth + 1)
                if st["otherwise"] != st["next"]:
                    row("", depth, "otherwise")
                    walk(st["otherwise"], st["next"], depth + 1)
            elif kind == "split":
                row(sid, depth, "split")
                for arm in st["arms"]:
                    row("", depth + 1, f"{arm['name']} {number(arm['percent']).removesuffix('.0')}%")
                    walk(arm["goto"], st["next"], depth + 2)
            else:
                row(sid, depth, " ".join(lines))
                for m in st.get("unless", []):
                    reason = "converted" if ir.goal and ir.goal["event"] == m["event"] else "cancelled"
                    row("", depth + 1, f"unless {match(m, aggs)}  => {reason}")
            if kind == "exit":
                row("", depth, "=> exited")
                return
            sid = st.get("next")
        if sid is None and depth == 0:
            row("", depth, "=> completed")

    walk(ir.start, None, 0)
    return "\n".join(out)


def render(ir, fmt: str) -> str:
    """The picture of `ir` in `fmt` (mermaid, dot or text), without a final newline."""
    if fmt == "text":
        return text(ir)
    return RENDERERS[fmt](build(ir))


RENDERERS = {"mermaid": mermaid, "dot": dot}
FORMATS = ("mermaid", "dot", "text")
