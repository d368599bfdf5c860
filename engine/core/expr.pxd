# Declarations for the compiled build (scripts/build_fast.py, `make fast`); expr.py stays the pure-Python source.
# The expression context is built several times an event: a C function (the engine calls it in C, cimporting
# it) that reads the customer's profile as a C field. The context's positions are C integers, so a compiled
# expression's `c[EV]` indexes the tuple in C.
from journeyctl.engine.core.state cimport Customer

cdef Py_ssize_t EV, TRIG, PROF, NOW, CUST, AGGS

cpdef tuple context(object event, object trigger, Customer cust, object now, object readers)
cpdef object event_of(tuple ctx)
