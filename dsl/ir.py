"""The state machine the engine runs: plain JSON-shaped data, so a version can be stored and reloaded.

An instance of a journey is always at one state. States are a flat table keyed by
step id ("s1", "s2", ...), each naming its kind and where to go next; `next: None`
is the end of the flow (the instance completes). Step ids are what action ids are
made from, so they depend only on the journey's text, never on load order.

A `wait_until` state waits for the next {"minute"} (minutes after midnight, the customer's zone), or, with
{"instant": expr}, for that instant (with "minute" too: that day's HH:MM).

Expressions are nested lists, the first item naming the operation:
  ["lit", v]                      a literal (durations are milliseconds)
  ["ref", scope, [names...]]      scope: event (the event being matched), trigger, profile
  ["list", [x...]]   ["not", x]   ["neg", x]   ["and", [x...]]   ["or", [x...]]
  ["bin", op, a, b]               op: == != < <= > >= + - * / in "not in" contains
  ["fn", name, [args]]            now, lower, upper
  ["last_seen", event]            ["last", event, prop]    ["in_segment", id]
  ["agg", key]                    an aggregate from the `aggregates` table (count, sum, ...)
  ["agg_per", key, x]             one whose spec has `per` (a property): only its events whose property equals x
  ["interp", [str | x ...]]       a `with` string with {holes}
  ["instant", x[, zone]]          x read as a time: a number as epoch ms, an RFC 3339 text, a date (midnight in
                                  the customer's zone, else `zone`, the journey's); anything else null
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

# The longest duration anything may say (a wait, a window, a lateness): 100 years. Every instant the
# engine computes, an event's time plus a wait, then stays a date that every output can write and
# every store can hold (README "Limits"); no journey needs longer. The compiler refuses longer ones
# (J103), so the engine may count on it.
MAX_DURATION_MS = 36_500 * 86_400_000

IR_FORMAT = 1

# The channels a send may name with no project config; the config adds others (channels: in
# journeyctl.yaml), with the trait that holds each one's contact address. The compiler checks
# names against them and the engine sends on them, so both read this one tuple.
BUILTIN_CHANNELS = ("email", "sms", "whatsapp", "push", "in_app", "webhook")


class _Sealed:
    """What journeys and segments share: JSON in and out, and a version that is a hash of what the
    engine acts on, so an edit to a comment, a title or a line number keeps it."""

    __slots__ = ()

    # The two type: ignores below: this class is mixed into slotted dataclasses only, each with a
    # `version` field (a slot of its own), which mypy cannot see from here.
    def to_dict(self) -> dict:
        return {"format": IR_FORMAT, **asdict(self)}  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict):
        return cls(**{k: v for k, v in data.items() if k != "format"})

    def seal(self):
        body = self.to_dict()
        for k in ("version", "title", "description"):
            body.pop(k, None)
        if "states" in body:
            body["states"] = {sid: {k: v for k, v in st.items() if k != "line"} for sid, st in body["states"].items()}
        self.version = hashlib.sha256(canonical(body)).hexdigest()[:12]  # type: ignore[misc]
        return self


@dataclass(slots=True)
class JourneyIR(_Sealed):
    """trigger/goal/exit_on matchers are {"event": name, "where": expr | None}.
    reentry: {"mode": default|once|after|restart|concurrent, "after": ms, "by": expr}.
    caps: [{"channel": name | None, "count": n, "per": ms}]. quiet_hours: [start, end] minutes.
    aggregates: key -> {"fn", "event", "prop", "where", "within"[, "per"]} for the aggregates this journey reads.
    """

    id: str
    title: str | None
    description: str | None
    trigger: dict
    audience: list | None
    reentry: dict
    goal: dict | None
    exit_on: list
    quiet_hours: list | None
    caps: list
    holdout: float
    timezone: str | None
    start: str | None
    states: dict
    aggregates: dict = field(default_factory=dict)
    version: str = ""
    kind: str = "journey"


@dataclass(slots=True)
class SegmentIR(_Sealed):
    id: str
    title: str | None
    description: str | None
    where: list
    aggregates: dict = field(default_factory=dict)
    version: str = ""
    kind: str = "segment"


def canonical(data) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def from_dict(data: dict):
    return SegmentIR.from_dict(data) if data.get("kind") == "segment" else JourneyIR.from_dict(data)
