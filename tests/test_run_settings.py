"""`journeyctl run` settings and the outbox, without a broker: where each option comes from (command
line, JOURNEYCTL_* environment, journeyctl.yaml `run:`), security settings that never show a password,
dead-letter records, and the outbox committed with the state in one SQLite transaction."""
from __future__ import annotations

import base64
import sqlite3

import orjson
import pytest
from click.testing import CliRunner

from journeyctl.engine.cli.main import main
from journeyctl.engine.cli.run import kafka_settings, resolve_options, run
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.live.kafka_edge import KafkaSettings
from journeyctl.engine.live.edge import MAX_MESSAGE_BYTES
from journeyctl.engine.live.outbox import DEAD_LETTER_EXCERPT, Outbox, dead_letter_message
from journeyctl.engine.cli.startup import UsageProblem
from journeyctl.engine.store.sqlite import SCHEMA_VERSION, SqliteStore
from journeyctl.engine.core.state import Customer

SECRET = "s3cr3t-pa55"


def _options(args, monkeypatch=None, env=None, from_file=None):
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    ctx = run.make_context("run", ["j.journey", *args])
    params = {k: v for k, v in ctx.params.items() if k not in ("journeys", "config_path")}
    return resolve_options(ctx, params, from_file or {})


def test_defaults_are_the_documented_ones():
    o = _options([])
    assert o["events_topics"] == ("events",)
    assert (o["actions_topic"], o["dead_letter_topic"], o["group_id"]) == \
        ("journey.actions", "journey.dead-letter", "journeyctl")
    assert o["state_url"] == "sqlite:///journeyctl-state.db"
    assert o["allowed_lateness"] is None  # then journeyctl.yaml, else 5s
    assert o["bootstrap_servers"] == "localhost:9092" and not o["embedded_broker"]


def test_command_line_beats_environment_beats_config_file(monkeypatch):
    env = {"JOURNEYCTL_GROUP_ID": "from-env", "JOURNEYCTL_ACTIONS_TOPIC": "env.actions",
           "JOURNEYCTL_EVENTS_TOPIC": "a b"}
    from_file = {"group-id": "from-file", "actions_topic": "file.actions", "dead_letter_topic": "file.dead",
                 "events_topic": "file.events", "no_dashboard": True, "partitions": 3}
    o = _options(["--group-id", "from-cli"], monkeypatch, env, from_file)
    assert o["group_id"] == "from-cli"
    assert o["actions_topic"] == "env.actions"
    assert o["events_topics"] == ("a", "b")
    assert o["dead_letter_topic"] == "file.dead"
    assert o["no_dashboard"] is True and o["partitions"] == 3


def test_config_file_mistakes_are_named():
    with pytest.raises(UsageProblem, match="unknown setting 'bootstrap_server'; did you mean 'bootstrap-servers'"):
        _options([], from_file={"bootstrap_server": "x:1"})
    with pytest.raises(UsageProblem, match="a password does not belong in the config"):
        _options([], from_file={"sasl_password": SECRET})
    with pytest.raises(UsageProblem, match="partitions"):
        _options([], from_file={"partitions": "many"})
    with pytest.raises(UsageProblem, match="either --bootstrap-servers or --embedded-broker"):
        _options(["--embedded-broker", "--bootstrap-servers", "h:1"])


def test_sasl_password_only_from_environment_or_file_and_never_shown(monkeypatch, tmp_path):
    base = _options(["--security-protocol", "SASL_SSL", "--sasl-mechanism", "SCRAM-SHA-512",
                     "--sasl-username", "svc"])
    missing = kafka_settings(base)
    assert any("JOURNEYCTL_SASL_PASSWORD" in p for p in missing.problems())

    monkeypatch.setenv("JOURNEYCTL_SASL_PASSWORD", SECRET)
    s = kafka_settings(base)
    assert s.problems() == []
    assert s.options()["sasl_plain_password"] == SECRET and s.options()["sasl_mechanism"] == "SCRAM-SHA-512"
    for text in (repr(s), str(s), s.where()):
        assert SECRET not in text
    monkeypatch.delenv("JOURNEYCTL_SASL_PASSWORD")

    f = tmp_path / "pw"
    f.write_text(SECRET + "\n")
    assert kafka_settings({**base, "sasl_password_file": str(f)}).sasl_password == SECRET
    with pytest.raises(UsageProblem, match="cannot read the SASL password file"):
        kafka_settings({**base, "sasl_password_file": str(tmp_path / "nope")})


def test_security_settings_are_checked_before_connecting(tmp_path):
    assert KafkaSettings("h:1", "SASL_PLAINTEXT", "PLAIN", "u", "p").problems() == []
    assert "is not HOST:PORT" in " ".join(KafkaSettings("nohost").problems())
    assert "use SASL_SSL" in " ".join(KafkaSettings("h:1", sasl_mechanism="PLAIN", sasl_username="u").problems())
    assert "cannot read the file" in " ".join(KafkaSettings("h:1", "SSL", ssl_cafile=str(tmp_path / "ca.pem"))
                                               .problems())
    opts = KafkaSettings("h:1,h:2", "SSL", ssl_cafile=__file__).options()
    assert opts["bootstrap_servers"] == ["h:1", "h:2"] and opts["ssl_cafile"] == __file__


