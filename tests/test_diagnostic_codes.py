"""Every check, by its exact words: code, line, column, message and hint.

The messages are the product here (a marketer reads them in a CI log), so they
are asserted in full; a change of wording shows up as a test diff to review.
Cases are data: (source, code, line, column, message, hint).
"""
import os
import re
from contextlib import contextmanager
from pathlib import Path

import pytest

from journeyctl.dsl.project.catalog import load_catalog
from journeyctl.dsl.codes import CODES, markdown_table
from journeyctl.dsl.compiler import Options, compile_text
from journeyctl.dsl.project.config import load_config
from journeyctl.dsl.project.loader import load_paths

SEGMENTS = {"loyal_runners"}

# ---- one file, one problem ---------------------------------------------------------------------

CASES = {
    # common slips, in plain words
    "unles": ("on cart within 30m unles purchase -> send email\n",
              "J001", 1, 20, "unexpected 'unles'; expected \"unless\"", 'did you mean "unless"?'),
    "unles_in_block": ("journey j\n  on cart\n  wait 1d unles purchase\n  send email\n",
                       "J001", 3, 11, "unexpected 'unles'; expected \"unless\" or -> or the end of the line "
                                      "(inside the block opened at line 1: `journey j`)", 'did you mean "unless"?'),
    "missing_within": ("on cart 30m unless purchase -> send email\n",
                       "J001", 1, 9, "unexpected '30m'; expected \"where\" or \"within\" or -> or the end of the line",
                       "add `within` before the time limit: within 30m unless EVENT"),
    "missing_within_and_time": ("on cart unless purchase -> send email\n",
                                "J001", 1, 9, "unexpected 'unless'; expected \"where\" or \"within\" or -> or the "
                                              "end of the line", "add the time limit: within 30m unless EVENT"),
    "misspelt_step": ("journey j\n  on cart\n  if x > 1\n    sned email\n",
                      "J001", 4, 5, "unexpected 'sned'; expected \"emit\" or \"exit\" or \"if\" or \"send\" or \"set\" "
                                    "or \"split\" ... (inside the block opened at line 3: `if x > 1`)",
                      'did you mean "send"?'),
    "no_unit": ("journey j\n  on cart\n  wait 30x\n  send email\n",
                "J001", 3, 8, "unexpected '30'; expected \"until\" or a duration like 30m (inside the block opened "
                              "at line 1: `journey j`)",
                "durations are a number and a unit: 45s, 30m, 2h, 1d, 1w, or sums like 1h30m"),
    "line_ends_early": ("journey j\n  goal purchase within\n  on cart -> send email\n",
                        "J001", 2, 23, "this line ends too early; expected a duration like 30m (inside the block "
                                       "opened at line 1: `journey j`)",
                        "durations are a number and a unit: 45s, 30m, 2h, 1d, 1w, or sums like 1h30m"),
    "bad_hole": ('on a -> send email with x = "Hi {profile.}"\n',
                 "J001", 1, 29, "cannot read {profile.} inside this text", "a hole holds a name like {profile.first_name}"),
    "tab": ("journey j\n\ton cart\n", "J002", 2, 1, "a tab is used for indentation",
            "indent with spaces only (two per level is the convention)"),
    "dedent": ("journey j\n  on cart\n  if x > 1\n      send email\n    send sms\n",
               "J003", 5, 1, "this line's indentation matches no open block",
               "indent it exactly as far as the line it belongs with"),
    # the language's checks
    "whatsap": ("on cart -> send whatsap\n", "J101", 1, 17, 'unknown channel "whatsap"', 'did you mean "whatsapp"?'),
    "pigeon": ("on cart -> send pigeon\n", "J101", 1, 17, 'unknown channel "pigeon"',
               "channels: email, sms, whatsapp, push, in_app, webhook"),
    "cap_channel": ("journey j\n  cap whatsap 1 per 1d\n  on a -> send email\n", "J101", 2, 3,
                    'unknown channel "whatsap"', 'did you mean "whatsapp"?'),
    "lowr": ('on cart where lowr(x) == "a" -> send email\n', "J102", 1, 15, "unknown function lowr()",
             "did you mean lower()?"),
    "frobnicate": ("on cart where frobnicate(x) > 1 -> send email\n", "J102", 1, 15, "unknown function frobnicate()",
                   "functions: avg, count, in_segment, last, last_seen, lower, max, min, now, sum, upper"),
    "wait_0s": ("on cart -> wait 0s -> send email\n", "J103", 1, 12, "a wait of 0s does nothing",
                "use a duration like 30m"),
    "cap_0s": ("journey j\n  cap 1 per 0s\n  on a -> send email\n", "J103", 2, 3,
               "a cap needs a window longer than 0s", None),
    "goal_0s": ("journey j\n  goal b within 0m\n  on a -> send email\n", "J103", 2, 3,
                "a goal needs a window longer than 0s", None),
    # issue 15 items 4, 11, 12: a value the engine cannot keep is refused here, with a position
    "wait_too_long": ("on a -> wait 999999999999w -> send email\n", "J103", 1, 14,
                      "999999999999w is longer than 36500d (100 years), the longest duration there is",
                      "durations are a number and a unit: 45s, 30m, 2h, 1d, 1w, up to 36500d"),
    "window_just_too_long": ("on a where count(a within 36500d1s) > 1 -> send email\n", "J103", 1, 27,
                             "36500d1s is longer than 36500d (100 years), the longest duration there is",
                             "durations are a number and a unit: 45s, 30m, 2h, 1d, 1w, up to 36500d"),
    "duration_5000_digits": ("on a -> wait " + "9" * 5000 + "d -> send email\n", "J103", 1, 14,
                             "9" * 40 + "... is longer than 36500d (100 years), the longest duration there is",
                             "durations are a number and a unit: 45s, 30m, 2h, 1d, 1w, up to 36500d"),
    "integer_4400_digits": ("on a where x == 1" + "0" * 4400 + " -> send email\n", "J132", 1, 17,
                            "1" + "0" * 23 + "... (4,401 characters) is too large a number",
                            "numbers go up to about 1.8e308 (309 digits)"),
    "decimal_infinite": ("on a where x == 1" + "0" * 400 + ".5 -> send email\n", "J132", 1, 17,
                         "1" + "0" * 23 + "... (403 characters) is too large a number",
                         "numbers go up to about 1.8e308 (309 digits)"),
    "cap_count_infinite": ("journey j\n  cap email 1" + "0" * 309 + " per 1d\n  on a -> send email\n", "J132", 2, 13,
                           "1" + "0" * 23 + "... (310 characters) is too large a number",
                           "numbers go up to about 1.8e308 (309 digits)"),
    "time_24": ("on cart -> wait until 24:00 -> send email\n", "J104", 1, 23, "24:00 is not a time of day",
                "times of day go from 00:00 to 23:59"),
    "quiet_60": ("journey j\n  quiet hours 21:00-08:60\n  on a -> send email\n", "J104", 2, 21,
                 "08:60 is not a time of day", "times of day go from 00:00 to 23:59"),
    "timezone_typo": ('journey j\n  timezone "Europe/Pari"\n  on a -> send email\n', "J105", 2, 3,
                      '"Europe/Pari" is not a time zone', 'did you mean "Europe/Paris"?'),
    "timezone_none": ('journey j\n  timezone "Mars/Olympus"\n  on a -> send email\n', "J105", 2, 3,
                      '"Mars/Olympus" is not a time zone', 'use an IANA name like "Europe/Paris"'),
    "split_90": ("journey j\n  on a\n  split\n    x 50%\n      send email\n    y 40%\n      send sms\n",
                 "J106", 3, 3, "split percentages add up to 90%, not 100%", "make the arms' shares sum to exactly 100%"),
    "holdout_150": ("journey j\n  holdout 150%\n  on a -> send email\n", "J107", 2, 3,
                    "holdout 150% is outside 0-100%", "write a share like 10%"),
    "setting_twice": ("journey j\n  holdout 10%\n  holdout 20%\n  on a -> send email\n", "J108", 3, 3,
                      "`holdout` is set twice", "the first one is at line 2; keep one"),
    "variable_twice": ("on a -> send email with x = 1, x = 2\n", "J108", 1, 32, "variable x is given twice", None),
    "segment_two_wheres": ("segment s\n  where count(a) > 1\n  where count(b) > 1\n", "J108", 1, 1,
                           "a segment needs exactly one `where` line", "write: where count(purchase) >= 2"),
    "after_exit": ("journey j\n  on a\n  exit\n  send email\n", "J109", 4, 3,
                   "these steps come after `exit` and can never run", "remove them, or move the exit into an `if`"),
    "trigger_in_trigger": ("on a where trigger.x > 1 -> send email\n", "J110", 1, 12,
                           "`trigger.` cannot be used in the trigger's own `where`",
                           "the event being matched is the trigger: write x instead"),
    "quiet_equal": ("journey j\n  quiet hours 08:00-08:00\n  on a -> send email\n", "J112", 2, 3,
                    "quiet hours start and end at the same time", "write a window like 21:00-08:00"),
    "concurrent_by_profile": ("journey j\n  reentry concurrent by profile.id\n  on a -> send email\n", "J113", 2, 11,
                              "`reentry concurrent by` needs a key from the trigger event",
                              "key by a property of the trigger, like: reentry concurrent by order_id"),
    "text_vs_number": ('on a where "5" > 3 -> send email\n', "J114", 1, 12, "a text is compared with a number",
                       "remove the quotes: 5"),
    "count_vs_text": ('on a where count(b) == "many" -> send email\n', "J114", 1, 12,
                      "a text is compared with a number", "compare numbers with numbers and texts with texts"),
    "gt_null": ("on a where amount > null -> send email\n", "J114", 1, 12, "`>` with null is always false",
                "use == null or != null to test for a missing value"),
    "lower_two_args": ("on a where lower(x, y) == 1 -> send email\n", "J115", 1, 12,
                       "lower() takes 1 argument, not 2", None),
    "now_one_arg": ("on a where now(x) > 1 -> send email\n", "J115", 1, 12, "now() takes 0 arguments, not 1", None),
    "sum_no_prop": ("on a where sum(purchase) > 1 -> send email\n", "J115", 1, 12,
                    "sum() needs a property: sum(purchase.amount)", None),
    "where_on_lower": ("on a where lower(x where y > 1) == 1 -> send email\n", "J115", 1, 12,
                       "`where` and `within` belong to aggregates, not to lower()", "aggregates: count, sum, min, max, avg"),
    "now_dot": ("on a where now().x == 1 -> send email\n", "J115", 1, 12, "now() has no properties to read",
                "only last(EVENT).prop reads a property"),
    "last_seen_prop": ("on a where last_seen(b.c) > 1 -> send email\n", "J115", 1, 12,
                       "last_seen() takes an event name, not a property", None),
    "last_prop_inside": ("on a where last(b.c) > 1 -> send email\n", "J115", 1, 12,
                         "write last(EVENT).prop, with the property after the parentheses", None),
    "count_number": ("on a where count(1) > 1 -> send email\n", "J115", 1, 12, "count() takes an event name",
                     "write count(purchase)"),
    "in_segment_number": ("on a where in_segment(1) -> send email\n", "J115", 1, 12,
                          "in_segment() takes a segment id", "write in_segment(loyal_runners)"),
    "set_trigger": ("on a -> set trigger.x = 1\n", "J119", 1, 9, "`set` changes profile traits, not trigger.x",
                    "write: set profile.x = ..."),
    "segment_no_where": ('segment s\n  description "x"\n', "J120", 1, 1, "a segment needs exactly one `where` line",
                         "write: where count(purchase) >= 2"),
    "cap_0": ("journey j\n  cap 0 per 1d\n  on a -> send email\n", "J123", 2, 3,
              "a cap allows a whole number of sends, at least 1, not 0", None),
    "cap_fraction": ("journey j\n  cap 1.5 per 1d\n  on a -> send email\n", "J123", 2, 3,
                     "a cap allows a whole number of sends, at least 1, not 1.5", None),
    "arm_twice": ("journey j\n  on a\n  split\n    x 50%\n      send email\n    x 50%\n      send sms\n", "J124", 6, 5,
                  "split arm x appears twice", None),
    "unknown_segment": ("on a where in_segment(loyal_runerss) -> send email\n", "J125", 1, 23,
                        "unknown segment loyal_runerss", "did you mean loyal_runners?"),
    "unknown_segment_event": ('on segment_entered where segment == "vips" -> send email\n', "J125", 1, 37,
                              "unknown segment vips", "define it in a segment file"),
    "trigger_in_aggregate": ("on a where count(b where trigger.x == 1) > 1 -> send email\n", "J126", 1, 26,
                             "`trigger.` cannot be used inside an aggregate's `where`",
                             "an aggregate counts the customer's events, whatever journey they are in"),
    "segment_constant": ("segment s\n  where 1 == 1\n", "J127", 1, 1,
                         "segment s never changes: its condition uses no event or trait",
                         "use an aggregate like count(purchase) or a trait like profile.ltv"),
    "when_windows": ("journey j\n  on a\n  when b within 1d\n    send email\n  or when c within 2d\n    send sms\n",
                     "J128", 5, 20, "this `or when` waits 2d, but the construct's window is 1d",
                     "the blocks race each other over the first block's window: give the same `within`, "
                     "or leave it out"),
    "when_windows_after_one_left_out": ("journey j\n  on a\n  when b within 1d\n    send email\n  or when c\n"
                                        "    send sms\n  or when d within 24h1m\n    exit\n",
                                        "J128", 7, 20, "this `or when` waits 1d1m, but the construct's window is 1d",
                                        "the blocks race each other over the first block's window: give the same "
                                        "`within`, or leave it out"),
    "when_without_within": ("journey j\n  on a\n  when b\n    send email\n  or when c within 1d\n    send sms\n",
                            "J001", 3, 9, "this line ends too early; expected \"within\" (inside the "
                                          "block opened at line 1: `journey j`)",
                            "the first `when` gives the window its `or when` blocks share: add it, like within 1d"),
    # issue 17 section 4: slips that get a message naming the fix, where the fix goes
    "indented_deeper": ("journey x\n  on signup\n  wait 1d\n\n    send email \"x\"\n", "J003", 5, 5,
                        "this line is indented more than the line above (line 3)",
                        "indent it as far as the line above; only `if`, `else`, `when`, `or when`, `otherwise` and "
                        "`split` open an indented block"),
    "single_equals": ("on cart_abandoned where cart_value = 50 -> send email\n", "J001", 1, 36,
                      "`=` sets a value; a comparison is written `==`",
                      "write `cart_value == 50` (a single `=` only follows `set profile.NAME` and a `with` "
                      "variable's name)"),
    "single_equals_text": ('journey j\n  on a\n  if profile.tier = "gold"\n    send email\n', "J001", 3, 19,
                           "`=` sets a value; a comparison is written `==`",
                           'write `profile.tier == "gold"` (a single `=` only follows `set profile.NAME` and a '
                           "`with` variable's name)"),
    "unclosed_string": ('on signup\nsend email "welcome\n', "J001", 2, 12, "this string is not closed",
                        'end it with a " on the same line'),
    "unclosed_string_in_with": ('on a -> send email "w" with x = "Hi {profile.name}\n', "J001", 1, 33,
                                "this string is not closed", 'end it with a " on the same line'),
    "unquoted_template": ("on signup\nsend email welcome\n", "J001", 2, 12, 'the template name needs quotes: "welcome"',
                          'write: send email "welcome"'),
    "unquoted_template_y": ("on signup\nsend sms y\n", "J001", 2, 10, 'the template name needs quotes: "y"',
                            'write: send sms "y"'),
    "unquoted_fallback_template": ('on a -> send push "p" or email welcome\n', "J001", 1, 32,
                                   'the template name needs quotes: "welcome"',
                                   'write: send push "p" or email "welcome"'),
    "near_a_keyword_is_not_one": ("on a\nwait 1d y\n", "J001", 2, 9,
                                  "unexpected 'y'; expected \"unless\" or -> or the end of the line", None),
    "a_word_after_unless_or_is_no_template": ("on a\nwait 1d unless purchase or refund x\n", "J001", 2, 35,
                                              "unexpected 'x'; expected \"or\" or \"where\" or -> or the end of "
                                              "the line", None),
    "block_on_the_if_line": ('on signup\nif cart_value > 50 send email "x"\n', "J001", 2, 20,
                             "a block goes on the next lines, indented, not on the `if` line",
                             'end the line after `if cart_value > 50` and write `send email "x"` on the next line, '
                             "indented two spaces more"),
    "block_on_the_otherwise_line": ("journey j\n  on a\n  when b within 1d\n    send sms\n  otherwise -> send email\n",
                                    "J001", 5, 13, "a block goes on the next lines, indented, not on the `otherwise` "
                                                   "line",
                                    "end the line after `otherwise` and write `-> send email` on the next line, "
                                    "indented two spaces more"),
    "setting_after_trigger": ('journey x\n  on signup\n  goal purchase within 1d\n  send email "x"\n', "J001", 3, 3,
                              "`goal` is a setting, and settings go before `on`",
                              "move this line above the trigger `on signup` (line 2): once `on` is written the flow "
                              "has begun"),
    "exit_on_after_trigger": ("on signup\nexit on account_deleted\nsend email\n", "J001", 2, 1,
                              "`exit on` is a setting, and settings go before `on`",
                              "move this line above the trigger `on signup` (line 1): once `on` is written the flow "
                              "has begun"),
    # issue 17 section 3: `per` keys an aggregate by the current event's property
    "per_without_within": ("on product_viewed where count(product_viewed per sku) >= 3 -> send email\n", "J115", 1, 25,
                           "`per sku` needs `within`: only the keys inside a window are kept",
                           "give it a window, like: within 1d per sku"),
    "per_in_a_segment": ("segment s\n  where count(product_viewed within 1d per sku) >= 3\n", "J115", 2, 9,
                         "`per sku` compares with the current event's sku, and there is none here",
                         "use `per` in a journey: in a `where` (the event it matches) or after the trigger"),
    "per_on_last_seen": ("on a where now() - last_seen(b per sku) > 1d -> send email\n", "J115", 1, 20,
                         "`per` belongs to aggregates, not to last_seen()",
                         "aggregates: count, sum, min, max, avg"),
    # issue 17 section 2: a journey that starts on a date has no trigger event
    "date_journey_reads_the_trigger": ('journey j\n  on date profile.renewal_due - 7d\n  send email "x" with n = trigger.n\n',
                                       "J133", 3, 27, "this journey starts on a date, with no event: `trigger.n` reads "
                                                      "nothing", "read a trait instead: profile.n"),
}


