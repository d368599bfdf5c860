"""`journeyctl fmt`: one canonical layout that keeps the meaning (the IR version) and the comments;
and the editor files (TextMate grammar, VS Code extension) that know the same keywords."""
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from journeyctl.dsl.compiler import compile_text
from journeyctl.dsl.formatter import format_ast, format_text
from journeyctl.dsl.parser import KEYWORDS, parse
from journeyctl.engine.cli.main import main
from strategies import journeys  # tests/strategies.py (pytest puts tests/ on sys.path)

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted([*ROOT.glob("tests/constructs/*.journey"), *ROOT.glob("tests/cases/*/journeys/*.journey"),
                *ROOT.glob("journeys/*.journey")])
VALID = [p for p in FILES if compile_text(p.read_text(encoding="utf-8"), p.name).ir is not None]


def _version(text: str, name: str = "journey.journey") -> str:
    compiled = compile_text(text, name)
    assert compiled.ir is not None, [d.message for d in compiled.diagnostics]
    return compiled.ir.version


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def test_every_kind_of_file_is_covered():
    assert len(VALID) > 100
    assert any("journeys" == p.parent.name and "cases" not in p.parts for p in VALID)


@pytest.mark.parametrize("path", VALID, ids=_rel)
def test_formatting_keeps_the_ir_and_is_idempotent(path):
    text = path.read_text(encoding="utf-8")
    formatted = format_text(text)
    assert _version(formatted, path.name) == _version(text, path.name)
    assert format_text(formatted) == formatted
    without_comments = format_ast(parse(text))  # from the AST alone
    assert _version(without_comments, path.name) == _version(text, path.name)


@pytest.mark.parametrize("path", sorted(ROOT.glob("journeys/*.journey")), ids=_rel)
def test_the_projects_own_journeys_are_formatted(path):
    text = path.read_text(encoding="utf-8")
    assert format_text(text) == text


# ---- the layout, by example: (input, expected output) ----------------------------------------------

