"""The transactional outbox: messages to Kafka and input offsets, committed with the state that made them.

`journeyctl run` never produces an action straight from the engine. Each batch of
events ends in ONE state-store transaction holding the customers it changed, the
position of every partition it read (the next offset to read, the partition's stream
time and a fingerprint of the last record read there), the engine clock, and one outbox
row per message (an action for the actions topic, a dead letter for the
dead-letter topic). Only then are the rows produced; acknowledged rows are deleted
in a later transaction. So after a crash at any moment the store holds either a
batch with all its messages or none of it; rows not yet acknowledged are produced
again at start, before any input is read, and a message produced twice carries the
same `action_id` (the engine's ids are fixed by journey version, customer, instance
and step), so a sink can drop the copy.

Several workers on one PostgreSQL store (engine/store/postgres.py hands each Outbox its own block of
row ids): a worker produces at start every row left in the table, whoever wrote it, and on
each partition assignment the rows other workers wrote for customers of the partitions it
now owns (`orphans`): a worker killed with rows committed but not acknowledged leaves them to
whoever takes its partitions. A row produced by two workers is a duplicate with the same
`action_id`; deleting a row is idempotent, so whichever worker's acknowledgement comes first
deletes it and the other's delete is a no-op.

Meta: with `worker` set (shared stores), the clock and the engine's counts go under
`clock:<worker>` and `stats:<worker>`, so workers do not overwrite each other's; a single
worker (SQLite) keeps the plain `clock` and `stats` keys that `journeyctl status` reads.

A partition's stream time is stored with its offset because the engine judges lateness
against it and fires timers at the earliest of them (engine/core/engine.py): it moves
with the partition, to the next start or to another worker. The fingerprint lets the
next reader check that the record before the stored offset is still the one read
there (Live._verify): a topic recreated, or a broker that came back empty, holds other
records at the same offsets.

The store methods used (add_outbox, drop_outbox, save_positions, outbox, outbox_next_id,
own_outbox_id, positions) are a DurableStore's (engine/core/store.py), which store.durable()
returns; with `--state memory:` (durable() is None) the same calls work on plain dicts,
without any guarantee.
"""
from __future__ import annotations

import base64
import hashlib
import json

import orjson

from journeyctl.engine.core.actions import ACTION_KEYS
from journeyctl.engine.core.store import OutboxRow, Part, Position, StateStore
from journeyctl.engine.live.edge import MAX_MESSAGE_BYTES
from journeyctl.engine.store.counts import record
from journeyctl.engine.store.open import checkpoint

DEAD_LETTER_EXCERPT = 65_536   # bytes of an oversized original kept in its dead letter


