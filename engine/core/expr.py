"""IR expressions -> Python closures, built once per journey version.

Closures, not generated source: no text from a journey is ever handed to
`eval`, so a journey can read only what the context offers (the event, the
trigger, the profile, the customer's history) and nothing else.
Null and type mismatches never raise: any comparison with null except ==/!= is
false, and arithmetic on something that is not a number is null.
"""
from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Callable, TypeGuard

from journeyctl.engine.core.instants import ENV, as_instant

if TYPE_CHECKING:
    from journeyctl.engine.core.state import Customer

# What an expression may see, as a plain tuple built once per event and journey (a class with
# __init__ cost more than evaluating most conditions): the properties of the event being matched,
# the trigger's, the profile, the instant being processed, the customer's state (history, segments)
# and the aggregates' readers by key (each takes the customer and the instant). Only `context` below
# builds one and only this module reads its positions.
Ctx = tuple
EV, TRIG, PROF, NOW, CUST, AGGS = range(6)
Expr = Callable[[Ctx], object]
Pred = Callable[[Ctx], bool]


def context(event: dict, trigger: dict, cust: Customer, now: int, readers: dict) -> Ctx:
    """What an expression sees: `event` the properties of the event being matched (a step of a running
    instance sees its trigger's here too), `trigger` the trigger's, the customer's profile and state,
    `now` and the aggregates' readers."""
    return (event, trigger, cust.profile, now, cust, readers)


def event_of(ctx: Ctx) -> dict:
    """The properties of the event a context was built for (a new instance keeps its trigger's)."""
    return ctx[EV]


def _is_num(x) -> TypeGuard[int | float]:
    return (type(x) is int or type(x) is float)


def _eq(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if _is_num(a) and _is_num(b):
        return a == b
    return type(a) is type(b) and a == b


def _ordered(op):
    def compare(a, b) -> bool:
        if _is_num(a) and _is_num(b) or type(a) is str and type(b) is str:
            return op(a, b)
        return False
    return compare


def _arith(op):
    def apply(a, b):
        if op is operator.add and type(a) is str and type(b) is str:
            return a + b
        if not (_is_num(a) and _is_num(b)):
            return None
        try:
            return op(a, b)
        except ZeroDivisionError:
            return None
    return apply


def _in(a, b) -> bool:
    if isinstance(b, list):
        return any(_eq(a, x) for x in b)
    if type(b) is str and type(a) is str:
        return a in b
    return False


BINARY = {
    "==": _eq,
    "!=": lambda a, b: not _eq(a, b),
    "<": _ordered(operator.lt), "<=": _ordered(operator.le),
    ">": _ordered(operator.gt), ">=": _ordered(operator.ge),
    "+": _arith(operator.add), "-": _arith(operator.sub),
    "*": _arith(operator.mul), "/": _arith(operator.truediv),
    "in": _in,
    "not in": lambda a, b: not _in(a, b) if isinstance(b, (list, str)) else False,
    "contains": lambda a, b: _in(b, a),
}


def _lower(x):
    return x.lower() if type(x) is str else None


def _upper(x):
    return x.upper() if type(x) is str else None


FUNCTIONS = {"lower": _lower, "upper": _upper}


def lookup(value, path):
    """Follow a dotted path through nested objects; anything missing is null."""
    for name in path:
        if type(value) is not dict:
            return None
        value = value.get(name)
    return value


def truthy(x) -> bool:
    return x is not None and x is not False and x != 0 and x != "" and x != []


def text(x) -> str:
    """How a value reads inside a message: null is empty, whole floats lose their '.0'."""
    if x is None:
        return ""
    if x is True or x is False:
        return "true" if x else "false"
    if type(x) is float and x.is_integer():
        return str(int(x))
    return str(x)


def compile_expr(x) -> Expr:
    return _COMPILERS[x[0]](x)


def compile_pred(x) -> Pred | None:
    """A condition that may be absent (`where` left out): None means always true."""
    if x is None:
        return None
    return _c_test(x)


def _c_lit(x):
    v = x[1]
    return lambda c: v


def _c_ref(x):
    scope, path = x[1], tuple(x[2])
    if len(path) == 1:
        key = path[0]
        return {"event": lambda c: dict.get(c[EV], key), "trigger": lambda c: dict.get(c[TRIG], key),
                "profile": lambda c: dict.get(c[PROF], key)}[scope]
    at = {"event": EV, "trigger": TRIG, "profile": PROF}[scope]
    return lambda c: lookup(c[at], path)


def _c_list(x):
    items = [compile_expr(i) for i in x[1]]
    return lambda c: [f(c) for f in items]


def _c_not(x):
    f = compile_expr(x[1])
    return lambda c: not truthy(f(c))


def _c_neg(x):
    f = compile_expr(x[1])

    def neg(c):
        v = f(c)
        return -v if _is_num(v) else None
    return neg


BOOLEAN = {"bin", "not", "and", "or", "in_segment"}


def _c_test(x):
    """A sub-expression as a yes/no: comparisons already give a bool, so they skip `truthy`."""
    f = compile_expr(x)
    if x[0] in BOOLEAN and (x[0] != "bin" or x[1] not in ("+", "-", "*", "/")):
        return f
    return lambda c: truthy(f(c))


def _c_and(x):
    fs = [_c_test(i) for i in x[1]]
    if len(fs) == 2:
        f1, f2 = fs
        return lambda c: f1(c) and f2(c)
    return lambda c: all(f(c) for f in fs)


def _c_or(x):
    fs = [_c_test(i) for i in x[1]]
    if len(fs) == 2:
        f1, f2 = fs
        return lambda c: f1(c) or f2(c)
    return lambda c: any(f(c) for f in fs)


def _c_bin(x):
    fast = _c_bin_literal(x)
    if fast is not None:
        return fast
    op, a, b = BINARY[x[1]], compile_expr(x[2]), compile_expr(x[3])
    return lambda c: op(a(c), b(c))


NUMBER_TEST = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
                ">": operator.gt, ">=": operator.ge}


