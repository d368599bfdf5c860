"""Issue 15 items 4, 15, 16 and 17 on a real `journeyctl run`: the embedded broker, real PostgreSQL (trust
auth here, so any password in the URL is accepted) and the run as a subprocess."""
from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time
import urllib.request


from journeyctl.engine.live.broker import free_port

SECRET = "pw-live-3f9a"
PAY = 'on payment_failed -> send email "pay" with amount = amount\n'
PROFILE = 'segment payers\n  where count(payment_failed within 30d) >= 1\n'


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def _with_password(url: str) -> str:
    assert url.startswith("postgresql://postgres@")
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{SECRET}@", 1)


def test_no_output_of_a_run_ever_holds_the_postgresql_password(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, pg_state):
    """Every output of a real run: stdout (the JSON log), stderr, the metrics page, and every record on the
    actions, dead-letter and profiles topics. The start line shows the location with the password hidden.
    Among the input, a Kafka key and a customer id with NUL and a 3,000-character id: PostgreSQL refuses
    the first and cannot index the second; each is a dead letter and the run goes on."""
    names.create(kafka)
    url = _with_password(pg_state[0])
    port = free_port()
    run = run_journeyctl([journeys_dir({"pay": PAY, "payers": PROFILE}), "--bootstrap-servers",
                          kafka.bootstrap_servers, *names.args(), "--state", url, "--no-dashboard",
                          "--metrics-port", port])
    run.wait_for(f"metrics on http://127.0.0.1:{port}/metrics", timeout=40)
    now = int(time.time() * 1000)
    good = [(f"c{i}".encode(), make_event("payment_failed", f"c{i}", now + i, f"m{i}", amount=i)) for i in range(5)]
    hostile = [(b"c\x00x", make_event("payment_failed", "c\x00x", now + 10, "h1", amount=1)),
               (b"y" * 3000, make_event("payment_failed", "y" * 3000, now + 11, "h2", amount=1)),
               (b"bad", b"{not json")]
    after = [(b"c9", make_event("payment_failed", "c9", now + 20, "m9", amount=9))]
    produce_to(kafka, names.events, good + hostile + after)
    actions = topic_reader(names.actions).until(lambda vs: len(vs) >= 6, timeout=40)
    dead = topic_reader(names.dead).until(lambda vs: len(vs) >= 3, timeout=20)
    profiles = topic_reader(names.profiles).until(lambda vs: len(vs) >= 6, timeout=20)
    metrics = _scrape(f"http://127.0.0.1:{port}/metrics")
    code, _ = run.terminate()
    assert code == 0, run.err()
    assert sorted(a["customer_id"] for a in actions) == ["c0", "c1", "c2", "c3", "c4", "c9"]
    assert sorted(d["reason"] for d in dead) == ["bad_id", "bad_id", "invalid_json"]
    assert "state in postgresql://postgres:***@127.0.0.1:5432/" in run.err()
    outputs = {"stdout": run.out(), "stderr": run.err(), "metrics": metrics,
               "topics": repr([actions, dead, profiles])}
    assert [name for name, text in outputs.items() if SECRET in text] == []


def test_a_run_that_cannot_reach_postgresql_says_so_without_the_password(kafka, names, journeys_dir,
                                                                          run_journeyctl):
    names.create(kafka)
    run = run_journeyctl([journeys_dir({"pay": PAY}), "--bootstrap-servers", kafka.bootstrap_servers,
                          *names.args(), "--state", f"postgresql://postgres:{SECRET}@127.0.0.1:1/test",
                          "--no-dashboard"])
    assert run.proc.wait(60) == 2, run.err()
    assert "cannot open the state postgresql://postgres:***@127.0.0.1:1/test" in run.err()
    assert SECRET not in run.err() + run.out() and "Traceback" not in run.err()


def test_a_null_kafka_value_is_a_null_value_dead_letter(kafka, names, journeys_dir, run_journeyctl, topic_reader,
                                                         produce_to, make_event, tmp_path):
    """A tombstone (no value at all) was dead-lettered as invalid_json with "value": "", like an empty value."""
    names.create(kafka)
    run = run_journeyctl([journeys_dir({"pay": PAY}), "--bootstrap-servers", kafka.bootstrap_servers,
                          *names.args(), "--state", f"sqlite:///{tmp_path / 's.db'}", "--no-dashboard"])
    now = int(time.time() * 1000)
    produce_to(kafka, names.events, [(b"c1", None), (b"c2", b""),
                                     (b"c3", make_event("payment_failed", "c3", now, "m3", amount=1))])
    dead = topic_reader(names.dead).until(lambda vs: len(vs) >= 2, timeout=30)
    topic_reader(names.actions).until(lambda vs: len(vs) >= 1, timeout=20)
    code, _ = run.terminate()
    assert code == 0, run.err()
    assert [(d["offset"], d["reason"]) for d in sorted(dead, key=lambda d: d["offset"])] == [
        (0, "null_value"), (1, "invalid_json")]


