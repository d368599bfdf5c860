"""Text in, our AST out: the one place Lark is called.

Lark's trees and exceptions stop here. A parse failure becomes a Diagnostic that
says, in words, what was expected at that spot and which block was still open.
"""
from __future__ import annotations

import dataclasses
import functools
import re
import sys
from typing import cast
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.indenter import DedentError, Indenter

from . import ast, slips
from .diagnostics import ERROR, Diagnostic, JourneyError, Span, did_you_mean
from .durations import parse_duration, parse_time_of_day, read_duration

GRAMMAR = Path(__file__).with_name("journey.lark")
KEYWORDS = (
    "journey segment description audience reentry once after restart concurrent by goal within exit on "
    "quiet hours cap per holdout timezone unless where or and not in contains wait until at date yearly send with "
    "set emit "
    "if else when otherwise split true false null"
).split()


class _Indenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types = ["LPAR", "LSQB"]
    CLOSE_PAREN_types = ["RPAR", "RSQB"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8


@functools.cache
def _lark() -> Lark:
    return Lark(GRAMMAR.read_text(encoding="utf-8"), parser="lalr", lexer="contextual",
                postlex=_Indenter(), propagate_positions=True, maybe_placeholders=True, cache=True)


def parse(text: str) -> ast.Journey | ast.Segment:
    """Parse one file's text. Raises JourneyError with every diagnostic found."""
    _check_layout(text)
    if not text.endswith("\n"):
        text += "\n"
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as e:
        raise JourneyError([_explain(e, text)]) from None
    except DedentError as e:
        raise JourneyError([Diagnostic("J003", ERROR, "this line's indentation matches no open block",
                                       _dedent_span(text, str(e)),
                                       "indent it exactly as far as the line it belongs with")]) from None
    except LarkError as e:  # anything else Lark can say: still ours, never a traceback
        raise JourneyError([Diagnostic("J001", ERROR, f"cannot read this journey: {e}", Span())]) from None
    deep = _too_deep(tree)
    if deep is not None:
        raise JourneyError([Diagnostic("J130", ERROR, f"this is nested more than {MAX_DEPTH} levels deep",
                                       deep, "split the condition into simpler parts")])
    try:
        return _to_ast().transform(tree)
    except _Invalid as e:
        raise JourneyError([e.diagnostic]) from None
    except Exception as e:  # a transformer failure wraps the real one (lark.exceptions.VisitError)
        inner = getattr(e, "orig_exc", e)
        if isinstance(inner, _Invalid):
            raise JourneyError([inner.diagnostic]) from None
        raise


MAX_DEPTH = 200  # tree levels; real journeys use a few dozen, and every later pass recurses over the tree


def _too_deep(tree) -> Span | None:
    """Where the tree first goes deeper than MAX_DEPTH, found without recursion (that is the point)."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            meta = getattr(node, "meta", None)
            return Span.point(meta.line, meta.column) if meta is not None and not meta.empty else Span()
        stack.extend((child, depth + 1) for child in getattr(node, "children", ()) if hasattr(child, "children"))
    return None


def _check_layout(text: str) -> None:
    diags = []
    for n, line in enumerate(text.split("\n"), 1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent:
            col = indent.index("\t") + 1
            diags.append(Diagnostic("J002", ERROR, "a tab is used for indentation", Span.point(n, col),
                                    "indent with spaces only (two per level is the convention)"))
    if diags:
        raise JourneyError(diags)


# ---- turning Lark's errors into plain words ---------------------------------

EXPECTED_WORDS = {
    "DURATION": "a duration like 30m",
    "TIME": "a time of day like 09:00",
    "NUMBER": "a number",
    "STRING": 'a quoted text like "welcome"',
    "NAME": "a name",
    "DOTTED": "a dotted name like profile.tier",
    "_NL": "the end of the line",
    "_INDENT": "an indented block on the next line",
    "_DEDENT": "the end of the block",
    "_ARROW": "->",
    "$END": "the end of the file",
    "DATE_WORD": '"date"',
}
BLOCK_OPENERS = re.compile(r"^\s*(journey|segment|if|else|when|or when|otherwise|split|[A-Za-z_]\w*\s+\d+(\.\d+)?%)\b")


EXPRESSION_STARTS = {"a number", "a name", 'a quoted text like "welcome"', '"("', '"["', '"-"', '"not"',
                     '"true"', '"false"', '"null"', "a duration like 30m", "a dotted name like profile.tier"}


def _expected(names) -> list[str]:
    words = _expected_words(names)
    if {"a number", "a name"} <= words:
        words = (words - EXPRESSION_STARTS) | {"an expression (a value, a name like profile.ltv, or a function)"}
    return sorted(words)


def _expected_words(names) -> set[str]:
    words = set()
    for name in names:
        if name in EXPECTED_WORDS:
            words.add(EXPECTED_WORDS[name])
        elif re.fullmatch(r"[A-Z_]+", name) and name.lower() in KEYWORDS:
            words.add(f'"{name.lower()}"')
        elif name in ("LPAR", "RPAR", "LSQB", "RSQB", "COMMA", "EQUAL", "PERCENT", "MINUS", "DOT"):
            words.add(f'"{_PUNCT[name]}"')
        else:
            words.add("an operator" if name in ("PLUS", "STAR", "SLASH", "LESSTHAN", "MORETHAN") else name.lower())
    return words


_PUNCT = {"LPAR": "(", "RPAR": ")", "LSQB": "[", "RSQB": "]", "COMMA": ",", "EQUAL": "=", "PERCENT": "%",
          "MINUS": "-", "DOT": "."}


def _explain(e: UnexpectedInput, text: str) -> Diagnostic:
    lines = text.split("\n")  # only \n ends a line for Lark; str.splitlines() knows a dozen more
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    line = getattr(e, "line", None) or len(lines)
    col = getattr(e, "column", None) or 1
    if isinstance(e, UnexpectedToken) and e.token.type == "$END":
        line, col = len(lines), len(lines[-1]) + 1 if lines else 1
    width = 1
    got = ""
    if isinstance(e, UnexpectedToken):
        tok = e.token
        got = str(tok)
        width = len(got) if tok.type not in ("_NL", "_INDENT", "_DEDENT", "$END") else 1
        if tok.type == "_NL":
            line, col = tok.line, tok.column
            got = ""
        expected = _expected(e.accepts or e.expected)
    elif isinstance(e, UnexpectedCharacters):
        got = text.split("\n")[line - 1][col - 1: col] if line <= len(lines) else ""
        expected = _expected(e.allowed or ())
    else:
        expected = _expected(getattr(e, "expected", ()) or ())
    slip = slips.explain(slips.Stop(lines, line, col, got, e.token.type if isinstance(e, UnexpectedToken) else None))
    if slip is not None:
        return slip
    message, hint = _words_for(got, expected, isinstance(e, UnexpectedCharacters))
    if hint and hint.startswith("add the time limit") and 0 < line <= len(lines) \
            and lines[line - 1].lstrip().startswith("when "):
        hint = "the first `when` gives the window its `or when` blocks share: add it, like within 1d"
    opener = _open_block(lines, line)
    if opener:
        message += f" (inside the block opened at line {opener[0]}: `{opener[1]}`)"
    return Diagnostic("J001", ERROR, message, Span.point(line, col, width), hint)


def _words_for(got: str, expected: list[str], bad_char: bool) -> tuple[str, str | None]:
    wanted = " or ".join(expected[:6]) + (" ..." if len(expected) > 6 else "")
    if bad_char:
        message = f"unexpected character {got!r}" + (f"; expected {wanted}" if wanted else "")
    elif got:
        message = f"unexpected {got!r}; expected {wanted}"
    else:
        message = f"this line ends too early; expected {wanted}"
    hint = None
    keywords = [w.strip('"') for w in expected if w.startswith('"')]
    close = did_you_mean(got, keywords) if got else None
    if '"within"' in expected and got in ("unless", ""):
        hint = "add the time limit: within 30m" + (" unless EVENT" if got else "")
    elif '"within"' in expected and parse_duration(got) is not None:
        hint = f"add `within` before the time limit: within {got} unless EVENT"
    elif close:
        hint = f'did you mean "{close}"?'
    elif got in KEYWORDS:  # (a word that is only close to a keyword, like `y` to `by`, is not one)
        hint = f'"{got}" is a keyword, but it cannot stand here'
    elif "a duration like 30m" in expected:
        hint = "durations are a number and a unit: 45s, 30m, 2h, 1d, 1w, or sums like 1h30m"
    elif "a time of day like 09:00" in expected:
        hint = "times of day are HH:MM on a 24 h clock, like 21:00"
    return message, hint


def _open_block(lines: list[str], line: int):
    """The nearest line above `line`, indented less, that opens a block: what a reader would call 'open'."""
    if line > len(lines) or line < 1:
        return None
    here = len(lines[line - 1]) - len(lines[line - 1].lstrip())
    for n in range(line - 1, 0, -1):
        text = lines[n - 1]
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        indent = len(text) - len(text.lstrip())
        if indent < here and BLOCK_OPENERS.match(text):
            return n, text.strip()
        if indent < here:
            here = indent
    return None


def _dedent_span(text: str, message: str) -> Span:
    """Lark's DedentError has no position; find the first line that dedents to a level never opened."""
    levels = [0]
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent > levels[-1]:
            levels.append(indent)
        else:
            while indent < levels[-1]:
                levels.pop()
            if indent != levels[-1]:
                return Span.point(n, 1, max(indent, 1))
    return Span()


# ---- Lark tree -> our AST ---------------------------------------------------

class _Invalid(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def _span(meta) -> Span:
    if getattr(meta, "empty", True):
        return Span()
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _tspan(tok: Token) -> Span:
    line, column = cast(int, tok.line), cast(int, tok.column)  # (Lark's lexer always sets them)
    return Span(line, column, tok.end_line or line, tok.end_column or column + len(tok))


def _unquote(tok: Token) -> str:
    body = str(tok)[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _duration(tok: Token) -> int:
    ms = read_duration(str(tok))
    if isinstance(ms, str):
        raise _Invalid(Diagnostic("J103", ERROR, ms, _tspan(tok),
                                  "durations are a number and a unit: 45s, 30m, 2h, 1d, 1w, up to 36500d"))
    return ms


# The largest number a journey may write: the largest a 64-bit float holds. Past it a number would
# be infinite (and the IR invalid JSON); an integer of thousands of digits cannot even be converted.
MAX_NUMBER = sys.float_info.max
_MAX_DIGITS = len(str(int(MAX_NUMBER)))


def _number_value(tok: Token) -> int | float:
    """A NUMBER token's value, or J132 when it is past MAX_NUMBER."""
    text = str(tok)
    whole = text.split(".")[0]
    value = None
    if len(whole) <= _MAX_DIGITS:
        value = float(text) if "." in text else int(text)
    if value is None or abs(value) > MAX_NUMBER:
        raise _Invalid(Diagnostic("J132", ERROR, f"{_clip(text)} is too large a number", _tspan(tok),
                                  f"numbers go up to about 1.8e308 ({_MAX_DIGITS} digits)"))
    return value


def _clip(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _time(tok: Token) -> int:
    minute = parse_time_of_day(str(tok))
    if minute is None:
        raise _Invalid(Diagnostic("J104", ERROR, f"{tok} is not a time of day", _tspan(tok),
                                  "times of day go from 00:00 to 23:59"))
    return minute


def _name(tok) -> str:
    return _unquote(tok) if tok.type == "STRING" else str(tok)


@functools.cache
def _to_ast() -> "_ToAst":
    """One transformer, its methods bound once: Lark's v_args re-wraps a method on every lookup
    (functools.update_wrapper per tree node), which was a tenth of the time spent validating."""
    t = _ToAst()
    for name in dir(_ToAst):
        if not name.startswith("_") and name not in ("transform",):
            t.__dict__[name] = getattr(t, name)
    return t


@v_args(meta=True, inline=True)
class _ToAst(Transformer):
    """One method per grammar rule; each returns an AST node or a plain value for its parent."""

    def start(self, meta, item):
        if isinstance(item, tuple):  # a file without a `journey` header
            settings, trigger, steps = item
            return ast.Journey(None, None, settings, trigger, steps, span=_span(meta))
        return item

    def journey(self, meta, name, title, body):
        settings, trigger, steps = body
        return ast.Journey(str(name), _unquote(title) if title else None, settings, trigger, steps, span=_span(meta))

    def segment(self, meta, name, title, *items):
        where = [i for i in items if not isinstance(i, ast.Setting)]
        descs = [i.value for i in items if isinstance(i, ast.Setting)]
        if len(where) != 1:
            raise _Invalid(Diagnostic("J108" if where else "J120", ERROR,
                                      "a segment needs exactly one `where` line", _span(meta),
                                      'write: where count(purchase) >= 2'))
        return ast.Segment(str(name), _unquote(title) if title else None, descs[0] if descs else None, where[0],
                           span=_span(meta))

    def segment_where(self, meta, expr):
        return expr

    def body(self, meta, *items):
        settings = [i for i in items if isinstance(i, ast.Setting)]
        trigger = next(i for i in items if isinstance(i, tuple))
        steps = [i for i in items if not isinstance(i, (ast.Setting, tuple))]
        trig, chain = trigger
        return settings, trig, chain + _flatten(steps)

    # settings
    def description(self, meta, text):
        return ast.Setting("description", _unquote(text), span=_span(meta))

    def audience(self, meta, expr):
        return ast.Setting("audience", expr, span=_span(meta))

    def reentry(self, meta, rule):
        return ast.Setting("reentry", rule, span=_span(meta))

    def reentry_once(self, meta):
        return ast.Reentry("once", span=_span(meta))

    def reentry_after(self, meta, d):
        return ast.Reentry("after", after=_duration(d), span=_span(meta))

    def reentry_restart(self, meta):
        return ast.Reentry("restart", span=_span(meta))

    def reentry_concurrent(self, meta, by=None):
        return ast.Reentry("concurrent", by=by, span=_span(meta))

    def goal(self, meta, match, d):
        return ast.Setting("goal", (match, _duration(d)), span=_span(meta))

    def exit_on(self, meta, match):
        return ast.Setting("exit_on", match, span=_span(meta))

    def quiet_hours(self, meta, start, end):
        return ast.Setting("quiet_hours", (_time(start), _time(end)), span=_span(meta))

    def cap(self, meta, channel, n, d):
        return ast.Setting("cap", ast.Cap(channel, _number_value(n), _duration(d), span=_span(meta)), span=_span(meta))

    def holdout(self, meta, n):
        return ast.Setting("holdout", float(_number_value(n)), span=_span(meta))

    def timezone(self, meta, name):
        return ast.Setting("timezone", _unquote(name), span=_span(meta))

    # trigger
    def trigger(self, meta, match, within, chain):
        d, unless = within if within else (None, [])
        return ast.Trigger(match, d, unless, span=_span(meta)), chain

    def date_trigger(self, meta, date, yearly, at, within, chain):
        d, unless = within if within else (None, [])
        return ast.Trigger(None, d, unless, date, _time(at) if at is not None else None, yearly is not None,
                           span=_span(meta)), chain

    def yearly(self, meta):
        return True

    def trigger_within(self, meta, d, unless):
        return _duration(d), unless

    def chain(self, meta, *steps):
        return list(steps)

    def event_match(self, meta, name, where=None):
        return ast.EventMatch(name, where, span=_span(meta))

    unless_match = event_match

    def unless_list(self, meta, *matches):
        return list(matches)

    def event_name(self, meta, tok):
        return _name(tok)

    # steps
    def step_line(self, meta, step, chain):
        return [step, *chain]

    def wait(self, meta, d, unless=None):
        return ast.Wait(_duration(d), unless or [], span=_span(meta))

    def wait_until(self, meta, t):
        return ast.WaitUntil(_time(t), span=_span(meta))

    def wait_until_instant(self, meta, instant, t):
        return ast.WaitUntil(_time(t) if t is not None else None, instant, span=_span(meta))

    def send(self, meta, *parts):
        *targets, variables = parts
        return ast.Send(targets, variables or [], span=_span(meta))

    def send_target(self, meta, channel, template):
        return ast.SendTarget(channel, _unquote(template) if template else None, span=_span(meta))

    def channel(self, meta, tok):
        return str(tok)

    def with_clause(self, meta, *assignments):
        return list(assignments)

    def assignment(self, meta, name, value):
        if isinstance(value, ast.Literal) and isinstance(value.value, str) and "{" in value.value:
            value = _interpolate(value)
        return ast.Assignment(str(name), value, span=_span(meta))

    def set(self, meta, path, value):
        return ast.SetTrait(tuple(str(path).split(".")), value, span=_span(meta))

    def emit(self, meta, name, variables=None):
        return ast.Emit(name, variables or [], span=_span(meta))

    def exit(self, meta):
        return ast.Exit(span=_span(meta))

    def block(self, meta, *steps):
        return _flatten(steps)

    def if_step(self, meta, cond, block, *rest):
        branches = [(cond, block)]
        otherwise = None
        for item in rest:
            if item is None:
                continue
            if item[0] == "elif":
                branches.append(item[1:])
            else:
                otherwise = item[1]
        return ast.If(branches, otherwise, span=_span(meta))

    def elif_clause(self, meta, cond, block):
        return ("elif", cond, block)

    def else_clause(self, meta, block):
        return ("else", block)

    def when_step(self, meta, *parts):
        clauses = [p for p in parts if isinstance(p, ast.WhenClause)]
        otherwise = parts[-1] if parts and isinstance(parts[-1], list) else None
        return ast.When(clauses, otherwise, span=_span(meta))

    def when_clause(self, meta, match, d, block):
        return ast.WhenClause(match, _duration(d), block, span=_span(meta), within_span=_tspan(d))

    def or_when_clause(self, meta, match, d, block):
        """`within` left out (None) means the first block's window."""
        return ast.WhenClause(match, _duration(d) if d is not None else None, block, span=_span(meta),
                              within_span=_tspan(d) if d is not None else None)

    def otherwise_clause(self, meta, block):
        return block

    def split_step(self, meta, *arms):
        return ast.Split(list(arms), span=_span(meta))

    def split_arm(self, meta, name, pct, block):
        return ast.SplitArm(str(name), float(_number_value(pct)), block, span=_span(meta))

    # expressions
    def or_(self, meta, *xs):
        return xs[0] if len(xs) == 1 else ast.BoolOp("or", list(xs), span=_span(meta))

    def and_(self, meta, *xs):
        return xs[0] if len(xs) == 1 else ast.BoolOp("and", list(xs), span=_span(meta))

    def not_(self, meta, x):
        return ast.Unary("not", x, span=_span(meta))

    def neg(self, meta, x):
        return ast.Unary("-", x, span=_span(meta))

    def compare(self, meta, a, op, b):
        return ast.Binary(op, a, b, span=_span(meta))

    arith = compare

    def comp_op(self, meta, tok):
        return str(tok)

    add_op = mul_op = comp_op

    def in_(self, meta, a, b):
        return ast.Binary("in", a, b, span=_span(meta))

    def not_in(self, meta, a, b):
        return ast.Binary("not in", a, b, span=_span(meta))

    def contains(self, meta, a, b):
        return ast.Binary("contains", a, b, span=_span(meta))

    def number(self, meta, tok):
        return ast.Literal(_number_value(tok), "number", span=_tspan(tok))

    def string(self, meta, tok):
        return ast.Literal(_unquote(tok), "string", span=_tspan(tok))

    def duration(self, meta, tok):
        return ast.DurationLit(_duration(tok), span=_tspan(tok))

    def true(self, meta):
        return ast.Literal(True, "bool", span=_span(meta))

    def false(self, meta):
        return ast.Literal(False, "bool", span=_span(meta))

    def null(self, meta):
        return ast.Literal(None, "null", span=_span(meta))

    def name(self, meta, tok):
        return ast.Ref((str(tok),), span=_tspan(tok))

    def dotted(self, meta, tok):
        return ast.Ref(tuple(str(tok).split(".")), span=_tspan(tok))

    def list_(self, meta, *items):
        return ast.ListExpr([i for i in items if i is not None], span=_span(meta))

    def call(self, meta, name, *rest):
        *args, where, within, per = rest
        args = [a for a in args if a is not None]
        return ast.Call(str(name), args, where, _duration(within) if within else None, span=_span(meta),
                        per=tuple(str(per).split(".")) if per else None)

    def attr(self, meta, call, name):
        call.attr = str(name)
        call.span = _span(meta)
        return call


def _flatten(items) -> list:
    out = []
    for item in items:
        if isinstance(item, list):
            out.extend(item)
        else:
            out.append(item)
    return out


def _interpolate(lit: ast.Literal) -> ast.Node:
    """Split "Hi {profile.first_name}" into text and expressions; each hole is parsed as an expression."""
    text = cast(str, lit.value)  # (a string literal: the caller has looked)
    parts: list = []
    pos = 0
    for m in re.finditer(r"\{([^{}]*)\}", text):
        if m.start() > pos:
            parts.append(text[pos:m.start()])
        parts.append(parse_expression(m.group(1).strip(), lit.span))
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    return ast.Interpolated(parts, span=lit.span)


def parse_expression(text: str, span: Span | None = None):
    """Parse a lone expression (an interpolation hole) by wrapping it in a throwaway journey."""
    try:
        journey = parse(f"on _ where {text}\n")
    except JourneyError:
        raise _Invalid(Diagnostic("J001", ERROR, f"cannot read {{{text}}} inside this text", span or Span(),
                                  "a hole holds a name like {profile.first_name}")) from None
    assert isinstance(journey, ast.Journey) and journey.trigger.match is not None  # (`on _ where` made one)
    expr = journey.trigger.match.where
    _respan(expr, span)
    return expr


def _respan(node, span):
    """Holes point at their string: the positions inside the throwaway journey mean nothing to a reader."""
    if span is None or not isinstance(node, ast.Node):
        return
    node.span = span
    for value in (getattr(node, f.name) for f in dataclasses.fields(node) if f.name != "span"):
        for child in value if isinstance(value, list) else [value]:
            _respan(child, span)
