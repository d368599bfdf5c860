"""Replaying one journey test case through the engine, as `journeyctl simulate` would.

Each case replays its events for one customer through every journey and segment
of the test's folder (so `emit` chains and segments work as in production), with
the same `Engine` and `replay` that simulate uses; what the engine did is then
compared with what the case expects by matcher.py.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from journeyctl.dsl.project.config import ProjectConfig
from journeyctl.dsl.diagnostics import did_you_mean
from journeyctl.dsl.durations import parse_duration

from journeyctl.engine.obs import explain
from journeyctl.engine.core.engine import Engine

from journeyctl.engine.store.memory import MemoryStore
from journeyctl.engine.core.events import Event, parse_instant
from journeyctl.engine.replay.loop import replay
from journeyctl.engine.core.runtime import histories
from journeyctl.engine.testing.matcher import CaseResult, compare
from journeyctl.engine.testing.reader import Case

DEFAULT_HORIZON = parse_duration("30d")


@dataclass
class Setup:
    """What a test file runs with: the folder's journeys and segments, and the engine's settings."""

    journeys: list
    segments: list
    contacts: dict
    default_timezone: str | None
    lateness: int
    dedup_window: int | None = None  # the project's; None: the engine's default


def project_for(project: ProjectConfig, overrides: dict) -> ProjectConfig:
    """The project config with a test file's `config:` laid over it."""
    if not overrides:
        return project
    options = project.options
    contacts = dict(project.contacts)
    if "channels" in overrides:
        channels = overrides["channels"]
        extra = tuple(c for c in channels if c not in options.channels)
        options = replace(options, channels=options.channels + extra)
        for c, trait in channels.items():
            if trait:
                contacts[c] = str(trait).removeprefix("profile.")
            else:
                contacts.pop(c, None)
    if "default_timezone" in overrides:
        options = replace(options, default_timezone=overrides["default_timezone"])
    lateness = overrides.get("allowed_lateness", project.allowed_lateness)
    return replace(project, options=options, contacts=contacts, allowed_lateness=lateness)


def run_case(case: Case, setup: Setup, journey: str) -> CaseResult:
    """Replay the case's events through the folder's journeys and compare the actions of `journey`
    (and of any journey an expectation names) with what the case expects."""
    engine = Engine(setup.journeys, setup.segments, channels=setup.contacts,
                    default_timezone=setup.default_timezone, lateness=setup.lateness, dedup_window=setup.dedup_window,
                    trace_customer=case.customer, explain=explain, store=MemoryStore())
    start = case.start
    items = []
    if case.profile:
        items.append((case.line, b"", Event("identify", case.customer, start, {}, "profile", dict(case.profile))))
    for ev in case.events:
        traits = dict(ev.traits) if ev.traits is not None else None
        items.append((ev.line, b"", Event(ev.name, ev.customer, start + ev.at, dict(ev.properties), ev.message_id,
                                          traits)))
    horizon = max([ev.at for ev in case.events] + [e.fields["at"] for e in case.expect if "at" in e.fields] + [0])
    until = case.until if case.until is not None else horizon + DEFAULT_HORIZON
    result = replay(engine, items, start + until)

    compared = {journey} | {e.journey for e in case.expect + case.expect_absent if e.journey}
    actions = [a for a in result.actions if a["journey"] in compared]
    for a in actions:
        a["at"] = parse_instant(a["due_at"]) - start
    out = compare(case, journey, actions, result.dead_letters, engine.current, until)
    if not out.passed:
        used = _used_events(engine, setup)
        for name in sorted({ev.name for ev in case.events if ev.traits is None} - used):
            close = did_you_mean(name, used)
            out.notes.append(f"no journey or segment uses the event {name!r}"
                             + (f' (did you mean "{close}"?)' if close else ""))
    out.trace = [(t - start, j, text) for t, j, text in engine.trace if j in compared]
    return out


def _used_events(engine: Engine, setup: Setup) -> set:
    """Every event name a loaded journey or segment reacts to or reads, to spot a misspelt test event."""
    last_seen, last_props, aggregates = histories([*setup.journeys, *setup.segments])
    names = last_seen | set(last_props) | {a["event"] for a in aggregates.values()}
    for j in engine.current.values():
        names |= {j.trigger.event, *j.listens}
    return names

