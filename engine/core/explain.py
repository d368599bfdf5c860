"""Words for the trace (`simulate --trace`): what an expression says, and why a condition was false.

Only ever called for the traced customer, so it may be slow: it writes IR back as the journey's text
(dsl/graph.py, imported when first needed, as it brings the parser with it) and evaluates the parts of
a condition again to find the one that failed, with the values it saw.
"""
from __future__ import annotations

from journeyctl.engine.core.expr import compile_expr, compile_pred, text

COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}


def written(x, aggregates: dict) -> str:
    """An IR expression as the journey's text."""
    from journeyctl.dsl.graph import expression
    return expression(x, aggregates)
