"""Operating `journeyctl run`: Prometheus metrics scraped during a real run, the structured JSON log,
and journeys reloaded without a restart (SIGHUP): new entries take the new version, a running
instance keeps its own, and a bad edit leaves the loaded journeys running."""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import time
import urllib.request

from conftest import PATIENCE, wait_until
from journeyctl.engine.live.broker import free_port

PAY = 'on payment_failed -> send email "pay" with amount = amount\n'
CHAIN = 'journey chain\n  on email_clicked\n  wait 2s\n  send push "{template}"\n'


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=PATIENCE) as r:
        return r.read().decode()


def _metric(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + ("{" if labels else " ")):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_port_serves_the_run_figures_and_the_json_log_has_status_lines(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, tmp_path):
    names.create(kafka)
    port = free_port()
    run = run_journeyctl([journeys_dir({"pay": PAY}), "--bootstrap-servers", kafka.bootstrap_servers, *names.args(),
                          "--state", f"sqlite:///{tmp_path / 'state.db'}", "--no-dashboard",
                          "--metrics-port", port])
    run.wait_for(f"metrics on http://127.0.0.1:{port}/metrics")
    now = int(time.time() * 1000)
    produce_to(kafka, names.events, [(f"c{i}".encode(), make_event("payment_failed", f"c{i}", now + i, f"m{i}",
                                                                    amount=i)) for i in range(12)])
    topic_reader(names.actions).until(lambda vs: len(vs) >= 12, timeout=PATIENCE)
    url = f"http://127.0.0.1:{port}/metrics"
    scrapes = [""]

    def all_sent() -> str | None:  # the figures are refreshed once a second
        text = scrapes[0] = _scrape(url)
        sent = _metric(text, "journeyctl_actions_total", journey="pay", channel="email", status="send")
        return text if sent == 12 and _metric(text, "journeyctl_consumer_lag", topic=names.events, partition="0") == 0 \
            else None

    text = wait_until(all_sent, what=lambda: f"12 sent actions and no lag in the metrics:\n{scrapes[0]}")
    assert _metric(text, "journeyctl_events_total") == 12
    assert _metric(text, "journeyctl_journey_instances", journey="pay", state="completed") == 12
    assert _metric(text, "journeyctl_consumer_lag", topic=names.events, partition="0") == 0
    assert _metric(text, "journeyctl_up", component="broker") == 1
    assert _metric(text, "journeyctl_event_to_action_latency_seconds_count") == 12

    def status_after_the_events() -> dict | None:  # a JSON status line comes every 5 s
        return next((x for x in reversed(run.log())
                     if x["msg"] == "status" and x["events"] == 12 and x["total_lag"] == 0), None)

    status = wait_until(status_after_the_events, what=lambda: f"a status line: 12 events, no lag:\n{run.out()}")
    code, _ = run.terminate()
    assert code == 0, run.err()
    log = run.log()
    assert status["funnel"]["pay"]["completed"] == 12
    assert status["health"]["broker"]["ok"] is True
    assert len([x for x in log if x["msg"] == "action"]) == 12


def test_sighup_reloads_journeys_new_entries_get_the_new_version_running_instances_keep_theirs(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, tmp_path):
    names.create(kafka)
    folder = journeys_dir({"chain": CHAIN.format(template="old")})
    run = run_journeyctl([folder, "--bootstrap-servers", kafka.bootstrap_servers, *names.args(),
                          "--allowed-lateness", "1s", "--state", f"sqlite:///{tmp_path / 'state.db'}",
                          "--no-dashboard", "--quiet"])
    reader = topic_reader(names.actions)

    def enter(customer: str) -> None:
        produce_to(kafka, names.events, [(customer.encode(), make_event("email_clicked", customer,
                                                                        int(time.time() * 1000), f"m-{customer}"))])

    def read_so_far() -> int:
        try:
            with sqlite3.connect(f"file:{tmp_path / 'state.db'}?mode=ro", uri=True) as conn:
                return conn.execute('SELECT coalesce(sum("offset"), 0) FROM offsets').fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    enter("before")  # waits 2 s on the old version
    wait_until(lambda: read_so_far() >= 1, what=lambda: f"the first event committed:\n{run.err()}")
    (folder / "chain.journey").write_text(CHAIN.format(template="new"))
    run.proc.send_signal(signal.SIGHUP)
    run.wait_for("reloaded 1 journeys (SIGHUP): changed: chain")
    enter("after")
    # a bad edit is reported and the loaded journeys keep running
    (folder / "chain.journey").write_text("journey chain\n  on email_clicked\n  wait forever\n")
    run.proc.send_signal(signal.SIGHUP)
    run.wait_for("reload (SIGHUP) failed")
    enter("after-bad-edit")
    got = {a["customer_id"]: a for a in reader.until(lambda vs: len(vs) >= 3, timeout=PATIENCE)}
    code, _ = run.terminate()
    assert code == 0, run.err()
    assert "the journeys loaded before keep running" in run.err()
    assert got["before"]["template"] == "old"
    assert got["after"]["template"] == "new" == got["after-bad-edit"]["template"]
    assert got["before"]["journey_version"] != got["after"]["journey_version"]
    assert got["after"]["journey_version"] == got["after-bad-edit"]["journey_version"]
    assert re.search(r"changed: chain \w+ -> \w+", run.err())


def test_watch_reloads_a_changed_journey_file_without_a_signal(
        kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, tmp_path):
    names.create(kafka)
    folder = journeys_dir({"chain": CHAIN.format(template="old")})
    run = run_journeyctl([folder, "--bootstrap-servers", kafka.bootstrap_servers, *names.args(), "--watch",
                          "--allowed-lateness", "1s", "--state", f"sqlite:///{tmp_path / 'state.db'}",
                          "--no-dashboard", "--quiet"])
    reader = topic_reader(names.actions)
    run.wait_for("reading")
    path = folder / "chain.journey"
    seen = path.stat().st_mtime_ns  # what the watcher noted at start
    path.write_text(CHAIN.format(template="new"))
    os.utime(path, ns=(seen + 10**9, seen + 10**9))  # a later mtime, even where the clock's tick is coarse
    run.wait_for("reloaded 1 journeys (a journey file changed): changed: chain")
    produce_to(kafka, names.events, [(b"w1", make_event("email_clicked", "w1", int(time.time() * 1000), "m-w1"))])
    got = reader.until(lambda vs: len(vs) >= 1, timeout=PATIENCE)
    code, _ = run.terminate()
    assert code == 0, run.err()
    assert [a["template"] for a in got] == ["new"]
