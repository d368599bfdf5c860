"""`journeyctl`: the command line.

Commands only wire things together: the logic lives in dsl/ and engine/, the
output formats in dsl/report.py. Each command does its work first, into plain
records, and renders last, so the same outcome can be shown in any format and
tested without a terminal.

Exit codes, for every command: 0 clean, 1 problems found, 2 usage or I/O error
(a path that does not exist, a folder with no journeys, a broken project config
or event catalog: the check itself could not be done as asked).

Commands other than the language's own live in their own modules and are
imported only when run (see LAZY_COMMANDS at the bottom), so `validate` in CI
never pays for, or breaks on, the engine's imports.
"""
from __future__ import annotations

import importlib
import json
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


class _Lazy(click.Group):
    """Commands from LAZY_COMMANDS (bottom of this file), imported on first use."""

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx, name):
        if name in LAZY_COMMANDS and name not in self.commands:
            module, attr = LAZY_COMMANDS[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)


def _version(ctx, param, value):
    """`journeyctl, version X (pure Python)` or `(compiled (Cython))`: which build runs (engine/obs/build.py)."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    from journeyctl.engine.obs.build import build_name
    click.echo(f"journeyctl, version {version('journeyctl')} ({build_name()})")
    ctx.exit()


@click.group(cls=_Lazy, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_version,
              help="Show the version and which build runs (pure Python or compiled), and exit.")
def main():
    """Customer journeys as code: check, compile and run `.journey` files."""
    from journeyctl.engine.obs.build import stale_modules

    stale = stale_modules()
    if stale:  # (a compiled build only) a change to these would silently not run
        click.echo(f"journeyctl: compiled modules older than their source, which would not run: {', '.join(stale)} "
                   "(run `make fast` again, or `make pure`)", err=True)


@main.command()
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


@main.command(name="compile")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Project config (default: ./journeyctl.yaml, if present).")
@click.option("--catalog", "catalog_path", type=click.Path(dir_okay=False), help="Event catalog YAML.")
def compile_(path, config_path, catalog_path):
    """Print one file's state-machine IR as JSON.

    Problems go to stderr, so stdout is always either IR or nothing."""
    outcome = check([path], config_path=config_path, catalog_path=catalog_path)
    if outcome.diagnostics:
        click.echo(render(outcome.diagnostics, "text", outcome.sources, color=should_color(sys.stderr),
                          files_checked=outcome.files_checked, rules=codes.titles()), err=True)
    for ir in outcome.irs if outcome.exit == 0 else []:
        click.echo(json.dumps(ir.to_dict(), indent=2, ensure_ascii=False))
    sys.exit(outcome.exit)


# ---- more commands ----------------------------------------------------------------------------
# Register a command here as  "name": "module:attribute". It is imported only when it is run (or
# when --help lists it), so a slow or broken import elsewhere cannot take `validate` down with it.
LAZY_COMMANDS: dict[str, str] = {
    "simulate": "journeyctl.engine.cli.simulate:simulate",
    "demo": "journeyctl.engine.cli.demo:demo",
    "run": "journeyctl.engine.cli.run:run",
    "graph": "journeyctl.engine.cli.graph:graph",
    "fmt": "journeyctl.engine.cli.fmt:fmt",
    "status": "journeyctl.engine.cli.state:status",
    "inspect": "journeyctl.engine.cli.state:inspect",
    "segments": "journeyctl.engine.cli.state:segments",
    "clock": "journeyctl.engine.cli.clock:clock",
    "test": "journeyctl.engine.cli.tests:test_command",
    "preview": "journeyctl.engine.cli.preview:preview",
    "deliver": "journeyctl.engine.cli.deliver:deliver",
    "ui": "journeyctl.engine.cli.ui:ui",
    "send": "journeyctl.engine.cli.send:send",
    "tail": "journeyctl.engine.cli.tail:tail",
}

