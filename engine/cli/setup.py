"""Shared start-up of the commands that run journeys: config, journey files, state store.

One place decides what a broken journey or config looks like on the terminal, so
`simulate`, `test` and `run` refuse bad input the same way.
"""
from __future__ import annotations

from rich.console import Console

from journeyctl.dsl.config import ConfigError, load_config
from journeyctl.dsl.diagnostics import ERROR, JourneyError
from journeyctl.dsl.loader import load_journeys
from journeyctl.dsl.report import render, should_color


class UsageProblem(Exception):
    """Input the command cannot start with; the message has already been said in plain words."""


def load_project(paths, config_path, err: Console):
    """(config, journey IRs, segment IRs), or UsageProblem after printing every diagnostic."""
    try:
        project = load_config(config_path)
    except ConfigError as e:
        raise UsageProblem(str(e)) from None
    problems = [d for d in project.diagnostics if d.severity == ERROR]
    if problems:
        _show(problems, err)
        raise UsageProblem("the project config has errors")
    try:
        irs = load_journeys(list(paths), project.options)
    except JourneyError as e:
        _show(e.diagnostics, err)
        raise UsageProblem("the journeys have errors; fix them first (journeyctl validate shows the same)") from None
    journeys = [ir for ir in irs if ir.kind == "journey"]
    segments = [ir for ir in irs if ir.kind == "segment"]
    if not journeys and not segments:
        raise UsageProblem("no journeys found in " + ", ".join(map(str, paths)))
    return project, journeys, segments


def open_state(url: str):
    if url in ("memory:", "", None):
        from journeyctl.engine.store.memory import MemoryStore
        return MemoryStore()
    from journeyctl.engine.store.open import open_store
    try:
        return open_store(url)
    except ValueError as e:
        raise UsageProblem(str(e)) from None


def _show(diagnostics, err: Console) -> None:
    sources = {}
    for d in diagnostics:
        if d.path and d.path not in sources:
            try:
                with open(d.path, encoding="utf-8") as f:
                    sources[d.path] = f.read()
            except (OSError, UnicodeDecodeError):
                pass
    err.file.write(render(diagnostics, "text", sources, color=should_color(err.file)) + "\n")
