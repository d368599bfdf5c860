"""The one canonical layout of a `.journey` file, for `journeyctl fmt`.

Layout comes from our AST alone: two spaces per block level, settings in the
order of LANGUAGE.md section 5 with one blank line before the trigger, one space
around operators, `->` between chained steps, double-quoted strings, durations
written the shortest way (`90m` -> `1h30m`). Steps written on one line (a
one-liner, or a `->` chain) stay on one line; single blank lines between steps
are kept, runs of them collapse.

The parser drops comments, so they are recovered from the source text by line:
a full-line comment belongs to the code line after it and moves with it (settings
are reordered); an end-of-line comment stays at the end of its line. Parentheses
may carry an expression over several lines; such a "logical line" is printed on
one line and keeps every comment written inside it.

Parentheses are not in the AST: they are put back wherever the grammar needs
them for the same tree, so the output compiles to the same IR as the input.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

from . import ast
from .durations import UNIT_MS, format_duration, format_time_of_day, parse_duration
from .parser import KEYWORDS, parse

INDENT = "  "
ARROW = " -> "
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SETTING_ORDER = ("description", "audience", "reentry", "goal", "exit_on", "quiet_hours", "cap", "holdout",
                 "timezone")

# Precedence levels of journey.lark: a child below what its slot needs gets parentheses.
OR, AND, NOT, CMP, SUM, PRODUCT, UNARY, ATOM = range(1, 9)
_BINARY_PREC = {**dict.fromkeys(("==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains"), CMP),
                "+": SUM, "-": SUM, "*": PRODUCT, "/": PRODUCT}


def format_text(text: str) -> str:
    """The canonical layout of a journey's text, comments kept. Raises JourneyError when it does not parse."""
    return format_ast(parse(text), text)


def format_ast(tree: ast.Journey | ast.Segment, source: str | None = None) -> str:
    """Print an AST in the canonical layout; with `source` (the text it was parsed from), with its comments."""
    src = _Source(source or "")
    lines = _Layout(src).document(tree)
    return _weave(lines, src) if source is not None else "".join(INDENT * ln.depth + ln.text + "\n" for ln in lines)


# ---- expressions ------------------------------------------------------------------------------

def expr(node, min_prec: int = OR) -> str:
    """An expression as text, parenthesised only where the grammar needs it to read back the same tree."""
    text, prec = _expr(node)
    return f"({text})" if prec < min_prec else text


def _expr(node) -> tuple[str, int]:
    if isinstance(node, ast.BoolOp):
        prec = OR if node.op == "or" else AND
        return f" {node.op} ".join(expr(x, prec + 1) for x in node.operands), prec
    if isinstance(node, ast.Unary):
        if node.op == "not":
            return "not " + expr(node.operand, NOT), NOT
        inner = expr(node.operand, UNARY)
        return ("- " if inner.startswith("-") else "-") + inner, UNARY
    if isinstance(node, ast.Binary):
        prec = _BINARY_PREC[node.op]
        left_at, right_at = (SUM, SUM) if prec == CMP else (prec, prec + 1)  # + - * / group to the left
        return f"{expr(node.left, left_at)} {node.op} {expr(node.right, right_at)}", prec
    return _atom(node), ATOM


_WORDS: dict[object, str] = {True: "true", False: "false", None: "null"}


def _atom(node) -> str:
    if isinstance(node, ast.Literal):
        if isinstance(node.value, str):  # (the kind "string")
            return quote(node.value)
        if node.kind == "number":
            return number(node.value)
        return _WORDS[node.value]
    if isinstance(node, ast.DurationLit):
        return duration(node.ms)
    if isinstance(node, ast.Ref):
        return ".".join(node.parts)
    if isinstance(node, ast.ListExpr):
        return "[" + ", ".join(expr(i) for i in node.items) + "]"
    if isinstance(node, ast.Interpolated):
        return quote("".join(p if isinstance(p, str) else "{" + expr(p) + "}" for p in node.parts))
    if isinstance(node, ast.Call):
        inside = ", ".join(expr(a) for a in node.args)
        if node.where is not None:
            inside += " where " + expr(node.where)
        if node.within is not None:
            inside += " within " + duration(node.within)
        if node.per is not None:
            inside += " per " + ".".join(node.per)
        return f"{node.name}({inside.strip()})" + (f".{node.attr}" if node.attr else "")
    raise TypeError(f"not an expression: {node!r}")


def duration(ms: int) -> str:
    """A duration the way people say it: largest units first (`90m` -> `1h30m`), but weeks only for whole
    weeks, so `30d` stays `30d` and `365d` stays `365d` where dsl.durations.format_duration writes 4w2d."""
    week = UNIT_MS["w"]
    if ms % week == 0 or ms < week:
        return format_duration(ms)
    days, rest = divmod(ms, UNIT_MS["d"])
    return f"{days}d" + (format_duration(rest) if rest else "")