def diagnostics(source, **options):
    """The findings of one check; J129 notes (any aggregate) have their own test below."""
    found = compile_text(source, "j.journey", Options(segments=SEGMENTS, **options)).diagnostics
    return [d for d in found if d.code != "J129"]


def test_a_new_aggregate_is_noted_once_with_its_position():
    found = compile_text("on a where count(b within 7d) > 1 and count(b within 7d) < 9 -> send email\n",
                         "j.journey").diagnostics
    assert [(d.code, d.severity, d.span.line, d.span.column, d.message) for d in found] == [
        ("J129", "note", 1, 12, "count(b within 7d) counts from the moment this file is first loaded; "
                                "events before that are not in it")]


@pytest.mark.parametrize("name", CASES)
def test_check(name):
    source, code, line, column, message, hint = CASES[name]
    found = diagnostics(source)
    assert [(d.code, d.span.line, d.span.column, d.message, d.hint) for d in found] == \
        [(code, line, column, message, hint)]
    assert found[0].severity == CODES[code].severity
    assert found[0].path == "j.journey"


def test_or_when_may_leave_the_window_out_or_repeat_it():
    """Section 4: one window for the construct, the first block's; the IR is the same either way."""
    left_out = "journey j\n  on a\n  when b within 1d\n    send email\n  or when c where x > 1\n    send sms\n"
    repeated = left_out.replace("or when c where x > 1", "or when c where x > 1 within 24h")
    irs = [compile_text(text, "j.journey") for text in (left_out, repeated)]
    assert [c.diagnostics for c in irs] == [[], []]
    assert irs[0].ir.to_dict() == irs[1].ir.to_dict()
    when = irs[0].ir.to_dict()["states"]["s1"]
    assert when["kind"] == "when" and when["within"] == 86_400_000 and len(when["branches"]) == 2


