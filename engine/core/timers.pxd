# Declarations for the compiled build (scripts/build_fast.py, `make fast`); timers.py stays the pure-Python source.
# The engine reads `head` on every event: a C field instead of an instance dictionary.
cimport cython

@cython.final
cdef class TimerQueue:
    cdef dict __dict__          # attributes not declared here still work, as in the pure build
    cdef public long long head     # (EMPTY when nothing is queued: a C integer, compared in C with the watermark)
    cdef list _front
    cdef Py_ssize_t _at
    cdef object _front_bucket
    cdef dict _buckets
    cdef list _order
    cdef Py_ssize_t _len

    cpdef push(self, due, cid)
    cpdef tuple pop(self)
    cdef _next_bucket(self)
