"""Which build of the engine is running: the pure-Python reference, or the same source compiled.

`make fast` compiles the hot modules in place (scripts/build_fast.py); Python then imports the
extension module instead of the .py beside it. A person comparing numbers, or reporting a bug,
needs to know which one ran, and a developer who edits a .py after `make fast` needs to hear that
the compiled module no longer matches it.
"""
from __future__ import annotations

import importlib
import os
from importlib.machinery import EXTENSION_SUFFIXES

# The module that tells: the engine itself. Every build compiles it, or none.
PROBE = "journeyctl.engine.core.engine"


def compiled_by(module) -> str | None:
    """'Cython' or 'mypyc' when `module` was loaded from an extension module, else None."""
    path = getattr(module, "__file__", "") or ""
    if not path.endswith(tuple(EXTENSION_SUFFIXES)):
        return None
    probe = next((v for v in vars(module).values() if type(v).__name__ == "cython_function_or_method"), None)
    return "Cython" if probe is not None else "mypyc"


def build_name() -> str:
    """`pure Python` or `compiled (Cython)`, as `journeyctl --version` and the benchmarks print it."""
    tool = compiled_by(importlib.import_module(PROBE))
    return "pure Python" if tool is None else f"compiled ({tool})"


def stale_modules() -> list[str]:
    """Sources changed after they were compiled: Python runs the compiled module, so such a change
    would silently not run. Looks only in the folders the build compiles into (a few stat calls)."""
    stale = []
    for package in ("engine", "dsl"):
        root = os.path.dirname(importlib.import_module(f"journeyctl.{package}").__file__)
        for folder, _, files in os.walk(root):
            for file in files:
                suffix = next((s for s in EXTENSION_SUFFIXES if file.endswith(s)), None)
                if suffix is None:
                    continue
                source = os.path.join(folder, file[:-len(suffix)] + ".py")
                try:
                    if os.stat(source).st_mtime > os.stat(os.path.join(folder, file)).st_mtime:
                        stale.append(source)
                except OSError:
                    continue
    return sorted(stale)
