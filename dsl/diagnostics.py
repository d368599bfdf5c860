"""Diagnostics: one record per problem, from which every output format is made.

A diagnostic carries a stable code so CI logs, editor annotations and the README
table all speak of the same rule; a span so a marketer can find the spot; and a
hint in plain words, because "unexpected token" helps no one.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """1-based line and column of the first character, and of the one just past the end."""

    line: int = 1
    column: int = 1
    end_line: int = 1
    end_column: int = 2

    @staticmethod
    def point(line: int, column: int, width: int = 1) -> "Span":
        return Span(line, column, line, column + max(width, 1))


ERROR, WARNING, NOTE = "error", "warning", "note"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """code: stable rule code (see CODES); severity: error, warning or note;
    path: the file it belongs to, set by whoever read the file."""

    code: str
    severity: str
    message: str
    span: Span = field(default_factory=Span)
    hint: str | None = None
    path: str | None = None

    def at(self, path: str) -> "Diagnostic":
        return Diagnostic(self.code, self.severity, self.message, self.span, self.hint, path)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
        }


class JourneyError(Exception):
    """Raised by the front end when a file cannot be turned into IR; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("; ".join(f"{d.code} {d.message}" for d in diagnostics))
        self.diagnostics = diagnostics


def did_you_mean(word: str, choices) -> str | None:
    """The one closest known name, if any is close enough to be a likely slip."""
    found = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return found[0] if found else None
