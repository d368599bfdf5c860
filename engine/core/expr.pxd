# Declarations for the compiled build (scripts/build_fast.py, `make fast`); expr.py stays the pure-Python source.
# The expression context is built several times an event: a C function (the engine calls it in C, cimporting
# it) that reads the customer's profile as a C field. The context's positions are C integers, so a compiled
# expression's `c[EV]` indexes the tuple in C.
from journeyctl.engine.core.state cimport Customer

cdef Py_ssize_t EV, TRIG, PROF, NOW, CUST, AGGS

# The event's, the trigger's and the profile's slots hold dicts (Customer.profile is one), so a compiled
# expression reads a property with `dict.get(c[EV], key)`, which Cython makes a C lookup; a method call on the
# slot was 400 instructions a condition.
cpdef tuple context(dict event, dict trigger, Customer cust, object now, object readers)
cpdef object event_of(tuple ctx)
