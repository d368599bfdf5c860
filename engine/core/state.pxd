# Declarations for the compiled build (scripts/build_fast.py, `make fast`); state.py stays the pure-Python
# source. An instance is an extension type: its fields are C fields the engine reads and writes directly
# where it declares an Instance (engine.pxd), and through the same names from Python everywhere else.
cimport cython

@cython.final
cdef class Instance:
    cdef public object journey
    cdef public object version
    cdef public object iid
    cdef public object state
    cdef public object due
    cdef public object entered
    cdef public object trigger
    cdef public object trigger_message
    cdef public object flags
    cdef public object key

# The customer too: the engine declares `cust` a Customer (engine.pxd) and reads its fields as C fields.
# Every field but three stays a Python object, so what it may hold is what it may hold in the pure build. The
# three hold nothing else in either (Customer() and Customer.decode make them): the instances, a list the
# engine walks for every event (in C, as a list); the entries, read at every entry (a dict's get in C, where a
# method call was 400 instructions); and the profile, which expressions read as a dict (expr.pxd, context).
@cython.final
cdef class Customer:
    cdef public dict profile
    cdef public list instances
    cdef public dict entries
    cdef public object seen
    cdef public object _sends
    cdef public object _last_seen
    cdef public object _last_props
    cdef public object _aggs
    cdef public object _segments
    cdef public object _parked
    cdef public object window_due
    cdef public object window_epoch
    cdef public object _dates