def test_a_refused_sasl_login_says_authentication_failed_not_unreachable(kafka, journeys_dir, tmp_path):
    """The embedded broker offers no SASL mechanism: the handshake fails. kafka-python retries it until its
    bootstrap gives up, then says only "Unable to bootstrap"; the run said "cannot reach the broker" and
    retried for ever. Now it says authentication failed and stops (exit 2): a person has to act."""
    proc = subprocess.run(
        [sys.executable, "-c", "from journeyctl.engine.cli.main import program; program()", "run",
         str(journeys_dir({"pay": PAY})), "--bootstrap-servers", kafka.bootstrap_servers,
         "--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", "PLAIN", "--sasl-username", "u",
         "--state", "memory:", "--no-dashboard"],
        env={**os.environ, "JOURNEYCTL_SASL_PASSWORD": SECRET}, capture_output=True, text=True, timeout=240,
        cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    assert "authentication failed" in proc.stderr and "does not offer SASL mechanism PLAIN" in proc.stderr
    assert "cannot reach" not in proc.stderr and SECRET not in proc.stderr + proc.stdout


def test_the_live_dashboard_never_prints_escape_sequences_from_events(kafka, names, journeys_dir, produce_to,
                                                                    make_event, tmp_path):
    """On a terminal (a real pty) the dashboard prints a line per action: a customer id with an OSC
    sequence set the operator's window title, and "\x1b[2J" in an id cleared the screen. Such ids are
    dead letters now (bad_id), and whatever else an action line holds goes through `visible`."""
    names.create(kafka)
    folder = journeys_dir({"pay": PAY})
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", "from journeyctl.engine.cli.main import program; program()", "run",
                             str(folder), "--bootstrap-servers", kafka.bootstrap_servers, *names.args(),
                             "--state", "memory:"],
                            stdin=follower, stdout=follower, stderr=follower, cwd=tmp_path,
                            env={**os.environ, "COLUMNS": "200", "LINES": "50", "TERM": "xterm"})
    os.close(follower)
    out = io.BytesIO()

    def pump(seconds: float) -> bytes:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    out.write(os.read(leader, 65536))
                except OSError:
                    break
        return out.getvalue()

    try:
        deadline = time.monotonic() + 40
        while b"events/s" not in pump(0.5):
            assert time.monotonic() < deadline and proc.poll() is None, out.getvalue()[-2000:]
        now = int(time.time() * 1000)
        produce_to(kafka, names.events, [
            (b"t", make_event("payment_failed", "c\x1b]0;PWNED\x1b\\", now, "m1", amount=1)),
            (b"t", make_event("payment_failed", "c2", now + 1, "m2\x1b[2J", amount=2)),
            (b"t", make_event("payment_failed", "c3", now + 2, "m3", amount="\x1b[2J\u009b2J"))])
        deadline = time.monotonic() + 30
        while b"customer_id=c3" not in pump(0.5):
            assert time.monotonic() < deadline and proc.poll() is None, out.getvalue()[-3000:]
        pump(1.0)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        finally:
            pump(0.5)
            os.close(leader)
    text = out.getvalue().decode("utf-8", "replace")
    assert "\x1b]0;" not in text and "\x1b[2J" not in text and "\u009b" not in text


def test_dashboard_lines_and_tables_neutralise_control_characters():
    from rich.console import Console

    from journeyctl.engine.obs.dashboard import Dashboard

    buffer = io.StringIO()
    view = Dashboard(Console(file=buffer, force_terminal=True, width=200))
    view.event("action", customer_id="c\x1b]0;PWNED\x1b\\", template="\x1b[2J", journey="j\u009b2J")
    text = buffer.getvalue()
    assert "c␛]0;PWNED␛\\" in text and "␛[2J" in text
    assert "\x1b]0;" not in text and "\x1b[2J" not in text and "\u009b" not in text
