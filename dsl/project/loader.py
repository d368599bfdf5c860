"""Paths in, compiled journeys out: the one place journey files are read from disk.

CI points `journeyctl validate` at whatever the repository holds, so nothing a
path can be (missing, a folder of photos, a 10 MB log, a file in Latin-1) may
end in a traceback: each becomes a diagnostic with a code (J004-J008).

Some checks need every file at once: a segment is defined in one file and used
in another, and two files must not claim the same id. So loading is two passes:
first read every file and note its header (a cheap look at the first line, so a
segment file with a typo further down still counts as defining its segment),
then compile each with the segment ids known.
"""
from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from ..compiler import Compiled, Options, compile_text
from ..diagnostics import ERROR, WARNING, Diagnostic, JourneyError, Span
from .near_names import near_miss_events
from .files import MAX_BYTES, NotRegularFile, TooLarge, read_regular, size_text, why_unreadable

SUFFIX = ".journey"
_HEADER = re.compile(r"(?:[ \t]*(?:#[^\n]*)?\r?\n)*[ ]*(journey|segment)[ ]+([A-Za-z_][A-Za-z0-9_]*)")
_ONLY_COMMENTS = re.compile(r"(?:[ \t]*(?:#[^\n]*)?(?:\r?\n|$))*")


class Loaded(NamedTuple):
    """compiled: one per file that could be read, in path order; diagnostics: every problem found,
    file by file, including those of `compiled`; files_checked: files looked at, readable or not."""

    compiled: list[Compiled]
    diagnostics: list[Diagnostic]
    files_checked: int

    @property
    def sources(self) -> dict[str, str]:
        return {c.path: c.source for c in self.compiled if c.source is not None}


class _File(NamedTuple):
    path: str
    text: str
    kind: str
    id: str
    id_span: Span


def load_paths(paths, options: Options | None = None) -> Loaded:
    """Read, check and compile every journey under `paths` (files, or folders searched recursively).
    A file named directly is read whatever its suffix; a folder contributes its `*.journey` files."""
    options = options or Options()
    files, diags, checked = _collect(paths)
    read: list[_File] = []
    for path in files:
        text, problem = read_source(path)
        if problem is not None:
            diags.append(problem)
        elif text is not None:  # (always, when there is no problem)
            read.append(_File(path, text, *_header(text, path)))
    known = {f.id for f in read if f.kind == "segment"} | _sibling_segments(paths)
    if options.segments is not None:
        known |= set(options.segments)
    opts = replace(options, segments=known)
    compiled = [compile_text(f.text, f.path, opts) for f in read]
    for c, dup in zip(compiled, _duplicates(read)):
        if dup is not None:
            c.diagnostics.append(dup)
            c.diagnostics.sort(key=lambda d: (d.span.line, d.span.column))
            c.ir = None
    if options.catalog is None:  # (with one, J011 names every unknown event)
        near_miss_events(compiled)
    for c in compiled:
        diags += c.diagnostics
    order: dict[str | None, int] = {p: i for i, p in enumerate(files)}
    diags.sort(key=lambda d: (order.get(d.path, -1), d.span.line, d.span.column))
    return Loaded(compiled, diags, checked)


def load_journeys(paths, options: Options | None = None) -> list:
    """The IR of every journey and segment under `paths`, for the engine. Raises JourneyError with
    all the errors when any file has one: running half a project would be worse than not running."""
    loaded = load_paths(paths, options)
    errors = [d for d in loaded.diagnostics if d.severity == ERROR]
    if errors:
        raise JourneyError(errors)
    return [c.ir for c in loaded.compiled if c.ir is not None]


# ---- reading ------------------------------------------------------------------------------

