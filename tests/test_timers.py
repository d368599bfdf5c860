"""The timer queue gives entries in exactly the order a heap of (due, customer) tuples gives."""
import heapq

from hypothesis import given, settings
from hypothesis import strategies as st

from journeyctl.engine.core.timers import BUCKET_MS, EMPTY, TimerQueue

dues = st.integers(0, 5 * BUCKET_MS)
steps = st.lists(st.one_of(st.tuples(st.just("push"), dues, st.sampled_from(["a", "b", "c"])),
                           st.tuples(st.just("pop"), st.integers(0, 4 * BUCKET_MS))), max_size=200)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_pops_in_the_order_a_heap_gives(script):
    """Pushes and pops interleaved as the engine does them: pop everything due up to an instant,
    push new timers at any instant, earlier or later than what is queued."""
    heap, queue = [], TimerQueue()
    for step in script:
        if step[0] == "push":
            _, due, cid = step
            heapq.heappush(heap, (due, cid))
            queue.push(due, cid)
        else:
            upto = step[1]
            while heap and heap[0][0] <= upto:
                assert queue.head == heap[0][0]
                assert queue.pop() == heapq.heappop(heap)
        assert len(queue) == len(heap)
        assert queue.head == (heap[0][0] if heap else EMPTY)


def test_an_earlier_timer_comes_out_first_even_mid_bucket():
    queue = TimerQueue()
    for due in (3 * BUCKET_MS + 5, 3 * BUCKET_MS + 1, 9 * BUCKET_MS):
        queue.push(due, "x")
    assert queue.pop() == (3 * BUCKET_MS + 1, "x")
    queue.push(10, "early")          # a bucket before the one being taken out
    queue.push(3 * BUCKET_MS + 2, "y")
    assert [queue.pop() for _ in range(4)] == [(10, "early"), (3 * BUCKET_MS + 2, "y"), (3 * BUCKET_MS + 5, "x"),
                                               (9 * BUCKET_MS, "x")]
    assert len(queue) == 0 and queue.head == EMPTY
