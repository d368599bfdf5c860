# Declarations for the compiled build (scripts/build_fast.py, `make fast`); runtime.py stays the pure-Python
# source. A journey version and its steps are extension types: the engine declares them (engine.pxd), so
# `j.states`, `j.reentry` or a step's `st.kind` and `st.duration` are C field reads on the hot path. Every
# field stays a Python object, so each holds what it holds in the pure build.
cimport cython

@cython.final
cdef class Step:
    cdef public object kind
    cdef public object next
    cdef public object duration
    cdef public object within
    cdef public object otherwise
    cdef public object minute
    cdef public object instant
    cdef public object fn
    cdef public object vars
    cdef public object targets
    cdef public object conds
    cdef public object arms
    cdef public object trait
    cdef public object event

@cython.final
cdef class Journey:
    cdef public object ir
    cdef public object id
    cdef public object version
    cdef public object start
    cdef public object trigger
    cdef public object audience
    cdef public object goal
    cdef public object goal_within
    cdef public object exit_on
    cdef public dict states
    cdef public dict waits_on
    cdef public object caps
    cdef public object max_cap_window
    cdef public object holdout
    cdef public object quiet_hours
    cdef public object timezone
    cdef public object reentry
    cdef public object reentry_after
    cdef public object reentry_by
    cdef public object listens
    cdef public object trigger_keys
    cdef public object date