def test_goal_window_shorter_than_the_waits_is_a_warning_and_still_compiles():
    compiled = compile_text("journey j\n  goal b within 1d\n  on a\n  wait 2d\n  send email\n", "j.journey")
    assert [(d.code, d.severity, d.span.line, d.span.column, d.message, d.hint) for d in compiled.diagnostics] == [
        ("J111", "warning", 2, 8, "the goal window (1d) ends before the first send (2d of waiting)",
         "no message can cause this conversion: lengthen the goal window")]
    assert compiled.ir is not None


def test_every_problem_of_a_file_is_reported_not_just_the_first():
    source = ("journey j\n  holdout 150%\n  timezone \"Europe/Pari\"\n  on a -> send whatsap\n"
              "  wait 0s\n  exit\n  send email\n")
    assert [(d.code, d.span.line) for d in diagnostics(source)] == [
        ("J107", 2), ("J105", 3), ("J101", 4), ("J103", 5), ("J109", 7)]


def test_segment_checks_are_off_when_segments_are_unknown():
    assert compile_text("on a where in_segment(anything) -> send email\n").diagnostics == []


def test_project_channels_are_known():
    assert diagnostics("on a -> send line\n", channels=("email", "line")) == []


# ---- files and folders -------------------------------------------------------------------------

