"""Common slips and the fix each needs: a syntax error a marketer makes often, said in their words.

The parser's general message ("unexpected 'x'; expected ...") is right but names no fix.
Each function here recognises one slip from the spot where parsing stopped, and says what
to write instead, at the spot the reader must change. The first that recognises the slip wins;
when none does, the parser's general message stands.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .diagnostics import ERROR, Diagnostic, Span

SETTINGS = ("description", "audience", "reentry", "goal", "quiet", "cap", "holdout", "timezone")
STEPS = ("send", "wait", "set", "emit", "exit", "if", "split", "when", "->", "→")
BLOCK_LINE = re.compile(r"(if|else|when|or\s+when|otherwise|split|[A-Za-z_]\w*\s+\d+(\.\d+)?\s*%)(\s|$)")
CHANNEL_BEFORE = re.compile(r"(^|\s|->|→)(send|or)\s+[A-Za-z_]\w*\s+$")


@dataclass(frozen=True)
class Stop:
    """Where parsing stopped: the file's lines, the 1-based line and column, the text found there
    ('' at the end of a line), its token type (None for a character no token starts with)."""

    lines: list
    line: int
    column: int
    got: str
    kind: str | None

    @property
    def text(self) -> str:
        return self.lines[self.line - 1] if 0 < self.line <= len(self.lines) else ""

    @property
    def before(self) -> str:
        return self.text[: self.column - 1]

    def at_line_start(self) -> bool:
        return not self.before.strip()


def _deeper_indent(s: Stop):
    """An indented line under one that opens no block: Lark stops at the end of the line above, and
    quotes the indentation. Point at the deeper line itself."""
    if s.kind != "_INDENT":
        return None
    above = s.line
    for n in range(s.line + 1, len(s.lines) + 1):
        text = s.lines[n - 1]
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        indent = len(text) - len(text.lstrip(" "))
        return Diagnostic("J003", ERROR, f"this line is indented more than the line above (line {above})",
                          Span.point(n, indent + 1, len(text.split()[0])),
                          "indent it as far as the line above; only `if`, `else`, `when`, `or when`, `otherwise` "
                          "and `split` open an indented block")
    return None


def _single_equals(s: Stop):
    if s.kind != "EQUAL":
        return None
    left = re.search(r"[\w.]+$", s.before.rstrip())
    right = re.match(r"\s*(\"[^\"]*\"|[\w.]+)", s.text[s.column:])
    fixed = f"{left.group()} == {right.group(1)}" if left and right else "=="
    return Diagnostic("J001", ERROR, "`=` sets a value; a comparison is written `==`", Span.point(s.line, s.column),
                      f"write `{fixed}` (a single `=` only follows `set profile.NAME` and a `with` variable's name)")


def _unclosed_string(s: Stop):
    if s.kind is not None or s.got != '"':
        return None
    rest = s.text[s.column:]
    if re.search(r'(?<!\\)"', rest):
        return None
    return Diagnostic("J001", ERROR, "this string is not closed", Span.point(s.line, s.column, len(rest) + 1),
                      'end it with a " on the same line')


def _unquoted_template(s: Stop):
    step = re.split(r"->|→", s.before)[-1].strip()  # the step this word is in, on a chained line too
    if s.kind != "NAME" or not step.startswith("send ") or not CHANNEL_BEFORE.search(s.before):
        return None
    return Diagnostic("J001", ERROR, f'the template name needs quotes: "{s.got}"', Span.point(s.line, s.column, len(s.got)),
                      f'write: {s.before.strip().split("->")[-1].strip()} "{s.got}"')


def _block_on_the_same_line(s: Stop):
    if s.got not in STEPS or s.at_line_start():
        return None
    opener = BLOCK_LINE.match(s.text.lstrip())
    if opener is None:
        return None
    head = s.before.strip()
    return Diagnostic("J001", ERROR, f"a block goes on the next lines, indented, not on the `{head.split()[0]}` line",
                      Span.point(s.line, s.column, len(s.got)),
                      f"end the line after `{head}` and write `{s.text[s.column - 1:].strip()}` on the next line, "
                      "indented two spaces more")


def _setting_after_trigger(s: Stop):
    words = s.text.split()
    setting = s.got if s.got in SETTINGS and s.at_line_start() else \
        "exit on" if s.got == "on" and words[:2] == ["exit", "on"] else None
    if setting is None:
        return None
    trigger = next((n for n in range(s.line - 1, 0, -1) if s.lines[n - 1].lstrip().startswith("on ")), None)
    if trigger is None:
        return None
    column = len(s.text) - len(s.text.lstrip()) + 1
    return Diagnostic("J001", ERROR, f"`{setting}` is a setting, and settings go before `on`",
                      Span.point(s.line, column, len(setting)),
                      f"move this line above the trigger `{s.lines[trigger - 1].strip()}` (line {trigger}): "
                      "once `on` is written the flow has begun")


SLIPS = (_deeper_indent, _unclosed_string, _single_equals, _setting_after_trigger, _block_on_the_same_line,
         _unquoted_template)


def explain(stop: Stop) -> Diagnostic | None:
    """The diagnostic for a known slip at this spot, or None."""
    for slip in SLIPS:
        found = slip(stop)
        if found is not None:
            return found
    return None
