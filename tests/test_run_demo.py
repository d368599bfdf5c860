"""`journeyctl demo`: live by default (embedded broker, generated traffic, actions printed as they
happen), the offline replay with --offline."""
from __future__ import annotations

import json
import signal
import subprocess
from datetime import datetime, timedelta

from conftest import JOURNEYCTL, PATIENCE, ROOT, wait_until


def test_live_demo_prints_actions_as_they_happen_and_stops_cleanly(tmp_path):
    """Stopped with Ctrl-C once alex's message is shown, not after a fixed time: on a loaded machine the
    broker and the group join can take a fixed demo's whole length (0 events read in 8 s, seen once)."""
    out_path, err_path = tmp_path / "demo.out", tmp_path / "demo.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen([*JOURNEYCTL, "demo", "--rate", "10", "--seed", "3"], cwd=ROOT, stdout=out,
                                stderr=err, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: "Hi Alex, check out the latest running shoes" in out_path.read_text(errors="replace"),
                   what="alex's message on stdout")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(PATIENCE) == 0, err_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stdout, stderr = out_path.read_text(), err_path.read_text()
    assert "Live demo: 7 journeys" in stdout
    assert "✉ alex" in stdout
    assert "Hi Alex, check out the latest running shoes picked just for you." in stdout
    assert "What customers received" in stdout
    sends = [line for line in stdout.splitlines() if "  send  " in line and "-> cust-" in line]
    assert sends, stdout
    assert "Journeys" in stdout and "Actions" in stdout  # the summary at the end
    assert "stopped:" in stderr and "Traceback" not in stderr


def test_offline_demo_replays_the_examples(tmp_path):
    done = subprocess.run([*JOURNEYCTL, "demo", "--offline"], cwd=ROOT, capture_output=True, text=True, timeout=2 * PATIENCE)
    assert done.returncode == 0, done.stderr
    assert "Checked" in done.stdout and "Timeline" in done.stdout


def _until_three_weeks_after_the_examples() -> str:
    """demo --offline runs the clock three weeks past the last example event (README, step 6)."""
    stamps = []
    for line in (ROOT / "examples" / "events.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            stamps.append(datetime.fromisoformat(json.loads(line)["timestamp"].replace("Z", "+00:00")))
        except (ValueError, KeyError, TypeError):
            continue  # the examples hold a bad line on purpose
    return (max(stamps) + timedelta(days=21)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _actions_table(text: str) -> str:
    """The summary's Actions table: (journey, channel, status, count) rows, as both commands print it."""
    start = text.index("Actions")
    return text[start:text.index("events applied", start)]


def test_offline_demo_sends_what_simulate_sends_under_the_project_config():
    """demo --offline and simulate load the project the same way, journeyctl.yaml included: the demo once
    built its engine without it and sent push to customers with no push_token (5 of its actions differed)."""
    until = _until_three_weeks_after_the_examples()
    demo = subprocess.run([*JOURNEYCTL, "demo", "--offline"], cwd=ROOT, capture_output=True, text=True, timeout=2 * PATIENCE)
    simulate = subprocess.run([*JOURNEYCTL, "simulate", "journeys/", "--events", "examples/events.jsonl",
                               "--until", until, "--format", "summary"], cwd=ROOT, capture_output=True, text=True,
                              timeout=2 * PATIENCE)
    assert demo.returncode == 0 and simulate.returncode == 0, demo.stderr + simulate.stderr
    assert _actions_table(demo.stdout) == _actions_table(simulate.stdout)
    assert "push" in _actions_table(demo.stdout)  # the comparison covers the channel that used to differ


def test_offline_demo_actions_are_byte_for_byte_simulate_s():
    until = _until_three_weeks_after_the_examples()
    demo = subprocess.run([*JOURNEYCTL, "demo", "--offline", "--format", "jsonl"], cwd=ROOT, capture_output=True,
                          timeout=2 * PATIENCE)
    simulate = subprocess.run([*JOURNEYCTL, "simulate", "journeys/", "--events", "examples/events.jsonl",
                               "--until", until, "--format", "jsonl"], cwd=ROOT, capture_output=True, timeout=2 * PATIENCE)
    assert demo.returncode == 0 and simulate.returncode == 0, demo.stderr + simulate.stderr
    assert demo.stdout == simulate.stdout and demo.stdout.count(b"\n") >= 30
