# Declarations for the compiled build (scripts/build_fast.py, `make fast`); actions.py stays the pure-Python source.
# The engine makes an action for about every second event: it calls new_action in C (engine.pxd cimports it).
cpdef object new_action(tuple fields)
