"""Events in: one JSON object becomes one `Event`, or a `BadEvent` saying why not.

Pure (no I/O), so the engine, the readers and the Kafka edge all judge input the
same way. The field names and dead-letter reasons are the contract of
LANGUAGE.md section 9; times follow section 6 (epoch milliseconds, UTC).

Decisions the spec leaves open:
- A field whose value is null or "" counts as absent, so the next name in the
  table is tried. Segment sends `"userId": null` with an `anonymousId` for
  anonymous visitors, and that must still find the customer.
- Time text without a zone (`2026-03-02T10:00:00`) is `bad_time`: RFC 3339
  requires one, and guessing UTC would silently shift a customer's waits and
  quiet hours by hours.
- The first name present decides: a present but unusable `timestamp` is `bad_time`
  even when `ts` would do, because quietly using another field hides a broken sender.
- `type: "identify"` always makes an identify call, whatever else is present.
- A message id that is neither text nor a number is replaced by the hash.
- Fractional seconds beyond milliseconds are dropped (toward the past), so an
  event never appears later than it was stamped.
- A value the engine could not carry through is refused here, with a reason, rather
  than failing later in a store, a Kafka key or the calendar (README "Limits"):
  ids of more than MAX_ID_CHARS characters or with control characters (`bad_id`),
  objects nested deeper than MAX_DEPTH (`too_deep`), times outside EVENT_RANGE.
- A numeric id keeps its exact value: 18446744073709551616 and 18446744073709551617
  are two customers, although a JSON reader gives both as the same float.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import orjson

from journeyctl.dsl.ir import MAX_DURATION_MS

try:  # Cython's pure-Python mode: True only where this module is compiled (scripts/build_fast.py, events.pxd)
    import cython  # type: ignore[import-untyped,import-not-found,unused-ignore]
except ImportError:  # no Cython installed: this is the pure build (a stand-in, so that `cython.compiled` reads
    from types import SimpleNamespace  # as Cython reads it: _shape)
    cython = SimpleNamespace(compiled=False)  # type: ignore[assignment,unused-ignore]
COMPILED = cython.compiled

# Dead-letter reasons (section 9). `late` is decided by the engine, not here.
REASONS = ("invalid_json", "not_an_object", "missing_event", "missing_customer",
           "missing_time", "bad_time", "late", "too_large",
           "future",  # in `run`: stamped past the wall clock plus the allowed clock skew
           "engine_error",  # applying it raised an unexpected error: the rest of the input goes on
           # ours, beyond the spec (README "Limits"): values the engine cannot carry through
           "bad_id", "too_deep",
           "null_value")  # ours: a Kafka record without a value (a tombstone), told apart from an empty one

EVENT_NAMES = ("event", "type", "name")
CUSTOMER_NAMES = ("customer_id", "userId", "user_id", "anonymousId")
TIME_NAMES = ("timestamp", "ts", "time")
PROPERTY_NAMES = ("properties", "props")
MESSAGE_ID_NAMES = ("message_id", "messageId", "id")
# `type` values that say what kind of call this is rather than naming the event.
CALL_TYPES = ("identify", "track")
# Never copied into properties when these are taken from the remaining fields.
ENVELOPE = frozenset(EVENT_NAMES + CUSTOMER_NAMES + TIME_NAMES + PROPERTY_NAMES
                     + MESSAGE_ID_NAMES + ("traits",))

DAY_MS = 86_400_000
_EPOCH = date(1970, 1, 1)
# The instants format_instant can write (years 0001-9999), so every accepted time can be printed.
MIN_MS = (date.min - _EPOCH).days * DAY_MS
MAX_MS = ((date.max - _EPOCH).days + 1) * DAY_MS - 1
# The times an event may carry: a day inside the years 0001-9999 at the start, so every time zone has
# a local date for it, and at the end room for the longest wait (MAX_DURATION_MS) and a day more, so
# every instant computed from an event (a due time, the end of quiet hours) can still be written.
EVENT_MIN_MS = MIN_MS + DAY_MS
EVENT_MAX_MS = (date(9899, 12, 31) - _EPOCH).days * DAY_MS + DAY_MS - 1
assert EVENT_MAX_MS + MAX_DURATION_MS + 2 * DAY_MS < MAX_MS
EVENT_RANGE = "0001-01-02T00:00:00.000Z to 9899-12-31T23:59:59.999Z"
MAX_ID_CHARS = 512  # customer and message ids: room for any real id, and far inside a PostgreSQL index row
MAX_DEPTH = 64      # levels of objects and lists in one event, the event itself being the first


@dataclass  # (no slots=True: the compiled build makes it an extension type, events.pxd, which has no dict either)
class Event:
    """One usable input event.

    time: epoch milliseconds, UTC. properties: the event's own data.
    message_id: the sender's id, or "h:" + a hash of the whole object, for dedup.
    traits: set only for identify calls (then name is "identify"); test
      `traits is not None`, not the name, since a track event may be called "identify".
    raw_size: bytes of the input, for metrics and size limits.
    """

    name: str
    customer_id: str
    time: int
    properties: dict
    message_id: str
    traits: dict | None = None
    raw_size: int = 0


class BadEvent(Exception):
    """An input that goes to the dead-letter output. reason: one of REASONS; detail: plain words."""

    def __init__(self, reason: str, detail: str):
        assert reason in REASONS, reason
        super().__init__(reason, detail)  # both in args, so it pickles across processes
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


# ---------------------------------------------------------------- times

_RFC3339 = re.compile(
    r"(\d{4}-\d\d-\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:[Zz]|([+-])(\d\d):(\d\d))", re.ASCII)
_NAIVE = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(:\d\d(\.\d+)?)?", re.ASCII)
_MINUTE = re.compile(r"(\d{4}-\d\d-\d\d)[Tt ](\d\d):(\d\d):", re.ASCII)
_EXAMPLE = "2026-03-02T22:00:00.000Z"
# Lookups that also validate: a key that is not two or three ASCII digits is simply absent.
_SECOND_MS = {f"{i:02d}": i * 1000 for i in range(60)}
_MILLI = {f"{i:03d}": i for i in range(1000)}
# "YYYY-MM-DDTHH:MM:" -> epoch ms, and epoch minute -> that text. Events arrive roughly in
# time order, so a replay touches few minutes at a time; the caches are dropped when full.
_minute_ms: dict[str, int] = {}
_minute_text: dict[int, str] = {}
# the rest of a written time, "SS.mmmZ", from its seconds and milliseconds: looked up, not formatted (an
# f-string's two format specs were half of format_instant's cost, which runs once per action written)
_SECONDS = [f"{s:02d}." for s in range(60)]
_MILLIS = [f"{m:03d}Z" for m in range(1000)]
_CACHE_LIMIT = 100_000


def _day_start(day_text: str) -> int:
    try:
        return (date.fromisoformat(day_text) - _EPOCH).days * DAY_MS
    except ValueError:
        raise ValueError(f"{day_text} is not a real date") from None


def _clock_ms(text: str, h: int, m: int, s: int) -> int:
    if h > 23 or m > 59 or s > 59:
        raise ValueError(f"{_show(text)} has no such time of day (hours 00-23, minutes and seconds 00-59)")
    return ((h * 60 + m) * 60 + s) * 1000


def _minute_start(prefix: str) -> int | None:
    m = _MINUTE.fullmatch(prefix)
    if m is None:
        return None
    ms = _day_start(m[1]) + _clock_ms(prefix, int(m[2]), int(m[3]), 0)
    if len(_minute_ms) >= _CACHE_LIMIT:
        _minute_ms.clear()
    _minute_ms[prefix] = ms
    return ms


def parse_instant(text: str) -> int:
    """RFC 3339 text to epoch ms (UTC); also accepts a space for the `T`.

    This runs once per event, so the usual `YYYY-MM-DDTHH:MM:SS.mmmZ` is answered from
    dictionaries (_usual_instant) and only other shapes meet the regex.
    """
    ms = _usual_instant(text) if type(text) is str else None
    return _parse_general(text) if ms is None else ms


def _usual_instant(text: str) -> int | None:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` to epoch ms from dictionaries (minute prefix, seconds, milliseconds), or
    None for any other text. Only for exact `str`: the compiled build reads the text's length and
    characters in C (events.pxd), and the event reader, which has checked the type, calls it first."""
    if len(text) == 24 and text[23] in "Zz" and text[19] == ".":
        if COMPILED:
            return _usual_instant_in_c(text)
        s = _SECOND_MS.get(text[17:19])
        milli = _MILLI.get(text[20:23])
        if s is not None and milli is not None:
            base = _minute_ms.get(text[:17])
            if base is None:
                base = _minute_start(text[:17])
            if base is not None:
                return base + s + milli
    return None


