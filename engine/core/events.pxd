# Declarations for the compiled build (scripts/build_fast.py, `make fast`); events.py stays the pure-Python source.
# The one path every event takes (parse_event -> _decode -> _fast -> parse_instant) calls itself in C.
cpdef object parse_instant(object text)
cpdef object _minute_start(object prefix)
cpdef object format_instant(object ms)
cpdef object _fast(object obj, object raw_size, object plain=*)
cpdef object _decode(object data)
# The quick reading `simulate --jobs` takes of every other process's line.
cpdef object scan_event(object raw, object max_bytes=*)

# Event as an extension type, made and read in C: Cython compiles the .py's dataclass as one of its own
# (which is why the .py does not ask for slots=True: Cython's dataclass does not take it). About 5% of the
# compiled core's time (bench/builds.py), nothing measurable in the pure build.
cdef class Event:
    cdef public object name
    cdef public object customer_id
    cdef public object time
    cdef public object properties
    cdef public object message_id
    cdef public object traits
    cdef public object raw_size
