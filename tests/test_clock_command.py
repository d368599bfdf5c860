"""`journeyctl clock`: the clocks a real SQLite store keeps, and setting back those a future event moved
(issue 15 item 1: a store written before future events were dead-lettered keeps a clock years ahead)."""
import json
import time

from click.testing import CliRunner

from journeyctl.engine.cli.main import main
from journeyctl.engine.core.events import format_instant, parse_instant
from journeyctl.engine.store.sqlite import SqliteStore

FUTURE = parse_instant("2036-01-01T00:00:00Z")


def poisoned(tmp_path) -> str:
    """A store as an earlier journeyctl left it after an event stamped 2036-01-01 on events[1]."""
    path = tmp_path / "state.db"
    with SqliteStore(path) as store:
        store.set_meta("clock", FUTURE)
        store.save_positions({("events", 0): (120, parse_instant("2026-11-30T10:00:00Z"), "aa"),
                              ("events", 1): (98, FUTURE, "bb")})
        store.commit()
    return f"sqlite:///{path}"


def test_clock_shows_every_stored_clock_and_which_are_in_the_future(tmp_path):
    url = poisoned(tmp_path)
    table = CliRunner().invoke(main, ["clock", "--state", url])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert [line.split()[0] for line in lines] == ["engine", "events[0]", "events[1]"]
    assert "2036-01-01T00:00:00.000Z  (in the future" in lines[0] and "(in the future" in lines[2]
    assert "offset        120  2026-11-30T10:00:00.000Z" in lines[1] and "future" not in lines[1]
    data = json.loads(CliRunner().invoke(main, ["clock", "--state", url, "--format", "json"]).output)
    assert data["clocks"][2] == {"name": "events[1]", "offset": 98, "clock": "2036-01-01T00:00:00.000Z"}


def test_set_back_to_now_repairs_only_the_clocks_that_are_later(tmp_path):
    url = poisoned(tmp_path)
    before = int(time.time() * 1000)
    result = CliRunner().invoke(main, ["clock", "--state", url, "--set-back-to", "now", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["set_back"] == ["engine clock", "events[1]"]
    to = parse_instant(data["to"])
    assert before <= to <= int(time.time() * 1000)
    with SqliteStore(tmp_path / "state.db") as store:
        assert store.get_meta("clock") == to
        assert store.positions() == {("events", 0): (120, parse_instant("2026-11-30T10:00:00Z"), "aa"),
                                     ("events", 1): (98, to, "bb")}  # offsets and fingerprints untouched
    again = CliRunner().invoke(main, ["clock", "--state", url, "--set-back-to", format_instant(to - 1)])
    assert "set back to" in again.output and "engine clock, events[1]" in again.output


def test_bad_instants_and_stores_are_usage_errors(tmp_path):
    url = poisoned(tmp_path)
    bad = CliRunner().invoke(main, ["clock", "--state", url, "--set-back-to", "yesterday"])
    assert bad.exit_code == 2 and "--set-back-to" in bad.output
    memory = CliRunner().invoke(main, ["clock", "--state", "memory:"])
    assert memory.exit_code == 2 and "keeps no clock" in memory.output


def test_status_shows_each_partition_with_its_offset_and_clock(tmp_path):
    url = poisoned(tmp_path)
    data = json.loads(CliRunner().invoke(main, ["status", "--state", url, "--format", "json"]).output)
    assert data["partitions"] == [
        {"topic": "events", "partition": 0, "offset": 120, "clock": "2026-11-30T10:00:00.000Z"},
        {"topic": "events", "partition": 1, "offset": 98, "clock": "2036-01-01T00:00:00.000Z"}]
    table = CliRunner().invoke(main, ["status", "--state", url]).output
    assert "events[0]: read up to offset 120, clock 2026-11-30T10:00:00.000Z" in table
