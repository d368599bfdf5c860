# Declarations for the compiled build (scripts/build_fast.py, `make fast`); glance.py stays the pure-Python source.
# A plain block's lines read byte by byte in C (_scan_plain): the line's bytes through a pointer, the places
# and numbers as C integers, the block's columns written through typed memoryviews (array "q", bytearray).
cimport cython
from journeyctl.engine.core.partition cimport partition_of

# Where the line from byte p on ends (its \n, else size): memchr, where glance.py's stand-in calls bytes.find.
cdef extern from *:
    """
    #include <string.h>
    static Py_ssize_t journeyctl_line_end(const unsigned char *data, Py_ssize_t p, Py_ssize_t size) {
        const unsigned char *end = p < size ? (const unsigned char *)memchr(data + p, '\\n', (size_t)(size - p)) : NULL;
        return end ? (Py_ssize_t)(end - data) : size;
    }
    """
    Py_ssize_t _line_end "journeyctl_line_end"(const unsigned char *data, Py_ssize_t p, Py_ssize_t size)

cdef bytes _MINUTE_SHAPE

@cython.locals(data=cython.p_uchar, size=Py_ssize_t, p=Py_ssize_t, end=Py_ssize_t, q=Py_ssize_t, i=Py_ssize_t,
               c=Py_ssize_t, at=Py_ssize_t, ms=cython.longlong, t=cython.longlong,
               start=cython.longlong, no_time=cython.longlong, bad=cython.longlong, jobs_=cython.longlong,
               longest=Py_ssize_t, known_max=Py_ssize_t, minute=bytes, room=Py_ssize_t)
cpdef tuple _scan_plain(bytes block, Py_ssize_t p, Py_ssize_t line, object jobs, dict starts, long long[:] times,
                        unsigned char[:] owners, list odd)

@cython.locals(i=Py_ssize_t, name=Py_ssize_t)
cdef Py_ssize_t _usual_prefix(unsigned char* data, Py_ssize_t p, Py_ssize_t q)

@cython.locals(n=Py_ssize_t, j=Py_ssize_t, want=cython.p_uchar)
cdef Py_ssize_t _expect(unsigned char* data, Py_ssize_t i, Py_ssize_t q, bytes text)

cdef Py_ssize_t _space(unsigned char* data, Py_ssize_t i, Py_ssize_t q)

@cython.locals(d=cython.int)
cdef long long _digit(unsigned char* data, Py_ssize_t i)

@cython.locals(z=cython.uchar)
cdef long long _second_ms(unsigned char* data, Py_ssize_t i)

@cython.locals(j=Py_ssize_t, d=cython.uchar, want=cython.uchar, shape=cython.p_uchar)
cdef bint _minute_shape(unsigned char* data, Py_ssize_t i)

@cython.locals(j=Py_ssize_t, m=cython.p_uchar)
cdef bint _same(unsigned char* data, Py_ssize_t i, bytes minute)

# A process's own lines of a block cut out in C, the others' only stepped over.
@cython.locals(data=cython.p_uchar, size=Py_ssize_t, p=Py_ssize_t, end=Py_ssize_t, q=Py_ssize_t)
cpdef Py_ssize_t _own_in_block(bytes block, unsigned char[:] owners, unsigned char k, Py_ssize_t at, list mine)
