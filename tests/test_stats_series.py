"""The per-minute series add up to exactly what was counted: every count in the minute of its own time
(late ones included), in its hour once folded, across drains and simulate --jobs' handover (pending)."""
from __future__ import annotations

import random
from collections import Counter

from journeyctl.engine.core.actions import new_action
from journeyctl.engine.core.state import HELD_OUT, Instance
from journeyctl.engine.core.stats import FOLD_AFTER, MINUTE, Stats

JOURNEYS = ("cart", "welcome", "win_back")
REASONS = ("converted", "exited", "completed")


def _counts(rng: random.Random, stats: Stats, now: int, expect: Counter) -> None:
    """One random count at `now`, and what it must add to the series (name, minute)."""
    j, m = rng.choice(JOURNEYS), now // MINUTE
    kind = rng.randrange(6)
    if kind == 0:
        held = rng.random() < 0.3
        stats.entered(j, now, held)
        expect[(f"entered:{j}", m)] += 1
        if held:
            expect[(f"holdout_entered:{j}", m)] += 1
    elif kind == 1:
        reason, held = rng.choice(REASONS), rng.random() < 0.3
        inst = Instance(j, j + "@1", "m", "wait", None, now, {}, "m", HELD_OUT if held else 0, "m")
        stats.ended(j, reason, inst, now)
        expect[(f"{reason}:{j}", m)] += 1
        if held and reason == "converted":
            expect[(f"holdout_converted:{j}", m)] += 1
    elif kind == 2:
        channel, status = rng.choice(("email", "sms")), rng.choice(("send", "suppressed"))
        action = new_action((j, j + "@1", "c", "i", "send", channel, "t", {}, now, status, "m", None))
        stats.action(j, channel, status, now, action if rng.random() < 0.9 else None)
        expect[(f"action:{j}:{channel}:{status}", m)] += 1
    elif kind == 3:
        inside = rng.random() < 0.5
        stats.segment("buyers", inside, now)
        expect[(f"segment_{'entered' if inside else 'exited'}:buyers", m)] += 1
    elif kind == 4:
        stats.dead_letter("late", now)
        expect[("dead_letter:late", m)] += 1
    else:
        stats.moved(j + "@1", None, "wait")