_last_minute = ""  # the compiled build's last minute prefix ("YYYY-MM-DDTHH:MM:") and its epoch ms
_last_minute_ms = 0


def _usual_instant_in_c(text: str) -> int | None:
    """_usual_instant's answer, for the compiled build only: the seconds and milliseconds read as digits and the
    minute compared with the last one, all in C, where three slices and three lookups of new strings were a
    tenth of the compiled core's time to read an event. (In Python the lookups are the faster way.)"""
    global _last_minute, _last_minute_ms
    s = _digits(text, 17, 19)
    milli = _digits(text, 20, 23)
    if s < 0 or s >= 60 or milli < 0:
        return None
    if not _last_minute or not text.startswith(_last_minute):
        prefix = text[:17]
        base = _minute_ms.get(prefix)
        if base is None:
            base = _minute_start(prefix)
            if base is None:
                return None
        _last_minute, _last_minute_ms = prefix, base
    return _last_minute_ms + s * 1000 + milli


def _digits(text: str, start: int, end: int) -> int:
    """The number written by ASCII digits text[start:end], or -1 when one is no such digit."""
    n = 0
    for i in range(start, end):
        d = ord(text[i]) - 48
        if d < 0 or d > 9:
            return -1
        n = n * 10 + d
    return n


def _parse_general(text: str) -> int:
    m = _RFC3339.fullmatch(text)
    if m is None:
        if _NAIVE.fullmatch(text):
            raise ValueError(f"{_show(text)} has no time zone; add Z for UTC or an offset such as +02:00")
        raise ValueError(f"{_show(text)} is not an RFC 3339 time such as {_EXAMPLE}")
    day, h, mi, s, frac, sign, oh, om = m.groups()
    ms = _day_start(day) + _clock_ms(text, int(h), int(mi), int(s)) + int((frac or "0")[:3].ljust(3, "0"))
    if sign:
        if int(oh) > 23 or int(om) > 59:
            raise ValueError(f"{_show(text)} has an impossible offset {sign}{oh}:{om}")
        offset = (int(oh) * 60 + int(om)) * 60_000
        ms += -offset if sign == "+" else offset
    if not MIN_MS <= ms <= MAX_MS:
        raise ValueError(f"{_show(text)} is outside the years 0001-9999")
    return ms


