"""`journeyctl deliver` against real parts: the embedded broker, a real HTTP receiver on a loopback port,
a real SMTP server (aiosmtpd), real SQLite files and PostgreSQL, `deliver` as a real subprocess.

The receivers count an effect once per Idempotency-Key / Message-ID (as a provider honouring them
does) and keep every request, so a test sees both the effect and what was sent twice.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import orjson
import pytest

from conftest import JOURNEYCTL, PG_URL, pg_query, produce
from journeyctl.engine.core.events import parse_instant
from journeyctl.engine.deliver.local import LocalSmtp, LocalWebhook
from journeyctl.engine.live.kafka_edge import Admin
from journeyctl.engine.ui.reader import open_reader
from pg_proxy import CommitCutter

class Topics:
    def __init__(self, kafka, partitions: int = 1):
        tag = uuid.uuid4().hex[:10]
        self.actions, self.deliveries, self.dead, self.events = (f"{n}-{tag}" for n in
                                                                 ("actions", "deliveries", "dead", "events"))
        self.group = f"deliver-{tag}"
        admin = Admin(kafka)
        try:
            admin.create([self.actions, self.deliveries, self.dead, self.events], partitions)
        finally:
            admin.close()

    def args(self) -> list[str]:
        return ["--actions-topic", self.actions, "--deliveries-topic", self.deliveries, "--dead-letter-topic",
                self.dead, "--events-topic", self.events, "--group-id", self.group]


class Deliver:
    """One `journeyctl deliver` subprocess in a project folder; output in files."""

    def __init__(self, cwd, args, tag, env=None):
        self.err_path, self.out_path = cwd / f"deliver-{tag}.err", cwd / f"deliver-{tag}.out"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([*JOURNEYCTL, "deliver", "--no-dashboard", "--fetch-wait-ms", "10", *args],
                                         cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         env={**os.environ, **(env or {})})

    def err(self) -> str:
        return self.err_path.read_text(errors="replace")

    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


@pytest.fixture
def project(tmp_path):
    """A project folder with templates and a journeyctl.yaml written by the test."""
    (tmp_path / "templates").mkdir()
    for name, text in {"hello.whatsapp.liquid": "Hi {{ name }} ({{ n }})",
                       "hello.sms.liquid": "Hi {{ name }} ({{ n }})",
                       "hello.push.liquid": "Hi {{ name }} ({{ n }})",
                       "hello.in_app.liquid": "Hi {{ name }} ({{ n }})",
                       "hello.email.liquid": "---\nsubject: Hello {{ name }}\n---\nHi {{ name }} ({{ n }})"}.items():
        (tmp_path / "templates" / name).write_text(text)
    started = []

    def start(config: str, args, tag="0", env=None) -> Deliver:
        (tmp_path / "journeyctl.yaml").write_text(config)
        d = Deliver(tmp_path, [str(a) for a in args], tag, env)
        started.append(d)
        return d

    start.path = tmp_path
    yield start
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


def action(i: int, channel: str = "whatsapp", status: str = "send", template: str = "hello", **extra) -> dict:
    to = {"email": f"c{i}@example.com", "whatsapp": f"+3519{i:08d}", "sms": f"+3519{i:08d}"}.get(channel)
    return {"action_id": f"act-{i:06d}", "journey": "j", "journey_version": "v1", "customer_id": f"c{i % 997}",
            "channel": channel, "template": template, "variables": {"name": f"N{i}", "n": i},
            "due_at": "2026-01-01T00:00:00.000Z", "status": status, "step": "s1", "trigger_message_id": f"m{i}",
            "to": to, **extra}


def send_actions(kafka, topic: str, actions) -> None:
    produce(kafka, topic, [(a["customer_id"].encode(), orjson.dumps(a)) for a in actions])


def wait(condition, timeout: float, what: str, proc: Deliver | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc is not None and proc.proc.poll() is not None:
            raise AssertionError(f"deliver exited {proc.proc.returncode} waiting for {what}:\n{proc.err()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout} s" + (f":\n{proc.err()[-3000:]}" if proc else ""))


def hook_config(hook: LocalWebhook, extra: str = "", smtp: LocalSmtp | None = None) -> str:
    lines = ["channels:\n  whatsapp: phone\n  sms: phone\n  email: email\n", "delivery:\n",
             f"  whatsapp: {{provider: webhook, url: '{hook.url}/whatsapp'}}\n"]
    if smtp is not None:
        lines.append(f"  email: {{provider: smtp, port: {smtp.port}, from: shop@example.com}}\n")
    return "".join(lines) + extra


@pytest.fixture
def hook():
    h = LocalWebhook().start()
    yield h
    h.stop()


@pytest.fixture
def smtp():
    s = LocalSmtp().start()
    yield s
    s.stop()


def counted(state: str) -> tuple[dict, dict, dict]:
    """What deliver counted for the web UI, read as the UI reads it: ({(journey, channel, outcome): total},
    {(journey, channel, outcome, minute): n}); and {outcome: ids} of its deliveries table."""
    reader = open_reader(state)
    try:
        totals = {tuple(s.split(":")[1:]): n for s, n in reader.totals().items()}
        minutes = {tuple(s.split(":")[1:]) + (b,): n for r, b, s, n in reader._rows(
            "SELECT res, bucket, series, n FROM counts WHERE res = 1")}
        recorded = dict(reader._rows("SELECT outcome, count(*) FROM deliveries GROUP BY outcome"))
    finally:
        reader.close()
    return totals, minutes, recorded


DUE_MINUTE = parse_instant("2026-01-01T00:00:00.000Z") // 60_000  # of every action() below


def read_topic(kafka, topic: str, want: int, timeout: float = 30.0) -> list[dict]:
    from journeyctl.engine.live.kafka_edge import Reader

    r = Reader(kafka, topic)
    out = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < want and time.monotonic() < deadline:
            out += [orjson.loads(x.value) for x in r.read(200)]
        out += [orjson.loads(x.value) for x in r.read(300)]  # and anything more that should not be there
    finally:
        r.close()
    return out


# ---- the message a receiver gets -------------------------------------------------------------------

def test_webhook_and_smtp_messages_receipts_and_other_statuses(kafka, project, hook, smtp, tmp_path):
    t = Topics(kafka)
    secret = "s3cr3t-value"
    config = hook_config(hook, smtp=smtp).replace("/whatsapp'}", "/whatsapp', secret_env: HOOK_SECRET}")
    d = project(config, ["--bootstrap-servers", kafka.bootstrap_servers, "--state", f"sqlite:///{tmp_path}/s.db",
                         *t.args()], env={"HOOK_SECRET": secret})
    send_actions(kafka, t.actions, [action(1), action(2, "email"), action(3, status="held_out"),
                                    action(4, status="suppressed")])
    wait(lambda: len(hook.received.effects) == 1 and len(smtp.received.effects) == 1, 60, "two messages", d)
    (path, body), = hook.received.effects.values()
    assert path == "/whatsapp"
    assert body == {"action_id": "act-000001", "channel": "whatsapp", "customer_id": "c1", "to": "+351900000001",
                    "template": "hello", "journey": "j", "body": "Hi N1 (1)", "variables": {"name": "N1", "n": 1}}
    (_, mail), = smtp.received.effects.values()
    assert mail["subject"] == "Hello N2" and mail["body"] == "Hi N2 (2)" and mail["to"] == ["c2@example.com"]
    assert mail["message_id"] == "<act-000002@example.com>"
    receipts = read_topic(kafka, t.deliveries, 2)
    assert sorted((r["event"], r["properties"]["action_id"]) for r in receipts) == [
        ("message_sent", "act-000001"), ("message_sent", "act-000002")]
    assert d.stop() == 0
    assert "other statuses recorded" in d.err() and "2 other statuses recorded" in d.err()
    assert secret not in d.err() + d.out()


def test_the_signature_is_an_hmac_of_the_raw_body(kafka, project, tmp_path):
    import hashlib
    import hmac
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import threading

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            raw = self.rfile.read(int(self.headers["content-length"]))
            seen.append((raw, self.headers.get("x-journeyctl-signature"), self.headers.get("idempotency-key")))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        t = Topics(kafka)
        config = ("delivery:\n  whatsapp: {provider: webhook, url: 'http://127.0.0.1:%d/x', secret_file: key.txt}\n"
                  % server.server_address[1])
        (project.path / "key.txt").write_text("k3y\n")
        d = project(config, ["--bootstrap-servers", kafka.bootstrap_servers, "--state",
                             f"sqlite:///{tmp_path}/s.db", *t.args()])
        send_actions(kafka, t.actions, [action(7)])
        wait(lambda: seen, 60, "the request", d)
        raw, sig, key = seen[0]
        assert sig == "sha256=" + hmac.new(b"k3y", raw, hashlib.sha256).hexdigest()
        assert key == "act-000007"
        d.stop()
    finally:
        server.shutdown()


# ---- failures ---------------------------------------------------------------------------------------

def test_retries_retry_after_hangs_and_permanent_failures(kafka, project, hook, tmp_path):
    t = Topics(kafka)
    hook.mode.update({"/flaky": "fail", "/busy": "busy", "/refuse": "refuse", "/hang": "hang"})
    config = hook_config(hook).replace("/whatsapp'", "/flaky'") + (
        f"  sms: {{provider: webhook, url: '{hook.url}/refuse'}}\n"
        f"  push: {{provider: webhook, url: '{hook.url}/busy'}}\n"
        f"  in_app: {{provider: webhook, url: '{hook.url}/hang', timeout: 1, max_attempts: 2}}\n")
    d = project(config, ["--bootstrap-servers", kafka.bootstrap_servers, "--state", f"sqlite:///{tmp_path}/s.db",
                         *t.args()])
    send_actions(kafka, t.actions, [action(1), action(2, "sms"), action(3, "push"), action(4, "in_app"),
                                    action(5, template="nope"), action(6, "line")])
    wait(lambda: hook.received.seen("/flaky"), 60, "a first, failed attempt", d)
    hook.mode["/flaky"] = "ok"
    wait(lambda: hook.received.seen("/busy"), 60, "a first, refused attempt", d)
    hook.mode["/busy"] = "ok"
    wait(lambda: len(hook.received.effects) == 2, 90, "both after retries", d)
    assert [s for _, s in hook.received.seen("/flaky")][-1] == 200
    dead = read_topic(kafka, t.dead, 4, timeout=60)
    by_id = {x["action_id"]: x for x in dead}
    assert set(by_id) == {"act-000002", "act-000004", "act-000005", "act-000006"}, dead
    assert by_id["act-000002"]["detail"] == 'HTTP 400: {"error": "refuse"}' and by_id["act-000002"]["attempts"] == 1
    assert by_id["act-000004"]["detail"].startswith("gave up after 2 attempts; last answer: no answer")
    assert "templates/nope.whatsapp.liquid does not exist" in by_id["act-000005"]["detail"]
    assert by_id["act-000006"]["detail"].startswith("no provider for channel line")
    assert by_id["act-000002"]["action"]["action_id"] == "act-000002"
    failed = [r for r in read_topic(kafka, t.deliveries, 6) if r["event"] == "message_failed"]
    assert {r["properties"]["action_id"] for r in failed} == set(by_id)
    assert d.stop() == 0
    # the web UI's counts: per journey, channel and outcome, in the minute the action was due, and in all
    totals, minutes, recorded = counted(f"sqlite:///{tmp_path}/s.db")
    retried = {k: n for k, n in totals.items() if k[2] == "retried"}
    assert set(retried) == {("j", "whatsapp", "retried"), ("j", "push", "retried"), ("j", "in_app", "retried")}
    assert retried[("j", "in_app", "retried")] == 1  # two attempts, then failed
    assert {k: n for k, n in totals.items() if k[2] in ("delivered", "failed")} == {
        ("j", "whatsapp", "delivered"): 1, ("j", "push", "delivered"): 1, ("j", "sms", "failed"): 1,
        ("j", "in_app", "failed"): 1, ("j", "whatsapp", "failed"): 1, ("j", "line", "failed"): 1}
    assert {k[:3]: n for k, n in minutes.items() if k[3] == DUE_MINUTE} == totals
    assert recorded == {"sent": 2, "failed": 4}


def test_retry_after_is_honoured(kafka, project, hook, tmp_path):
    t = Topics(kafka)
    hook.retry_after = "2"
    hook.mode["/whatsapp"] = "busy"
    d = project(hook_config(hook), ["--bootstrap-servers", kafka.bootstrap_servers, "--state",
                                    f"sqlite:///{tmp_path}/s.db", *t.args()])
    send_actions(kafka, t.actions, [action(1)])
    wait(lambda: hook.received.seen("/whatsapp"), 60, "a first attempt", d)
    hook.mode["/whatsapp"] = "ok"
    wait(lambda: hook.received.effects, 30, "the message", d)
    (first, status), (second, _) = hook.received.seen("/whatsapp")[:2]
    assert status == 429 and second - first >= 1.9  # the second attempt waited for Retry-After: 2
    d.stop()


def test_a_provider_down_at_start_gets_its_messages_when_it_comes_up(kafka, project, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = Topics(kafka)
    config = f"delivery:\n  whatsapp: {{provider: webhook, url: 'http://127.0.0.1:{port}/w', max_attempts: 30}}\n"
    d = project(config, ["--bootstrap-servers", kafka.bootstrap_servers, "--state", f"sqlite:///{tmp_path}/s.db",
                         *t.args()])
    send_actions(kafka, t.actions, [action(i) for i in range(20)])
    wait(lambda: any(line.get("retried", 0) > 0 for line in map(orjson.loads, d.out().splitlines())
                     if line.get("msg") == "status"), 60, "a status line with retries", d)
    late = LocalWebhook(port=port).start()
    try:
        wait(lambda: len(late.received.effects) == 20, 90, "all 20 once it is up", d)
        assert d.stop() == 0
        assert "cannot reach" not in d.err()  # retries are quiet: counted, not shouted
    finally:
        late.stop()


def test_bad_settings_are_refused_in_plain_words_and_never_print_a_password(kafka, project, tmp_path):
    t = Topics(kafka)
    base = ["--bootstrap-servers", kafka.bootstrap_servers, "--state", f"sqlite:///{tmp_path}/s.db", *t.args()]
    d = project("delivery:\n  whatsapp: {provider: webhook, url: 'ftp//nowhere'}\n", base, "url")
    assert d.proc.wait(60) == 2
    assert "delivery.whatsapp: url 'ftp//nowhere' is not an http:// or https:// URL" in d.err()
    d = project("delivery:\n  email: {provider: smtp, from: a@b.c, password: hunter2xyz}\n", base, "pw")
    assert d.proc.wait(60) == 2
    assert "a password does not belong in the config" in d.err() and "hunter2xyz" not in d.err() + d.out()
    d = project("delivery:\n  email: {provider: smtp, from: a@b.c, username: u, password_env: SMTP_PW}\n", base, "env")
    assert d.proc.wait(60) == 2
    assert "password: the environment variable SMTP_PW is not set" in d.err()
    d = project("channels:\n  email: email\n", base, "none")
    assert d.proc.wait(60) == 2 and "no delivery: section" in d.err()
    assert "Traceback" not in "".join((project.path / f).read_text() for f in os.listdir(project.path)
                                      if f.startswith("deliver-"))


def test_a_refused_login_never_shows_the_password(kafka, project, smtp, tmp_path):
    t = Topics(kafka)
    config = (f"delivery:\n  email: {{provider: smtp, port: {smtp.port}, from: a@b.c, username: shop, "
              "password_env: SMTP_PW, max_attempts: 2}\n")
    d = project(config, ["--bootstrap-servers", kafka.bootstrap_servers, "--state", f"sqlite:///{tmp_path}/s.db",
                         *t.args()], env={"SMTP_PW": "pa55-w0rd-XYZ"})
    send_actions(kafka, t.actions, [action(1, "email")])
    dead = read_topic(kafka, t.dead, 1, timeout=60)
    assert [x["action_id"] for x in dead] == ["act-000001"]
    d.stop()
    everything = d.err() + d.out() + orjson.dumps(dead).decode()
    assert "pa55-w0rd-XYZ" not in everything


def test_rate_limit_is_never_exceeded(kafka, project, hook, tmp_path):
    t = Topics(kafka)
    d = project(hook_config(hook).replace("/whatsapp'}", "/whatsapp', rate: 10/s}"),
                ["--bootstrap-servers", kafka.bootstrap_servers, "--state", f"sqlite:///{tmp_path}/s.db", *t.args()])
    send_actions(kafka, t.actions, [action(i) for i in range(30)])
    wait(lambda: len(hook.received.effects) == 30, 60, "30 messages", d)
    times = sorted(r[0] for r in hook.received.requests)
    busiest = max(sum(1 for x in times if start <= x < start + 1.0) for start in times)
    assert busiest <= 11  # 10 a second, and one at each edge of the window
    d.stop()
    assert '"rate_limited":' in d.out() or "rate_limited" in d.out()
    totals, _, _ = counted(f"sqlite:///{tmp_path}/s.db")
    assert totals[("j", "whatsapp", "delivered")] == 30 and totals[("j", "whatsapp", "rate_limited")] >= 10


def test_receipts_reach_the_events_topic_but_not_forever(kafka, project, hook, tmp_path):
    t = Topics(kafka)
    hook.mode["/whatsapp"] = "refuse"
    d = project(hook_config(hook), ["--bootstrap-servers", kafka.bootstrap_servers, "--state",
                                    f"sqlite:///{tmp_path}/s.db", "--receipts-to-events", *t.args()])
    deep = action(2, trigger_message_id="receipt:3:act-000001:message_failed")
    send_actions(kafka, t.actions, [action(1), deep])
    receipts = read_topic(kafka, t.deliveries, 2)
    assert sorted((r["properties"]["action_id"], r["properties"]["depth"]) for r in receipts) == [
        ("act-000001", 1), ("act-000002", 4)]
    events = read_topic(kafka, t.events, 1, timeout=10)
    assert [(e["event"], e["customer_id"], e["properties"]["action_id"]) for e in events] == [
        ("message_failed", "c1", "act-000001")]
    from journeyctl.engine.core.events import parse_event

    parsed = parse_event(orjson.dumps(events[0]))
    assert parsed.name == "message_failed" and parsed.properties["channel"] == "whatsapp"
    d.stop()


# ---- exactly once -------------------------------------------------------------------------------------

def test_a_message_two_workers_settled_is_counted_once(tmp_path):
    """A worker stalls past its session with a message settled and not committed; the partition's new
    owner reads on from the stored offset, sends it again (same Idempotency-Key) and commits first; the
    stalled one wakes and commits too. The deliveries table keeps one record, and the UI's counts say
    one delivery. The two workers' loops on one real SQLite store, their commits in that order."""
    from rich.console import Console

    from journeyctl.engine.deliver.loop import Deliverer, DeliverSettings, Item, _Part
    from journeyctl.engine.deliver.monitor import DeliverReport
    from journeyctl.engine.deliver.providers import Outcome
    from journeyctl.engine.deliver.settings import channels_from
    from journeyctl.engine.live.kafka_edge import KafkaCluster, KafkaSettings
    from journeyctl.engine.store.open import open_store

    url = f"sqlite:///{tmp_path}/s.db"
    channels = channels_from({"whatsapp": {"provider": "webhook", "url": "http://127.0.0.1:9/w"}})
    part = ("actions", 0)
    workers = []
    for _ in range(2):
        store = open_store(url)
        store.deliver_tables()
        w = Deliverer(store, KafkaCluster(KafkaSettings("127.0.0.1:9")), DeliverSettings(), channels, {}, None,
                      DeliverReport(Console(quiet=True), "quiet", quiet=True))
        w._parts[part] = _Part()
        w._parts[part].read(0)
        w._settle(Item(part, 0, action(1)), Outcome.sent("HTTP 200"), "webhook")
        workers.append(w)
    stalled, new_owner = workers
    new_owner._commit()
    stalled._commit()
    for w in workers:
        w.store.close()
    totals, _, recorded = counted(url)
    assert recorded == {"sent": 1}
    assert totals == {("j", "whatsapp", "delivered"): 1}


