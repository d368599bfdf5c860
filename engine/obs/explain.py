"""Words for the trace (`simulate --trace`): what an expression says, and why a condition was false.

Only ever called for the traced customer, so it may be slow: it writes IR back as the journey's text
(dsl/graph.py, imported when first needed, as it brings the parser with it) and evaluates the parts of
a condition again to find the one that failed, with the values it saw:
`count(product_viewed within 1d) = 2, needs >= 3`.
"""
from __future__ import annotations

from journeyctl.engine.core.expr import compile_expr, truthy

COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}


def written(x, aggregates: dict) -> str:
    """An IR expression as the journey's text."""
    from journeyctl.dsl.graph import expression
    return expression(x, aggregates)


def why_false(x, ctx, aggregates: dict) -> str:
    """Which part of a false condition is false, with the values it saw."""
    op = x[0]
    if op == "and":
        failed = next((part for part in x[1] if not truthy(compile_expr(part)(ctx))), None)
        return why_false(failed, ctx, aggregates) if failed is not None else written(x, aggregates) + " is false"
    if op == "or":
        return "; ".join(why_false(part, ctx, aggregates) for part in x[1])
    if op == "not":
        return f"{written(x[1], aggregates)} is true, needs to be false"
    if op == "bin" and x[1] in COMPARISONS:
        left, right = x[2], x[3]
        seen = f"{written(left, aggregates)} = {_value(left, ctx)}"
        if right[0] == "lit":
            return f"{seen}, needs {x[1]} {written(right, aggregates)}"
        return f"{seen}, needs {x[1]} {written(right, aggregates)} (= {_value(right, ctx)})"
    return f"{written(x, aggregates)} = {_value(x, ctx)}, needs to be true"


def _value(x, ctx) -> str:
    """A value as the trace shows it: texts quoted, null as null, an instant as a time."""
    from journeyctl.dsl.graph import _about_time
    from journeyctl.engine.core.events import format_instant
    value = compile_expr(x)(ctx)
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is str:
        return '"' + value.replace('"', '\\"') + '"'
    if type(value) is int and _about_time(x) and not (x[0] == "bin" and x[1] == "-" and _about_time(x[3])):
        try:
            return format_instant(value)
        except (ValueError, OverflowError, OSError):
            pass
    if type(value) is float and value.is_integer():
        return str(int(value))
    return str(value)
