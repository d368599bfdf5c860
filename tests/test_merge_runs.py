"""replay/parallel.py: the processes' actions in output order, merged in C in the compiled build (_merged_in_c)
and by a sort of their keys in the pure build (_sorted_runs): the same list either way, in either build, for
any number of runs, ties on the due time among them, and one customer's actions at one instant kept in order."""
from array import array
from types import SimpleNamespace

from hypothesis import given, settings, strategies as st

from journeyctl.engine.replay import parallel


@st.composite
def runs(draw) -> list:
    """Each run a process's actions in output order: (due, customer) sorted, no customer in two runs, an
    action a token that says which run and place it came from."""
    count = draw(st.integers(0, 6))
    parts = []
    for r in range(count):
        keys = sorted(draw(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["a", "b", "c", "é", ""])),
                                    max_size=12)))
        parts.append(SimpleNamespace(dues=array("q", [due for due, _ in keys]),
                                     customers_of=[f"{customer}{r}" for _, customer in keys],
                                     actions=[(r, i) for i in range(len(keys))]))
    return parts


@settings(max_examples=300, deadline=None)
@given(parts=runs())
def test_the_runs_merged_in_c_are_the_runs_sorted(parts):
    merged = parallel._merged_in_c(parts)
    assert merged == parallel._sorted_runs(parts)
    assert sorted(merged) == sorted(a for part in parts for a in part.actions)
