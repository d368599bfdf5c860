"""Several `journeyctl run` workers in one consumer group on one PostgreSQL store (slow).

Two workers share a 6-partition events topic; one is killed with kill -9 while waits are pending on
its partitions and more events flow; the survivor takes the partitions over within the session
timeout, adopts their timers and produces what the dead worker left in the outbox. A third worker
then joins and the partitions are spread again. At the end the actions topic holds every action a
replay of the same events gives (by action_id), nothing else, every copy of an action identical,
no dead letter, and an empty outbox.

The allowed lateness (30 s) is above the takeover time: events produced while nobody reads the dead
worker's partitions reach the survivor a takeover later (about 9 s on a quiet machine, more on a
loaded one), against a clock that ran on with its own partitions (docs/scaling.md, "Allowed
lateness"). How fast the takeover is, is measured by bench/scale.py, not judged here.
"""
from __future__ import annotations

import re
import time

import orjson
import pytest

from conftest import PATIENCE, pg_query, wait_until
from journeyctl.engine.core.events import parse_instant
from journeyctl.engine.core.partition import partition_for

JOURNEYS = {
    "cart": 'on cart_abandoned within 3s unless purchase -> send sms "cart" with value = cart_value\n',
    "pay": 'on payment_failed -> send email "pay" with amount = amount\n',
    "chain": 'journey chain\n  on email_clicked\n  wait 2s unless purchase\n  send push "still_interested"\n'
             '  wait 2s\n  send sms "last_chance"\n',
}
LATENESS_MS = 30_000
PARTITIONS = 6
OWNED = re.compile(r"partitions owned: (\S+)\[([\d,]+)\]")


def owned(run) -> set[int] | None:
    """The partitions a worker said it owns last (None before its first assignment)."""
    found = OWNED.findall(run.err())
    if not found:
        return None
    return {int(p) for p in found[-1][1].split(",")}


def phase(make_event, tag: str, customers: list[str], kinds: dict[str, callable]) -> list[tuple[bytes, bytes]]:
    """For each customer, the events whose predicate holds for its index, stamped now."""
    out = []
    for i, c in enumerate(customers):
        now = int(time.time() * 1000)
        for name, when in kinds.items():
            if when(i):
                out.append((c.encode(), make_event(name, c, now, f"{tag}-{name}-{c}", cart_value=i, amount=i)))
    return out


@pytest.mark.slow
def test_kill_9_takeover_and_a_third_worker_lose_no_action(
        pg_state, kafka, names, journeys_dir, run_journeyctl, topic_reader, produce_to, make_event, replay_actions):
    url, schema = pg_state
    names.create(kafka, PARTITIONS)
    folder = journeys_dir(JOURNEYS)
    args = [folder, "--bootstrap-servers", kafka.bootstrap_servers, *names.args(),
            "--allowed-lateness", f"{LATENESS_MS // 1000}s", "--state", url, "--no-dashboard", "--quiet"]
    a = run_journeyctl([*args, "--worker-id", "a"], tag="a")
    b = run_journeyctl([*args, "--worker-id", "b"], tag="b")
    wait_until(lambda: owned(a) is not None and owned(b) is not None and len(owned(a)) == len(owned(b)) == 3,
               what="two workers with three partitions each")
    sent: list = []

    def produce(messages):
        produce_to(kafka, names.events, messages)
        sent.extend(v for _, v in messages)

    def read_so_far() -> int:
        return sum(o for (o,) in pg_query(schema, 'SELECT "offset" FROM offsets WHERE topic = %s', (names.events,)))

    # phase 1: waits start on every partition; the immediate actions go out
    first = [f"c{i}" for i in range(60)]
    produce(phase(make_event, "p1", first, {"email_clicked": lambda i: True, "cart_abandoned": lambda i: i % 2 == 0,
                                            "payment_failed": lambda i: i % 5 == 0}))
    wait_until(lambda: read_so_far() == len(sent), what="phase 1 committed")
    a_parts = owned(a)
    pending_on_a = [c for c in first if partition_for(c.encode(), PARTITIONS) in a_parts]
    assert pending_on_a

    # kill -9 one worker while its waits are pending; events keep coming for every partition
    killed_at = time.time()
    a.kill()
    second = [f"d{i}" for i in range(30)]
    produce(phase(make_event, "p2", first, {"purchase": lambda i: i % 3 == 0}))
    produce(phase(make_event, "p2", second, {"email_clicked": lambda i: True, "payment_failed": lambda i: i % 2 == 0}))
    wait_until(lambda: owned(b) == set(range(PARTITIONS)), what=lambda: f"the survivor owning every partition:\n{b.err()}")
    assert "timers adopted" in b.err()

    # a third worker joins: the partitions are spread again
    c = run_journeyctl([*args, "--worker-id", "c"], tag="c")
    wait_until(lambda: owned(c) is not None and owned(b) is not None and len(owned(c)) == 3
               and owned(b) | owned(c) == set(range(PARTITIONS)), what="survivor and third worker sharing")
    third = [f"e{i}" for i in range(30)]
    produce(phase(make_event, "p3", third, {"email_clicked": lambda i: True, "cart_abandoned": lambda i: True,
                                            "purchase": lambda i: i % 4 == 0}))

    expected = replay_actions(JOURNEYS, sent, int(time.time() * 1000) + 120_000, LATENESS_MS)
    want = {x["action_id"]: x for x in expected}
    late_on_a = [x for x in expected if x["customer_id"] in pending_on_a and x["template"] != "pay"]
    assert late_on_a, "no wait was pending on the killed worker's partitions: nothing was tested"
    reader = topic_reader(names.actions)
    got = reader.until(lambda vs: {x["action_id"] for x in vs} >= set(want), timeout=2 * PATIENCE)
    for run in (b, c):
        code, _ = run.terminate()
        assert code == 0, run.err()

    have: dict = {}
    for x in got:
        assert have.setdefault(x["action_id"], x) == x, "two copies of one action differ"
    missing = set(want) - set(have)
    assert not missing, f"{len(missing)} of {len(want)} actions missing: " \
                        f"{sorted({want[m]['template'] for m in missing})}\n{b.err()}"
    assert set(have) == set(want), "actions a replay does not give"
    assert all(have[i] == want[i] for i in want)
    # a wait due at D fires once the clock passes D + the allowed lateness: some were still waiting at the kill
    assert any(parse_instant(x["due_at"]) + LATENESS_MS > killed_at * 1000 for x in late_on_a), \
        "no wait was pending on the killed worker at the kill: nothing was tested"
    dead = topic_reader(names.dead).read(500)
    assert not dead, [orjson.loads(d.value)["reason"] for d in dead]
    assert pg_query(schema, "SELECT count(*) FROM outbox") == [(0,)]
    # per-worker meta: each worker kept its own clock and counts
    keys = {k for (k,) in pg_query(schema, "SELECT key FROM meta")}
    assert {"clock:b", "clock:c", "stats:b", "stats:c"} <= keys and "stats" not in keys
    assert "Traceback" not in b.err() + c.err()
