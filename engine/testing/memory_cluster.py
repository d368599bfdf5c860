"""An in-memory broker behind the run loop's seam (engine/live/edge.py), for testing the loop without one.

Like bytewax's `testing.py`: input is fed from lists per partition (`produce`), output is
collected per topic (`values`), and what a real cluster does to a consumer is done on demand
and in order: a second member joining a group (the partitions are shared again at each
member's next poll, revoked then assigned through its callbacks), a member's session
expiring (`expire`: its partitions are lost, not revoked), the broker going away and coming
back (`down`: polls give nothing, lags are unknown, sends fail), a topic deleted and created
again under the same name (`recreate`: a new id, its records gone), a message larger than the
broker takes (`max_request_bytes`). Nothing waits: a poll with nothing to give returns at
once, so a test drives the loop one `Live.step()` at a time.

The semantics kept are those the loop relies on from Kafka: a partition's offsets only grow;
a consumer starts a newly assigned partition where `on_assigned` says, else at the group's
committed offset, else at the first offset held; a seek outside what the partition holds
goes back to its first offset at the next fetch; the end of a partition is known from the
first fetch after assignment; rebalance callbacks run only inside poll() and close().
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from journeyctl.engine.core.partition import partition_for
from journeyctl.engine.live.edge import MAX_REQUEST_BYTES, EdgeError


@dataclass(frozen=True)
class MemoryRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class _Log:
    start: int = 0                                  # the first offset held
    records: list = field(default_factory=list)    # from `start` on

    @property
    def end(self) -> int:
        return self.start + len(self.records)


@dataclass
class _Topic:
    logs: list
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


class MemoryCluster:
    """A Cluster (engine/live/edge.py) in memory, and the controls a test needs."""

    address = "memory"

    def __init__(self, max_request_bytes: int = MAX_REQUEST_BYTES):
        self.topics: dict[str, _Topic] = {}
        self.groups: dict[str, list] = {}          # group -> members (MemorySource), in joining order
        self.committed: dict[tuple, int] = {}      # (group, topic, partition) -> offset
        self.down = False
        self.max_request_bytes = max_request_bytes
        self.sinks: list = []

    # ---- the test's controls -----------------------------------------------------------------------

    def create(self, topic: str, partitions: int = 1) -> None:
        if topic not in self.topics:
            self.topics[topic] = _Topic([_Log() for _ in range(partitions)])

    def produce(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> int:
        """Append one record (to the key's partition by the default partitioner, unless given); its offset."""
        logs = self.topics[topic].logs
        if partition is None:
            partition = partition_for(key, len(logs)) if key is not None else 0
        log = logs[partition]
        log.records.append(MemoryRecord(topic, partition, log.end, key, value))
        return log.end - 1

    def records(self, topic: str) -> list[MemoryRecord]:
        """Everything on the topic, partition by partition."""
        return [r for log in self.topics[topic].logs for r in log.records]

    def values(self, topic: str) -> list[bytes]:
        return [r.value for r in self.records(topic)]

    def recreate(self, topic: str) -> None:
        """Delete the topic and create it again with as many partitions: another id, no records."""
        self.topics[topic] = _Topic([_Log() for _ in self.topics[topic].logs])

    def expire(self, member) -> None:
        """The member's session expires: the group gives its partitions to the others; the member is told
        they are lost at its next poll, and joins again."""
        members = self.groups[member.group]
        members.remove(member)
        member._lose_all()
        self._share(member.group)
        members.append(member)
        self._share(member.group)

    # ---- the Cluster protocol ----------------------------------------------------------------------

    def admin(self) -> "MemoryAdmin":
        self._reach("asking for topics")
        return MemoryAdmin(self)

    def source(self, topics, group_id: str, on_assigned, *, max_records: int = 500, fetch_wait_ms: int = 0,
               on_revoked=None, on_lost=None) -> "MemorySource":
        self._reach("connecting the consumer")
        member = MemorySource(self, list(topics), group_id, on_assigned, max_records, on_revoked, on_lost)
        self.groups.setdefault(group_id, []).append(member)
        self._share(group_id)
        return member

    def sink(self) -> "MemorySink":
        sink = MemorySink(self)
        self.sinks.append(sink)
        return sink

    @staticmethod
    def partition_for(key: bytes, count: int) -> int:
        return partition_for(key, count)

    # ---- inside ---------------------------------------------------------------------------------

    def _reach(self, doing: str) -> None:
        if self.down:
            raise EdgeError(f"{doing}: cannot reach the broker at {self.address}", retry=True)

    def _share(self, group: str) -> None:
        """Share the subscribed partitions among the group's members, round robin in joining order; each
        member takes its new share at its next poll."""
        members = self.groups.get(group, [])
        if not members:
            return
        parts = sorted({(t, p) for m in members for t in m.topics if t in self.topics
                        for p in range(len(self.topics[t].logs))})
        for i, member in enumerate(members):
            member._target = parts[i::len(members)]


class MemoryAdmin:
    def __init__(self, cluster: MemoryCluster):
        self.cluster = cluster

    def missing(self, topics) -> list[str]:
        return [t for t in dict.fromkeys(topics) if t not in self.cluster.topics]

    def create(self, topics, partitions: int = 1) -> None:
        for t in topics:
            self.cluster.create(t, partitions)

    def partitions(self, topic: str) -> int:
        return len(self.cluster.topics[topic].logs)

    def close(self) -> None:
        pass


class MemorySource:
    """One member of a consumer group (the EventSource protocol)."""

    def __init__(self, cluster: MemoryCluster, topics: list, group: str, on_assigned, max_records: int,
                 on_revoked, on_lost):
        self.cluster = cluster
        self.topics = topics
        self.group = group
        self.on_assigned = on_assigned
        self.on_revoked = on_revoked
        self.on_lost = on_lost
        self.max_records = max_records
        self.positions: dict = {}     # assigned partition -> next offset to read
        self.fetched: set = set()     # assigned partitions fetched since their assignment
        self.paused: set = set()
        self.closed = False
        self._target: list | None = None   # the share to take at the next poll
        self._lost: list = []              # partitions to report lost at the next poll

    def _log(self, part) -> _Log:
        return self.cluster.topics[part[0]].logs[part[1]]

    def _lose_all(self) -> None:
        self._lost = sorted(self.positions)
        self.positions, self.fetched = {}, set()

    def _rebalance(self) -> None:
        if self._lost:
            lost, self._lost = self._lost, []
            (self.on_lost or self.on_revoked)(lost)
        if self._target is None:
            return
        target, self._target = self._target, None
        revoked = sorted(p for p in self.positions if p not in target)
        if revoked and self.on_revoked is not None:
            self.on_revoked(revoked)
        for p in revoked:
            self.positions.pop(p, None)
            self.fetched.discard(p)
        new = [p for p in target if p not in self.positions]
        for p in new:
            self.positions[p] = self.cluster.committed.get((self.group, *p), self._log(p).start)
        if new:
            for part, offset in (self.on_assigned(new) or {}).items():
                self.seek(part, offset)

    def poll(self, timeout_ms: int) -> dict:
        if self.cluster.down:
            return {}
        self._rebalance()
        out: dict = {}
        room = self.max_records
        for part in sorted(self.positions):
            if part in self.paused or room <= 0:
                continue
            log = self._log(part)
            at = self.positions[part]
            if at < log.start or at > log.end:  # out of range: back to the first offset held
                at = log.start
            got = log.records[at - log.start:at - log.start + room]
            self.fetched.add(part)
            self.positions[part] = at + len(got)
            if got:
                out[part] = got
                room -= len(got)
        return out

    def lags(self, timeout_ms: int = 500) -> dict | None:
        if self.cluster.down or not self.positions:
            return None
        return {p: max(0, self._log(p).end - at) for p, at in self.positions.items()}

    def assignment(self) -> list:
        return sorted(self.positions)

    def fetched_end(self, part) -> int | None:
        return self._log(part).end if part in self.fetched else None

    def rewind(self, part) -> int:
        first = self._log(part).start
        self.positions[part] = first
        return first

    def seek(self, part, offset: int) -> None:
        if part not in self.positions:
            raise EdgeError(f"{part[0]}[{part[1]}] is not assigned to this consumer")
        self.positions[part] = offset

    def topic_id(self, topic: str) -> str | None:
        t = self.cluster.topics.get(topic)
        return t.id if t is not None else None

    def pause(self) -> None:
        self.paused = set(self.positions)

    def resume(self) -> None:
        self.paused = set()

    def commit(self, offsets: dict) -> None:
        if not self.cluster.down:
            for (t, p), o in offsets.items():
                self.cluster.committed[(self.group, t, p)] = o

    def finish_join(self, timeout_ms: int) -> None:
        """A share waiting for this member is taken now, as a join under way completes."""
        if self._target is not None and not self.cluster.down:
            self._rebalance()

    def close(self, timeout_ms: int = 3_000) -> None:
        if self.closed:
            return
        self.closed = True
        if self.positions and self.on_revoked is not None:
            self.on_revoked(sorted(self.positions))
        self.positions, self.fetched = {}, set()
        members = self.cluster.groups.get(self.group, [])
        if self in members:
            members.remove(self)
            self.cluster._share(self.group)


class MemorySink:
    """The ActionSink protocol: a send is acknowledged at the next settle(), unless the broker is down
    (then it fails, and the loop sends it again) or the message is too large."""

    def __init__(self, cluster: MemoryCluster):
        self.cluster = cluster
        self._pending: list = []   # (id, topic, key, value)

    def send(self, row_id, topic: str, key: bytes | None, value: bytes) -> EdgeError | None:
        if topic not in self.cluster.topics:
            return EdgeError(f"sending to topic {topic}: the topic does not exist")
        if len(value) > self.cluster.max_request_bytes:
            return EdgeError(f"sending to topic {topic}: the message is larger than the broker accepts",
                             too_large=True)
        self._pending.append((row_id, topic, key, value))
        return None

    def settle(self) -> tuple[list, list]:
        pending, self._pending = self._pending, []
        if self.cluster.down:
            err = EdgeError(f"delivering to Kafka: cannot reach the broker at {self.cluster.address}", retry=True)
            return [], [(row_id, err) for row_id, *_ in pending]
        for _, topic, key, value in pending:
            self.cluster.produce(topic, key, value)
        return [row_id for row_id, *_ in pending], []

    def flush(self, timeout_s: float) -> None:
        pass

    def abandon(self) -> list:
        ids = [row_id for row_id, *_ in self._pending]
        self._pending = []
        return ids

    def close(self, timeout_s: float = 2.0) -> None:
        self._pending = []
