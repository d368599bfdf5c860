# Declarations for the compiled build (scripts/build_fast.py, `make fast`); parallel.py stays the pure-Python source.
# The model of the clock runs over every line of the input in every process: in C, over typed views of the arrays
# of times (a tenth of the instructions of the loop over Python numbers: callgrind, 100,000 standard events).
cimport cython
from journeyctl.engine.core.engine cimport Engine
from journeyctl.engine.core.events cimport Event

@cython.locals(seen="long long[:]", at="long long[:]", i=Py_ssize_t, t=cython.longlong)
cpdef tuple _clocks(object times, long long clock, long long last, long long lateness, long long limit)

# The processes' actions merged by due time in C, the customers compared only where due times are equal.
@cython.locals(da="long long[:]", db="long long[:]", out="long long[:]", na=Py_ssize_t, nb=Py_ssize_t, i=Py_ssize_t,
               j=Py_ssize_t, k=Py_ssize_t, x=cython.longlong, y=cython.longlong, customers=list, actions=list)
cpdef tuple _merge_two(object dues_a, list customers_a, list actions_a, object dues_b, list customers_b,
                       list actions_b)

# A process's own events applied with the engine's steps called in C.
@cython.locals(engine=Engine, event=Event, names=set, actions=list, owners=dict, seen="long long[:]", at="long long[:]",
               t=cython.longlong, clock=cython.longlong, lateness=cython.longlong, late=bint)
cpdef _apply(object share, list batch, object times, object before, Py_ssize_t pos_at, Py_ssize_t line_at,
             long long limit)
