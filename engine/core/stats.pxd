# Declarations for the compiled build (scripts/build_fast.py, `make fast`); stats.py stays the pure-Python source.
# The engine reports every entry, move, end and action here (about six calls an event in bench/core.py): as an
# extension type declared in engine.pxd, each is a C call reading C fields, where a Python class cost a method
# lookup, a keyword-argument call and instance-dictionary reads (12% of the compiled core's instructions).
cimport cython
from journeyctl.engine.core.state cimport Instance

@cython.final
cdef class Stats:
    cdef dict __dict__          # attributes not declared here still work, as in the pure build
    cdef public object events
    cdef public object unused
    cdef public object duplicates
    cdef public object parked
    cdef public object _journeys
    cdef public object _holdout
    cdef public object _actions
    cdef public object _dead_letters
    cdef public object _segments
    cdef public object _ends
    cdef public dict _moves
    cdef public dict _fresh_moves
    cdef public object lag
    cdef public object current
    cdef public list recent
    cdef public object _recent_limit
    cdef public dict _fresh
    cdef public dict _bucket
    cdef public object _from
    cdef public object _to
    cdef public dict _minutes
    cdef public dict _hours
    cdef public dict _undated
    cdef public dict _series_of

    # (n: the count's cell in the minute's bucket, a list of one number, added to in C)
    @cython.locals(n=list)
    cpdef entered(self, journey, now=*, held_out=*, version=*, start=*)
    @cython.locals(n=list)
    cpdef moved(self, version, step, to)
    @cython.locals(n=list)
    cpdef ended(self, journey, reason, Instance inst=*, now=*)
    @cython.locals(n=list)
    cpdef action(self, journey, channel, status, now=*, action=*)
    @cython.locals(n=list)
    cpdef segment(self, segment, entered, now=*)
    cpdef dict _at(self, now)
    # folding an hour of minutes into the series: per minute and count, lookups in C (5% of a late stretch of
    # the benchmark, where the counts of each minute are many)
    @cython.locals(minutes=dict, known=dict, touched=list, series=dict, bucket=dict, names=tuple, of_key=tuple,
                   cell=list, total=list, moves=dict)
    cpdef _sync(self)
