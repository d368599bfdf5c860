"""PgStore on a real PostgreSQL (127.0.0.1:5432, or $JOURNEYCTL_TEST_PG): what it keeps across a
reopen, commit atomicity, schema versioning, several workers on one database, and that an engine
stopped and restarted on it sends exactly what one uninterrupted run sends.

Every test works in a schema of its own, dropped afterwards. Without a reachable server the tests
skip, saying so (`scripts/ensure-postgres` starts the local cluster; `make test` runs it first).
The time to commit a large batch is measured by bench/store_commit.py, not here.
"""
from __future__ import annotations

import os
import sys
import threading
import uuid

import psycopg
import pytest

from journeyctl.engine.live.outbox import Outbox
from journeyctl.engine.store.postgres import MIGRATIONS, OUTBOX_BLOCK_BITS, SCHEMA_VERSION, PgStore, split_url
from journeyctl.engine.store.secrets import redact
from journeyctl.engine.store.sqlite import SchemaError, SqliteStore
from journeyctl.engine.core.state import Customer, Instance
from journeyctl.engine.core.store import OutboxRow
from journeyctl.engine.store.open import open_store

sys.path.insert(0, os.path.dirname(__file__))
from conftest import PG_URL  # noqa: E402
from test_sqlite_store import T0, event_stream, fields, full_customer, one_run, replay  # noqa: E402


def _admin():
    return psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)


@pytest.fixture
def schema(pg_url):  # pg_url (conftest) skips without a server
    name = f"jt_{uuid.uuid4().hex[:12]}"
    yield name
    with _admin() as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def open_pg(pg_url, schema):
    """Opens PgStores on the test's schema; whatever the test leaves open is closed at the end."""
    opened = []

    def factory(**options):
        store = PgStore(pg_url, schema=schema, **options)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


def _sql(schema: str, statement: str, params=()):
    with _admin() as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else None


def _waiting(due: int | None, tag: str = "m") -> Customer:
    c = Customer()
    c.instances = [Instance("j", "v", tag, "s1", due, T0, {}, tag, 0, None)]
    return c


# ---- customers -------------------------------------------------------------------------------

def test_every_customer_field_round_trips(open_pg):
    odd = full_customer()
    odd.profile["score"] = 7 ** 40  # beyond 64 bits: encoded by the stdlib, must still come back
    with open_pg() as store:
        store.put("c1", full_customer())
        store.put("", odd)  # an empty id is a key like any other
        store.put("Zoë/😀", full_customer())
        store.commit()
    with open_pg() as store:
        again = store.get("c1")
        assert fields(again) == fields(full_customer())
        assert again.next_due() == T0 + 1_800_000
        assert store.get("")._peek("profile")["score"] == 7 ** 40
        assert fields(store.get("Zoë/😀")) == fields(full_customer())
        assert store.get("nobody") is None
        # the column types the issue asks for
        types = dict(_sql(store.schema, "SELECT column_name, data_type FROM information_schema.columns "
                                        "WHERE table_schema = %s AND table_name = 'customers'", (store.schema,)))
        assert types == {"customer_id": "text", "state": "bytea", "next_due": "bigint", "partition": "integer"}


def test_get_after_put_returns_the_same_object_before_and_after_commit(open_pg):
    store = open_pg()
    c = full_customer()
    store.put("c1", c)
    assert store.get("c1") is c
    store.commit()
    assert store.get("c1") is c


def test_nothing_is_durable_before_commit(open_pg):
    store = open_pg(cache_size=2)
    store.put("kept", full_customer())
    store.set_meta("clock", 1)
    store.commit()
    for i in range(10):  # more than the cache: some are written into the open transaction
        store.put(f"c{i}", full_customer())
    store.set_meta("clock", 2)
    store.save_version("v2", {"id": "j"})
    store.save_offsets({("events", 0): 99})
    store.close()
    with open_pg() as store:
        assert [cid for cid, _ in store.customers()] == ["kept"]
        assert store.get_meta("clock") == 1
        assert store.load_version("v2") is None
        assert store.offsets() == {}


def test_an_emptied_customer_is_deleted(open_pg):
    store = open_pg()
    store.put("c1", full_customer())
    store.commit()
    store.put("c1", Customer())
    store.commit()
    assert store.get("c1") is None
    assert _sql(store.schema, "SELECT count(*) FROM customers") == [(0,)]


