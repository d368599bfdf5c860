"""Hostile project files (issue 15 items 12-13): YAML nested thousands deep, alias bombs, endless aliases,
and paths that are FIFOs. Every command that reads them answers with a diagnostic (code, position, plain
words) and exit 2, never a traceback, and never waits on a FIFO.

Only the command line is used, so the same file can be run against earlier code to see it fail.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from journeyctl.engine.cli import main as cli

JOURNEY = "on signup -> send email\n"
EVENTS = '{"event": "signup", "customer_id": "c1", "timestamp": "2026-01-05T09:00:00Z"}\n'
TEST = "cases:\n  - name: welcome\n    events:\n      - {at: +0, event: signup}\n    expect:\n      - {channel: email}\n"
JOURNEYCTL = [sys.executable, "-c", "from journeyctl.engine.cli.main import program; program()"]
DEADLINE = 120  # seconds: a command that reads a FIFO never ends; a working one ends in a second or two

# What each shape of hostile YAML is refused with, and where (line, column of the spot that crossed the limit).
DEEP = {
    "flow_lists": ("[" * 5000 + "]" * 5000, "nested more than 64 deep"),
    "flow_mappings": ("{a: " * 5000 + "1" + "}" * 5000, "nested more than 64 deep"),
    "block_lists": ("\n  " + "- " * 5000 + "x", "nested more than 64 deep"),
}
BOMB_LEVELS = "abcdefghi"  # 9 levels of 10 aliases each: 10^9 values once expanded


def bomb(indent: str) -> str:
    lines, previous = [], None
    for name in BOMB_LEVELS:
        item = '"lol"' if previous is None else f"*{previous}"
        lines.append(f"{indent}{name}: &{name} [" + ", ".join([item] * 10) + "]")
        previous = name
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True)
def project(tmp_path, monkeypatch):
    """A folder with one clean journey, its test, and events; each test adds the hostile file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "welcome.journey").write_text(JOURNEY)
    (tmp_path / "j" / "welcome.test.yaml").write_text(TEST)
    (tmp_path / "events.jsonl").write_text(EVENTS)
    return tmp_path


def run(*args):
    return CliRunner().invoke(cli.main, list(args))


