"""Issue 15 items 10-16 and issue 14's read-only commands, through the real command line (a subprocess,
so a traceback or a wrong exit code is seen as a user sees it): hostile journeys, events, CSV cells and
store locations give a diagnostic or a dead letter and the documented exit code, never a traceback; no
password and no terminal escape sequence from the data reaches any output; status, inspect and segments
never create or change a store."""
import json
import os
import subprocess
import sys

import orjson
import pytest

from journeyctl.engine.core.events import MAX_MS

JOURNEYCTL = [sys.executable, "-c", "from journeyctl.engine.cli.main import program; program()"]
SECRET = "pw-hostile-7c1e"  # (fixed: xdist workers must collect the same test ids)
PG_DOWN = f"postgresql://postgres:{SECRET}@127.0.0.1:1/test"


def cli(*args, cwd=None, timeout=120):
    return subprocess.run([*JOURNEYCTL, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          stdin=subprocess.DEVNULL, timeout=timeout, env={**os.environ, "NO_COLOR": "1"})


def no_traceback(result):
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path, objects):
    path.write_bytes(b"".join((o if isinstance(o, bytes) else orjson.dumps(o)) + b"\n" for o in objects))
    return path


def ev(customer, at, name="a", **fields):
    return {"event": name, "customer_id": customer, "timestamp": at, **fields}


# ---- journeys: numbers and durations past the limits (items 4, 11, 12) -----------------------------

HOSTILE_JOURNEYS = {
    "wait_forever": ("on a -> wait 999999999999w -> send email\n", "J103", "1:14"),
    "huge_integer": ("on a where x == 1" + "0" * 4400 + " -> send email\n", "J132", "1:17"),
    "infinite_decimal": ("on a where x == 1" + "0" * 400 + ".5 -> send email\n", "J132", "1:17"),
    "infinite_cap": ("journey j\n  cap email 1" + "0" * 309 + " per 1d\n  on a -> send email\n", "J132", "2:13"),
}


@pytest.mark.parametrize("name", HOSTILE_JOURNEYS)
def test_every_command_reports_an_impossible_number_as_a_diagnostic(tmp_path, name):
    text, code, where = HOSTILE_JOURNEYS[name]
    path = write(tmp_path / f"{name}.journey", text)
    events = jsonl(tmp_path / "e.jsonl", [ev("c1", "2026-03-02T12:00:00Z")])
    for args, exit_code in [(["validate", path], 1), (["compile", path], 1), (["fmt", "--check", path], 1),
                            (["graph", path], 1), (["simulate", path, "--events", events], 2)]:
        result = cli(*args, cwd=tmp_path)
        no_traceback(result)
        assert result.returncode == exit_code, (args, result.stdout, result.stderr)
        out = result.stdout + result.stderr
        assert f"{name}.journey:{where}: {code} error" in out, (args, out)
        assert "Infinity" not in result.stdout


# ---- simulate: every hostile line is a dead letter, the good ones still act (item 14) -------------