def test_a_big_batch_goes_through_copy_and_later_small_ones_through_executemany(open_pg):
    store = open_pg(cache_size=300)  # over 200 dirty: the overflow flush COPYs inside the transaction
    for i in range(700):
        store.put(f"c{i:04d}", _waiting(T0 + i), partition=i % 3)
    store.commit()
    for i in range(0, 700, 7):
        store.put(f"c{i:04d}", _waiting(T0 - i))  # no partition: the stored one stays
    store.commit()
    with open_pg() as again:
        timers = list(again.timers({1}))
        expected = sorted((T0 - i if i % 7 == 0 else T0 + i, f"c{i:04d}") for i in range(700) if i % 3 == 1)
        assert timers == expected
        assert sum(1 for _ in again.customers()) == 700


def test_customers_lists_uncommitted_changes_as_the_same_objects(open_pg):
    store = open_pg()
    committed, pending = full_customer(), full_customer()
    store.put("a", committed)
    store.commit()
    store.put("b", pending)
    listed = dict(store.customers())
    assert listed.keys() == {"a", "b"}
    assert listed["b"] is pending and listed["a"] is committed


def test_timers_and_customers_page_in_byte_order(open_pg, monkeypatch):
    monkeypatch.setattr("journeyctl.engine.store.postgres._PAGE", 7)
    ids = [f"c{i:02d}" for i in range(40)] + ["B", "a", "é", "Z", "ä", "_"]
    store = open_pg(cache_size=3)
    for n, cid in enumerate(ids):
        store.put(cid, _waiting(T0 + n % 5))
    store.commit()
    assert list(store.timers()) == sorted((T0 + n % 5, cid) for n, cid in enumerate(ids))
    assert [cid for cid, _ in store.customers()] == sorted(ids)  # code point order = UTF-8 byte order, as SQLite


def test_timers_survive_a_reopen_and_see_uncommitted_moves(open_pg):
    store = open_pg()
    for i, due in enumerate([T0 + 30, None, T0 + 10, T0 + 20]):
        store.put(f"c{i}", _waiting(due, f"m{i}"))
    store.commit()
    c = store.get("c0")
    c.instances[0].due = T0 + 5  # moved, not yet committed: timers() must see it
    store.put("c0", c)
    assert list(store.timers()) == [(T0 + 5, "c0"), (T0 + 10, "c2"), (T0 + 20, "c3")]
    store.commit()
    store.close()
    with open_pg() as store:
        assert list(store.timers()) == [(T0 + 5, "c0"), (T0 + 10, "c2"), (T0 + 20, "c3")]


@pytest.fixture(params=["postgresql", "sqlite"])
def any_store(request, tmp_path):
    """Opens stores of one kind on one database: both kinds take the same partition arguments."""
    if request.param == "sqlite":
        return lambda **kw: SqliteStore(tmp_path / "s.db", **kw)
    return request.getfixturevalue("open_pg")


def test_timers_by_partition(any_store):
    with any_store() as store:
        store.put("p0", _waiting(T0 + 1), partition=0)
        store.put("p1", _waiting(T0 + 2), partition=1)
        store.put("p2", _waiting(T0 + 3), partition=2)
        store.put("none", _waiting(T0 + 4))  # put without a partition
        store.put("idle", full_customer(), partition=1)
        store.get("idle").instances.clear()
        store.put("idle", store.get("idle"), partition=1)  # no timer: never listed
        assert list(store.timers({1, 2})) == [(T0 + 2, "p1"), (T0 + 3, "p2")]  # uncommitted, seen
        store.commit()
        store.put("p2", _waiting(T0 + 9))  # no partition given: keeps partition 2
        store.commit()
    with any_store() as store:
        assert list(store.timers({2})) == [(T0 + 9, "p2")]
        assert list(store.timers({0, 1})) == [(T0 + 1, "p0"), (T0 + 2, "p1")]
        assert list(store.timers(set())) == []
        assert list(store.timers({7})) == []
        assert list(store.timers()) == [(T0 + 1, "p0"), (T0 + 2, "p1"), (T0 + 4, "none"), (T0 + 9, "p2")]


def test_partition_of_gives_the_partition_of_a_customer_put_without_one(any_store):
    with any_store(partition_of=lambda cid: int(cid[1:]) % 2) as store:
        for i in range(6):
            store.put(f"c{i}", _waiting(T0 + i))
        store.put("c3", _waiting(T0 + 3), partition=0)  # an explicit partition wins
        store.commit()
        assert list(store.timers({1})) == [(T0 + 1, "c1"), (T0 + 5, "c5")]