def write(folder: Path, name: str, content) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def loaded_records(paths):
    loaded = load_paths([str(p) for p in paths])
    return [(Path(d.path).name, d.code, d.span.line, d.span.column, d.message, d.hint) for d in loaded.diagnostics]


EXAMPLE = 'write a journey, e.g.: on signup -> send email "welcome"'

FILE_CASES = {
    "empty": (b"", "J004", 1, 1, "this file is empty", EXAMPLE),
    "blank": (b"\n  \n\n", "J004", 1, 1, "this file is empty", EXAMPLE),
    "only_comments": (b"# to do\n\n# later\n", "J004", 1, 1, "this file holds only comments", EXAMPLE),
    "binary": (b"on a -> send email\x00\x01\n", "J005", 1, 1, "this is a binary file, not a journey",
               "journeys are plain UTF-8 text"),
    "latin1": ("on a -> send email\non caf\xe9\n".encode("latin-1"), "J005", 2, 7,
               "this file is not UTF-8 text (byte 0xe9 is not UTF-8)", "save it as UTF-8 in your editor"),
    "huge": (b"# " + b"x" * (10 * 1024 * 1024) + b"\n", "J006", 1, 1,
             "this file is 10.0 MB, over the 1 MB limit for a journey",
             "one file holds one journey; split it, or check the path points at a journey"),
}


