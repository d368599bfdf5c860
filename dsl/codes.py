"""Every diagnostic code, in one table: the README, SARIF rule names and the tests read it.

Codes are a promise to the people who grep CI logs and silence rules: once
published, a code keeps its meaning. J0xx are about files and project set-up
(reading files, the config, the event catalog); J1xx are about what a journey
says; J2xx are about message templates (`templates/*.liquid`). Numbers that were never
used (J116-J118, J122) stay free rather than being renumbered.
"""
from __future__ import annotations

from typing import NamedTuple

from .diagnostics import ERROR, NOTE, WARNING


class Code(NamedTuple):
    severity: str
    title: str
    explanation: str


CODES: dict[str, Code] = {
    # ---- files and project ----------------------------------------------------------------
    "J001": Code(ERROR, "syntax error",
                 "The text does not follow the grammar; the message says what was expected at that point "
                 "and which block is open."),
    "J002": Code(ERROR, "tab in indentation",
                 "Blocks are indented with spaces only, because tab widths differ between editors."),
    "J003": Code(ERROR, "indentation matches no block",
                 "A line is dedented to a level that no open block started at, or indented more than the line "
                 "above when that line opens no block."),
    "J004": Code(ERROR, "empty file",
                 "The file holds no journey or segment (only blanks or comments)."),
    "J005": Code(ERROR, "not a text file",
                 "The file is binary (has NUL bytes) or is not UTF-8 text."),
    "J006": Code(ERROR, "file too large",
                 "The file is over 1 MB, far more than any journey needs; it is not read."),
    "J007": Code(ERROR, "cannot read path",
                 "The path does not exist or cannot be read (permissions, a broken link)."),
    "J008": Code(ERROR, "no journeys in folder",
                 "A folder given to check holds no `*.journey` file, at any depth (a warning when other "
                 "paths given do hold journeys)."),
    "J009": Code(ERROR, "project config error",
                 "`journeyctl.yaml` is not valid YAML or does not match the config schema."),
    "J010": Code(ERROR, "event catalog error",
                 "The event catalog is not valid YAML, or an event's schema is not a valid JSON Schema."),
    "J011": Code(ERROR, "unknown event",
                 "With an event catalog, an event that the catalog does not list."),
    "J012": Code(ERROR, "unknown property",
                 "With an event catalog, a property that the event's schema does not list."),
    "J013": Code(ERROR, "type mismatch with the catalog",
                 "A property the catalog types (number, text, true/false) is compared with a value of "
                 "another type, like `cart_value >= \"50\"` when cart_value is a number."),
    "J019": Code(NOTE, "more problems not listed",
                 "A file has more problems than are listed (50 per file, in every output format); this note "
                 "says how many more, at the first one left out."),
    # ---- the language --------------------------------------------------------------------
    "J101": Code(ERROR, "unknown channel",
                 "A channel that is neither built in nor added by the project config."),
    "J102": Code(ERROR, "unknown function",
                 "A call to a function the language does not have."),
    "J103": Code(ERROR, "bad duration",
                 "A duration that is not a number and a unit, one longer than 36500d (100 years, the longest "
                 "the engine keeps), or a wait, goal or cap window of 0s."),
    "J104": Code(ERROR, "bad time of day",
                 "A time of day outside 00:00-23:59."),
    "J105": Code(ERROR, "unknown time zone",
                 "`timezone` names no IANA time zone (like \"Europe/Paris\")."),
    "J106": Code(ERROR, "split does not sum to 100%",
                 "The shares of a split's arms must add up to exactly 100%."),
    "J107": Code(ERROR, "holdout outside 0-100%",
                 "A holdout is a share of entrants, so it lies between 0% and 100%."),
    "J108": Code(ERROR, "given twice",
                 "A setting (other than `exit on` and `cap`), a `with` variable or a segment's `where` "
                 "appears twice."),
    "J109": Code(ERROR, "unreachable steps",
                 "Steps written after `exit` in the same block can never run."),
    "J110": Code(ERROR, "`trigger.` in the trigger's own where",
                 "While the trigger is being matched there is no trigger yet; a bare name already means "
                 "its property."),
    "J111": Code(WARNING, "goal window ends before the first send",
                 "The waits before the first send outlast the goal window, so no message can cause the "
                 "conversion."),
    "J112": Code(ERROR, "empty quiet hours",
                 "Quiet hours that start and end at the same time cover nothing."),
    "J113": Code(ERROR, "concurrent re-entry without a usable key",
                 "`reentry concurrent by` must key on something from the trigger event, or every trigger "
                 "of a customer would share one key."),
    "J114": Code(ERROR, "comparison that is always wrong",
                 "A text compared with a number, or `<`/`>` with null (always false)."),
    "J115": Code(ERROR, "function called wrongly",
                 "A function given the wrong number or kind of arguments, or `where`/`within`/`.prop` "
                 "where the function has none."),
    "J119": Code(ERROR, "`set` outside the profile",
                 "`set` changes profile traits only: `set profile.NAME = ...`."),
    "J120": Code(ERROR, "segment without where",
                 "A segment needs one `where` line that says who is in it."),
    "J121": Code(ERROR, "duplicate id",
                 "Two files define a journey (or two a segment) with the same id."),
    "J123": Code(ERROR, "bad cap count",
                 "A cap allows a whole number of sends, at least 1."),
    "J124": Code(ERROR, "split arm named twice",
                 "Each arm of a split needs its own name, since results are reported by arm."),
    "J125": Code(ERROR, "unknown segment",
                 "`in_segment(...)`, or `segment == \"...\"` on a segment event, names a segment that no "
                 "checked file defines."),
    "J126": Code(ERROR, "`trigger.` inside an aggregate",
                 "Aggregates count the customer's events whatever journey they are in, so they cannot "
                 "depend on one journey's trigger."),
    "J127": Code(ERROR, "segment that never changes",
                 "A segment whose condition reads no event, aggregate or trait has the same members "
                 "forever."),
    "J128": Code(ERROR, "`when` blocks with different windows",
                 "The `when` blocks of one construct race over one window, the first block's: an `or when` "
                 "may leave `within` out, and one that repeats it gives the same duration."),
    "J129": Code(NOTE, "aggregate starts when loaded",
                 "The engine keeps only the aggregates loaded journeys and segments read, updated as events "
                 "arrive, so a new aggregate counts from the moment its file is first loaded."),
    "J130": Code(ERROR, "nested too deeply",
                 "An expression or block nested hundreds of levels deep; no real journey needs it, and it "
                 "would exhaust the checker."),
    "J131": Code(WARNING, "journey emits its own trigger",
                 "An `emit` of the journey's own trigger event starts the journey again at the same instant; "
                 "the engine stops such a chain after 1,000 emitted events and counts an `emit_loop`."),
    "J132": Code(ERROR, "number too large",
                 "A number beyond about 1.8e308 (309 digits), the largest a 64-bit float holds: past it a value "
                 "would be infinite, and no real journey compares with such a number."),
    "J133": Code(ERROR, "date journey reads an event",
                 "A journey that starts `on date` has no trigger event: its date is worked out from profile traits "
                 "whenever they change, so it reads traits, values and durations only, and its steps read traits "
                 "(`profile.x`), not trigger properties."),
    "J134": Code(WARNING, "event name one letter from another",
                 "Without an event catalog, an event name used in one place only that is one edit (a letter "
                 "added, dropped, changed, or two swapped) from a name used elsewhere: likely a slip, and an event "
                 "no input has never happens."),
    # ---- message templates -----------------------------------------------------------------
    "J201": Code(ERROR, "template syntax error",
                 "A template is not valid Liquid (an unclosed tag, an unknown filter); the position is in the "
                 "template file."),
    "J202": Code(ERROR, "missing template",
                 "A `send` names a template that has no file for one of its channels: "
                 "`templates/<template>.<channel>.liquid`."),
    "J203": Code(ERROR, "variable not passed to the template",
                 "A template prints a variable that a `send` naming it does not pass with `with`; it would fail "
                 "for that send rather than print an empty string. Pass it, or give it a fallback with "
                 "`| default:`."),
    "J204": Code(ERROR, "template front matter error",
                 "A template's front matter (between `---` lines) is not valid YAML, holds an unknown key, or an "
                 "email template has no `subject`."),
}


