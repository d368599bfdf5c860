"""An action as the engine decides it, and its spec form (section 9).

The engine makes about one action for every two events. Hashing its id and
writing its time as text cost more than everything else the engine does for
that event, and a replay that only counts or a test that reads one field needs
neither; so the engine hands out a tuple of what it decided, and the edge that
writes it out (simulate's output, the outbox) asks for `as_dict()` once.
"""
from __future__ import annotations

import hashlib

from journeyctl.engine.core.events import format_instant

try:  # Cython's pure-Python mode (scripts/build_fast.py, actions.pxd)
    import cython  # type: ignore[import-untyped,import-not-found,unused-ignore]
except ImportError:  # no Cython installed: this is the pure build (a stand-in, so that `cython.compiled` reads
    from types import SimpleNamespace  # as Cython reads it: _tuple_of)
    cython = SimpleNamespace(compiled=False)  # type: ignore[assignment,unused-ignore]

# Positions in the tuple, in the order the engine writes them.
# (DUE_AT: the spec's due_at, the instant the action is for.)
JOURNEY, VERSION, CUSTOMER, INSTANCE, STEP, CHANNEL, TEMPLATE, VARIABLES, DUE_AT, STATUS, TRIGGER_MESSAGE, TO = range(12)

FIELDS = ("action_id", "journey", "journey_version", "customer_id", "channel", "template", "variables",
          "due_at", "status", "step", "trigger_message_id", "instance_id", "to")
# What an action carries outside the engine (spec section 9: the actions topic, simulate's jsonl, the
# JSON log): every field but the instance id, which only the engine and `inspect` use.
ACTION_KEYS = tuple(f for f in FIELDS if f != "instance_id")


def action_id(version: str, customer: str, instance: str, step: str) -> str:
    """Fixed by (journey version, customer, instance, step), so a replay or a redelivery gives the same id."""
    return hashlib.blake2b(f"{version}|{customer}|{instance}|{step}".encode(), digest_size=16).hexdigest()


class Action(tuple):
    """Read it as the spec's object: `a["channel"]`, `dict(a)`, `a.as_dict()`; `a == {...}` compares
    that object. Index it with a number only through the constants above."""

    __slots__ = ()

    def as_dict(self) -> dict:
        return self._spec(True)

    def record(self) -> dict:
        """The spec object as it leaves the engine (ACTION_KEYS, in order: no instance id), built as such:
        `simulate` writes one per action, and deleting the key from as_dict's object cost more than the rest."""
        return self._spec(False)

    def _spec(self, with_instance: bool) -> dict:
        journey, version, customer, instance, step, channel, template, variables, due, status, trigger, to = self
        spec = {
            "action_id": action_id(version, customer, instance, step),
            "journey": journey, "journey_version": version, "customer_id": customer,
            "channel": channel, "template": template, "variables": variables, "due_at": format_instant(due),
            "status": status, "step": step, "trigger_message_id": trigger,
        }
        if with_instance:
            spec["instance_id"] = instance
        spec["to"] = to
        return spec

    def __getitem__(self, key):
        if type(key) is str:
            return self.as_dict()[key]
        return tuple.__getitem__(self, key)

    def keys(self):
        return FIELDS

    def get(self, key, default=None):
        return self.as_dict().get(key, default)

    def __eq__(self, other):
        if isinstance(other, dict):
            return self.as_dict() == other
        return tuple.__eq__(self, other)

    def __ne__(self, other):
        return not self == other

    __hash__ = tuple.__hash__

    def __repr__(self) -> str:
        return f"Action({self.as_dict()!r})"


if not cython.compiled:  # (the compiled build leaves this out, and makes the tuple in C: actions.pxd)
    def _tuple_of(kind: type[Action], fields: tuple) -> Action:
        """A tuple of `kind` (a subclass of tuple) holding `fields`. In the compiled build, in C as
        tuple.__new__ makes it, where calling tuple.__new__ cost 1,100 instructions an action (callgrind)."""
        return tuple.__new__(kind, fields)


def new_action(fields: tuple) -> Action:
    return _tuple_of(Action, fields)