@pytest.mark.parametrize("name", FILE_CASES)
def test_bad_file(tmp_path, name):
    content, code, line, column, message, hint = FILE_CASES[name]
    path = write(tmp_path, f"{name}.journey", content)
    assert loaded_records([path]) == [(path.name, code, line, column, message, hint)]


def test_a_utf8_bom_is_fine(tmp_path):
    path = write(tmp_path, "bom.journey", "\ufeffon a -> send email\n")
    assert loaded_records([path]) == []


def test_missing_path(tmp_path):
    assert loaded_records([tmp_path / "nope.journey"]) == [
        ("nope.journey", "J007", 1, 1, "cannot read this path: no such file or folder", None)]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_is_not_read(tmp_path):
    """Reading a FIFO would block CI forever; it is refused by type, before any read."""
    pipe = tmp_path / "pipe.journey"
    os.mkfifo(pipe)
    assert loaded_records([pipe]) == [
        ("pipe.journey", "J007", 1, 1, "cannot read this path: it is not a regular file", None)]


NOBODY = 65534


@contextmanager
def _bound_by_file_modes():
    """Root reads a file whatever its mode; another user does not. As root (CI runs as root), take
    the ids of `nobody` for the block and back; anyone else is bound by file modes already."""
    if os.geteuid() != 0:
        yield
        return
    gid = os.getegid()
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(gid)


