"""A replay: a stream of parsed input through the engine, bad lines set aside, time run out to the end.

Shared by `simulate` and `journeyctl test`, so a journey test sees exactly what a
replay of real history would.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import BadEvent, Event
from journeyctl.engine.replay.output import output_order


def tune_gc() -> None:
    """Customer states are many small, long-lived objects: the collector's full passes over them cost
    more than the engine itself on a large replay. Freeze what exists and collect young objects rarely.
    (`run`: a process that lives for months collects, however rarely; a replay need not, see below.)"""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1_000)


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cycle collection during a replay. The engine makes no reference cycles (every customer's state
    is a tree of plain values: tests/test_engine_properties.py collects after replays of generated
    histories and finds nothing), so the collector can find nothing to free, yet each of its passes walks
    the customers' state grown since the last one: 10-17% of the compiled core at 1M events, with
    tune_gc's rare passes. Reference counting still frees everything as before. What the replay leaves
    is frozen on the way out, so the caller's collector does not walk it either (it is freed all the
    same when dropped)."""
    enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


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
    names: set = field(default_factory=set)  # the event names the input held (engine/replay/hints.py)


def replay(engine: Engine, items: Iterable[tuple[int, bytes, Event | BadEvent]], until: int | None = None,
           on_dead_letter: Callable[[DeadLetter], None] | None = None,
           on_progress: Callable[[int], None] | None = None, *, spec_form: bool = True) -> Replay:
    """Feed every good event to the engine in arrival order; at the end fire every timer due by `until`
    (default: the last event's time); events stamped after `until` are left out. A bad or late line never
    stops the run. `spec_form=False` leaves the actions as the engine's tuples (in output order), for a
    caller that writes them itself (simulate's JSON lines)."""
    with collector_paused():
        return _replay(engine, items, until, on_dead_letter, on_progress, spec_form)


def _replay(engine: Engine, items: Iterable, until: int | None, on_dead_letter: Callable | None,
            on_progress: Callable | None, spec_form: bool) -> Replay:
    if on_progress:
        items = counted(items, on_progress)
    result = Replay()
    process = engine.process
    actions = result.actions
    names = result.names
    events = 0
    last = None
    for line, raw, item in items:
        if type(item) is Event:  # apply(), written out for the million good events of a replay
            if until is not None and item.time > until:
                result.after_until += 1
                continue
            names.add(item.name)
            try:
                actions.extend(process(item))
                events += 1
                if last is None or item.time > last:
                    last = item.time
                continue
            except Exception as e:  # noqa: BLE001 - late, or a bug of ours: set aside below
                item = refused(e)
        dead = set_aside(engine, result, line, raw, item)
        if on_dead_letter:
            on_dead_letter(dead)
    result.events, result.last_time = events, last
    end = until if until is not None else last
    if end is not None:
        actions.extend(engine.advance_to(end))
    result.actions = as_dicts(actions) if spec_form else output_order(actions)
    return result


def counted(items: Iterable, on_progress: Callable[[int], None]) -> Iterable:
    """The items, telling `on_progress` the line reached every 4,096 lines and at the end."""
    line = 0
    for item in items:
        line = item[0]
        if line % 4096 == 0:
            on_progress(line)
        yield item
    on_progress(line)


def apply(engine: Engine, result: Replay, line: int, raw: bytes, item: Event | BadEvent) -> DeadLetter | None:
    """One item of a replay: a good event goes to the engine and its actions to `result`; a bad one, or
    one the engine refuses (late, or an error of ours), becomes the dead letter returned (and kept)."""
    if isinstance(item, Event):
        result.names.add(item.name)
        try:
            result.actions.extend(engine.process(item))
            result.events += 1
            if result.last_time is None or item.time > result.last_time:
                result.last_time = item.time
            return None
        except Exception as e:  # noqa: BLE001
            item = refused(e)
    return set_aside(engine, result, line, raw, item)


def refused(e: Exception) -> BadEvent:
    """What an event the engine did not apply becomes: its own BadEvent (late), or `engine_error` for a bug
    of ours, which must cost that one event, never the replay: said loudly. Without its traceback: kept
    in the replay's frame, the traceback's frames would hold that frame, a cycle that keeps the whole
    engine alive until a collection (which a replay does not run: collector_paused)."""
    if isinstance(e, BadEvent):
        return e.with_traceback(None)
    return BadEvent("engine_error", f"{type(e).__name__}: {e} (please report this)")


def set_aside(engine: Engine, result: Replay, line: int, raw: bytes, bad: BadEvent) -> DeadLetter:
    if bad.reason != "late":  # (the engine counted that one)
        engine.stats.dead_letter(bad.reason, engine.clock)
    dead = DeadLetter(line, bad.reason, bad.detail, raw)
    result.dead_letters.append(dead)
    return dead


def as_dicts(actions: list) -> list[dict]:
    """The spec form of actions, in output order (time, then customer)."""
    return [a.as_dict() for a in output_order(actions)]
