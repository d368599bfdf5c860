"""Shared fixtures: the embedded Kafka broker (one per test session and xdist worker) and helpers to
run `journeyctl run` as a real subprocess against it.

Tests that share the session broker use topics and groups of their own (`names`), so they never see
each other's records. A test that stops or restarts a broker starts its own.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent

# Hypothesis profiles. Each property keeps the max_examples written where it is defined and no profile
# lowers it, so a property checks the same everywhere; the profiles only decide what may fail for
# reasons that are not the code's (the suite takes about 2 minutes on 2 cores, well under 4).
#   ci   `make test` (and so CI) selects it with --hypothesis-profile=ci. No deadline: on a loaded
#        2-core machine any example is slow now and then, and run time varies by design in many
#        properties. No too_slow health check: it times data generation. No example database: a
#        fresh clone has none to replay and keeps none. A failure prints the blob that reproduces it
#        (@reproduce_failure), since the seed differs from run to run.
#   dev  the default of a plain `pytest`: the same, with the example database in .hypothesis/, so
#        an example that failed once is tried first the next time.
_PROFILE = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("ci", database=None, **_PROFILE)
settings.register_profile("dev", **_PROFILE)
settings.load_profile("dev")
JOURNEYCTL = [sys.executable, "-c", "from journeyctl.engine.cli.main import program; program()"]

# How long a test waits for something that must happen (a line in a log, a row in the store, an
# action on a topic). On a loaded 2-core machine a subprocess start, a group rebalance or a broker
# restart takes many times what it takes on an idle one; a test that passes stops waiting as soon
# as the condition holds, so the patience costs only a test that fails.
PATIENCE = 60.0


def wait_until(condition, timeout: float = PATIENCE, what="the condition"):
    """Polls condition() until it returns something true, and returns that; fails after timeout s,
    saying what (a text, or a function giving one then, e.g. with the log as it is at the end)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:g} s: {what() if callable(what) else what}")
        time.sleep(0.05)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~20 s (deselect with -m 'not slow')")
    # kafka-python loads its protocol schemas with importlib.resources calls Python marks as deprecated
    config.addinivalue_line("filterwarnings", "ignore:read_text is deprecated:DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore:open_text is deprecated:DeprecationWarning")


def pytest_collection_modifyitems(config, items):
    """The slow tests first: they mostly wait (a group join, a takeover, a kill -9), so started first
    they overlap the rest of the suite instead of leaving their own minutes at its end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def broker():
    from journeyctl.engine.live.broker import EmbeddedBroker

    b = EmbeddedBroker().start()
    yield b
    b.stop()


@pytest.fixture
def own_broker():
    """start(port=None) -> a broker of the test's own (one it may stop, kill, freeze or start again on
    the same port: it comes back empty)."""
    from journeyctl.engine.live.broker import EmbeddedBroker

    brokers = []

    def start(port=None):
        b = EmbeddedBroker(port=port).start()
        brokers.append(b)
        return b

    yield start
    for b in brokers:
        if b.process is not None and b.process.poll() is None:
            os.kill(b.process.pid, signal.SIGCONT)  # a test that failed while it was frozen
        b.stop()


@pytest.fixture
def kafka(broker):
    from journeyctl.engine.live.kafka_edge import KafkaSettings

    return KafkaSettings(broker.bootstrap)


class Names:
    """Topic and group names of one test: events, actions, dead letters, profiles, group."""

    def __init__(self):
        tag = uuid.uuid4().hex[:10]
        self.events = f"events-{tag}"
        self.actions = f"actions-{tag}"
        self.dead = f"dead-{tag}"
        self.profiles = f"profiles-{tag}"
        self.group = f"group-{tag}"

    def args(self) -> list[str]:
        return ["--events-topic", self.events, "--actions-topic", self.actions,
                "--dead-letter-topic", self.dead, "--profiles-topic", self.profiles, "--group-id", self.group]

    def create(self, kafka, partitions: int = 1) -> "Names":
        from journeyctl.engine.live.kafka_edge import Admin

        admin = Admin(kafka)
        try:
            admin.create([self.events, self.actions, self.dead, self.profiles], partitions)
        finally:
            admin.close()
        return self


@pytest.fixture
def names():
    return Names()


class RunProcess:
    """One `journeyctl run` subprocess; its stdout and stderr go to files, read with out()/err()."""

    def __init__(self, args: list[str], cwd: Path, tag: str, env: dict | None = None):
        self.cwd = cwd
        self.out_path = cwd / f"run-{tag}.out"
        self.err_path = cwd / f"run-{tag}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([*JOURNEYCTL, "run", *args], cwd=cwd, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL,
                                         env={**os.environ, **(env or {})})

    def err(self) -> str:
        return self.err_path.read_text(errors="replace")

    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    def log(self) -> list[dict]:
        """The JSON log lines on stdout so far (--no-dashboard), the last one only once it is whole."""
        return [orjson.loads(line) for line in self.out().splitlines(keepends=True) if line.endswith("\n")]

    def wait_for(self, text: str, timeout: float = PATIENCE) -> None:
        """Until text is on stderr; fails at once if the process exits first."""
        def seen() -> bool:
            if text in self.err():
                return True
            if self.proc.poll() is not None:
                raise AssertionError(f"journeyctl run exited {self.proc.returncode} before {text!r}:\n{self.err()}")
            return False
        wait_until(seen, timeout, lambda: f"{text!r} on stderr:\n{self.err()}")

    def terminate(self, timeout: float = PATIENCE, sig=signal.SIGTERM) -> tuple[int, float]:
        """SIGTERM (or sig); (exit code, seconds to exit). The seconds are for a message, never for an
        assertion: how fast a stop is belongs in bench/, not in a test a loaded machine can fail."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - start

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def run_journeyctl(tmp_path):
    """start(args, tag=...) -> RunProcess, in tmp_path (so no project journeyctl.yaml applies)."""
    started: list[RunProcess] = []

    def start(args, tag: str | None = None, env: dict | None = None) -> RunProcess:
        p = RunProcess([str(a) for a in args], tmp_path, tag or str(len(started)), env)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def event(name: str, customer: str, at_ms: int, message_id: str, **props) -> bytes:
    from journeyctl.engine.core.events import format_instant

    return orjson.dumps({"event": name, "customer_id": customer, "timestamp": format_instant(at_ms),
                         "message_id": message_id, "properties": props})


