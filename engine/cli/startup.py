"""What the commands that run journeys do before they run: load the project, open the state store.

The project is loaded in dsl/project/load.py, the one loader every command uses,
and the store opened by engine/store/open.py; this module is their terminal side:
what a broken journey, config or state location looks like, so `simulate`, `test`,
`run`, `demo` and `deliver` refuse bad input the same way (UsageProblem, exit 2).
"""
from __future__ import annotations

from rich.console import Console

from journeyctl.dsl.project import load_project
from journeyctl.dsl.project.config import ConfigError
from journeyctl.dsl.report import render, should_color


class UsageProblem(Exception):
    """Input the command cannot start with; the message has already been said in plain words."""


def project_to_run(paths, config_path, err: Console, catalog_path=None):
    """(config, journey IRs, segment IRs) of a project without errors, or UsageProblem after printing
    every diagnostic."""
    try:
        project = load_project(list(paths), config_path, catalog_path)
    except ConfigError as e:
        raise UsageProblem(str(e)) from None
    if not project.config.ok:
        show_diagnostics(project.errors, project.sources, err)
        raise UsageProblem("the project config has errors")
    if not project.ok:
        show_diagnostics(project.errors, project.sources, err)
        raise UsageProblem("the journeys have errors; fix them first (journeyctl validate shows the same)")
    if not project.journeys and not project.segments:
        raise UsageProblem("no journeys found in " + ", ".join(map(str, paths)))
    return project.config, project.journeys, project.segments


def open_state(url: str):
    """The store at `url` (a MemoryStore for memory:), or UsageProblem with the store's own words: a
    location that cannot be read as one, a store that cannot be opened (said once, password left out)."""
    if url in ("memory:", "", None):
        from journeyctl.engine.store.memory import MemoryStore
        return MemoryStore()
    from journeyctl.engine.store.open import StoreError, open_store
    try:
        return open_store(url)
    except (ValueError, StoreError) as e:
        raise UsageProblem(str(e)) from None


def show_diagnostics(diagnostics, sources: dict, err: Console) -> None:
    """Diagnostics as `validate` prints them, with the source lines the loader kept (never read again here:
    the path could be anything by now)."""
    err.file.write(render(diagnostics, "text", sources, color=should_color(err.file)) + "\n")