def test_simulate_dead_letters_hostile_lines_and_keeps_the_good_ones(tmp_path):
    write(tmp_path / "j.journey", "journey j\n  quiet hours 21:00-08:00\n  on a\n  send email\n")
    deep = b'{"x":' * 1000 + b"1" + b"}" * 1000
    lines = [ev("c1", "2026-03-02T12:00:00Z"),
             b'{"event":"a","customer_id":"c2","timestamp":"2026-03-02T12:00:01Z","properties":' + deep + b"}",
             ev("c3", "9999-12-31T22:00:00Z"),
             {"type": "identify", "userId": "c4", "timestamp": "2026-03-02T12:00:02Z", "traits": {"timezone": ["x"]}},
             ev("c4", "2026-03-02T12:00:03Z"),
             ev("c\x00", "2026-03-02T12:00:04Z"),
             ev("y" * 3000, "2026-03-02T12:00:05Z"),
             ev("c5", "2026-03-02T12:00:06Z")]
    events = jsonl(tmp_path / "e.jsonl", lines)
    result = cli("simulate", tmp_path / "j.journey", "--events", events, "--format", "jsonl",
                 "--dead-letter", tmp_path / "dead.jsonl", "--until", "9999-12-31T23:59:59.999Z")
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert [json.loads(x)["customer_id"] for x in result.stdout.splitlines()] == ["c1", "c4", "c5"]
    dead = [json.loads(x) for x in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert [(d["line"], d["reason"]) for d in dead] == [(2, "too_deep"), (3, "bad_time"), (6, "bad_id"),
                                                         (7, "bad_id")]


def test_simulate_dead_letters_hostile_csv_cells(tmp_path):
    write(tmp_path / "j.journey", "on a -> send email with note = trigger.note\n")
    rows = ["event,customer_id,timestamp,note",
            "a,c1,2026-03-02T12:00:00Z,x",
            "a,c2,2026-03-02T12:00:01Z," + "y" * 140_000,   # past the csv module's 131,072-character field limit
            "a,c3,1e400,z",                                # a time no float holds
            "a,c4,2026-03-02T12:00:02Z," + "9" * 5000,     # a number past 4,300 digits
            "a,c5,2026-03-02T12:00:03Z,1e999",
            "a,c6,2026-03-02T12:00:04Z,ok"]
    events = write(tmp_path / "e.csv", "\n".join(rows) + "\n")
    result = cli("simulate", tmp_path / "j.journey", "--events", events, "--format", "jsonl",
                 "--dead-letter", tmp_path / "dead.jsonl")
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    actions = [json.loads(x) for x in result.stdout.splitlines()]
    assert [(a["customer_id"], a["variables"]["note"]) for a in actions] == [
        ("c1", "x"), ("c4", "9" * 5000), ("c5", "1e999"), ("c6", "ok")]
    dead = [json.loads(x) for x in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert [(d["line"], d["reason"]) for d in dead] == [(3, "too_large"), (4, "bad_time")]


def test_simulate_runs_timers_to_the_last_instant_there_is(tmp_path):
    """--until 9999-12-31T23:59:59.999Z with long waits and quiet hours: the timers fire or wait, none
    overflows, and the replay ends normally."""
    write(tmp_path / "j.journey", "journey j\n  quiet hours 21:00-08:00\n  timezone \"Pacific/Kiritimati\"\n"
                                  "  on a\n  wait 36500d\n  send email\n  wait 36500d\n  send sms\n")
    events = jsonl(tmp_path / "e.jsonl", [ev("c2", "2026-03-02T12:00:00Z"), ev("c1", "9899-12-31T23:59:59.999Z")])
    result = cli("simulate", tmp_path / "j.journey", "--events", events, "--format", "jsonl",
                 "--until", "9999-12-31T23:59:59.999Z")
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert [(a["customer_id"], a["channel"]) for a in map(json.loads, result.stdout.splitlines())] == [
        ("c2", "email"), ("c2", "sms"), ("c1", "email")]


def test_simulate_with_a_timer_running_into_quiet_hours_at_the_end_of_the_calendar(tmp_path):
    """An event stamped 9999-12-31T20:00Z, a wait of 1h, then quiet hours: finding the end of the quiet
    window needed a day after 9999-12-31 and the whole replay stopped with OverflowError. Such a time is
    past what an event may carry: a dead letter, and the rest of the replay goes on."""
    write(tmp_path / "j.journey", "journey j\n  quiet hours 21:00-08:00\n  on a\n  wait 1h\n  send email\n")
    events = jsonl(tmp_path / "e.jsonl", [ev("c2", "2026-03-02T12:00:00Z"), ev("c1", "9999-12-31T20:00:00Z")])
    result = cli("simulate", tmp_path / "j.journey", "--events", events, "--format", "jsonl",
                 "--until", "9999-12-31T23:59:59.999Z")
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert [a["customer_id"] for a in map(json.loads, result.stdout.splitlines())] == ["c2"]
    assert "1 dead letters: bad_time 1" in result.stderr


# ---- tracing never changes the results (item 10) ----------------------------------------------------

@pytest.mark.parametrize("journey, events, until", [
    ("on a -> wait 2d -> send email\n", [ev("c1", "9999-12-30T00:00:00Z"), ev("c2", "2026-03-02T12:00:00Z")], None),
    ("on a -> wait 36500d -> wait 36500d -> send email\n", [ev("c1", "9899-12-31T00:00:00Z")],
     "9999-12-31T23:59:59.999Z"),
])
def test_trace_never_changes_what_simulate_does(tmp_path, journey, events, until):
    write(tmp_path / "j.journey", journey)
    path = jsonl(tmp_path / "e.jsonl", events)
    runs = []
    for trace in ([], ["--trace", "c1"]):
        dead = tmp_path / f"dead{len(runs)}.jsonl"
        result = cli("simulate", tmp_path / "j.journey", "--events", path, "--format", "jsonl",
                     "--dead-letter", dead, *(["--until", until] if until else []), *trace)
        no_traceback(result)
        assert result.returncode == 0, result.stderr
        runs.append((result.stdout, dead.read_text()))
        if trace:
            assert "Trace of customer c1" in result.stderr
    assert runs[0] == runs[1]


# ---- secrets (item 15) and unreachable stores (item 14) ---------------------------------------------

@pytest.mark.parametrize("command", [["simulate", "{j}", "--events", "{e}"], ["status"], ["inspect", "c1"],
                                     ["segments"]])
def test_an_unreachable_postgresql_is_an_io_error_without_traceback_or_password(tmp_path, command):
    write(tmp_path / "j.journey", "on a -> send email\n")
    events = jsonl(tmp_path / "e.jsonl", [ev("c1", "2026-03-02T12:00:00Z")])
    args = [a.format(j=tmp_path / "j.journey", e=events) for a in command]
    result = cli(*args, "--state", PG_DOWN)
    no_traceback(result)
    assert result.returncode == 2, result.stderr
    assert "cannot open the state postgresql://postgres:***@127.0.0.1:1/test" in " ".join(result.stderr.split())
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("command", [["run", "{j}"], ["deliver"]])
def test_a_state_file_that_is_not_a_store_is_said_once(tmp_path, command):
    """run and deliver printed the store's own words after their own: "cannot open the state x.db:
    cannot open the state x.db: file is not a database"."""
    write(tmp_path / "j.journey", "on a -> send email\n")
    write(tmp_path / "journeyctl.yaml", 'delivery:\n  email: {provider: webhook, url: "http://127.0.0.1:9/hook"}\n')
    write(tmp_path / "state.db", "these bytes are not a SQLite database, nor any store\n" * 20)
    args = [a.format(j=tmp_path / "j.journey") for a in command]
    result = cli(*args, "--bootstrap-servers", "127.0.0.1:1", "--state", "state.db", cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 2, result.stderr
    said = " ".join(result.stderr.split())
    assert f"journeyctl {command[0]}: cannot open the state state.db: file is not a database" in said, said
    assert said.count("cannot open the state") == 1, said


@pytest.mark.parametrize("url", [f"postgresql://postgres@127.0.0.1:1/test?password={SECRET}",
                                 f"postgresql://postgres:{SECRET}@[::1/test"])
def test_a_password_anywhere_in_the_location_is_never_shown(tmp_path, url):
    result = cli("status", "--state", url)
    no_traceback(result)
    assert result.returncode == 2 and SECRET not in result.stdout + result.stderr


def test_simulate_status_inspect_segments_on_postgresql_never_show_the_password(tmp_path, pg_state):
    url, schema = pg_state
    url = url.replace("postgresql://postgres@", f"postgresql://postgres:{SECRET}@")
    write(tmp_path / "j.journey", "on a -> wait 1d -> send email\n")
    events = jsonl(tmp_path / "e.jsonl", [ev("c1", "2026-03-02T12:00:00Z"), b"not json"])
    outputs = []
    for args in (["simulate", tmp_path / "j.journey", "--events", events, "--state", url,
                  "--dead-letter", tmp_path / "dead.jsonl", "--format", "table"],
                 ["status", "--state", url], ["status", "--state", url, "--format", "json"],
                 ["inspect", "c1", "--state", url], ["inspect", "nobody", "--state", url],
                 ["segments", "--state", url]):
        result = cli(*args)
        no_traceback(result)
        outputs.append(result.stdout + result.stderr)
    outputs.append((tmp_path / "dead.jsonl").read_text())
    assert "c1" in outputs[1]
    assert not [o for o in outputs if SECRET in o]


# ---- terminal escapes from event data (item 16) -------------------------------------------------------

TITLE = "c\x1b]0;PWNED\x1b\\"
CLEAR = "\x1b[2J"


def assert_no_escapes(text):
    assert "\x1b" not in text and "\x9b" not in text, repr(text[:300])


def test_simulate_table_and_trace_show_event_text_without_escape_sequences(tmp_path):
    write(tmp_path / "j.journey", "on a -> send email with note = trigger.note\n")
    write(tmp_path / "k.journey", "on b -> wait 1h -> send sms\n")
    events = jsonl(tmp_path / "e.jsonl", [
        {"event": "a", "userId": "ok", "timestamp": "2026-03-02T12:00:00Z", "properties": {"note": CLEAR + "\x9b2J"}},
        {"event": "b", "userId": "ok", "timestamp": "2026-03-02T12:00:01Z"},
        {"event": "a" + CLEAR, "userId": "ok", "timestamp": "2026-03-02T12:00:02Z"}])
    result = cli("simulate", tmp_path, "--events", events, "--format", "table", "--trace", "ok",
                 "--until", "2026-03-03T00:00:00Z")
    assert result.returncode == 0, result.stderr
    assert "␛[2J" in result.stdout  # shown, as a symbol
    assert_no_escapes(result.stdout + result.stderr)
    summary = cli("simulate", tmp_path, "--events", events, "--format", "summary")
    assert_no_escapes(summary.stdout + summary.stderr)


def test_status_and_inspect_show_stored_text_without_escape_sequences(tmp_path):
    from journeyctl.dsl.compiler import compile_text
    from journeyctl.engine.core.engine import Engine
    from journeyctl.engine.core.events import Event
    from journeyctl.engine.store.open import checkpoint, open_store

    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    engine = Engine([compile_text("on a -> wait 1d -> send email\n", "j.journey").ir], store=store)
    # a customer id such as a store written before ids had limits, or by another tool, may hold
    engine.process(Event("identify", TITLE, 1772452800000, {}, "m" + CLEAR, {"note": CLEAR, "n\x1b": 1}))
    engine.process(Event("a", TITLE, 1772452800001, {}, "m2" + CLEAR))
    checkpoint(engine)
    store.close()
    url = f"sqlite:///{tmp_path / 's.db'}"
    for args in (["status", "--state", url], ["inspect", TITLE, "--state", url], ["segments", "--state", url],
                 ["inspect", "nobody" + CLEAR, "--state", url]):
        result = cli(*args)
        no_traceback(result)
        assert_no_escapes(result.stdout + result.stderr)
    assert "c␛]0;PWNED␛\\" in cli("status", "--state", url).stdout


# ---- read-only commands never create or change a store (issue 14 section 3) ---------------------------

@pytest.mark.parametrize("command", [["status"], ["inspect", "c1"], ["segments"]])
def test_a_mistyped_sqlite_location_is_an_error_and_no_file_is_created(tmp_path, command):
    for url in ("sqlite:///typo.db", "typo.db", f"sqlite:///{tmp_path / 'sub' / 'typo.db'}"):
        result = cli(*command, "--state", url, cwd=tmp_path)
        no_traceback(result)
        assert result.returncode == 2 and "does not exist" in result.stderr
    assert sorted(os.listdir(tmp_path)) == []


def test_status_inspect_segments_leave_a_store_byte_for_byte_unchanged(tmp_path):
    write(tmp_path / "j.journey", "on a -> wait 1d -> send email\n")
    events = jsonl(tmp_path / "e.jsonl", [ev("c1", "2026-03-02T12:00:00Z")])
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert cli("simulate", tmp_path / "j.journey", "--events", events, "--state", url).returncode == 0
    before = (tmp_path / "s.db").read_bytes()
    os.chmod(tmp_path / "s.db", 0o444)  # and a file the reader may not write is no obstacle
    try:
        for args in (["status"], ["inspect", "c1"], ["segments"]):
            result = cli(*args, "--state", url)
            assert result.returncode == 0, result.stderr
    finally:
        os.chmod(tmp_path / "s.db", 0o644)
    assert (tmp_path / "s.db").read_bytes() == before
    # a reader of a WAL database may leave SQLite's shared-memory index beside it, never a write
    assert not (tmp_path / "s.db-wal").exists() or (tmp_path / "s.db-wal").stat().st_size == 0


def test_a_file_that_is_not_a_store_is_an_error_and_is_left_alone(tmp_path):
    write(tmp_path / "notes.db", "my notes\n")
    result = cli("status", "--state", tmp_path / "notes.db")
    no_traceback(result)
    assert result.returncode == 2 and "is not a database" in result.stderr
    assert (tmp_path / "notes.db").read_text() == "my notes\n"


def test_read_only_commands_never_create_a_postgresql_schema(pg_state):
    from tests.conftest import pg_query

    url, schema = pg_state
    for args in (["status"], ["inspect", "c1"], ["segments"]):
        result = cli(*args, "--state", url)
        no_traceback(result)
        assert result.returncode == 2 and "holds no journeyctl state" in result.stderr
    assert pg_query("public", "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)) == []


# ---- a stored timer past the year 9999 (item 14) -------------------------------------------------------

def test_status_and_inspect_show_a_timer_past_the_year_9999(tmp_path):
    write(tmp_path / "j.journey", "on a -> wait 36500d -> wait 36500d -> send email\n")
    events = jsonl(tmp_path / "e.jsonl", [ev("c1", "9899-12-31T00:00:00Z")])
    url = f"sqlite:///{tmp_path / 's.db'}"
    sim = cli("simulate", tmp_path / "j.journey", "--events", events, "--state", url,
              "--until", "9999-12-31T23:59:59.999Z")
    assert sim.returncode == 0, sim.stderr
    for args in (["status"], ["status", "--format", "json"], ["inspect", "c1"], ["inspect", "c1", "--format", "json"]):
        result = cli(*args, "--state", url)
        no_traceback(result)
        assert result.returncode == 0, result.stderr
        assert "after 9999" in result.stdout
    due = json.loads(cli("inspect", "c1", "--state", url, "--format", "json").stdout)["instances"][0]["waiting_until"]
    assert int(due.split()[0]) > MAX_MS
