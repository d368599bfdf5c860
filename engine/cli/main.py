"""`journeyctl`: the command line.

Commands only wire things together: the logic lives in dsl/ and engine/, the
output formats in dsl/report.py. Each command does its work first, into plain
records, and renders last, so the same outcome can be shown in any format and
tested without a terminal.

Exit codes, for every command: 0 clean, 1 problems found, 2 usage or I/O error
(a path that does not exist, a folder with no journeys, a broken project config
or event catalog: the check itself could not be done as asked).

This module is the group only. Every command lives in a module of its own in
engine/cli/ and is imported only when run (see LAZY_COMMANDS at the bottom), so
`validate` in CI never pays for, or breaks on, the engine's imports.
"""
from __future__ import annotations

import importlib

import click


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


def program():
    """The `journeyctl` program (pyproject.toml's script): the group, in a process that ends when its
    command does, which lets a replay leave its state to the operating system (replay/leave.py)."""
    from journeyctl.engine.replay.leave import ends_with_command

    ends_with_command()
    main()


# ---- the commands ----------------------------------------------------------------------------
# Register a command here as  "name": "module:attribute". It is imported only when it is run (or
# when --help lists it), so a slow or broken import elsewhere cannot take `validate` down with it.
LAZY_COMMANDS: dict[str, str] = {
    "validate": "journeyctl.engine.cli.validate:validate",
    "compile": "journeyctl.engine.cli.compile:compile_",
    "simulate": "journeyctl.engine.cli.simulate:simulate",
    "demo": "journeyctl.engine.cli.demo:demo",
    "run": "journeyctl.engine.cli.run:run",
    "graph": "journeyctl.engine.cli.graph:graph",
    "fmt": "journeyctl.engine.cli.fmt:fmt",
    "status": "journeyctl.engine.cli.status:status",
    "inspect": "journeyctl.engine.cli.inspect:inspect",
    "segments": "journeyctl.engine.cli.segments:segments",
    "clock": "journeyctl.engine.cli.clock:clock",
    "test": "journeyctl.engine.cli.tests:test_command",
    "preview": "journeyctl.engine.cli.preview:preview",
    "deliver": "journeyctl.engine.cli.deliver:deliver",
    "ui": "journeyctl.engine.cli.ui:ui",
    "send": "journeyctl.engine.cli.send:send",
    "tail": "journeyctl.engine.cli.tail:tail",
}

