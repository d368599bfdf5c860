"""The Kafka edge: the only module that imports kafka.

Three small wrappers over kafka-python, each saying what went wrong in plain words
(`EdgeError`) rather than letting a client exception reach the user:

- `Source`: a group consumer that never auto-commits; the run loop decides where
  each assigned partition starts (`on_assigned` returns the offsets) and commits
  offsets to the group only so lag stays visible to the usual tools.
- `Sink`: a producer with acks=all, idempotent when the broker supports it. Sends
  never block for long; results are collected with `settle()`. After a failed
  delivery the producer is rebuilt, since an idempotent producer may be left
  unusable (a broker that lost its state answers "unknown producer id" forever).
- `Admin`: topic checks and creation.
- `KafkaCluster`: the three behind the run loop's seam (engine/live/edge.py), as `run` wires them.

kafka-python logs every reconnect attempt at ERROR level; that is silenced here and
the run loop reports the broker's state in one status line instead. `EdgeError` is the
seam's (engine/live/edge.py) and is imported from here by the callers outside the loop.
"""
from __future__ import annotations

import logging
import os
import ssl
import time
from dataclasses import dataclass, field

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as kerr
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import MemberState, OffsetAndMetadata

from journeyctl.engine.live.edge import MAX_REQUEST_BYTES, EdgeError

from journeyctl.engine.core.partition import partition_for  # the producers' partitioner (KafkaCluster.partition_for)

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

logging.getLogger("kafka").setLevel(logging.CRITICAL + 1)
logging.getLogger("kafka").propagate = False

_AUTH_ERRORS = (kerr.SaslAuthenticationFailedError, kerr.UnsupportedSaslMechanismError,
                kerr.IllegalSaslStateError)


