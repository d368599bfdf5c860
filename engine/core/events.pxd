# Declarations for the compiled build (scripts/build_fast.py, `make fast`); events.py stays the pure-Python source.
# The one path every event takes (parse_event -> _decode -> _fast -> parse_instant) calls itself in C.
cpdef object parse_instant(object text)
cpdef object _minute_start(object prefix)
cpdef object format_instant(object ms)
cpdef object _fast(object obj, object raw_size, object plain=*)
cpdef object _decode(object data)
