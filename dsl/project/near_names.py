"""J134: an event name used once, one slip away from a name used elsewhere in the project.

Without an event catalog nothing says which event names exist, so `unless purchse` is
valid and never happens. A name written once and one edit (a letter added, dropped,
changed, or two swapped) from a name written elsewhere is very likely that slip.
With a catalog, J011 says it better, so this check stays off then.
"""
from __future__ import annotations

from collections import defaultdict

from ..diagnostics import WARNING, Diagnostic

MIN_LENGTH = 4  # shorter names (pv, buy, cart) are one edit from too many others to mean anything


def near_miss_events(compiled: list) -> list[Diagnostic]:
    """One J134 per name used once with a near neighbour; added to its file's diagnostics too."""
    uses = defaultdict(list)  # name -> [(order, compiled, span)]
    for order, c in enumerate(compiled):
        for name, span in _names(c):
            uses[name].append(((order, span.line, span.column), c, span))
    found = []
    for name, where in uses.items():
        if len(where) != 1 or len(name) < MIN_LENGTH:
            continue
        (at, c, span), = where
        close = sorted(other for other, there in uses.items() if other != name and one_edit(name, other)
                       and (len(there) > 1 or there[0][0] < at))  # of two names used once each, the later warns
        if not close:
            continue
        other = close[0]
        _, there_c, there_span = uses[other][0]
        hint = f'did you mean "{other}"? ' if len(uses[other]) > 1 else \
            "if both mean one event, spell it the same way in both places; "
        d = Diagnostic("J134", WARNING, f"{name} is used only here, one letter away from {other} "
                                        f"(used at {there_c.path}:{there_span.line})", span,
                       hint + "an event name no input has never happens (an event catalog, catalog: in "
                              "journeyctl.yaml, checks every name)").at(c.path)
        c.diagnostics.append(d)
        found.append(d)
    return found


def _names(c):
    """Every event name a compiled file reads (triggers, waits, goals, aggregates...) or emits."""
    yield from c.events
    yield from c.emits


def one_edit(a: str, b: str) -> bool:
    """Whether b is a with one letter added, dropped or changed, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k in range(len(short)) if short[k] != long_[k]), len(short))
    return short[i:] == long_[i + 1:]
