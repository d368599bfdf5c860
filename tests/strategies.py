"""Shared hypothesis strategies: valid journey source text, mutated text, and event streams.

`journeys()` draws the text of a random VALID journey (LANGUAGE.md sections 1-8): the one-line form,
a header-less body and the full form with a header; every setting in random order; triggers with
`where` and `within ... unless ... (or ...)`; every step (wait, wait unless, wait until, send with
fallbacks and `with` variables incl. interpolated strings, set, emit, exit last in its block,
if/else if/else, when/or when/otherwise, split), nested blocks with random (consistent) indentation,
`->` and `→` chains, comments, blank lines and quoted event names; expressions with every operator at
every precedence level, parentheses, lists, literals, durations and every function.

The generator avoids exactly the things the compiler rightly rejects (see dsl/compiler.py and
dsl/expressions.py): keywords as names, `trigger.` inside the trigger's own `where` or inside an
aggregate's `where`, a text compared with a number, `<`/`>` with null, steps after `exit`, settings
given twice, zero durations, split shares not summing to 100, `when` blocks with different windows,
duplicate `with` names or split arm names, and `reentry concurrent by` without a trigger property.

`event_streams()` draws time-ordered events (engine.events.Event) for a few customers over a small
fixed set of event names, with small time steps that often land exactly on wait boundaries.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from hypothesis import strategies as st

from journeyctl.engine.core.events import Event

# ---------------------------------------------------------------------------------------------
# drawing helpers
#
# The generator is plain recursive Python over a handful of cached primitive strategies: building a
# fresh strategy object per draw (what nested @st.composite calls do) made generation ~5x slower.


@functools.lru_cache(maxsize=None)
def _sampled(options: tuple):
    return st.sampled_from(options)


@functools.lru_cache(maxsize=None)
def _ints(low: int, high: int):
    return st.integers(low, high)


def _pick(draw, options):
    return draw(_sampled(tuple(options)))


def _int(draw, low: int, high: int) -> int:
    return draw(_ints(low, high))


def _chance(draw, one_in: int) -> bool:
    """True with probability about 1/one_in."""
    return draw(_ints(0, one_in - 1)) == 0


_bools = st.booleans()

# ---------------------------------------------------------------------------------------------
# words

KEYWORDS = frozenset((
    "journey segment description audience reentry once after restart concurrent by goal within exit on "
    "quiet hours cap per holdout timezone unless where or and not in contains wait until at date yearly send "
    "with set emit if else when otherwise split true false null"
).split())
FUNCTION_NAMES = frozenset("now last_seen count sum min max avg last lower upper in_segment".split())
RESERVED = KEYWORDS | FUNCTION_NAMES | {"profile", "trigger"}

CHANNELS = ("email", "sms", "whatsapp", "push", "in_app", "webhook")
TIMEZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Asia/Kathmandu")
EVENT_POOL = ("purchase", "cart_abandoned", "app_opened", "signup_completed", "email_clicked", "account_deleted",
              "order_delivered", "review_submitted", "tier_upgraded", "page_view", "Checkout2", "_internal")
# bodies of quoted event names (Segment style), written as they appear between the quotes
QUOTED_EVENT_POOL = ("Order Completed", "Product Viewed", "cart-abandoned", "Ünïcode événement", "a#b → c",
                     'with \\"quotes\\"', "or", "where x == 1")
PROP_POOL = ("cart_value", "amount", "category", "price", "sku", "order_id", "campaign", "tier", "cart_url",
             "firstName", "x", "y2", "_z", "plan", "country", "score", "Or", "WHERE", "in_", "nothing", "sendx")

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
identifiers = st.one_of(
    st.sampled_from(PROP_POOL),
    st.builds(str.__add__, st.sampled_from(_ALNUM[:52] + "_"), st.text(_ALNUM, max_size=8)),
).filter(lambda s: s not in RESERVED)
"""Names for properties, journeys, arms, variables: never a keyword (the lexer would read a keyword)."""


def _quoted(body: str) -> str:
    return f'"{body}"'


# Characters for text literals: no `"`, `\`, line breaks, `{` or `}` (escapes come from the fixed list;
# braces only appear in deliberately interpolated `with` strings).
_TEXT_ALPHABET = st.characters(blacklist_characters='"\\\n\r{}\u2028\u2029\x85',
                               blacklist_categories=("Cs", "Cc"))
text_bodies = st.one_of(
    st.sampled_from(["", "welcome", "15%", "Hi there", "a # not a comment", "->", "→ arrow", "naïve café",
                     "tab\\there", 'quote \\" inside', "back\\\\slash", "日本語", "wait 1d", "or when"]),
    st.text(_TEXT_ALPHABET, max_size=10),
)
strings = text_bodies.map(_quoted)
event_names = st.one_of(st.sampled_from(EVENT_POOL), identifiers, st.sampled_from(QUOTED_EVENT_POOL).map(_quoted))

# ---------------------------------------------------------------------------------------------
# durations and times

_UNIT_MS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000}
_unit_sets = st.lists(st.sampled_from("wdhms"), min_size=1, max_size=3, unique=True)


def _duration(draw) -> str:
    """`45s`, `1h30m`, `1d12h`, sometimes units out of order (the grammar sums any); never zero."""
    units = draw(_unit_sets)
    if draw(_bools):
        units.sort(key="wdhms".index)
    parts = [(_int(draw, 0, 99), u) for u in units]
    if sum(n * _UNIT_MS[u] for n, u in parts) == 0:
        parts.append((_int(draw, 1, 59), "m"))
    return "".join(f"{n}{u}" for n, u in parts)


durations = st.composite(lambda draw: _duration(draw))()
times_of_day = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))

# ---------------------------------------------------------------------------------------------
# expressions
#
# An expression is drawn as (text, precedence, kind). Precedence follows journey.lark:
# or=1, and=2, not=3, comparison=4, sum=5, product=6, unary=7, atom=8. A sub-expression whose
# precedence is below what its slot needs is parenthesised. `kind` is the static type the compiler's
# J114 check sees (string, number, null, bool or None) so no comparison is certainly wrong; "duration" (a
# duration literal) and "instant" (now(), last_seen(), X + duration) are numbers to it, and a quoted text
# beside them would be read as a time (dsl/times.py), which it is not.

OR, AND, NOT, CMP, SUM, PRODUCT, UNARY, ATOM = range(1, 9)
NUMBERS = {"number", "duration", "instant"}
COMPARISON_OPS = ("==", "!=", "<", "<=", ">", ">=")
ORDERED_OPS = ("<", "<=", ">", ">=")


@dataclass(frozen=True)
class Scope:
    """trigger_refs: may `trigger.x` appear; aggregates: may aggregates appear (not inside one)."""

    trigger_refs: bool = True
    aggregates: bool = True


TRIGGER_SCOPE = Scope()                     # with, if, set, by, audience; unless/when/goal/exit-on where
TRIGGER_WHERE = Scope(trigger_refs=False)   # the trigger's own where (J110)
AGGREGATE_WHERE = Scope(trigger_refs=False, aggregates=False)  # J126; aggregates are not nested


def _at(expr, prec: int) -> str:
    text, p, _ = expr
    return text if p >= prec else f"({text})"


def _number(draw) -> str:
    whole = _int(draw, 0, 10_000)
    return str(whole) if draw(_bools) else f"{whole}.{_int(draw, 0, 999)}"


def _reference(draw, scope: Scope):
    kind = _pick(draw, ("bare", "dotted", "profile", "trigger") if scope.trigger_refs else ("bare", "dotted", "profile"))
    path = [draw(identifiers) for _ in range(_int(draw, 1, 2))]
    if kind == "bare":
        text = path[0]
    elif kind == "dotted":
        text = ".".join([path[0], draw(identifiers)] + path[1:])
    else:
        text = ".".join([kind] + path)
    return text, ATOM, None


_CALLS = ("now", "lower", "upper", "last_seen", "last", "count", "sum", "min", "max", "avg")


def _call(draw, scope: Scope, depth: int):
    fn = _pick(draw, _CALLS if scope.aggregates else _CALLS[:5])
    if fn == "now":
        return "now()", ATOM, "instant"
    if fn in ("lower", "upper"):
        return f"{fn}({_expr(draw, scope, depth - 1)[0]})", ATOM, None
    if fn == "last_seen":
        return f"last_seen({draw(event_names)})", ATOM, "instant"
    if fn == "last":
        return f"last({draw(event_names)}).{draw(identifiers)}", ATOM, None
    # count(E ...) or fn(E.prop ...); a bare name in the where is the aggregated event's property
    arg = draw(event_names) if fn == "count" else f"{_pick(draw, EVENT_POOL)}.{draw(identifiers)}"
    parts = [arg]
    if draw(_bools):
        parts.append("where " + _expr(draw, AGGREGATE_WHERE, depth - 1)[0])
    if draw(_bools):
        parts.append("within " + _duration(draw))
        if draw(_bools):  # per item (issue 17): the events whose property equals the current event's
            parts.append("per " + ".".join(draw(identifiers) for _ in range(_int(draw, 1, 2))))
    return f"{fn}({' '.join(parts)})", ATOM, "number"


_ATOMS = ("number", "string", "duration", "true", "false", "null", "ref", "ref")
_ATOMS_CALL = _ATOMS + ("call", "call")
_ATOMS_DEEP = _ATOMS_CALL + ("list", "paren")


def _atom(draw, scope: Scope, depth: int):
    # at depth 0 a call is still possible (its arguments are then plain atoms, depth -1)
    c = _pick(draw, _ATOMS_DEEP if depth > 0 else _ATOMS_CALL if depth == 0 else _ATOMS)
    if c == "number":
        return _number(draw), ATOM, "number"
    if c == "string":
        return draw(strings), ATOM, "string"
    if c == "duration":
        return _duration(draw), ATOM, "duration"
    if c in ("true", "false"):
        return c, ATOM, "bool"
    if c == "null":
        return "null", ATOM, "null"
    if c == "ref":
        return _reference(draw, scope)
    if c == "list":
        items = [_expr(draw, scope, depth - 1) for _ in range(_int(draw, 0, 3))]
        return "[" + ", ".join(i[0] for i in items) + "]", ATOM, None
    if c == "paren":
        inner = _expr(draw, scope, depth - 1)
        return f"({inner[0]})", ATOM, inner[2]
    return _call(draw, scope, depth)


_FORMS = ("atom", "atom", "or", "and", "not", "cmp", "cmp", "in", "not in", "contains", "sum", "product", "neg")


def _expr(draw, scope: Scope = TRIGGER_SCOPE, depth: int = 2):
    """(text, precedence, kind) of a valid expression."""
    if depth <= 0:
        return _atom(draw, scope, depth)
    form = _pick(draw, _FORMS)
    if form == "atom":
        return _atom(draw, scope, depth)

    def sub():
        return _expr(draw, scope, depth - 1)

    if form in ("or", "and"):
        prec = OR if form == "or" else AND
        items = [sub() for _ in range(_int(draw, 2, 3))]
        return f" {form} ".join(_at(i, prec + 1) for i in items), prec, None
    if form == "not":
        return "not " + _at(sub(), NOT), NOT, None
    left, right = sub(), sub()
    if form == "cmp":
        op = _pick(draw, COMPARISON_OPS)
        if "string" in {left[2], right[2]} and {left[2], right[2]} & NUMBERS:  # J114: a text and a number
            right = _reference(draw, scope)
        if "null" in {left[2], right[2]} and op in ORDERED_OPS:  # J114: `<` with null is always false
            op = _pick(draw, ("==", "!="))
        return f"{_at(left, SUM)} {op} {_at(right, SUM)}", CMP, None
    if form in ("in", "not in", "contains"):
        return f"{_at(left, SUM)} {form} {_at(right, SUM)}", CMP, None
    if form == "sum":
        op = _pick(draw, "+-")
        kinds = {left[2], right[2]}
        if "string" in kinds and kinds & {"duration", "instant"}:  # the text would be read as a time
            left, right = [_reference(draw, scope) if k[2] == "string" else k for k in (left, right)]
        shifted = "duration" in kinds  # X + 1d is an instant when X is one (or may hold one)
        return (f"{_at(left, SUM)} {op} {_at(right, PRODUCT)}", SUM,
                "instant" if shifted else "number" if op == "-" else None)
    if form == "product":
        op = _pick(draw, "*/")
        return f"{_at(left, PRODUCT)} {op} {_at(right, UNARY)}", PRODUCT, "number"
    return "- " + _at(left, UNARY), UNARY, None


def _expr_text(draw, scope: Scope = TRIGGER_SCOPE, depth: int = 2, min_prec: int = OR) -> str:
    return _at(_expr(draw, scope, depth), min_prec)


@st.composite
def expressions(draw, scope: Scope = TRIGGER_SCOPE, depth: int = 3) -> str:
    """Text of a valid expression for `scope`."""
    return _expr_text(draw, scope, depth)


# ---------------------------------------------------------------------------------------------
# clauses and steps


def _event_match(draw, scope: Scope = TRIGGER_SCOPE, min_prec: int = OR, depth: int = 2) -> str:
    name = draw(event_names)
    if draw(_bools):
        return f"{name} where {_expr_text(draw, scope, depth, min_prec)}"
    return name


def _unless_list(draw) -> str:
    # `unless E where X or F`: `or` separates events, so each where is an and-expression (precedence >= AND)
    return " or ".join(_event_match(draw, TRIGGER_SCOPE, AND, 1) for _ in range(_int(draw, 1, 3)))


_HOLES = ("profile.first_name", "trigger.cart_url", "cart_value", "count(purchase)", "upper(profile.city)",
          "now()", "last(purchase).amount", "amount * 2", "lower(trigger.name) + \" \"")


def _interpolated(draw) -> str:
    pieces = []
    for _ in range(_int(draw, 1, 4)):
        if draw(_bools):
            pieces.append(draw(text_bodies))
        else:
            hole = _pick(draw, _HOLES) if draw(_bools) else _reference(draw, TRIGGER_SCOPE)[0]
            pieces.append("{" + hole.replace('"', '\\"') + "}")
    if not any(p.startswith("{") for p in pieces):
        pieces.append("{profile.first_name}")
    return _quoted("".join(pieces))


def _with(draw) -> str:
    names = draw(st.lists(identifiers, min_size=1, max_size=3, unique=True))
    values = [_interpolated(draw) if _chance(draw, 3) else _expr_text(draw, TRIGGER_SCOPE, 2) for _ in names]
    return "with " + ", ".join(f"{n} = {v}" for n, v in zip(names, values))


def _send(draw) -> str:
    targets = []
    for _ in range(_int(draw, 1, 3)):
        ch = _pick(draw, CHANNELS)
        targets.append(f"{ch} {draw(strings)}" if draw(_bools) else ch)
    text = "send " + " or ".join(targets)
    return text + " " + _with(draw) if draw(_bools) else text


_SIMPLE = ("wait", "wait_unless", "wait_until", "wait_until_instant", "send", "send", "set", "emit")


def _simple_step(draw) -> str:
    kind = _pick(draw, _SIMPLE)
    if kind == "wait":
        return f"wait {_duration(draw)}"
    if kind == "wait_unless":
        return f"wait {_duration(draw)} unless {_unless_list(draw)}"
    if kind == "wait_until":
        return f"wait until {draw(times_of_day)}"
    if kind == "wait_until_instant":  # a value read as a time, maybe offset by a duration, maybe at a time of day
        instant = _reference(draw, TRIGGER_SCOPE)[0] + (f" - {_duration(draw)}" if draw(_bools) else "")
        return f"wait until {instant}" + (f" at {draw(times_of_day)}" if draw(_bools) else "")
    if kind == "send":
        return _send(draw)
    if kind == "set":
        path = ".".join(["profile"] + [draw(identifiers) for _ in range(_int(draw, 1, 2))])
        return f"set {path} = {_expr_text(draw, TRIGGER_SCOPE, 2)}"
    text = f"emit {draw(event_names)}"
    return text + " " + _with(draw) if draw(_bools) else text


simple_steps = st.composite(lambda draw: _simple_step(draw))()


def _chain(draw, steps: list) -> str:
    return "".join(f" {_pick(draw, ('->', '→'))} {s}" for s in steps)


# ---------------------------------------------------------------------------------------------
# blocks: lists of (indent, text) lines. An `exit` only ever ends its block (J109).


def _block(draw, indent: int, depth: int, min_steps: int = 1) -> list:
    lines: list = []
    n = _int(draw, min_steps, 3)
    for i in range(n):
        kind = _pick(draw, ("line", "line", "line", "if", "when", "split") if depth > 0 else ("line",))
        if kind == "line":
            steps = [_simple_step(draw) for _ in range(_int(draw, 1, 2))]
            if i == n - 1 and _chance(draw, 5):
                steps.append("exit")
            lines.append((indent, steps[0] + _chain(draw, steps[1:])))
        else:
            lines += _compound(draw, kind, indent, depth - 1)
    return lines


def _deeper(draw, indent: int) -> int:
    return indent + _int(draw, 1, 4)


def _compound(draw, kind: str, indent: int, depth: int) -> list:
    lines: list = []
    if kind == "if":
        lines.append((indent, f"if {_expr_text(draw, TRIGGER_SCOPE, 2)}"))
        lines += _block(draw, _deeper(draw, indent), depth)
        for _ in range(_int(draw, 0, 2)):
            lines.append((indent, f"else if {_expr_text(draw, TRIGGER_SCOPE, 2)}"))
            lines += _block(draw, _deeper(draw, indent), depth)
        if draw(_bools):
            lines.append((indent, "else"))
            lines += _block(draw, _deeper(draw, indent), depth)
    elif kind == "when":
        within = _duration(draw)  # the clauses of one construct race over one window (J128)
        for i in range(_int(draw, 1, 3)):
            window = f" within {within}" if i == 0 or draw(_bools) else ""  # an `or when` may leave it out
            lines.append((indent, f"{'or ' if i else ''}when {_event_match(draw)}{window}"))
            lines += _block(draw, _deeper(draw, indent), depth)
        if draw(_bools):
            lines.append((indent, "otherwise"))
            lines += _block(draw, _deeper(draw, indent), depth)
    else:
        lines.append((indent, "split"))
        shares = _split_shares(draw)
        arm_names = draw(st.lists(identifiers, min_size=len(shares), max_size=len(shares), unique=True))
        arm_indent = _deeper(draw, indent)
        for name, share in zip(arm_names, shares):
            lines.append((arm_indent, f"{name} {share}%"))
            lines += _block(draw, _deeper(draw, arm_indent), depth)
    return lines


def _split_shares(draw) -> list:
    """Shares as written, summing to exactly 100 (halves are exact in binary floating point)."""
    n = _int(draw, 1, 4)
    cuts = sorted(_int(draw, 0, 200) for _ in range(n - 1))
    parts = [b - a for a, b in zip([0] + cuts, cuts + [200])]
    return [str(p // 2) if p % 2 == 0 else f"{p // 2}.5" for p in parts]


# ---------------------------------------------------------------------------------------------
# settings, the trigger, whole journeys

SETTING_KINDS = ("description", "audience", "reentry", "goal", "exit_on", "quiet_hours", "cap", "holdout",
                 "timezone")
_REENTRY = ("once", "after", "restart", "concurrent", "concurrent by")
_CONCURRENT_KEYS = ("order_id", "trigger.order_id", "lower(trigger.email)", 'order_id + "-" + profile.region',
                    "[sku, size]")


def _setting(draw, kind: str) -> str:
    if kind == "description":
        return f"description {draw(strings)}"
    if kind == "audience":
        return f"audience {_expr_text(draw, TRIGGER_SCOPE, 3)}"
    if kind == "reentry":
        rule = _pick(draw, _REENTRY)
        if rule == "after":
            return f"reentry after {_duration(draw)}"
        if rule == "concurrent by":  # the key must read the trigger (J113)
            return f"reentry concurrent by {_pick(draw, _CONCURRENT_KEYS)}"
        return f"reentry {rule}"
    if kind == "goal":
        return f"goal {_event_match(draw)} within {_duration(draw)}"
    if kind == "exit_on":
        return f"exit on {_event_match(draw)}"
    if kind == "quiet_hours":
        start, end = draw(times_of_day), draw(times_of_day)
        if start == end:  # J112: an empty window
            end = "23:59" if start != "23:59" else "00:00"
        return f"quiet hours {start}{_pick(draw, ('-', ' - '))}{end}"
    if kind == "cap":
        ch = _pick(draw, ("",) + CHANNELS)
        return f"cap {ch + ' ' if ch else ''}{_int(draw, 1, 20)} per {_duration(draw)}"
    if kind == "holdout":
        n = _int(draw, 0, 100)
        return f"holdout {n}%" if n == 100 or draw(_bools) else f"holdout {n}.5%"
    return f'timezone "{_pick(draw, TIMEZONES)}"'


def _settings(draw) -> list:
    """Each setting at most once (`exit on` and `cap` may repeat), in random order."""
    kinds = draw(st.lists(st.sampled_from(SETTING_KINDS), unique=True, max_size=len(SETTING_KINDS)))
    kinds += ["exit_on", "cap"][: _int(draw, 0, 2)] if draw(_bools) else []
    kinds = draw(st.permutations(kinds))
    return [_setting(draw, k) for k in kinds]


def _trigger(draw) -> str:
    text = f"on {draw(event_names)}"
    if draw(_bools):
        text += f" where {_expr_text(draw, TRIGGER_WHERE, 2)}"
    if draw(_bools):
        text += f" within {_duration(draw)} unless {_unless_list(draw)}"
    return text


def _comment(draw) -> str:
    return "# " + draw(_comment_text)


_comment_text = st.text(st.characters(blacklist_characters="\n\r\u2028\u2029\x85", blacklist_categories=("Cs", "Cc")),
                        max_size=12)


def _render(draw, lines: list) -> str:
    """Lines to text, with comment lines (at any indentation), blank lines, trailing comments, and with
    or without a final newline."""
    out = []
    for indent, text in lines:
        if _chance(draw, 8):
            out.append(" " * _int(draw, 0, 6) + _comment(draw))
        if _chance(draw, 10):
            out.append(" " * _int(draw, 0, 3))
        trailer = f"  {_comment(draw)}" if _chance(draw, 8) else ""
        out.append(" " * indent + text + trailer)
    return "\n".join(out) + _pick(draw, ("", "\n", "\n\n", "\n# the end\n"))


@st.composite
def one_liners(draw) -> str:
    """`on EVENT ... -> step -> step`, the shortest form."""
    chain = [_simple_step(draw) for _ in range(_int(draw, 1, 3))]
    if _chance(draw, 5):
        chain.append("exit")
    return _trigger(draw) + _chain(draw, chain) + _pick(draw, ("", "\n", "  # done\n"))


@st.composite
def full_journeys(draw, header: bool = True) -> str:
    """Settings, trigger (maybe with a chain), then the flow; under a `journey` header or at the top level."""
    lines: list = []
    base = 0
    if header:
        title = f" {draw(strings)}" if draw(_bools) else ""
        lines.append((0, f"journey {draw(identifiers)}{title}"))
        base = _int(draw, 1, 4)
    lines += [(base, s) for s in _settings(draw)]
    chain = [_simple_step(draw) for _ in range(_int(draw, 0, 2))]
    if _chance(draw, 6):
        chain.append("exit")
    lines.append((base, _trigger(draw) + _chain(draw, chain)))
    if not chain or chain[-1] != "exit":
        lines += _block(draw, base, depth=2, min_steps=0 if chain else 1)
    return _render(draw, lines)


def journeys() -> st.SearchStrategy[str]:
    """Source text of a random valid journey: one-liner, header-less body, or the full form."""
    return st.one_of(one_liners(), full_journeys(header=False), full_journeys(header=True))


# ---------------------------------------------------------------------------------------------
# mutations of valid text and near-grammatical token soup

MUTATION_CHARS = st.one_of(
    st.sampled_from(list(" \n\t\x00\"#-→>%:.,=()[]{}\\") + ["é", "\ufeff", "😀", "\u200b", "\r", "\x0b",
                                                                "\x0c", "\x1d", "\x85", "\u2028", "\u2029"]),
    st.characters(blacklist_categories=("Cs",)),
)


@st.composite
def mutations(draw, text: str) -> str:
    """Delete, insert, swap or replace characters, truncate, insert tabs or NUL bytes, or re-indent."""
    chars = list(text)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "insert", "swap", "replace", "truncate", "tab", "nul", "dup_line",
                                   "indent"]))
        pos = draw(st.integers(0, max(len(chars), 1) - 1)) if chars else 0
        if op == "delete" and chars:
            del chars[pos: pos + draw(st.integers(1, 5))]
        elif op == "insert":
            chars[pos:pos] = list(draw(st.text(MUTATION_CHARS, min_size=1, max_size=4)))
        elif op == "swap" and len(chars) > 1:
            other = draw(st.integers(0, len(chars) - 1))
            chars[pos], chars[other] = chars[other], chars[pos]
        elif op == "replace" and chars:
            chars[pos] = draw(MUTATION_CHARS)
        elif op == "truncate":
            chars = chars[:pos]
        elif op == "tab":
            chars[pos:pos] = ["\t"]
        elif op == "nul":
            chars[pos:pos] = ["\x00"]
        elif op == "dup_line":
            lines = "".join(chars).split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])
            chars = list("\n".join(lines))
        elif op == "indent":
            lines = "".join(chars).split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines[i] = " " * draw(st.integers(0, 5)) + lines[i].lstrip(" ")
            chars = list("\n".join(lines))
    return "".join(chars)


mutated_journeys = journeys().flatmap(mutations)

TOKENS = sorted(KEYWORDS) + ["->", "→", "(", ")", "[", "]", ",", "=", "==", "!=", "<", "<=", ">", ">=", "+", "-",
                             "*", "/", "%", ".", "30m", "1h30m", "0s", "99:99", "21:00", "08:00", "50", "1.5",
                             '"x"', '"unterminated', "email", "whatsap", "unles", "profile.ltv", "trigger.x",
                             "count(", "now()", "last(purchase).amount", "#", "\n", "\n  ", "\n    ", "\t", "\x00",
                             "\r\n", "\r", "\x0c", "\u2028", "\x85"]
token_soup = st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join)

# ---------------------------------------------------------------------------------------------
# event streams

T0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z, a Sunday; DST ends in the US that day
STEP_MS = (0, 1_000, 5_000, 60_000, 10 * 60_000, 30 * 60_000, 3_600_000, 2 * 3_600_000, 6 * 3_600_000,
           86_400_000)

PROPERTY_VALUES = {
    "cart_value": st.sampled_from([0, 10, 50, 150, 151, 199.5]),
    "amount": st.sampled_from([0, 100, 150, 151, 180, 200]),
    "category": st.sampled_from(["running_shoes", "hats"]),
    "price": st.sampled_from([10, 190, 191, 199]),
    "sku": st.sampled_from(["s1", "s2"]),
    "order_id": st.sampled_from(["o1", "o2", "o3"]),
    "campaign": st.sampled_from(["spring", "fall"]),
    "tier": st.sampled_from(["gold", "silver"]),
}
TRAIT_VALUES = {
    "first_name": st.sampled_from(["Alex", "Sam"]),
    "loyal": st.booleans(),
    "ltv": st.sampled_from([0, 50, 150, 600]),
    "tier": st.sampled_from(["gold", "silver"]),
    "timezone": st.sampled_from(["UTC", "Asia/Kolkata", "America/New_York", "Not/AZone"]),
    "unsubscribed": st.sampled_from([[], ["whatsapp"], ["email", "sms"]]),
    "phone": st.sampled_from(["", "+33100000000"]),
}


@st.composite
def _props(draw, table: dict) -> dict:
    keys = draw(st.lists(st.sampled_from(sorted(table)), unique=True, max_size=len(table)))
    return {k: draw(table[k]) for k in sorted(keys)}


@st.composite
def event_streams(draw, names, customers=("c0", "c1", "c2"), min_size: int = 1, max_size: int = 40,
                  identify: bool = True) -> list:
    """Events in time order (stamps never decrease) with unique message ids m0, m1, ..."""
    names = sorted(names)
    n = draw(st.integers(min_size, max_size))
    t = T0 + draw(st.integers(0, 86_399)) * 1000
    out = []
    for i in range(n):
        t += draw(st.sampled_from(STEP_MS))
        cid = draw(st.sampled_from(customers))
        if identify and draw(st.integers(0, 7)) == 0:
            out.append(Event("identify", cid, t, {}, f"m{i}", traits=draw(_props(TRAIT_VALUES))))
        else:
            out.append(Event(draw(st.sampled_from(names)), cid, t, draw(_props(PROPERTY_VALUES)), f"m{i}"))
    return out
