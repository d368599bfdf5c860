"""A durable state store on PostgreSQL (psycopg 3), shared by several workers.

The same contract as SqliteStore (read engine/store/sqlite.py first): customers put since
the last `commit()` stay in memory and `commit()` writes them, the meta values, new journey
versions and every staged statement (outbox rows, input offsets) in ONE transaction;
nothing is durable before it, and `close()` without it discards it. Clean customers live
in an LRU of `cache_size`; past `cache_size` dirty customers they are written into the
still-open transaction, so the next `commit()` stays all-or-nothing.

What is different because several workers (`journeyctl run` processes in one Kafka consumer
group) share one database:

- customers carry the input `partition` they belong to, so a worker loads only the timers of
  the partitions it owns: `timers(partitions)`, `put(customer_id, state, partition)`.
- A worker must not trust its cache for a customer another worker may have changed: after a
  revocation, `forget(customer_ids)` or `clear_cache()`.
- Outbox ids. Callers pick them (Outbox numbers its rows from `outbox_next_id()` up, in
  memory), and two workers both starting from `max(id) + 1` would collide. Here
  `outbox_next_id()` takes a fresh block of 2**40 ids from a database sequence (`outbox_block`,
  never rolled back, never handed out twice), so each Outbox numbers its rows in a range no
  other worker, nor any earlier run, uses; a block is larger than every earlier one, so ids
  still only grow and `outbox(after)` still pages through everything. add_outbox refuses an id
  outside the blocks this store handed out.
- The schema is created under an advisory lock, so workers starting together do not race.

Connection: one psycopg connection in autocommit mode; this class issues BEGIN/COMMIT itself,
so a read outside a write transaction never leaves the session idle in a transaction. Any
failure while writing rolls the whole transaction back (PostgreSQL aborts it anyway) and
forgets the cache, like a failed commit in SqliteStore.

`schema=` (or `?schema=name` in the URL) puts the tables in that schema, created if missing;
otherwise they go where the connection's search_path says (normally `public`).
"""
from __future__ import annotations

import json
from typing import Callable, Iterable, Iterator
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from journeyctl.engine.store.secrets import redact
from journeyctl.engine.store.sqlite import SCHEMA_VERSION, SchemaError, stored_schema
from journeyctl.engine.store.cached import CachedStore
from journeyctl.engine.core.state import Customer
from journeyctl.engine.core.store import OutboxRow, Part, Position

# Migration n takes a schema at version n-1 to version n. The numbers mean the same as SqliteStore's.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        # COLLATE "C": customer ids sort by their bytes, as in SQLite, whatever the database's locale.
        # fillfactor: room in each page for the new version of a row, so an update that leaves
        # next_due alone is a HOT update that touches no index.
        'CREATE TABLE customers (customer_id TEXT COLLATE "C" PRIMARY KEY, state BYTEA NOT NULL, '
        "next_due BIGINT) WITH (fillfactor = 80)",
        # Partial: most customers have no timer, and timers() only ever asks for those that do.
        "CREATE INDEX customers_next_due ON customers (next_due, customer_id) WHERE next_due IS NOT NULL",
        "CREATE TABLE versions (version TEXT PRIMARY KEY, ir TEXT NOT NULL)",
    ],
    2: [
        "CREATE TABLE outbox (id BIGINT PRIMARY KEY, topic TEXT NOT NULL, key BYTEA, value BYTEA NOT NULL)",
        'CREATE TABLE offsets (topic TEXT NOT NULL, partition INTEGER NOT NULL, "offset" BIGINT NOT NULL, '
        "PRIMARY KEY (topic, partition))",
        # One value per Outbox: the block of outbox ids it numbers its rows from (see the docstring).
        "CREATE SEQUENCE outbox_block AS BIGINT MINVALUE 1 MAXVALUE 8388606",
    ],
    3: [
        "ALTER TABLE customers ADD COLUMN partition INTEGER",
        "CREATE INDEX customers_partition_next_due ON customers (partition, next_due, customer_id) "
        "WHERE next_due IS NOT NULL",
    ],
    4: [],  # no SQL: windows in customer state are flat from here on (see SqliteStore's 4)
    5: [],  # no SQL: message ids are kept with their event time (see SqliteStore's 5)
    6: ["ALTER TABLE offsets ADD COLUMN clock BIGINT, ADD COLUMN fingerprint TEXT"],  # see SqliteStore's 6
}