def test_prefetch_reads_stored_customers_and_knows_the_missing_ones_for_one_batch(any_store):
    a, b = any_store(), any_store()
    for i in range(0, 1_100, 2):
        a.put(f"c{i}", _waiting(T0 + i), partition=0)
    a.commit()
    b.prefetch([f"c{i}" for i in range(1_100)])
    assert b.cached() == (0, 550)
    assert b.get("c4").instances[0].due == T0 + 4 and b.get("c5") is None
    b.put("c3", _waiting(T0 + 3), partition=0)  # a customer met in the batch is written as usual
    assert b.get("c3").instances[0].due == T0 + 3
    a.put("c5", _waiting(T0 + 5), partition=0)
    a.commit()
    assert b.get("c5") is None  # known missing since the prefetch ...
    b.forget(["c5"])            # ... until the partition changes hands
    assert b.get("c5").instances[0].due == T0 + 5
    b.prefetch(["c7"])
    a.put("c7", _waiting(T0 + 7), partition=0)
    a.commit()
    b.commit()                  # ... or the batch ends, even with nothing of b's to write
    assert b.get("c7").instances[0].due == T0 + 7
    b.prefetch(["c9"])
    a.put("c9", _waiting(T0 + 9), partition=0)
    a.commit()
    b.clear_cache()             # ... or the cache is dropped
    assert b.get("c9").instances[0].due == T0 + 9
    a.close()
    b.close()


def test_the_clean_cache_stays_within_its_bound(any_store):
    with any_store(cache_size=50) as store:
        for i in range(600):
            store.put(f"c{i}", full_customer())
            dirty, clean = store.cached()
            assert dirty <= 50 and clean <= 50
        store.commit()
        for i in range(600):
            assert fields(store.get(f"c{i}")) == fields(full_customer())
            dirty, clean = store.cached()
            assert dirty == 0 and clean <= 50


# ---- meta, versions, offsets, outbox -----------------------------------------------------------

def test_meta_versions_offsets_and_outbox_survive_a_reopen(open_pg):
    ir = {"id": "cart", "states": {"s1": {"kind": "wait", "duration": 1800000, "next": None}}}
    store = open_pg()
    store.set_meta("clock", T0)
    store.set_meta("stats", {"events": 3, "nested": {"ü": [1, 2.5, None]}})
    store.save_version("abc123def456", ir)
    store.save_version("abc123def456", {"id": "other"})  # the first IR saved under a version wins
    assert store.load_version("abc123def456") == ir
    first = store.outbox_next_id()
    store.add_outbox([OutboxRow(first, "actions", b"c1", b'{"a":1}'), OutboxRow(first + 1, "dead", None, b"\x00\xff")])
    store.save_offsets({("events", 0): 41, ("events", 1): 7})
    store.commit()
    store.save_offsets({("events", 1): 8})
    store.drop_outbox([first])
    store.commit()
    store.close()
    with open_pg() as store:
        assert store.get_meta("clock") == T0
        assert store.get_meta("stats") == {"events": 3, "nested": {"ü": [1, 2.5, None]}}
        assert store.get_meta("missing") is None
        assert store.load_version("abc123def456") == ir
        assert store.load_version("nope") is None
        assert store.offsets() == {("events", 0): 41, ("events", 1): 8}
        assert store.outbox() == [(first + 1, "dead", None, b"\x00\xff")]
        assert store.outbox(after=first + 1) == []
        assert store.outbox_next_id() > first + 1  # ids keep growing past what is left


def test_outbox_ids_of_workers_sharing_a_database_never_collide(open_pg):
    a, b = open_pg(), open_pg()
    start_a, start_b = a.outbox_next_id(), b.outbox_next_id()
    assert start_a >> OUTBOX_BLOCK_BITS != start_b >> OUTBOX_BLOCK_BITS
    # each numbers its rows upwards from its own start, as Outbox does, and both commit
    a.add_outbox([OutboxRow(start_a + i, "actions", b"a", b"from a") for i in range(3)])
    b.add_outbox([OutboxRow(start_b + i, "actions", b"b", b"from b") for i in range(3)])
    a.commit()
    b.commit()
    rows = a.outbox()
    assert len(rows) == 6 and len({r.id for r in rows}) == 6
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    with pytest.raises(ValueError, match="outside the id blocks"):
        a.add_outbox([OutboxRow(start_b + 10, "actions", None, b"x")])  # b's range
    # a worker started later numbers past everything committed so far, even by a rolled-back store
    b.outbox_next_id()
    b.close()
    with open_pg() as c:
        assert c.outbox_next_id() > max(r[0] for r in rows)


