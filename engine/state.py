"""Per-customer state: everything the engine remembers about one customer, and its compact encoding.

One customer's state is one record, so a store reads and writes it in one go and
customers never share anything. Instances are small lists rather than objects:
a million waiting instances must fit in 2 KB each.
"""
from __future__ import annotations

import json

import orjson

# An instance: [journey id, version, instance id, state id, due (ms or None), entered at, trigger props,
#               trigger message id, flags, key]
J, VER, IID, STATE, DUE, ENTERED, TRIG, TMSG, FLAGS, KEY = range(10)
HELD_OUT = 1      # flag: the customer is in the journey's holdout group
DEFERRED = 2      # flag: the current send waits for the end of quiet hours

DEDUP_WINDOW = 64  # message ids remembered per customer for dropping duplicates


class Customer:
    """profile: traits; instances: active journey instances; entries: journey id -> [last entry, count];
    sends: journey id -> [[time, channel], ...] within the longest cap window; seen: recent message ids;
    last_seen/last_props: the previous event of each name some journey asks about; aggs: aggregate states;
    segments: ids of the segments the customer is in."""

    __slots__ = ("profile", "instances", "entries", "sends", "seen", "last_seen", "last_props", "aggs", "segments")

    def __init__(self):
        self.profile: dict = {}
        self.instances: list = []
        self.entries: dict = {}
        self.seen: list = []
        # sends, last_seen, last_props, aggs and segments start unset: see __getattr__.

    def __getattr__(self, name):
        """Runs only for an unset slot. Most customers never use caps, last_seen(), last(), aggregates
        or segments, and five empty containers (a set is 216 bytes) were a quarter of a waiting
        instance's RAM; so each is made on first use, and a set slot is then read at full speed."""
        if name in _LAZY:
            value = set() if name == "segments" else {}
            setattr(self, name, value)
            return value
        raise AttributeError(f"'Customer' object has no attribute {name!r}")

    def _peek(self, name):
        """A field's value without creating it."""
        try:
            return _SLOT_GET[name](self)
        except AttributeError:
            return None

    def next_due(self) -> int | None:
        dues = [i[DUE] for i in self.instances if i[DUE] is not None]
        return min(dues) if dues else None

    def is_empty(self) -> bool:
        return not (self.profile or self.instances or self.entries or self.seen
                    or any(self._peek(name) for name in _LAZY))

    def encode(self) -> bytes:
        """Short keys and only non-empty fields: most customers have most fields empty."""
        data = {}
        for short, name in _FIELDS:
            value = self._peek(name)
            if value:
                data[short] = sorted(value) if name == "segments" else value
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
        return c


_FIELDS = (("p", "profile"), ("i", "instances"), ("e", "entries"), ("s", "sends"), ("m", "seen"),
           ("l", "last_seen"), ("lp", "last_props"), ("a", "aggs"), ("g", "segments"))
_LAZY = ("sends", "last_seen", "last_props", "aggs", "segments")
_SLOT_GET = {name: getattr(Customer, name).__get__ for name in Customer.__slots__}
