"""The model of the clock a `simulate --jobs` process runs over every line (engine/replay/parallel.py: _clocks),
against the rule it models, stated another way (spec section 6): an event earlier than clock - lateness is
late and moves nothing; one past --until is not applied; any other moves the clock to its time when later,
and is the last time applied when later than every one before it. The compiled build runs the same loop in C
(parallel.pxd), so the test holds in either build."""
from __future__ import annotations

from array import array

from hypothesis import given
from hypothesis import strategies as st

from journeyctl.engine.core.events import EVENT_MAX_MS
from journeyctl.engine.replay.parallel import NO_TIME, _clocks


def by_the_rule(times: list[int], clock: int, last: int, lateness: int, limit: int):
    before = []
    for t in times:
        before.append(clock)
        if t == NO_TIME or t > limit or (clock != NO_TIME and t < clock - lateness):
            continue
        clock = max(clock, t)
        last = max(last, t)
    return before, clock, last


times_ = st.lists(st.one_of(st.just(NO_TIME), st.integers(1_000, 1_100)), max_size=60)
start = st.one_of(st.just(NO_TIME), st.integers(1_000, 1_100))


@given(times_, start, start, st.integers(0, 40), st.one_of(st.just(EVENT_MAX_MS), st.integers(1_000, 1_100)))
def test_the_clock_before_each_line_is_the_rules(times, clock, last, lateness, limit):
    before, after, latest = _clocks(array("q", times), clock, last, lateness, limit)
    assert (list(before), after, latest) == by_the_rule(times, clock, last, lateness, limit)