# journeyctl deliver's tables (see SqliteStore.DELIVER_TABLES).
DELIVER_TABLES = [
    'CREATE TABLE IF NOT EXISTS deliveries (action_id TEXT COLLATE "C" PRIMARY KEY, outcome TEXT NOT NULL, '
    "at BIGINT NOT NULL)",
    'CREATE TABLE IF NOT EXISTS deliver_offsets (grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, '
    '"offset" BIGINT NOT NULL, PRIMARY KEY (grp, topic, partition))',
    'CREATE TABLE IF NOT EXISTS deliver_outbox (id TEXT COLLATE "C" PRIMARY KEY, topic TEXT NOT NULL, key BYTEA, '
    "value BYTEA NOT NULL)",
]

OUTBOX_BLOCK_BITS = 40  # ids per block: 2**40, a trillion messages per worker run

_PAGE = 10_000  # rows per read when scanning
_COPY_FROM = 200  # customers per flush from which COPY into a temporary table beats executemany (measured)
_MIGRATION_LOCK = 0x6A6F75726E6579  # "journey": the advisory lock held while creating or migrating

_UPSERT = ("INSERT INTO customers (customer_id, state, next_due, partition) VALUES (%s, %s, %s, %s) "
           "ON CONFLICT (customer_id) DO UPDATE SET state = excluded.state, next_due = excluded.next_due, "
           "partition = coalesce(excluded.partition, customers.partition)")
_UPSERT_LOADED = ("INSERT INTO customers (customer_id, state, next_due, partition) "
                  "SELECT customer_id, state, next_due, partition FROM pg_temp.customers_load "
                  "ON CONFLICT (customer_id) DO UPDATE SET state = excluded.state, next_due = excluded.next_due, "
                  "partition = coalesce(excluded.partition, customers.partition)")


def split_url(url: str) -> tuple[str, str | None]:
    """(conninfo, schema): a `schema` query parameter is ours, not libpq's, so it comes out here."""
    if "://" not in url:
        return url, None
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(k == "schema" for k, _ in query):
        return url, None  # untouched: libpq reads its own parameters
    schema = [v for k, v in query if k == "schema"][-1]
    rest = [(k, v) for k, v in query if k != "schema"]
    # quote, not quote_plus: libpq does not read "+" as a space
    return urlunsplit(parts._replace(query=urlencode(rest, quote_via=quote))), schema




