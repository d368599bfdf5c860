"""Times as values (issue 17 section 1): where the compiler reads a value as an instant (from the shape of
the expression, or the event catalog's format), what the engine makes of the value it finds, and that a
text which is not a time is counted as a data warning in simulate's summary and run's metrics."""
import json

import pytest
from click.testing import CliRunner

from journeyctl.dsl.compiler import Options, compile_text
from journeyctl.dsl.project.catalog import load_catalog
from journeyctl.engine.cli.simulate import simulate
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import parse_event, parse_instant
from journeyctl.engine.core.instants import command_line_instant
from journeyctl.engine.obs.metrics import SnapshotCollector
from journeyctl.engine.obs.monitor import Monitor
from journeyctl.engine.store.memory import MemoryStore


def instants(x):
    """The sub-expressions an IR expression reads as instants, as compact text."""
    if not isinstance(x, list):
        return []
    found = [json.dumps(x[1], separators=(",", ":"))] if x and x[0] == "instant" else []
    return found + [i for item in x[1:] for i in instants(item)]


SHAPES = {
    # expression -> the values read as instants
    "now() >= profile.renewal_due - 7d": ['["ref","profile",["renewal_due"]]'],
    "profile.renewal_due + 1d < now()": ['["ref","profile",["renewal_due"]]'],
    "1d + profile.renewal_due < now()": ['["ref","profile",["renewal_due"]]'],
    "now() - profile.signed_up_at > 30d": ['["ref","profile",["signed_up_at"]]'],
    "last_seen(purchase) < profile.cutoff": ['["ref","profile",["cutoff"]]'],
    "last(order).shipped_at < now() - 2d": ['["last","order","shipped_at"]'],
    'now() > "2026-03-10"': ['["lit","2026-03-10"]'],
    "trial_ends - 3d <= now()": ['["ref","event",["trial_ends"]]'],
    # a number is epoch ms as before; null is compared as null; two plain values are not times
    "now() > 1772755200000": [],
    "profile.due == null": [],
    "profile.a < profile.b": [],
    "cart_value - 5 > 1": [],
    "now() - last_seen(app_opened) > 30d": [],
}


@pytest.mark.parametrize("expression", SHAPES)
def test_the_shape_of_an_expression_says_where_a_value_is_a_time(expression):
    compiled = compile_text(f"on a where {expression} -> send email\n")
    assert compiled.ir is not None, compiled.diagnostics
    assert instants(compiled.ir.trigger["where"]) == SHAPES[expression]


def test_a_text_that_is_not_a_time_where_one_is_needed_is_an_error():
    found = [(d.code, d.span.column, d.message, d.hint) for d in
             compile_text('on a where now() > "yesterday" -> send email\n').diagnostics]
    assert found == [("J114", 20, '"yesterday" is not a time, and a time is needed here',
                      'write a date like "2026-03-10" or an RFC 3339 time like "2026-03-10T09:00:00Z"')]


def test_the_journeys_time_zone_goes_with_the_value(tmp_path):
    ir = compile_text('journey j\n  timezone "Asia/Tokyo"\n  on a where now() > profile.d -> send email\n').ir
    assert ir.trigger["where"][3] == ["instant", ["ref", "profile", ["d"]], "Asia/Tokyo"]


def test_the_catalog_types_a_date_time_property(tmp_path):
    path = tmp_path / "events.yaml"
    path.write_text("events:\n  signup:\n    properties:\n      signed_up_at: {type: string, format: date-time}\n"
                    "      birthday: {type: string, format: date}\n      plan: {type: string}\n")
    catalog, problems = load_catalog(path)
    assert not problems

    def compiled(where):
        return compile_text(f"on signup where {where} -> send email\n", options=Options(catalog=catalog))

    # typed: read as a time beside a number (epoch ms) too, where the shape alone would not say so
    assert instants(compiled("signed_up_at > 1772755200000").ir.trigger["where"]) == ['["ref","event",["signed_up_at"]]']
    assert instants(compiled("birthday < now()").ir.trigger["where"]) == ['["ref","event",["birthday"]]']
    wrong = compiled("signed_up_at == true").diagnostics + compiled("plan < now()").diagnostics
    assert [(d.code, d.message) for d in wrong] == [
        ("J013", "signed_up_at is a time in the event catalog, but is compared with true or false"),
        ("J013", "plan is a text in the event catalog, but is compared with a number")]  # a text, not a time


RENEW = "on check where now() >= profile.renewal_due - 7d -> send email\n"


def run(tmp_path, journey: str, lines: list[dict], *args):
    (tmp_path / "j.journey").write_text(journey)
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return CliRunner().invoke(simulate, [str(tmp_path / "j.journey"), "--events", str(tmp_path / "events.jsonl"),
                                         *args])


def test_a_text_that_is_not_a_time_is_a_data_warning_in_the_summary(tmp_path):
    lines = [{"type": "identify", "userId": "e", "timestamp": "2026-03-01T00:00:00Z", "traits":
              {"renewal_due": "next week"}},
             {"event": "check", "customer_id": "e", "timestamp": "2026-03-02T00:00:00Z"},
             {"event": "check", "customer_id": "e", "timestamp": "2026-03-03T00:00:00Z"}]
    result = run(tmp_path, RENEW, lines, "--format", "summary")
    assert result.exit_code == 0, result.output
    assert "data warning: 2 values that are not a time read as null where a time was needed" in result.output


def test_a_text_that_is_not_a_time_is_a_data_warning_in_runs_metrics():
    engine = Engine([compile_text(RENEW, "renew.journey").ir], store=MemoryStore())
    monitor = Monitor(engine)
    for raw in (b'{"type":"identify","userId":"e","timestamp":"2026-03-01T00:00:00Z","traits":{"renewal_due":[1]}}',
                b'{"event":"check","customer_id":"e","timestamp":"2026-03-02T00:00:00Z"}'):
        engine.process(parse_event(raw))
    monitor.snapshot()
    assert monitor.latest.data_warnings == {"not_a_number": 0, "not_a_time": 1}
    samples = {(s.name, tuple(s.labels.items())): s.value for fam in SnapshotCollector(monitor).collect()
               for s in fam.samples}
    assert samples[("journeyctl_data_warnings_total", (("kind", "not_a_time"),))] == 1


def test_until_takes_a_date_as_midnight_utc():
    assert command_line_instant("2026-03-20") == parse_instant("2026-03-20T00:00:00Z")
    assert command_line_instant("2026-03-20T09:30:00+01:00") == parse_instant("2026-03-20T08:30:00Z")
    with pytest.raises(ValueError):
        command_line_instant("2026-02-30")
