"""What a replay's input suggests is wrong, said once at the end of `simulate` (issue 17 section 4).

Without an event catalog nothing says that `unless purchse` names an event that never comes: the
journey just never cancels. After a replay we know which names the input held, so a name a journey
waits for (its trigger, an `unless`, a `when`) that never appeared is worth one line, with the
closest name that did. And an input not in time order shows as many late events: `--sort` fixes that.
"""
from __future__ import annotations

from journeyctl.dsl.diagnostics import did_you_mean

INTERNAL = frozenset({"segment_entered", "segment_exited"})  # made by the engine, never in the input
LATE_SHARE = 0.01  # late events past this share of the input (and at least MANY_LATE) suggest --sort
MANY_LATE = 10


PLACES = {"trigger": "{} starts on it", "unless": "{} waits for it in an `unless`", "when": "{} waits for it in a `when`"}


def waited_for(irs) -> dict[str, list[str]]:
    """event name -> where journeys wait for it (`cart_recovery waits for it in an `unless``), for the names
    no journey emits."""
    emitted, found = set(INTERNAL), {}
    for ir in irs:
        if ir.kind != "journey":
            continue
        places = [] if ir.trigger.get("event") is None else [(ir.trigger["event"], "trigger")]
        for st in ir.states.values():
            if st["kind"] == "emit":
                emitted.add(st["event"])
            places += [(m["event"], "unless") for m in st.get("unless", [])]
            places += [(b["event"], "when") for b in st.get("branches", []) if st["kind"] == "when"]
        for name, place in places:
            where = PLACES[place].format(ir.id)
            if where not in found.setdefault(name, []):
                found[name].append(where)
    return {name: places for name, places in found.items() if name not in emitted}


def input_hints(irs, names_seen: set, events: int, late: int, sorted_input: bool) -> list[str]:
    """Lines for the person who ran the replay: names never seen, and many late events."""
    out = []
    if events:
        for name, places in sorted(waited_for(irs).items()):
            if name not in names_seen:
                close = did_you_mean(name, names_seen)
                out.append(f"no {name} event in the input; {'; '.join(places)}"
                           + (f' (did you mean "{close}"?)' if close else ""))
    if not sorted_input and late >= MANY_LATE and late >= LATE_SHARE * (events + late):
        out.append(f"{late} events came more than the allowed lateness behind the clock and were left out (late): "
                   "if the input is not in time order, --sort orders it first")
    return out
