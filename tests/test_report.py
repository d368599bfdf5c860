import io
import json

import jsonschema
import pytest

from journeyctl.dsl.diagnostics import ERROR, NOTE, WARNING, Diagnostic, Span
from journeyctl.dsl.report import FORMATS, exit_code, render, should_color

PATH = "journeys/welcome.journey"
SOURCE = "journey welcome\n  send via whatsap\n  wait 30x unless purchase\n"

CHANNEL = Diagnostic(
    "J101", ERROR, 'unknown channel "whatsap"', Span.point(2, 12, 7), 'did you mean "whatsapp"?', PATH
)
DURATION = Diagnostic("J202", WARNING, "not a duration: 30x", Span(3, 8, 3, 11), "a duration like 30m", PATH)
STYLE = Diagnostic("J301", NOTE, "journey name is lower case", Span.point(1, 9, 7), None, "journeys/other.journey")


def text(diagnostics, sources=None, **kw):
    return render(diagnostics, "text", {PATH: SOURCE} if sources is None else sources, color=False, **kw)


# --- text ------------------------------------------------------------------------


def test_text_exact_layout():
    assert text([DURATION, CHANNEL, STYLE], files_checked=4) == (
        'journeys/welcome.journey:2:12: J101 error: unknown channel "whatsap"\n'
        "  |\n"
        "2 |   send via whatsap\n"
        "  |            ^^^^^^^\n"
        '  = help: did you mean "whatsapp"?\n'
        "\n"
        "journeys/welcome.journey:3:8: J202 warning: not a duration: 30x\n"
        "  |\n"
        "3 |   wait 30x unless purchase\n"
        "  |        ^^^\n"
        "  = help: a duration like 30m\n"
        "\n"
        "journeys/other.journey:1:9: J301 note: journey name is lower case\n"
        "\n"
        "Found 1 error, 1 warning, 1 note in 2 files."
    )


def test_clean_summary_counts_files_checked():
    assert text([], files_checked=5) == "All checked: 5 files, no problems."
    assert text([], files_checked=1) == "All checked: 1 file, no problems."


def test_caret_spans_the_span_and_never_shrinks_below_one():
    empty = Diagnostic("J001", ERROR, "unexpected end of line", Span(2, 19, 2, 19), path=PATH)
    assert text([empty]).splitlines()[3] == "  |" + " " * 19 + "^"


def test_multiline_span_is_underlined_to_end_of_first_line():
    d = Diagnostic("J001", ERROR, "unclosed block", Span(2, 3, 3, 5), path=PATH)
    assert text([d]).splitlines()[3] == "  |   " + "^" * len("send via whatsap")


def test_caret_lines_up_after_tabs_and_wide_characters():
    src = "\tsend 🎉 emaill\n"
    d = Diagnostic("J102", ERROR, "unknown word", Span.point(1, 9, 6), path=PATH)
    _, _, line, carets = text([d], {PATH: src}).splitlines()[:4]
    assert line == "1 |     send 🎉 emaill"
    assert carets == "  |" + " " * 13 + "^^^^^^"
    tabbed = Diagnostic("J102", ERROR, "odd gap", Span.point(1, 2, 2), path=PATH)
    assert text([tabbed], {PATH: "a\tb\n"}).splitlines()[3] == "  |  ^^^^"  # "a" then a tab to column 5


def test_missing_source_or_line_still_reports_header_and_help():
    d = Diagnostic("J202", WARNING, "x", Span(99, 1, 99, 2), "y", PATH)
    assert text([d], {}).splitlines()[:2] == ["journeys/welcome.journey:99:1: J202 warning: x", "   = help: y"]
    assert text([d]).splitlines()[:2] == ["journeys/welcome.journey:99:1: J202 warning: x", "   = help: y"]


def test_control_characters_from_user_text_cannot_reach_the_terminal():
    src = "send \x1b[2J now\n"
    d = Diagnostic("J101", ERROR, "unknown channel \x1b[31m", Span.point(1, 6, 4), path=PATH)
    out = text([d], {PATH: src})
    assert "\x1b" not in out
    assert out.splitlines()[2:4] == ["1 | send ␛[2J now", "  |      ^^^^"]


def test_cap_per_file():
    many = [Diagnostic("J101", ERROR, f"e{i}", Span(i, 1, i, 2), path=PATH) for i in range(1, 6)]
    out = text(many + [STYLE], {}, max_per_file=2)
    assert out == (
        "journeys/welcome.journey:1:1: J101 error: e1\n\n"
        "journeys/welcome.journey:2:1: J101 error: e2\n\n"
        "... and 3 more in journeys/welcome.journey\n\n"
        "journeys/other.journey:1:9: J301 note: journey name is lower case\n\n"
        "Found 5 errors, 1 note in 2 files."
    )


def test_color_only_when_asked_and_user_text_is_not_markup():
    d = Diagnostic("J101", ERROR, "[bold]not markup[/bold]", Span.point(2, 12, 7), None, PATH)
    plain = text([d])
    assert "\x1b[" not in plain
    coloured = render([d], "text", {PATH: SOURCE}, color=True)
    assert "\x1b[1;31mJ101 error:\x1b[0m [bold]not markup[/bold]" in coloured
    assert "\x1b[1;31m^^^^^^^\x1b[0m" in coloured


# --- json / github / sarif -------------------------------------------------------


