"""Several `run` workers sharing one PostgreSQL store write the UI's tables: the first commits of two
workers starting together must not both create them (CREATE ... IF NOT EXISTS races in PostgreSQL:
the loser failed with a unique violation on pg_class, and its worker stopped with an internal error)."""
from __future__ import annotations

import threading

import psycopg

from journeyctl.dsl.compiler import compile_text
from journeyctl.engine.core.engine import Engine
from journeyctl.engine.core.events import parse_event
from journeyctl.engine.store.counts import record
from journeyctl.engine.store.postgres import PgStore

from conftest import PG_URL


def _sql(schema: str, statement: str) -> list | None:
    """One statement in the test's schema, on a connection of its own (neither worker's)."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else None


def test_two_workers_creating_the_ui_tables_at_once(pg_state):
    url, schema = pg_state
    ir = compile_text('journey hello\n  on signed_up\n  send email "welcome"\n', "hello.journey").ir
    for round_ in range(20):
        engines = []  # two workers that just started: neither has made the tables yet
        try:
            for _ in range(2):  # as run does: the versions an engine stages are committed before the next starts
                engines.append(Engine([ir], store=PgStore(url)))
                engines[-1].store.commit()
            _sql(schema, "DROP TABLE IF EXISTS counts, recent_actions")
            for i, engine in enumerate(engines):
                engine.process(parse_event(f'{{"event": "signed_up", "customer_id": "c{round_}-{i}", '
                                           f'"timestamp": "2026-03-01T10:00:{round_:02d}Z"}}'.encode()))
            start, failures = threading.Barrier(2), []

            def commit(engine):
                start.wait()
                try:
                    record(engine.store, engine)
                    engine.store.commit()
                except Exception as e:  # noqa: BLE001 - what the worker would have died of
                    failures.append(e)

            threads = [threading.Thread(target=commit, args=(e,)) for e in engines]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert failures == [], (round_, failures)
            assert _sql(schema, "SELECT sum(n) FROM counts WHERE series = 'entered:hello' AND res = 1") == [(2,)], round_
        finally:
            for e in engines:
                e.store.close()
