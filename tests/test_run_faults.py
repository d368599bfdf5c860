"""What may not stop `journeyctl run` (issue 15 items 4-7), live: the embedded broker, real SQLite files,
real PostgreSQL, a real full filesystem (tmpfs), real signals.

- a record that makes the engine raise costs that record (an engine_error dead letter), never the run;
- a store fault: a PostgreSQL connection killed is waited out, a full disk or a schema renamed stops
  with a plain message and exit 2, and after the repair a restart loses no action;
- a store belongs to one consumer group;
- SIGTERM is handled from the first moment, and a worker that owns no partition says so.
The loop's own paths, without a broker: test_live_loop.py."""
from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request

import orjson
import psycopg
import pytest

from conftest import JOURNEYCTL, PATIENCE, PG_URL, pg_query, wait_until
from pg_proxy import CommitCutter
from test_live_loop import GROW, grow_stream

PAY = {"pay": 'on payment_failed -> send email "pay" with amount = amount\n'}
NOTE = {"note": 'on note -> set profile.text = text -> send email "noted" with size = size\n'}


def _keyed(values: list[bytes]) -> list[tuple[bytes, bytes]]:
    return [(orjson.loads(v)["customer_id"].encode(), v) for v in values]


def _exit(run, timeout: float = PATIENCE) -> int:
    return wait_until(lambda: run.proc.poll() is not None and (run.proc.returncode,), timeout,
                      lambda: f"journeyctl run to exit:\n{run.err()}")[0]


def _pays(make_event, tag: str, n: int) -> list[bytes]:
    now = int(time.time() * 1000)
    return [make_event("payment_failed", f"{tag}{i}", now + i, f"{tag}-{i}", amount=i) for i in range(n)]


# ---- item 4: a bug of ours costs one record ---------------------------------------------------------

def test_a_record_that_makes_the_engine_raise_is_dead_lettered_and_the_run_goes_on(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, tmp_path):
    names.create(kafka)
    args = [journeys_dir(GROW), "--bootstrap-servers", kafka.bootstrap_servers, *names.args(), "--clock", "event",
            "--state", f"sqlite:///{tmp_path / 'state.db'}", "--no-dashboard", "--quiet"]
    run = run_journeyctl(args)
    produce_to(kafka, names.events, _keyed(grow_stream()))
    dead = topic_reader(names.dead).until(lambda vs: len(vs) >= 3, PATIENCE)
    actions = topic_reader(names.actions).until(lambda vs: len(vs) >= 13, PATIENCE)
    assert run.proc.poll() is None, run.err()  # before: exit 1, and every restart stopped at the same record
    assert [(d["reason"], orjson.loads(d["value"])["message_id"]) for d in dead] == \
        [("engine_error", "b6"), ("engine_error", "b7"), ("engine_error", "b8")]
    assert all(d["detail"].startswith("OverflowError: ") and "Traceback" not in d["detail"] for d in dead)
    assert sorted(a["variables"]["n"] for a in actions if a["template"] == "pinged") == list(range(1, 9))
    assert len([a for a in actions if a["template"] == "grown"]) == 5
    wait_until(lambda: "engine error while applying" in run.err(), what=run.err)
    assert run.err().count("Traceback") == 1  # once in the log, with where it came from
    code, _ = run.terminate()
    assert code == 0, run.err()
    # a restart reads on after them: nothing is applied or dead-lettered again
    again = run_journeyctl(args, tag="again")
    again.wait_for("journeys; reading")
    produce_to(kafka, names.events, _keyed([grow_stream()[-1].replace(b'"p8"', b'"p9"')]))
    topic_reader(names.actions).until(lambda vs: len(vs) >= 14, PATIENCE)
    assert len(topic_reader(names.dead).read(500)) == 3
    code, _ = again.terminate()
    assert code == 0, again.err()


# ---- item 5: store faults -------------------------------------------------------------------------------

