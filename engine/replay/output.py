"""A replay's results in the order and form they are written: actions as the spec's JSON lines (section 9,
ordered by due_at then customer_id) and profile records grouped by customer.

One place for both, because `simulate --jobs N` writes them from N processes' results and must
write exactly what one process writes.
"""
from __future__ import annotations

import orjson

from journeyctl.engine.core.actions import ACTION_KEYS, CUSTOMER, DUE_AT, Action

_at = tuple.__getitem__  # an Action's own fields, without its spec-object __getitem__ (a Python call)


def output_order(actions: list[Action]) -> list[Action]:
    """The spec's output order: due time, then customer (stable: one customer's actions at one instant
    stay in the order they were decided)."""
    actions.sort(key=lambda a: (_at(a, DUE_AT), _at(a, CUSTOMER)))
    return actions


def action_line(action: Action) -> bytes:
    """One action as `simulate --format jsonl` prints it, straight from the engine's tuple."""
    return orjson.dumps(action.record(), option=orjson.OPT_APPEND_NEWLINE)


def jsonl_line(action: dict) -> bytes:
    """The same line from an action's spec object (with `message` when --render added one)."""
    record = {k: action[k] for k in ACTION_KEYS}
    if "message" in action:
        record["message"] = action["message"]
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def by_customer(records: list[dict]) -> list[dict]:
    """Profile records grouped by customer (sorted by id), each customer's in the order they happened:
    what a consumer of the keyed profiles topic sees per key. One order for any number of processes:
    how one customer's changes interleave with another's depends on how the replay was split."""
    return sorted(records, key=_customer)


def _customer(record: dict) -> str:
    return record["customer_id"]