def _by_hour(counts: Counter) -> Counter:
    out: Counter = Counter()
    for (name, m), n in counts.items():
        out[(name, m // 60)] += n
    return out


def test_drained_series_are_the_counts_by_minute_and_hour():
    """Each drain writes exactly what was counted since the one before (and a handed over pending())."""
    rng = random.Random(18)
    stats, other = Stats(), Stats()
    expect: Counter = Counter()       # counted into `stats` since its last drain
    expect_other: Counter = Counter()  # counted into `other`, not yet handed over
    everything: Counter = Counter()
    minutes: Counter = Counter()
    drains = 0
    now = 1_700_000_000_000

    def drain():
        nonlocal expect
        rows, hour_rows = stats.drain_series(now)
        assert Counter({(name, h): n for name, h, n in hour_rows}) == _by_hour(expect)
        assert len(hour_rows) == len({(name, h) for name, h, _ in hour_rows})
        drained = Counter({(name, m): n for name, m, n in rows})
        # a minute's rows: all of it, or (a late count after its minute was folded into its hour) a part
        assert all(n <= expect[key] for key, n in drained.items())
        minutes.update(drained)
        everything.update(expect)
        expect = Counter()

    for step in range(40_000):
        now += rng.choice((0, 1_000, MINUTE, 3 * MINUTE))
        if rng.random() < 0.01:
            now += (FOLD_AFTER + 2000) * MINUTE // 40  # long gaps: a replay drained late folds minutes into hours
        at = now - rng.choice((0, 0, 0, MINUTE, 90 * MINUTE)) if rng.random() < 0.2 else now  # late counts
        into, into_expect = (other, expect_other) if rng.random() < 0.1 else (stats, expect)
        _counts(rng, into, at, into_expect)
        if rng.random() < 0.002:  # a bad event before the clock had a time: the next count's minute
            into.dead_letter("bad_json")
            into.entered("cart", at)
            into_expect[("entered:cart", at // MINUTE)] += 1
            into_expect[("dead_letter:bad_json", at // MINUTE)] += 1
        if rng.random() < 0.003:
            if rng.random() < 0.5:
                other.drain_recent()
            stats.add_pending(other.pending())
            expect.update(expect_other)
            other, expect_other = Stats(), Counter()
        if rng.random() < 0.0001:
            drain()
            drains += 1
    stats.add_pending(other.pending())
    expect.update(expect_other)
    drain()
    assert drains > 1 and minutes and sum(1 for key, n in minutes.items() if n == everything[key]) > 0.9 * len(minutes)
    assert set(everything) - set(minutes), "some minutes should have been folded into their hours"


def test_drained_minutes_add_up_to_the_totals():
    rng = random.Random(5)
    stats, expect = Stats(), Counter()
    now = 1_700_000_000_000
    for _ in range(5_000):
        now += rng.choice((0, 5_000, 2 * MINUTE))
        _counts(rng, stats, now - (rng.choice((0, 10 * MINUTE)) if rng.random() < 0.2 else 0), expect)
    rows, _ = stats.drain_series(now)
    series = Counter()
    for name, _, n in rows:
        series[name] += n
    d = stats.to_dict()
    for j, c in d["journeys"].items():
        for what, n in c.items():
            assert series[f"{what}:{j}"] == n
    for j, channel, status, n in d["actions"]:
        assert series[f"action:{j}:{channel}:{status}"] == n
    for j, c in d["holdout"].items():
        for what, n in c.items():
            assert series[f"holdout_{what}:{j}"] == n
    assert series["dead_letter:late"] == d["dead_letters"]["late"]
    assert sum(n for *_, n in d["ends"]) == sum(n for (name, _), n in expect.items()
                                                 if name.split(":")[0] in REASONS)


def test_totals_read_at_any_moment_are_what_was_counted():
    """The engine counts into the current minute's bucket and the totals catch up when read
    (Stats._sync): read between any two counts, in the middle of a minute or with counts that have
    no time, they are always exactly what was reported so far."""
    rng = random.Random(19)
    stats = Stats()
    journeys, actions, dead, segments = Counter(), Counter(), Counter(), Counter()
    moves, ends, holdout = Counter(), Counter(), Counter()
    now = 1_700_000_000_000
    for step in range(20_000):
        now += rng.choice((0, 0, 1_000, MINUTE))
        at = None if rng.random() < 0.05 else now - (MINUTE if rng.random() < 0.1 else 0)
        j, kind = rng.choice(JOURNEYS), rng.randrange(6)
        if kind == 0:
            held = rng.random() < 0.3
            stats.entered(j, at, held, j + "@1", "start")
            journeys[(j, "entered")] += 1
            moves[(j + "@1", "", "start")] += 1
            holdout[(j, "entered")] += held
        elif kind == 1:
            reason, held = rng.choice(REASONS), rng.random() < 0.3
            inst = Instance(j, j + "@1", "m", rng.choice((None, "wait")), None, now, {}, "m",
                            HELD_OUT if held else 0, "m")
            stats.ended(j, reason, inst, at)
            journeys[(j, reason)] += 1
            ends[(j + "@1", inst.state or "", reason)] += 1
            holdout[(j, "converted")] += held and reason == "converted"
        elif kind == 2:
            stats.action(j, "email", "send", at)
            actions[(j, "email", "send")] += 1
        elif kind == 3:
            stats.dead_letter("late", at)
            dead["late"] += 1
        elif kind == 4:
            inside = rng.random() < 0.5
            stats.segment("buyers", inside, at)
            segments[("buyers", "entered" if inside else "exited")] += 1
        else:
            stats.moved(j + "@1", "wait", "send")
            moves[(j + "@1", "wait", "send")] += 1
        if rng.random() < 0.01 or step == 19_999:
            assert {(j, what): n for j, c in stats.journeys.items() for what, n in c.items() if n} == +journeys
            assert {(j, what): n for j, c in stats.holdout.items() for what, n in c.items() if n} == +holdout
            assert {(s, what): n for s, c in stats.segments.items() for what, n in c.items() if n} == +segments
            assert dict(stats.actions) == dict(actions) and dict(stats.dead_letters) == dict(dead)
            assert stats.moves == dict(moves) and stats.ends == dict(ends)


def test_a_long_replay_lets_go_of_actions_older_than_the_store_keeps():
    """Past RECENT_PENDING actions held between drains, those more than RECENT_MS behind the latest are
    let go (a replay drains once, at its end); every one the store would keep stays, in arrival order."""
    from journeyctl.engine.core.actions import DUE_AT
    from journeyctl.engine.core.stats import RECENT_MS, RECENT_PENDING
    rng = random.Random(7)
    stats = Stats()
    start = 1_700_000_000_000
    sent = []
    for k in range(RECENT_PENDING + 30_000):
        now = start + rng.randrange(30 * 86_400_000)  # a month, in no order
        action = new_action(("j", "j@1", f"c{k}", "i", "send", "email", "t", {}, now, "send", "m", None))
        stats.action("j", "email", "send", now, action)
        sent.append(action)
    kept = stats.drain_recent()
    latest = max(a[DUE_AT] for a in sent)
    assert len(kept) < len(sent)
    must = [a for a in sent if a[DUE_AT] >= latest - RECENT_MS]
    assert [a for a in kept if a[DUE_AT] >= latest - RECENT_MS] == must