class SmallDisk:
    """A 1 MiB tmpfs at `path` (a real full disk: ENOSPC, SQLite's `database or disk is full`)."""

    def __init__(self, path):
        self.path = path

    def grow(self, mib: int) -> None:
        """The repair: the same files on a larger disk."""
        subprocess.run(["mount", "-o", f"remount,size={mib}m", str(self.path)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    where = tmp_path / "disk"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.decode().strip()}): needs root")
    try:
        yield SmallDisk(where)
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_full_disk_stops_run_with_exit_2_and_a_restart_after_the_repair_loses_nothing(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, replay_actions,
        small_disk):
    names.create(kafka)
    args = [journeys_dir(NOTE), "--bootstrap-servers", kafka.bootstrap_servers, *names.args(), "--clock", "event",
            "--state", f"sqlite:///{small_disk.path / 'state.db'}", "--no-dashboard", "--quiet"]
    now = int(time.time() * 1000)
    values = [make_event("note", f"c{i}", now + i, f"n{i}", text=f"{i}:" + "x" * 1_500, size=i) for i in range(1_500)]
    run = run_journeyctl(args)
    produce_to(kafka, names.events, _keyed(values))
    assert _exit(run) == 2, run.err()
    err = run.err()
    assert "the disk holding the state store is full" in err and "database or disk is full" in err, err
    assert "Traceback" not in err and "Nothing is lost" in err
    small_disk.grow(64)  # the repair
    again = run_journeyctl(args, tag="again")
    want = {a["action_id"]: a for a in replay_actions(NOTE, values, now + 60_000, 5_000)}
    got = topic_reader(names.actions).until(lambda vs: {a["action_id"] for a in vs} >= set(want), 2 * PATIENCE)
    code, _ = again.terminate()
    assert code == 0, again.err()
    have: dict = {}
    for a in got:
        assert have.setdefault(a["action_id"], a) == a  # a copy produced again is the same action
    assert set(have) == set(want)


def _pg_with(pg_state, tag: str) -> str:
    return f"{pg_state[0]}&application_name={tag}"


def test_a_postgresql_connection_killed_mid_run_is_waited_out_and_loses_nothing(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, pg_state):
    names.create(kafka)
    tag = f"jt-{pg_state[1]}"
    run = run_journeyctl([journeys_dir(PAY), "--bootstrap-servers", kafka.bootstrap_servers, *names.args(),
                          "--state", _pg_with(pg_state, tag), "--no-dashboard", "--quiet"])
    produce_to(kafka, names.events, _keyed(_pays(make_event, "a", 20)))
    reader = topic_reader(names.actions)
    reader.until(lambda vs: len(vs) >= 20, PATIENCE)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        killed = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                              (tag,)).fetchall()
    assert killed
    # stamped now: run's clock is the wall clock, and on a busy machine the first half took longer than the
    # allowed lateness (events stamped before it were dead-lettered as late, and the test waited in vain)
    produce_to(kafka, names.events, _keyed(_pays(make_event, "b", 20)))
    got = reader.until(lambda vs: len({a["action_id"] for a in vs}) >= 40, PATIENCE)
    assert run.proc.poll() is None, run.err()  # before: exit 1 with a psycopg traceback
    assert {a["customer_id"] for a in got} == {f"a{i}" for i in range(20)} | {f"b{i}" for i in range(20)}
    err = run.err()
    assert "the state store failed" in err and "Traceback" not in err, err
    code, _ = run.terminate()
    assert code == 0, run.err()


