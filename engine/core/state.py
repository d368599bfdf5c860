"""Per-customer state: everything the engine remembers about one customer, and its compact encoding.

One customer's state is one record, so a store reads and writes it in one go and
customers never share anything. An instance is a slotted object read by name: a million
waiting instances must fit in 2 KB each, and ten slots take less room than a list of ten.
It is stored as the list of its fields in slot order, as instances always were.
"""
from __future__ import annotations

import json
from typing import NamedTuple

import orjson

HELD_OUT = 1      # flag: the customer is in the journey's holdout group
DEFERRED = 2      # flag: the current send waits for the end of quiet hours

# A copy of a message id stamped within this much event time of the applied one is a duplicate (spec
# section 6; `dedup_window` in the project config). Ids are kept only as long as a copy can still match.
DEDUP_WINDOW = 86_400_000
# The time of an id in state written before ids had times (schema 5), before any instant an event
# can have: it counts as the time of the customer's next event (Engine._forget_ids).
UNKNOWN_TIME = -(1 << 62)


class ParkedTimer(NamedTuple):
    """A timer kept aside after it raised when it fired (Customer.park), as inspect, status and
    `run --retry-parked` read it."""
    journey: str
    instance_id: str
    due: int      # when it was due
    step: str
    error: str


class Parked(NamedTuple):
    """A timer the engine just parked (Engine._park), for the run loop to dead-letter and keep aside."""
    customer_id: str
    journey: str
    instance_id: str
    due: int
    error: str


class Instance:
    """One customer's run through one journey version. journey: journey id; version: the version it runs;
    iid: instance id (the message id of the event that started it); state: the step it is at (None before
    the first); due: when its timer fires (ms) or None; entered: when it started; trigger: the trigger's
    properties the flow reads; trigger_message: that event's message id; flags: HELD_OUT | DEFERRED;
    key: its `reentry concurrent by` key (None otherwise)."""

    __slots__ = ("journey", "version", "iid", "state", "due", "entered", "trigger", "trigger_message", "flags",
                 "key")

    def __init__(self, journey: str, version: str, iid: str, state: str | None, due: int | None, entered: int,
                 trigger: dict, trigger_message: str, flags: int, key: object):
        self.journey = journey
        self.version = version
        self.iid = iid
        self.state = state
        self.due = due
        self.entered = entered
        self.trigger = trigger
        self.trigger_message = trigger_message
        self.flags = flags
        self.key = key

    def fields(self) -> list:
        """Its stored form: the fields in slot order (the list an instance was before it had names)."""
        return [self.journey, self.version, self.iid, self.state, self.due, self.entered, self.trigger,
                self.trigger_message, self.flags, self.key]

    def __repr__(self) -> str:
        return f"Instance{tuple(self.fields())!r}"


