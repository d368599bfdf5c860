"""The journey test format, `NAME.test.yaml`, read and checked: every problem with its line.

`NAME.test.yaml` sits next to `NAME.journey`. Each case replays a few events for
one customer through every journey and segment of that folder (so `emit` chains
and segments work as in production), with the same `Engine` and `replay` that
`journeyctl simulate` uses, and compares the actions of the journey under test
with what the case expects.

    # journeys/cart_recovery.test.yaml
    journey: cart_recovery           # optional: the journey under test; default the one in NAME.journey
    start: 2026-01-05T09:00:00Z      # optional: the instant `+0` means (default 2026-01-05T09:00:00Z, a Monday)
    customer: c1                     # optional: the customer of every case (default c1)
    profile:                         # optional: starting traits, applied as an identify call at +0
      first_name: Ana
      marketing_consent: true
      phone: "+351900000001"
    config:                          # optional: overrides of journeyctl.yaml for this file
      default_timezone: Europe/Lisbon  # also `channels:` (merged) and `allowed_lateness:`

    cases:
      - name: reminder on WhatsApp after 30 minutes
        profile: {ltv: 900}          # merged over the file's profile
        events:                      # in arrival order; `at` is relative to start
          - {at: +0, event: cart_abandoned, properties: {cart_value: 80, cart_url: "https://x/c/1"}}
          - {at: +2h, identify: {phone: null}}        # an identify call: traits merged into the profile
          - {at: +3h, event: purchase, customer: c2}  # another customer; `message_id:` to test duplicates
        until: +3d                   # run the clock to here at the end (default: 30d after the last event
                                     # or the latest expected `at`, whichever is later)
        expect:                      # each must match a different action; unlisted fields match anything
          - {at: +30m, channel: whatsapp, template: cart_reminder, variables: {name: Ana}}
          - {at: +1d30m, template: cart_reminder_vip, status: send}
        expect_absent:               # no action may match any of these
          - {template: cart_reminder}
        exact: true                  # optional: fail on any compared action that `expect` does not list

A case may also give its own `customer` and `start`. Relative times are `+` and
a duration: `+0`, `+45s`, `+29m`, `+1d2h`, `+1w`. Fields of an expected action:
`at`, `channel`, `template`, `status` (`send`, `suppressed`, `held_out`,
`unreachable`; in `expect` it defaults to `send`), `variables` (those listed must
be equal; others may be there too), `customer`, `journey` (default: the journey
under test; name another to check an `emit` chain). Only actions of the journey
under test, and of journeys an expectation names, are compared and shown.

Loading (`load_test_file`) raises `TestFileError` with every problem found and the
YAML line of each. Running a case is runner.py (it never raises for what a test
says), comparing what happened with what was expected matcher.py, finding the files
discover.py; the command line is engine/cli/tests.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from journeyctl.dsl.compiler import valid_timezone
from journeyctl.dsl.project.yamlfile import YamlProblem, construct, read_yaml
from journeyctl.dsl.diagnostics import did_you_mean
from journeyctl.dsl.durations import format_duration, parse_duration

from journeyctl.engine.core.events import parse_instant

SUFFIXES = (".test.yaml", ".test.yml")
DEFAULT_START = "2026-01-05T09:00:00Z"
DEFAULT_CUSTOMER = "c1"
STATUSES = ("send", "suppressed", "held_out", "unreachable")

FILE_KEYS = ("journey", "start", "customer", "profile", "config", "cases")
CASE_KEYS = ("name", "customer", "start", "profile", "events", "until", "expect", "expect_absent", "exact")
EVENT_KEYS = ("at", "event", "identify", "properties", "customer", "message_id")
EXPECTED_ACTION_KEYS = ("at", "channel", "template", "status", "variables", "customer", "journey")
CONFIG_KEYS = ("channels", "default_timezone", "allowed_lateness")


# ---- relative times ---------------------------------------------------------------------------

def parse_relative(text) -> int:
    """`+0`, `+29m`, `+1d2h` (the `+` may be left out) to milliseconds after the test's start."""
    raw = str(text).strip()
    body = raw[1:] if raw.startswith("+") else raw
    if body == "0":
        return 0
    ms = parse_duration(body)
    if ms is None:
        raise ValueError(f"{raw!r} is not a relative time; write + and a duration: +0, +30m, +1d2h")
    return ms


