"""`journeyctl validate` and `journeyctl compile` through click's runner: output and exit code together,
as CI sees them. Every test runs in its own empty folder, so no journeyctl.yaml leaks in."""
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from journeyctl.engine.cli import main as cli

WHATSAP = "journey cart\n  on cart_abandoned\n  send whatsap\n"
CLEAN = "on signup -> send email\n"
LATE_GOAL = "journey j\n  goal b within 1d\n  on a\n  wait 2d\n  send email\n"


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


def write(name: str, content) -> str:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return name


def run(*args):
    return CliRunner().invoke(cli.main, list(args))


# ---- text ------------------------------------------------------------------------------------

def test_clean_file():
    result = run("validate", write("ok.journey", CLEAN))
    assert (result.exit_code, result.stdout) == (0, "All checked: 1 file, no problems.\n")


def test_text_format():
    result = run("validate", write("cart.journey", WHATSAP))
    assert result.exit_code == 1
    assert result.stdout == (
        'cart.journey:3:8: J101 error: unknown channel "whatsap"\n'
        "  |\n"
        "3 |   send whatsap\n"
        "  |        ^^^^^^^\n"
        '  = help: did you mean "whatsapp"?\n'
        "\n"
        "Found 1 error in 1 file.\n"
    )


def test_text_has_no_colour_off_a_terminal():
    assert "\x1b[" not in run("validate", write("cart.journey", WHATSAP)).stdout


def test_a_folder_is_searched_recursively_and_hidden_folders_are_skipped():
    write("journeys/a.journey", CLEAN)
    write("journeys/deep/er/b.journey", WHATSAP)
    write("journeys/notes.md", "not a journey")
    write("journeys/.cache/c.journey", "garbage")
    result = run("validate", "journeys")
    assert result.exit_code == 1
    assert result.stdout.startswith("journeys/deep/er/b.journey:3:8: J101 error")
    assert result.stdout.endswith("Found 1 error in 1 file.\n")
    assert run("validate", "journeys/a.journey").stdout == "All checked: 1 file, no problems.\n"


def test_several_paths_and_the_count_of_files_checked():
    write("a/one.journey", CLEAN)
    write("b/two.journey", "journey two\n  on x -> send sms\n")
    result = run("validate", "a", "b", "a/one.journey")  # a file named twice is checked once
    assert (result.exit_code, result.stdout) == (0, "All checked: 2 files, no problems.\n")


# ---- the machine formats -----------------------------------------------------------------------

def test_json_format():
    result = run("validate", "--format", "json", write("cart.journey", WHATSAP))
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [{
        "path": "cart.journey", "line": 3, "column": 8, "end_line": 3, "end_column": 15, "code": "J101",
        "severity": "error", "message": 'unknown channel "whatsap"', "hint": 'did you mean "whatsapp"?'}]


def test_json_format_when_clean_is_an_empty_list():
    result = run("validate", "--format", "json", write("ok.journey", CLEAN))
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])


def test_github_format():
    result = run("validate", "--format", "github", write("cart.journey", WHATSAP))
    assert result.exit_code == 1
    assert result.stdout == ("::error file=cart.journey,line=3,col=8,endLine=3,endColumn=15,title=J101::"
                             'J101 unknown channel "whatsap"\n')


def test_sarif_format():
    write("cart.journey", WHATSAP)
    write("late.journey", LATE_GOAL)
    result = run("validate", "--format", "sarif", "cart.journey", "late.journey")
    assert result.exit_code == 1
    log = json.loads(result.stdout)
    assert log["version"] == "2.1.0"
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["rules"] == [{"id": "J101", "shortDescription": {"text": "unknown channel"}},
                               {"id": "J111", "shortDescription": {"text": "goal window ends before the first send"}}]
    results = log["runs"][0]["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [("J101", "error"), ("J111", "warning")]
    assert results[0]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "cart.journey"},
        "region": {"startLine": 3, "startColumn": 8, "endLine": 3, "endColumn": 15}}