def test_unreadable_file(tmp_path, monkeypatch):
    write(tmp_path, "secret.journey", "on a -> send email\n").chmod(0)
    tmp_path.chmod(0o711)  # nobody may look the file up from here (not list the folder, nor read the file)
    monkeypatch.chdir(tmp_path)  # a relative path: no need to pass through pytest's private folders
    with _bound_by_file_modes():
        records = loaded_records(["secret.journey"])
    assert records == [("secret.journey", "J007", 1, 1, "cannot read this file: permission denied", None)]


def test_folder_without_journeys(tmp_path):
    write(tmp_path, "notes.txt", "not a journey")
    assert loaded_records([tmp_path]) == [
        (tmp_path.name, "J008", 1, 1, "no .journey files in this folder", "check the path, or add a journey to it")]


def test_duplicate_ids_across_files(tmp_path):
    write(tmp_path, "a/welcome.journey", "on signup -> send email\n")
    write(tmp_path, "b/other.journey", "journey welcome\n  on signup -> send sms\n")
    write(tmp_path, "c/loyal.journey", "segment loyal\n  where count(purchase) > 1\n")
    write(tmp_path, "d/loyal2.journey", "# same segment\nsegment loyal\n  where count(purchase) > 2\n")
    loaded = load_paths([str(tmp_path)])
    assert [(Path(d.path).name, d.code, d.span.line, d.span.column, d.message) for d in loaded.diagnostics
            if d.code != "J129"] == [
        ("other.journey", "J121", 1, 9, f"journey id welcome is already used by {tmp_path / 'a' / 'welcome.journey'}"),
        ("loyal2.journey", "J121", 2, 9, f"segment id loyal is already used by {tmp_path / 'c' / 'loyal.journey'}"),
    ]
    assert loaded.diagnostics[0].hint == \
        "journey ids must be unique; rename one (the id is the header's name, else the file's stem)"
    assert [c.ir is None for c in loaded.compiled] == [False, True, False, True]