def test_a_commit_whose_answer_is_lost_is_found_made_and_its_actions_go_out_without_a_restart(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, pg_state):
    """The connection breaks as the server's answer to COMMIT comes back: the batch was committed (its customers,
    offsets and outbox rows), though run cannot know it. Reading the store again after the reconnect finds the
    commit made: its actions go out now, not after a restart (before: they waited in the outbox, and the batch
    read again found its messages already seen)."""
    names.create(kafka)
    proxy = CommitCutter()
    url = pg_state[0].replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    try:
        run = run_journeyctl([journeys_dir(PAY), "--bootstrap-servers", kafka.bootstrap_servers, *names.args(),
                              "--state", url, "--no-dashboard", "--quiet"])
        produce_to(kafka, names.events, _keyed(_pays(make_event, "a", 20)))
        reader = topic_reader(names.actions)
        reader.until(lambda vs: len(vs) >= 20, PATIENCE)
        proxy.arm(b'"trigger_message_id":"b-')  # (in the outbox rows of the second events' actions)
        produce_to(kafka, names.events, _keyed(_pays(make_event, "b", 20)))
        got = reader.until(lambda vs: len({a["action_id"] for a in vs}) >= 40, PATIENCE)
        assert proxy.cut.is_set()
        assert run.proc.poll() is None, run.err()
        assert {a["customer_id"] for a in got} == {f"a{i}" for i in range(20)} | {f"b{i}" for i in range(20)}, \
            run.err()
        err = run.err()
        assert "the state store failed" in err and "Traceback" not in err, err
        assert "the state store's last commit was made, though its answer was lost" in err, err
        code, _ = run.terminate()
        assert code == 0, run.err()
        assert not topic_reader(names.dead).read(500)
        (stats,) = pg_query(pg_state[1], "SELECT value FROM meta WHERE key LIKE 'stats:%%'")
        assert orjson.loads(stats[0])["duplicates"] == 0  # (the committed batch was not read again)
    finally:
        proxy.close()


def test_a_schema_renamed_mid_run_stops_run_with_exit_2_in_plain_words(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, pg_state):
    names.create(kafka)
    url, schema = pg_state
    run = run_journeyctl([journeys_dir(PAY), "--bootstrap-servers", kafka.bootstrap_servers, *names.args(),
                          "--state", url, "--no-dashboard", "--quiet"])
    produce_to(kafka, names.events, _keyed(_pays(make_event, "a", 5)))
    topic_reader(names.actions).until(lambda vs: len(vs) >= 5, PATIENCE)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_x"')
    try:
        produce_to(kafka, names.events, _keyed(_pays(make_event, "b", 5)))
        assert _exit(run) == 2, run.err()
        err = run.err()
        assert "the state store's tables are gone" in err and "Traceback" not in err, err
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'ALTER SCHEMA "{schema}_x" RENAME TO "{schema}"')


# ---- item 6: one store, one group ---------------------------------------------------------------------------

def test_a_second_group_on_the_same_sqlite_file_is_refused_at_start(kafka, names, journeys_dir, run_journeyctl,
                                                                     tmp_path):
    names.create(kafka)
    state = f"sqlite:///{tmp_path / 'state.db'}"
    args = [journeys_dir(PAY), "--bootstrap-servers", kafka.bootstrap_servers, *names.args(), "--state", state,
            "--no-dashboard"]
    first = run_journeyctl(args, tag="first")
    first.wait_for("journeys; reading")
    other = run_journeyctl([*args, "--group-id", "another-group"], tag="other")
    assert _exit(other) == 2, other.err()
    assert f"belongs to consumer group '{names.group}', not 'another-group'" in other.err()
    assert "Traceback" not in other.err()
    code, _ = first.terminate()
    assert code == 0, first.err()


# ---- item 7: signals from the first moment; a worker with no partition says so ----------------------------