EXAMPLES = {
    "settings_reordered_with_one_blank_line": (
        'journey j "T"\n'
        "    holdout 10 %\n"
        "    reentry   after 7d\n"
        "    description \"about\"\n"
        "    on signup\n"
        "    send email\n",
        'journey j "T"\n'
        '  description "about"\n'
        "  reentry after 7d\n"
        "  holdout 10%\n"
        "\n"
        "  on signup\n"
        "  send email\n",
    ),
    "one_liner_stays_one_line_and_arrows_become_ascii": (
        "on cart_abandoned   within 30m unless purchase → send whatsapp\n",
        "on cart_abandoned within 30m unless purchase -> send whatsapp\n",
    ),
    "operators_get_one_space_and_parentheses_only_where_needed": (
        "on a where (x>1) and((y+2)*3<=z or not(w==1))\nsend email with v=-(a+b),l=[1,2]\n",
        "on a where x > 1 and ((y + 2) * 3 <= z or not w == 1)\nsend email with v = -(a + b), l = [1, 2]\n",
    ),
    "same_operator_nesting_keeps_its_parentheses": (
        "on a where a and (b and c)\nsend email with v = a - (b - c), w = (a - b) - c\n",
        "on a where a and (b and c)\nsend email with v = a - (b - c), w = a - b - c\n",
    ),
    "durations_keep_their_units_largest_first": (
        "on a\nwait 30m1h\nwait 7d\nwait 1w\nwait 90m\nwait 1d24h\n",
        "on a\nwait 1h30m\nwait 7d\nwait 1w\nwait 90m\nwait 2d\n",
    ),
    "blocks_are_two_spaces_and_blank_lines_collapse": (
        "on a\nif x == 1\n      send email\n\n\n      send sms\nelse if x == 2\n        send push\nelse\n  exit\n",
        "on a\nif x == 1\n  send email\n\n  send sms\nelse if x == 2\n  send push\nelse\n  exit\n",
    ),
    "when_and_split": (
        "on a\nwhen b   where  x==1 within 1d\n   send email\nor when c within 1d\n   send sms\notherwise\n"
        "   send push\nsplit\n    a 50%\n        send email\n    b 50.0%\n        send sms\n",
        "on a\nwhen b where x == 1 within 1d\n  send email\nor when c within 1d\n  send sms\notherwise\n"
        "  send push\nsplit\n  a 50%\n    send email\n  b 50%\n    send sms\n",
    ),
    "or_when_keeps_its_window_left_out_or_repeated": (
        "on a\nwhen b within 1d\n send email\nor  when c\n send sms\nor when d   within  1d\n exit\n",
        "on a\nwhen b within 1d\n  send email\nor when c\n  send sms\nor when d within 1d\n  exit\n",
    ),
    "strings_escapes_and_event_names": (
        'on "Order Completed" where "or" == x\nsend email "t" with a = "say \\"hi\\"\\tnow", b = "Hi {profile.name}"\n'
        'emit "purchase"\nwait 1d unless "where"\n',
        'on "Order Completed" where "or" == x\nsend email "t" with a = "say \\"hi\\"\\tnow", b = "Hi {profile.name}"\n'
        'emit purchase\nwait 1d unless "where"\n',
    ),
    "trailing_whitespace_and_final_newline": (
        "on a   \nsend email   ",
        "on a\nsend email\n",
    ),
    "segment": (
        'segment s  "S"\n   where count(purchase where category=="x" within 30d)>=2\n   description "d"\n',
        'segment s "S"\n  description "d"\n  where count(purchase where category == "x" within 30d) >= 2\n',
    ),
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_layout(name):
    before, after = EXAMPLES[name]
    assert format_text(before) == after
    assert format_text(after) == after
    assert _version(after) == _version(before)


# ---- comments -------------------------------------------------------------------------------------

COMMENTED = """\
# What this journey is for.

journey j   # the id
  holdout 5%   # last setting, trailing
  # about the audience: moves with its setting
  audience profile.x == true

  # before the trigger
  on signup   # on the trigger line
  wait 1d -> send email "a"   # a chain keeps its comment
      # an over-indented comment belongs to the next line
  if profile.ltv > 500
    send email "vip"
  # before else
  else
    send email "b"
# the end
"""


def test_comments_are_kept_where_they_belong():
    assert format_text(COMMENTED) == """\
# What this journey is for.

journey j  # the id
  # about the audience: moves with its setting
  audience profile.x == true
  holdout 5%  # last setting, trailing

  # before the trigger
  on signup  # on the trigger line
  wait 1d -> send email "a"  # a chain keeps its comment
  # an over-indented comment belongs to the next line
  if profile.ltv > 500
    send email "vip"
  # before else
  else
    send email "b"
# the end
"""


def test_comments_inside_a_multi_line_expression_are_kept():
    text = "on a where (x == 1   # first\n  # between\n  or y == 2)  # last\nsend email\n"
    out = format_text(text)
    assert out == "# between\n# last\non a where x == 1 or y == 2  # first\nsend email\n"
    assert format_text(out) == out


def test_a_hash_inside_a_string_is_not_a_comment():
    text = 'on a\nsend email with x = "a # b"  # real\n'
    assert format_text(text) == text


@given(journeys())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_journeys_keep_their_ir_and_comments(text):
    formatted = format_text(text)
    assert _version(formatted) == _version(text)
    assert format_text(formatted) == formatted
    comments = sorted(line[line.index("#"):].rstrip() for line in text.split("\n") if line.lstrip().startswith("#"))
    kept = formatted.split("\n")
    for comment in comments:
        assert any(comment in line for line in kept), comment


# ---- the command ----------------------------------------------------------------------------------

@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.journey").write_text("on a -> send email\n")
    (tmp_path / "messy.journey").write_text("on a  ->  send   email\nwait 1d   # later\n")
    return tmp_path


def test_check_lists_files_that_would_change_and_exits_1(project):
    result = CliRunner().invoke(main, ["fmt", "--check", "."])
    assert result.exit_code == 1
    assert "messy.journey" in result.output and "good.journey" not in result.output
    assert (project / "messy.journey").read_text() == "on a  ->  send   email\nwait 1d   # later\n"


def test_fmt_rewrites_in_place_then_check_passes(project):
    result = CliRunner().invoke(main, ["fmt", "."])
    assert result.exit_code == 0, result.output
    assert "messy.journey" in result.output
    assert (project / "messy.journey").read_text() == "on a -> send email\nwait 1d  # later\n"
    again = CliRunner().invoke(main, ["fmt", "--check", "."])
    assert again.exit_code == 0, again.output


def test_files_with_errors_are_not_rewritten(project):
    (project / "broken.journey").write_text("on a   -> send emial\n")
    result = CliRunner().invoke(main, ["fmt", "broken.journey", "messy.journey"])
    assert result.exit_code == 1
    assert "J101" in result.output
    assert (project / "broken.journey").read_text() == "on a   -> send emial\n"
    assert (project / "messy.journey").read_text() == "on a -> send email\nwait 1d  # later\n"


def test_a_missing_path_is_a_usage_error(project):
    assert CliRunner().invoke(main, ["fmt", "nope.journey"]).exit_code == 2


def test_fmt_is_registered():
    result = CliRunner().invoke(main, ["--help"])
    assert "fmt" in result.output and "graph" in result.output


# ---- editors: the TextMate grammar and the VS Code extension ---------------------------------------

EDITORS = ROOT / "editors"


def _regexes(node):
    """Every regex (match, begin, end) in a TextMate grammar."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("match", "begin", "end") and isinstance(value, str):
                yield value
            else:
                yield from _regexes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _regexes(item)


def _includes(node):
    if isinstance(node, dict):
        if isinstance(node.get("include"), str):
            yield node["include"]
        for value in node.values():
            yield from _includes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _includes(item)


def test_textmate_grammar_covers_the_language():
    grammar = json.loads((EDITORS / "journey.tmLanguage.json").read_text(encoding="utf-8"))
    assert grammar["scopeName"] == "source.journey"
    assert grammar["fileTypes"] == ["journey"]
    regexes = list(_regexes(grammar))
    for regex in regexes:
        re.compile(regex)  # these Oniguruma patterns are also valid Python regexes
    words = "\n".join(regexes)
    assert [k for k in KEYWORDS if not re.search(rf"\b{k}\b", words)] == []
    for needed in ("->", "\u2192", "#", r"\{", "[wdhms]", r"\d{1,2}:\d{2}", "email", "whatsapp", "in_app"):
        assert needed in words, needed
    unknown = {i for i in _includes(grammar) if i.startswith("#") and i[1:] not in grammar["repository"]}
    assert unknown == set()


def test_textmate_grammar_scopes_a_line_as_expected():
    grammar = json.loads((EDITORS / "journey.tmLanguage.json").read_text(encoding="utf-8"))
    rules = {r["name"]: r["match"] for r in grammar["repository"]["expression"]["patterns"] if "name" in r}
    assert re.fullmatch(rules["constant.numeric.duration.journey"], "1h30m")
    assert re.fullmatch(rules["constant.numeric.time.journey"], "21:00")
    assert re.fullmatch(rules["keyword.operator.arrow.journey"], "\u2192")
    arm = grammar["repository"]["split-arm"]["match"]
    assert re.match(arm, "    control 50%") and not re.match(arm, "  holdout 10%")


def test_vscode_extension_uses_the_grammar():
    folder = EDITORS / "vscode"
    package = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    [language] = package["contributes"]["languages"]
    [grammar] = package["contributes"]["grammars"]
    assert language["extensions"] == [".journey"] and grammar["language"] == language["id"]
    assert grammar["scopeName"] == "source.journey"
    assert (folder / grammar["path"]).read_bytes() == (EDITORS / "journey.tmLanguage.json").read_bytes(), \
        "copy editors/journey.tmLanguage.json to editors/vscode/syntaxes/"
    config = json.loads((folder / language["configuration"]).read_text(encoding="utf-8"))
    assert config["comments"]["lineComment"] == "#"
    assert ["(", ")"] in config["brackets"]
    increase = re.compile(config["indentationRules"]["increaseIndentPattern"])
    for opener in ("journey cart", "  if x > 1", "  else", "  or when b within 1d", "  otherwise", "  split",
                   "    a 50%", "  when a within 1d  # comment"):
        assert increase.match(opener), opener
    for line in ("  send email", "  wait 1d", "  holdout_note = 1"):
        assert not increase.match(line), line
    assert re.match(config["indentationRules"]["decreaseIndentPattern"], "  else")


def test_pre_commit_hooks_and_the_ci_example():
    import yaml

    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}
    assert set(hooks) == {"journeyctl-validate", "journeyctl-fmt"}
    for hook in hooks.values():
        assert hook["language"] == "python" and re.search(hook["files"], "journeys/cart.journey")
        assert not re.search(hook["files"], "journeys/cart.journey.bak")
    workflow = (ROOT / "docs" / "ci-github-actions.yml").read_text(encoding="utf-8")
    assert "journeyctl validate --format github journeys/" in workflow
    assert yaml.safe_load(workflow)["jobs"]