def test_every_format_reports_the_same_records():
    write("a.journey", WHATSAP)
    write("b.journey", "on x -> wait 0s -> send pigeon\n")
    counts = {}
    for fmt in ("json", "github", "sarif"):
        out = run("validate", "--format", fmt, ".").stdout
        counts[fmt] = (len(json.loads(out)) if fmt == "json" else out.count("::error") if fmt == "github"
                       else len(json.loads(out)["runs"][0]["results"]))
    assert counts == {"json": 3, "github": 3, "sarif": 3}


# ---- --strict ----------------------------------------------------------------------------------

def test_warnings_pass_unless_strict():
    write("late.journey", LATE_GOAL)
    relaxed = run("validate", "late.journey")
    assert relaxed.exit_code == 0
    assert relaxed.stdout.startswith("late.journey:2:8: J111 warning: the goal window (1d) ends before")
    strict = run("validate", "--strict", "--format", "json", "late.journey")
    assert strict.exit_code == 1
    assert [(d["code"], d["severity"]) for d in json.loads(strict.stdout)] == [("J111", "error")]


# ---- bad input: a diagnostic and the right exit code, never a traceback -------------------------

@pytest.mark.parametrize("name, content, code", [
    ("empty.journey", b"", "J004"),
    ("binary.journey", bytes(range(256)), "J005"),
    ("latin1.journey", "on caf\xe9 -> send email\n".encode("latin-1"), "J005"),
    ("huge.journey", b"on a -> send email\n" * 600_000, "J006"),
])
def test_bad_files_are_problems_found(name, content, code):
    result = run("validate", "--format", "json", write(name, content))
    assert result.exit_code == 1
    assert [d["code"] for d in json.loads(result.stdout)] == [code]
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_missing_path_is_an_io_error():
    result = run("validate", "nope.journey")
    assert result.exit_code == 2
    assert result.stdout == ("nope.journey:1:1: J007 error: cannot read this path: no such file or folder\n\n"
                             "Found 1 error in 1 file.\n")


def test_folder_without_journeys_is_an_io_error():
    Path("empty").mkdir()
    result = run("validate", "--format", "github", "empty")
    assert result.exit_code == 2
    assert result.stdout == "::error file=empty,line=1,col=1,endLine=1,endColumn=2,title=J008::" \
                            "J008 no .journey files in this folder\n"


def test_an_empty_folder_beside_journeys_is_only_a_warning():
    write("journeys/a.journey", CLEAN)
    write("examples/events.jsonl", "{}")
    result = run("validate", "journeys", "examples")
    assert result.exit_code == 0
    assert result.stdout.startswith("examples:1:1: J008 warning: no .journey files in this folder")
    assert run("validate", "--strict", "journeys", "examples").exit_code == 2


def test_io_errors_win_over_problems_found():
    write("bad.journey", WHATSAP)
    assert run("validate", "bad.journey", "nope").exit_code == 2


@pytest.mark.parametrize("args", [["validate"], ["validate", "--format", "xml", "a.journey"], ["nope"]])
def test_usage_errors(args):
    result = run(*args)
    assert result.exit_code == 2
    assert "Usage:" in result.stderr


# ---- config and catalog --------------------------------------------------------------------------

def test_config_in_the_current_folder_adds_channels():
    write("a.journey", "on a -> send line\n")
    assert run("validate", "a.journey").exit_code == 1
    write("journeyctl.yaml", "channels:\n  line:\n")
    assert run("validate", "a.journey").exit_code == 0


def test_broken_config_stops_the_check_with_exit_2():
    write("a.journey", CLEAN)
    write("conf.yaml", "channels:\n  whatsapp: phone\ncatalogue: x.yaml\n")
    result = run("validate", "--config", "conf.yaml", "a.journey")
    assert result.exit_code == 2
    assert result.stdout == (
        'conf.yaml:3:1: J009 error: unknown key "catalogue"\n'
        "  |\n"
        "3 | catalogue: x.yaml\n"
        "  | ^^^^^^^^^\n"
        '  = help: did you mean "catalog"?\n'
        "\n"
        "Found 1 error in 1 file.\n"
    )