def format_instant(ms: int) -> str:
    """Epoch ms to RFC 3339 UTC with milliseconds, the one shape every output uses."""
    minute, rest = divmod(ms, 60_000)
    prefix = _minute_text.get(minute)
    if prefix is None:
        if not MIN_MS <= ms <= MAX_MS:
            raise ValueError(f"{ms} ms since 1970 is outside the years 0001-9999")
        day, m = divmod(minute, 1440)
        prefix = f"{(_EPOCH + timedelta(days=day)).isoformat()}T{m // 60:02d}:{m % 60:02d}:"
        if len(_minute_text) >= _CACHE_LIMIT:
            _minute_text.clear()
        _minute_text[minute] = prefix
    s, milli = divmod(rest, 1000)
    return prefix + _SECONDS[s] + _MILLIS[milli]


def show_instant(ms: int) -> str:
    """format_instant for messages, which must never fail: an instant past the years 0001-9999 (a timer
    set there by a chain of long waits) is said in words."""
    if MIN_MS <= ms <= MAX_MS:
        return format_instant(ms)
    return f"{ms} ms since 1970 ({'after 9999' if ms > MAX_MS else 'before 0001'})"


# ---------------------------------------------------------------- events

_KIND = {dict: "an object", list: "a list", str: "text", int: "a number", float: "a number",
         bool: "true or false", type(None): "null"}


