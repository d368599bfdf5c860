"""Hints that name the fix outside one file's syntax (issue 17 section 4): an event name one letter from
another across the project (J134), J129 notes summed up in one line, and simulate's hints about its input."""
from pathlib import Path

from click.testing import CliRunner

from journeyctl.dsl.project.loader import load_paths
from journeyctl.dsl.project.near_names import one_edit
from journeyctl.engine.cli.main import main


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def near_misses(folder):
    return [(Path(d.path).name, d.span.line, d.span.column, d.message, d.hint)
            for d in load_paths([str(folder)]).diagnostics if d.code == "J134"]


def test_an_event_name_used_once_one_letter_from_another_is_a_warning(tmp_path):
    write(tmp_path, "a.journey", "on cart_abandoned within 1h unless purchse -> send email\n")
    write(tmp_path, "b.journey", "on purchase -> send email\n")
    write(tmp_path, "c.journey", "journey c\n  goal purchase within 1d\n  on signup -> send sms\n")
    assert near_misses(tmp_path) == [
        ("a.journey", 1, 36, f"purchse is used only here, one letter away from purchase (used at "
                             f"{tmp_path / 'b.journey'}:1)",
         'did you mean "purchase"? an event name no input has never happens (an event catalog, catalog: in '
         "journeyctl.yaml, checks every name)")]


def test_of_two_names_used_once_the_later_one_warns_and_emits_count(tmp_path):
    write(tmp_path, "c.journey", "on signup -> emit welcom_sent\n")
    write(tmp_path, "d.journey", "on welcome_sent -> send email\n")
    assert near_misses(tmp_path) == [
        ("d.journey", 1, 4, f"welcome_sent is used only here, one letter away from welcom_sent (used at "
                            f"{tmp_path / 'c.journey'}:1)",
         "if both mean one event, spell it the same way in both places; an event name no input has never "
         "happens (an event catalog, catalog: in journeyctl.yaml, checks every name)")]


def test_names_used_twice_short_names_and_a_catalog_get_no_warning(tmp_path):
    write(tmp_path, "a.journey", "on purchse -> send email\n")
    write(tmp_path, "b.journey", "on purchase where count(purchse) > 1 -> send email\n")
    write(tmp_path, "b2.journey", "on refund where count(purchase) > 1 -> send email\n")  # each one twice
    write(tmp_path, "c.journey", "on buy -> send email\n")
    write(tmp_path, "d.journey", "on bye -> send email\n")  # short names: one letter apart means nothing
    assert near_misses(tmp_path) == []
    write(tmp_path, "e.journey", "on cart_abandoned within 1h unless purchasee -> send email\n")
    assert [m[0] for m in near_misses(tmp_path)] == ["e.journey"]
    write(tmp_path, "events.yaml", "events:\n  purchase: {}\n  purchse: {}\n  purchasee: {}\n  buy: {}\n  bye: {}\n"
                                   "  cart_abandoned: {}\n  refund: {}\n")
    write(tmp_path, "journeyctl.yaml", "catalog: events.yaml\n")
    result = CliRunner().invoke(main, ["validate", str(tmp_path), "--config", str(tmp_path / "journeyctl.yaml")])
    assert "J134" not in result.output and result.exit_code == 0, result.output


def test_one_edit():
    assert one_edit("purchse", "purchase") and one_edit("purchase", "purchse")    # a letter dropped or added
    assert one_edit("purchase", "purchese") and one_edit("purcahse", "purchase")  # changed; two swapped
    assert not one_edit("purchase", "purchase") and not one_edit("purchase", "pruchsae")
    assert not one_edit("signup", "sign_up_x")


