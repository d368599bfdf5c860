"""What the SQL stores share: customers cached in memory between commits, meta and journey versions.

Customers changed since the last commit are `_dirty` (written by the next commit), unchanged ones
sit in a bounded LRU `_clean`. Subclasses give the connection, the placeholder of their driver
(`?` or `%s`) and `_spill()`, which writes dirty customers early when too many pile up.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from typing import Iterable

from journeyctl.engine.core.state import Customer
from journeyctl.engine.core.store import OutboxRow, Part, Position


class CachedStore:
    """The DurableStore protocol (engine/core/store.py) but for what each driver does its own way."""
    P = "?"  # the driver's parameter placeholder
    shared = False

    def _spill(self) -> None:
        raise NotImplementedError

    def _create_tables(self, statements: list[str]) -> None:
        raise NotImplementedError

    def durable(self) -> CachedStore:
        return self

    def _init_cache(self) -> None:
        self._in_txn = False
        self._dirty: dict[str, Customer] = {}
        self._partitions: dict[str, int] = {}  # the partition of a dirty customer, when known
        self._clean: OrderedDict[str, Customer] = OrderedDict()
        self._absent: set[str] = set()  # known not to be stored: from the last prefetch() to the next commit
        self._meta: dict = {}
        self._meta_dirty: set[str] = set()
        self._versions: dict[str, str] = {}
        self._staged: list[tuple[str, list]] = []
        self._tables_made: set[tuple[str, ...]] = set()  # ensure_tables() statements run and committed

    # ---- customers ------------------------------------------------------------------------

    def get(self, customer_id: str) -> Customer | None:
        c = self._dirty.get(customer_id)
        if c is not None:
            return c
        c = self._clean.get(customer_id)
        if c is not None:
            self._clean.move_to_end(customer_id)
            return c
        if customer_id in self._absent:
            return None
        row = self._conn.execute(f"SELECT state FROM customers WHERE customer_id = {self.P}",
                                 (customer_id,)).fetchone()
        if row is None:
            return None
        c = Customer.decode(row[0])
        self._remember(customer_id, c)
        return c

    def resident(self) -> None:
        """Customers are encoded for the database: the engine goes through get and put."""

    def prefetch(self, customer_ids) -> None:
        """Read the stored state of these customers (a batch's record keys) in a few queries, and
        remember which are not stored: asking one customer at a time, most of them new, was the most
        expensive part of `run` after Kafka itself. Only a hint: a wrong id costs nothing."""
        P = self.P
        want = [cid for cid in set(customer_ids) if cid not in self._dirty and cid not in self._clean]
        absent = set(want)
        for start in range(0, len(want), 500):
            chunk = want[start:start + 500]
            rows = self._conn.execute(f"SELECT customer_id, state FROM customers WHERE customer_id IN "
                                      f"({', '.join([P] * len(chunk))})", chunk).fetchall()
            for cid, blob in rows:
                absent.discard(cid)
                self._remember(cid, Customer.decode(blob))
        self._absent = absent

    def put(self, customer_id: str, state: Customer, partition: int | None = None) -> None:
        """`partition`: the input partition the customer belongs to (see timers); None keeps the stored one."""
        self._clean.pop(customer_id, None)
        self._dirty[customer_id] = state
        if partition is None and self.partition_of is not None:
            partition = self.partition_of(customer_id)
        if partition is not None:
            self._partitions[customer_id] = partition
        if len(self._dirty) > self.cache_size:
            self._spill()

    def forget(self, customer_ids: Iterable[str]) -> None:
        """Drop these customers from the cache (their partition was revoked: another worker may now
        change them), so the next get() reads the stored state. Commit first: a customer with
        uncommitted changes cannot be forgotten."""
        ids = list(customer_ids)
        pending = [cid for cid in ids if cid in self._dirty]
        if pending:
            raise RuntimeError(f"cannot forget {len(pending)} customer(s) with uncommitted changes "
                               f"(first: {pending[0]!r}); commit() first")
        for cid in ids:
            self._clean.pop(cid, None)
        self._absent.clear()

    def clear_cache(self) -> None:
        """Forget every committed customer and meta value held in memory, so the next reads see what
        other writers committed since. Uncommitted changes stay."""
        self._clean.clear()
        self._absent.clear()
        meta = self._read_meta()
        for key in self._meta_dirty:
            meta[key] = self._meta[key]
        self._meta = meta

    def meta_like(self, prefix: str) -> dict:
        """Committed meta values whose key starts with `prefix` (per-worker keys: clock:<worker>)."""
        return {k: v for k, v in self._read_meta().items() if k.startswith(prefix)}

    def _read_meta(self) -> dict:
        return {k: json.loads(v) for k, v in self._conn.execute("SELECT key, value FROM meta")}

    def _remember(self, customer_id: str, c: Customer) -> None:
        clean = self._clean
        clean[customer_id] = c
        while len(clean) > self.cache_size:
            clean.popitem(last=False)

    def _customer_pages(self, page: int):
        """Every stored customer in id order, read a page at a time; a cached object stands for its row."""
        P, after = self.P, None
        while True:
            if after is None:  # no lower bound on the first page: "" is a key like any other
                rows = self._conn.execute(f"SELECT customer_id, state FROM customers ORDER BY customer_id LIMIT {P}",
                                          (page,)).fetchall()
            else:
                rows = self._conn.execute(f"SELECT customer_id, state FROM customers WHERE customer_id > {P} "
                                          f"ORDER BY customer_id LIMIT {P}", (after, page)).fetchall()
            for cid, blob in rows:
                c = self._dirty.get(cid) or self._clean.get(cid)
                yield cid, (c if c is not None else Customer.decode(blob))
            if len(rows) < page:
                return
            after = rows[-1][0]

    def _timer_pages(self, where: str, params: tuple, page: int):
        """(next_due, customer_id) of the customers matching `where`, in due order, read a page at a time
        so no cursor stays open across the caller's own writes."""
        P, last = self.P, None
        while True:
            if last is None:
                rows = self._conn.execute(
                    f"SELECT next_due, customer_id FROM customers WHERE {where} "
                    f"ORDER BY next_due, customer_id LIMIT {P}", (*params, page)).fetchall()
            else:
                rows = self._conn.execute(
                    f"SELECT next_due, customer_id FROM customers WHERE {where} "
                    f"AND (next_due, customer_id) > ({P}, {P}) ORDER BY next_due, customer_id LIMIT {P}",
                    (*params, *last, page)).fetchall()
            yield from rows
            if len(rows) < page:
                return
            last = rows[-1]

    # ---- what `run` and `deliver` read back (their writes, in each driver's SQL, are in the subclasses) ---

    def outbox(self, after: int = 0, limit: int = 10_000) -> list[OutboxRow]:
        """Committed outbox rows with id > after, oldest first (of every worker sharing the store)."""
        P = self.P
        return list(map(OutboxRow._make, self._conn.execute(
            f"SELECT id, topic, key, value FROM outbox WHERE id > {P} ORDER BY id LIMIT {P}", (after, limit))))

    def offsets(self) -> dict[tuple[str, int], int]:
        return {(t, p): o for t, p, o in self._conn.execute('SELECT topic, partition, "offset" FROM offsets')}

    def deliver_offsets(self, group: str) -> dict[tuple[str, int], int]:
        return {(t, p): o for t, p, o in self._conn.execute(
            f'SELECT topic, partition, "offset" FROM deliver_offsets WHERE grp = {self.P}', (group,))}

    def receipts(self, after: str = "", limit: int = 10_000) -> list[OutboxRow]:
        """Committed deliver receipts not yet produced, by id."""
        P = self.P
        return list(map(OutboxRow._make, self._conn.execute(
            f"SELECT id, topic, key, value FROM deliver_outbox WHERE id > {P} ORDER BY id LIMIT {P}", (after, limit))))

    def positions(self) -> dict[Part, Position]:
        """Committed (next offset, stream time, fingerprint of the last record read) of every input
        partition (`journeyctl run`; save_positions in the subclasses)."""
        return {(t, p): Position(o, c, f) for t, p, o, c, f in
                self._conn.execute('SELECT topic, partition, "offset", clock, fingerprint FROM offsets')}

    # ---- writing ----------------------------------------------------------------------------

    def stage(self, statement: str, rows: list) -> None:
        """Queue a statement (in the driver's placeholder style; run with executemany) for the next
        commit, so rows of another table (the outbox, say) become durable with the state that made them."""
        self._staged.append((statement, rows))

    def ensure_tables(self, statements: list[str]) -> None:
        """Create tables beside the schema-versioned ones (CREATE ... IF NOT EXISTS: the UI's counts), once
        per store. Made inside the open transaction they may yet roll back, so then they are made again
        the next time."""
        key = tuple(statements)
        if key in self._tables_made:
            return
        self._create_tables(statements)
        if not self._in_txn:
            self._tables_made.add(key)

    def _batch_over(self) -> None:
        """A commit or a rollback ends what a prefetch knew: by the next batch, another worker may
        have written any customer (a partition that changed hands and came back)."""
        self._absent.clear()

    def _forget_uncommitted(self) -> None:
        """After a rollback: every cached object may hold changes that are gone now."""
        self._batch_over()
        self._dirty.clear()
        self._partitions.clear()
        self._clean.clear()
        self._versions.clear()
        self._staged.clear()
        self._meta_dirty.clear()

    def _close_connection(self) -> None:
        """The end of the store: its connection, and the customers cached from it."""
        self._conn.close()
        self._conn = None
        self._dirty.clear()
        self._partitions.clear()
        self._clean.clear()

    def _begin(self) -> None:
        if not self._in_txn:
            self._conn.execute("BEGIN")
            self._in_txn = True

    def _dirty_rows(self) -> tuple[list, list]:
        """(upserts as (id, state, next_due, partition), ids of customers left empty, to delete)."""
        upserts, deletes = [], []
        parts = self._partitions
        for cid, c in self._dirty.items():
            if c.is_empty():
                deletes.append(cid)
            else:
                upserts.append((cid, c.encode(), c.next_due(), parts.get(cid)))
        return upserts, deletes

    def _dirty_written(self) -> None:
        """The dirty customers are in the open transaction now: keep them as clean cache entries."""
        dirty, self._dirty = self._dirty, {}
        self._partitions = {}
        for cid, c in dirty.items():
            if not c.is_empty():
                self._remember(cid, c)

    # ---- meta and versions ------------------------------------------------------------------

    def get_meta(self, key: str):
        return self._meta.get(key)

    def set_meta(self, key: str, value) -> None:
        """Values go through JSON now rather than at commit, so a value that cannot be stored fails
        here, where the caller can see why, and reads before and after a commit agree."""
        self._meta[key] = json.loads(json.dumps(value))
        self._meta_dirty.add(key)

    def save_version(self, version: str, ir: dict) -> None:
        """The first IR saved under a version wins, as in MemoryStore: a version is a hash of its IR."""
        if version in self._versions:
            return
        if self._conn.execute(f"SELECT 1 FROM versions WHERE version = {self.P}", (version,)).fetchone() is None:
            self._versions[version] = json.dumps(ir, separators=(",", ":"), ensure_ascii=False)

    def load_version(self, version: str) -> dict | None:
        text = self._versions.get(version)
        if text is None:
            row = self._conn.execute(f"SELECT ir FROM versions WHERE version = {self.P}", (version,)).fetchone()
            text = row[0] if row else None
        return json.loads(text) if text is not None else None

    # ---- the rest ---------------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def cached(self) -> tuple[int, int]:
        """(dirty, clean) customers held in memory, for tests and benchmarks."""
        return len(self._dirty), len(self._clean)