def test_the_outbox_class_runs_on_a_pg_store(open_pg):
    from journeyctl.engine.core.engine import Engine

    store = open_pg()
    outbox = Outbox(store, "acts", "dead")
    assert outbox.durable  # the outbox rows are the store's own table, committed with the state
    engine = Engine([], store=store)
    engine.clock = 1234
    store.put("c1", full_customer())
    rows = outbox.add_dead_letters([(None, b"{}")])
    outbox.consumed({("events", 0): 10})
    outbox.commit(engine)
    store.put("c2", full_customer())  # a batch that never commits
    outbox.add_dead_letters([(None, b"[]")])
    outbox.consumed({("events", 0): 20})
    store.close()
    store = open_pg()
    again = Outbox(store, "acts", "dead")
    assert store.get("c2") is None and store.get_meta("clock") == 1234
    assert again.offsets() == {("events", 0): 10}
    assert again.undelivered() == [rows[0]]


# ---- transactions -------------------------------------------------------------------------------

def test_staged_rows_commit_with_the_state_or_not_at_all(open_pg):
    store = open_pg()
    store._conn.execute("CREATE TABLE staged_rows (id TEXT PRIMARY KEY)")
    store.put("c1", full_customer())
    store.stage("INSERT INTO staged_rows (id) VALUES (%s)", [("a1",), ("a2",)])
    store.commit()
    store.put("c2", full_customer())
    store.set_meta("clock", 5)
    store.save_offsets({("events", 0): 3})
    store.add_outbox([OutboxRow(1, "acts", None, b"x")])
    store.stage("INSERT INTO staged_rows (id) VALUES (%s)", [("a1",)])  # duplicate key: the commit fails
    with pytest.raises(psycopg.errors.UniqueViolation):
        store.commit()
    assert store.get("c2") is None and store.get_meta("clock") is None  # memory forgot it too
    assert _sql(store.schema, "SELECT id FROM staged_rows ORDER BY id") == [("a1",), ("a2",)]
    assert _sql(store.schema, "SELECT customer_id FROM customers") == [("c1",)]
    assert store.offsets() == {} and store.outbox() == []
    store.put("c3", full_customer())  # and the store goes on working
    store.commit()
    assert sorted(cid for cid, _ in store.customers()) == ["c1", "c3"]


def test_a_failed_statement_inside_the_transaction_makes_commit_fail_not_drop_silently(open_pg):
    store = open_pg(cache_size=1)
    store.put("a", full_customer())
    store.put("b", full_customer())  # over the cache: written into the open transaction
    with pytest.raises(psycopg.errors.UndefinedTable):
        store._conn.execute("SELECT * FROM no_such_table")
    with pytest.raises(psycopg.errors.InFailedSqlTransaction):
        store.commit()
    assert list(store.customers()) == []
    store.put("c", full_customer())
    store.commit()
    assert [cid for cid, _ in store.customers()] == ["c"]


# ---- schema ------------------------------------------------------------------------------------

def test_a_new_schema_is_created_versioned_and_indexed(open_pg):
    store = open_pg()
    assert store.get_meta("schema_version") == SCHEMA_VERSION == 6
    tables = {r[0] for r in _sql(store.schema, "SELECT tablename FROM pg_tables WHERE schemaname = %s",
                                 (store.schema,))}
    assert tables == {"customers", "meta", "versions", "outbox", "offsets"}
    indexes = dict(_sql(store.schema, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'customers' "
                                      "AND schemaname = %s", (store.schema,)))
    assert "WHERE (next_due IS NOT NULL)" in indexes["customers_next_due"]
    assert "WHERE (next_due IS NOT NULL)" in indexes["customers_partition_next_due"]
    for i in range(2000):
        store.put(f"c{i}", _waiting(T0 + i if i % 50 == 0 else None), partition=i % 6)
    store.commit()
    store._conn.execute("ANALYZE customers")
    plan = " ".join(r[0] for r in store._conn.execute(
        "EXPLAIN SELECT next_due, customer_id FROM customers WHERE next_due IS NOT NULL "
        "ORDER BY next_due, customer_id LIMIT 10000"))
    assert "customers_next_due" in plan or "customers_partition_next_due" in plan