_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|(?<![A-Za-z0-9_.])(?:\d+[wdhms])+(?![A-Za-z0-9_])|[^"\d]+|.')


def _durations(code: str) -> list[str]:
    """The duration tokens of a line of code, in order, leaving out anything inside a quoted string."""
    return [m.group() for m in _TOKENS.finditer(code) if _is_duration(m.group())]


def keep_units(text: str, written: str) -> str:
    """`text` with each duration in the units its author used (`written` is the source line): largest
    first, none larger than the largest written, so `7d` stays `7d`, `1w` stays `1w` and `30m1h` becomes
    `1h30m`. Unchanged when the durations of the two lines do not pair up one to one."""
    ours, theirs = _durations(text), _durations(written)
    if len(ours) != len(theirs) or any(parse_duration(a) != parse_duration(b) for a, b in zip(ours, theirs)):
        return text
    # (each is a duration of a journey that parsed: it reads as one)
    pieces = iter(in_units(cast(int, parse_duration(w)),
                           min((c for c in w if c in UNIT_MS), key="wdhms".index)) for w in theirs)
    return _TOKENS.sub(lambda m: next(pieces) if _is_duration(m.group()) else m.group(), text)


def _is_duration(token: str) -> bool:
    return token[0].isdigit() and token[-1] in UNIT_MS


def in_units(ms: int, largest: str) -> str:
    """`ms` written largest unit first, using no unit larger than `largest` (one of w d h m s)."""
    out = []
    for unit in "wdhms"["wdhms".index(largest):]:
        n, ms = divmod(ms, UNIT_MS[unit])
        if n:
            out.append(f"{n}{unit}")
    return "".join(out) or "0s"


def quote(text: str) -> str:
    """A double-quoted string that the parser reads back as `text`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def number(value) -> str:
    """A number as the grammar writes it (no exponent); a float keeps its `.0` so it stays a float."""
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    if "e" in text or "E" in text:
        from decimal import Decimal
        text = format(Decimal(text), "f")
    return text if "." in text else text + ".0"


def _share(value: float) -> str:
    """A count or percentage the parser reads with float(): 10.0 -> 10, 12.5 -> 12.5."""
    return str(int(value)) if float(value).is_integer() else number(value)


def event_name(name: str) -> str:
    return name if IDENTIFIER.fullmatch(name) and name not in KEYWORDS else quote(name)


def _match(m: ast.EventMatch, where_at: int = OR) -> str:
    return event_name(m.event) + (f" where {expr(m.where, where_at)}" if m.where is not None else "")


def _unless(matches: list) -> str:
    # `or` separates the events, so each `where` is read as an and-expression
    return " or ".join(_match(m, AND) for m in matches)


def _with(assignments: list) -> str:
    return " with " + ", ".join(f"{a.name} = {expr(a.value)}" for a in assignments) if assignments else ""


def setting(s: ast.Setting) -> str:
    v = s.value
    if s.kind == "description":
        return f"description {quote(v)}"
    if s.kind == "audience":
        return f"audience {expr(v)}"
    if s.kind == "reentry":
        if v.mode == "after":
            return f"reentry after {duration(v.after)}"
        return f"reentry {v.mode}" + (f" by {expr(v.by)}" if v.by is not None else "")
    if s.kind == "goal":
        return f"goal {_match(v[0])} within {duration(v[1])}"
    if s.kind == "exit_on":
        return f"exit on {_match(v)}"
    if s.kind == "quiet_hours":
        return f"quiet hours {format_time_of_day(v[0])}-{format_time_of_day(v[1])}"
    if s.kind == "cap":
        channel = f"{v.channel} " if v.channel else ""
        return f"cap {channel}{_share(v.count)} per {duration(v.per)}"
    if s.kind == "holdout":
        return f"holdout {_share(v)}%"
    if s.kind == "timezone":
        return f"timezone {quote(v)}"
    raise ValueError(f"unknown setting {s.kind}")


def _date(trig) -> str:
    return f"date {expr(trig.date)}" + (" yearly" if trig.yearly else "") + \
        (f" at {format_time_of_day(trig.at)}" if trig.at is not None else "")


def simple_step(step) -> str:
    if isinstance(step, ast.Wait):
        return f"wait {duration(step.duration)}" + (f" unless {_unless(step.unless)}" if step.unless else "")
    if isinstance(step, ast.WaitUntil):
        at = format_time_of_day(step.minute) if step.minute is not None else None
        if step.instant is None:
            return f"wait until {at}"
        return f"wait until {expr(step.instant)}" + (f" at {at}" if at else "")
    if isinstance(step, ast.Send):
        targets = " or ".join(t.channel + (f" {quote(t.template)}" if t.template is not None else "")
                              for t in step.targets)
        return f"send {targets}{_with(step.variables)}"
    if isinstance(step, ast.SetTrait):
        return f"set {'.'.join(step.path)} = {expr(step.value)}"
    if isinstance(step, ast.Emit):
        return f"emit {event_name(step.event)}{_with(step.variables)}"
    if isinstance(step, ast.Exit):
        return "exit"
    raise TypeError(f"not a one-line step: {step!r}")


SIMPLE_STEPS = (ast.Wait, ast.WaitUntil, ast.Send, ast.SetTrait, ast.Emit, ast.Exit)


# ---- the layout: one _Line per output line ------------------------------------------------------

@dataclass
class _Line:
    """depth: block level; anchor: where it came from in the source (a line number, or ("before", n) for
    the code line just above line n, or ("first",) / ("keyword", word)); blanks: single blank lines kept
    from the source before it; first: first line of its block (never a blank line before it);
    gap: always one blank line before it."""

    depth: int
    text: str
    anchor: object = None
    blanks: bool = False
    first: bool = False
    gap: bool = False


class _Layout:
    def __init__(self, src: "_Source"):
        self.src = src
        self.out: list[_Line] = []

    def document(self, tree) -> list[_Line]:
        if isinstance(tree, ast.Segment):
            self._segment(tree)
        else:
            self._journey(tree)
        return self.out

    def _segment(self, seg: ast.Segment):
        self.out.append(_Line(0, f"segment {seg.id}" + (f" {quote(seg.title)}" if seg.title is not None else ""),
                              ("first",), blanks=True))
        if seg.description is not None:
            self.out.append(_Line(1, f"description {quote(seg.description)}", ("keyword", "description"), first=True))
        self.out.append(_Line(1, f"where {expr(seg.where)}", seg.where.span.line, first=seg.description is None))

    def _journey(self, j: ast.Journey):
        depth = 0
        if j.id is not None:
            self.out.append(_Line(0, f"journey {j.id}" + (f" {quote(j.title)}" if j.title is not None else ""),
                                  ("first",), blanks=True))
            depth = 1
        settings = sorted(j.settings, key=lambda s: SETTING_ORDER.index(s.kind))
        for i, s in enumerate(settings):
            self.out.append(_Line(depth, setting(s), s.span.line, first=i == 0))
        trig = j.trigger
        text = "on " + (_match(trig.match) if trig.match is not None else _date(trig))
        if trig.within is not None:
            text += f" within {duration(trig.within)}"
            if trig.unless:
                text += f" unless {_unless(trig.unless)}"
        chained = self._chain_length(j.steps, trig.span.line)
        text += "".join(ARROW + simple_step(s) for s in j.steps[:chained])
        self.out.append(_Line(depth, text, trig.span.line, blanks=True, first=not settings, gap=bool(settings)))
        self._steps(j.steps[chained:], depth, first=False)

    def _chain_length(self, steps: list, line: int) -> int:
        """How many of `steps`, from the first, were written on (logical) line `line`."""
        n = 0
        while n < len(steps) and isinstance(steps[n], SIMPLE_STEPS) and self.src.same_line(steps[n].span.line, line):
            n += 1
        return n

    def _steps(self, steps: list, depth: int, first: bool = True):
        i = 0
        while i < len(steps):
            step = steps[i]
            if isinstance(step, SIMPLE_STEPS):
                n = max(self._chain_length(steps[i:], step.span.line), 1)
                text = ARROW.join(simple_step(s) for s in steps[i:i + n])
                self.out.append(_Line(depth, text, step.span.line, blanks=True, first=first))
                i += n
            else:
                getattr(self, "_" + type(step).__name__)(step, depth, first)
                i += 1
            first = False

    def _clause(self, depth: int, text: str, anchor, steps: list, first: bool):
        self.out.append(_Line(depth, text, anchor, blanks=True, first=first))
        self._steps(steps, depth + 1)

    def _If(self, step: ast.If, depth: int, first: bool):
        for i, (cond, body) in enumerate(step.branches):
            self._clause(depth, ("else if " if i else "if ") + expr(cond), cond.span.line if i else step.span.line,
                         body, first and i == 0)
        if step.otherwise:
            self._clause(depth, "else", ("before", step.otherwise[0].span.line), step.otherwise, False)

    def _When(self, step: ast.When, depth: int, first: bool):
        for i, c in enumerate(step.clauses):
            window = f" within {duration(c.within)}" if c.within is not None else ""  # as written: may be left out
            text = ("or when " if i else "when ") + _match(c.match) + window
            self._clause(depth, text, c.span.line, c.steps, first and i == 0)
        if step.otherwise:
            self._clause(depth, "otherwise", ("before", step.otherwise[0].span.line), step.otherwise, False)

    def _Split(self, step: ast.Split, depth: int, first: bool):
        self.out.append(_Line(depth, "split", step.span.line, blanks=True, first=first))
        for i, arm in enumerate(step.arms):
            self._clause(depth + 1, f"{arm.name} {_share(arm.percent)}%", arm.span.line, arm.steps, i == 0)


# ---- comments: recovered from the source text, woven back by line --------------------------------

BLANK = None  # an item of a line's lead-in: a blank line (comments are their text)


class _Source:
    """The source split into logical lines (a line and the lines its open parentheses carry on to),
    each with the comments that lead into it and the comments at its end."""

    def __init__(self, text: str):
        self.logical: dict[int, int] = {}  # physical line -> first line of its logical line
        self.code_lines: list[int] = []  # first lines of logical lines holding code, in order
        self.code: dict[int, str] = {}
        self.lead: dict[int, list] = {}
        self.trail: dict[int, list] = {}
        pending: list = []
        depth = start = 0  # (start: set by the code line whose parentheses are open, before depth > 0)
        for n, raw in enumerate(text.split("\n"), 1):
            code, comment = _split_comment(raw.rstrip("\r"))
            if depth > 0:  # inside parentheses: everything belongs to the open logical line
                self.logical[n] = start
                self.code[start] += " " + code.strip()
                if comment and not code.strip():
                    self.lead[start].append(comment)
                elif comment:
                    self.trail[start].append(comment)
            elif code.strip():
                start = n
                self.logical[n] = n
                self.code_lines.append(n)
                self.code[n] = code.strip()
                self.lead[n], pending = pending, []
                self.trail[n] = [comment] if comment else []
            elif comment:
                pending.append(comment)
            elif pending[-1:] != [BLANK]:
                pending.append(BLANK)
            if code.strip():
                depth = max(depth + _paren_balance(code), 0)
        while pending and pending[-1] is BLANK:
            pending.pop()
        self.tail = pending

    def same_line(self, a: int, b: int) -> bool:
        return self.logical.get(a, a) == self.logical.get(b, b)

    def resolve(self, anchor) -> int | None:
        if isinstance(anchor, int):
            return self.logical.get(anchor)
        if anchor[0] == "first":
            return self.code_lines[0] if self.code_lines else None
        if anchor[0] == "keyword":
            return next((n for n in self.code_lines if re.match(anchor[1] + r"\b", self.code[n])), None)
        here = self.logical.get(anchor[1])
        i = self.code_lines.index(here) if here in self.code_lines else 0
        return self.code_lines[i - 1] if i > 0 else None


def _split_comment(line: str) -> tuple[str, str | None]:
    """(code, comment) of one physical line; a `#` inside a quoted string is not a comment."""
    in_string = escaped = False
    for i, ch in enumerate(line):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "#":
            return line[:i], line[i:].rstrip()
    return line, None


def _paren_balance(code: str) -> int:
    balance, in_string, escaped = 0, False, False
    for ch in code:
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "([":
            balance += 1
        elif ch in ")]":
            balance -= 1
    return balance


def _weave(lines: list[_Line], src: _Source) -> str:
    targets = [src.resolve(ln.anchor) for ln in lines]
    claimed = set(targets)
    carried: list = []  # comments of code lines no output line claims go to the next one that is claimed
    for n in src.code_lines:
        lead = carried + src.lead[n]
        if n in claimed:
            src.lead[n], carried = lead, []
        else:
            carried = lead + src.trail[n]
    tail = carried + src.tail
    out: list[str] = []
    for ln, target in zip(lines, targets):
        lead = src.lead.pop(target, []) if target is not None else []
        trail = src.trail.pop(target, []) if target is not None else []
        lead += trail[1:]  # a logical line over several lines may end several of them with a comment
        if not ln.blanks:
            lead = [c for c in lead if c is not BLANK]
        lead = [c for i, c in enumerate(lead) if c is not BLANK or i == 0 or lead[i - 1] is not BLANK]
        opens_with_blank = bool(lead) and lead[0] is BLANK
        lead = lead[1:] if opens_with_blank else lead
        if out and (ln.gap or (opens_with_blank and not ln.first)):
            out.append("")
        pad = INDENT * ln.depth
        text = keep_units(ln.text, src.code[target]) if target is not None else ln.text
        out += ["" if c is BLANK else pad + c for c in lead]
        out.append(pad + text + (f"  {trail[0]}" if trail else ""))
    if tail:
        if tail[0] is BLANK:
            out.append("")
        out += [c for c in tail if c is not BLANK]
    return "\n".join(out) + "\n"
