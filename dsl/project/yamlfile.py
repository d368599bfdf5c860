"""The one way a project's YAML is read (config, event catalog, journey tests): safe, bounded, with lines.

Safe: PyYAML's safe loader, so no tag can build an object. Bounded, because a
file of a few kilobytes can still take a reader down: nested 5,000 deep, the
composer recurses until Python gives up (RecursionError, a traceback); nine
levels of ten aliases each (`a: &a [x, x, ...]`, `b: &b [*a, *a, ...]`, ...) is
a billion-node structure that every walk over it (the schema check, the
duplicate-key check) takes minutes to cross. So while composing, the depth and
the size with every alias expanded are counted, and a file over either limit is
refused at the spot that crossed it, before anything walks it. An alias inside
its own anchor (an endless structure) is refused the same way.

Times stay text: `2026-01-05T09:00:00Z` is read as written, as in JSON, not as
a datetime the rest of the code would have to know about.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import yaml

from .files import MAX_BYTES, read_regular, why_unreadable

MAX_DEPTH = 64          # a config is 3 deep, a catalog's schemas rarely 10
MAX_NODES = 100_000     # values in the file with every alias expanded; a large catalog has a few thousand

LAYOUT_HINT = "check the indentation and the colons around this spot"


class YamlProblem(Exception):
    """Why a YAML file cannot be used, where (1-based; line 0 when the whole file is at fault), a hint, and
    the file's text when it could be read (to show the line)."""

    def __init__(self, message: str, line: int = 0, column: int = 0, hint: str | None = None):
        super().__init__(message)
        self.message, self.line, self.column, self.hint = message, line, column, hint
        self.text: str | None = None


class _TooComplex(yaml.MarkedYAMLError):
    pass


class _Loader(yaml.SafeLoader):
    """The safe loader, without implicit timestamps, counting depth and expanded size while composing."""

    def __init__(self, text: str):
        super().__init__(text)
        self._depth = 0
        self._nodes = 0
        self._sizes: dict[int, int] = {}  # id(node) -> its size with aliases expanded, once composed

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:
                size = self._sizes.get(id(target))
                if size is None:
                    raise _TooComplex(None, None, f"the alias *{event.anchor} is inside its own anchor, "
                                                  "which makes an endless structure",
                                      event.start_mark)  # type: ignore[arg-type]  # (the stubs' C-loader Mark)
                self._grow(size, event)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _TooComplex(None, None, f"values are nested more than {MAX_DEPTH} deep here", event.start_mark)
        before = self._nodes
        self._grow(1, event)
        node = super().compose_node(parent, index)
        self._depth -= 1
        self._sizes[id(node)] = self._nodes - before
        return node

    def _grow(self, size: int, event) -> None:
        self._nodes += size
        if self._nodes > MAX_NODES:
            raise _TooComplex(None, None, f"with its aliases expanded this file holds over {MAX_NODES:,} values",
                              event.start_mark)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class YamlDoc:
    """text: the file as read; root: the composed node tree as written (None for an empty document), whose
    marks give every value's line; data: the plain values (merge keys merged)."""

    path: str
    text: str
    root: yaml.Node | None
    data: object


def read_yaml(path: str | Path, what: str) -> YamlDoc:
    """Read, parse and construct one YAML file; YamlProblem, in plain words about `what` (e.g. "config"),
    when it cannot be used: unreadable, not a regular file, over 1 MB, not UTF-8, not YAML, too deep, too big."""
    try:
        raw = read_regular(path, MAX_BYTES)
    except OSError as e:
        raise YamlProblem(f"cannot read this {what} file: {why_unreadable(e)}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise YamlProblem(f"this {what} file is not UTF-8 text", hint="save it as UTF-8 in your editor") from None
    try:
        root = parse(text, what)
        # constructing flattens merge keys (`<<: *base`) in place: keep the tree as written for the readers
        data = construct(copy.deepcopy(root), what) if root is not None else None
        return YamlDoc(str(path), text, root, data)
    except YamlProblem as e:
        e.text = text
        raise


def parse(text: str, what: str) -> yaml.Node | None:
    """The node tree of one YAML document; YamlProblem with the line and column of the first problem."""
    loader = _Loader(text)
    try:
        return loader.get_single_node()
    except yaml.YAMLError as e:
        raise _problem(e, what) from None
    finally:
        loader.dispose()


def construct(node, what: str):
    """The plain values of a node (the whole document or a part of it), built by the same safe loader."""
    loader = _Loader("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        raise _problem(e, what) from None
    finally:
        loader.dispose()


def _problem(e: yaml.YAMLError, what: str) -> YamlProblem:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    if isinstance(e, _TooComplex):
        return YamlProblem(f"this {what} file is refused: {e.problem}",
                           line, column, "no project file needs this much; look for a copy-paste or a generated file")
    problem = getattr(e, "problem", None) or str(e)
    context, opened = getattr(e, "context", None), getattr(e, "context_mark", None)
    if problem.startswith("but ") and context:
        problem = f"{context}, {problem}"
    elif context and opened is not None and mark is not None and opened.line != mark.line:
        problem += f" ({context} opened at line {opened.line + 1})"
    layout = isinstance(e, (yaml.scanner.ScannerError, yaml.parser.ParserError))
    return YamlProblem(f"this {what} file is not valid YAML: {problem}",
                       line, column, LAYOUT_HINT if layout else None)
