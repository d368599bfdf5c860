"""A durable state store: one SQLite file, written in batches.

The engine hands back every customer after every event, so writing each one
through to disk would cost a transaction per event. Instead, customers touched
since the last `commit()` stay in memory (the dirty set) and `commit()` writes
them all in one transaction; the caller decides how often, trading work lost on
a crash for throughput. Nothing is durable before `commit()`, and `close()`
without one discards it: an exception in the middle of an event may leave a
customer half-updated, and that must never reach the file.

Memory stays bounded on a large replay: clean customers live in an LRU of
`cache_size`, and once more than `cache_size` customers are dirty they are
written into the still-open transaction (not committed), so the next `commit()`
is still all-or-nothing.

WAL with synchronous=NORMAL: readers never block the writer, and a commit costs
no fsync (a power cut may lose the last commits, never corrupt the file).
"""
from __future__ import annotations

import json
import os
import sqlite3
from typing import Callable, Iterable, Iterator
from urllib.parse import quote

from journeyctl.engine.store.cached import CachedStore
from journeyctl.engine.core.state import Customer
from journeyctl.engine.core.store import OutboxRow, Part, Position

SCHEMA_VERSION = 6

# Migration n takes a file at schema n-1 to schema n. A later table (the outbox, say) is one more
# entry here plus rows handed to `stage()`, and then it is written in the same commit as the state.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        # WITHOUT ROWID: the customer id is the key of the table itself, stored once rather than
        # in the table and again in a separate primary-key index.
        "CREATE TABLE customers (customer_id TEXT PRIMARY KEY, state BLOB NOT NULL, next_due INTEGER)"
        " WITHOUT ROWID",
        # Partial: most customers have no timer, and timers() only ever asks for those that do.
        "CREATE INDEX customers_next_due ON customers (next_due) WHERE next_due IS NOT NULL",
        "CREATE TABLE versions (version TEXT PRIMARY KEY, ir TEXT NOT NULL)",
    ],
    2: [
        # `journeyctl run`: messages committed with the state that made them, deleted once Kafka has
        # them (a transactional outbox), and the next offset to read of each input partition.
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, key BLOB, value BLOB NOT NULL)",
        'CREATE TABLE offsets (topic TEXT NOT NULL, partition INTEGER NOT NULL, "offset" INTEGER NOT NULL, '
        "PRIMARY KEY (topic, partition))",
    ],
    3: [
        # Several workers sharing one store (PostgreSQL) each load the timers of the input partitions
        # they own; NULL when the writer did not say. SQLite has the column too, so both stores agree.
        "ALTER TABLE customers ADD COLUMN partition INTEGER",
        "CREATE INDEX customers_partition_next_due ON customers (partition, next_due) WHERE next_due IS NOT NULL",
    ],
    4: [
        # No SQL: customer state keeps aggregate windows flat ([t0, v0, t1, v1, ...]) from schema 4 on.
        # State written as pairs ([[t, v], ...]) is read flat (Customer.decode); the number moves so
        # that an older journeyctl refuses state it would misread.
    ],
    5: [
        # No SQL: customer state keeps the message ids of the de-duplication window with their event
        # time ({id: t}) from schema 5 on; a list of ids (schema 4 and before) is read as seen at the
        # customer's next event (Engine._seen_before).
    ],
    6: [
        # `journeyctl run` judges lateness against each input partition's own stream time and fires
        # timers at the earliest of them: that time moves with the partition (to a restart, to another
        # worker), so it is stored with the partition's offset, as is a fingerprint of the last record
        # read there, which tells a recreated topic from the one read before (see Live._verify).
        "ALTER TABLE offsets ADD COLUMN clock INTEGER",
        "ALTER TABLE offsets ADD COLUMN fingerprint TEXT",
    ],
}

# journeyctl deliver's tables (deliver_tables()): what was delivered, how far each deliver group read
# journey.actions, and receipts and dead letters waiting to be produced.
DELIVER_TABLES = [
    "CREATE TABLE IF NOT EXISTS deliveries (action_id TEXT PRIMARY KEY, outcome TEXT NOT NULL, at INTEGER NOT NULL)"
    " WITHOUT ROWID",
    'CREATE TABLE IF NOT EXISTS deliver_offsets (grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, '
    '"offset" INTEGER NOT NULL, PRIMARY KEY (grp, topic, partition))',
    "CREATE TABLE IF NOT EXISTS deliver_outbox (id TEXT PRIMARY KEY, topic TEXT NOT NULL, key BLOB, value BLOB NOT NULL)",
]

_PAGE = 10_000  # rows per read when scanning, so a scan never holds a cursor across the caller's writes

