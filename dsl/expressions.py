"""Expressions: AST -> IR lists, with the checks that only need the expression itself.

Scope is decided here, once: inside a `where` a bare name is the matched event's
property; elsewhere it is the trigger's. The engine never guesses.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import ast, times
from .diagnostics import ERROR, NOTE, Diagnostic, did_you_mean
from .durations import format_duration
from .ir import canonical

if TYPE_CHECKING:
    from .project.catalog import Catalog

AGGREGATES = ("count", "sum", "min", "max", "avg")
# name -> (smallest, largest) number of arguments; aggregates and last take one event argument.
FUNCTIONS = {"now": (0, 0), "lower": (1, 1), "upper": (1, 1), "last_seen": (1, 1), "last": (1, 1),
             "in_segment": (1, 1), **{a: (1, 1) for a in AGGREGATES}}
EVENT_ARG = {"last_seen", "last", *AGGREGATES}
COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}
ORDERED = {"<", "<=", ">", ">="}


@dataclass
class Scope:
    """bare: what a bare name means here ("event" or "trigger"); event: the name of the event a bare
    name belongs to (for catalog checks); in_trigger_where: `trigger.` is meaningless there."""

    bare: str
    event: str | None = None
    in_trigger_where: bool = False
    in_aggregate: bool = False


@dataclass
class ExprCompiler:
    """Collects diagnostics and the aggregates used while compiling a journey's expressions."""

    diagnostics: list = field(default_factory=list)
    aggregates: dict = field(default_factory=dict)
    segments_used: list = field(default_factory=list)
    events_used: list = field(default_factory=list)
    catalog: Catalog | None = None
    trigger_event: str | None = None
    dated: bool = False  # the journey starts `on date`: there is no trigger event
    timezone: str | None = None  # the journey's `timezone` setting: a date in a text is midnight there

    def error(self, code, message, span, hint=None, severity=ERROR):
        self.diagnostics.append(Diagnostic(code, severity, message, span, hint))

    def compile(self, node, scope: Scope):
        method = getattr(self, "_" + type(node).__name__)
        return method(node, scope)

    def _Literal(self, node, scope):
        return ["lit", node.value]

    def _DurationLit(self, node, scope):
        return ["lit", node.ms]

    def _ListExpr(self, node, scope):
        return ["list", [self.compile(i, scope) for i in node.items]]

    def _Interpolated(self, node, scope):
        return ["interp", [p if isinstance(p, str) else self.compile(p, scope) for p in node.parts]]

    def _Unary(self, node, scope):
        return ["not" if node.op == "not" else "neg", self.compile(node.operand, scope)]

    def _BoolOp(self, node, scope):
        return [node.op, [self.compile(x, scope) for x in node.operands]]

    def _Binary(self, node, scope):
        sides = (False, False)
        if node.op in COMPARISONS or node.op in ("+", "-"):
            sides = times.instant_sides(node, lambda ref: _catalog_kind(ref, self, scope) == "instant")
        if node.op in COMPARISONS:
            if not any(sides):  # (a text read as an instant is compared as one: see dsl/times.py)
                self._check_comparison(node, scope)
            elif self.catalog is not None:
                self._check_catalog_types(node, scope)
            self._note_segment_comparison(node, scope)
        left, right = self.compile(node.left, scope), self.compile(node.right, scope)
        return ["bin", node.op, self.instant(node.left, left) if sides[0] else left,
                self.instant(node.right, right) if sides[1] else right]

    def as_instant(self, node, scope: Scope) -> list:
        """`node` compiled where the whole of it must be an instant (`wait until`, `on date`): read as one,
        unless its shape already makes it one (`profile.renewal_due - 7d` reads the trait as one inside)."""
        x = self.compile(node, scope)
        if isinstance(node, (ast.Binary, ast.Call)) and times.is_instant(node, lambda ref: False):
            return x
        return self.instant(node, x)

    def instant(self, node, x: list) -> list:
        """`x` (compiled from `node`) read as an instant at run time: a number as epoch ms, a text as RFC 3339
        or a date (midnight in the customer's time zone, else the journey's); anything else is null."""
        if isinstance(node, ast.Literal) and isinstance(node.value, str) and not times.is_time_text(node.value):
            self.error("J114", f'"{node.value}" is not a time, and a time is needed here', node.span,
                       'write a date like "2026-03-10" or an RFC 3339 time like "2026-03-10T09:00:00Z"')
        return ["instant", x] if self.timezone is None else ["instant", x, self.timezone]

    def _Ref(self, node, scope):
        head, *rest = node.parts
        if head == "profile" and rest:
            return ["ref", "profile", rest]
        if self.dated and scope.bare == "trigger":
            self.error("J133", f"this journey starts on a date, with no event: `{'.'.join(node.parts)}` reads nothing",
                       node.span, f"read a trait instead: profile.{node.parts[-1]}")
            return ["lit", None]
        if head == "trigger" and rest:
            if scope.in_trigger_where:
                self.error("J110", "`trigger.` cannot be used in the trigger's own `where`", node.span,
                           f"the event being matched is the trigger: write {'.'.join(rest)} instead")
            elif scope.in_aggregate:
                self.error("J126", "`trigger.` cannot be used inside an aggregate's `where`", node.span,
                           "an aggregate counts the customer's events, whatever journey they are in")
            elif self.catalog is not None:
                self.catalog.check_property(self.trigger_event, tuple(rest), node.span, self)
            return ["ref", "trigger", rest]
        self._check_property(node, scope)
        return ["ref", scope.bare, list(node.parts)]

    def _Call(self, node, scope):
        if node.name not in FUNCTIONS:
            close = did_you_mean(node.name, FUNCTIONS)
            self.error("J102", f"unknown function {node.name}()", node.span,
                       f"did you mean {close}()?" if close else "functions: " + ", ".join(sorted(FUNCTIONS)))
            return ["lit", None]
        low, high = FUNCTIONS[node.name]
        if not low <= len(node.args) <= high:
            want = f"{low}" if low == high else f"{low} to {high}"
            self.error("J115", f"{node.name}() takes {want} argument{'s' if high != 1 else ''}, "
                               f"not {len(node.args)}", node.span)
            return ["lit", None]
        if (node.where is not None or node.within is not None or node.per is not None) \
                and node.name not in AGGREGATES:
            used = "`where` and `within` belong" if node.where is not None or node.within is not None \
                else "`per` belongs"
            self.error("J115", f"{used} to aggregates, not to {node.name}()", node.span,
                       "aggregates: " + ", ".join(AGGREGATES))
        if node.attr is not None and node.name != "last":
            self.error("J115", f"{node.name}() has no properties to read", node.span,
                       "only last(EVENT).prop reads a property")
        if node.name in EVENT_ARG:
            return self._event_call(node, scope)
        if node.name == "in_segment":
            arg = node.args[0]
            seg = arg.value if isinstance(arg, ast.Literal) and arg.kind == "string" \
                else ".".join(getattr(arg, "parts", ()))
            if not seg:
                self.error("J115", "in_segment() takes a segment id", node.span, "write in_segment(loyal_runners)")
                return ["lit", None]
            self.segments_used.append((seg, arg.span))
            return ["in_segment", seg]
        return ["fn", node.name, [self.compile(a, scope) for a in node.args]]

    def _event_call(self, node, scope):
        arg = node.args[0]
        parts = arg.parts if isinstance(arg, ast.Ref) else ((arg.value,) if isinstance(arg, ast.Literal)
                                                            and isinstance(arg.value, str) else None)
        if not parts:
            self.error("J115", f"{node.name}() takes an event name", node.span, f"write {node.name}(purchase)")
            return ["lit", None]
        event, prop = parts[0], ".".join(parts[1:]) or None
        self.events_used.append((event, arg.span))
        if self.catalog is not None and (prop or node.attr):
            self.catalog.check_property(event, tuple(parts[1:]) or (node.attr,), node.span, self)
        if node.name == "last_seen":
            if prop:
                self.error("J115", "last_seen() takes an event name, not a property", node.span)
            return ["last_seen", event]
        if node.name == "last":
            if prop:
                self.error("J115", "write last(EVENT).prop, with the property after the parentheses", node.span)
            return ["last", event, node.attr]
        if node.name != "count" and not prop:
            self.error("J115", f"{node.name}() needs a property: {node.name}({event}.amount)", node.span)
        where = None
        if node.where is not None:
            where = self.compile(node.where, Scope("event", event, in_aggregate=True))
        spec = {"fn": node.name, "event": event, "prop": prop if node.name != "count" else None,
                "where": where, "within": node.within}
        item = None
        if node.per is not None:
            item = self._per(node, event, scope)
            spec["per"] = ".".join(node.per)
        key = f"{node.name}:{event}:{'per:' if node.per else ''}" + hashlib.sha1(canonical(spec)).hexdigest()[:8]
        if key not in self.aggregates:
            shown = f"{node.name}({event}{'.' + prop if prop else ''}{' where …' if where else ''}" \
                    f"{' within ' + format_duration(node.within, weeks=False) if node.within else ''}" \
                    f"{' per ' + '.'.join(node.per) if node.per else ''})"
            self.error("J129", f"{shown} counts from the moment this file is first loaded; "
                               "events before that are not in it", node.span, severity=NOTE)
        self.aggregates[key] = spec
        return ["agg", key] if item is None else ["agg_per", key, item]

    def _per(self, node, event, scope):
        """`per KEY`: the aggregated events whose KEY equals the current one's. The current event is the one a
        `where` matches, else the trigger; KEY is read from it as a bare name is read there."""
        shown = ".".join(node.per)
        if node.within is None:
            self.error("J115", f"`per {shown}` needs `within`: only the keys inside a window are kept", node.span,
                       f"give it a window, like: within 1d per {shown}")
        if scope.in_aggregate or (scope.bare == "event" and scope.event is None) or \
                (scope.bare == "trigger" and self.trigger_event is None):
            self.error("J115", f"`per {shown}` compares with the current event's {shown}, and there is none here",
                       node.span, "use `per` in a journey: in a `where` (the event it matches) or after the trigger")
        if self.catalog is not None:
            self.catalog.check_property(event, node.per, node.span, self)
        return self._Ref(ast.Ref(node.per, span=node.span), scope)

    # ---- checks -------------------------------------------------------------

    def _check_comparison(self, node, scope):
        if self.catalog is not None and self._check_catalog_types(node, scope):
            return
        kinds = {_static_kind(node.left, self, scope), _static_kind(node.right, self, scope)}
        if {"string", "number"} <= kinds:
            string_side = node.left if _static_kind(node.left, self, scope) == "string" else node.right
            literal = isinstance(string_side, ast.Literal)
            self.error("J114", "a text is compared with a number", node.span,
                       f"remove the quotes: {string_side.value}" if literal and _is_number(string_side.value)
                       else "compare numbers with numbers and texts with texts")
        elif "null" in kinds and node.op in ORDERED:
            self.error("J114", f"`{node.op}` with null is always false", node.span,
                       "use == null or != null to test for a missing value")

    def _check_catalog_types(self, node, scope) -> bool:
        """J013: a property the catalog types, compared with a value of another type."""
        for prop, other in ((node.left, node.right), (node.right, node.left)):
            want = _catalog_kind(prop, self, scope)
            got = _static_kind(other, self, scope)
            if "instant" in (want, got) and {want, got} <= {"instant", "number", "string", None}:
                continue  # a time compares with a time, a number (epoch ms) or a text that reads as one
            if want and got and got != "null" and got != want:
                words = {"number": "a number", "string": "a text", "bool": "true or false", "instant": "a time"}
                quoted = isinstance(other, ast.Literal) and other.kind == "string" and _is_number(other.value)
                self.error("J013", f"{'.'.join(prop.parts)} is {words[want]} in the event catalog, "
                                   f"but is compared with {words.get(got, got)}", node.span,
                           f"remove the quotes: {other.value}" if quoted and want == "number"
                           else f"compare it with {words[want]}")
                return True
        return False

    def _note_segment_comparison(self, node, scope):
        """`segment == "x"` on a segment event names a segment, as in_segment(x) does (checked as J125)."""
        if scope.bare != "event" or scope.event not in ("segment_entered", "segment_exited"):
            return
        for ref, lit in ((node.left, node.right), (node.right, node.left)):
            if isinstance(ref, ast.Ref) and ref.parts == ("segment",) and isinstance(lit, ast.Literal) \
                    and lit.kind == "string":
                self.segments_used.append((lit.value, lit.span))

    def _check_property(self, node, scope):
        if self.catalog is None:
            return
        self.catalog.check_property(_bare_event(scope, self), node.parts, node.span, self)