def _crash_scenario(kafka, project, hook, smtp, state: str, workers: int, kills: int, n: int, partitions: int):
    """n actions (whatsapp by webhook, email by SMTP, every 50th refused, every 40th not a send) with
    duplicates of 5% injected later on the topic; kill -9 a deliver `kills` times while they flow."""
    t = Topics(kafka, partitions)
    hook.mode["/refuse"] = "refuse"
    config = hook_config(hook, smtp=smtp) + f"  sms: {{provider: webhook, url: '{hook.url}/refuse'}}\n"
    actions = []
    for i in range(n):
        if i % 40 == 7:
            actions.append(action(i, status="held_out"))
        elif i % 50 == 3:
            actions.append(action(i, "sms"))
        elif i % 5 == 1:
            actions.append(action(i, "email"))
        else:
            actions.append(action(i))
    sends = {a["action_id"] for a in actions if a["status"] == "send" and a["channel"] != "sms"}
    refused = {a["action_id"] for a in actions if a["channel"] == "sms"}
    base = ["--bootstrap-servers", kafka.bootstrap_servers, "--state", state, "--max-in-flight", "200", *t.args()]
    procs = [project(config, base, f"w{i}") for i in range(workers)]
    half = len(actions) // 2
    send_actions(kafka, t.actions, actions[:half])

    def effects() -> int:
        return len(hook.received.effects) + len(smtp.received.effects)

    generation = workers
    for k in range(kills):
        target = (k + 1) * len(sends) // (kills + 2)
        wait(lambda: effects() >= target, 180, f"{target} messages before kill {k + 1}")
        victim = procs[k % len(procs)]
        victim.kill()
        if k == 0:
            send_actions(kafka, t.actions, actions[half:] + actions[::20])  # the rest, and duplicates
        procs[k % len(procs)] = project(config, base, f"w{generation}")
        generation += 1
    wait(lambda: effects() == len(sends), 300, "every message", None)
    dead = read_topic(kafka, t.dead, len(refused), timeout=120)
    for p in procs:
        assert p.stop() == 0, p.err()[-2000:]
    got = set(hook.received.effects) | {mid.strip("<>").split("@")[0] for mid in smtp.received.effects}
    assert got == sends
    assert {x["action_id"] for x in dead} == refused
    raw = hook.received.accepted("/whatsapp") + smtp.received.accepted()
    again = raw - len(sends)
    # only the kill windows may send a message twice: at most what one worker had in flight per kill
    assert again <= kills * 200, again
    # the web UI's counts went in with the delivered ids: each message counted once, kills or not
    totals, _, recorded = counted(state)
    outcomes = {o: sum(n for (_, _, oo), n in totals.items() if oo == o) for o in ("delivered", "failed")}
    assert outcomes == {"delivered": len(sends), "failed": len(refused)}
    assert recorded == {"sent": len(sends), "failed": len(refused), "held_out": n // 40 + (n % 40 > 7)}
    reader = open_reader(state)  # the customer page's look-up, by action id
    try:
        some = sorted(sends)[:200] + sorted(refused)[:20] + ["act-not-there"]
        looked = {aid: outcome for aid, (outcome, _) in reader.deliveries(some).items()}
    finally:
        reader.close()
    assert looked == {**dict.fromkeys(sorted(sends)[:200], "sent"), **dict.fromkeys(sorted(refused)[:20], "failed")}
    return again


@pytest.mark.slow
def test_kill_9_three_times_delivers_every_action_once_sqlite(kafka, project, hook, smtp, tmp_path):
    _crash_scenario(kafka, project, hook, smtp, f"sqlite:///{tmp_path}/state.db", workers=1, kills=3, n=10_000,
                    partitions=1)


@pytest.mark.slow
def test_two_workers_on_postgresql_with_a_kill_and_a_join(kafka, project, hook, smtp, pg_state):
    url, _ = pg_state
    _crash_scenario(kafka, project, hook, smtp, url, workers=2, kills=1, n=4_000, partitions=4)


def test_twilio_shape_for_sms_and_whatsapp(kafka, project, hook, tmp_path):
    t = Topics(kafka)
    config = ("channels:\n  whatsapp: phone\n  sms: phone\ndelivery:\n"
              f"  sms: {{provider: twilio, base_url: '{hook.url}', account_sid: AC123, auth_token_env: TW_TOKEN, "
              "from: '+15550001'}\n"
              f"  whatsapp: {{provider: twilio, base_url: '{hook.url}', account_sid_env: TW_SID, "
              "auth_token_file: token.txt, from: '+15550002'}\n")
    (project.path / "token.txt").write_text("tok-file\n")
    d = project(config, ["--bootstrap-servers", kafka.bootstrap_servers, "--state", f"sqlite:///{tmp_path}/s.db",
                         *t.args()], env={"TW_TOKEN": "tok-env-123", "TW_SID": "AC999"})
    send_actions(kafka, t.actions, [action(1, "sms"), action(2)])
    wait(lambda: len(hook.received.effects) == 2, 60, "two Twilio requests", d)
    from urllib.parse import parse_qs

    got = {path: parse_qs(body) for path, body in hook.received.effects.values()}
    assert got == {
        "/2010-04-01/Accounts/AC123/Messages.json": {"To": ["+351900000001"], "From": ["+15550001"],
                                                      "Body": ["Hi N1 (1)"]},
        "/2010-04-01/Accounts/AC999/Messages.json": {"To": ["whatsapp:+351900000002"],
                                                      "From": ["whatsapp:+15550002"], "Body": ["Hi N2 (2)"]}}
    d.stop()
    assert "tok-env-123" not in d.err() + d.out() and "tok-file" not in d.err() + d.out()


# ---- the state store failing under deliver ---------------------------------------------------------

def _recorded(schema: str) -> int:
    return pg_query(schema, "SELECT count(*) FROM deliveries")[0][0] if pg_query(
        schema, "SELECT to_regclass('deliveries') IS NOT NULL")[0][0] else 0


def _store_fault_run(kafka, project, hook, state: str, schema: str, between) -> Deliver:
    """30 actions delivered and recorded; `between()` fails the store; 30 more: every one delivered once,
    recorded once and counted once, by one deliver that never stopped."""
    t = Topics(kafka)
    d = project(hook_config(hook), ["--bootstrap-servers", kafka.bootstrap_servers, "--state", state, *t.args()])
    send_actions(kafka, t.actions, [action(i) for i in range(30)])
    wait(lambda: _recorded(schema) == 30, 60, "the first 30 recorded", d)
    between()
    send_actions(kafka, t.actions, [action(i) for i in range(30, 60)])
    wait(lambda: _recorded(schema) == 60, 60, "the second 30 recorded", d)
    wait(lambda: "the state store answers again" in d.err(), 60, "the store found again", d)
    assert set(hook.received.effects) == {f"act-{i:06d}" for i in range(60)}
    assert hook.received.accepted("/whatsapp") == 60, "a message was sent twice"
    err = d.err()
    assert "the state store failed" in err and "the state store answers again" in err and "Traceback" not in err, err
    assert d.stop() == 0, d.err()
    totals, _, recorded = counted(state)
    assert recorded == {"sent": 60}
    assert totals == {("j", "whatsapp", "delivered"): 60}
    (stored,) = pg_query(schema, 'SELECT "offset" FROM deliver_offsets')
    assert stored == (60,)
    return d


def test_a_postgresql_connection_killed_under_deliver_is_waited_out_and_sends_nothing_twice(
        kafka, project, hook, pg_state):
    """Before: the next commit raised psycopg's error out of the loop (exit 1 with a traceback), and what had
    been sent since the last commit was sent again by the next run."""
    url, schema = pg_state
    tag = f"jd-{schema}"

    def kill():
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            assert conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                                (tag,)).fetchall()

    _store_fault_run(kafka, project, hook, f"{url}&application_name={tag}", schema, kill)


