"""The web UI in a real browser (Playwright driving Debian's Chromium) over real stores: one filled by a
real `simulate --state` run (SQLite and PostgreSQL), one written by a live `run` on the broker, one
written by a live `run` and `journeyctl deliver` together (a real webhook receiver on loopback).

What a person would check: every page loads and shows its numbers; those numbers are the ones
`journeyctl status --format json` gives and the ones a scan of the stored customers gives; a live
event moves a count on the journey page without a reload; off loopback nothing is shown without the
token; the store is never written. Screenshots of each page go to the test's folder (screenshots/).
"""
from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from conftest import JOURNEYCTL, PATIENCE, wait_until
from journeyctl.engine.core.state import Customer
from journeyctl.engine.testing.ui_sample import launch_browser, simulate_into

TOKEN = "a-long-enough-secret-token-0123456789"


class UiProcess:
    """`journeyctl ui` (or `run --ui-port`) as a subprocess; `url` once it says where it listens."""

    def __init__(self, args: list[str], cwd: Path, marker: str = "serving ", name: str = "ui"):
        self.err_path = cwd / f"{name}.err"
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([*JOURNEYCTL, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=err,
                                         stdin=subprocess.DEVNULL)

        def listening():
            m = re.search(marker + r"(http://\S+?/)", self.err())
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode}:\n{self.err()}")
            return None
        self.url = wait_until(listening, PATIENCE, lambda: f"{marker!r} on stderr:\n{self.err()}")

    def err(self) -> str:
        return self.err_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(PATIENCE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def status_json(state_url: str, period: str = "all") -> dict:
    out = subprocess.run([*JOURNEYCTL, "status", "--state", state_url, "--format", "json", "--period", period],
                         capture_output=True, check=True)
    return json.loads(out.stdout)


def shown(page) -> dict:
    """Every number on the page, by its key (data-k), as the page holds it (data-v)."""
    return page.evaluate("Object.fromEntries([...document.querySelectorAll('[data-k]')]"
                         ".map(e => [e.dataset.k, e.dataset.v]))")


def expected_overview(status: dict) -> dict:
    """The overview's keys and values, from status --format json."""
    out = {k: status[k] for k in ("events", "pending_timers", "outbox", "lag")}
    for j, c in status["journeys"].items():
        out.update({f"journeys.{j}.{k}": c[k] for k in ("entered", "active", "completed", "converted", "cancelled",
                                                        "exited")})
    for s, c in status["segments"].items():
        out.update({f"segments.{s}.{k}": v for k, v in c.items()})
    for ch, by in status["sends"].items():
        out.update({f"sends.{ch}.{st}": n for st, n in by.items()})
    for ch, by in status["deliveries"].items():
        out.update({f"deliveries.{ch}.{o}": n for o, n in by.items()})
    out.update({f"dead_letters.{r}": n for r, n in status["dead_letters"].items()})
    return {k: "" if v is None else str(v) for k, v in out.items()}


def open_page(page, url: str):
    page.goto(url)
    page.wait_for_selector("body[data-updated]", timeout=PATIENCE * 1000)
    return page


def settle(page) -> None:
    """One more refresh after now: what is shown is what the store holds now."""
    before = page.evaluate("document.body.dataset.updated")
    wait_until(lambda: page.evaluate("document.body.dataset.updated") != before, PATIENCE, "a refresh of the page")


def scan(rows) -> tuple[Counter, Counter, Counter]:
    """From (customer id, state blob) rows: instances per journey, per (version, step), segment members."""
    per_journey, per_step, members = Counter(), Counter(), Counter()
    for _, blob in rows:
        c = Customer.decode(bytes(blob))
        for inst in c.instances:
            per_journey[inst.journey] += 1
            per_step[(inst.version, inst.state)] += 1
        members.update(c.segments)
    return per_journey, per_step, members


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = launch_browser(p)
        yield b
        b.close()


@pytest.fixture(scope="module")
def sim_store(tmp_path_factory):
    """Three hours of the demo's traffic through examples/live and a segment, by a real simulate run."""
    work = tmp_path_factory.mktemp("sim")
    url = f"sqlite:///{work / 'state.db'}"
    simulate_into(url, work)
    return url, work


def check_store_and_pages(browser, url_base: str, state_url: str, rows, shots: Path) -> None:
    """The overview (all and the last hour) and the journey page against status --format json and the scan."""
    shots.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    status = status_json(state_url)
    open_page(page, url_base)
    got = shown(page)
    want = expected_overview(status)
    assert {k: got.get(k) for k in want} == want
    assert status["journeys"]["demo_cart_recovery"]["entered"] > 100  # a store worth looking at
    per_journey, per_step, members = scan(rows)
    assert {j: c["active"] for j, c in status["journeys"].items() if c["active"]} == dict(per_journey)
    assert {s: c["members"] for s, c in status["segments"].items() if c["members"]} == dict(members)
    page.screenshot(path=str(shots / "overview.png"), full_page=True)

    page.select_option("#period", "1h")  # the last hour of engine time, without a reload
    hour = status_json(state_url, "1h")
    wait_until(lambda: {k: shown(page).get(k) for k in expected_overview(hour)} == expected_overview(hour),
               PATIENCE, "the last hour's numbers on the overview")
    assert hour["journeys"]["demo_cart_recovery"]["entered"] < status["journeys"]["demo_cart_recovery"]["entered"]

    open_page(page, url_base + "journeys/demo_cart_recovery?period=all")
    got = shown(page)
    counts = status["journeys"]["demo_cart_recovery"]
    assert {k: got[f"counts.{k}"] for k in counts} == {k: str(v) for k, v in counts.items()}
    version = page.evaluate("document.querySelector('.versions a').textContent")
    waiting = {k.split(".")[1]: int(v) for k, v in got.items() if k.startswith("steps.") and k.endswith(".waiting")}
    assert {s: n for s, n in waiting.items() if n} == {s: n for (v, s), n in per_step.items() if v == version}
    assert sum(waiting.values()) == counts["active"]
    ends = {k.split(".")[1][2:]: int(v) for k, v in got.items() if k.startswith("steps.r_") and k.endswith(".passed")}
    assert ends == {r: counts[r] for r in ends}
    page.screenshot(path=str(shots / "journey.png"), full_page=True)
    page.close()


def test_pages_show_what_status_and_the_store_say_sqlite(browser, sim_store, tmp_path):
    state_url, work = sim_store
    db = work / "state.db"
    before = digest(db)
    ui = UiProcess(["ui", "--state", state_url, "--port", "0"], tmp_path)
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT customer_id, state FROM customers").fetchall()
        shots = tmp_path / "screenshots"
        check_store_and_pages(browser, ui.url, state_url, rows, shots)
        status = status_json(state_url)
        page = browser.new_page(viewport={"width": 1360, "height": 900})

        segment = next(iter(status["segments"]))
        open_page(page, f"{ui.url}segments/{segment}")
        assert shown(page)["members"] == str(status["segments"][segment]["members"])
        assert page.locator(".chart canvas").count() == 2  # members over time, entries and exits
        page.screenshot(path=str(shots / "segment.png"), full_page=True)

        first = status["waiting"][0]
        open_page(page, f"{ui.url}customers/{first['customer_id']}")
        row = page.locator("table.instances tbody tr", has_text=first["journey"]).first
        assert first["due"] in row.inner_text() and first["step"] in row.inner_text()
        assert page.locator("table.actions tbody tr").count() >= 1  # its recent actions, with their status
        page.screenshot(path=str(shots / "customer.png"), full_page=True)

        page.fill("#find input", "nobody-at-all")  # the look-up box: a customer the store does not know
        page.click("#find button")
        page.wait_for_selector("p.error")
        assert "no state for customer" in page.inner_text("p.error")
        page.close()
    finally:
        ui.stop()
    assert digest(db) == before  # read-only: not a byte changed
    assert sorted(p.name for p in (tmp_path / "screenshots").iterdir()) == ["customer.png", "journey.png",
                                                                            "overview.png", "segment.png"]


def test_pages_show_what_status_and_the_store_say_postgresql(browser, pg_state, tmp_path):
    import psycopg

    from conftest import PG_URL

    state_url, schema = pg_state
    simulate_into(state_url, tmp_path, hours=1.5)
    ui = UiProcess(["ui", "--state", state_url, "--port", "0"], tmp_path)
    try:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            rows = conn.execute("SELECT customer_id, state FROM customers").fetchall()
        check_store_and_pages(browser, ui.url, state_url, rows, tmp_path / "screenshots")
    finally:
        ui.stop()


LIVE = {"nudge": "journey nudge\n  on cart_abandoned\n  wait 1h unless purchase\n  send email \"nudge\"\n",
        "hello": "journey hello\n  on signed_up\n  send email \"welcome\"\n"}


def test_a_live_event_moves_the_journey_page_without_a_reload(browser, broker, names, journeys_dir, tmp_path):
    folder = journeys_dir(LIVE)
    state_url = f"sqlite:///{tmp_path / 'live.db'}"
    run = UiProcess(["run", str(folder), "--bootstrap-servers", broker.bootstrap, *names.args(), "--create-topics",
                     "--state", state_url, "--no-dashboard", "--ui-port", "0"], tmp_path, "dashboard on ", "run")
    try:
        wait_until(lambda: "reading" in run.err(), PATIENCE, run.err)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        open_page(page, run.url + "journeys/nudge")
        assert shown(page)["counts.entered"] == "0"
        page.evaluate("window.__sameDocument = 'yes'")
        send = [*JOURNEYCTL, "send", "--bootstrap-servers", broker.bootstrap, "--topic", names.events]
        subprocess.run([*send, "--event", "cart_abandoned", "--customer", "ana", "--prop", "cart_value=80"], check=True,
                       capture_output=True)
        wait_until(lambda: shown(page)["counts.entered"] == "1" and shown(page)["steps.s1.waiting"] == "1",
                   PATIENCE, lambda: f"ana's entry on the page: {shown(page)}")
        assert page.evaluate("window.__sameDocument") == "yes"  # moved in place: no reload
        page.screenshot(path=str(tmp_path / "live-journey.png"), full_page=True)

        subprocess.run([*send, "--event", "signed_up", "--customer", "ben"], check=True, capture_output=True)
        open_page(page, run.url)
        wait_until(lambda: shown(page).get("journeys.hello.completed") == "1", PATIENCE, "hello completed on the page")
        settle(page)
        want = expected_overview(status_json(state_url))
        assert {k: shown(page).get(k) for k in want} == want
        page.close()
    finally:
        run.stop()


DELIVERED = {"welcome": 'journey welcome\n  on signed_up\n  send whatsapp "welcome"\n',
             "refused": 'journey refused\n  on signed_up\n  send sms "refused"\n'}


def test_deliveries_show_on_the_pages(browser, broker, names, journeys_dir, tmp_path):
    """`run` and `deliver` on one store: whatsapp goes to a webhook that takes it, sms to one that
    refuses (400: failed, dead-lettered). The overview, the journey page, the customer page and status
    say so, and what they say is what the deliveries table and the receiver say."""
    from journeyctl.engine.deliver.local import LocalWebhook

    hook = LocalWebhook().start()
    hook.mode["/refuse"] = "refuse"
    folder = journeys_dir(DELIVERED)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "welcome.whatsapp.liquid").write_text("Welcome, {{ customer_id }}!")
    (tmp_path / "templates" / "refused.sms.liquid").write_text("Never read")
    (tmp_path / "journeyctl.yaml").write_text(f"delivery:\n  whatsapp: {{provider: webhook, url: '{hook.url}/whatsapp'}}\n"
                                              f"  sms: {{provider: webhook, url: '{hook.url}/refuse'}}\n")
    db = tmp_path / "live.db"
    state_url = f"sqlite:///{db}"
    run = UiProcess(["run", str(folder), "--bootstrap-servers", broker.bootstrap, *names.args(), "--create-topics",
                     "--state", state_url, "--no-dashboard", "--ui-port", "0"], tmp_path, "dashboard on ", "run")
    deliver_err = tmp_path / "deliver.err"
    with open(deliver_err, "wb") as err:
        deliver = subprocess.Popen([*JOURNEYCTL, "deliver", "--bootstrap-servers", broker.bootstrap, "--actions-topic",
                                    names.actions, "--dead-letter-topic", names.dead, "--deliveries-topic",
                                    names.actions + "-receipts", "--group-id", names.group + "-deliver",
                                    "--create-topics", "--state", state_url, "--no-dashboard", "--fetch-wait-ms", "10"],
                                   cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: "reading" in run.err(), PATIENCE, run.err)
        customers = ["ana", "ben", "cy"]
        (tmp_path / "events.jsonl").write_text("".join(
            json.dumps({"event": "signed_up", "customer_id": c, "message_id": f"signed-{c}",
                        "timestamp": int(time.time() * 1000)}) + "\n" for c in customers))
        subprocess.run([*JOURNEYCTL, "send", "--bootstrap-servers", broker.bootstrap, "--topic", names.events,
                        "--file", str(tmp_path / "events.jsonl")], check=True, capture_output=True)
        wait_until(lambda: len(hook.received.effects) == 3 and len(hook.received.seen("/refuse")) == 3, PATIENCE,
                   lambda: f"3 messages taken, 3 refused: {hook.received.requests}\n{deliver_err.read_text()}")
        wanted = {"whatsapp": {"delivered": 3, "failed": 0, "retried": 0, "rate_limited": 0},
                  "sms": {"delivered": 0, "failed": 3, "retried": 0, "rate_limited": 0}}
        wait_until(lambda: status_json(state_url)["deliveries"] == wanted, PATIENCE,
                   lambda: f"the deliveries in status: {status_json(state_url)['deliveries']}")
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            recorded = dict(conn.execute("SELECT outcome, count(*) FROM deliveries GROUP BY outcome").fetchall())
        assert recorded == {"sent": 3, "failed": 3}

        page = browser.new_page(viewport={"width": 1360, "height": 900})
        open_page(page, run.url)
        settle(page)
        status = status_json(state_url)
        want = expected_overview(status)
        assert want["deliveries.whatsapp.delivered"] == "3" and want["deliveries.sms.failed"] == "3"
        assert want["sends.whatsapp.send"] == want["sends.sms.send"] == "3"  # sent by the engine
        assert {k: shown(page).get(k) for k in want} == want
        page.select_option("#period", "1h")  # the same in the last hour: they were due in it
        wait_until(lambda: {k: shown(page).get(k) for k in want} == want, PATIENCE, "the last hour's deliveries")
        page.screenshot(path=str(tmp_path / "delivered-overview.png"), full_page=True)

        open_page(page, run.url + "journeys/welcome?period=all")
        got = shown(page)
        assert (got["sends.whatsapp.send"], got["deliveries.whatsapp.delivered"], got["deliveries.whatsapp.failed"]) \
            == ("3", "3", "0")
        open_page(page, run.url + "customers/ana")
        cells = {page.locator(f"[data-delivery='{aid}']").inner_text().split(" ")[0]: aid
                 for aid in page.evaluate("[...document.querySelectorAll('[data-delivery]')].map(e => e.dataset.delivery)")}
        assert sorted(cells) == ["delivered", "failed"]
        page.screenshot(path=str(tmp_path / "delivered-customer.png"), full_page=True)
        page.close()
    finally:
        deliver.terminate()
        assert deliver.wait(PATIENCE) == 0, deliver_err.read_text()
        run.stop()
        hook.stop()