def format_relative(ms: int) -> str:
    return "+0" if ms == 0 else ("-" if ms < 0 else "+") + format_duration(abs(ms))


# ---- the test file, loaded --------------------------------------------------------------------

@dataclass
class Problem:
    """Something wrong with a test file, where it is (1-based) and what would fix it."""

    path: str
    line: int
    column: int
    message: str
    hint: str | None = None


class TestFileError(Exception):
    """A test file that cannot be run as written. problems: every one found, in file order."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, problems: list[Problem], source: str | None = None):
        super().__init__("; ".join(f"{p.path}:{p.line}: {p.message}" for p in problems))
        self.problems = problems
        self.source = source


@dataclass
class EventStep:
    at: int                      # ms after start
    name: str                    # "identify" for an identify call
    properties: dict
    customer: str
    message_id: str
    traits: dict | None = None
    line: int = 0


@dataclass
class Expected:
    fields: dict                 # the fields given: at (ms after start), channel, template, status, customer, journey
    variables: dict | None
    line: int

    @property
    def journey(self) -> str | None:
        return self.fields.get("journey")


@dataclass
class Case:
    name: str
    line: int
    customer: str
    start: int                   # epoch ms
    profile: dict
    events: list[EventStep]
    until: int | None            # ms after start
    expect: list[Expected]
    expect_absent: list[Expected]
    exact: bool = False


@dataclass
class TestFile:
    __test__ = False

    path: str
    journey: str | None          # the id given with `journey:`, else None: the one in NAME.journey
    journey_line: int
    config: dict                 # overrides of the project config, as validated
    cases: list[Case]

    @property
    def journey_path(self) -> Path:
        """NAME.journey beside NAME.test.yaml."""
        p = Path(self.path)
        name = p.name
        for suffix in SUFFIXES:
            if name.endswith(suffix):
                name = name[: -len(suffix)]
                break
        return p.with_name(name + ".journey")


class _Reader:
    """Walks the composed YAML nodes next to the loaded data, so every problem can name its line."""

    def __init__(self, path: str):
        self.path = path
        self.problems: list[Problem] = []

    def fail(self, node, message: str, hint: str | None = None) -> None:
        mark = node.start_mark if node is not None else None
        self.problems.append(Problem(self.path, mark.line + 1 if mark else 1, mark.column + 1 if mark else 1,
                                     message, hint))

    def mapping(self, node, what: str, keys: tuple) -> dict:
        """{key: (key node, value node)} of a mapping, reporting unknown and repeated keys."""
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{what} must be a mapping (key: value lines), not {_kind_of(node)}")
            return {}
        out: dict = {}
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            if key not in keys:
                close = did_you_mean(str(key), keys)
                self.fail(k, f"unknown key {key!r} in {what}",
                          f'did you mean "{close}"?' if close else "keys: " + ", ".join(keys))
            elif key in out:
                self.fail(k, f"key {key!r} is given twice in {what}",
                          f"the first one is at line {out[key][0].start_mark.line + 1}; keep one")
            else:
                out[key] = (k, v)
        return out

    def text(self, node, what: str) -> str | None:
        if isinstance(node, yaml.ScalarNode) and node.value != "" and node.tag != "tag:yaml.org,2002:null":
            return node.value
        self.fail(node, f"{what} must be a text, not {_kind_of(node)}")
        return None

    def relative(self, node, what: str) -> int | None:
        if isinstance(node, yaml.ScalarNode):
            try:
                return parse_relative(node.value)
            except ValueError as e:
                hint = f"a number alone has no unit: write +{node.value}m or +{node.value}s" \
                    if node.value.isdigit() else None
                self.fail(node, f"{what}: {e}", hint)
                return None
        self.fail(node, f"{what} must be a relative time like +30m, not {_kind_of(node)}")
        return None

    def instant(self, node, what: str) -> int | None:
        value = self.text(node, what)
        if value is None:
            return None
        try:
            return parse_instant(value)
        except ValueError as e:
            self.fail(node, f"{what}: {e}")
            return None

    def values(self, node, what: str) -> dict | None:
        """A mapping of plain values (properties, traits, variables), as YAML loads it."""
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{what} must be a mapping of names to values, not {_kind_of(node)}")
            return None
        return _construct(node)

    def items(self, node, what: str) -> list:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, f"{what} must be a list (lines starting with -), not {_kind_of(node)}")
            return []
        return node.value

    def flag(self, node, what: str) -> bool:
        value = _construct(node)
        if isinstance(value, bool):
            return value
        self.fail(node, f"{what} must be true or false, not {_kind_of(node)}")
        return False


def _construct(node):
    return construct(node, "test")


def _kind_of(node) -> str:
    if node is None:
        return "nothing"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == "tag:yaml.org,2002:null":
        return "empty"
    return f"{node.value!r}"


def load_test_file(path: str | Path) -> TestFile:
    """Read and check a test file; raises TestFileError with every problem and its line (an unreadable file,
    one over 1 MB, not YAML, nested too deep or too big with its aliases expanded included)."""
    path = str(path)
    try:
        doc = read_yaml(path, "test")
    except YamlProblem as e:
        raise TestFileError([Problem(path, e.line or 1, e.column or 1, e.message, e.hint)],
                            e.text) from None
    root, text = doc.root, doc.text
    r = _Reader(path)
    if root is None:
        raise TestFileError([Problem(path, 1, 1, "this test file is empty", "give it a list of cases: cases:")], text)
    top = r.mapping(root, "the test file", FILE_KEYS)
    journey = r.text(top["journey"][1], "journey") if "journey" in top else None
    journey_line = top["journey"][1].start_mark.line + 1 if "journey" in top else 1
    start = r.instant(top["start"][1], "start") if "start" in top else parse_instant(DEFAULT_START)
    customer = r.text(top["customer"][1], "customer") if "customer" in top else DEFAULT_CUSTOMER
    profile = r.values(top["profile"][1], "profile") if "profile" in top else {}
    config = _config(r, top["config"][1]) if "config" in top else {}
    cases: list[Case] = []
    if "cases" not in top:
        if isinstance(root, yaml.MappingNode):
            r.fail(root, "the test file has no cases", "add `cases:` with a list of cases, each with a name")
    else:
        names: dict = {}
        for node in r.items(top["cases"][1], "cases"):
            case = _case(r, node, start or 0, customer or DEFAULT_CUSTOMER, profile or {})
            if case is None:
                continue
            if case.name in names:
                r.fail(node, f"a case named {case.name!r} is already at line {names[case.name]}",
                       "give each case its own name")
            names.setdefault(case.name, case.line)
            cases.append(case)
        if not cases and not r.problems:
            r.fail(top["cases"][1], "the list of cases is empty")
    if r.problems:
        r.problems.sort(key=lambda p: (p.line, p.column))
        raise TestFileError(r.problems, text)
    return TestFile(path, journey, journey_line, config, cases)


def _config(r: _Reader, node) -> dict:
    keys = r.mapping(node, "config", CONFIG_KEYS)
    out: dict = {}
    if "channels" in keys:
        channels = r.values(keys["channels"][1], "config.channels")
        for name, trait in (channels or {}).items():
            if not isinstance(trait, (str, type(None))):
                r.fail(keys["channels"][1], f"config.channels.{name} must be a profile trait name or empty")
        out["channels"] = channels or {}
    if "default_timezone" in keys:
        tz = r.text(keys["default_timezone"][1], "config.default_timezone")
        if tz is not None and not valid_timezone(tz):
            r.fail(keys["default_timezone"][1], f'"{tz}" is not a time zone', 'use an IANA name like "Europe/Paris"')
        out["default_timezone"] = tz
    if "allowed_lateness" in keys:
        text = r.text(keys["allowed_lateness"][1], "config.allowed_lateness")
        ms = parse_duration(text) if text is not None else None
        if text is not None and ms is None:
            r.fail(keys["allowed_lateness"][1], f"config.allowed_lateness: {text!r} is not a duration like 5s")
        out["allowed_lateness"] = ms
    return out


def _case(r: _Reader, node, start: int, customer: str, profile: dict) -> Case | None:
    keys = r.mapping(node, "a case", CASE_KEYS)
    if not isinstance(node, yaml.MappingNode):
        return None
    if "name" not in keys:
        r.fail(node, "this case has no name", "add `name:` saying what the case shows")
    name = (r.text(keys["name"][1], "name") if "name" in keys else None) or f"case at line {node.start_mark.line + 1}"
    customer = r.text(keys["customer"][1], "customer") if "customer" in keys else customer
    start = r.instant(keys["start"][1], "start") if "start" in keys else start
    own = r.values(keys["profile"][1], "profile") if "profile" in keys else {}
    events = []
    for i, ev in enumerate(r.items(keys["events"][1], "events") if "events" in keys else [], 1):
        step = _event(r, ev, i, customer or DEFAULT_CUSTOMER)
        if step is not None:
            events.append(step)
    if "events" not in keys and "profile" not in keys and not profile:
        # (a profile alone is an input: an identify call at +0, which is all a date journey needs)
        r.fail(node, f"case {name!r} has no events", "add `events:`, a list like  - {at: +0, event: signup}")
    until = r.relative(keys["until"][1], "until") if "until" in keys else None
    expect = [e for e in (_action(r, n, "expect") for n in
                          (r.items(keys["expect"][1], "expect") if "expect" in keys else [])) if e]
    absent = [e for e in (_action(r, n, "expect_absent") for n in
                          (r.items(keys["expect_absent"][1], "expect_absent") if "expect_absent" in keys else [])) if e]
    exact = r.flag(keys["exact"][1], "exact") if "exact" in keys else False
    if "expect" not in keys and "expect_absent" not in keys and not exact:
        r.fail(node, f"case {name!r} expects nothing",
               "add `expect:` (actions that must happen) or `expect_absent:` (actions that must not); "
               "`exact: true` with no `expect` means no action at all")
    return Case(name, node.start_mark.line + 1, customer or DEFAULT_CUSTOMER, start or 0,
                {**profile, **(own or {})}, events, until, expect, absent, exact)


def _event(r: _Reader, node, index: int, customer: str) -> EventStep | None:
    known = len(r.problems)
    keys = r.mapping(node, "an event", EVENT_KEYS)
    if not isinstance(node, yaml.MappingNode):
        return None
    misspelt = len(r.problems) > known
    line = node.start_mark.line + 1
    if "at" not in keys:
        r.fail(node, "this event has no time", "add `at:`, a time after the start like +0 or +30m")
    at = r.relative(keys["at"][1], "at") if "at" in keys else None
    who = r.text(keys["customer"][1], "customer") if "customer" in keys else customer
    mid = r.text(keys["message_id"][1], "message_id") if "message_id" in keys else f"e{index}"
    if ("event" in keys) == ("identify" in keys):
        if not misspelt:  # `evnt:` has been reported already, with "did you mean"
            r.fail(node, "an event needs exactly one of `event:` (a track event) and `identify:` (traits)",
                   "write  event: cart_abandoned  with properties, or  identify: {phone: ...}")
        return None
    if "identify" in keys:
        if "properties" in keys:
            r.fail(keys["properties"][0], "an identify call has traits, not properties")
        traits = r.values(keys["identify"][1], "identify")
        if at is None or traits is None:
            return None
        return EventStep(at, "identify", {}, who, mid, traits, line)
    name = r.text(keys["event"][1], "event")
    props = r.values(keys["properties"][1], "properties") if "properties" in keys else {}
    if at is None or name is None or props is None:
        return None
    return EventStep(at, name, props, who, mid, None, line)


def _action(r: _Reader, node, what: str) -> Expected | None:
    keys = r.mapping(node, f"an action in {what}", EXPECTED_ACTION_KEYS)
    if not isinstance(node, yaml.MappingNode):
        return None
    fields: dict = {}
    for key in ("channel", "template", "status", "customer", "journey"):
        if key in keys:
            fields[key] = r.text(keys[key][1], key)
    if "at" in keys:
        fields["at"] = r.relative(keys["at"][1], "at")
    status = fields.get("status")
    if status is not None and status not in STATUSES:
        close = did_you_mean(status, STATUSES)
        r.fail(keys["status"][1], f"{status!r} is not an action status",
               f'did you mean "{close}"?' if close else "statuses: " + ", ".join(STATUSES))
    if what == "expect" and "status" not in keys:
        fields["status"] = "send"
    variables = r.values(keys["variables"][1], "variables") if "variables" in keys else None
    if not keys and what == "expect_absent":
        r.fail(node, "an empty action here would match every action", "name at least one field, like template:")
    return Expected(fields, variables, node.start_mark.line + 1)