class PgStore(CachedStore):
    """The StateStore protocol over PostgreSQL. Call `put` after every change to a customer."""

    P = "%s"
    shared = True

    def _spill(self) -> None:
        self._flush_or_roll_back()

    def __init__(self, url: str, *, cache_size: int = 100_000, schema: str | None = None,
                 partition_of: Callable[[str], int | None] | None = None, read_only: bool = False):
        """`read_only`: to look only (status, inspect): no schema or table is created, nothing written."""
        conninfo, url_schema = split_url(url)
        self.url = redact(url)
        self.schema = schema if schema is not None else url_schema
        if self.schema == "":
            raise ValueError(f"the state location {self.url!r} names an empty schema")
        self.cache_size = max(1, cache_size)
        self.partition_of = partition_of
        self._conninfo = conninfo
        self._init_cache()
        self._blocks: set[int] = set()  # outbox id blocks this store handed out
        self._conn = None
        self._connect(read_only, migrate=True)

    def _connect(self, read_only: bool = False, migrate: bool = False) -> None:
        self._conn = psycopg.connect(self._conninfo, autocommit=True)
        try:
            if self.schema is not None:
                self._conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            if read_only:
                self._conn.execute("SET default_transaction_read_only = on")
                self._schema_version()
                self._meta = self._read_meta()
                return
            if migrate:
                self._migrate()
            # Staging area for big flushes; ON COMMIT DELETE ROWS empties it when a transaction ends.
            self._conn.execute("CREATE TEMPORARY TABLE customers_load (customer_id TEXT COLLATE \"C\", "
                               "state BYTEA, next_due BIGINT, partition INTEGER) ON COMMIT DELETE ROWS")
            self._meta = self._read_meta()
        except BaseException:
            self._conn.close()
            raise

    def reconnect(self) -> None:
        """After a lost connection (a server restart, pg_terminate_backend): a new one, and nothing of what
        was not committed. The outbox id blocks taken stay this store's. Raises while the server is away."""
        old, self._conn = self._conn, None
        if old is not None:
            try:
                old.close()
            except psycopg.Error:
                pass
        self._in_txn = False
        self._forget_uncommitted()
        self._connect()

    # ---- schema ----------------------------------------------------------------------

    def _migrate(self) -> None:
        conn = self._conn
        with conn.transaction():
            # Two workers opening a new database must not both create it.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            if self.schema is not None:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            current = self._schema_version()
            for n in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[n]:
                    conn.execute(statement)
            if current != SCHEMA_VERSION:
                conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                             "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                             (json.dumps(SCHEMA_VERSION),))

    def _schema_version(self) -> int:
        where = self.url + (f" (schema {self.schema})" if self.schema else "")
        if self._conn.execute("SELECT to_regclass('meta')").fetchone()[0] is None:  # only when read-only
            raise SchemaError(f"{where} holds no journeyctl state (no meta table)")
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return stored_schema(where, row)

    # ---- customers -------------------------------------------------------------------

    def customers(self) -> Iterator[tuple[str, Customer]]:
        """Every stored customer, uncommitted changes included, in customer id order (by bytes)."""
        self._flush_or_roll_back()
        yield from self._customer_pages(_PAGE)

    def timers(self, partitions: set[int] | None = None) -> Iterable[tuple[int, str]]:
        """(next due, customer id) of every customer with a timer, earliest first; with `partitions`,
        only of the customers stored with one of those partitions (a customer put without a
        partition is listed only when `partitions` is None)."""
        self._flush_or_roll_back()
        where = "next_due IS NOT NULL"
        params: tuple = ()
        if partitions is not None:
            if not partitions:
                return
            where += " AND partition = ANY(%s)"
            params = (sorted(int(p) for p in partitions),)
        yield from self._timer_pages(where, params, _PAGE)

    # ---- outbox and input offsets (journeyctl run) ------------------------------------------
    # Writes are staged: durable with the next commit(), in the same transaction as the customers.

    def add_outbox(self, rows: list[OutboxRow]) -> None:
        """Stage (id, topic, key, value) rows; ids are the caller's, increasing, numbered from
        outbox_next_id() (so inside a block of ids this store took: see the module docstring)."""
        if not rows:
            return
        if self._blocks:
            stray = [r.id for r in rows if (r.id >> OUTBOX_BLOCK_BITS) not in self._blocks]
            if stray:
                raise ValueError(f"outbox id {stray[0]} is outside the id blocks this worker took "
                                 "(number rows from outbox_next_id())")
        self.stage("INSERT INTO outbox (id, topic, key, value) VALUES (%s, %s, %s, %s)", rows)

    def drop_outbox(self, ids: list[int]) -> None:
        """Stage the removal of delivered rows (a row already gone is no error)."""
        if ids:
            self.stage("DELETE FROM outbox WHERE id = ANY(%s)", [(list(ids),)])

    def save_offsets(self, offsets: dict[tuple[str, int], int]) -> None:
        """Stage the next offset to read of each (topic, partition)."""
        if offsets:
            self.stage('INSERT INTO offsets (topic, partition, "offset") VALUES (%s, %s, %s) '
                       'ON CONFLICT (topic, partition) DO UPDATE SET "offset" = excluded."offset"',
                       [(t, p, o) for (t, p), o in sorted(offsets.items())])

    def save_positions(self, positions: dict[Part, Position]) -> None:
        """Stage (next offset, stream time, fingerprint of the last record read) of each (topic, partition)."""
        if positions:
            self.stage('INSERT INTO offsets (topic, partition, "offset", clock, fingerprint) '
                       "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (topic, partition) DO UPDATE SET "
                       '"offset" = excluded."offset", clock = excluded.clock, fingerprint = excluded.fingerprint',
                       [(t, p, *row) for (t, p), row in sorted(positions.items())])

    def outbox_next_id(self) -> int:
        """The first id of a block of 2**40 that no other caller, in any process, ever gets; larger
        than every id handed out before."""
        block = self._conn.execute("SELECT nextval('outbox_block')").fetchone()[0]
        self._blocks.add(block)
        return block << OUTBOX_BLOCK_BITS

    def own_outbox_id(self, row_id: int) -> bool:
        """Whether the row id lies in a block this store handed out (rows of this worker)."""
        return (row_id >> OUTBOX_BLOCK_BITS) in self._blocks

    # ---- journeyctl deliver: delivered action ids, its input offsets, its receipts outbox ----------
    # The same contract as SqliteStore's; several deliver workers share the tables.

    def deliver_tables(self) -> None:
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            for statement in DELIVER_TABLES:
                self._conn.execute(statement)

    def _create_tables(self, statements: list[str]) -> None:
        """IF NOT EXISTS is not enough here: two workers creating the same table at once race, and the
        loser fails on the catalog's unique index. So, as for the schema itself, under its advisory lock."""
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            for statement in statements:
                self._conn.execute(statement)

    def add_deliveries(self, rows: list[tuple[str, str, int]]) -> None:
        if rows:
            self.stage("INSERT INTO deliveries (action_id, outcome, at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                       rows)

    def delivered(self, action_ids) -> dict[str, str]:
        ids = list(action_ids)
        if not ids:
            return {}
        return dict(self._conn.execute("SELECT action_id, outcome FROM deliveries WHERE action_id = ANY(%s)",
                                       (ids,)).fetchall())

    def save_deliver_offsets(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        if offsets:
            self.stage('INSERT INTO deliver_offsets (grp, topic, partition, "offset") VALUES (%s, %s, %s, %s) '
                       'ON CONFLICT (grp, topic, partition) DO UPDATE SET '
                       '"offset" = GREATEST(deliver_offsets."offset", excluded."offset")',
                       [(group, t, p, o) for (t, p), o in sorted(offsets.items())])

    def add_receipts(self, rows: list[OutboxRow]) -> None:
        if rows:
            self.stage("INSERT INTO deliver_outbox (id, topic, key, value) VALUES (%s, %s, %s, %s) "
                       "ON CONFLICT DO NOTHING", rows)

    def drop_receipts(self, ids: list[str]) -> None:
        if ids:
            self.stage("DELETE FROM deliver_outbox WHERE id = ANY(%s)", [(list(ids),)])

    # ---- transactions ----------------------------------------------------------------------

    def _flush(self) -> None:
        """Write pending work into the open transaction, without committing it."""
        if not (self._dirty or self._meta_dirty or self._versions or self._staged):
            return
        self._begin()
        conn = self._conn
        if self._dirty:
            upserts, deletes = self._dirty_rows()
            with conn.cursor() as cur:
                if len(upserts) >= _COPY_FROM:
                    self._copy_upsert(cur, upserts)
                elif upserts:
                    cur.executemany(_UPSERT, upserts)
                if deletes:
                    cur.execute("DELETE FROM customers WHERE customer_id = ANY(%s)", (deletes,))
            self._dirty_written()
        with conn.cursor() as cur:
            if self._meta_dirty:
                cur.executemany("INSERT INTO meta (key, value) VALUES (%s, %s) "
                                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                                [(k, json.dumps(self._meta[k])) for k in sorted(self._meta_dirty)])
                self._meta_dirty.clear()
            if self._versions:
                cur.executemany("INSERT INTO versions (version, ir) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                                sorted(self._versions.items()))
                self._versions.clear()
            staged, self._staged = self._staged, []
            for statement, rows in staged:
                cur.executemany(statement, rows)

    @staticmethod
    def _copy_upsert(cur, upserts: list) -> None:
        """Many customers: binary COPY into the session's temporary table, then one upsert from it."""
        cur.execute("TRUNCATE pg_temp.customers_load")  # an earlier flush of this transaction left rows
        with cur.copy("COPY pg_temp.customers_load (customer_id, state, next_due, partition) "
                      "FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["text", "bytea", "int8", "int4"])
            for row in upserts:
                copy.write_row(row)
        cur.execute(_UPSERT_LOADED)

    def _flush_or_roll_back(self) -> None:
        try:
            self._flush()
        except BaseException:
            self._rollback()
            raise

    def commit(self) -> None:
        self._batch_over()
        self._flush_or_roll_back()
        if self._in_txn:
            if self._conn.info.transaction_status == TransactionStatus.INERROR:
                # A statement failed since the flush (a read, say): COMMIT would roll back without a word.
                self._rollback()
                raise psycopg.errors.InFailedSqlTransaction(
                    "a statement failed inside the open transaction; nothing since the last commit was kept")
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            finally:
                self._in_txn = False

    def _rollback(self) -> None:
        """Forget everything since the last commit, in memory too: cached objects may hold those changes."""
        self._forget_uncommitted()
        try:
            if self._in_txn:
                self._in_txn = False
                self._conn.execute("ROLLBACK")
            self._meta = self._read_meta()
        except (psycopg.OperationalError, psycopg.InterfaceError):  # the connection is gone: so is the transaction
            pass

    rollback = _rollback

    def close(self) -> None:
        """Discards what was not committed."""
        if self._conn is None:
            return
        try:
            if self._in_txn:
                self._in_txn = False
                self._conn.execute("ROLLBACK")
        except psycopg.OperationalError:
            pass
        finally:
            self._close_connection()

    # ---- for tests and benchmarks -------------------------------------------------------------