def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def test_sigterm_while_the_embedded_broker_starts_stops_cleanly(journeys_dir, tmp_path):
    with open(tmp_path / "err", "wb") as err:
        proc = subprocess.Popen([*JOURNEYCTL, "run", str(journeys_dir(PAY)), "--embedded-broker", "--no-dashboard",
                                 "--state", f"sqlite:///{tmp_path / 'state.db'}"], cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
        try:
            broker = wait_until(lambda: _children(proc.pid), what="the embedded broker started")[0]
            proc.send_signal(signal.SIGTERM)  # the broker is starting: the run is far from its loop
            code = proc.wait(PATIENCE)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = (tmp_path / "err").read_text()
    assert code == 0, text  # before: 143, the handler came only after the start
    assert "SIGTERM" in text and "Traceback" not in text
    wait_until(lambda: not os.path.exists(f"/proc/{broker}") or "zombie" in _state(broker),
               what="the embedded broker stopped with it")


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as f:
            return f.read().lower()
    except OSError:
        return "gone"


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=PATIENCE) as r:
        return r.read().decode()


def test_a_worker_the_group_gives_no_partition_says_so_in_the_log_the_status_and_the_metrics(
        kafka, names, journeys_dir, run_journeyctl, tmp_path):
    from journeyctl.engine.live.broker import free_port

    names.create(kafka, partitions=1)
    folder = journeys_dir(PAY)
    runs = []
    for tag in ("one", "two"):  # one partition, two workers (each its own store): one of them gets none
        port = free_port()
        run = run_journeyctl([folder, "--bootstrap-servers", kafka.bootstrap_servers, *names.args(),
                              "--state", f"sqlite:///{tmp_path / (tag + '.db')}", "--no-dashboard",
                              "--metrics-port", port], tag=tag)
        runs.append((run, port))
    def idle_one():  # (which one the group leaves idle may change while they join: the one idle now)
        for run, port in runs:
            try:
                text = _scrape(f"http://127.0.0.1:{port}/metrics")
            except OSError:
                continue  # not serving yet
            if 'journeyctl_up{component="partitions"} 0.0' in text and "journeyctl_partitions_owned 0.0" in text:
                return run
        return None

    run = wait_until(idle_one, what=lambda: "a worker reporting no partition in its metrics:\n" +
                     "\n".join(r.err() for r, _ in runs))
    wait_until(lambda: "has owned no partition for" in run.err(), what=run.err)
    status = wait_until(lambda: next((x for x in reversed(run.log()) if x["msg"] == "status"
                                      and x["health"].get("partitions", {}).get("ok") is False), None),
                        what=lambda: f"a status line with partitions not ok:\n{run.out()}")
    assert "none owned for" in status["health"]["partitions"]["detail"]
    for r, _ in runs:
        code, _ = r.terminate()
        assert code == 0, r.err()


def test_a_worker_stopped_during_its_first_group_join_leaves_the_group_to_the_next_one(
        kafka, names, journeys_dir, run_journeyctl, tmp_path):
    """SIGTERM while the first join is in flight: the member has no id yet to leave with, and the broker kept
    it in the group holding both partitions; the next worker owned none for minutes (measured: over 100 s).
    Now the stopping worker lets the join complete and leaves. The moment of the signal is the test's
    input, not a wait: 0.3 s after the start line lands in the join here."""
    from journeyctl.engine.live.broker import free_port

    names.create(kafka, partitions=2)
    folder = journeys_dir(PAY)

    def start(tag: str, port: int):
        return run_journeyctl([folder, "--bootstrap-servers", kafka.bootstrap_servers, *names.args(),
                               "--state", f"sqlite:///{tmp_path / (tag + '.db')}", "--no-dashboard",
                               "--metrics-port", port], tag=tag)

    first = start("first", free_port())
    first.wait_for("journeys; reading")
    time.sleep(0.3)
    code, _ = first.terminate()
    assert code == 0, first.err()
    port = free_port()
    second = start("second", port)

    def owns() -> bool:
        try:
            text = _scrape(f"http://127.0.0.1:{port}/metrics")
        except OSError:
            return False
        return "journeyctl_partitions_owned 2.0" in text

    wait_until(owns, what=lambda: f"the next worker to own both partitions:\n{second.err()}")
    code, _ = second.terminate()
    assert code == 0, second.err()
