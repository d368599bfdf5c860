"""Time to commit 100,000 customers in one batch, to PostgreSQL and to SQLite: an insert, then an
update of the same rows, and how much of it is encoding the state. Moved here from
tests/test_pg_store.py: a speed is measured by hand, never asserted in a test.

PostgreSQL at $JOURNEYCTL_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test; start it with
scripts/ensure-postgres), in a schema of its own that is dropped afterwards.

usage: .venv/bin/python bench/store_commit.py [-n 100000]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from journeyctl.engine.store.postgres import PgStore  # noqa: E402
from journeyctl.engine.store.sqlite import SqliteStore  # noqa: E402
from test_sqlite_store import full_customer  # noqa: E402  (a customer with every field set)

PG_URL = os.environ.get("JOURNEYCTL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def run(make_store, label: str, n: int) -> None:
    store = make_store()
    c = full_customer()
    blob_time = time.perf_counter()
    for _ in range(1000):
        c.encode()
    per_encode = (time.perf_counter() - blob_time) / 1000
    for i in range(n):
        store.put(f"c{i:07d}", c, partition=i % 6)
    t = time.perf_counter()
    store.commit()
    insert = time.perf_counter() - t
    for i in range(n):
        store.put(f"c{i:07d}", c, partition=i % 6)
    t = time.perf_counter()
    store.commit()
    update = time.perf_counter() - t
    store.close()
    print(f"{label:10} commit of {n:,} customers in one batch: insert {insert:.2f} s ({n / insert:,.0f}/s), "
          f"update {update:.2f} s ({n / update:,.0f}/s); of which encoding ~{per_encode * n:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000)
    n = parser.parse_args().n
    name = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        run(lambda: PgStore(PG_URL, schema=name, cache_size=n + 1), "PostgreSQL", n)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    with tempfile.TemporaryDirectory() as tmp:
        run(lambda: SqliteStore(os.path.join(tmp, "bench.db"), cache_size=n + 1), "SQLite", n)


if __name__ == "__main__":
    main()
