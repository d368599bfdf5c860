# Declarations for the compiled build (scripts/build_fast.py, `make fast`); actions.py stays the pure-Python source.
# The engine makes an action for about every second event: it calls new_action in C (engine.pxd cimports it).
cpdef object new_action(tuple fields)

# tuple.__new__(kind, fields) for a subclass of tuple, as CPython's tuple_subtype_new makes it: the subclass's
# tp_alloc for that many items (tracked by the collector, as there), each item taken with a new reference.
cdef extern from *:
    """
    static inline PyObject *journeyctl_tuple_of(PyObject *kind, PyObject *fields) {
        Py_ssize_t n = PyTuple_GET_SIZE(fields);
        PyObject *t = ((PyTypeObject *)kind)->tp_alloc((PyTypeObject *)kind, n);
        if (t == NULL)
            return NULL;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *item = PyTuple_GET_ITEM(fields, i);
            Py_INCREF(item);
            PyTuple_SET_ITEM(t, i, item);
        }
        return t;
    }
    """
    object _tuple_of "journeyctl_tuple_of"(object kind, tuple fields)