def _is_number(text) -> bool:
    try:
        float(text)
        return True
    except (TypeError, ValueError):
        return False


def _static_kind(node, compiler, scope) -> str | None:
    """The type an expression certainly has, when that can be known without data."""
    if isinstance(node, ast.Literal):
        return node.kind
    if isinstance(node, ast.DurationLit):
        return "number"
    if isinstance(node, ast.Call) and node.name in ("count", "sum", "min", "max", "avg", "now"):
        return "number"
    if isinstance(node, ast.Binary) and node.op in ("-", "*", "/"):
        return "number"
    return _catalog_kind(node, compiler, scope)


def _bare_event(scope, compiler) -> str | None:
    """The event a bare name belongs to: the matched one inside `where`, else the trigger."""
    return scope.event if scope.bare == "event" else (scope.event or compiler.trigger_event)


def _catalog_kind(node, compiler, scope) -> str | None:
    """The type the event catalog gives a property reference, if any."""
    if not isinstance(node, ast.Ref) or compiler.catalog is None or node.parts[0] == "profile":
        return None
    if node.parts[0] == "trigger":
        if len(node.parts) < 2 or scope.in_trigger_where or scope.in_aggregate:
            return None
        return compiler.catalog.property_kind(compiler.trigger_event, node.parts[1:])
    return compiler.catalog.property_kind(_bare_event(scope, compiler), node.parts)


def walk(node):
    """Every AST node under `node`, itself included: for checks that look for one kind anywhere."""
    if isinstance(node, (list, tuple)):
        for item in node:
            yield from walk(item)
        return
    if not isinstance(node, ast.Node):
        return
    yield node
    for name in node.__dataclass_fields__:
        if name != "span":
            yield from walk(getattr(node, name))