@pytest.fixture
def make_event():
    return event


class TopicReader:
    """Everything on a topic so far, read without a consumer group."""

    def __init__(self, kafka, topic: str):
        from journeyctl.engine.live.kafka_edge import Reader

        self.reader = Reader(kafka, topic)
        self.records: list = []

    def read(self, timeout_ms: int = 200) -> list:
        self.records.extend(self.reader.read(timeout_ms))
        return self.records

    def values(self) -> list[dict]:
        return [orjson.loads(r.value) for r in self.records]

    def until(self, done, timeout: float) -> list[dict]:
        """Read until done(values) is true or the time is up; returns the values either way."""
        deadline = time.monotonic() + timeout
        while True:
            self.read()
            values = self.values()
            if done(values) or time.monotonic() > deadline:
                return values

    def close(self) -> None:
        self.reader.close()


@pytest.fixture
def topic_reader(kafka):
    readers = []

    def open_reader(topic: str, settings=None) -> TopicReader:
        r = TopicReader(settings or kafka, topic)
        readers.append(r)
        return r

    yield open_reader
    for r in readers:
        r.close()


def produce(kafka, topic: str, messages) -> None:
    """[(key, value)] onto a topic, acknowledged."""
    from journeyctl.engine.live.kafka_edge import Producer

    p = Producer(kafka, max_request_size=4_000_000)  # room for a too-large event
    try:
        for key, value in messages:
            p.send(topic, key, value)
        p.flush()
    finally:
        p.close()


@pytest.fixture
def produce_to():
    return produce


def expected_actions(journey_texts: dict[str, str], values: list[bytes], until_ms: int, lateness_ms: int) -> list[dict]:
    """What a replay of the same input gives (spec section 9 fields), timers run to until_ms."""
    from journeyctl.dsl.compiler import compile_text
    from journeyctl.engine.core.actions import ACTION_KEYS
    from journeyctl.engine.core.engine import Engine
    from journeyctl.engine.store.memory import MemoryStore
    from journeyctl.engine.core.events import BadEvent, parse_event
    from journeyctl.engine.replay.loop import replay

    irs = []
    for name, text in journey_texts.items():
        compiled = compile_text(text, f"{name}.journey")
        assert compiled.ir is not None, compiled.diagnostics
        irs.append(compiled.ir)
    engine = Engine(irs, lateness=lateness_ms, store=MemoryStore())
    items = []
    for i, raw in enumerate(values, 1):
        try:
            items.append((i, raw, parse_event(raw)))
        except BadEvent as e:
            items.append((i, raw, e))
    result = replay(engine, items, until_ms)
    return [{k: a[k] for k in ACTION_KEYS} for a in result.actions]


@pytest.fixture
def replay_actions():
    return expected_actions


def write_journeys(folder: Path, journey_texts: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in journey_texts.items():
        (folder / f"{name}.journey").write_text(text)
    return folder


@pytest.fixture
def journeys_dir(tmp_path):
    return lambda texts: write_journeys(tmp_path / "journeys", texts)


# ---- PostgreSQL (127.0.0.1:5432, or $JOURNEYCTL_TEST_PG): a fresh schema per test -----------------

PG_URL = os.environ.get("JOURNEYCTL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_url() -> str:
    """PG_URL once the server answers; skips, saying why, without one (`make test` starts it first)."""
    import psycopg

    try:
        psycopg.connect(PG_URL, autocommit=True, connect_timeout=5).close()
    except psycopg.OperationalError as e:
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL} ({str(e).strip().splitlines()[0]}); "
                    "start it with scripts/ensure-postgres or set JOURNEYCTL_TEST_PG")
    return PG_URL


@pytest.fixture
def pg_state(pg_url):
    """`postgresql://...?schema=<fresh>` for one test, dropped afterwards; skips without a server."""
    import psycopg

    schema = f"jt_{uuid.uuid4().hex[:12]}"
    yield f"{PG_URL}?schema={schema}", schema
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '20s'")
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def pg_query(schema: str, sql: str, params=()) -> list:
    """Rows of one query in the test's schema (0 rows while its tables are not created yet)."""
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        try:
            return conn.execute(sql, params).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