def dumps(value) -> bytes:
    """JSON bytes; orjson, or the stdlib for an integer past 64 bits (a `set` that keeps multiplying),
    which orjson refuses and which must not make a message impossible to write (Customer.encode does
    the same for state)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def action_message(action: dict) -> tuple[bytes, bytes]:
    """(key, value) of one action on the actions topic: keyed by customer, JSON per spec section 9."""
    return action["customer_id"].encode(), dumps({k: action[k] for k in ACTION_KEYS})


def profile_message(record: dict) -> tuple[bytes, bytes]:
    """(key, value) of one profile sync record (spec section 10), keyed by customer id."""
    return record["customer_id"].encode(), dumps(record)


def timer_dead_letter(customer_id: str, journey: str | None, instance_id: str, due_at: str,
                      detail: str) -> tuple[bytes, bytes]:
    """(key, value) of the dead letter of a timer that raised when it fired, and was parked (engine_error):
    no record is to blame, so it names the customer, journey, instance and due time instead."""
    return customer_id.encode(), orjson.dumps({"reason": "engine_error", "detail": detail, "timer": {
        "customer_id": customer_id, "journey": journey, "instance_id": instance_id, "due_at": due_at}})


def dead_letter_message(reason: str, detail: str, topic: str, partition: int, offset: int,
                        key: bytes | None, value: bytes | None) -> tuple[bytes | None, bytes]:
    """(key, value) of a dead letter: the original bytes (as text when they are UTF-8, else base64)
    with the reason and where they were read. An original too large to carry is cut to its first
    64 KiB, marked `truncated`, with its full `size`."""
    raw = value if value is not None else b""
    record = {"reason": reason, "detail": detail, "topic": topic, "partition": partition, "offset": offset,
              "key": _text_or_none(key), "size": len(raw)}
    if len(raw) > MAX_MESSAGE_BYTES // 2:  # JSON escaping may double it
        raw = raw[:DEAD_LETTER_EXCERPT]
        record["truncated"] = True
    try:
        record["value"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        record["value_base64"] = base64.b64encode(raw).decode("ascii")
    return key, orjson.dumps(record)


def fingerprint(key: bytes | None, value: bytes | None) -> str:
    """16 hex digits that stand for what a record holds (its key and value, not where it is)."""
    h = hashlib.blake2b(digest_size=8)
    for part in (key, value):
        h.update(b"-" if part is None else b"%d:" % len(part) + part)
    return h.hexdigest()


def _text_or_none(key: bytes | None) -> str | None:
    if key is None:
        return None
    return key.decode("utf-8", "replace")


class _MemoryTables:
    """The store methods the outbox uses, for a store that keeps nothing (`--state memory:`)."""

    def __init__(self):
        self._rows: dict[int, OutboxRow] = {}
        self._positions: dict = {}

    def add_outbox(self, rows):
        for row in rows:
            self._rows[row.id] = row

    def drop_outbox(self, ids):
        for i in ids:
            self._rows.pop(i, None)

    def save_positions(self, positions):
        self._positions.update(positions)

    def outbox(self, after=0, limit=10_000):
        return sorted(r for i, r in self._rows.items() if i > after)[:limit]

    def outbox_next_id(self):
        return max(self._rows, default=0) + 1

    def own_outbox_id(self, row_id):
        return True

    def positions(self):
        return dict(self._positions)


class Outbox:
    """Stage a batch's messages and offsets, then `commit(engine)` them with the state in one transaction."""

    def __init__(self, store: StateStore, actions_topic: str, dead_letter_topic: str, worker: str | None = None,
                 profiles_topic: str = "journey.profiles"):
        self.store = store
        self.worker = worker
        tables = store.durable()
        self.durable = tables is not None
        self._tables = tables if tables is not None else _MemoryTables()
        self.actions_topic = actions_topic
        self.dead_letter_topic = dead_letter_topic
        self.profiles_topic = profiles_topic
        self._next_id = self._tables.outbox_next_id()
        self._offsets: dict = {}
        self._fingerprints: dict = {}
        self._committed = self._tables.positions()  # a copy in memory: Kafka asks for it from its own thread

    # ---- staging (nothing is durable before commit) -----------------------------------------

    def _row(self, topic: str, key: bytes | None, value: bytes) -> OutboxRow:
        row = OutboxRow(self._next_id, topic, key, value)
        self._next_id += 1
        return row

    def add_actions(self, actions: list[dict], messages: list | None = None) -> list[OutboxRow]:
        """Rows for the actions (`messages`: their action_message, made already); one too large for Kafka
        becomes a small dead letter saying so."""
        rows = []
        for i, a in enumerate(actions):
            key, value = action_message(a) if messages is None else messages[i]
            if len(value) > MAX_MESSAGE_BYTES:
                rows.append(self.too_large(a["action_id"], len(value), key))
            else:
                rows.append(self._row(self.actions_topic, key, value))
        self._tables.add_outbox(rows)
        return rows

    def add_profiles(self, messages: list[tuple[bytes, bytes]]) -> list[OutboxRow]:
        """Profile sync records (profile_message), through the same outbox as actions."""
        rows = [self._row(self.profiles_topic, key, value) for key, value in messages]
        self._tables.add_outbox(rows)
        return rows

    def add_dead_letters(self, letters: list[tuple[bytes | None, bytes]]) -> list[OutboxRow]:
        rows = [self._row(self.dead_letter_topic, key, value) for key, value in letters]
        self._tables.add_outbox(rows)
        return rows

    def too_large(self, action_id: str, size: int, key: bytes | None) -> OutboxRow:
        """A dead letter in place of an action the broker will never take, so it cannot block the outbox."""
        value = orjson.dumps({"reason": "too_large", "detail": f"action {action_id} is {size} bytes, more than "
                              f"the broker accepts; it was not sent", "topic": self.actions_topic,
                              "action_id": action_id, "size": size})
        return self._row(self.dead_letter_topic, key, value)

    def replace_too_large(self, row: OutboxRow) -> OutboxRow:
        """Stage the swap of an undeliverable action row for its too_large dead letter."""
        action_id = orjson.loads(row.value).get("action_id", "?") if row.topic == self.actions_topic else "?"
        new = self.too_large(action_id, len(row.value), row.key)
        self._tables.drop_outbox([row.id])
        self._tables.add_outbox([new])
        return new

    def consumed(self, offsets: dict[tuple[str, int], int], fingerprints: dict | None = None) -> None:
        """The next offset to read of each partition, as of this batch, and the fingerprint of the record
        before it (`fingerprint`)."""
        self._offsets.update(offsets)
        self._fingerprints.update(fingerprints or {})

    def delivered(self, ids: list[int]) -> None:
        self._tables.drop_outbox(ids)

    # ---- commit and read back ------------------------------------------------------------------

    def commit(self, engine=None) -> None:
        """One transaction: customers, positions and outbox changes, and with `engine` its clocks and counts."""
        positions = self._positions_moved(engine.lanes if engine is not None else {})
        if positions:
            self._tables.save_positions(positions)
        if engine is not None and self.worker is not None:
            record(self.store, engine)
            self.store.set_meta(f"clock:{self.worker}", engine.clock)
            self.store.set_meta(f"stats:{self.worker}", engine.stats.to_dict())
            self.store.commit()
        elif engine is not None:
            checkpoint(engine)
        else:
            self.store.commit()
        self._committed.update(positions)

    def _positions_moved(self, lanes: dict) -> dict:
        """(offset, stream time, fingerprint) of the partitions read in this batch, and of those whose
        stream time moved without a read (the wall clock moves a partition that is caught up)."""
        offsets, self._offsets = self._offsets, {}
        prints, self._fingerprints = self._fingerprints, {}
        committed = self._committed
        out = {}
        for part, offset in offsets.items():
            was = committed.get(part)
            out[part] = Position(offset, lanes.get(part, was.clock if was is not None else None), prints.get(part))
        for part, clock in lanes.items():
            was = committed.get(part)
            if part not in out and was is not None and clock != was.clock:
                out[part] = was._replace(clock=clock)
        return out

    # ---- the store, for the run loop ----------------------------------------------------------------

    def rollback(self) -> None:
        """Forget everything staged since the last commit (a store keeping nothing has nothing to undo)."""
        self._offsets, self._fingerprints = {}, {}
        if self.durable:
            self.store.rollback()

    def reconnect(self) -> None:
        """After a store failure: a new connection where there is one, nothing uncommitted kept."""
        self._offsets, self._fingerprints = {}, {}
        if self.durable:
            self.store.reconnect()

    def forget_cache(self) -> None:
        """Read customers from the store again (another worker may have changed them)."""
        if self.durable:
            self.store.clear_cache()

    def committed_engine(self) -> tuple[int | None, dict | None]:
        """(clock, counts) of the engine as the last commit stored them (see `commit`)."""
        if self.worker is not None:
            return self.store.get_meta(f"clock:{self.worker}"), self.store.get_meta(f"stats:{self.worker}")
        return self.store.get_meta("clock"), self.store.get_meta("stats")

    def claim(self, group_id: str) -> str | None:
        """Record in the store the consumer group it belongs to, on first use, and commit; returns the
        group it belonged to before when that was another (then nothing is written). A store holds one
        group's offsets, state and outbox: two groups on one store produce each other's rows and number
        rows over each other's."""
        owner = self.store.get_meta("group_id")
        if owner is not None and owner != group_id:
            return owner
        if owner is None:
            self.store.set_meta("group_id", group_id)
            self.store.commit()
        return None

    def offsets(self) -> dict[tuple[str, int], int]:
        """The committed next offset of each partition (no database read: safe from any thread)."""
        return {part: position.offset for part, position in self._committed.items()}

    def positions(self) -> dict[Part, Position]:
        """The committed (next offset, stream time, fingerprint) of each partition (no database read)."""
        return dict(self._committed)

    def refresh_positions(self) -> dict[Part, Position]:
        """Read the committed positions again from the store (other workers commit theirs too); call
        only from the thread that runs the loop (a rebalance callback runs while it waits in poll)."""
        self._committed = self._tables.positions()
        return dict(self._committed)

    def own(self, row_id: int) -> bool:
        """Whether this Outbox numbered the row (always true without id blocks, as on SQLite)."""
        return self._tables.own_outbox_id(row_id)

    def orphans(self, wanted) -> list[OutboxRow]:
        """Committed rows other workers numbered whose key `wanted(key)` accepts (key bytes or None),
        oldest first: what a dead worker left for the partitions now ours."""
        out, after = [], 0
        while True:
            rows = self._tables.outbox(after, 10_000)
            if not rows:
                return out
            after = rows[-1].id
            out.extend(r for r in rows if not self.own(r.id) and wanted(r.key))

    def undelivered(self, after: int = 0, limit: int = 10_000) -> list[OutboxRow]:
        """Committed rows not yet acknowledged by Kafka, oldest first: (id, topic, key, value)."""
        return self._tables.outbox(after, limit)