def test_missing_config_or_catalog_file_is_a_usage_error():
    write("a.journey", CLEAN)
    result = run("validate", "--config", "nope.yaml", "a.journey")
    assert result.exit_code == 2 and "cannot read config nope.yaml: no such file" in result.stderr
    result = run("validate", "--catalog", "nope.yaml", "a.journey")
    assert result.exit_code == 2 and "cannot read catalog nope.yaml: no such file" in result.stderr


def test_catalog_option():
    write("events.yaml", "events:\n  cart_abandoned:\n    properties:\n      cart_value: {type: number}\n")
    write("a.journey", 'on cart_abandoned where cart_value >= "50" -> wait 1d unless purchase -> send email\n')
    assert run("validate", "a.journey").exit_code == 0
    result = run("validate", "--catalog", "events.yaml", "--format", "json", "a.journey")
    assert result.exit_code == 1
    assert [(d["code"], d["column"]) for d in json.loads(result.stdout)] == [("J013", 25), ("J011", 62)]


def test_catalog_named_in_the_config():
    write("schemas/events.yaml", "events:\n  signup: {}\n")
    write("journeyctl.yaml", "catalog: schemas/events.yaml\n")
    write("a.journey", "on signup -> send email\n")
    write("b.journey", "on signin -> send email\n")
    result = run("validate", "--format", "json", ".")
    assert result.exit_code == 1
    assert [(d["path"], d["code"], d["hint"]) for d in json.loads(result.stdout)] == [
        ("b.journey", "J011", 'did you mean "signup"?')]


# ---- compile -------------------------------------------------------------------------------------

def test_compile_prints_the_ir():
    result = run("compile", write("welcome.journey", CLEAN))
    assert result.exit_code == 0
    ir = json.loads(result.stdout)
    assert (ir["id"], ir["kind"], ir["format"], ir["trigger"]) == ("welcome", "journey", 1,
                                                                   {"event": "signup", "where": None})
    assert result.stdout.startswith('{\n  "format": 1,\n')
    assert len(ir["version"]) == 12


def test_compile_of_a_broken_file_prints_problems_to_stderr_only():
    result = run("compile", write("cart.journey", WHATSAP))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith('cart.journey:3:8: J101 error: unknown channel "whatsap"')


def test_compile_of_a_missing_file():
    result = run("compile", "nope.journey")
    assert (result.exit_code, result.stdout) == (2, "")
    assert "J007" in result.stderr


def test_compile_keeps_warnings_on_stderr_and_still_prints():
    result = run("compile", write("late.journey", LATE_GOAL))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["id"] == "j"
    assert "J111 warning" in result.stderr


# ---- more commands register lazily ---------------------------------------------------------------

def test_lazily_registered_command(monkeypatch):
    import click

    fake = type(sys)("fake_command_module")
    fake.hello = click.Command("hello", callback=lambda: click.echo("hi"))
    monkeypatch.setitem(sys.modules, "fake_command_module", fake)
    monkeypatch.setitem(cli.LAZY_COMMANDS, "hello", "fake_command_module:hello")
    assert run("hello").stdout == "hi\n"
    assert "hello" in run("--help").stdout


# ---- colour, in a real terminal ------------------------------------------------------------------

def _in_terminal(args, env):
    """Run the real console script with a pseudo-terminal as stdout: the only honest isatty() test."""
    main, child = pty.openpty()
    script = Path(sys.executable).with_name("journeyctl")
    proc = subprocess.run([str(script), *args], stdout=child, stderr=subprocess.PIPE, env=env, timeout=60)
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    return proc.returncode, out.decode()


def test_colour_on_a_terminal_unless_no_color():
    assert Path(sys.executable).with_name("journeyctl").exists(), "the journeyctl console script is not installed"
    write("cart.journey", WHATSAP)
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    code, out = _in_terminal(["validate", "cart.journey"], env)
    assert code == 1 and "\x1b[1;31m" in out
    code, out = _in_terminal(["validate", "cart.journey"], {**env, "NO_COLOR": "1"})
    assert code == 1 and "\x1b[" not in out and "J101 error" in out
    code, out = _in_terminal(["validate", "--format", "json", "cart.journey"], env)
    assert "\x1b[" not in out
