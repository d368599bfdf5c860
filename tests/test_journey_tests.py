"""`journeyctl test`: journey tests in YAML, through click's runner (output and exit code together).

The project's own tests must pass; everything else runs in an empty folder with a
journey and a test written by the test, so no journeyctl.yaml leaks in."""
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from journeyctl.dsl.project.loader import load_paths
from journeyctl.engine.cli import main as cli
from journeyctl.engine.testing.reader import format_relative, load_test_file, parse_relative

ROOT = Path(__file__).resolve().parent.parent

CART = "journey cart\n  on cart_abandoned\n  wait 30m unless purchase\n  send whatsapp \"reminder\" with name = profile.first_name\n"
CART_TEST = """\
profile: {first_name: Ana}
cases:
  - name: reminder after 30 minutes
    events:
      - {at: +0, event: cart_abandoned}
    expect:
      - {at: +30m, channel: whatsapp, template: reminder, variables: {name: Ana}}
  - name: a purchase cancels it
    events:
      - {at: +0, event: cart_abandoned}
      - {at: +10m, event: purchase}
    exact: true
"""


def run(*args):
    return CliRunner().invoke(cli.main, ["test", *args])


@pytest.fixture
def tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


def write(name: str, text: str) -> str:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return name


# ---- the project's own journeys -----------------------------------------------------------------

@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # so the project's journeyctl.yaml applies, as in `make test`


def test_project_journey_tests_pass(at_root):
    result = run("journeys/")
    assert result.exit_code == 0, result.output
    assert "✗" not in result.output
    assert result.output.rstrip().endswith(" passed, 0 failed")


def test_default_path_is_journeys(at_root):
    result = run()
    assert result.exit_code == 0, result.output
    assert "journeys/cart_recovery.test.yaml" in result.output


def test_walkthrough_tests_pass(at_root):
    result = run("examples/")
    assert result.exit_code == 0, result.output


def test_every_project_journey_has_a_test_with_two_cases():
    loaded = load_paths([ROOT / "journeys"])
    journeys = [Path(c.path) for c in loaded.compiled if c.ir is not None and c.ir.kind == "journey"]
    assert len(journeys) >= 12
    for journey in journeys:
        test = journey.with_name(journey.stem + ".test.yaml")
        assert test.is_file(), f"{journey.name} has no test"
        assert len(load_test_file(test).cases) >= 2, f"{test.name} needs at least two cases"


# ---- pass and fail --------------------------------------------------------------------------------

def test_passing_cases(tmp):
    write("j/cart.journey", CART)
    write("j/cart.test.yaml", CART_TEST)
    result = run("j")
    assert result.exit_code == 0, result.output
    assert result.output == ("j/cart.test.yaml\n"
                             "  ✓ reminder after 30 minutes\n"
                             "  ✓ a purchase cancels it\n"
                             "2 passed, 0 failed\n")


def test_a_wrong_expectation_fails_with_the_timeline(tmp):
    write("j/cart.journey", CART)
    write("j/cart.test.yaml", CART_TEST.replace("at: +30m", "at: +20m"))
    result = run("j")
    assert result.exit_code == 1
    out = result.output
    assert "✗ reminder after 30 minutes" in out
    # the side-by-side timeline: time, the input event, expected, actual, a mark
    for column in ("time", "event in", "expected", "actual"):
        assert column in out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert any("+0" in r and "cart_abandoned" in r for r in rows)
    assert any("+20m" in r and "whatsapp reminder (send) name=Ana" in r and "—" in r and "✗" in r for r in rows)
    assert any("+30m" in r and "whatsapp reminder (send) name=Ana" in r and "·" in r for r in rows)
    assert "the closest is whatsapp reminder (send) name=Ana at +30m, where at is +30m, expected +20m" in out
    assert "What the engine decided for c1:" in out
    assert out.rstrip().endswith("1 passed, 1 failed")


def test_expect_absent_and_exact(tmp):
    write("j/cart.journey", CART)
    write("j/cart.test.yaml", """\
cases:
  - name: nothing may be sent
    events: [{at: +0, event: cart_abandoned}]
    expect_absent: [{channel: whatsapp}]
  - name: exact
    events: [{at: +0, event: cart_abandoned}]
    exact: true
""")
    result = run("j")
    assert result.exit_code == 1
    assert "whatsapp reminder (send) name=null at +30m matches expect_absent at line 4" in result.output
    assert "not whatsapp at any time" in result.output
    assert "(not expected: exact)" in result.output
    assert "0 passed, 2 failed" in result.output


def test_variables_are_a_subset_and_differences_are_named(tmp):
    write("j/cart.journey", CART)
    write("j/cart.test.yaml", """\
profile: {first_name: Ana}
cases:
  - name: wrong name
    events: [{at: +0, event: cart_abandoned}]
    expect: [{template: reminder, variables: {name: Bob}}]
""")
    result = run("j")
    assert result.exit_code == 1
    assert 'where variable name is "Ana", expected "Bob"' in result.output