def _get(url: str, headers: dict | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_off_loopback_every_request_needs_the_token(browser, sim_store, tmp_path):
    state_url, _ = sim_store
    refused = subprocess.run([*JOURNEYCTL, "ui", "--state", state_url, "--host", "0.0.0.0", "--port", "0"],
                             capture_output=True, text=True, timeout=PATIENCE)
    assert refused.returncode == 2 and "--token" in refused.stderr
    (tmp_path / "token").write_text(TOKEN + "\n")
    ui = UiProcess(["ui", "--state", state_url, "--host", "0.0.0.0", "--port", "0", "--token-file",
                    str(tmp_path / "token")], tmp_path)
    base = ui.url.replace("0.0.0.0", "127.0.0.1")
    try:
        for path in ("", "api/overview", "static/app.js", "journeys/demo_cart_recovery", "healthz"):
            assert _get(base + path)[0] == 401, path
            assert _get(base + path, {"Authorization": "Bearer wrong-token-wrong-token"})[0] == 401, path
        status, body = _get(base + "api/overview", {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and json.loads(body)["journeys"]
        page = browser.new_page()
        page.goto(base)
        assert "access token" in page.inner_text("body")
        open_page(page, base + f"?token={TOKEN}")  # once in a link: a cookie for what follows
        assert "token=" not in page.url
        assert shown(page)["journeys.demo_cart_recovery.entered"] != ""
        open_page(page, base + "journeys/demo_cart_recovery")
        page.close()
    finally:
        ui.stop()
