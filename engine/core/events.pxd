# Declarations for the compiled build (scripts/build_fast.py, `make fast`); events.py stays the pure-Python source.
cimport cython
# The one path every event takes (parse_event -> _decode -> _fast -> _usual_instant) calls itself in C.
# The time caches as C globals of known type (their .get is a C call), and the usual shape's text as `str`,
# so its length and the characters tested are C reads (its callers give it exact str only).
cdef dict _SECOND_MS, _MILLI, _minute_ms, _minute_text
cpdef object parse_instant(object text)
cdef object _usual_instant(str text)
# The compiled build's own way to the same answer (events.py: COMPILED): digits and the last minute read in C.
cdef str _last_minute
cdef long long _last_minute_ms  # (every time is within years 0001-9999: MIN_MS..MAX_MS)
@cython.locals(s=Py_ssize_t, milli=Py_ssize_t)
cdef object _usual_instant_in_c(str text)
@cython.locals(n=Py_ssize_t, i=Py_ssize_t, d=Py_ssize_t)
cdef Py_ssize_t _digits(str text, Py_ssize_t start, Py_ssize_t end) except -2
# _shape: twice the `{` and `[` of a line, plus one when it is not _plain, by memchr (glibc's, vectorised)
cdef extern from *:
    """
    #include <string.h>
    static inline Py_ssize_t journeyctl_count(const char *s, Py_ssize_t n, int c) {
        const char *end = s + n;
        Py_ssize_t k = 0;
        while (s < end && (s = (const char *)memchr(s, c, (size_t)(end - s))) != NULL) {
            k++;
            s++;
        }
        return k;
    }
    static inline Py_ssize_t journeyctl_shape(const char *s, Py_ssize_t n) {
        int odd = memchr(s, '\\\\', (size_t)n) || memchr(s, 0x7f, (size_t)n) || memchr(s, 0xc2, (size_t)n);
        return 2 * (journeyctl_count(s, n, '{') + journeyctl_count(s, n, '[')) + odd;
    }
    """
    Py_ssize_t _shape "journeyctl_shape"(const char *raw, Py_ssize_t size)
cpdef object _minute_start(str prefix)
cpdef object format_instant(object ms)
# `obj` exactly a dict: its lookups are C calls (event_from_object gives a dict subclass the general path)
@cython.locals(ev=Event)
cpdef object _fast(dict obj, object raw_size, object plain=*)
cpdef object _decode(object data)
cdef bint _plain(bytes raw)
# The quick reading `simulate --jobs` takes of a line of a process's share of the input, where it cannot read a
# block of lines at once (engine/replay/glance.py).
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
