"""Our own syntax tree: what the marketer wrote, with where they wrote it.

Nothing from Lark appears here, so the compiler, the formatter and the tests can
change parser without noticing. Every node carries a `span` for diagnostics.
Durations are milliseconds; times of day are minutes after midnight.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .diagnostics import Span


@dataclass(slots=True)
class Node:
    span: Span = field(default_factory=Span, kw_only=True, compare=False, repr=False)


# ---- expressions ------------------------------------------------------------

@dataclass(slots=True)
class Literal(Node):
    """A number, string, true/false or null. `kind` is number, string, bool or null."""
    value: str | float | bool | None
    kind: str


@dataclass(slots=True)
class DurationLit(Node):
    """A duration written as a literal, in milliseconds (compares with time differences)."""
    ms: int


@dataclass(slots=True)
class Ref(Node):
    """A dotted name as written: ("cart_value",), ("profile", "ltv"), ("trigger", "cart_url")."""
    parts: tuple[str, ...]


@dataclass(slots=True)
class ListExpr(Node):
    items: list


@dataclass(slots=True)
class Unary(Node):
    """op: "not" or "-"."""
    op: str
    operand: Node


@dataclass(slots=True)
class Binary(Node):
    """op: a comparison, arithmetic, "in", "not in" or "contains"."""
    op: str
    left: Node
    right: Node


@dataclass(slots=True)
class BoolOp(Node):
    """op: "and" or "or", over two or more operands, evaluated left to right with short cut."""
    op: str
    operands: list


@dataclass(slots=True)
class Call(Node):
    """A function call. `where`, `within` and `per` belong to aggregates (`count(purchase where x > 1 within 7d)`,
    `count(product_viewed within 1d per sku)`: `per` the property, as written, that must equal the current
    event's); `attr` is the property read from the result (`last(purchase).amount`)."""
    name: str
    args: list
    where: Node | None = None
    within: int | None = None
    attr: str | None = None
    per: tuple | None = None


@dataclass(slots=True)
class Interpolated(Node):
    """A string with `{expr}` holes; parts are str or expressions."""
    parts: list


# ---- matchers, settings, steps ---------------------------------------------

@dataclass(slots=True)
class EventMatch(Node):
    """An event name and an optional condition on it."""
    event: str
    where: Node | None = None


@dataclass(slots=True)
class Setting(Node):
    """One line of settings. kind: description, audience, reentry, goal, exit_on, quiet_hours, cap,
    holdout, timezone; `value` is kind-specific (see the compiler): a text, an expression, a Reentry,
    (EventMatch, ms), an EventMatch, (minute, minute), a Cap or a number, so it is typed Any: `kind` says."""
    kind: str
    value: Any


@dataclass(slots=True)
class Reentry(Node):
    """mode: once, after, restart or concurrent; `after` in ms; `by` an expression for concurrent."""
    mode: str
    after: int | None = None
    by: Node | None = None


@dataclass(slots=True)
class Cap(Node):
    channel: str | None
    count: float
    per: int


@dataclass(slots=True)
class Wait(Node):
    """`wait D [unless E ...]`; `unless` is empty for a plain pause."""
    duration: int
    unless: list


@dataclass(slots=True)
class WaitUntil(Node):
    """`wait until HH:MM` (minute: minutes after midnight), `wait until EXPR` (instant: an expression that
    gives a time) or `wait until EXPR at HH:MM` (both: that day's HH:MM)."""
    minute: int | None
    instant: Node | None = None


@dataclass(slots=True)
class SendTarget(Node):
    channel: str
    template: str | None


@dataclass(slots=True)
class Assignment(Node):
    name: str
    value: Node


@dataclass(slots=True)
class Send(Node):
    targets: list
    variables: list


@dataclass(slots=True)
class SetTrait(Node):
    """`set profile.NAME = EXPR`; `path` is the dotted name as written."""
    path: tuple[str, ...]
    value: Node


@dataclass(slots=True)
class Emit(Node):
    event: str
    variables: list


@dataclass(slots=True)
class Exit(Node):
    pass


@dataclass(slots=True)
class If(Node):
    """branches: (condition, steps) in order; `otherwise` the else block or None."""
    branches: list
    otherwise: list | None


@dataclass(slots=True)
class WhenClause(Node):
    """within: ms, or None for an `or when` that leaves it out (the first block's window is the
    construct's); within_span: where it was written, for J128."""
    match: EventMatch
    within: int | None
    steps: list
    within_span: Span | None = field(default=None, kw_only=True, compare=False, repr=False)


@dataclass(slots=True)
class When(Node):
    clauses: list
    otherwise: list | None


@dataclass(slots=True)
class SplitArm(Node):
    name: str
    percent: float
    steps: list


@dataclass(slots=True)
class Split(Node):
    arms: list


@dataclass(slots=True)
class Trigger(Node):
    """`on EVENT [where X] [within D unless ...]`; `within`/`unless` become a first wait.
    A date trigger, `on date EXPR [yearly] [at HH:MM]`, has no `match`: `date` is EXPR, `at` minutes
    after midnight or None, `yearly` whether it comes round every year."""
    match: EventMatch | None
    within: int | None = None
    unless: list = field(default_factory=list)
    date: Node | None = None
    at: int | None = None
    yearly: bool = False


@dataclass(slots=True)
class Journey(Node):
    """id: from the header, else None (the compiler uses the file's stem)."""
    id: str | None
    title: str | None
    settings: list
    trigger: Trigger
    steps: list


@dataclass(slots=True)
class Segment(Node):
    id: str
    title: str | None
    description: str | None
    where: Node
