"""status, inspect and segments read a real SQLite store that a real simulate run wrote."""
import json

from click.testing import CliRunner

from journeyctl.engine.cli.main import main

SEGMENT = 'segment weekly_active "Opened the app this week"\n  where count(app_opened within 7d) >= 1\n'
JOURNEY = 'journey nudge\n  on app_opened\n  wait 3d unless purchase\n  send push "come_back"\n'
EVENTS = [
    {"type": "identify", "userId": "ana", "timestamp": "2026-03-01T09:00:00Z", "messageId": "i1",
     "traits": {"first_name": "Ana"}},
    {"event": "app_opened", "customer_id": "ana", "timestamp": "2026-03-01T10:00:00Z", "message_id": "e1"},
    {"event": "app_opened", "customer_id": "ben", "timestamp": "2026-03-01T11:00:00Z", "message_id": "e2"},
    {"event": "purchase", "customer_id": "ben", "timestamp": "2026-03-02T11:00:00Z", "message_id": "e3"},
]


def replay_into(tmp_path):
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "weekly_active.journey").write_text(SEGMENT)
    (tmp_path / "j" / "nudge.journey").write_text(JOURNEY)
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    url = f"sqlite:///{tmp_path / 'state.db'}"
    result = CliRunner().invoke(main, ["simulate", str(tmp_path / "j"), "--events", str(tmp_path / "events.jsonl"),
                                       "--state", url, "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    return url


def test_status_counts_journeys_and_lists_who_waits_until_when(tmp_path):
    url = replay_into(tmp_path)
    result = CliRunner().invoke(main, ["status", "--state", url, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["journeys"]["nudge"] == {"entered": 2, "active": 1, "converted": 0, "cancelled": 1, "exited": 0,
                                         "completed": 0, "restarted": 0}
    assert data["waiting"] == [{"due": "2026-03-04T10:00:00.000Z", "customer_id": "ana", "journey": "nudge",
                                "step": "s1", "kind": "wait"}]
    table = CliRunner().invoke(main, ["status", "--state", url])
    assert "2026-03-04T10:00:00.000Z" in table.output and "nudge" in table.output


def test_inspect_shows_profile_segments_and_timers(tmp_path):
    url = replay_into(tmp_path)
    data = json.loads(CliRunner().invoke(main, ["inspect", "ana", "--state", url, "--format", "json"]).output)
    assert data["profile"] == {"first_name": "Ana"}
    assert data["segments"] == ["weekly_active"]
    assert [(i["journey"], i["waiting_until"]) for i in data["instances"]] == [("nudge", "2026-03-04T10:00:00.000Z")]
    # the window of the segment's count, entry by entry
    assert list(data["aggregates"].values()) == [[["2026-03-01T10:00:00.000Z", 1]]]
    missing = CliRunner().invoke(main, ["inspect", "zoe", "--state", url])
    assert missing.exit_code == 1 and "no state for customer 'zoe'" in missing.output


def test_segments_counts_members(tmp_path):
    url = replay_into(tmp_path)
    data = json.loads(CliRunner().invoke(main, ["segments", "--state", url, "--format", "json"]).output)
    assert data == {"weekly_active": {"members": 2, "entered": 2, "exited": 0}}


def test_a_store_with_nothing_in_it_is_a_usage_error(tmp_path):
    from journeyctl.engine.store.sqlite import SqliteStore

    SqliteStore(tmp_path / "empty.db").close()  # a store the engine made, with nothing in it yet
    result = CliRunner().invoke(main, ["status", "--state", f"sqlite:///{tmp_path / 'empty.db'}"])
    assert result.exit_code == 2 and "holds no engine state" in result.output