def test_json_is_capped_per_file_with_a_note_saying_how_many_more():
    """Issue 15 item 17: every format caps what it lists of one file (a file of 300k problems made
    SARIF of 1.6 GB), and says how many more there are, with a code and a position."""
    many = [CHANNEL] * 3 + [STYLE]
    out = json.loads(render(many, "json", {}, color=True, max_per_file=1))
    assert out[:2] == [CHANNEL.to_dict(), STYLE.to_dict()]
    assert {k: out[2][k] for k in ("path", "line", "column", "code", "severity")} == {
        "path": CHANNEL.path, "line": CHANNEL.span.line, "column": CHANNEL.span.column, "code": "J019",
        "severity": "note"}
    assert len(out) == 3 and "and 2 more problems" in out[2]["message"]
    assert json.loads(render(many, "json", {}, color=True)) == [d.to_dict() for d in many]
    assert json.loads(render([], "json", {}, color=False)) == []


def test_github_lines_and_levels():
    multi = Diagnostic("J400", NOTE, "long step", Span(2, 3, 3, 5), path=PATH)
    assert render([CHANNEL, DURATION, multi], "github", {}, color=False).splitlines() == [
        "::error file=journeys/welcome.journey,line=2,col=12,endLine=2,endColumn=19,title=J101"
        '::J101 unknown channel "whatsap"',
        "::warning file=journeys/welcome.journey,line=3,col=8,endLine=3,endColumn=11,title=J202"
        "::J202 not a duration: 30x",
        "::notice file=journeys/welcome.journey,line=2,endLine=3,title=J400::J400 long step",
    ]


def test_github_escaping():
    d = Diagnostic("J1", ERROR, "100% off,\r\nnow: yes", Span(1, 1, 1, 2), path="C:/a,b%.journey")
    assert render([d], "github", {}, color=False) == (
        "::error file=C%3A/a%2Cb%25.journey,line=1,col=1,endLine=1,endColumn=2,title=J1"
        "::J1 100%25 off,%0D%0Anow: yes"
    )


SARIF_REQUIRED = {
    "type": "object",
    "required": ["$schema", "version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1,
            "items": {
                "type": "object",
                "required": ["tool", "results"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name", "rules"],
                                "properties": {
                                    "name": {"const": "journeyctl"},
                                    "rules": {"type": "array", "items": {"required": ["id"]}},
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["ruleId", "level", "message", "locations"],
                            "properties": {
                                "level": {"enum": ["error", "warning", "note"]},
                                "message": {"required": ["text"]},
                                "locations": {
                                    "type": "array",
                                    "items": {
                                        "required": ["physicalLocation"],
                                        "properties": {
                                            "physicalLocation": {
                                                "required": ["artifactLocation", "region"],
                                                "properties": {
                                                    "artifactLocation": {"required": ["uri"]},
                                                    "region": {
                                                        "required": ["startLine", "startColumn", "endLine", "endColumn"]
                                                    },
                                                },
                                            }
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_sarif_structure():
    rules = {"J101": "Unknown channel", "J202": "Bad duration"}
    log = json.loads(render([DURATION, CHANNEL, STYLE, CHANNEL], "sarif", {}, color=False, rules=rules))
    jsonschema.validate(log, SARIF_REQUIRED)
    run = log["runs"][0]
    assert run["tool"]["driver"]["rules"] == [
        {"id": "J101", "shortDescription": {"text": "Unknown channel"}},
        {"id": "J202", "shortDescription": {"text": "Bad duration"}},
        {"id": "J301"},
    ]
    assert [(r["ruleId"], r["ruleIndex"], r["level"]) for r in run["results"]] == [
        ("J202", 1, "warning"),
        ("J101", 0, "error"),
        ("J301", 2, "note"),
        ("J101", 0, "error"),
    ]
    assert run["results"][1]["message"] == {"text": 'unknown channel "whatsap"'}
    assert run["results"][1]["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "journeys/welcome.journey"},
                "region": {"startLine": 2, "startColumn": 12, "endLine": 2, "endColumn": 19},
            }
        }
    ]


def test_sarif_uri_is_percent_encoded():
    d = CHANNEL.at("journeys/spring sale.journey")
    log = json.loads(render([d], "sarif", {}, color=False))
    assert log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "journeys/spring%20sale.journey"
    }


# --- dispatch, exit codes, colour --------------------------------------------------


def test_formats_and_unknown_inputs():
    assert FORMATS == ("text", "json", "github", "sarif")
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        render([], "xml", {}, color=False)
    with pytest.raises(ValueError, match="unknown severity"):
        render([Diagnostic("J1", "fatal", "x")], "json", {}, color=False)


@pytest.mark.parametrize(
    "diagnostics, strict, code",
    [
        ([], False, 0),
        ([], True, 0),
        ([STYLE], True, 0),
        ([DURATION, STYLE], False, 0),
        ([DURATION, STYLE], True, 1),
        ([CHANNEL], False, 1),
        ([CHANNEL], True, 1),
    ],
)
def test_exit_code(diagnostics, strict, code):
    assert exit_code(diagnostics, strict) == code


class Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_should_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert should_color(Stream(True)) is True
    assert should_color(Stream(False)) is False
    assert should_color(object()) is False
    assert should_color(io.StringIO()) is False
    closed = io.StringIO()
    closed.close()
    assert should_color(closed) is False  # isatty() raises ValueError on a closed stream
    monkeypatch.setenv("NO_COLOR", "1")
    assert should_color(Stream(True)) is False
    monkeypatch.setenv("NO_COLOR", "")  # no-color.org: an empty value does not count
    assert should_color(Stream(True)) is True
