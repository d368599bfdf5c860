# Declarations for the compiled build (scripts/build_fast.py, `make fast`); expr.py stays the pure-Python source.
# The expression context is built several times an event: a C function (the engine and the aggregates call it
# in C, cimporting it) that reads the customer's profile as a C field.
from journeyctl.engine.core.state cimport Customer

cpdef tuple context(object event, object trigger, Customer cust, object now, object readers)
