"""The seam between the run loop and a broker: what the loop asks of one, as Protocols.

The loop (engine/live/loop.py) is written against these and is handed an implementation:
`journeyctl run` wires Kafka's (engine/live/kafka_edge.py); the loop's own tests wire the
in-memory one (engine/testing/memory_cluster.py), which can also fail, rebalance and
recreate topics on demand, so batching, rebalancing and error paths are tested without a
broker. Partitions are `(topic, partition)` tuples throughout; records have `.topic`,
`.partition`, `.offset`, `.key` and `.value` (bytes, or None for a tombstone).

Every failure an implementation reports is an `EdgeError` in plain words: `retry` says
whether waiting may cure it (a broker away) or a person must act (a refused login, a
missing topic); `too_large` marks a message the broker will never take.
"""
from __future__ import annotations

from typing import Callable, Protocol

Part = tuple  # (topic, partition)

# Kafka's default for the largest produce request (the producer's max.request.size, the broker's
# message.max.bytes): what the Kafka producer asks for and what the in-memory cluster takes.
MAX_REQUEST_BYTES = 1_048_576
# The largest message value `run` produces: below MAX_REQUEST_BYTES with room for the key and the
# record batch framing, so a value the outbox lets through is never refused for its size; a larger
# action goes out as a small too_large dead letter instead (engine/live/outbox.py).
MAX_MESSAGE_BYTES = 1_000_000


class EdgeError(Exception):
    """A problem with the cluster, in plain words. retry: whether waiting may cure it
    (an unreachable broker) or a person has to act (a refused password, a missing topic)."""

    def __init__(self, message: str, *, retry: bool = False, too_large: bool = False):
        super().__init__(message)
        self.retry = retry
        self.too_large = too_large


class Record(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class EventSource(Protocol):
    """A group consumer of the events topics that never commits on its own. Rebalance callbacks
    (given to Cluster.source) run only while the loop waits inside poll() or close()."""

    def poll(self, timeout_ms: int) -> dict[Part, list]: ...
    def lags(self, timeout_ms: int = 500) -> dict[Part, int] | None: ...  # None: the broker did not answer
    def assignment(self) -> list[Part]: ...
    def fetched_end(self, part: Part) -> int | None: ...  # the end as of the last fetch; None before one
    def rewind(self, part: Part) -> int: ...               # read again from the first offset held; returns it
    def seek(self, part: Part, offset: int) -> None: ...
    def topic_id(self, topic: str) -> str | None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def commit(self, offsets: dict[Part, int]) -> None: ...  # to the group, for lag tools only
    def finish_join(self, timeout_ms: int) -> None: ...      # before close: a join under way completes
    def close(self, timeout_ms: int = 3_000) -> None: ...


class ActionSink(Protocol):
    """A producer: send() queues and returns at once (an EdgeError when it could not queue),
    settle() reports (acknowledged ids, [(id, EdgeError)] failed) among the finished sends."""

    def send(self, row_id, topic: str, key: bytes | None, value: bytes) -> EdgeError | None: ...
    def settle(self) -> tuple[list, list]: ...
    def flush(self, timeout_s: float) -> None: ...
    def abandon(self) -> list: ...  # forget unfinished sends, return their ids
    def close(self, timeout_s: float = 2.0) -> None: ...


class TopicAdmin(Protocol):
    def missing(self, topics) -> list[str]: ...
    def create(self, topics, partitions: int = 1) -> None: ...
    def partitions(self, topic: str) -> int: ...
    def close(self) -> None: ...


def ensure_topics(admin: TopicAdmin, wanted: list[str], create: bool, partitions: int, address: str,
                  note: Callable[[str], None]) -> None:
    """Creates the topics that are missing when allowed to, else refuses to start in words: run and
    deliver both check their topics before they read, and say the same thing the same way."""
    missing = admin.missing(wanted)
    if missing and create:
        admin.create(missing, partitions)
        note("created topic" + ("s " if len(missing) > 1 else " ") + ", ".join(missing))
    elif missing:
        raise EdgeError(f"topic{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                        f"{'do' if len(missing) > 1 else 'does'} not exist on {address}; "
                        "create them, or pass --create-topics")


class Cluster(Protocol):
    """Where the loop's input comes from and its output goes: it opens the three parts."""

    address: str  # how messages name the cluster (never with a password)

    def admin(self) -> TopicAdmin: ...
    def source(self, topics, group_id: str, on_assigned: Callable, *, max_records: int, fetch_wait_ms: int,
               on_revoked: Callable | None = None, on_lost: Callable | None = None) -> EventSource: ...
    def sink(self) -> ActionSink: ...
    def partition_for(self, key: bytes, count: int) -> int: ...  # the producers' default partitioner
