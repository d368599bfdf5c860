"""What the engine writes for the web UI beside its state: counts per minute and hour, recent actions.

Both are written with every commit of the engine's state, in the same transaction (rows staged
with `stage()`), so a page never shows something the state does not hold yet:

- `counts`: per series ("entered:cart_recovery", "action:cart_recovery:email:send", ...) and minute
  or hour of engine time, the number of times it happened. Rows are added to what is there, so
  several workers sharing a PostgreSQL store add to the same rows. Minutes are kept two days, hours
  90 (by the engine's clock); the UI reads a period as the minutes at its ragged ends and the whole
  hours between (engine/ui/figures.py).
  `journeyctl deliver` adds its own series here too, in its own commit (the transaction that
  records the delivered ids and moves its offsets: `record_deliveries`): "delivery:<journey>:
  <channel>:<outcome>" per minute and hour of the action's due time (engine time, as the engine's
  sends), and its totals since the store began as rows of resolution TOTAL (bucket 0), which several
  deliver workers add to as they add to the minutes.
- `recent_actions`: each action with its status, by customer, for the customer page; kept 7 days.
- a meta value `trace:<customer>`: the last decisions taken for the customer a replay traced
  (`simulate --trace C --state URL`), also for the customer page.

Tables beside the schema-versioned ones, created when first written (`CREATE TABLE IF NOT EXISTS`,
as `journeyctl deliver`'s are): a store written before them has no series yet, and an older
journeyctl ignores them.
"""
from __future__ import annotations

import weakref

from journeyctl.engine.core.actions import DUE_AT
from journeyctl.engine.core.stats import RECENT_MS
from journeyctl.engine.core.store import DurableStore, StateStore

KEEP = {1: 48 * 60, 60: 90 * 24}  # buckets kept behind the clock, per resolution (in minutes)
TOTAL = 0  # the resolution of a total since the store began (bucket 0): deliver's (the engine's are in meta)
DELIVERY = "delivery:"  # deliver's series: delivery:<journey>:<channel>:<outcome>
DELIVERY_OUTCOMES = ("delivered", "failed", "retried", "rate_limited")  # failed: dead-lettered
KEEP_ACTIONS_MS = RECENT_MS  # what the engine holds for it between drains, too
KEEP_TRACE = 1_000  # last decisions kept of a traced customer
TRACE = "trace:"    # meta key prefix of a traced customer's decisions

# by the store's placeholder, which tells its SQL dialect: created by DurableStore.ensure_tables
_DDL = {
    "?": ["CREATE TABLE IF NOT EXISTS counts (res INTEGER NOT NULL, bucket INTEGER NOT NULL, series TEXT NOT NULL, "
          "n INTEGER NOT NULL, PRIMARY KEY (res, bucket, series)) WITHOUT ROWID",
          "CREATE INDEX IF NOT EXISTS counts_series ON counts (res, series, bucket)",  # a chart's few series
          "CREATE TABLE IF NOT EXISTS recent_actions (customer_id TEXT NOT NULL, at INTEGER NOT NULL, "
          "action_id TEXT NOT NULL, journey TEXT NOT NULL, step TEXT NOT NULL, channel TEXT NOT NULL, "
          "template TEXT NOT NULL, status TEXT NOT NULL, PRIMARY KEY (customer_id, at, action_id)) WITHOUT ROWID",
          "CREATE INDEX IF NOT EXISTS recent_actions_at ON recent_actions (at)"],
    "%s": ['CREATE TABLE IF NOT EXISTS counts (res INTEGER NOT NULL, bucket BIGINT NOT NULL, series TEXT COLLATE "C" '
           "NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (res, bucket, series))",
           "CREATE INDEX IF NOT EXISTS counts_series ON counts (res, series, bucket)",
           'CREATE TABLE IF NOT EXISTS recent_actions (customer_id TEXT COLLATE "C" NOT NULL, at BIGINT NOT NULL, '
           "action_id TEXT NOT NULL, journey TEXT NOT NULL, step TEXT NOT NULL, channel TEXT NOT NULL, "
           "template TEXT NOT NULL, status TEXT NOT NULL, PRIMARY KEY (customer_id, at, action_id))",
           "CREATE INDEX IF NOT EXISTS recent_actions_at ON recent_actions (at)"],
}