def test_bad_settings_exit_2_with_plain_words_and_no_password(tmp_path, monkeypatch):
    (tmp_path / "j.journey").write_text('on payment_failed -> send sms "x"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JOURNEYCTL_SASL_PASSWORD", SECRET)
    result = CliRunner().invoke(main, ["run", "j.journey", "--security-protocol", "SASL_SSL"])
    assert result.exit_code == 2
    assert "SASL_SSL needs --sasl-mechanism" in result.output and "needs --sasl-username" in result.output
    assert SECRET not in result.output and "Traceback" not in result.output


def test_dead_letters_carry_the_original_bytes():
    key, value = dead_letter_message("invalid_json", "not valid JSON", "events", 2, 41, b"c1", b"{oops")
    d = orjson.loads(value)
    assert key == b"c1"
    assert d == {"reason": "invalid_json", "detail": "not valid JSON", "topic": "events", "partition": 2,
                 "offset": 41, "key": "c1", "size": 5, "value": "{oops"}
    _, value = dead_letter_message("invalid_json", "x", "events", 0, 0, None, b"\xff\x00")
    assert base64.b64decode(orjson.loads(value)["value_base64"]) == b"\xff\x00"
    big = b"x" * 2_000_000
    _, value = dead_letter_message("too_large", "x", "events", 0, 0, None, big)
    d = orjson.loads(value)
    assert d["truncated"] is True and d["size"] == len(big) and len(d["value"]) == DEAD_LETTER_EXCERPT
    assert len(value) < MAX_MESSAGE_BYTES


def _action(aid: str, **extra) -> dict:
    return {"action_id": aid, "journey": "j", "journey_version": "v", "customer_id": "c1", "channel": "sms",
            "template": "t", "variables": {}, "due_at": "2026-11-27T00:00:00.000Z", "status": "send",
            "step": "s1", "trigger_message_id": "m", "instance_id": "m", "to": "+351900000001", **extra}


def test_outbox_offsets_clock_and_state_commit_together(tmp_path):
    path = tmp_path / "s.db"
    with SqliteStore(path) as store:
        engine = Engine([], store=store)
        engine.clock = 1234
        outbox = Outbox(store, "acts", "dead")
        c = Customer()
        c.profile["x"] = 1
        store.put("c1", c)
        rows = outbox.add_actions([_action("a1")])
        outbox.add_dead_letters([(None, b"{}")])
        outbox.consumed({("events", 0): 10})
        outbox.commit(engine)
        # a second batch that never commits: none of it may survive
        store.put("c2", c)
        outbox.add_actions([_action("a2")])
        outbox.consumed({("events", 0): 20})
    with SqliteStore(path) as store:
        outbox = Outbox(store, "acts", "dead")
        assert store.get("c1") is not None and store.get("c2") is None
        assert store.get_meta("clock") == 1234 and store.get_meta("stats")["events"] == 0
        assert outbox.offsets() == {("events", 0): 10}
        undelivered = outbox.undelivered()
        assert [(r[1], orjson.loads(r[3]).get("action_id")) for r in undelivered] == [("acts", "a1"), ("dead", None)]
        assert undelivered[0][:3] == rows[0][:3] and undelivered[0][2] == b"c1"
        assert "instance_id" not in orjson.loads(undelivered[0][3])
        outbox.delivered([undelivered[0][0]])
        outbox.commit()
        assert [r[1] for r in outbox.undelivered()] == ["dead"]
        new = outbox.add_actions([_action("a3")])  # ids keep growing past what is left
        assert new[0][0] > undelivered[-1][0]


def test_an_action_too_large_for_kafka_becomes_a_small_dead_letter(tmp_path):
    with SqliteStore(tmp_path / "s.db") as store:
        outbox = Outbox(store, "acts", "dead")
        (row,) = outbox.add_actions([_action("big", variables={"blob": "x" * MAX_MESSAGE_BYTES})])
        assert row[1] == "dead"
        d = orjson.loads(row[3])
        assert d["reason"] == "too_large" and d["action_id"] == "big" and d["size"] > MAX_MESSAGE_BYTES


def test_a_schema_1_file_gains_the_outbox_tables(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.execute("CREATE TABLE customers (customer_id TEXT PRIMARY KEY, state BLOB NOT NULL, next_due INTEGER)"
                 " WITHOUT ROWID")
    conn.execute("CREATE TABLE versions (version TEXT PRIMARY KEY, ir TEXT NOT NULL)")
    conn.commit()
    conn.close()
    with SqliteStore(path) as store:
        assert store.offsets() == {} and store.outbox() == []
        assert store.get_meta("schema_version") == SCHEMA_VERSION >= 2
