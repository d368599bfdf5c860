# Declarations for the compiled build (scripts/build_fast.py, `make fast`); partition.py stays the pure-Python
# source. murmur2 in 64-bit C integers: every product of two 32-bit values fits, and the .py masks each
# step to 32 bits as before, so the result is the same number (tests/test_partition.py).
cimport cython

cdef unsigned long long _SEED, _M, _MASK

cpdef object murmur2(bytes data)
@cython.locals(length=Py_ssize_t, end=Py_ssize_t, i=Py_ssize_t, rest=Py_ssize_t,
               h=cython.ulonglong, k=cython.ulonglong)
cpdef unsigned long long murmur2_of(bytes data, Py_ssize_t start, Py_ssize_t stop) except? 0
cpdef object partition_for(bytes key, object count)
# (glance.pxd cimports it: a C call from its loop over a block's lines)
cpdef long long partition_of(bytes data, Py_ssize_t start, Py_ssize_t stop, long long count) except? -1
