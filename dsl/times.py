"""Where an expression needs an instant (issue 17 section 1: times as values, our extension).

A property or trait may hold a time as text (`"2026-03-10T09:00:00Z"`, or a date `"2026-03-10"`).
The compiler decides, from the expression's shape alone, where such a value must be read as an
instant, and wraps it there (["instant", x]); the engine converts what it finds at run time. One
reading, fixed when the journey is compiled:

- `now()` and `last_seen(EVENT)` are instants, and so is a property the event catalog types
  `format: date-time` or `format: date`;
- in `X + D` and `X - D`, D a duration literal, X is an instant (and so is the result);
- in `A - B` and in a comparison (`< <= > >= == !=`), a value beside an instant is an instant;
- `wait until X` and `on date X` need an instant.

A value here is what may hold text: a property, a trait, `last(EVENT).prop`, or a quoted text. A
number stays epoch milliseconds; `null` is compared as null.
"""
from __future__ import annotations

import re
from datetime import date, datetime

from . import ast

INSTANT_CALLS = ("now", "last_seen")


def is_value(node) -> bool:
    """A value that may hold a time as text."""
    return isinstance(node, ast.Ref) or (isinstance(node, ast.Literal) and node.kind == "string") or \
        (isinstance(node, ast.Call) and node.name == "last" and node.attr is not None)


def is_instant(node, typed) -> bool:
    """Whether the expression is an instant by its shape; `typed(ref)` says whether the catalog types it one."""
    if isinstance(node, ast.Call):
        return node.name in INSTANT_CALLS and node.attr is None
    if isinstance(node, ast.Ref):
        return typed(node)
    if isinstance(node, ast.Binary) and node.op in ("+", "-"):
        return _offset(node) is not None and (is_instant(_offset(node), typed) or is_value(_offset(node)))
    return False


def _offset(node):
    """In `X + D`, `D + X` or `X - D` (D a duration literal): X; else None."""
    if isinstance(node.right, ast.DurationLit):
        return node.left
    if node.op == "+" and isinstance(node.left, ast.DurationLit):
        return node.right
    return None


def instant_sides(node: ast.Binary, typed) -> tuple[bool, bool]:
    """Which operands of a comparison or `+`/`-` are to be read as instants."""
    left, right = node.left, node.right
    if node.op in ("+", "-"):
        shifted = _offset(node)
        if shifted is not None:
            return shifted is left and is_value(left), shifted is right and is_value(right)
        if node.op == "+":
            return False, False
    elif _is_null(left) or _is_null(right):
        return False, False
    left_is, right_is = is_instant(left, typed), is_instant(right, typed)
    return (is_value(left) and (right_is or left_is and _typed_ref(left, typed)),
            is_value(right) and (left_is or right_is and _typed_ref(right, typed)))


def _typed_ref(node, typed) -> bool:
    return isinstance(node, ast.Ref) and typed(node)


def _is_null(node) -> bool:
    return isinstance(node, ast.Literal) and node.kind == "null"


_DATE = re.compile(r"\d{4}-\d\d-\d\d")
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


def is_time_text(text: str) -> bool:
    """Whether a text reads as a time: a date (YYYY-MM-DD) or an RFC 3339 time with its offset. (The engine
    reads it; this is the same rule, for a text written in the journey itself.)"""
    try:
        if _DATE.fullmatch(text):
            date.fromisoformat(text)
            return True
        if _RFC3339.fullmatch(text):
            datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00").replace("t", "T"))
            return True
    except ValueError:
        pass
    return False