def test_a_schema_from_a_newer_journeyctl_is_refused(open_pg, schema):
    open_pg().close()
    _sql(schema, "UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(SchemaError, match=f"schema {SCHEMA_VERSION + 1}, written by a newer journeyctl"):
        open_pg()


def test_a_schema_2_database_is_migrated_and_keeps_its_customers(open_pg, schema):
    _sql(schema, f'CREATE SCHEMA "{schema}"')
    _sql(schema, "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for statement in MIGRATIONS[1] + MIGRATIONS[2]:
        _sql(schema, statement)
    _sql(schema, "INSERT INTO meta VALUES ('schema_version', '2'), ('clock', %s)", (str(T0),))
    _sql(schema, "INSERT INTO customers VALUES ('old', %s, %s)", (full_customer().encode(), T0 + 1_800_000))
    with open_pg() as store:
        assert store.get_meta("schema_version") == SCHEMA_VERSION and store.get_meta("clock") == T0
        assert fields(store.get("old")) == fields(full_customer())
        assert list(store.timers()) == [(T0 + 1_800_000, "old")]
        assert list(store.timers({0})) == []  # stored before partitions: only in the full list
        store.put("old", store.get("old"), partition=0)
        store.commit()
        assert list(store.timers({0})) == [(T0 + 1_800_000, "old")]


def test_workers_opening_a_new_schema_together_all_succeed(open_pg):
    errors, stores = [], []

    def opener():
        try:
            stores.append(open_pg())
        except Exception as e:  # noqa: BLE001 - collected and reported below
            errors.append(e)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(stores) == 4
    assert all(s.get_meta("schema_version") == SCHEMA_VERSION for s in stores)


def test_split_url_takes_out_only_the_schema():
    assert split_url("postgresql://u@h/db") == ("postgresql://u@h/db", None)
    assert split_url("postgresql://u@h/db?options=-c%20x%3Dy") == ("postgresql://u@h/db?options=-c%20x%3Dy", None)
    assert split_url("postgresql://u@h/db?schema=s1&options=-c%20x%3Dy&sslmode=disable") == (
        "postgresql://u@h/db?options=-c%20x%3Dy&sslmode=disable", "s1")
    assert split_url("host=h dbname=db") == ("host=h dbname=db", None)
    assert redact("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"


def test_a_url_schema_and_open_store(pg_url, schema):
    with open_store(f"{pg_url}?schema={schema}", cache_size=10) as store:
        assert isinstance(store, PgStore) and store.schema == schema and store.cache_size == 10
        store.put("c1", full_customer())
        store.commit()
    with open_store(pg_url.replace("postgresql://", "postgres://"), schema=schema) as store:
        assert fields(store.get("c1")) == fields(full_customer())
    with pytest.raises(ValueError, match="postgresql://user@host"):
        open_store("postgresql:nohost")


# ---- several workers on one database ------------------------------------------------------------

def test_two_stores_see_each_others_commits_after_forget_or_clear_cache(any_store):
    a, b = any_store(), any_store()
    a.put("c1", _waiting(T0 + 1, "first"), partition=0)
    a.set_meta("clock", 1)
    a.commit()
    assert b.get("c1").instances[0].iid == "first"  # now cached in b
    a.put("c1", _waiting(T0 + 2, "second"), partition=0)
    a.set_meta("clock", 2)
    a.commit()
    assert b.get("c1").instances[0].iid == "first"  # b trusts its cache ...
    assert list(b.timers({0})) == [(T0 + 2, "c1")]  # ... but timers are always read from the database
    b.forget(["c1", "never-seen"])
    assert b.get("c1").instances[0].iid == "second"
    assert b.get_meta("clock") is None  # meta is read at open (b opened before a set it) ...
    b.set_meta("mine", "pending")
    b.clear_cache()
    assert b.cached() == (0, 0)
    assert b.get_meta("clock") == 2 and b.get_meta("mine") == "pending"  # ... and again here; uncommitted stays
    b.put("c1", _waiting(T0 + 3, "third"))
    with pytest.raises(RuntimeError, match="commit"):
        b.forget(["c1"])  # uncommitted changes are not dropped behind the caller's back
    b.commit()
    a.clear_cache()
    assert a.get("c1").instances[0].iid == "third" and a.get_meta("mine") == "pending"
    a.close()
    b.close()


# ---- restart equivalence with the real engine ----------------------------------------------------

def test_one_pg_run_matches_sqlite(open_pg):
    assert replay(open_pg, event_stream()) == list(one_run())


@pytest.mark.parametrize("stops, cache_size", [
    ({1}, 1), ({57}, 7), ({200}, 100_000), ({len(event_stream()) - 1}, 7),
    ({50, 120, 121, 300}, 5),
])
def test_restart_gives_the_same_actions(open_pg, stops, cache_size):
    actions = replay(lambda: open_pg(cache_size=cache_size), event_stream(), stops=stops)
    assert actions == list(one_run())
