"""A replay: a stream of parsed input through the engine, bad lines set aside, time run out to the end.

Shared by `simulate` and `journeyctl test`, so a journey test sees exactly what a
replay of real history would.
"""
from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import Callable, Iterable

from journeyctl.engine.core.actions import CUSTOMER, DUE
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import BadEvent, Event


def tune_gc() -> None:
    """Customer states are many small, long-lived objects: the collector's full passes over them cost
    more than the engine itself on a large replay. Freeze what exists and collect young objects rarely."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1_000)


@dataclass
class DeadLetter:
    line: int
    reason: str
    detail: str
    raw: bytes

    def to_dict(self) -> dict:
        return {"line": self.line, "reason": self.reason, "detail": self.detail,
                "raw": self.raw.decode("utf-8", "replace").rstrip("\n")}


@dataclass
class Replay:
    actions: list = field(default_factory=list)
    dead_letters: list = field(default_factory=list)
    last_time: int | None = None
    events: int = 0
    after_until: int = 0


def replay(engine: Engine, items: Iterable[tuple[int, bytes, Event | BadEvent]], until: int | None = None,
           on_dead_letter: Callable[[DeadLetter], None] | None = None,
           on_progress: Callable[[int], None] | None = None) -> Replay:
    """Feed every good event to the engine in arrival order; at the end fire every timer due by `until`
    (default: the last event's time); events stamped after `until` are left out. A bad or late line never
    stops the run."""
    tune_gc()
    result = Replay()
    for line, raw, item in items:
        if isinstance(item, Event) and until is not None and item.time > until:
            result.after_until += 1
            continue
        dead = apply(engine, result, line, raw, item)
        if dead is not None and on_dead_letter:
            on_dead_letter(dead)
        if on_progress and line % 4096 == 0:
            on_progress(line)
    end = until if until is not None else result.last_time
    if end is not None:
        result.actions.extend(engine.advance_to(end))
    result.actions = as_dicts(result.actions)
    return result


def apply(engine: Engine, result: Replay, line: int, raw: bytes, item: Event | BadEvent) -> DeadLetter | None:
    """One item of a replay: a good event goes to the engine and its actions to `result`; a bad one, or
    one the engine refuses (late, or an error of ours), becomes the dead letter returned (and kept)."""
    if isinstance(item, Event):
        try:
            result.actions.extend(engine.process(item))
            result.events += 1
            if result.last_time is None or item.time > result.last_time:
                result.last_time = item.time
            return None
        except BadEvent as e:
            item = e
        except Exception as e:  # a bug of ours must cost one event, never the replay: say so loudly
            item = BadEvent("engine_error", f"{type(e).__name__}: {e} (please report this)")
    if item.reason != "late":
        engine.stats.dead_letter(item.reason)
    dead = DeadLetter(line, item.reason, item.detail, raw)
    result.dead_letters.append(dead)
    return dead


def as_dicts(actions: list) -> list[dict]:
    """The spec form of actions, in output order (time, then customer)."""
    actions.sort(key=lambda a: (a[DUE], a[CUSTOMER]))
    return [a.as_dict() for a in actions]