def test_j129_notes_are_one_line_unless_verbose(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no project config or templates from where the suite runs
    write(tmp_path, "a.journey", "on a where count(b within 7d) > 1 -> send email\n")
    write(tmp_path, "b.journey", "on c where sum(d.x) > 1 and max(d.y within 1d) > 2 -> send email\n")
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code == 0
    assert result.output == (
        "note: 3 aggregates count from the moment their file is first loaded; events before that are not in them "
        "(J129 notes; --verbose lists them)\nAll checked: 2 files, no problems.\n")
    verbose = CliRunner().invoke(main, ["validate", "--verbose", str(tmp_path)])
    assert verbose.output.count("J129 note:") == 3 and verbose.output.endswith("Found 3 notes in 2 files.\n")
    as_json = CliRunner().invoke(main, ["validate", "--format", "json", str(tmp_path)])
    assert as_json.output.count('"J129"') == 3  # tools get every one


# ---- simulate: its input, said plainly --------------------------------------------------------------

def simulate_cli(*args):
    from journeyctl.engine.cli.simulate import simulate
    return CliRunner().invoke(simulate, list(args))


def test_until_may_be_a_date_meaning_midnight_utc(tmp_path):
    journey = write(tmp_path, "j.journey", "on signup -> wait 1d -> send email\n")
    events = write(tmp_path, "e.jsonl", '{"event":"signup","customer_id":"a","timestamp":"2026-03-18T23:00:00Z"}\n')
    by_date = simulate_cli(str(journey), "--events", str(events), "--until", "2026-03-20", "--format", "jsonl")
    assert by_date.exit_code == 0, by_date.output
    assert '"due_at":"2026-03-19T23:00:00.000Z"' in by_date.stdout
    early = simulate_cli(str(journey), "--events", str(events), "--until", "2026-03-19", "--format", "jsonl")
    assert early.exit_code == 0 and early.stdout == ""  # midnight UTC: before the wait is over
    bad = simulate_cli(str(journey), "--events", str(events), "--until", "2026-02-30")
    assert bad.exit_code == 2
    assert "'2026-02-30' is not a date (YYYY-MM-DD) nor an RFC 3339 time" in " ".join(bad.output.split())


def test_a_missing_events_file_is_said_without_an_errno(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a short path: the terminal folds a long one
    write(tmp_path, "j.journey", "on signup -> send email\n")
    result = simulate_cli("j.journey", "--events", "nope.jsonl")
    assert result.exit_code == 2
    assert " ".join(result.output.split()) == "journeyctl simulate: nope.jsonl: no such file or directory"


def hints_of(result) -> list[str]:
    """The `hint:` lines of a simulate run, unwrapped (the terminal wraps long lines)."""
    text = " ".join(result.output.split())
    return ["hint: " + h.strip() for h in text.split("hint: ")[1:]]


def test_an_event_name_no_input_line_has_is_said_once(tmp_path):
    write(tmp_path, "j/cart.journey", "on cart_abandoned within 1h unless purchse -> send email\n")
    write(tmp_path, "j/other.journey", "journey other\n  on purchse\n  when purchse within 1d\n    send sms\n"
                                       "  otherwise\n    emit made_up\n")
    write(tmp_path, "j/made.journey", "on made_up -> send push\n")  # emitted by a journey: not the input's job
    events = write(tmp_path, "e.jsonl", '{"event":"cart_abandoned","customer_id":"a","timestamp":"2026-03-01T00:00:00Z"}\n'
                                        '{"event":"purchase","customer_id":"a","timestamp":"2026-03-01T00:10:00Z"}\n')
    result = simulate_cli(str(tmp_path / "j"), "--events", str(events), "--format", "jsonl")
    assert result.exit_code == 0, result.output
    assert hints_of(result) == [
        "hint: no purchse event in the input; cart waits for it in an `unless`; other starts on it; "
        'other waits for it in a `when` (did you mean "purchase"?)']


def test_many_late_events_suggest_sort(tmp_path):
    journey = write(tmp_path, "j.journey", "on a -> send email\n")
    lines = [f'{{"event":"a","customer_id":"c{i}","timestamp":"2026-03-01T{23 - i % 24:02d}:00:00Z"}}' for i in range(40)]
    events = write(tmp_path, "e.jsonl", "\n".join(lines) + "\n")
    result = simulate_cli(str(journey), "--events", str(events), "--format", "jsonl")
    assert hints_of(result) == [
        "hint: 38 events came more than the allowed lateness behind the clock and were left out (late): "
        "if the input is not in time order, --sort orders it first"]
    assert hints_of(simulate_cli(str(journey), "--events", str(events), "--format", "jsonl", "--sort")) == []


def test_the_trace_says_which_part_of_a_where_was_false_and_the_values(tmp_path):
    journey = write(tmp_path, "j.journey", 'journey j\n  audience profile.ltv > 100\n'
                                           '  on product_viewed where category == "shoes" and '
                                           "count(product_viewed within 1d) >= 3 and now() > profile.since + 1d\n"
                                           '  send email "x"\n')
    lines = ['{"type":"identify","userId":"a","timestamp":"2026-03-01T00:00:00Z",'
             '"traits":{"ltv":500,"since":"2026-03-01"}}',
             *(f'{{"event":"product_viewed","customer_id":"a","timestamp":"2026-03-02T09:0{i}:00Z",'
               f'"properties":{{"category":"{c}"}}}}' for i, c in enumerate(["bags", "shoes"])),
             '{"type":"identify","userId":"a","timestamp":"2026-03-02T09:03:00Z","traits":{"since":"2026-03-02"}}',
             '{"event":"product_viewed","customer_id":"a","timestamp":"2026-03-02T09:04:00Z","properties":{"category":"shoes"}}',
             '{"type":"identify","userId":"a","timestamp":"2026-03-02T09:05:00Z","traits":{"since":"2026-03-01","ltv":50}}',
             '{"event":"product_viewed","customer_id":"a","timestamp":"2026-03-02T09:06:00Z","properties":{"category":"shoes"}}']
    events = write(tmp_path, "e.jsonl", "\n".join(lines) + "\n")
    result = simulate_cli(str(journey), "--events", str(events), "--format", "jsonl", "--trace", "a")
    text = " ".join(result.output.split())
    for said in ("not entered: the trigger's where is false: category = \"bags\", needs == \"shoes\"",
                 "not entered: the trigger's where is false: count(product_viewed within 1d) = 2, needs >= 3",
                 "not entered: the trigger's where is false: now() = 2026-03-02T09:04:00.000Z, needs > "
                 "profile.since + 1d (= 2026-03-03T00:00:00.000Z)",
                 "not entered: audience is false: profile.ltv = 50, needs > 100"):
        assert said in text, said


def test_demo_offline_does_not_list_j129_notes():
    from journeyctl.engine.cli.demo import demo
    result = CliRunner().invoke(demo, ["--offline"])
    assert result.exit_code == 0, result.output
    assert "J129" not in result.output and "counts from the moment" not in result.output
