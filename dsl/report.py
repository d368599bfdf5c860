"""Output formats for diagnostics, all made from the same list of Diagnostic records.

People read `text` in a terminal; CI reads `github` (inline annotations on the pull
request), `sarif` (code scanning) or `json` (anything else). Keeping them in one
table over one record type means a new rule shows up everywhere at once, and the
formats cannot drift apart in what they count or where they point.

Every renderer returns its output without a final newline; the caller prints it.

Every format lists at most `max_per_file` problems of one file (a broken or hostile file
can hold hundreds of thousands: one of 0.9 MB with 300k made SARIF of 1.6 GB), then says
how many more there are: a "... and N more" line in text, a J019 note in the others.
"""
from __future__ import annotations

import json
import os
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Callable
from urllib.parse import quote

from journeyctl.dsl.diagnostics import ERROR, NOTE, WARNING, Diagnostic

SEVERITIES = (ERROR, WARNING, NOTE)
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


@dataclass(frozen=True, slots=True)
class _Options:
    sources: dict[str, str]
    color: bool
    max_per_file: int
    files_checked: int
    rules: dict[str, str]


def render(
    diagnostics: list[Diagnostic],
    fmt: str,
    sources: dict[str, str],
    *,
    color: bool,
    max_per_file: int = 50,
    files_checked: int = 0,
    rules: dict[str, str] | None = None,
) -> str:
    """sources maps path -> file text (for the text format's source lines);
    files_checked feeds the text summary; rules maps code -> short description (SARIF)."""
    try:
        renderer = _RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}") from None
    unknown = {d.severity for d in diagnostics} - set(SEVERITIES)
    if unknown:
        # Fail loudly: a misspelt severity would otherwise vanish from counts and exit codes.
        raise ValueError(f"unknown severity {sorted(unknown)!r}; expected one of {SEVERITIES}")
    opt = _Options(sources, color, max(max_per_file, 0), files_checked, rules or {})
    if renderer is not _text:  # (text says "... and N more" in its own words, and counts every problem)
        diagnostics = _capped(diagnostics, opt.max_per_file)
    return renderer(diagnostics, opt)


def _by_path(diagnostics: list[Diagnostic]) -> dict[str | None, list[Diagnostic]]:
    """Grouped by file in the order the files came, each file read top to bottom."""
    by_path: dict[str | None, list[Diagnostic]] = {}
    for d in diagnostics:
        by_path.setdefault(d.path, []).append(d)
    for found in by_path.values():
        found.sort(key=lambda d: (d.span.line, d.span.column))
    return by_path


def _capped(diagnostics: list[Diagnostic], limit: int) -> list[Diagnostic]:
    """The first `limit` problems of each file, in the order given, then for each file that had more
    a J019 note at the first one left out, saying how many."""
    kept: list[Diagnostic] = []
    left_out: dict[str | None, list] = {}  # path -> [first left out, how many]
    seen: Counter = Counter()
    for d in diagnostics:
        seen[d.path] += 1
        if seen[d.path] <= limit:
            kept.append(d)
        elif d.path in left_out:
            left_out[d.path][1] += 1
        else:
            left_out[d.path] = [d, 1]
    for first, n in left_out.values():
        kept.append(Diagnostic("J019", NOTE, f"... and {n:,} more problems in this file; only the first {limit} "
                                             "of a file are listed", first.span, "fix these and check again",
                               first.path))
    return kept


def exit_code(diagnostics: list[Diagnostic], strict: bool) -> int:
    """1 fails the CI job; usage and I/O errors (2) are the CLI's to decide."""
    failing = {ERROR, WARNING} if strict else {ERROR}
    return int(any(d.severity in failing for d in diagnostics))


