"""Matching a case's expected actions to the actions that happened, and saying why not, side by side.

Each expectation takes a different action (a maximum matching, so an expectation
that fits many never takes the only one another could use); what is left over is
checked against `expect_absent` and `exact`. The result is a timeline of rows
(inputs, expected, actual) and notes in words, for the terminal to show.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from journeyctl.dsl.diagnostics import did_you_mean

from journeyctl.engine.testing.reader import Case, Expected, format_relative


@dataclass
class Row:
    """One line of the side-by-side timeline. mark: ✓ matched, ✗ wrong, · not asked about, "" an input."""

    at: int | None               # ms after start; None: an expectation without a time that matched nothing
    event: str = ""
    expected: str = ""
    actual: str = ""
    mark: str = ""


@dataclass
class CaseResult:
    case: Case
    passed: bool
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)     # why it failed, in words
    trace: list[tuple] = field(default_factory=list)   # (ms after start, journey, text)


def compare(case: Case, journey: str, actions: list[dict], dead_letters: list, journeys: dict,
            until: int) -> CaseResult:
    """The case's expectations against `actions` (those of `journey` and of any journey an expectation
    names, each with `at`: ms after the start), laid out as a timeline with the case's inputs and the
    events that were not applied. journeys: the loaded ones by id, to explain an expectation that failed;
    until: where the clock stopped (rows with no time go after it)."""
    expect = [replace(e, fields={"journey": journey, **e.fields}) for e in case.expect]
    absent = [replace(e, fields={"journey": journey, **e.fields}) for e in case.expect_absent]
    many = len({a["customer_id"] for a in actions} | {case.customer}) > 1

    out = CaseResult(case, True)
    pairs = _match(expect, actions)
    matched = set(pairs.values())
    rows = out.rows
    inputs = {}
    for ev in case.events:
        label = (f"identify {_values(ev.traits)}" if ev.traits is not None
                 else f"{ev.name} {_values(ev.properties)}").strip()
        inputs[ev.line] = Row(ev.at, event=label + (f" ({ev.customer})" if ev.customer != case.customer else ""))
        rows.append(inputs[ev.line])
    for dead in dead_letters:
        row = inputs.get(dead.line)
        if row is not None:
            row.event += f" — not applied: {dead.reason}"
            row.mark = "!"
        out.notes.append(f"the event at line {dead.line} was not applied: {dead.detail}")
    for i, e in enumerate(expect):
        if i in pairs:
            a = actions[pairs[i]]
            rows.append(Row(a["at"], expected=_expected(e, journey), actual=_actual(a, journey, many), mark="✓"))
        else:
            out.passed = False
            rows.append(Row(e.fields.get("at"), expected=_expected(e, journey), actual="—", mark="✗"))
            out.notes.append(_missing(e, actions, journey, journeys, many))
    for k, a in enumerate(actions):
        if k in matched:
            continue
        hit = next((e for e in absent if _fits(e, a)), None)
        if hit is not None:
            out.passed = False
            rows.append(Row(a["at"], expected="not " + _expected(hit, journey), actual=_actual(a, journey, many),
                            mark="✗"))
            out.notes.append(f"{_actual(a, journey, many)} at {format_relative(a['at'])} matches "
                             f"expect_absent at line {hit.line}")
        elif case.exact:
            out.passed = False
            rows.append(Row(a["at"], expected="(not expected: exact)", actual=_actual(a, journey, many), mark="✗"))
            out.notes.append(f"{_actual(a, journey, many)} at {format_relative(a['at'])} is not expected "
                             f"(the case is exact)")
        else:
            rows.append(Row(a["at"], actual=_actual(a, journey, many), mark="·"))
    rows.sort(key=lambda r: (r.at if r.at is not None else until + 1, r.event == ""))
    return out


def _match(expect: list[Expected], actions: list[dict]) -> dict[int, int]:
    """Each expectation to a different action (a maximum bipartite matching, so an expectation that
    fits many actions never takes the only one another could use). expectation index -> action index."""
    fits = [[k for k, a in enumerate(actions) if _fits(e, a)] for e in expect]
    owner: dict[int, int] = {}

    def place(i: int, seen: set) -> bool:
        for k in fits[i]:
            if k in seen:
                continue
            seen.add(k)
            if k not in owner or place(owner[k], seen):
                owner[k] = i
                return True
        return False

    for i in range(len(expect)):
        place(i, set())
    return {i: k for k, i in owner.items()}


def _differences(e: Expected, a: dict) -> list[str]:
    out = []
    for key, want in e.fields.items():
        got = a["at"] if key == "at" else a["customer_id"] if key == "customer" else a.get(key)
        if got != want:
            show = format_relative if key == "at" else _shown
            out.append(f"{key} is {show(got)}, expected {show(want)}")
    for name, want in (e.variables or {}).items():
        if name not in a["variables"]:
            out.append(f"no variable {name}")
        elif a["variables"][name] != want:
            out.append(f"variable {name} is {_shown(a['variables'][name])}, expected {_shown(want)}")
    return out


def _fits(e: Expected, a: dict) -> bool:
    return not _differences(e, a)


def _missing(e: Expected, actions: list[dict], journey: str, journeys: dict, many: bool) -> str:
    """Why nothing matched an expectation: the closest action and how it differs, or a likely typo."""
    head = f"expected at line {e.line} ({_expected(e, journey)}) did not happen"
    target = e.journey or journey
    j = journeys.get(target)
    if j is None:
        close = did_you_mean(target, journeys)
        return f"{head}: no journey {target!r} is loaded" + (f' (did you mean "{close}"?)' if close else "")
    sent = {(t["channel"], t["template"] or j.id) for st in j.ir.states.values() if st["kind"] == "send"
            for t in st["targets"]}
    for key, known in (("channel", {c for c, _ in sent}), ("template", {t for _, t in sent})):
        want = e.fields.get(key)
        if want is not None and want not in known:
            close = did_you_mean(want, known)
            return (f"{head}: journey {target} never sends {key} {want!r}"
                    + (f' (did you mean "{close}"?)' if close else ""))
    candidates = [a for a in actions if a["journey"] == target]
    if not candidates:
        return f"{head}: journey {target} took no action in this case"
    best = min(candidates, key=lambda a: (len(_differences(e, a)), abs(a["at"] - e.fields.get("at", a["at"]))))
    return (f"{head}; the closest is {_actual(best, journey, many)} at {format_relative(best['at'])}, where "
            + "; ".join(_differences(e, best)))


def _values(values: dict | None) -> str:
    return ", ".join(f"{k}={_value(v)}" for k, v in (values or {}).items())


def _shown(v) -> str:
    """A value as JSON would write it, so "80" and 80 look different."""
    return json.dumps(v, ensure_ascii=False, default=str)


def _value(v) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, default=str)


def _expected(e: Expected, journey: str) -> str:
    f = e.fields
    parts = [f[k] for k in ("channel", "template") if f.get(k)]
    if f.get("status"):
        parts.append(f"({f['status']})")
    if e.variables:
        parts.append(_values(e.variables))
    if f.get("customer"):
        parts.append(f"for {f['customer']}")
    if f.get("journey") and f["journey"] != journey:
        parts.insert(0, f"[{f['journey']}]")
    if "at" not in f:
        parts.append("at any time")
    return " ".join(parts)


def _actual(a: dict, journey: str, many: bool) -> str:
    parts = [a["channel"], a["template"], f"({a['status']})"]
    if a["variables"]:
        parts.append(_values(a["variables"]))
    if many:
        parts.append(f"for {a['customer_id']}")
    if a["journey"] != journey:
        parts.insert(0, f"[{a['journey']}]")
    return " ".join(parts)

