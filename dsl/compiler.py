"""AST -> IR, with the semantic checks that need the whole journey.

Checks collect: a file with three mistakes gets three diagnostics. The IR is
built even when there are warnings; errors mean no IR is returned.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, available_timezones

from . import ast
from .diagnostics import ERROR, WARNING, JourneyError, Span, did_you_mean
from .durations import format_duration
from .expressions import ExprCompiler, Scope, walk
from .ir import BUILTIN_CHANNELS, JourneyIR, SegmentIR
from .parser import parse

if TYPE_CHECKING:  # (the catalog is read by dsl/project, which imports this module)
    from .project.catalog import Catalog

SINGLE_SETTINGS = {"description", "audience", "reentry", "goal", "quiet_hours", "holdout", "timezone"}


@dataclass
class Options:
    """What the project config adds: extra channels, an event catalog, the default time zone,
    and the ids of segments defined next to the journeys (for in_segment checks; None = unknown)."""

    channels: tuple = BUILTIN_CHANNELS
    catalog: Catalog | None = None
    default_timezone: str | None = None
    segments: set | None = None


@dataclass
class Compiled:
    ir: JourneyIR | SegmentIR | None
    diagnostics: list = field(default_factory=list)
    events: list = field(default_factory=list)
    path: str = "journey.journey"  # (compile_text's default)
    emits: list = field(default_factory=list)  # (event name, span) of every `emit`
    source: str | None = None


def compile_text(text: str, path: str = "journey.journey", options: Options | None = None) -> Compiled:
    """Parse and compile one file. Never raises for bad input: problems come back as diagnostics."""
    options = options or Options()
    try:
        tree = parse(text)
    except JourneyError as e:
        return Compiled(None, [d.at(path) for d in e.diagnostics], path=path, source=text)
    builder = _Builder(options, Path(path).stem)
    ir = builder.segment(tree) if isinstance(tree, ast.Segment) else builder.journey(tree)
    if options.catalog is not None:
        options.catalog.check_events(builder.exprs.events_used, builder.error)
    diags = [d.at(path) for d in builder.exprs.diagnostics]
    diags.sort(key=lambda d: (d.span.line, d.span.column))
    failed = any(d.severity == ERROR for d in diags)
    return Compiled(None if failed else ir.seal(), diags, builder.exprs.events_used, path=path, source=text,
                    emits=builder.emits)


class _Builder:
    def __init__(self, options: Options, stem: str):
        self.options = options
        self.stem = stem
        self.exprs = ExprCompiler(catalog=options.catalog)
        self.states: dict = {}
        self.counter = 0
        self.emits: list = []

    def error(self, code, message, span, hint=None, severity=ERROR):
        self.exprs.error(code, message, span, hint, severity)

    # ---- segments --------------------------------------------------------------

    def segment(self, seg: ast.Segment) -> SegmentIR:
        where = self.exprs.compile(seg.where, Scope("event"))
        if not any(isinstance(n, (ast.Call, ast.Ref)) for n in walk(seg.where)):
            self.error("J127", f"segment {seg.id} never changes: its condition uses no event or trait", seg.span,
                       "use an aggregate like count(purchase) or a trait like profile.ltv")
        self._check_segments()
        return SegmentIR(seg.id, seg.title, seg.description, where, dict(self.exprs.aggregates))

    # ---- journeys --------------------------------------------------------------

    def journey(self, j: ast.Journey) -> JourneyIR:
        trig = j.trigger
        self.exprs.trigger_event = trig.match.event if trig.match is not None else None
        self.exprs.dated = trig.date is not None
        settings = self._settings(j.settings)
        self.exprs.timezone = settings.get("timezone") if valid_timezone(settings.get("timezone") or "") else None
        trigger = self._match(trig.match, trigger_where=True) if trig.match is not None else self._date(trig)
        steps = list(j.steps)
        if trig.within is not None:
            steps.insert(0, ast.Wait(trig.within, trig.unless, span=trig.span))
        elif trig.unless:
            self.error("J103", "`unless` on the trigger line needs `within`", trig.span)
        self._check_unreachable(steps)
        start = self._block(steps, None)
        goal = settings.get("goal")
        if goal:
            self._check_goal_window(goal, steps)
        reentry = settings.get("reentry") or ast.Reentry("default")
        by = None
        if reentry.mode == "concurrent":
            by = self._concurrent_key(reentry)
        self._check_segments()
        return JourneyIR(
            id=j.id or self.stem, title=j.title, description=settings.get("description"),
            trigger=trigger,
            audience=self.exprs.compile(settings["audience"], Scope("trigger", self.exprs.trigger_event))
            if "audience" in settings else None,
            reentry={"mode": reentry.mode, "after": reentry.after, "by": by},
            goal={**self._match(goal[0]), "within": goal[1]} if goal else None,
            exit_on=[self._match(m) for m in settings.get("exit_on", [])],
            quiet_hours=list(settings["quiet_hours"]) if "quiet_hours" in settings else None,
            caps=[{"channel": c.channel, "count": int(c.count), "per": c.per} for c in settings.get("cap", [])],
            holdout=settings.get("holdout", 0.0),
            timezone=settings.get("timezone"),
            start=start, states=self.states, aggregates=dict(self.exprs.aggregates),
        )

    def _settings(self, settings: list) -> dict:
        out: dict = {}
        seen: dict = {}
        for s in settings:
            if s.kind in SINGLE_SETTINGS and s.kind in seen:
                self.error("J108", f"`{s.kind.replace('_', ' ')}` is set twice", s.span,
                           f"the first one is at line {seen[s.kind].line}; keep one")
                continue
            seen[s.kind] = s.span
            check = getattr(self, "_setting_" + s.kind, None)
            value = check(s) if check else s.value
            if s.kind in ("exit_on", "cap"):
                out.setdefault(s.kind, []).append(value)
            else:
                out[s.kind] = value
        return out

    def _setting_quiet_hours(self, s):
        start, end = s.value
        if start == end:
            self.error("J112", "quiet hours start and end at the same time", s.span,
                       "write a window like 21:00-08:00")
        return s.value

    def _setting_holdout(self, s):
        if not 0 <= s.value <= 100:
            self.error("J107", f"holdout {s.value:g}% is outside 0-100%", s.span, "write a share like 10%")
        return s.value

    def _setting_timezone(self, s):
        if not valid_timezone(s.value):
            close = did_you_mean(s.value, available_timezones())
            self.error("J105", f'"{s.value}" is not a time zone', s.span,
                       f'did you mean "{close}"?' if close else 'use an IANA name like "Europe/Paris"')
        return s.value

    def _setting_cap(self, s):
        cap = s.value
        if cap.channel is not None:
            self._check_channel(cap.channel, s.span)
        if cap.count < 1 or cap.count != int(cap.count):
            self.error("J123", f"a cap allows a whole number of sends, at least 1, not {cap.count:g}", s.span)
        if cap.per <= 0:
            self.error("J103", "a cap needs a window longer than 0s", s.span)
        return cap

    def _setting_goal(self, s):
        if s.value[1] <= 0:
            self.error("J103", "a goal needs a window longer than 0s", s.span)
        return s.value

    def _concurrent_key(self, reentry: ast.Reentry):
        if reentry.by is None:
            return None  # the trigger's message id: every trigger its own instance
        nodes = list(walk(reentry.by))
        uses_trigger = any(isinstance(n, ast.Ref) and n.parts[0] != "profile" for n in nodes)
        if not uses_trigger:
            self.error("J113", "`reentry concurrent by` needs a key from the trigger event", reentry.span,
                       "key by a property of the trigger, like: reentry concurrent by order_id")
        return self.exprs.compile(reentry.by, Scope("trigger"))

    # ---- matchers and steps ------------------------------------------------------

    def _match(self, m: ast.EventMatch, trigger_where: bool = False) -> dict:
        self.exprs.events_used.append((m.event, m.span))
        where = None
        if m.where is not None:
            where = self.exprs.compile(m.where, Scope("event", m.event, in_trigger_where=trigger_where))
        return {"event": m.event, "where": where}

    def _date(self, trig: ast.Trigger) -> dict:
        """`on date EXPR [yearly] [at HH:MM]`: the engine works EXPR out from the customer's traits whenever they
        change, with no event, so it may read traits, values and durations, and no function."""
        for node in walk(trig.date):
            if isinstance(node, ast.Call):
                self.error("J133", f"{node.name}() cannot be read in the date of `on date`: it is worked out from the "
                                   "profile whenever a trait changes", node.span,
                           "write it with traits and durations, like: on date profile.renewal_due - 7d")
        date = self.exprs.as_instant(trig.date, Scope("trigger"))
        return {"event": None, "where": None, "date": date, "at": trig.at, "yearly": trig.yearly}

    def _new_state(self, kind: str, node, **fields) -> str:
        self.counter += 1
        sid = f"s{self.counter}"
        self.states[sid] = {"kind": kind, "line": node.span.line, **fields}
        return sid

    def _block(self, steps: list, after: str | None) -> str | None:
        """Compile steps so the last one continues at `after`; return the first state's id.
        Ids are given in reading order, so they stay put when later steps change."""
        ids = [self._reserve(step) for step in steps]
        for i, (step, sid) in enumerate(zip(steps, ids)):
            nxt = ids[i + 1] if i + 1 < len(ids) else after
            self._fill(step, sid, nxt)
        return ids[0] if ids else after

    def _reserve(self, step) -> str:
        return self._new_state("pending", step)

    def _fill(self, step, sid: str, nxt: str | None) -> None:
        state = self.states[sid]
        kind, fields = getattr(self, "_step_" + type(step).__name__)(step, nxt)
        state.update(kind=kind, **fields)

    def _step_Wait(self, step: ast.Wait, nxt):
        if step.duration <= 0:
            self.error("J103", "a wait of 0s does nothing", step.span, "use a duration like 30m")
        return "wait", {"duration": step.duration, "unless": [self._match(m) for m in step.unless], "next": nxt}

    def _step_WaitUntil(self, step: ast.WaitUntil, nxt):
        if step.instant is None:
            return "wait_until", {"minute": step.minute, "next": nxt}
        instant = self.exprs.as_instant(step.instant, Scope("trigger"))
        return "wait_until", {"instant": instant, "minute": step.minute, "next": nxt}

    def _step_Send(self, step: ast.Send, nxt):
        targets = []
        for t in step.targets:
            self._check_channel(t.channel, t.span)
            targets.append({"channel": t.channel, "template": t.template})
        variables = {}
        for a in step.variables:
            if a.name in variables:
                self.error("J108", f"variable {a.name} is given twice", a.span)
            variables[a.name] = self.exprs.compile(a.value, Scope("trigger"))
        return "send", {"targets": targets, "variables": variables, "next": nxt}

    def _step_SetTrait(self, step: ast.SetTrait, nxt):
        if step.path[0] != "profile" or len(step.path) < 2:
            self.error("J119", f"`set` changes profile traits, not {'.'.join(step.path)}", step.span,
                       f"write: set profile.{step.path[-1]} = ...")
        return "set", {"trait": list(step.path[1:]), "value": self.exprs.compile(step.value, Scope("trigger")),
                       "next": nxt}

    def _step_Emit(self, step: ast.Emit, nxt):
        self.emits.append((step.event, step.span))
        if step.event == self.exprs.trigger_event:
            self.error("J131", f"this emits {step.event}, the event that starts this journey", step.span,
                       "it would start the journey again at once; emit a different event", WARNING)
        variables = {a.name: self.exprs.compile(a.value, Scope("trigger")) for a in step.variables}
        return "emit", {"event": step.event, "variables": variables, "next": nxt}

    def _step_Exit(self, step, nxt):
        return "exit", {}

    def _step_If(self, step: ast.If, nxt):
        branches = [{"cond": self.exprs.compile(cond, Scope("trigger")), "goto": self._block(body, nxt)}
                    for cond, body in step.branches]
        otherwise = self._block(step.otherwise, nxt) if step.otherwise else nxt
        return "if", {"branches": branches, "otherwise": otherwise, "next": nxt}

    def _step_When(self, step: ast.When, nxt):
        """One window for the construct, the first block's (section 4): an `or when` may leave `within` out,
        and one that repeats it must give the same duration."""
        window = step.clauses[0].within
        for c in step.clauses[1:]:
            if c.within is not None and c.within != window:
                self.error("J128", f"this `or when` waits {format_duration(c.within)}, but the construct's "
                                   f"window is {format_duration(window)}", c.within_span or c.span,
                           "the blocks race each other over the first block's window: give the same `within`, "
                           "or leave it out")
        branches = [{**self._match(c.match), "goto": self._block(c.steps, nxt)} for c in step.clauses]
        otherwise = self._block(step.otherwise, nxt) if step.otherwise else nxt
        return "when", {"within": window, "branches": branches, "otherwise": otherwise, "next": nxt}

    def _step_Split(self, step: ast.Split, nxt):
        total = sum(a.percent for a in step.arms)
        if abs(total - 100) > 1e-9:
            self.error("J106", f"split percentages add up to {total:g}%, not 100%", step.span,
                       "make the arms' shares sum to exactly 100%")
        names = set()
        for arm in step.arms:
            if arm.name in names:
                self.error("J124", f"split arm {arm.name} appears twice", arm.span)
            names.add(arm.name)
        arms = [{"name": a.name, "percent": a.percent, "goto": self._block(a.steps, nxt)} for a in step.arms]
        return "split", {"arms": arms, "next": nxt}

    # ---- checks --------------------------------------------------------------

    def _check_channel(self, channel: str, span: Span):
        if channel not in self.options.channels:
            close = did_you_mean(channel, self.options.channels)
            self.error("J101", f'unknown channel "{channel}"', span,
                       f'did you mean "{close}"?' if close else "channels: " + ", ".join(self.options.channels))

    def _check_unreachable(self, steps: list):
        for i, step in enumerate(steps):
            if isinstance(step, ast.Exit) and i + 1 < len(steps):
                self.error("J109", "these steps come after `exit` and can never run", steps[i + 1].span,
                           "remove them, or move the exit into an `if`")
            for body in _blocks_of(step):
                self._check_unreachable(body)

    def _check_goal_window(self, goal, steps):
        waited = 0
        for step in steps:
            if isinstance(step, ast.Send):
                break
            if isinstance(step, ast.Wait):
                waited += step.duration
            elif isinstance(step, ast.When):
                waited += step.clauses[0].within  # the construct's one window
                break
            elif not isinstance(step, (ast.SetTrait, ast.Emit)):
                break
        match, within = goal
        if waited > within:
            self.error("J111", f"the goal window ({format_duration(within)}) ends before the first send "
                               f"({format_duration(waited)} of waiting)", match.span,
                       "no message can cause this conversion: lengthen the goal window", WARNING)

    def _check_segments(self):
        known = self.options.segments
        if known is None:
            return
        for seg, span in self.exprs.segments_used:
            if seg not in known:
                close = did_you_mean(seg, known)
                self.error("J125", f"unknown segment {seg}", span,
                           f"did you mean {close}?" if close else "define it in a segment file")


def _blocks_of(step) -> list:
    if isinstance(step, ast.If):
        return [b for _, b in step.branches] + ([step.otherwise] if step.otherwise else [])
    if isinstance(step, ast.When):
        return [c.steps for c in step.clauses] + ([step.otherwise] if step.otherwise else [])
    if isinstance(step, ast.Split):
        return [a.steps for a in step.arms]
    return []


def valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
        return True
    except Exception:  # zoneinfo raises several kinds for bad names (ValueError, KeyError, ZoneInfoNotFoundError)
        return False



