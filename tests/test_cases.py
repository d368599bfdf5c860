"""Conformance cases (tests/cases/) run through `journeyctl simulate`.

A case folder holds journeys/*.journey, events.jsonl, expected.jsonl, `until` and a README saying
what it checks; the v1..v5 cases are the language contract's own, copied here so that a clone
alone runs them. The set is fixed: CASES below names every folder, and a listed folder that is
missing or incomplete, or a folder that is not listed, fails (a case that silently stopped running
would look like a pass). Add a case by adding its folder and its name here.

The comparison is a multiset over (journey, customer_id, channel, template, due_at, status), plus,
for each expected line that lists `variables`, some produced action with the same key whose
variables contain those names with those values. Order is not judged.
"""
import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from journeyctl.engine.cli.simulate import simulate

ROOT = Path(__file__).resolve().parent / "cases"
CASES = """
absence_pattern_default_reentry
absence_pattern_reentry_restart
agg_count_window_edge
agg_empty_history
agg_last_excludes_current
agg_min_max_avg
agg_per_item_count
agg_per_item_sum_min_max_avg
agg_sum_ignores_non_numbers
allowed_lateness_and_late_dead_letter
arithmetic_in_with_values
audience_checked_at_entry
bad_inputs_dead_lettered_not_applied
cap_channel_vs_any_per_journey
cap_sliding_window
cap_window_exact_length
count_includes_current_event
date_trigger
duplicate_hash_ignores_key_order
duplicate_message_ids_ignored
duplicate_without_message_id_uses_hash
emit_cancels_wait_same_instant
emit_triggers_other_journey_same_instant
emit_twice_and_chain
exit_on_during_quiet_hours_deferral
exit_on_same_event_as_trigger
exit_on_where_multiple
exit_on_where_trigger_reference
exit_step
goal_and_exit_on_before_when
goal_converted_vs_window_expired
goal_event_ends_instance_then_reenters
goal_where
goal_window_exact_end
holdout_all
holdout_zero
identify_at_due_instant_after_timer
identify_traits_merged
if_else_if_else_profile_traits
interpolated_with_strings
journey_id_and_default_template
last_seen_and_now_difference
late_boundary_exact
late_event_id_not_remembered
membership_contains_lower_upper
now_arithmetic_with_durations
null_comparisons_false
profile_read_when_step_runs
quiet_hours_daytime_window
quiet_hours_defers_next_step
quiet_hours_dst_new_york
quiet_hours_dst_paris
quiet_hours_journey_tz_vs_profile_tz
quiet_hours_overnight_boundaries
quoted_event_names_in_functions
quoted_event_names_unicode_arrow
reentry_after_exact_boundary
reentry_after_measured_from_entry
reentry_after_requires_no_active_instance
reentry_concurrent_by_key
reentry_concurrent_default_key
reentry_concurrent_unless_cancels_all
reentry_default_one_active
reentry_once
reentry_restart
rfc3339_time_forms
segment_absence_window
segment_enter_exit_triggers
segment_in_audience
segment_style_field_aliases
send_default_template_in_fallback
send_fallback_unsubscribed
send_unreachable_flow_continues
set_profile_then_if_and_other_journey
set_profile_timezone_then_wait_until
split_full_and_empty_arms
timers_fire_before_events_same_instant
times_as_values
trigger_unless_own_trigger_not_matched
trigger_where_bare_property
trigger_where_profile_and_trigger_props
trigger_within_unless_equals_wait_unless
until_boundary_fires_due_timers
v1_trial_absence
v2_when_otherwise
v3_quiet_hours_timezone
v4_goal_and_exit
v5_reentry_after
wait_duration_sums
wait_unless_where_and_or
wait_unless_where_trigger_reference
wait_until_dst_new_york
wait_until_dst_paris
wait_until_instant
wait_until_into_quiet_hours
wait_until_journey_timezone_vs_profile
wait_until_not_exact_seconds
wait_until_profile_timezone
wait_until_utc_incl_exact_now
wait_window_edge_exact
when_or_when_otherwise_branches
with_bare_names_are_trigger_properties
""".split()
NOT_EMPTY = ("README", "events.jsonl", "until")  # and expected.jsonl, empty when a case expects no action


def test_the_case_folder_holds_exactly_the_listed_cases():
    folders = {d.name for d in ROOT.iterdir() if d.is_dir()}
    assert len(CASES) == len(set(CASES)), "a case is listed twice"
    assert not set(CASES) - folders, f"listed cases with no folder: {sorted(set(CASES) - folders)}"
    assert not folders - set(CASES), f"case folders not listed in CASES (they would not run): {sorted(folders - set(CASES))}"


def _instant(text):
    t = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    assert t.tzinfo is not None, f"due_at without a time zone: {text!r}"
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _key(a):
    return (a.get("journey"), a.get("customer_id"), a.get("channel"), a.get("template"),
            _instant(a.get("due_at")), a.get("status", "send"))


def _jsonl(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("name", CASES)
def test_case(name, monkeypatch):
    case = ROOT / name
    for f in NOT_EMPTY:
        assert (case / f).is_file() and (case / f).stat().st_size, f"{case}: {f} is missing or empty"
    assert (case / "expected.jsonl").is_file(), f"{case}: expected.jsonl is missing"
    assert list((case / "journeys").glob("*.journey")), f"{case}: no journeys/*.journey"
    monkeypatch.chdir(case)  # like check-cases: no project config from the caller's folder applies
    until = (case / "until").read_text().strip()
    result = CliRunner().invoke(simulate, ["journeys", "--events", "events.jsonl", "--until", until,
                                           "--format", "jsonl"])
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    got = _jsonl(result.stdout)
    expected = _jsonl((case / "expected.jsonl").read_text())

    got_keys, want_keys = Counter(map(_key, got)), Counter(map(_key, expected))
    missing = sorted((want_keys - got_keys).elements(), key=str)
    unexpected = sorted((got_keys - want_keys).elements(), key=str)
    assert not missing and not unexpected, f"missing: {missing}\nunexpected: {unexpected}"

    for a in expected:
        if "variables" in a:
            matches = [g.get("variables", {}) for g in got if _key(g) == _key(a)]
            assert any(all(v.get(n) == val for n, val in a["variables"].items()) for v in matches), \
                f"variables differ for {_key(a)}: want {a['variables']}, got {matches}"
