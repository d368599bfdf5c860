"""Per-customer state: everything the engine remembers about one customer, and its compact encoding.

One customer's state is one record, so a store reads and writes it in one go and
customers never share anything. Instances are small lists rather than objects:
a million waiting instances must fit in 2 KB each.
"""
from __future__ import annotations

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
        self.sends: dict = {}
        self.seen: list = []
        self.last_seen: dict = {}
        self.last_props: dict = {}
        self.aggs: dict = {}
        self.segments: set = set()

    def next_due(self) -> int | None:
        dues = [i[DUE] for i in self.instances if i[DUE] is not None]
        return min(dues) if dues else None

    def is_empty(self) -> bool:
        return not (self.profile or self.instances or self.entries or self.seen or self.aggs or self.segments
                    or self.last_seen)

    def encode(self) -> bytes:
        """Short keys and only non-empty fields: most customers have most fields empty."""
        data = {}
        for short, name in _FIELDS:
            value = getattr(self, name)
            if value:
                data[short] = sorted(value) if name == "segments" else value
        return orjson.dumps(data)

    @staticmethod
    def decode(blob: bytes) -> "Customer":
        data = orjson.loads(blob)
        c = Customer()
        for short, name in _FIELDS:
            if short in data:
                setattr(c, name, set(data[short]) if name == "segments" else data[short])
        return c


_FIELDS = (("p", "profile"), ("i", "instances"), ("e", "entries"), ("s", "sends"), ("m", "seen"),
           ("l", "last_seen"), ("lp", "last_props"), ("a", "aggs"), ("g", "segments"))