def _c_bin_literal(x):
    """`property OP literal`, the commonest condition by far, as one closure with the same meaning
    as the general path: only a number equals or orders with a number, only text with text."""
    op, left, right = x[1], x[2], x[3]
    if right[0] != "lit" or op not in NUMBER_TEST:
        return None
    a, v, test = compile_expr(left), right[1], NUMBER_TEST[op]
    if left[0] == "ref" and len(left[2]) == 1:
        # a top-level property: read it here rather than through a second closure
        at, key = {"event": EV, "trigger": TRIG, "profile": PROF}[left[1]], left[2][0]
        if _is_num(v) and op != "!=":
            return lambda c: (type(y := dict.get(c[at], key)) is int or type(y) is float) and test(y, v)
        if type(v) is str and op == "==":
            return lambda c: dict.get(c[at], key) == v
    if _is_num(v):
        if op == "!=":
            return lambda c: not ((type(y := a(c)) is int or type(y) is float) and y == v)
        return lambda c: (type(y := a(c)) is int or type(y) is float) and test(y, v)
    if type(v) is str:
        if op == "==":
            return lambda c: a(c) == v
        if op == "!=":
            return lambda c: a(c) != v
        return lambda c: type(y := a(c)) is str and test(y, v)
    if v is None or type(v) is bool:
        if op == "==":
            return lambda c: a(c) is v
        if op == "!=":
            return lambda c: a(c) is not v
        return lambda c: False
    return None


def _c_fn(x):
    if x[1] == "now":
        return lambda c: c[NOW]
    fn, args = FUNCTIONS[x[1]], [compile_expr(a) for a in x[2]]
    return lambda c: fn(*[a(c) for a in args])


def _c_last_seen(x):
    name = x[1]
    return lambda c: c[CUST].last_seen.get(name)


def _c_last(x):
    name, prop = x[1], x[2]
    return lambda c: (c[CUST].last_props.get(name) or {}).get(prop)


def _c_in_segment(x):
    seg = x[1]
    return lambda c: seg in c[CUST].segments


def _c_agg(x):
    key = x[1]
    return lambda c: c[AGGS][key](c[CUST], c[NOW])


def _c_agg_per(x):
    key, item = x[1], compile_expr(x[2])
    return lambda c: c[AGGS][key](c[CUST], c[NOW], item(c))


def _c_instant(x):
    """A value read as an instant (dsl/times.py): a number as it is, the rest through engine/core/instants.py."""
    f, journey_zone = compile_expr(x[1]), x[2] if len(x) > 2 else None

    def instant(c):
        v = f(c)
        if type(v) is int or type(v) is float:
            return v
        if v is None:
            return None
        aggs = c[AGGS]
        return as_instant(v, c[PROF], aggs.get(ENV) if aggs else None, journey_zone)
    return instant


def _c_interp(x):
    parts = [(p if isinstance(p, str) else compile_expr(p)) for p in x[1]]
    return lambda c: "".join(p if isinstance(p, str) else text(p(c)) for p in parts)


_COMPILERS = {
    "lit": _c_lit, "ref": _c_ref, "list": _c_list, "not": _c_not, "neg": _c_neg, "and": _c_and, "or": _c_or,
    "bin": _c_bin, "fn": _c_fn, "last_seen": _c_last_seen, "last": _c_last, "in_segment": _c_in_segment,
    "agg": _c_agg, "agg_per": _c_agg_per, "interp": _c_interp, "instant": _c_instant,
}


def walk_ir(x):
    """Every sub-expression of an IR expression, for finding which histories a journey reads."""
    if not isinstance(x, list) or not x or not isinstance(x[0], str):
        return
    yield x
    for item in x[1:]:
        if isinstance(item, list):
            if item and isinstance(item[0], str) and item[0] in _COMPILERS:
                yield from walk_ir(item)
            else:
                for sub in item:
                    yield from walk_ir(sub)
