"""Which build of the engine runs: the pure-Python reference, or the same source compiled (`make fast`).

`make fast` compiles the hot modules in place (scripts/build_fast.py) and Python then imports the
extension module instead of the .py beside it. A person comparing numbers or reporting a bug needs
to know which one ran (`journeyctl --version` says), and a developer who edits a .py after
`make fast` needs to hear that the compiled module no longer matches it (`stale_modules`). Nothing
here imports the engine: the answers come from where the import system would find it.
"""
from __future__ import annotations

import importlib.util
import os
from importlib.machinery import EXTENSION_SUFFIXES

# The module that tells: the engine itself. Every build compiles it, or none.
PROBE = "journeyctl.engine.core.engine"


def _origin(name: str) -> str:
    spec = importlib.util.find_spec(name)
    return (spec.origin or "") if spec is not None else ""


def compiled() -> bool:
    return _origin(PROBE).endswith(tuple(EXTENSION_SUFFIXES))


def build_name() -> str:
    """`pure Python` or `compiled (Cython)`: what `journeyctl --version` and the benchmarks print."""
    return "compiled (Cython)" if compiled() else "pure Python"


def stale_modules() -> list[str]:
    """Sources changed after they were compiled: Python runs the compiled module, so such a change would
    silently not run. Empty for the pure build; otherwise a few stat calls in the compiled folders."""
    if not compiled():
        return []
    stale = []
    for package in ("journeyctl.engine", "journeyctl.dsl"):
        for root in importlib.util.find_spec(package).submodule_search_locations or ():
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
