"""Delivery receipts and dead letters: what `deliver` publishes about each send it settled.

A receipt is an event in the spec's shape (section 9), so the very same record can go to
`journey.deliveries` and, with --receipts-to-events, to the events topic, where a journey can
react: `on message_failed where channel == "whatsapp" -> send sms "..."`.

No endless loops. A receipt's message id is `receipt:<depth>:<action_id>:<event>`. An action
started by a receipt carries that id (or one starting with it: `emit` builds its ids on the
instance's) as `trigger_message_id`, so its own receipt is one level deeper. Receipts deeper
than MAX_DEPTH still go to `journey.deliveries`, never to the events topic: a journey that
answers a failure with a send that fails again stops after MAX_DEPTH rounds, and each round
also needs a new action from the engine, whose dedup window drops a repeated message id.
"""
from __future__ import annotations

import re
import time

import orjson

from journeyctl.engine.core.events import format_instant
from journeyctl.engine.core.store import OutboxRow

MAX_DEPTH = 3
SENT, FAILED = "message_sent", "message_failed"
_DEPTH = re.compile(r"^receipt:(\d+):")


def depth_of(action: dict) -> int:
    """1 for an action no receipt started; one more than the receipt's depth otherwise."""
    m = _DEPTH.match(str(action.get("trigger_message_id") or ""))
    return int(m.group(1)) + 1 if m else 1


def receipt(action: dict, event: str, answer: str, provider: str | None, attempts: int,
            now_ms: int | None = None) -> dict:
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    depth = depth_of(action)
    return {
        "event": event, "customer_id": action["customer_id"], "timestamp": format_instant(now_ms),
        "message_id": f"receipt:{depth}:{action['action_id']}:{event}",
        "properties": {"action_id": action["action_id"], "journey": action.get("journey"),
                       "channel": action.get("channel"), "template": action.get("template"),
                       "provider": provider, "answer": answer, "attempts": attempts, "depth": depth},
    }


def dead_letter(action: dict, reason: str, answer: str, attempts: int) -> dict:
    return {"reason": reason, "detail": answer, "attempts": attempts, "action_id": action.get("action_id"),
            "action": action}


def rows(action: dict, outcome, provider: str | None, attempts: int, topics, to_events: bool,
         now_ms: int | None = None) -> tuple[list[OutboxRow], bool]:
    """(receipt rows for one settled send, whether its receipt was kept off the
    events topic because of depth). outcome.kind is sent or failed; a failure is also dead-lettered."""
    event = SENT if outcome.kind == "sent" else FAILED
    rec = receipt(action, event, outcome.answer, provider, attempts, now_ms)
    key = str(action["customer_id"]).encode()
    value = orjson.dumps(rec)
    aid = action["action_id"]
    out = [OutboxRow(f"{aid}:r", topics.deliveries, key, value)]
    stopped = False
    if to_events:
        if rec["properties"]["depth"] <= MAX_DEPTH:
            out.append(OutboxRow(f"{aid}:e", topics.events, key, value))
        else:
            stopped = True
    if event == FAILED:
        out.append(OutboxRow(f"{aid}:d", topics.dead_letter, key,
                    orjson.dumps(dead_letter(action, "delivery_failed", outcome.answer, attempts))))
    return out, stopped