def record(store: StateStore, engine) -> None:
    """Stage what the engine counted since the last call, for the store's next commit, and note which
    version of each journey is loaded (written with the stats, which the caller writes next). A store
    that keeps nothing (memory:) drops it all, so nothing piles up."""
    stats = engine.stats
    stats.current = {jid: j.version for jid, j in engine.current.items()}
    tables = store.durable()
    if engine.trace_customer is not None and engine.trace and tables is not None:
        # `simulate --trace C --state URL`: the decisions taken for C, for the customer page
        store.set_meta(TRACE + engine.trace_customer, [list(line) for line in engine.trace[-KEEP_TRACE:]])
    clock = engine.clock
    minutes, hours = stats.drain_series(clock)
    actions = stats.drain_recent()
    if tables is None or not (minutes or hours or actions):
        return
    tables.ensure_tables(_DDL[tables.P])
    _stage_counts(tables, [(1, m, name, n) for name, m, n in minutes] + [(60, h, name, n) for name, h, n in hours])
    if actions:
        P = tables.P
        tables.stage(f"INSERT INTO recent_actions (customer_id, at, action_id, journey, step, channel, template, "
                     f"status) VALUES ({P}, {P}, {P}, {P}, {P}, {P}, {P}, {P}) ON CONFLICT DO NOTHING",
                     [_action_row(a) for a in actions])
    if clock is not None and _prune(tables, clock):
        tables.stage(f"DELETE FROM recent_actions WHERE at < {tables.P}", [(clock - KEEP_ACTIONS_MS,)])


def record_deliveries(store: DurableStore, rows: list, clock: int | None) -> None:
    """Stage deliver's counts, (res, bucket, series, n) rows (engine/deliver/tally.py), for the store's
    next commit: the one that records the delivered ids they count and moves deliver's offsets, so the
    counts say exactly what the `deliveries` table holds. `clock`: the latest due time deliver has
    seen, by which old minutes and hours are let go, as the engine lets them go by its own."""
    if not rows:
        return
    store.ensure_tables(_DDL[store.P])
    _stage_counts(store, rows)
    if clock is not None:
        _prune(store, clock)


def _stage_counts(store: DurableStore, rows: list) -> None:
    """Add `rows`, sorted, to the counts table at the next commit. Sorted: two writers adding to the
    same rows then lock them in the same order."""
    if not rows:
        return
    P = store.P
    store.stage(f"INSERT INTO counts (res, bucket, series, n) VALUES ({P}, {P}, {P}, {P}) "
                "ON CONFLICT (res, bucket, series) DO UPDATE SET n = counts.n + excluded.n", sorted(rows))


# the hour of the clock at which each open store last let old counts go
_pruned: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _prune(store: DurableStore, clock: int) -> bool:
    """Let go of the minutes and hours older than KEEP behind `clock`, once an hour of it; True when it did.
    One statement for every writer (the engine's workers, deliver's), so they take its locks in one order."""
    hour = clock // 3_600_000
    if _pruned.get(store) == hour:
        return False
    _pruned[store] = hour
    now_minute = clock // 60_000
    store.stage(f"DELETE FROM counts WHERE res = {store.P} AND bucket < {store.P}",
                [(res, now_minute // res - keep) for res, keep in KEEP.items()])
    return True


def _action_row(a) -> tuple:
    d = a.as_dict()
    return (d["customer_id"], a[DUE_AT], d["action_id"], d["journey"], d["step"], d["channel"], d["template"], d["status"])