def test_a_template_typo_is_named(tmp):
    write("j/cart.journey", CART)
    write("j/cart.test.yaml", "cases:\n  - name: typo\n    events: [{at: +0, event: cart_abandoned}]\n"
                              "    expect: [{template: remindr}]\n")
    result = run("j")
    assert result.exit_code == 1
    assert "journey cart never sends template 'remindr' (did you mean \"reminder\"?)" in result.output


def test_an_event_no_journey_uses_is_pointed_out(tmp):
    write("j/cart.journey", CART)
    write("j/cart.test.yaml", "cases:\n  - name: typo\n    events:\n      - {at: +0, event: cart_abandoned}\n"
                              "      - {at: +5m, event: purchse}\n    exact: true\n")
    result = run("j")
    assert result.exit_code == 1
    assert "no journey or segment uses the event 'purchse' (did you mean \"purchase\"?)" in result.output


def test_each_expectation_takes_its_own_action(tmp):
    # the general expectation comes first; it must not take the only action the specific one fits
    write("j/two.journey", 'on a -> send email "x" -> wait 1h -> send email "y"\n')
    write("j/two.test.yaml", "cases:\n  - name: both\n    events: [{at: +0, event: a}]\n"
                             "    expect:\n      - {channel: email}\n      - {template: x}\n    exact: true\n")
    assert run("j").exit_code == 0


def test_emit_chains_and_other_journeys(tmp):
    write("j/up.journey", "journey up\n  on purchase\n  emit upgraded with tier = \"gold\"\n  send email \"thanks\"\n")
    write("j/perks.journey", "journey perks\n  on upgraded\n  wait 1d\n  send push \"perks\" with tier = tier\n")
    write("j/up.test.yaml", """\
cases:
  - name: the emitted event starts perks
    events: [{at: +0, event: purchase}]
    expect:
      - {at: +0, template: thanks}
      - {at: +1d, journey: perks, channel: push, variables: {tier: gold}}
  - name: only the journey under test is compared
    events: [{at: +0, event: purchase}]
    expect: [{at: +0, template: thanks}]
    exact: true
""")
    result = run("j")
    assert result.exit_code == 0, result.output


def test_journey_key_names_the_journey_under_test(tmp):
    write("j/cart.journey", CART)
    write("j/other.test.yaml", "journey: cart\ncases:\n  - name: x\n    events: [{at: +0, event: cart_abandoned}]\n"
                               "    expect: [{at: +30m, template: reminder}]\n")
    assert run("j/other.test.yaml").exit_code == 0
    write("j/other.test.yaml", "journey: crat\ncases:\n  - name: x\n    events: [{at: +0, event: a}]\n"
                               "    exact: true\n")
    result = run("j/other.test.yaml")
    assert result.exit_code == 2
    assert "j/other.test.yaml:1: error: no journey 'crat' in j; did you mean \"cart\"?" in result.output


def test_identify_quiet_hours_customer_and_config_override(tmp):
    write("j/night.journey", 'journey night\n  quiet hours 21:00-08:00\n  on ping\n  send sms "hi" or email "hi"\n')
    write("j/night.test.yaml", """\
start: 2026-01-05T00:00:00Z
config:
  channels: {sms: phone}
  default_timezone: Europe/Lisbon
cases:
  - name: deferred to 08:00, on email without a phone
    events: [{at: +22h, event: ping}]
    expect: [{at: +1d8h, channel: email}]
  - name: a phone synced by identify
    events:
      - {at: +1h, identify: {phone: "+1"}}
      - {at: +10h, event: ping, customer: c1}
      - {at: +10h, event: ping, customer: c2}
    expect:
      - {at: +10h, channel: sms, customer: c1}
      - {at: +10h, channel: email, customer: c2}
""")
    result = run("j")
    assert result.exit_code == 0, result.output


def test_late_events_are_reported(tmp):
    write("j/cart.journey", CART)
    write("j/cart.test.yaml", "cases:\n  - name: late\n    events:\n      - {at: +1h, event: cart_abandoned}\n"
                              "      - {at: +10m, event: purchase}\n    exact: true\n")
    result = run("j")
    assert result.exit_code == 1
    assert "purchase — not applied: late" in result.output
    assert "the event at line 5 was not applied" in result.output


def test_keyword_selects_cases(tmp):
    write("j/cart.journey", CART)
    write("j/cart.test.yaml", CART_TEST)
    result = run("j", "-k", "purchase")
    assert result.exit_code == 0
    assert "reminder after 30 minutes" not in result.output
    assert "1 passed, 0 failed" in result.output


def test_verbose_shows_passing_timelines(tmp):
    write("j/cart.journey", CART)
    write("j/cart.test.yaml", CART_TEST)
    assert "✓" in [c for line in run("j", "-v").output.splitlines() if line.startswith("│") for c in line]


