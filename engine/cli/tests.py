"""`journeyctl test [PATH...]`: run the journey tests (`NAME.test.yaml` beside `NAME.journey`).

The test format is described in engine/testing/reader.py and the README tutorial.
Exit codes as `validate`: 0 every case passed; 1 a case failed (or a journey it
needs does not compile); 2 usage or I/O error: a path that does not exist, a
folder without tests, a test file that is not valid YAML or does not follow the
format (each problem is printed with its line), a broken project config.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from journeyctl.dsl.diagnostics import did_you_mean
from journeyctl.dsl.project import load_project
from journeyctl.dsl.project.config import ConfigError

from journeyctl.engine.core.events import format_instant
from journeyctl.engine.testing.discover import discover
from journeyctl.engine.testing.matcher import CaseResult
from journeyctl.engine.testing.reader import Case, TestFile, TestFileError, format_relative, load_test_file
from journeyctl.engine.testing.runner import Setup, project_for, run_case
from journeyctl.engine.cli.startup import show_diagnostics

MARK_STYLE = {"✓": "green", "✗": "bold red", "!": "yellow", "·": "dim", "": ""}


class _Folders:
    """The journeys of each folder, compiled once per project config (test files may override it)."""

    def __init__(self, console: Console):
        self.console = console
        self.cache: dict = {}

    def load(self, folder: str, project) -> tuple[Setup | None, dict]:
        """(Setup, {journey file path: id}); Setup is None when a journey there has errors (shown once)."""
        key = (folder, repr(project.options), repr(sorted(project.contacts.items())), project.allowed_lateness)
        if key not in self.cache:
            loaded = load_project([folder], settings=project)
            ids = {str(Path(c.path)): c.ir.id for c in loaded.compiled if c.ir is not None and c.ir.kind == "journey"}
            setup = None
            if not loaded.ok:
                self.console.print(Text(f"The journeys in {folder} have errors; their tests cannot run "
                                        "(journeyctl validate shows the same):", style="bold red"))
                show_diagnostics(loaded.errors, loaded.sources, self.console)
            else:
                setup = Setup(loaded.journeys, loaded.segments, project.contacts, project.options.default_timezone,
                              project.allowed_lateness if project.allowed_lateness is not None else 5_000,
                              project.dedup_window)
            self.cache[key] = (setup, ids)
        return self.cache[key]


@click.command(name="test")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("-k", "keyword", help="Run only the cases whose name (or file path) contains this text.")
@click.option("-v", "--verbose", is_flag=True, help="Show the timeline of passing cases too.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Project config (default: ./journeyctl.yaml, if present).")
def test_command(paths, keyword, verbose, config_path):
    """Run journey tests: files, journeys (their NAME.test.yaml) or folders (default: journeys/).

    Exit 0: all passed; 1: a case failed; 2: usage or I/O error (a bad test file is shown with its line)."""
    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    try:
        settings = load_project([], config_path)  # the project's config alone; each folder's journeys below
    except ConfigError as e:
        console.print(Text(f"journeyctl test: {e}"))
        sys.exit(2)
    if not settings.ok:
        show_diagnostics(settings.errors, settings.sources, console)
        sys.exit(2)
    project = settings.config
    files, problems = discover(paths or ["journeys"])
    for p in problems:
        console.print(Text(f"journeyctl test: {p}", style="red"))
    broken = len(problems)
    passed = failed = 0
    folders = _Folders(console)
    for path in files:
        try:
            test = load_test_file(path)
        except TestFileError as e:
            _problems(console, e)
            broken += 1
            continue
        cases = [c for c in test.cases if not keyword or keyword in c.name or keyword in path]
        if not cases:
            continue
        console.print(Text(path, style="bold"))
        file_project = project_for(project, test.config)
        setup, ids = folders.load(str(Path(path).parent), file_project)
        if setup is None:
            for case in cases:
                console.print(Text(f"  ✗ {case.name}", style="bold red"))
            failed += len(cases)
            continue
        journey = _journey_under_test(console, test, setup, ids)
        if journey is None:
            broken += 1
            continue
        for case in cases:
            result = run_case(case, setup, journey)
            if result.passed:
                passed += 1
                console.print(Text.assemble("  ", ("✓", "green"), f" {case.name}"))
            else:
                failed += 1
                console.print(Text.assemble("  ", ("✗", "bold red"), (f" {case.name}", "bold"),
                                            f"  ({path}:{case.line})"))
            if verbose or not result.passed:
                _report(console, case, result, journey)
    summary = f"{passed} passed, {failed} failed"
    if broken:
        summary += f", {broken} could not run"
    style = "bold red" if failed or broken else "bold green"
    console.print(Text(summary, style=style))
    sys.exit(2 if broken else 1 if failed else 0)


def _journey_under_test(console: Console, test: TestFile, setup: Setup, ids: dict) -> str | None:
    known = {j.id for j in setup.journeys}
    if test.journey is not None:
        if test.journey in known:
            return test.journey
        close = did_you_mean(test.journey, known)
        console.print(Text(f"{test.path}:{test.journey_line}: error: no journey {test.journey!r} in "
                           f"{Path(test.path).parent}" + (f'; did you mean "{close}"?' if close else ""), style="red"))
        return None
    own = ids.get(str(test.journey_path))
    if own is None:
        console.print(Text(f"{test.path}:1: error: no journey {test.journey_path.name} beside this test; "
                           "add it, or name the journey under test with  journey: ID", style="red"))
    return own


def _problems(console: Console, error: TestFileError) -> None:
    """Each problem as `path:line:col: error: message`, the line itself, a caret and a hint."""
    lines = error.source.split("\n") if error.source is not None else []
    for p in error.problems:
        console.print(Text.assemble((f"{p.path}:{p.line}:{p.column}:", "bold"), (" error:", "bold red"),
                                    f" {p.message}"))
        if 0 < p.line <= len(lines):
            gutter = " " * len(str(p.line))
            console.print(Text(f"{p.line} | {lines[p.line - 1].rstrip()}"))
            console.print(Text(f"{gutter} | {' ' * (p.column - 1)}^", style="red"))
        if p.hint:
            console.print(Text.assemble(f"{' ' * len(str(p.line))} = ", ("help:", "cyan"), f" {p.hint}"))


def _report(console: Console, case: Case, result: CaseResult, journey: str) -> None:
    table = Table(title=f"{journey}: {case.name}", title_justify="left", show_lines=False, padding=(0, 1))
    table.add_column("time")
    table.add_column("UTC", style="dim")
    table.add_column("event in", style="cyan")
    table.add_column("expected")
    table.add_column("actual")
    table.add_column("", justify="center")
    for row in result.rows:
        when = format_relative(row.at) if row.at is not None else "never"
        utc = format_instant(case.start + row.at)[:16].replace("T", " ") if row.at is not None else ""
        table.add_row(Text(when), Text(utc), Text(row.event), Text(row.expected), Text(row.actual),
                      Text(row.mark, style=MARK_STYLE.get(row.mark, "")))
    console.print(table)
    for note in result.notes:
        console.print(Text(f"    {note}", style="red" if not result.passed else ""))
    if not result.passed and result.trace:
        console.print(Text(f"    What the engine decided for {case.customer}:", style="bold"))
        for at, journey_id, text in result.trace:
            console.print(Text(f"      {format_relative(at):>8}  {journey_id:<20}  {text}"))