def test_a_deliver_commit_whose_answer_is_lost_is_found_made_and_counted_once(kafka, project, hook, pg_state):
    """The connection breaks as the server's answer to COMMIT comes back: the delivered ids, counts and offsets
    were committed, though deliver cannot know it. Written again, the counts would say 30 messages more than
    were sent; found made, they are not written again."""
    url, schema = pg_state
    proxy = CommitCutter()
    try:
        d = _store_fault_run(kafka, project, hook, url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"), schema,
                         lambda: proxy.arm(b"delivery:j:whatsapp:delivered"))  # (in a commit of the second 30)
        assert proxy.cut.is_set()
        assert "the state store's last commit was made, though its answer was lost" in d.err(), d.err()
    finally:
        proxy.close()


def test_a_schema_renamed_under_deliver_stops_it_with_exit_2_in_plain_words(kafka, project, hook, pg_state):
    import psycopg

    url, schema = pg_state
    t = Topics(kafka)
    d = project(hook_config(hook), ["--bootstrap-servers", kafka.bootstrap_servers, "--state", url, *t.args()])
    send_actions(kafka, t.actions, [action(i) for i in range(5)])
    wait(lambda: _recorded(schema) == 5, 60, "the first 5 recorded", d)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_x"')
    try:
        send_actions(kafka, t.actions, [action(i) for i in range(5, 10)])
        assert d.proc.wait(60) == 2, d.err()
        err = d.err()
        assert "deliver stopped: the state store's" in err and "Traceback" not in err, err
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'ALTER SCHEMA "{schema}_x" RENAME TO "{schema}"')
