# Declarations for the compiled build (scripts/build_fast.py, `make fast`); parallel.py stays the pure-Python source.
# The model of the clock runs over every line of the input in every process: in C, over typed views of the arrays
# of times (a tenth of the instructions of the loop over Python numbers: callgrind, 100,000 standard events).
cimport cython

@cython.locals(seen="long long[:]", at="long long[:]", i=Py_ssize_t, t=cython.longlong)
cpdef tuple _clocks(object times, long long clock, long long last, long long lateness, long long limit)
