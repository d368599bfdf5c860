"""A journey version made ready to run: expressions compiled, matchers indexed by event name.

Built once per version from the IR; the core only reads it. Keeping old versions
here is what lets an instance finish on the version it entered with.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from journeyctl.dsl.ir import JourneyIR, SegmentIR

from journeyctl.engine.core.expr import Ctx, Expr, Pred, compile_expr, compile_pred, walk_ir


@dataclass(slots=True)
class Matcher:
    event: str
    where: Pred | None


def _matcher(m: dict) -> Matcher:
    return Matcher(m["event"], compile_pred(m.get("where")))


@dataclass(slots=True)
class DateTrigger:
    """`on date EXPR [yearly] [at HH:MM]`: `instant(ctx)` gives EXPR as an instant (or None); `minute` the
    time of day or None; `yearly` whether it comes round every year."""
    instant: Callable[[Ctx], Any]  # the instant (ms) or None
    minute: int | None
    yearly: bool


class Step:
    """One state of a journey version made ready to run: what the engine reads of the IR's state, by name,
    with its expressions compiled (`fn`, `vars`, `conds`); a field its kind does not have is None. Built
    once per version; read at every step of every instance, so the compiled build makes it an extension
    type (runtime.pxd) and each read is a C field, not a dictionary lookup by key."""

    __slots__ = ("kind", "next", "duration", "within", "otherwise", "minute", "instant", "fn", "vars", "targets",
                 "conds", "arms", "trait", "event")

    def __init__(self, st: dict):
        kind = st["kind"]
        self.kind: str = kind
        self.next: str | None = st.get("next")
        self.duration: int | None = st.get("duration")     # wait
        self.within: int | None = st.get("within")         # when
        self.otherwise: str | None = st.get("otherwise")   # if, when
        self.minute: int | None = st.get("minute")         # wait_until: the time of day
        self.instant: list | None = st.get("instant")      # wait_until EXPR, as written (for the trace)
        self.targets: list | None = st.get("targets")      # send: [{"channel", "template"}]
        self.arms: list | None = st.get("arms")            # split: [{"name", "percent", "goto"}]
        self.trait: list | None = st.get("trait")          # set: the path under profile
        self.event: str | None = st.get("event")           # emit
        # compiled: send's and emit's variables, set's value or wait_until's instant, if's branches
        self.vars: list | None = ([(name, compile_expr(x)) for name, x in st["variables"].items()]
                                  if kind in ("send", "emit") else None)
        self.fn: Expr | None = (compile_expr(st["value"]) if kind == "set" else
                                compile_expr(st["instant"]) if kind == "wait_until" and "instant" in st else None)
        self.conds: list | None = ([(compile_pred(b["cond"]), b["goto"]) for b in st["branches"]]
                                   if kind == "if" else None)


@dataclass
class Journey:
    ir: JourneyIR
    id: str
    version: str
    start: str | None   # the first state's id
    trigger: Matcher
    audience: Pred | None
    goal: Matcher | None
    goal_within: int | None
    exit_on: list
    states: dict        # state id -> its Step
    waits_on: dict      # state id -> {event name: [(Matcher, goto or None)]} for wait/when states
    caps: list
    max_cap_window: int
    holdout: float
    quiet_hours: tuple[int, int] | None
    timezone: str | None
    reentry: str
    reentry_after: int | None
    reentry_by: Expr | None
    listens: set = field(default_factory=set)   # event names that can touch a running instance
    trigger_keys: tuple = ()                     # trigger properties the flow reads: all an instance keeps
    date: DateTrigger | None = None              # a journey that starts `on date` (its trigger has no event)


def build_journey(ir: JourneyIR) -> Journey:
    states = {}
    waits_on: dict = {}
    listens: set[str] = set()
    for sid, st in ir.states.items():
        kind = st["kind"]
        if kind == "wait" and st["unless"]:
            index: dict = {}
            for m in st["unless"]:
                index.setdefault(m["event"], []).append((_matcher(m), None))
            waits_on[sid] = index
        elif kind == "when":
            index = {}
            for b in st["branches"]:
                index.setdefault(b["event"], []).append((_matcher(b), b["goto"]))
            waits_on[sid] = index
        for index in waits_on.get(sid, {}).values():
            listens.update(m.event for m, _ in index)
        states[sid] = Step(st)
    goal = _matcher(ir.goal) if ir.goal else None
    exit_on = [_matcher(m) for m in ir.exit_on]
    listens.update(m.event for m in exit_on)
    if goal:
        listens.add(goal.event)
    return Journey(
        ir=ir, id=ir.id, version=ir.version, start=ir.start, trigger=_matcher(ir.trigger),
        audience=compile_pred(ir.audience), goal=goal, goal_within=ir.goal["within"] if ir.goal else None,
        exit_on=exit_on, states=states, waits_on=waits_on, caps=ir.caps,
        max_cap_window=max((c["per"] for c in ir.caps), default=0), holdout=ir.holdout,
        quiet_hours=tuple(ir.quiet_hours) if ir.quiet_hours else None, timezone=ir.timezone,
        reentry=ir.reentry["mode"], reentry_after=ir.reentry.get("after"),
        reentry_by=compile_expr(ir.reentry["by"]) if ir.reentry.get("by") else None,
        listens=listens, trigger_keys=_trigger_keys(ir),
        date=DateTrigger(compile_expr(ir.trigger["date"]), ir.trigger.get("at"), bool(ir.trigger.get("yearly")))
        if ir.trigger.get("date") is not None else None,
    )


def _trigger_keys(ir: JourneyIR) -> tuple:
    """Top-level trigger properties some expression reads after entry. An instance keeps only these,
    which is most of what makes a million waiting instances fit in memory."""
    keys = set()
    for x in _expressions(ir):
        for node in walk_ir(x):
            if node[0] == "ref" and node[1] == "trigger":
                keys.add(node[2][0])
    return tuple(sorted(keys))


@dataclass
class Segment:
    """events: names whose arrival can change membership; windows: (aggregate key, within) pairs whose
    expiry can; profile: reads traits; always: reads now() or other segments, so it is checked every time."""
    ir: SegmentIR
    id: str
    where: object
    events: frozenset = frozenset()
    keys: frozenset = frozenset()     # aggregate keys it reads: it can move when one of them takes an event
    windows: tuple = ()
    profile: bool = False
    always: bool = False


def build_segment(ir: SegmentIR) -> Segment:
    events, keys, windows, profile, always = set(), set(), [], False, False
    for node in walk_ir(ir.where):
        op = node[0]
        if op == "agg":
            spec = ir.aggregates[node[1]]
            keys.add(node[1])
            if spec.get("within"):
                windows.append((node[1], spec["within"]))
            if spec.get("where"):
                profile = profile or any(n[0] == "ref" and n[1] == "profile" for n in walk_ir(spec["where"]))
        elif op in ("last_seen", "last"):
            events.add(node[1])
        elif op == "ref" and node[1] == "profile":
            profile = True
        elif op in ("fn", "in_segment") and (op == "in_segment" or node[1] == "now"):
            always = True
    return Segment(ir, ir.id, compile_pred(ir.where), frozenset(events), frozenset(keys), tuple(windows), profile,
                   always)


def histories(irs) -> tuple[set, dict, dict]:
    """What customer history the loaded journeys read: last_seen event names, last(EVENT).prop names,
    and the aggregates by key. The engine keeps only these."""
    last_seen: set = set()
    last_props: dict = {}
    aggregates: dict = {}
    for ir in irs:
        aggregates.update(ir.aggregates)
        for x in _expressions(ir):
            for node in walk_ir(x):
                if node[0] == "last_seen":
                    last_seen.add(node[1])
                elif node[0] == "last":
                    last_props.setdefault(node[1], set()).add(node[2])
        for spec in ir.aggregates.values():
            for node in walk_ir(spec.get("where")):
                if node[0] == "last_seen":
                    last_seen.add(node[1])
    return last_seen, last_props, aggregates


def _expressions(ir):
    """Every expression in a journey or segment IR, wherever it sits."""
    if isinstance(ir, SegmentIR):
        yield ir.where
        return
    for m in [ir.trigger, ir.goal, *ir.exit_on]:
        if m and m.get("where"):
            yield m["where"]
    if ir.trigger.get("date"):
        yield ir.trigger["date"]
    if ir.audience:
        yield ir.audience
    if ir.reentry.get("by"):
        yield ir.reentry["by"]
    for st in ir.states.values():
        for m in st.get("unless", []) + st.get("branches", []):
            for key in ("where", "cond"):
                if m.get(key):
                    yield m[key]
        for key in ("value", "instant"):
            if st.get(key):
                yield st[key]
        for x in st.get("variables", {}).values():
            yield x