class _LoginRefusals(logging.Handler):
    """kafka-python retries a refused SASL login until its bootstrap times out, then raises only
    "Unable to bootstrap": the refusal itself is only in its log. This keeps the last one (and when),
    so explain() says authentication failed rather than "cannot reach the broker"."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.last: tuple[float, BaseException] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        for arg in record.args if isinstance(record.args, tuple) else ():
            if isinstance(arg, _AUTH_ERRORS):
                self.last = (time.monotonic(), arg)

    def take(self, within_s: float = 300.0) -> BaseException | None:
        last, self.last = self.last, None
        return last[1] if last is not None and time.monotonic() - last[0] <= within_s else None


_login_refusals = _LoginRefusals()
logging.getLogger("kafka.net.manager").setLevel(logging.WARNING)  # (it goes no further: see above)
logging.getLogger("kafka.net.manager").addHandler(_login_refusals)


@dataclass(frozen=True)
class KafkaSettings:
    """How to reach the cluster. The password is kept out of repr, and nothing here ever prints it."""

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    client_id: str = "journeyctl"

    def problems(self) -> list[str]:
        """What is wrong with the settings themselves, before any connection is tried."""
        out = []
        if not self.bootstrap_servers.strip():
            out.append("no bootstrap servers: give --bootstrap-servers HOST:PORT or --embedded-broker")
        for server in self.bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            if server.strip() and (not host or not port.isdigit()):
                out.append(f"bootstrap server {server.strip()!r} is not HOST:PORT")
        if self.security_protocol not in SECURITY_PROTOCOLS:
            out.append(f"security protocol {self.security_protocol!r} is not one of {', '.join(SECURITY_PROTOCOLS)}")
        sasl = self.security_protocol.startswith("SASL_")
        if sasl:
            if self.sasl_mechanism not in SASL_MECHANISMS:
                out.append(f"{self.security_protocol} needs --sasl-mechanism, one of {', '.join(SASL_MECHANISMS)}")
            if not self.sasl_username:
                out.append(f"{self.security_protocol} needs --sasl-username")
            if not self.sasl_password:
                out.append(f"{self.security_protocol} needs a password: set JOURNEYCTL_SASL_PASSWORD "
                           "or give --sasl-password-file")
        elif self.sasl_mechanism or self.sasl_username:
            out.append(f"SASL settings are given but the security protocol is {self.security_protocol}; "
                       "use SASL_SSL (or SASL_PLAINTEXT)")
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path and not os.access(path, os.R_OK):
                out.append(f"--{name.replace('_', '-')} {path}: cannot read the file")
        if (self.ssl_certfile or self.ssl_keyfile) and not self.security_protocol.endswith("SSL"):
            out.append("TLS files are given but the security protocol does not use TLS; use SSL or SASL_SSL")
        return out

    def options(self) -> dict:
        """The kafka-python settings shared by consumer, producer and admin client."""
        opts = {"bootstrap_servers": [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()],
                "client_id": self.client_id, "security_protocol": self.security_protocol,
                "bootstrap_timeout_ms": 5_000, "request_timeout_ms": 10_000,
                "reconnect_backoff_max_ms": 2_000}
        if self.security_protocol.startswith("SASL_"):
            opts.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                        sasl_plain_password=self.sasl_password)
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if getattr(self, name):
                opts[name] = getattr(self, name)
        return opts

    def where(self) -> str:
        """The cluster, as a person reads it: never with a password."""
        user = f" as {self.sasl_username} ({self.sasl_mechanism})" if self.sasl_username else ""
        return f"{self.bootstrap_servers} over {self.security_protocol}{user}"


def explain(exc: BaseException, settings: KafkaSettings, doing: str) -> EdgeError:
    """A client exception as an EdgeError that says what failed and what to do. Never includes the password."""
    where = settings.where()
    if isinstance(exc, EdgeError):
        return exc
    if isinstance(exc, (kerr.KafkaConnectionError, kerr.KafkaTimeoutError)):
        exc = _login_refusals.take() or exc  # a refused login looks like an unreachable broker
    if isinstance(exc, (kerr.SaslAuthenticationFailedError, kerr.IllegalSaslStateError)):
        return EdgeError(f"{doing}: authentication failed: the broker at {where} refused the login; "
                         "check the user name and password")
    if isinstance(exc, kerr.UnsupportedSaslMechanismError):
        return EdgeError(f"{doing}: authentication failed: the broker at {settings.bootstrap_servers} does not "
                         f"offer SASL mechanism {settings.sasl_mechanism}")
    if isinstance(exc, kerr.AuthorizationError):
        return EdgeError(f"{doing}: {where} is not allowed to do this ({_name(exc)}); ask for the ACLs on the "
                         "topics and the consumer group")
    if isinstance(exc, ssl.SSLError):
        return EdgeError(f"{doing}: the TLS handshake with {settings.bootstrap_servers} failed ({exc.reason or exc}); "
                         "check --ssl-cafile and the certificate files")
    if isinstance(exc, (kerr.MessageSizeTooLargeError, kerr.RecordListTooLargeError)):
        return EdgeError(f"{doing}: the message is larger than the broker accepts", too_large=True)
    if isinstance(exc, (kerr.UnknownProducerIdError, kerr.OutOfOrderSequenceNumberError,
                        kerr.InvalidProducerEpochError)):
        return EdgeError(f"{doing}: the broker lost track of this producer (did it restart?); "
                         "sending again with a new one", retry=True)
    if isinstance(exc, kerr.UnknownTopicOrPartitionError):
        return EdgeError(f"{doing}: the topic does not exist on {settings.bootstrap_servers}")
    if isinstance(exc, (kerr.KafkaConnectionError, kerr.KafkaTimeoutError, kerr.NodeNotReadyError,
                        kerr.RequestTimedOutError, ConnectionError, TimeoutError)):
        return EdgeError(f"{doing}: cannot reach the broker at {settings.bootstrap_servers}", retry=True)
    if isinstance(exc, kerr.KafkaError) and getattr(exc, "retriable", False):
        return EdgeError(f"{doing}: the broker answered {_name(exc)}; retrying", retry=True)
    if isinstance(exc, kerr.KafkaConfigurationError):
        return EdgeError(f"{doing}: bad client setting: {exc}")
    return EdgeError(f"{doing}: {_name(exc)}", retry=isinstance(exc, (kerr.KafkaError, OSError)))


def _name(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:200] + "..."


class _Listener(ConsumerRebalanceListener):
    """The group's rebalance callbacks. kafka-python runs them on its network thread, but only while
    the run loop's thread is blocked inside poll() (or close()), so they may use the engine and the
    store: nothing else touches them meanwhile."""

    def __init__(self, source: "Source"):
        self.source = source

    def _call(self, fn, tps):
        try:
            fn([(tp.topic, tp.partition) for tp in tps])
        except BaseException as e:  # kafka-python would only say "callback throws an error"
            self.source.callback_error = e
            raise

    def on_partitions_revoked(self, revoked):
        if self.source.on_revoked is not None:
            self._call(self.source.on_revoked, revoked)

    def on_partitions_lost(self, lost):
        if self.source.on_lost is not None:
            self._call(self.source.on_lost, lost)
        elif self.source.on_revoked is not None:
            self._call(self.source.on_revoked, lost)

    def on_partitions_assigned(self, assigned):
        self._call(self.source._assigned, assigned)


class Source:
    """The events topics through one group consumer. `on_assigned(parts)` gets [(topic, partition)] and
    returns {(topic, partition): offset to start at}; a partition it leaves out starts at the group's
    committed offset (or the earliest). poll() hands back kafka-python's records, which have .topic,
    .partition, .offset, .key and .value. fetch_wait_ms: how long the broker may hold a fetch when it has
    nothing new; Kafka answers as soon as data arrives, but the embedded broker (tansu) only at the end of
    the wait, so there it adds up to that much latency (and a short wait costs idle CPU: 10 ms, ~10%)."""

    def __init__(self, settings: KafkaSettings, topics, group_id: str, on_assigned, *, max_records: int = 500,
                 fetch_wait_ms: int = 100, on_revoked=None, on_lost=None):
        """on_revoked(parts): the group takes these partitions away (a rebalance, or our own close);
        they are still ours while it runs, so what was read from them may be committed. on_lost(parts):
        the group already gave them to another member (our session expired); what was read from them
        must not be committed. Without on_lost, on_revoked is called for lost partitions too."""
        self.settings = settings
        self.topics = list(topics)
        self.max_records = max_records
        self.on_assigned = on_assigned
        self.on_revoked = on_revoked
        self.on_lost = on_lost
        self._tps: dict = {}
        self.callback_error: BaseException | None = None
        try:
            self._consumer = KafkaConsumer(
                group_id=group_id, enable_auto_commit=False, auto_offset_reset="earliest",
                allow_auto_create_topics=False, session_timeout_ms=6_000, heartbeat_interval_ms=1_000,
                max_poll_interval_ms=10_000, fetch_max_wait_ms=fetch_wait_ms, max_poll_records=max_records,
                max_partition_fetch_bytes=4 * 1024 * 1024,
                **settings.options())
            self._consumer.subscribe(self.topics, listener=_Listener(self))
        except Exception as e:  # noqa: BLE001 - every client failure becomes plain words
            raise explain(e, settings, "connecting the consumer") from None

    def _tp(self, topic: str, partition: int):
        tp = self._tps.get((topic, partition))
        if tp is None:
            tp = self._tps[(topic, partition)] = TopicPartition(topic, partition)
        return tp

    def _assigned(self, parts) -> None:
        starts = self.on_assigned(parts) or {}
        for part, offset in starts.items():
            self._consumer.seek(self._tp(*part), offset)

    def poll(self, timeout_ms: int) -> dict:
        """{(topic, partition): [records]}: at most max_records, waiting up to timeout_ms for the first."""
        try:
            got = self._consumer.poll(timeout_ms=timeout_ms, max_records=self.max_records)
        except Exception as e:  # noqa: BLE001
            cause, self.callback_error = self.callback_error, None
            if cause is not None:  # our own code failed inside the rebalance: that is the error to show
                raise cause from None
            raise explain(e, self.settings, "reading events") from None
        cause, self.callback_error = self.callback_error, None
        if cause is not None:  # kafka-python logs a failed callback and goes on: it must not go unseen
            for tp, records in got.items():  # and what this poll read is read again
                try:
                    self._consumer.seek(tp, records[0].offset)
                except Exception:  # noqa: BLE001 - no longer assigned: its new owner reads it
                    pass
            raise cause
        return {(tp.topic, tp.partition): records for tp, records in got.items()}

    def assignment(self) -> list[tuple[str, int]]:
        return sorted((tp.topic, tp.partition) for tp in self._consumer.assignment())

    def lags(self, timeout_ms: int = 500) -> dict | None:
        """{(topic, partition): records not yet read} of every assigned partition; None when nothing is
        assigned or the broker does not answer in time. The end of a partition is the larger of the
        listed end offset and the high watermark of the last fetch: some brokers (tansu) list the
        start of the last batch rather than its end."""
        c = self._consumer
        tps = list(c.assignment())
        if not tps:
            return None
        try:
            end = c.end_offsets(tps, timeout_ms=timeout_ms)
            return {(tp.topic, tp.partition):
                    max(0, max(end[tp], c.highwater(tp) or 0) - c.position(tp, timeout_ms=timeout_ms))
                    for tp in tps}
        except Exception:  # noqa: BLE001 - an unanswered question is the answer here
            return None

    def fetched_end(self, part) -> int | None:
        """The partition's end as of the last fetch answered for it; None before the first."""
        try:
            return self._consumer.highwater(self._tp(*part))
        except Exception:  # noqa: BLE001 - no longer assigned
            return None

    def rewind(self, part) -> int:
        """Read the partition again from its first offset; returns that offset."""
        tp = self._tp(*part)
        try:
            first = self._consumer.beginning_offsets([tp], timeout_ms=5_000)[tp]
        except Exception as e:  # noqa: BLE001
            raise explain(e, self.settings, "asking for the partition's first offset") from None
        self._consumer.seek(tp, first)
        return first

    def seek(self, part, offset: int) -> None:
        """Read the partition from `offset` on (one the broker no longer holds: from its first offset)."""
        self._consumer.seek(self._tp(*part), offset)

    def topic_id(self, topic: str) -> str | None:
        """The id the broker gives the topic (Kafka 2.8+, tansu), as of the client's latest metadata: a
        topic deleted and created again under the same name has another. None when the broker gives none."""
        try:
            found = self._consumer._client.cluster.topic_id(topic)  # kafka-python keeps it, but only here
        except Exception:  # noqa: BLE001 - a client without it: then the fingerprints alone tell
            return None
        return None if found is None or found.int == 0 else str(found)

    def pause(self) -> None:
        """Stop fetching (polls go on, so the group keeps us as a member)."""
        self._consumer.pause(*self._consumer.assignment())

    def resume(self) -> None:
        self._consumer.resume(*self._consumer.paused())

    def commit(self, offsets: dict) -> None:
        """Tell the group how far we are (asynchronously; the state store holds the real offsets)."""
        if not offsets:
            return
        try:
            self._consumer.commit_async({self._tp(*p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()})
        except Exception:  # noqa: BLE001 - mid-rebalance or broker away; the next batch commits again
            pass

    def finish_join(self, timeout_ms: int) -> None:
        """Let a group join under way complete (within timeout_ms), so that close() can leave the group.
        A member stopped while its join is in flight has no member id to leave with, and the broker keeps it
        in the group, holding partitions nobody reads, until its session ends (tansu: minutes). What polls
        read meanwhile is not applied: the state store's offsets, not the consumer's, say where reading goes
        on. Nothing to do once joined, however few partitions the group gave."""
        deadline = time.monotonic() + timeout_ms / 1000
        try:
            coordinator = self._consumer._coordinator  # kafka-python keeps the member's state only here
            while coordinator.state is MemberState.REBALANCING and time.monotonic() < deadline:
                self._consumer.poll(timeout_ms=100, max_records=1)
        except Exception:  # noqa: BLE001 - a client without it, or the broker gone: close() does what it can
            pass

    def close(self, timeout_ms: int = 3_000) -> None:
        """Leave the group, so another member gets the partitions at once rather than after a timeout."""
        try:
            self._consumer.close(autocommit=False, timeout_ms=timeout_ms)
        except Exception:  # noqa: BLE001
            pass


class Sink:
    """Produces outbox rows. send() queues one message and returns at once; settle() reports which
    ids were acknowledged (acks=all) and which failed, with the failure in plain words."""

    def __init__(self, settings: KafkaSettings, *, max_block_ms: int = 1_000):
        self.settings = settings
        self.max_block_ms = max_block_ms
        self._producer = None
        self._pending: list = []  # (id, future)
        self._partitions: dict = {}  # topic -> (partition count, when to ask again)
        self._by_key: dict = {}  # (key, partition count) -> partition
        self.idempotent: bool | None = None

    def _open(self):
        if self._producer is None:
            try:
                # 256 KiB batches: the default 16 KiB made every send cost twice as much
                self._producer = KafkaProducer(
                    acks="all", enable_idempotence=True, linger_ms=1, batch_size=256 * 1024,
                    allow_auto_create_topics=False, max_block_ms=self.max_block_ms, delivery_timeout_ms=30_000,
                    max_request_size=MAX_REQUEST_BYTES, **self.settings.options())
            except Exception as e:  # noqa: BLE001
                raise explain(e, self.settings, "connecting the producer") from None
            self.idempotent = bool(self._producer.config.get("enable_idempotence"))
        return self._producer

    def _partition(self, producer, topic: str, key: bytes | None) -> int | None:
        """The partition the client's default partitioner would pick (murmur2 of the key, as the Java
        client), remembered per key: the client recomputes the pure-Python hash on every send."""
        if key is None:
            return None
        count, until = self._partitions.get(topic, (0, 0.0))
        now = time.monotonic()
        if now >= until:
            count = len(producer.partitions_for(topic))
            self._partitions[topic] = (count, now + 60.0)
        if count == 1:
            return 0
        part = self._by_key.get((key, count))
        if part is None:
            if len(self._by_key) > 200_000:
                self._by_key.clear()
            part = self._by_key[(key, count)] = partition_for(key, count)
        return part

    def send(self, row_id, topic: str, key: bytes | None, value: bytes) -> EdgeError | None:
        """Queue one message; an error here (too large, broker away, topic missing) means it was not queued."""
        try:
            producer = self._open()
        except EdgeError as e:
            return e
        try:
            future = producer.send(topic, value=value, key=key, partition=self._partition(producer, topic, key))
        except Exception as e:  # noqa: BLE001
            return explain(e, self.settings, f"sending to topic {topic}")
        self._pending.append((row_id, future))
        return None

    def settle(self) -> tuple[list, list]:
        """(acknowledged ids, [(id, EdgeError)] failed) among the sends that have finished."""
        done, failed, still = [], [], []
        for row_id, future in self._pending:
            if not future.is_done:
                still.append((row_id, future))
            elif future.failed():
                failed.append((row_id, explain(future.exception, self.settings, "delivering to Kafka")))
            else:
                done.append(row_id)
        self._pending = still
        if failed:
            self._rebuild()
        return done, failed

    def flush(self, timeout_s: float) -> None:
        if self._producer is not None and self._pending:
            try:
                self._producer.flush(timeout=timeout_s)
            except Exception:  # noqa: BLE001 - what did not make it stays in the outbox
                pass

    def _rebuild(self) -> None:
        """After a failed delivery: drop this producer (its idempotence state may be poisoned) and
        forget its unfinished sends; the caller sends those rows again from the outbox."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=0)
            except Exception:  # noqa: BLE001
                pass

    def abandon(self) -> list:
        """Forget every unfinished send (their rows stay in the outbox) and return their ids."""
        ids = [row_id for row_id, _ in self._pending]
        self._pending = []
        self._rebuild()
        return ids

    def close(self, timeout_s: float = 2.0) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=timeout_s)
            except Exception:  # noqa: BLE001
                pass


class Admin:
    def __init__(self, settings: KafkaSettings):
        self.settings = settings
        try:
            self._admin = KafkaAdminClient(**settings.options())
        except Exception as e:  # noqa: BLE001
            raise explain(e, settings, "connecting to the cluster") from None

    def missing(self, topics) -> list[str]:
        try:
            have = set(self._admin.list_topics())
        except Exception as e:  # noqa: BLE001
            raise explain(e, self.settings, "listing topics") from None
        return [t for t in dict.fromkeys(topics) if t not in have]

    def partitions(self, topic: str) -> int:
        """How many partitions the topic has."""
        try:
            (desc,) = self._admin.describe_topics([topic])
        except Exception as e:  # noqa: BLE001
            raise explain(e, self.settings, f"describing topic {topic}") from None
        parts = desc.get("partitions") or ()
        if not parts:
            raise EdgeError(f"describing topic {topic}: the broker lists no partitions", retry=True)
        return len(parts)

    def create(self, topics, partitions: int = 1) -> None:
        try:
            self._admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
        except kerr.TopicAlreadyExistsError:
            pass
        except Exception as e:  # noqa: BLE001
            raise explain(e, self.settings, "creating topics " + ", ".join(topics)) from None

    def close(self) -> None:
        try:
            self._admin.close()
        except Exception:  # noqa: BLE001
            pass


class KafkaCluster:
    """The loop's Cluster (engine/live/edge.py) on Kafka: what `journeyctl run` wires."""

    def __init__(self, settings: KafkaSettings):
        self.settings = settings
        self.address = settings.bootstrap_servers

    def admin(self) -> Admin:
        return Admin(self.settings)

    def source(self, topics, group_id: str, on_assigned, **options) -> Source:
        return Source(self.settings, topics, group_id, on_assigned, **options)

    def sink(self) -> Sink:
        return Sink(self.settings)

    @staticmethod
    def partition_for(key: bytes, count: int) -> int:
        return partition_for(key, count)


class Producer:
    """A plain producer for callers outside the run loop (traffic generator, tests, benchmarks)."""

    def __init__(self, settings: KafkaSettings, **extra):
        try:
            self._p = KafkaProducer(acks="all", **{"linger_ms": 5, **extra}, **settings.options())
        except Exception as e:  # noqa: BLE001
            raise explain(e, settings, "connecting the producer") from None
        self.settings = settings

    def send(self, topic: str, key: bytes | None, value: bytes, timestamp_ms: int | None = None):
        try:
            return self._p.send(topic, value=value, key=key, timestamp_ms=timestamp_ms)
        except Exception as e:  # noqa: BLE001
            raise explain(e, self.settings, f"sending to topic {topic}") from None

    def flush(self, timeout_s: float = 30.0) -> None:
        try:
            self._p.flush(timeout=timeout_s)
        except Exception as e:  # noqa: BLE001
            raise explain(e, self.settings, "flushing the producer") from None

    def close(self) -> None:
        self._p.close(timeout=5)


class Reader:
    """A plain reader of whole topics from the start, without a group (tests, benchmarks, demos)."""

    def __init__(self, settings: KafkaSettings, topic: str, *, from_start: bool = True):
        try:
            self._c = KafkaConsumer(enable_auto_commit=False, fetch_max_wait_ms=5, **settings.options())
            parts = self._c.partitions_for_topic(topic) or {0}
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            self._c.assign(tps)
            if from_start:
                self._c.seek_to_beginning(*tps)
            else:
                self._c.seek_to_end(*tps)
        except Exception as e:  # noqa: BLE001
            raise explain(e, settings, f"reading topic {topic}") from None

    def read(self, timeout_ms: int = 200) -> list:
        """Records that arrived since the last call: objects with .key, .value, .offset, .timestamp."""
        out = []
        for records in self._c.poll(timeout_ms=timeout_ms, max_records=10_000).values():
            out.extend(records)
        return out

    def close(self) -> None:
        self._c.close(autocommit=False)


def committed_offsets(settings: KafkaSettings, group_id: str, topic: str) -> dict[int, int | None]:
    """The offsets a consumer group has committed for a topic (what lag tools show), without joining it."""
    try:
        c = KafkaConsumer(group_id=group_id, enable_auto_commit=False, **settings.options())
        try:
            parts = sorted(c.partitions_for_topic(topic) or ())
            return {p: c.committed(TopicPartition(topic, p)) for p in parts}
        finally:
            c.close(autocommit=False)
    except Exception as e:  # noqa: BLE001
        raise explain(e, settings, f"reading the offsets of group {group_id}") from None