def refused(result, code: str, words: str, where: str) -> None:
    """Exit 2 with `PATH:LINE:COLUMN: CODE error: ...words...` (`where` is PATH:LINE:), no traceback."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert re.search(re.escape(where) + rf"\d+: {code} error: .*{re.escape(words)}", result.output), \
        result.output[:3000]


# ---- nested thousands deep -----------------------------------------------------------------------

COMMANDS = {
    "validate": ["validate", "j"],
    "compile": ["compile", "j/welcome.journey"],
    "fmt": ["fmt", "--check", "j"],
    "graph": ["graph", "j/welcome.journey"],
    "simulate": ["simulate", "j", "--events", "events.jsonl"],
    "test": ["test", "j"],
    "run": ["run", "j", "--bootstrap-servers", "127.0.0.1:1"],
    "demo": ["demo", "--offline", "--journeys", "j", "--events", "events.jsonl"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("shape", DEEP)
def test_a_config_nested_thousands_deep_is_a_diagnostic_in_every_command(project, command, shape):
    text, words = DEEP[shape]
    (project / "journeyctl.yaml").write_text("run: " + text + "\n")
    refused(run(*COMMANDS[command]), "J009", words, "journeyctl.yaml:1:" if shape.startswith("flow") else
            "journeyctl.yaml:2:")


@pytest.mark.parametrize("shape", DEEP)
def test_a_catalog_nested_thousands_deep_is_a_diagnostic(project, shape):
    text, words = DEEP[shape]
    (project / "events.yaml").write_text("events:\n  signup: " + text + "\n")
    where = "events.yaml:2:" if shape.startswith("flow") else "events.yaml:3:"
    refused(run("validate", "j", "--catalog", "events.yaml"), "J010", words, where)
    (project / "journeyctl.yaml").write_text("catalog: events.yaml\n")  # the config's own catalog, in simulate
    refused(run("simulate", "j", "--events", "events.jsonl"), "J010", words, where)


@pytest.mark.parametrize("shape", DEEP)
def test_a_journey_test_nested_thousands_deep_names_its_line(project, shape):
    text, words = DEEP[shape]
    (project / "j" / "welcome.test.yaml").write_text(TEST + "profile: " + text + "\n")
    result = run("test", "j")
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    line = 7 if shape.startswith("flow") else 8
    assert re.search(rf"j/welcome.test.yaml:{line}:\d+: error: .*{words}", result.output), result.output[:3000]
    assert result.output.rstrip().endswith("0 passed, 0 failed, 1 could not run")


# ---- alias bombs and endless aliases --------------------------------------------------------------

def test_an_alias_bomb_in_the_config_is_refused_where_it_grows_too_big(project):
    (project / "journeyctl.yaml").write_text("run:\n" + bomb("  "))
    result = run("validate", "j")
    refused(result, "J009", "with its aliases expanded this file holds over 100,000 values", "journeyctl.yaml:6:")


def test_an_alias_bomb_in_the_catalog_is_refused(project):
    (project / "events.yaml").write_text("events:\n  signup:\n    x-lol:\n" + bomb("      "))
    refused(run("validate", "j", "--catalog", "events.yaml"), "J010", "with its aliases expanded",
            "events.yaml:8:")


def test_an_alias_bomb_in_a_journey_test_is_refused(project):
    (project / "j" / "welcome.test.yaml").write_text("profile:\n" + bomb("  ") + TEST)
    result = run("test", "j")
    assert result.exit_code == 2, result.output
    assert "j/welcome.test.yaml:6:" in result.output and "with its aliases expanded" in result.output


def test_an_alias_inside_its_own_anchor_is_refused(project):
    (project / "journeyctl.yaml").write_text("run:\n  loop: &loop [1, *loop]\n")
    refused(run("validate", "j"), "J009", "the alias *loop is inside its own anchor", "journeyctl.yaml:2:")


def test_aliases_and_merge_keys_that_stay_small_are_still_fine(project):
    (project / "journeyctl.yaml").write_text("channels:\n  sms: &trait phone\n  whatsapp: *trait\n"
                                             "run: {a: &a [1, 2], b: [*a, *a]}\n")
    result = run("validate", "j")
    assert (result.exit_code, result.output) == (0, "All checked: 1 file, no problems.\n")
    # a merge key overridden by the mapping's own key is not a key given twice
    (project / "journeyctl.yaml").write_text("run:\n  base: &base {a: 1, b: 2}\n  x:\n    <<: *base\n    a: 3\n")
    result = run("validate", "j")
    assert (result.exit_code, result.output) == (0, "All checked: 1 file, no problems.\n")


# ---- FIFOs: never opened, whatever reads the folder ------------------------------------------------

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")


def cli_in(folder: Path, *args) -> subprocess.CompletedProcess:
    """The command in its own process, with a deadline: on a FIFO a reader would wait forever."""
    return subprocess.run([*JOURNEYCTL, *args], cwd=folder, capture_output=True, text=True, timeout=DEADLINE)


@needs_fifo
def test_a_fifo_beside_the_journey_validated_is_skipped(project):
    os.mkfifo(project / "j" / "other.journey")
    done = cli_in(project, "validate", "j/welcome.journey")
    assert (done.returncode, done.stdout) == (0, "All checked: 1 file, no problems.\n"), done.stderr


# (the FIFO, the command, what it says); each exits 2
FIFO_CASES = {
    "journey_to_simulate": ("pipe.journey", ["simulate", "pipe.journey", "--events", "events.jsonl"],
                            "pipe.journey:1:1: J007 error: cannot read this path: it is not a regular file"),
    "config_in_validate": ("journeyctl.yaml", ["validate", "j"],
                           "journeyctl.yaml:1:1: J009 error: cannot read this config file: it is not a regular file"),
    "config_in_test": ("journeyctl.yaml", ["test", "j"],
                       "journeyctl.yaml:1:1: J009 error: cannot read this config file: it is not a regular file"),
    "catalog": ("events.yaml", ["validate", "j", "--catalog", "events.yaml"],
                "events.yaml:1:1: J010 error: cannot read this event catalog file: it is not a regular file"),
    "journey_test": ("j/pipe.test.yaml", ["test", "j/pipe.test.yaml"],
                     "j/pipe.test.yaml:1:1: error: cannot read this test file: it is not a regular file"),
}


@needs_fifo
@pytest.mark.parametrize("case", FIFO_CASES)
def test_a_fifo_where_a_project_file_should_be_is_a_clear_error(project, case):
    fifo, args, says = FIFO_CASES[case]
    os.mkfifo(project / fifo)
    done = cli_in(project, *args)
    assert done.returncode == 2 and says in done.stdout + done.stderr, done.stdout + done.stderr
