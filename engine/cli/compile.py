"""`journeyctl compile`: one file's state-machine IR as JSON, after the same check as `validate`."""
from __future__ import annotations

import json
import sys

import click

from journeyctl.dsl import codes
from journeyctl.dsl.report import render, should_color
from journeyctl.engine.cli.validate import check


@click.command(name="compile")
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