def _kind(value) -> str:
    return _KIND.get(type(value), type(value).__name__)


def _show(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _first(obj: dict, names: tuple[str, ...]):
    """(name, value) of the first name present with a value other than null or ""."""
    for name in names:
        value = obj.get(name)
        if value is not None and value != "":
            return name, value
    return None, None


# Characters no id may hold: C0 and C1 controls (NUL, ESC, ...) and lone surrogates. PostgreSQL refuses
# NUL in text, and a control character in an id would reach terminals and logs as an escape sequence.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def id_problem(text: str) -> str | None:
    """Why `text` cannot be an id (customer or message), in words, or None when it can."""
    if len(text) > MAX_ID_CHARS:
        return f"is {len(text):,} characters long; ids have at most {MAX_ID_CHARS}"
    if not (text.isascii() and text.isprintable()):
        bad = _CONTROL.search(text)
        if bad is not None:
            return f"holds the control character U+{ord(bad[0]):04X} at character {bad.start() + 1}"
    return None


def _text_id(value, name: str, raw) -> str | None:
    """Ids arrive as text or numbers; both become text, so 42 and "42" are the same customer. None
    when the value is neither; BadEvent `bad_id` when the text is past the limits (id_problem)."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > 4 * MAX_ID_CHARS:  # (str() of a number that long is refused anyway)
            raise BadEvent("bad_id", f"field {name!r} is a number of more than {MAX_ID_CHARS} digits")
        text = str(value)
    elif isinstance(value, float) and math.isfinite(value):
        text = _number_text(_exact(raw, name) or Decimal(repr(value)))
    else:
        return None
    problem = id_problem(text)
    if problem is not None:
        raise BadEvent("bad_id", f"field {name!r} {problem}")
    return text


def _exact(raw, name: str) -> Decimal | int | None:
    """The exact number a top-level field holds in the raw JSON. The fast reader gives every number
    past 64 bits, and every fraction, as a float, and two ids must not become one by rounding."""
    if raw is None:
        return None
    try:
        value = json.loads(raw, parse_float=Decimal).get(name)
    except (ValueError, RecursionError, AttributeError):
        return None
    return value if isinstance(value, (Decimal, int)) and not isinstance(value, bool) else None


def _number_text(number: Decimal | int) -> str:
    """A number id's text: its digits when it is whole (42, 42.0 and 4.2e1 are customer "42"),
    else its shortest plain decimal form."""
    d = Decimal(number)
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def _event_name(obj: dict) -> str:
    for name in EVENT_NAMES:
        value = obj.get(name)
        if value is None or value == "" or (name == "type" and value in CALL_TYPES):
            continue
        if not isinstance(value, str):
            raise BadEvent("missing_event", f"field {name!r} should be text but is {_kind(value)}")
        return value
    raise BadEvent("missing_event", "no event name: give one in 'event', 'type' or 'name'")


def _time(obj: dict) -> int:
    name, value = _first(obj, TIME_NAMES)
    if name is None:
        raise BadEvent("missing_time", "no time: give 'timestamp', 'ts' or 'time' "
                                       f"as RFC 3339 text ({_EXAMPLE}) or epoch milliseconds")
    if isinstance(value, str):
        try:
            ms = parse_instant(value)
        except ValueError as e:
            raise BadEvent("bad_time", f"field {name!r}: {e}") from None
        if not EVENT_MIN_MS <= ms <= EVENT_MAX_MS:
            raise BadEvent("bad_time", f"field {name!r}: {_show(value)} is outside the times an event may "
                                       f"carry, {EVENT_RANGE}")
        return ms
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise BadEvent("bad_time", f"field {name!r} is not a finite number")
        ms = math.floor(value)
        if not EVENT_MIN_MS <= ms <= EVENT_MAX_MS:
            raise BadEvent("bad_time", f"field {name!r}: {_show(value)} ms since 1970 is outside the times an "
                                       f"event may carry, {EVENT_RANGE}")
        return ms
    raise BadEvent("bad_time", f"field {name!r} should be RFC 3339 text or epoch milliseconds, "
                               f"but is {_kind(value)}")


def _object_field(obj: dict, name: str) -> dict:
    value = obj[name]
    if not isinstance(value, dict):
        raise BadEvent("not_an_object", f"field {name!r} should be an object but is {_kind(value)}")
    return value


def _canonical(obj: dict) -> bytes:
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except (orjson.JSONEncodeError, TypeError):  # objects built in code: huge ints, odd types
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          default=repr).encode("utf-8", "surrogatepass")


def message_hash(obj: dict) -> str:
    """The id of an object that brought none: equal objects get equal ids in every run,
    so a re-sent line is dropped as a duplicate."""
    return "h:" + hashlib.sha1(_canonical(obj)).hexdigest()


_BRACKETS: dict[type, tuple] = {bytes: (b"{", b"["), bytearray: (b"{", b"["), str: ("{", "[")}


def _check_depth(obj, raw) -> None:
    """BadEvent `too_deep` when `obj` is nested deeper than MAX_DEPTH. The raw JSON answers most
    events without a walk: it cannot be deeper than it has brackets."""
    brackets = _BRACKETS.get(type(raw))
    if brackets is not None and raw.count(brackets[0]) + raw.count(brackets[1]) <= MAX_DEPTH:
        return
    stack = [(obj, 1)]
    while stack:  # no recursion: depth is what is in question
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadEvent("too_deep", f"objects and lists are nested more than {MAX_DEPTH} levels deep")
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list, tuple)):
                stack.append((child, depth + 1))


def event_from_object(obj, raw_size: int, raw: bytes | str | None = None) -> Event:
    """Apply section 9 to a decoded value; raw_size is the size of its encoded form, raw that form
    when there is one (JSON, for exact numeric ids)."""
    if not isinstance(obj, dict):
        raise BadEvent("not_an_object", f"an event must be a JSON object, this is {_kind(obj)}")
    _check_depth(obj, raw)
    fast = _fast(obj, raw_size) if type(obj) is dict else None  # (a dict subclass takes the general path)
    if fast is not None:
        return fast
    identify = obj.get("type") == "identify"
    name = "identify" if identify else _event_name(obj)
    field, customer = _first(obj, CUSTOMER_NAMES)
    if field is None:
        raise BadEvent("missing_customer", "no customer: give 'customer_id', 'userId', 'user_id' or 'anonymousId'")
    customer_id = _text_id(customer, field, raw)
    if customer_id is None:
        raise BadEvent("missing_customer", f"field {field!r} should be text or a number but is {_kind(customer)}")
    time = _time(obj)
    field, _ = _first(obj, PROPERTY_NAMES)
    if field is not None:
        properties = _object_field(obj, field)
    else:
        properties = {k: v for k, v in obj.items() if k not in ENVELOPE}
    traits = None
    if identify:
        traits = _object_field(obj, "traits") if obj.get("traits") is not None else {}
    field, mid = _first(obj, MESSAGE_ID_NAMES)
    message_id = _text_id(mid, field, raw) if field is not None else None
    if message_id is None:
        message_id = message_hash(obj)
    return Event(name, customer_id, time, properties, message_id, traits, raw_size)


def _fast(obj: dict, raw_size: int, plain: bool = False) -> Event | None:
    """The shape nearly every producer sends (our own field names, text ids, RFC 3339 time), decided
    with five lookups; anything else takes the general path, which gives the same answer slower.
    `obj` is exactly a dict (what the JSON reader gives), so the compiled build looks up in C (events.pxd)."""
    name, cid, ts, props, mid = (obj.get("event"), obj.get("customer_id"), obj.get("timestamp"),
                                 obj.get("properties"), obj.get("message_id"))
    if (type(name) is str and name and type(cid) is str and cid and type(ts) is str and type(props) is dict
            and type(mid) is str and mid and obj.get("type") != "identify"
            and len(cid) <= MAX_ID_CHARS and len(mid) <= MAX_ID_CHARS
            and (plain or cid.isascii() and cid.isprintable() and mid.isascii() and mid.isprintable())):
        try:
            t = _usual_instant(ts)  # (raises for a day or a time of day that does not exist: 2026-02-30)
            if t is None:
                t = parse_instant(ts)
        except ValueError:
            return None  # the general path says what is wrong with the time
        if EVENT_MIN_MS <= t <= EVENT_MAX_MS:
            if COMPILED:  # its fields set in C, where calling the class parsed seven arguments (390 instructions)
                ev = Event.__new__(Event)  # (every field None)
                ev.name, ev.customer_id, ev.time, ev.properties, ev.message_id = name, cid, t, props, mid
                ev.raw_size = raw_size
                return ev
            return Event(name, cid, t, props, mid, None, raw_size)
    return None


# A line's own keys up to its first nested value, in one pass of the regex engine: the three a quick reading
# needs (each the first of its names: EVENT_NAMES, CUSTOMER_NAMES, TIME_NAMES), the time only in the shape
# every output writes (format_instant), split where parse_instant splits it; any other key holding text, a
# number, true, false or null is passed over. A key given twice: the last, as the decoder keeps it. (A line
# holding a backslash is not read at all, so every quote opens or closes a string: no key is read from inside
# one.)
_ENVELOPE = re.compile(rb'\{(?:(?:"event": ?"([^"]+)"|"customer_id": ?"([^"]+)"'
                       rb'|"timestamp": ?"(\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:)([0-5]\d)\.(\d\d\d)[Zz]"'
                       rb'|"[^"]*": ?(?:"[^"]*"|[-+.\w]+))(?:, ?|(?=\})))*')
# The same three keys first, in the order section 9's table and the examples give them: the regex engine
# reads them at a third of the cost of the pass above.
_IN_ORDER = re.compile(rb'\{"event": ?"([^"]+)", ?"customer_id": ?"([^"]+)", ?'
                       rb'"timestamp": ?"(\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:)([0-5]\d)\.(\d\d\d)[Zz]"')
_minute_ms_ascii: dict[bytes, int] = {}  # _minute_ms for the bytes of a line


def scan_event(raw: bytes, max_bytes: int = 1_000_000) -> tuple[bytes, int] | None:
    """(customer id as UTF-8, time) of a JSON line of the shape _fast takes, found in its bytes without
    decoding it, or None for any line it is not sure of (parse_event then decides). `simulate --jobs` reads a
    line of a process's share this way, for the line's time and process, where it cannot read a block of lines
    at once (engine/replay/glance.py). It
    reads only the fields it needs, so a line that is no event past them (a broken value after them, a
    message id that is no id) may still be taken for one: the process that applies it parses it and
    compares the time and the process."""
    # (only UTF-8 is JSON: _decode would refuse the line)
    if (len(raw) > max_bytes or raw[-1:] != b"}"  # (a line cut short)
            or not _plain(raw) or not raw.isascii() and not is_utf8(raw)):
        return None
    found = _IN_ORDER.match(raw) or _ENVELOPE.match(raw)
    if found is None:
        return None
    name, cid, minute, second, milli = found.groups()
    if name is None or cid is None or minute is None or len(cid) > MAX_ID_CHARS:
        return None
    base = _minute_ms_ascii.get(minute)
    if base is None:
        base = ascii_minute_start(minute)
        if base is None:
            return None
    t = base + int(second) * 1000 + int(milli)
    return (cid, t) if EVENT_MIN_MS <= t <= EVENT_MAX_MS else None


def _plain(raw: bytes) -> bool:
    """Whether no id in this JSON text can hold a character id_problem refuses. JSON holds a control
    character only as an escape (\\u0000, \\n), for C1 as the UTF-8 lead byte 0xC2 (so only in text that is
    not ASCII), or DEL as itself (JSON lets it through unescaped): without any of them, none is there.
    (find, not `in`: bytes.__contains__ first tries the bytes as an integer and builds a TypeError message,
    190 ns an event.)"""
    return raw.find(b"\\") < 0 and raw.find(b"\x7f") < 0 and (raw.isascii() or raw.find(b"\xc2") < 0)


if not cython.compiled:  # (the compiled build leaves this out, and calls C's memchr instead: events.pxd)
    def _shape(raw: bytes, size: int) -> int:
        """Twice the number of `{` and `[` in a JSON text of `size` bytes (no deeper than that), plus one when it
        is not _plain: what parse_event asks of every line's bytes. In the compiled build, memchr, where a loop
        over the bytes in C cost 1,700 instructions an event (callgrind), and calling bytes.count and bytes.find
        five times more than reading the line's JSON did."""
        return 2 * (raw.count(b"{") + raw.count(b"[")) + (not _plain(raw))


def line_shape(raw: bytes) -> int:
    """_shape of a whole line, from Python in either build (the compiled one's _shape is C's alone)."""
    return _shape(raw, len(raw))


def is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def ascii_minute_start(prefix: bytes) -> int | None:
    try:
        ms = _minute_start(prefix.decode("ascii"))
    except ValueError:  # no such day or time of day: the general path says so
        return None
    if ms is not None:
        if len(_minute_ms_ascii) >= _CACHE_LIMIT:
            _minute_ms_ascii.clear()
        _minute_ms_ascii[prefix] = ms
    return ms


def parse_event(data: bytes | str | dict, *, max_bytes: int = 1_000_000) -> Event:
    """One input (raw JSON or an already decoded object) to an Event; raises BadEvent.

    Size is checked before decoding so an oversized input costs no parsing.
    """
    if type(data) is bytes:  # what files and Kafka give: the one path that runs a million times
        size = len(data)
        if size <= max_bytes:
            obj = _decode(data)
            shape = _shape(data, size)
            if type(obj) is dict and shape >> 1 <= MAX_DEPTH:  # (_check_depth, inlined)
                fast = _fast(obj, size, not shape & 1)
                if fast is not None:
                    return fast
            return event_from_object(obj, size, data)
    if isinstance(data, dict):
        _check_depth(data, None)  # before measuring it: encoding a deep object recurses
        size = len(_canonical(data))
    elif isinstance(data, str):
        size = len(data) if data.isascii() else len(data.encode("utf-8", "surrogatepass"))
    else:
        size = len(data)
    if size > max_bytes:
        raise BadEvent("too_large", f"{size} bytes, more than the limit of {max_bytes}")
    if isinstance(data, dict):
        return event_from_object(data, size)
    return event_from_object(_decode(data), size, data)


def _decode(data: bytes | str):
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        if "recursion" in str(e).lower():  # orjson stops at 1024 levels
            raise BadEvent("too_deep", f"objects and lists are nested more than {MAX_DEPTH} levels deep") from None
        raise BadEvent("invalid_json", f"not valid JSON: {e}") from None
