# Declarations for the compiled build (scripts/build_fast.py, `make fast`); memory.py stays the pure-Python source.
cimport cython

@cython.final
cdef class MemoryStore:
    cdef dict __dict__
    cdef dict _customers
    cdef dict _meta
    cdef dict _versions
    cpdef get(self, customer_id)
    cpdef put(self, customer_id, state)