class Customer:
    """profile: traits; instances: active journey instances; entries: journey id -> [last entry, count];
    sends: journey id -> [[time, channel], ...] within the longest cap window; seen: message id -> event time
    of the events applied within the de-duplication window, oldest first (see Engine._forget_ids);
    last_seen/last_props: the previous event of each name some journey asks about; aggs: aggregate states;
    segments: ids of the segments the customer is in; dates: journey id -> [due, fired] of the journeys that
    start `on date` (due: the instant it is scheduled for, or None; fired: the last date it fired for);
    parked: journey id -> {instance id: [due, step, error]} of timers that raised when they fired and wait,
    without a due time, for `unpark` (see Engine.parking)."""

    __slots__ = ("profile", "instances", "entries", "seen", "_sends", "_last_seen", "_last_props", "_aggs",
                 "_segments", "_parked", "window_due", "window_epoch", "_dates")

    def __init__(self):
        self.profile: dict = {}
        self.instances: list[Instance] = []
        self.entries: dict = {}
        self.seen: dict = {}
        # Most customers never use caps, last_seen(), last(), aggregates or segments, and five empty
        # containers (a set is 216 bytes) were a quarter of a waiting instance's RAM; so each is None
        # until first used (the properties below), and encoding a customer reads the None without making one.
        self._sends: dict | None = None
        self._last_seen: dict | None = None
        self._last_props: dict | None = None
        self._aggs: dict | None = None
        self._segments: set | None = None
        self._dates: dict | None = None
        self._parked: dict | None = None
        # Not stored: the engine's note of when a window some segment reads next loses an entry
        # (None: work it out again).
        self.window_due: int | None = None
        self.window_epoch: int | None = None

    # The lazy fields, each made on first use (see __init__). Written out rather than made by a loop: the
    # compiled build's extension type (state.pxd) takes properties only from the class body, and the
    # type checker sees only what is written there.
    @property
    def sends(self) -> dict:
        if self._sends is None:
            self._sends = {}
        return self._sends

    @sends.setter
    def sends(self, value: dict) -> None:
        self._sends = value

    @property
    def last_seen(self) -> dict:
        if self._last_seen is None:
            self._last_seen = {}
        return self._last_seen

    @last_seen.setter
    def last_seen(self, value: dict) -> None:
        self._last_seen = value

    @property
    def last_props(self) -> dict:
        if self._last_props is None:
            self._last_props = {}
        return self._last_props

    @last_props.setter
    def last_props(self, value: dict) -> None:
        self._last_props = value

    @property
    def aggs(self) -> dict:
        if self._aggs is None:
            self._aggs = {}
        return self._aggs

    @aggs.setter
    def aggs(self, value: dict) -> None:
        self._aggs = value

    @property
    def segments(self) -> set:
        if self._segments is None:
            self._segments = set()
        return self._segments

    @segments.setter
    def segments(self, value: set) -> None:
        self._segments = value

    @property
    def dates(self) -> dict:
        if self._dates is None:
            self._dates = {}
        return self._dates

    @dates.setter
    def dates(self, value: dict) -> None:
        self._dates = value

    @property
    def parked(self) -> dict:
        if self._parked is None:
            self._parked = {}
        return self._parked

    @parked.setter
    def parked(self, value: dict) -> None:
        self._parked = value

    def _peek(self, name):
        """A field's value without creating it."""
        return _SLOT_GET[name](self)

    def next_due(self) -> int | None:
        dues = [i.due for i in self.instances if i.due is not None]
        if self._dates:
            dues += [due for due, _ in self._dates.values() if due is not None]
        return min(dues) if dues else None

    def is_empty(self) -> bool:
        return not (self.profile or self.instances or self.entries or self.seen or self._sends
                    or self._last_seen or self._last_props or self._aggs or self._segments or self._dates
                    or self._parked)

    def park(self, inst: Instance, due: int, error: str) -> None:
        """Keep an instance's timer aside (its due time goes, so nothing fires it), with why."""
        inst.due = None
        self.parked.setdefault(inst.journey, {})[inst.iid] = [due, inst.state, error]

    def parked_timers(self) -> list[ParkedTimer]:
        """The parked timers whose instance still waits there (an event may have moved it on or ended it
        since)."""
        parked = self._parked
        if not parked:
            return []
        out = []
        for inst in self.instances:
            entry = parked.get(inst.journey, {}).get(inst.iid)
            if entry is not None and inst.due is None and inst.state == entry[1]:
                out.append(ParkedTimer(inst.journey, inst.iid, *entry))
        return out

    def unpark(self) -> int:
        """Give every parked timer its due time back (`journeyctl run --retry-parked`, after a fix); how many."""
        live = {(p.journey, p.instance_id): p.due for p in self.parked_timers()}
        for inst in self.instances:
            due = live.get((inst.journey, inst.iid))
            if due is not None:
                inst.due = due
        self._parked = None
        return len(live)

    def encode(self) -> bytes:
        """Short keys and only non-empty fields: most customers have most fields empty."""
        data = {}
        for short, get in _ENCODED:
            value = get(self)
            if value:
                data[short] = value
        if "i" in data:
            data["i"] = [inst.fields() for inst in data["i"]]
        if "g" in data:
            data["g"] = sorted(data["g"])
        try:
            return orjson.dumps(data)
        except TypeError:
            # An integer beyond 64 bits (say a `set` that keeps multiplying) would make every later
            # commit of this customer fail; the stdlib keeps it exact, marked so decode knows.
            return b"J" + json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()

    @staticmethod
    def decode(blob: bytes) -> "Customer":
        data = json.loads(blob[1:]) if blob[:1] == b"J" else orjson.loads(blob)
        c = Customer()
        for short, name in _FIELDS:
            if short in data:
                setattr(c, name, set(data[short]) if name == "segments" else data[short])
        if "i" in data:
            c.instances = [Instance(*fields) for fields in data["i"]]
        if type(c.seen) is list:  # ids without their time, written before schema 5
            c.seen = dict.fromkeys(c.seen, UNKNOWN_TIME)
        if "a" in data:
            _windows_as_tuples(c.aggs)
        return c


def _windows_as_tuples(aggs: dict) -> None:
    """Windows are held as flat tuples (see engine/core/aggregates.py) and come back from JSON as lists.
    State written before windows went flat kept each as [[t, v], ...]; read it as (t, v, ...).
    (No other aggregate state holds a list of lists; an avg's [total, n] works as a tuple too.)"""
    for key, state in aggs.items():
        if type(state) is list:
            aggs[key] = tuple(x for entry in state for x in entry) if state and type(state[0]) is list \
                else tuple(state)


_FIELDS = (("p", "profile"), ("i", "instances"), ("e", "entries"), ("s", "sends"), ("m", "seen"),
           ("l", "last_seen"), ("lp", "last_props"), ("a", "aggs"), ("g", "segments"), ("dt", "dates"),
           ("k", "parked"))
_LAZY = ("sends", "last_seen", "last_props", "aggs", "segments", "dates", "parked")
_SLOT_GET = {name: getattr(Customer, "_" + name if name in _LAZY else name).__get__ for _, name in _FIELDS}
_ENCODED = tuple((short, _SLOT_GET[name]) for short, name in _FIELDS)
