"""`journeyctl graph`: a picture of one journey's states and transitions (dsl/graph.py).

mermaid, dot and text are made here; svg and png are drawn by Graphviz's `dot`
program, which is not a Python package: when it is missing the command says how
to install it and exits 2, like any other thing it cannot do as asked.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import click

from journeyctl.dsl import codes
from journeyctl.dsl.graph import FORMATS, render
from journeyctl.dsl.project import load_project
from journeyctl.dsl.project.config import ConfigError
from journeyctl.dsl.report import render as render_diagnostics, should_color

IMAGES = ("svg", "png")
SUFFIXES = {".mmd": "mermaid", ".mermaid": "mermaid", ".dot": "dot", ".gv": "dot", ".txt": "text", ".svg": "svg",
            ".png": "png"}
INSTALL_HINT = ("Graphviz's `dot` program is needed for svg and png, and it is not on PATH.\n"
                "Install it: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS),\n"
                "or see https://graphviz.org/download/. Meanwhile `--format mermaid` and `--format dot` need nothing.")
PNG_DPI = 144


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice([*FORMATS, *IMAGES]),
              help="text (an outline; the default), mermaid (for Markdown), dot (Graphviz), or svg/png (drawn by "
                   "Graphviz). Default: from the -o suffix, else text.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of to stdout.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Project config (default: ./journeyctl.yaml, if present).")
def graph(path, fmt, output, config_path):
    """Draw a journey's states and transitions: trigger, waits, cancel paths, branches, splits, sends, ends.

    Exit 0: drawn; 1: the journey has errors; 2: usage or I/O error (or Graphviz missing for svg/png)."""
    if fmt is None:
        fmt = SUFFIXES.get(Path(output).suffix.lower(), "text") if output else "text"
    try:
        project = load_project([path], config_path)
    except ConfigError as e:
        raise click.UsageError(str(e)) from None
    if not project.ok:
        click.echo(render_diagnostics(project.errors, "text", project.sources, color=should_color(sys.stderr),
                                      files_checked=project.files_checked, rules=codes.titles()), err=True)
        sys.exit(2 if project.cannot_check else 1)
    if not project.irs:
        _fail(f"cannot read a journey from {path}")
    ir = project.irs[0]
    if ir.kind != "journey":
        _fail(f"{path} defines segment {ir.id}: it has no flow to draw (graph draws journeys)")
    if fmt in IMAGES:
        data = _draw(render(ir, "dot"), fmt)
    else:
        data = (render(ir, fmt) + "\n").encode("utf-8")
    if output:
        try:
            Path(output).write_bytes(data)
        except OSError as e:
            _fail(f"cannot write {output}: {(e.strerror or str(e)).lower()}")
        click.echo(f"wrote {output}", err=True)
    elif fmt == "png" and sys.stdout.isatty():
        _fail("a png is not for a terminal: write it to a file with -o journey.png")
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def _draw(dot_source: str, fmt: str) -> bytes:
    """Run Graphviz; its own error message is passed on when it fails."""
    program = shutil.which("dot")
    if program is None:
        _fail(INSTALL_HINT)
    args = [program, f"-T{fmt}"] + ([f"-Gdpi={PNG_DPI}"] if fmt == "png" else [])
    try:
        done = subprocess.run(args, input=dot_source.encode("utf-8"), capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        _fail(f"Graphviz could not draw the picture: {e}")
    if done.returncode != 0:
        _fail("Graphviz could not draw the picture: " + done.stderr.decode("utf-8", "replace").strip())
    return done.stdout