def test_a_journey_with_errors_fails_its_tests(tmp):
    write("j/cart.journey", CART.replace("whatsapp", "whatsap"))
    write("j/cart.test.yaml", CART_TEST)
    result = run("j")
    assert result.exit_code == 1
    assert 'J101 error: unknown channel "whatsap"' in result.output
    assert "0 passed, 2 failed" in result.output


# ---- usage errors: exit 2, with the line -----------------------------------------------------------

def test_bad_yaml_gives_the_line(tmp):
    write("j/cart.journey", CART)
    write("j/cart.test.yaml", CART_TEST.replace("{at: +10m, event: purchase}", "{at: +10m, event: purchase"))
    result = run("j")
    assert result.exit_code == 2
    assert "j/cart.test.yaml:12:10: error: this test file is not valid YAML: expected ',' or '}', but got ':'" \
           " (while parsing a flow mapping opened at line 11)" in result.output
    assert "12 |     exact: true" in result.output
    assert "Traceback" not in result.output
    assert result.output.rstrip().endswith("0 passed, 0 failed, 1 could not run")


def test_bad_format_gives_every_problem_with_its_line(tmp):
    write("j/cart.journey", CART)
    write("j/cart.test.yaml", """\
cases:
  - name: one
    events:
      - {at: 30, event: cart_abandoned}
      - {at: +1h, evnt: purchase}
    expect:
      - {at: +30m, status: sent}
  - name: one
    expect_absent: [{}]
""")
    result = run("j")
    assert result.exit_code == 2
    out = result.output
    assert "j/cart.test.yaml:4:14: error: at: '30' is not a relative time" in out
    assert "help: a number alone has no unit: write +30m or +30s" in out
    assert "j/cart.test.yaml:5:19: error: unknown key 'evnt' in an event" in out
    assert "exactly one of" not in out  # the misspelt key says it all
    assert 'help: did you mean "event"?' in out
    assert "j/cart.test.yaml:7:28: error: 'sent' is not an action status" in out
    assert "j/cart.test.yaml:8:5: error: a case named 'one' is already at line 2" in out
    assert "j/cart.test.yaml:9:21: error: an empty action here would match every action" in out
    assert "Traceback" not in out


def test_start_needs_a_time_zone(tmp):
    write("j/cart.journey", CART)
    write("j/cart.test.yaml", "start: 2026-01-05T09:00:00\n" + CART_TEST)
    result = run("j")
    assert result.exit_code == 2
    assert "j/cart.test.yaml:1:8: error: start: '2026-01-05T09:00:00' has no time zone" in result.output


def test_usage_errors(tmp):
    write("j/cart.journey", CART)
    Path("empty").mkdir()
    result = run("nothere", "empty", "j/cart.journey")
    assert result.exit_code == 2
    assert "journeyctl test: nothere: no such file or folder" in result.output
    assert "journeyctl test: empty: no journey tests (*.test.yaml) in this folder" in result.output
    assert "journeyctl test: j/cart.journey: no test beside this journey (write j/cart.test.yaml)" in result.output


def test_a_test_without_its_journey(tmp):
    write("j/cart.journey", CART)
    write("j/lonely.test.yaml", CART_TEST)
    result = run("j")
    assert result.exit_code == 2
    assert "no journey lonely.journey beside this test" in result.output


def test_empty_file(tmp):
    write("j/cart.journey", CART)
    write("j/cart.test.yaml", "# nothing yet\n")
    result = run("j")
    assert result.exit_code == 2
    assert "j/cart.test.yaml:1:1: error: this test file is empty" in result.output


# ---- relative times ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, ms", [
    ("+0", 0), ("0", 0), ("+45s", 45_000), ("+29m", 29 * 60_000), ("+1d2h", 26 * 3_600_000),
    ("+1h30m", 90 * 60_000), ("+1w", 7 * 86_400_000), ("2h", 7_200_000), (" +30m ", 1_800_000),
])
def test_parse_relative(text, ms):
    assert parse_relative(text) == ms


@pytest.mark.parametrize("text", ["+1x", "30", "-5m", "", "+", "+1.5h", "+30 m", "1d-2h"])
def test_parse_relative_rejects(text):
    with pytest.raises(ValueError, match="is not a relative time"):
        parse_relative(text)


@pytest.mark.parametrize("ms, text", [(0, "+0"), (1_800_000, "+30m"), (93_600_000, "+1d2h"), (-60_000, "-1m")])
def test_format_relative(ms, text):
    assert format_relative(ms) == text
    if ms >= 0:
        assert parse_relative(text) == ms


def test_yaml_times_stay_text(tmp):
    write("x.test.yaml", "start: 2026-01-05T09:00:00+01:00\ncases:\n  - name: a\n    events:\n"
                         "      - {at: +0, event: e, properties: {day: 2026-01-05}}\n    exact: true\n")
    test = load_test_file("x.test.yaml")
    assert test.cases[0].start == 1_767_600_000_000
    assert test.cases[0].events[0].properties == {"day": "2026-01-05"}
    assert yaml.safe_load("d: 2026-01-05")["d"] != "2026-01-05"  # what plain YAML would have done