def test_segments_are_known_across_files(tmp_path):
    write(tmp_path, "segments/vips.journey", "segment vips\n  where profile.ltv > 1000\n")
    write(tmp_path, "journeys/a.journey", "on a where in_segment(vips) -> send email\n")
    write(tmp_path, "journeys/b.journey", "on a where in_segment(vip) -> send email\n")
    write(tmp_path, "journeys/c.journey", 'on segment_exited where segment == "vips" -> send email\n')
    assert loaded_records([tmp_path]) == [
        ("b.journey", "J125", 1, 23, "unknown segment vip", "did you mean vips?")]
    # a file named alone still sees the segments defined beside it
    write(tmp_path, "journeys/gold.journey", "segment gold\n  where profile.ltv > 5000\n")
    write(tmp_path, "journeys/d.journey", "on a where in_segment(gold) -> send email\n")
    assert loaded_records([tmp_path / "journeys" / "d.journey"]) == []


# ---- project config and event catalog ------------------------------------------------------------

CATALOG = """\
events:
  cart_abandoned:
    properties:
      cart_value: {type: number}
      cart_url: {type: string}
  purchase:
    properties:
      amount: {type: number}
"""


@pytest.fixture
def catalog(tmp_path):
    cat, problems = load_catalog(write(tmp_path, "events.yaml", CATALOG))
    assert problems == []
    return cat


CATALOG_CASES = {
    "unknown_event": ("on cart_abandoned -> wait 1d unless purchse -> send email\n", "J011", 1, 37,
                      'unknown event "purchse"', 'did you mean "purchase"?'),
    "unknown_property": ("on cart_abandoned where cart_valu > 5 -> send email\n", "J012", 1, 25,
                         'cart_abandoned has no property "cart_valu"', 'did you mean "cart_value"?'),
    "type_mismatch": ('on cart_abandoned where cart_value >= "50" -> send email\n', "J013", 1, 25,
                      "cart_value is a number in the event catalog, but is compared with a text",
                      "remove the quotes: 50"),
}


@pytest.mark.parametrize("name", CATALOG_CASES)
def test_catalog_check(catalog, name):
    source, code, line, column, message, hint = CATALOG_CASES[name]
    assert [(d.code, d.span.line, d.span.column, d.message, d.hint) for d in diagnostics(source, catalog=catalog)] \
        == [(code, line, column, message, hint)]


def test_config_error(tmp_path):
    path = write(tmp_path, "journeyctl.yaml", "channels:\n  whatsapp: phone\ncatalogue: events.yaml\n")
    config = load_config(path)
    assert [(d.code, d.span.line, d.span.column, d.message, d.hint) for d in config.diagnostics] == [
        ("J009", 3, 1, 'unknown key "catalogue"', 'did you mean "catalog"?')]


