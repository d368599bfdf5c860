"""Reading a state store for the web UI and `status --format json`: read-only, a few indexed queries.

The UI runs beside the engine (or inside `run`, on another thread) and must never change the
store nor hold it up: SQLite is opened with `mode=ro` (WAL: readers never block the writer),
PostgreSQL with read-only transactions. Every query is bounded by what the engine keeps for it
(meta values, the counts table, one customer by id, the first timers of an index), never by the
number of customers, so a page costs the same with ten customers or a million.

One connection per thread: the web server answers on a pool of threads, and neither sqlite3 nor
a psycopg connection is meant to be shared between threads that query at once.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from urllib.parse import quote

from journeyctl.engine.core.state import Customer
from journeyctl.engine.store.counts import TOTAL


class ReaderError(RuntimeError):
    """The store cannot be read (no such file, no server, not a journeyctl store): plain words."""


class Reader:
    """The queries the UI needs. Subclasses give `_connect()` and the placeholder `P`."""

    P = "?"

    def __init__(self):
        self._local = threading.local()
        self._versions: dict[str, dict | None] = {}  # a version is a hash of its IR: cached for good
        self._lock = threading.Lock()

    def _connect(self):
        raise NotImplementedError

    def _rows(self, sql: str, params=()) -> list:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn.execute(sql, params).fetchall()

    TABLE_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"

    def _has(self, table: str) -> bool:
        """Whether the store has this table yet (`counts` appears with the engine's first counts)."""
        known = self.__dict__.setdefault("_tables", set())
        if table not in known and self._rows(self.TABLE_EXISTS, (table,)):
            known.add(table)
        return table in known

    BEGIN = "BEGIN"

    @contextmanager
    def snapshot(self):
        """Every query inside reads the store as of one moment (one read transaction), so the counts
        and the state they describe agree even while the engine commits."""
        self._rows("SELECT 1")  # connect
        conn = self._local.conn
        conn.execute(self.BEGIN)
        try:
            yield self
        finally:
            conn.execute("ROLLBACK")

    # ---- meta --------------------------------------------------------------------------------

    def meta(self) -> dict:
        """Every meta value whose key the UI reads: the clocks, the counts, the schema version."""
        P = self.P
        rows = self._rows(f"SELECT key, value FROM meta WHERE key IN ({P}, {P}) OR key LIKE {P} OR key LIKE {P}",
                          ("clock", "stats", "clock:%", "stats:%"))
        return {k: json.loads(v) for k, v in rows}

    def meta_value(self, key: str):
        rows = self._rows(f"SELECT value FROM meta WHERE key = {self.P}", (key,))
        return json.loads(rows[0][0]) if rows else None

    def has_state(self) -> bool:
        return bool(self._rows("SELECT 1 FROM meta WHERE key = 'clock'")) or \
            bool(self._rows("SELECT 1 FROM meta WHERE key LIKE 'clock:%'")) or \
            bool(self._rows("SELECT 1 FROM customers LIMIT 1"))

    # ---- journey versions ----------------------------------------------------------------------

    def version(self, version: str) -> dict | None:
        if version not in self._versions:
            rows = self._rows(f"SELECT ir FROM versions WHERE version = {self.P}", (version,))
            ir = json.loads(rows[0][0]) if rows else None
            with self._lock:
                self._versions[version] = ir
        return self._versions[version]

    def version_ids(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT version FROM versions ORDER BY version")]

    # ---- per-minute and per-hour counts ------------------------------------------------------------

    def sums(self, res: int, start: int, end: int) -> dict[str, int]:
        """series -> sum of its buckets of resolution `res` (minutes) in [start, end)."""
        if not self._has("counts"):
            return {}
        P = self.P
        return {s: int(n) for s, n in self._rows(
            f"SELECT series, sum(n) FROM counts WHERE res = {P} AND bucket >= {P} AND bucket < {P} GROUP BY series",
            (res, start, end))}

    def points(self, res: int, start: int, end: int, step: int, series: list[str]) -> dict[int, int]:
        """minute // step -> the sum of these series' buckets of resolution `res` in [start, end) (buckets),
        added up by the database: a chart's points, not its rows."""
        if not series or not self._has("counts"):
            return {}
        P = self.P
        return {int(p): int(n) for p, n in self._rows(
            f"SELECT (bucket * {int(res)}) / {int(step)}, sum(n) FROM counts WHERE res = {P} AND series IN "
            f"({', '.join([P] * len(series))}) AND bucket >= {P} AND bucket < {P} GROUP BY 1",
            (res, *series, start, end))}

    def totals(self) -> dict[str, int]:
        """series -> its total since the store began, for the series that keep one there (deliver's):
        a row per journey, channel and outcome."""
        if not self._has("counts"):
            return {}
        P = self.P
        return {s: int(n) for s, n in self._rows(f"SELECT series, n FROM counts WHERE res = {P} AND bucket = 0",
                                                 (TOTAL,))}

    # ---- what deliver recorded -----------------------------------------------------------------------

    def keeps_deliveries(self) -> bool:
        """Whether `journeyctl deliver` writes to this store (it has made its tables)."""
        return self._has("deliveries")

    def deliveries(self, action_ids: list[str]) -> dict[str, tuple[str, int]]:
        """action_id -> (outcome, when it was settled, epoch ms) of the given ids deliver recorded: by
        primary key, one look-up per id."""
        if not action_ids or not self._has("deliveries"):
            return {}
        P = self.P
        return {a: (o, int(t)) for a, o, t in self._rows(
            f"SELECT action_id, outcome, at FROM deliveries WHERE action_id IN ({', '.join([P] * len(action_ids))})",
            tuple(action_ids))}

    # ---- customers, timers, the outbox ----------------------------------------------------------

    def customer(self, customer_id: str) -> Customer | None:
        rows = self._rows(f"SELECT state FROM customers WHERE customer_id = {self.P}", (customer_id,))
        return Customer.decode(bytes(rows[0][0])) if rows else None

    def first_timers(self, limit: int) -> list[tuple[int, str]]:
        """(due, customer id) of the customers whose timers come first (the next_due index)."""
        return [(int(d), c) for d, c in self._rows(
            f"SELECT next_due, customer_id FROM customers WHERE next_due IS NOT NULL "
            f"ORDER BY next_due, customer_id LIMIT {self.P}", (limit,))]

    def recent_actions(self, customer_id: str, limit: int) -> list[tuple]:
        """(at, action_id, journey, step, channel, template, status), latest first."""
        if not self._has("recent_actions"):
            return []
        P = self.P
        return self._rows(f"SELECT at, action_id, journey, step, channel, template, status FROM recent_actions "
                          f"WHERE customer_id = {P} ORDER BY at DESC, action_id LIMIT {P}", (customer_id, limit))

    def positions(self) -> list[tuple[str, int, int, int | None]]:
        """(topic, partition, next offset, stream time) of every input partition `run` has read."""
        if not self._has("offsets"):
            return []
        return [(t, int(p), int(o), None if c is None else int(c)) for t, p, o, c in self._rows(
            'SELECT topic, partition, "offset", clock FROM offsets ORDER BY topic, partition')]

    def outbox_size(self) -> int:
        return int(self._rows("SELECT count(*) FROM outbox")[0][0]) if self._has("outbox") else 0

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class SqliteReader(Reader):
    P = "?"

    def __init__(self, path: str):
        super().__init__()
        if not os.path.isfile(path):
            raise ReaderError(f"no state store at {path}: the file does not exist (a mistyped path, or no engine "
                              "has run with it yet)")
        self.path = os.path.abspath(path)
        self._connect().close()

    def _connect(self):
        # mode=ro: never written, never created. isolation_level=None: no transaction but snapshot()'s.
        try:
            conn = sqlite3.connect(f"file:{quote(self.path)}?mode=ro", uri=True, check_same_thread=False,
                                   isolation_level=None)
        except sqlite3.Error as e:
            raise ReaderError(f"cannot read the state {self.path}: {e}") from None
        try:
            conn.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
        except sqlite3.Error as e:
            conn.close()
            raise ReaderError(f"cannot read the state {self.path}: {e} (is it a journeyctl state store?)") from None
        return conn


class PgReader(Reader):
    P = "%s"
    BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    TABLE_EXISTS = "SELECT 1 WHERE to_regclass(%s) IS NOT NULL"

    def __init__(self, url: str):
        super().__init__()
        from journeyctl.engine.store.postgres import redact, split_url

        self.conninfo, self.schema = split_url(url)
        self.url = redact(url)
        self._connect().close()

    def _connect(self):
        import psycopg
        from psycopg import sql

        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10,
                                   options="-c default_transaction_read_only=on")
        except psycopg.Error as e:
            raise ReaderError(f"cannot read the state {self.url}: {str(e).strip().splitlines()[0]}") from None
        if self.schema is not None:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
        return conn



def open_reader(url: str) -> Reader:
    """A read-only reader for a --state location (as `run` takes it). memory: holds nothing to read."""
    url = os.fspath(url)
    if url.startswith(("postgresql://", "postgres://")):
        return PgReader(url)
    if url.startswith("sqlite:///"):
        return SqliteReader(url[len("sqlite:///"):])
    if "://" not in url and url.lower().endswith((".db", ".sqlite", ".sqlite3")):
        return SqliteReader(url)
    if url.startswith("memory"):
        raise ReaderError("a memory: state lives inside one process and cannot be read from another; "
                          "run the engine with --state sqlite:///file.db or postgresql://...")
    raise ReaderError(f"cannot read {url!r} as a state location: give sqlite:///file.db or postgresql://...")
