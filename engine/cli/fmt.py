"""`journeyctl fmt`: rewrite journeys in the one canonical layout (dsl/formatter.py).

`--check` is for CI and pre-commit: nothing is written, the files that would
change are listed and the run exits 1. A file with errors is never rewritten: its
diagnostics go to stderr and the run exits 1, as `validate` would.
"""
from __future__ import annotations

import os
import shutil
import sys

import click

from journeyctl.dsl import codes
from journeyctl.dsl.formatter import format_text
from journeyctl.dsl.project import load_project
from journeyctl.dsl.project.config import ConfigError
from journeyctl.dsl.report import render, should_color


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--check", is_flag=True, help="Write nothing; list the files that would change and exit 1 if any.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Project config (default: ./journeyctl.yaml, if present).")
def fmt(paths, check, config_path):
    """Format journeys: files, or folders searched for *.journey.

    Exit 0: all formatted (or rewritten); 1: files would change (--check) or have
    errors; 2: usage or I/O error."""
    try:
        project = load_project(paths, config_path)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    problems = project.errors
    broken = {d.path for d in problems}
    changed = []
    for c in project.compiled:
        if c.path in broken or c.source is None:
            continue
        formatted = format_text(c.source)
        if formatted == c.source:
            continue
        changed.append(c.path)
        if not check:
            _write(c.path, formatted)
    for path in changed:
        click.echo(f"would reformat {path}" if check else f"reformatted {path}")
    if problems:
        click.echo(render(problems, "text", project.sources, color=should_color(sys.stderr),
                          files_checked=project.files_checked, rules=codes.titles()), err=True)
    unchanged = len(project.compiled) - len(changed) - len({c.path for c in project.compiled} & broken)
    what = "would be reformatted" if check else "reformatted"
    click.echo(f"{len(changed)} file{'s' * (len(changed) != 1)} {what}, {unchanged} already formatted"
               + (f", {len(broken)} with errors" if broken else "") + ".", err=True)
    if project.cannot_check:
        sys.exit(2)
    sys.exit(1 if problems or (check and changed) else 0)


def _write(path: str, text: str) -> None:
    """Write beside, then rename: an interrupted run never leaves half a journey."""
    tmp = f"{path}.fmt-tmp"
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        click.echo(f"error: cannot write {path}: {(e.strerror or str(e)).lower()}", err=True)
        sys.exit(2)