# Notes that say the same thing of many spots: a person's text report says each once, as one line with
# how many there are ({n}), unless they ask for every spot (validate --verbose). Tools get every one.
SUMMARISED = {
    "J129": "{n} aggregate{s} count from the moment their file is first loaded; events before that are not in "
            "them (J129 notes; --verbose lists them)",
}


def summarise(diagnostics: list) -> tuple[list, list[str]]:
    """(the diagnostics without the SUMMARISED notes, one line for each summarised code found)."""
    counts: dict = {}
    kept = []
    for d in diagnostics:
        if d.code in SUMMARISED and d.severity == NOTE:
            counts[d.code] = counts.get(d.code, 0) + 1
        else:
            kept.append(d)
    return kept, [SUMMARISED[code].format(n=n, s="" if n == 1 else "s") for code, n in counts.items()]


def severity(code: str) -> str:
    return CODES[code].severity


def titles() -> dict[str, str]:
    """code -> short title: the rule descriptions SARIF shows next to each result."""
    return {code: c.title for code, c in CODES.items()}


def markdown_table() -> str:
    """The README's table of codes, generated so the docs cannot drift from the table above."""
    rows = ["| Code | Severity | Rule | What it means |", "|---|---|---|---|"]
    for code, c in CODES.items():
        explanation = c.explanation.replace("|", "\\|")
        rows.append(f"| {code} | {c.severity} | {c.title.replace('|', chr(92) + '|')} | {explanation} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