def read_source(path: str) -> tuple[str | None, Diagnostic | None]:
    """The text of one file, or the diagnostic that says why there is none."""
    def problem(code, message, hint=None, span=None):
        return None, Diagnostic(code, ERROR, message, span or Span(), hint, path)

    try:
        data = read_regular(path, MAX_BYTES)
    except NotRegularFile:
        return problem("J007", "cannot read this path: it is not a regular file")
    except TooLarge as e:
        return problem("J006", f"this file is {size_text(e.size)}, over the 1 MB limit for a journey",
                       "one file holds one journey; split it, or check the path points at a journey")
    except OSError as e:
        return problem("J007", f"cannot read this file: {why_unreadable(e)}")
    if b"\x00" in data:
        return problem("J005", "this is a binary file, not a journey", "journeys are plain UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = len(data[data.rfind(b"\n", 0, e.start) + 1: e.start].decode("utf-8", "replace")) + 1
        return problem("J005", f"this file is not UTF-8 text (byte 0x{data[e.start]:02x} is not UTF-8)",
                       "save it as UTF-8 in your editor", Span.point(line, column))
    text = text.removeprefix("\ufeff")
    if _ONLY_COMMENTS.fullmatch(text):
        return problem("J004", "this file is empty" if not text.strip() else "this file holds only comments",
                       "write a journey, e.g.: on signup -> send email \"welcome\"")
    return text, None


def _collect(paths) -> tuple[list[str], list[Diagnostic], int]:
    """Every file to read, once each, in a stable order; folders are walked without following links
    (a link back up would loop) and without looking into hidden folders (.git, .venv)."""
    files: list[str] = []
    diags: list[Diagnostic] = []
    seen: set = set()

    def add(path: str):
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            files.append(path)

    for raw in paths:
        path = str(raw)
        if os.path.isdir(path):
            found = _walk(path, diags)
            if not found and not any(d.path and d.path.startswith(path) for d in diags):
                diags.append(Diagnostic("J008", ERROR, f"no {SUFFIX} files in this folder", Span(),
                                        "check the path, or add a journey to it", path))
            for f in found:
                add(f)
        elif os.path.lexists(path):
            add(path)
        else:
            diags.append(Diagnostic("J007", ERROR, "cannot read this path: no such file or folder", Span(),
                                    None, path))
    if files:  # the check did happen; an empty folder beside others is worth a word, not a failed run
        diags = [replace(d, severity=WARNING) if d.code == "J008" else d for d in diags]
    return files, diags, len(files)


def _walk(root: str, diags: list) -> list[str]:
    def failed(e: OSError):
        diags.append(Diagnostic("J007", ERROR, f"cannot read this folder: {(e.strerror or str(e)).lower()}",
                                Span(), None, e.filename or root))

    out = []
    for folder, subdirs, names in os.walk(root, onerror=failed):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        out += [os.path.normpath(os.path.join(folder, n)) for n in sorted(names) if n.endswith(SUFFIX)]
    return out


# ---- what needs every file ------------------------------------------------------------------

def _header(text: str, path: str) -> tuple[str, str, Span]:
    """(kind, id, span of the id): the header's name, else the file's stem (section 3)."""
    m = _HEADER.match(text)
    if m:
        line = text.count("\n", 0, m.start(2)) + 1
        column = m.start(2) - (text.rfind("\n", 0, m.start(2)) + 1) + 1
        return m.group(1), m.group(2), Span.point(line, column, len(m.group(2)))
    return "journey", Path(path).stem, Span()


def _sibling_segments(paths) -> set:
    """Segments defined next to a file named on its own: checking one journey must not report the
    project's segments as unknown just because their files were not named too."""
    out = set()
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            continue
        try:
            siblings = [p for p in path.parent.iterdir() if p.suffix == SUFFIX and p != path]
        except OSError:
            continue
        for p in siblings:
            try:  # a FIFO beside the file would block a plain open() forever
                head = read_regular(p).decode("utf-8", "replace")
            except OSError:
                continue
            kind, sid, _ = _header(head, str(p))
            if kind == "segment":
                out.add(sid)
    return out


def _duplicates(files: list[_File]) -> list[Diagnostic | None]:
    """J121 on every file after the first that claims an id: the first keeps it, in path order."""
    first: dict = {}
    out: list[Diagnostic | None] = []
    for f in files:
        key = (f.kind, f.id)
        if key in first:
            out.append(Diagnostic(
                "J121", ERROR, f"{f.kind} id {f.id} is already used by {first[key]}", f.id_span,
                f"{f.kind} ids must be unique; rename one (the id is the header's name, else the file's stem)",
                f.path))
        else:
            first[key] = f.path
            out.append(None)
    return out