# A put without a partition keeps the one stored, so one writer that knows it is enough.
_UPSERT = ("INSERT INTO customers (customer_id, state, next_due, partition) VALUES (?, ?, ?, ?) "
           "ON CONFLICT (customer_id) DO UPDATE SET state = excluded.state, next_due = excluded.next_due, "
           "partition = coalesce(excluded.partition, customers.partition)")


class SchemaError(RuntimeError):
    """The file is not one this version of journeyctl can read."""


def stored_schema(where: str, row) -> int:
    """The schema version a store's meta row gives (0 before there was one), refused when a newer
    journeyctl wrote it: reading on would misread what it added. SQLite and PostgreSQL number their
    migrations alike, so one SCHEMA_VERSION speaks for both."""
    current = json.loads(row[0]) if row else 0
    if current > SCHEMA_VERSION:
        raise SchemaError(f"{where} has state schema {current}, written by a newer journeyctl; "
                          f"this one reads up to schema {SCHEMA_VERSION}")
    return current


class SqliteStore(CachedStore):
    """The StateStore protocol over one SQLite file. Call `put` after every change to a customer:
    a customer that was already written out is only written again once it is put."""

    P = "?"

    def _spill(self) -> None:
        self._flush()

    def __init__(self, path: str | os.PathLike, *, cache_size: int = 100_000,
                 partition_of: Callable[[str], int | None] | None = None, read_only: bool = False):
        """`partition_of(customer_id)`, when given, is the partition of a customer put without one.
        `read_only`: open an existing file to look only (status, inspect): nothing is created or changed."""
        self.path = os.fspath(path)
        self.cache_size = max(1, cache_size)
        self.partition_of = partition_of
        if read_only:
            self._conn = sqlite3.connect(f"file:{quote(os.path.abspath(self.path))}?mode=ro", uri=True,
                                         isolation_level=None)
            self._init_cache()
            try:
                self._schema_version()
                self._meta = self._read_meta()
            except BaseException:
                self._conn.close()
                raise
            return
        if self.path != ":memory:":
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
        # isolation_level=None: this class says where transactions begin and end, not the sqlite3 module.
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._init_cache()
        self._migrate()
        self._meta = {k: json.loads(v) for k, v in self._conn.execute("SELECT key, value FROM meta")}

    # ---- schema ----------------------------------------------------------------------

    def _migrate(self) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")  # two processes opening a new file must not both create it
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            current = self._schema_version()
            for n in range(current + 1, SCHEMA_VERSION + 1):
                for sql in MIGRATIONS[n]:
                    conn.execute(sql)
            if current != SCHEMA_VERSION:
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                             (json.dumps(SCHEMA_VERSION),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            conn.close()
            raise

    def _schema_version(self) -> int:
        try:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.OperationalError:  # no meta table: only when opened read-only
            raise SchemaError(f"{self.path} is not a journeyctl state store (it has no meta table)") from None
        return stored_schema(self.path, row)

    # ---- customers -------------------------------------------------------------------

    def customers(self) -> Iterator[tuple[str, Customer]]:
        """Every stored customer, uncommitted changes included, in customer id order."""
        self._flush()
        yield from self._customer_pages(_PAGE)

    def timers(self, partitions: set[int] | None = None) -> Iterable[tuple[int, str]]:
        """(next due, customer id) of every customer with a timer, earliest first; with `partitions`,
        only of the customers stored with one of those partitions."""
        self._flush()
        where = "next_due IS NOT NULL"
        params: tuple = ()
        if partitions is not None:
            if not partitions:
                return
            parts = sorted(int(p) for p in partitions)
            where += f" AND partition IN ({', '.join('?' * len(parts))})"
            params = tuple(parts)
        yield from self._timer_pages(where, params, _PAGE)

    # ---- outbox and input offsets (journeyctl run) ------------------------------------------
    # Writes are staged: they become durable with the next commit(), in the same transaction as the
    # customers, so a crash keeps either the state and its messages and offsets, or none of them.

    def add_outbox(self, rows: list[OutboxRow]) -> None:
        """Stage (id, topic, key, value) rows; ids are the caller's, increasing (see outbox_next_id)."""
        if rows:
            self.stage("INSERT INTO outbox (id, topic, key, value) VALUES (?, ?, ?, ?)", rows)

    def drop_outbox(self, ids: list[int]) -> None:
        """Stage the removal of delivered rows."""
        if ids:
            self.stage("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    def save_offsets(self, offsets: dict[tuple[str, int], int]) -> None:
        """Stage the next offset to read of each (topic, partition)."""
        if offsets:
            self.stage('INSERT OR REPLACE INTO offsets (topic, partition, "offset") VALUES (?, ?, ?)',
                       [(t, p, o) for (t, p), o in offsets.items()])

    def save_positions(self, positions: dict[Part, Position]) -> None:
        """Stage (next offset, stream time, fingerprint of the last record read) of each (topic, partition)."""
        if positions:
            self.stage('INSERT OR REPLACE INTO offsets (topic, partition, "offset", clock, fingerprint) '
                       "VALUES (?, ?, ?, ?, ?)", [(t, p, *row) for (t, p), row in positions.items()])

    def outbox_next_id(self) -> int:
        return self._conn.execute("SELECT coalesce(max(id), 0) + 1 FROM outbox").fetchone()[0]

    def own_outbox_id(self, row_id: int) -> bool:
        """One file has one writer: every row is its own."""
        return True

    # ---- journeyctl deliver: delivered action ids, its input offsets, its receipts outbox ----------
    # Tables of their own, created when `deliver` first opens the store (IF NOT EXISTS: run's schema
    # and its version are untouched). Writes are staged like the outbox's: durable with commit().

    def deliver_tables(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for sql in DELIVER_TABLES:
                self._conn.execute(sql)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def _create_tables(self, statements: list[str]) -> None:
        for statement in statements:
            self._conn.execute(statement)

    def add_deliveries(self, rows: list[tuple[str, str, int]]) -> None:
        """Stage (action_id, outcome, at ms) rows; an id already recorded keeps its first outcome."""
        if rows:
            self.stage("INSERT OR IGNORE INTO deliveries (action_id, outcome, at) VALUES (?, ?, ?)", rows)

    def delivered(self, action_ids) -> dict[str, str]:
        """{action_id: outcome} of the given ids that a committed transaction recorded."""
        ids, out = list(action_ids), {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            out.update(self._conn.execute(f"SELECT action_id, outcome FROM deliveries WHERE action_id IN "
                                          f"({', '.join('?' * len(chunk))})", chunk).fetchall())
        return out

    def save_deliver_offsets(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        """Stage the next offset to read of each (topic, partition) for a deliver group; never moves one back."""
        if offsets:
            self.stage('INSERT INTO deliver_offsets (grp, topic, partition, "offset") VALUES (?, ?, ?, ?) '
                       'ON CONFLICT (grp, topic, partition) DO UPDATE SET "offset" = max("offset", excluded."offset")',
                       [(group, t, p, o) for (t, p), o in offsets.items()])

    def add_receipts(self, rows: list[OutboxRow]) -> None:
        """Stage (id, topic, key, value) rows to produce; ids are the caller's and unique (a row staged twice is one)."""
        if rows:
            self.stage("INSERT OR IGNORE INTO deliver_outbox (id, topic, key, value) VALUES (?, ?, ?, ?)", rows)

    def drop_receipts(self, ids: list[str]) -> None:
        if ids:
            self.stage("DELETE FROM deliver_outbox WHERE id = ?", [(i,) for i in ids])

    # ---- transactions ----------------------------------------------------------------------

    def _flush(self) -> None:
        """Write pending work into the open transaction, without committing it."""
        if not (self._dirty or self._meta_dirty or self._versions or self._staged):
            return
        self._begin()
        conn = self._conn
        if self._dirty:
            upserts, deletes = self._dirty_rows()
            conn.executemany(_UPSERT, upserts)
            if deletes:
                conn.executemany("DELETE FROM customers WHERE customer_id = ?", [(cid,) for cid in deletes])
            self._dirty_written()
        if self._meta_dirty:
            conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             [(k, json.dumps(self._meta[k])) for k in sorted(self._meta_dirty)])
            self._meta_dirty.clear()
        if self._versions:
            conn.executemany("INSERT OR IGNORE INTO versions (version, ir) VALUES (?, ?)",
                             list(self._versions.items()))
            self._versions.clear()
        staged, self._staged = self._staged, []
        for sql, rows in staged:
            conn.executemany(sql, rows)

    def commit(self) -> None:
        self._batch_over()
        try:
            self._flush()
        except BaseException:
            self._rollback()
            raise
        if self._in_txn:
            self._conn.execute("COMMIT")
            self._in_txn = False

    def _rollback(self) -> None:
        """Forget everything since the last commit, in memory too: cached objects may hold those changes."""
        if self._in_txn:
            self._in_txn = False
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.OperationalError:  # SQLite already rolled back (a full disk, say): nothing to undo
                pass
        self._forget_uncommitted()
        self._meta = self._read_meta()

    rollback = _rollback

    def reconnect(self) -> None:
        """After a failure: forget what was not committed. (One file: the connection itself stays good.)"""
        self._rollback()

    def close(self) -> None:
        """Discards what was not committed (see the module docstring)."""
        if self._conn is None:
            return
        if self._in_txn:
            self._conn.execute("ROLLBACK")
            self._in_txn = False
        self._close_connection()

    # ---- for tests and benchmarks -------------------------------------------------------------

    def pragma(self, name: str):
        if not name.isidentifier():
            raise ValueError(f"not a pragma name: {name!r}")
        return self._conn.execute(f"PRAGMA {name}").fetchone()[0]