def test_catalog_error(tmp_path):
    path = write(tmp_path, "events.yaml", "events:\n  purchase:\n    properties:\n      amount: {type: numbr}\n")
    cat, problems = load_catalog(path)
    assert cat is None
    assert [(d.code, d.span.line, d.span.column, d.message, d.hint) for d in problems] == [
        ("J010", 4, 22, "the schema of purchase names the type 'numbr', which JSON Schema does not have",
         "types: string, number, integer, boolean, object, array, null")]


# ---- the table itself ---------------------------------------------------------------------------

def test_every_code_in_the_table_is_tested_here():
    tested = {case[1] for case in [*CASES.values(), *FILE_CASES.values(), *CATALOG_CASES.values()]}
    tested |= {"J007", "J008", "J009", "J010", "J019", "J111", "J121", "J129", "J130",
               "J131"}  # the tests above and below that are not tables
    tested |= {"J201", "J202", "J203", "J204"}  # message templates: tests/test_templates.py
    tested |= {"J134"}  # tests/test_language_hints.py
    assert sorted(set(CODES) - tested) == []


def test_every_code_used_in_the_source_is_in_the_table():
    root = Path(__file__).parent.parent
    used = set()
    for path in [*root.glob("dsl/*.py"), *root.glob("engine/**/*.py")]:
        if path.name != "codes.py":
            used |= set(re.findall(r'"(J\d{3})"', path.read_text(encoding="utf-8")))
    assert sorted(used - set(CODES)) == []


def test_markdown_table_has_a_row_per_code():
    rows = markdown_table().splitlines()
    assert rows[0] == "| Code | Severity | Rule | What it means |"
    assert len(rows) == 2 + len(CODES)
    assert "| J101 | error | unknown channel | A channel that is neither built in nor added by the project config. |" \
        in rows


def test_an_expression_nested_too_deeply_is_refused_with_a_position():
    found = compile_text("on a where x" + " + 1" * 487 + " -> send email\n", "j.journey").diagnostics
    assert [(d.code, d.span.line, d.message) for d in found] == [
        ("J130", 1, "this is nested more than 200 levels deep")]


def test_emitting_the_own_trigger_is_a_warning():
    found = compile_text("on purchase -> emit purchase\n", "j.journey").diagnostics
    assert [(d.code, d.severity, d.span.line, d.span.column, d.message) for d in found] == [
        ("J131", "warning", 1, 16, "this emits purchase, the event that starts this journey")]


def test_past_50_problems_in_a_file_every_format_says_how_many_more(tmp_path):
    """Issue 15 item 17: a 0.9 MB file of 300k problems took 1.6 GB and 19 s as SARIF. Each format lists
    the first 50 of a file, then a J019 note at the first one left out; the exit code still counts all."""
    import json
    import subprocess
    import sys

    path = write(tmp_path, "tabs.journey", "on a -> send email\n" + "\t\n" * 3000)
    cmd = [sys.executable, "-c", "from journeyctl.engine.cli.main import program; program()", "validate", str(path)]
    records = json.loads(subprocess.run([*cmd, "--format", "json"], capture_output=True, text=True).stdout)
    assert [r["code"] for r in records] == ["J002"] * 50 + ["J019"]
    assert (records[-1]["line"], records[-1]["column"], records[-1]["severity"]) == (52, 1, "note")
    assert records[-1]["message"] == "... and 2,950 more problems in this file; only the first 50 of a file are listed"
    sarif = subprocess.run([*cmd, "--format", "sarif"], capture_output=True, text=True)
    assert sarif.returncode == 1
    assert [r["ruleId"] for r in json.loads(sarif.stdout)["runs"][0]["results"]] == ["J002"] * 50 + ["J019"]
    github = subprocess.run([*cmd, "--format", "github"], capture_output=True, text=True).stdout.splitlines()
    assert len(github) == 51 and github[-1].startswith("::notice") and "J019 ... and 2,950 more" in github[-1]
    text = subprocess.run(cmd, capture_output=True, text=True).stdout
    assert "... and 2950 more in" in text and text.rstrip().endswith("Found 3000 errors in 1 file.")
