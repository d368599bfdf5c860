"""`journeyctl validate`: check journeys against the language and the project, and the check
every command that reads a project's journeys without running them shares (`check`, also
`compile`'s).

Exit codes, for every command: 0 clean, 1 problems found, 2 usage or I/O error
(a path that does not exist, a folder with no journeys, a broken project config
or event catalog: the check itself could not be done as asked). Only dsl/ is imported
at the top, so `validate` in CI never pays for, or breaks on, the engine's imports.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace

import click

from journeyctl.dsl import codes
from journeyctl.dsl.diagnostics import ERROR, WARNING, Diagnostic
from journeyctl.dsl.project import USAGE_CODES, load_project
from journeyctl.dsl.project.config import ConfigError
from journeyctl.dsl.report import FORMATS, exit_code, render, should_color


@dataclass
class Outcome:
    """What a check found, before anyone decides how to show it."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    files_checked: int = 0
    exit: int = 0
    irs: list = field(default_factory=list)


def _exit_for(diagnostics: list[Diagnostic], strict: bool) -> int:
    if any(d.code in USAGE_CODES and d.severity == ERROR for d in diagnostics):
        return 2
    return exit_code(diagnostics, strict)


def check(paths, *, strict: bool = False, config_path=None, catalog_path=None) -> Outcome:
    """Validate `paths` under the project config (dsl/project: a broken config stops the check there), or a
    usage error when a config or catalog named on the command line is missing."""
    try:
        project = load_project(paths, config_path, catalog_path)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    diags, sources = project.diagnostics, project.sources
    if project.config.ok:
        template_diags, template_sources = _check_templates(project.config, project.compiled)
        diags, sources = diags + template_diags, {**sources, **template_sources}
    if strict:  # --strict: a warning fails the run, so it is shown as what it now is
        diags = [replace(d, severity=ERROR) if d.severity == WARNING else d for d in diags]
    return Outcome(diags, sources, project.files_checked, _exit_for(diags, strict), project.irs)


def _check_templates(config, compiled) -> tuple[list, dict]:
    """Message templates and delivery settings, checked from the compiled journeys' sends
    (engine/deliver/template_check.py; python-liquid is imported only when a project has templates)."""
    from journeyctl.engine.deliver.template_check import check_project

    return check_project(config, compiled)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text for people; json, github (PR annotations) or sarif (code scanning) for tools.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--catalog", "catalog_path", type=click.Path(dir_okay=False),
              help="Event catalog YAML (default: the one named in journeyctl.yaml).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Project config (default: ./journeyctl.yaml, if present).")
@click.option("--verbose", "-v", is_flag=True, help="List every note (the text format sums up J129 in one line).")
def validate(paths, fmt, strict, catalog_path, config_path, verbose):
    """Check journeys: files, or folders searched for *.journey.

    Exit 0: clean; 1: problems found; 2: usage or I/O error."""
    outcome = check(paths, strict=strict, config_path=config_path, catalog_path=catalog_path)
    shown = outcome.diagnostics
    if fmt == "text" and not verbose:
        shown, lines = codes.summarise(shown)
        for line in lines:
            click.echo(f"note: {line}")
    click.echo(render(shown, fmt, outcome.sources, color=fmt == "text" and should_color(sys.stdout),
                      files_checked=outcome.files_checked, rules=codes.titles()))
    sys.exit(outcome.exit)