def should_color(stream) -> bool:
    """Colour only for a person at a terminal, and never against NO_COLOR
    (https://no-color.org: set to any non-empty value)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # no isatty(), or already closed
        return False
    return bool(tty) and not os.environ.get("NO_COLOR")


# --- text -------------------------------------------------------------------------

_STYLE = {ERROR: "1;31", WARNING: "1;33", NOTE: "1;36", "path": "1", "gutter": "1;34", "help": "1;36"}

# Control characters from user files, events and stores must not reach the terminal as escape
# sequences (ESC ] 0 ; ... sets a window title, ESC [ 2 J clears the screen, C1 0x9B is a CSI).
# Mapping each to one visible character keeps every column where it was, so carets still line up;
# tabs are kept (and expanded by whoever lays out columns).
_VISIBLE = str.maketrans(
    {i: 0x2400 + i for i in range(32) if i != 9} | {0x7F: 0x2421} | {i: 0xFFFD for i in range(0x80, 0xA0)}
)


def visible(s) -> str:
    """Text safe to print on a terminal: every control character shown as a symbol (ESC as ␛).
    The one function for all text that comes from files, events or stores (validate, simulate,
    run's dashboard, status, inspect): JSON output needs none, JSON escapes them itself."""
    return str(s).translate(_VISIBLE)


def _show(s: str) -> str:
    return visible(s).expandtabs(4)


def _width(s: str) -> int:
    """Terminal cells, so carets stay under wide characters (emoji, CJK) in a line."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def _paint(s: str, style: str, color: bool) -> str:
    return f"\x1b[{_STYLE[style]}m{s}\x1b[0m" if color else s


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _source_lines(d: Diagnostic, lines: list[str] | None, color: bool) -> list[str]:
    """The offending line with a caret run under the span; a span running onto later
    lines is underlined to the end of its first line."""
    if lines is None or not 1 <= d.span.line <= len(lines):
        return []
    text = lines[d.span.line - 1]
    start = max(d.span.column, 1) - 1
    end = d.span.end_column - 1 if d.span.end_line == d.span.line else len(text)
    lead = _width(_show(text[:start]))
    carets = "^" * max(_width(_show(text[:end])) - lead, 1)  # tab stops count from column 1
    number = str(d.span.line)
    bar = _paint(" " * len(number) + " |", "gutter", color)
    return [
        bar,
        f"{_paint(number + ' |', 'gutter', color)} {_show(text)}".rstrip(),
        f"{bar} {' ' * lead}{_paint(carets, d.severity, color)}",
    ]


def _text_one(d: Diagnostic, lines: list[str] | None, color: bool) -> list[str]:
    where = f"{_show(d.path or '<input>')}:{d.span.line}:{d.span.column}:"
    head = f"{_paint(where, 'path', color)} {_paint(f'{d.code} {d.severity}:', d.severity, color)} {_show(d.message)}"
    out = [head, *_source_lines(d, lines, color)]
    if d.hint:
        pad = " " * (len(str(d.span.line)) + 1)
        out.append(f"{pad}{_paint('=', 'gutter', color)} {_paint('help:', 'help', color)} {_show(d.hint)}")
    return out


def _summary(diagnostics: list[Diagnostic], files_checked: int) -> str:
    if not diagnostics:
        return f"All checked: {_plural(files_checked, 'file')}, no problems."
    counts = Counter(d.severity for d in diagnostics)
    parts = ", ".join(_plural(counts[s], s) for s in SEVERITIES if counts[s])
    files = len({d.path for d in diagnostics})
    return f"Found {parts} in {_plural(files, 'file')}."


def _text(diagnostics: list[Diagnostic], opt: _Options) -> str:
    """Grouped by file in the order the files came, each file read top to bottom,
    capped so one broken file cannot bury the rest of the log."""
    blocks: list[str] = []
    for path, found in _by_path(diagnostics).items():
        source = opt.sources.get(path) if path is not None else None
        lines = [ln.removesuffix("\r") for ln in source.split("\n")] if source is not None else None
        blocks += ["\n".join(_text_one(d, lines, opt.color)) for d in found[: opt.max_per_file]]
        if len(found) > opt.max_per_file:
            blocks.append(f"... and {len(found) - opt.max_per_file} more in {_show(path or '<input>')}")
    summary = _summary(diagnostics, opt.files_checked)
    return "\n\n".join([*blocks, _paint(summary, "path", opt.color)])


# --- json -------------------------------------------------------------------------


def _json(diagnostics: list[Diagnostic], opt: _Options) -> str:
    return json.dumps([d.to_dict() for d in diagnostics], indent=2, ensure_ascii=False)


# --- github -----------------------------------------------------------------------

_GITHUB_LEVEL = {ERROR: "error", WARNING: "warning", NOTE: "notice"}


def _gh_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(s: str) -> str:
    return _gh_data(s).replace(":", "%3A").replace(",", "%2C")


def _github(diagnostics: list[Diagnostic], opt: _Options) -> str:
    """Workflow commands become inline annotations on the pull request. Columns are
    left out for multi-line spans because GitHub rejects them there; endColumn is
    one past the end, as in every other format."""
    out = []
    for d in diagnostics:
        s = d.span
        props: dict[str, object] = {"file": d.path} if d.path else {}
        if s.end_line == s.line:
            props |= {"line": s.line, "col": s.column, "endLine": s.end_line, "endColumn": s.end_column}
        else:
            props |= {"line": s.line, "endLine": s.end_line}
        props["title"] = d.code
        fields = ",".join(f"{k}={_gh_property(str(v))}" for k, v in props.items())
        out.append(f"::{_GITHUB_LEVEL[d.severity]} {fields}::{_gh_data(f'{d.code} {d.message}')}")
    return "\n".join(out)


# --- sarif ------------------------------------------------------------------------


def _sarif_result(d: Diagnostic, rule_index: int) -> dict:
    result = {"ruleId": d.code, "ruleIndex": rule_index, "level": d.severity, "message": {"text": d.message}}
    if d.path is not None:
        s = d.span
        region = {"startLine": s.line, "startColumn": s.column, "endLine": s.end_line, "endColumn": s.end_column}
        uri = quote(d.path.replace("\\", "/"))
        result["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": uri}, "region": region}}]
    return result


def _sarif(diagnostics: list[Diagnostic], opt: _Options) -> str:
    """SARIF 2.1.0 for code scanning. Its levels happen to be our severities, and its
    endColumn, like Span's, points one past the last character."""
    codes = sorted({d.code for d in diagnostics})
    rules = [
        {"id": c, "shortDescription": {"text": opt.rules[c]}} if c in opt.rules else {"id": c} for c in codes
    ]
    index = {c: i for i, c in enumerate(codes)}
    run = {
        "tool": {"driver": {"name": "journeyctl", "rules": rules}},
        "results": [_sarif_result(d, index[d.code]) for d in diagnostics],
    }
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2, ensure_ascii=False)


_RENDERERS: dict[str, Callable[[list[Diagnostic], _Options], str]] = {
    "text": _text,
    "json": _json,
    "github": _github,
    "sarif": _sarif,
}
FORMATS = tuple(_RENDERERS)
