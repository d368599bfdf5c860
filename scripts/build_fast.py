"""Compile the engine's hot modules from their unchanged pure-Python source (`make fast`).

Pure Python is the reference and the default install; this builds the same source as C extension
modules (Cython 3, pure-Python mode, with the typed .pxd files beside the modules) when a C compiler
is there, and says so in one line when it is not (exit 0: nothing changed, the pure build still runs).

  python scripts/build_fast.py                 # in place: extension modules beside the .py files
  python scripts/build_fast.py --out DIR       # a separate tree DIR/journeyctl/... (the test step
                                               # puts DIR first on PYTHONPATH)
  python scripts/build_fast.py --clean         # remove the in-place modules again (`make pure`)
  python scripts/build_fast.py --no-pxd --out DIR   # without the .pxd declarations, for comparison

Why Cython and not mypyc (measured for issue 19, December 2 2026, bench/core.py at 300,000 events, five
rounds taking turns, medians of events per CPU second): pure 21,050; mypyc 23,322 (1.11x); Cython, this
build, 35,706 (1.70x), ahead of mypyc in every round (1.28-1.61x). mypyc took 10 of the 16 modules as they
are (mypyc --check-untyped-defs, mypy 2.4.1) and refused the rest: a surrogate in a string literal
(events.py), the tuple subclass Action (actions.py), runtime.py's dataclass failing at import, and mypy
type errors in the replay modules, which it must not have. It also changes what the code means: Stats'
total properties came back as `property` objects (a class attribute it does not support), generator
expressions became lists, and it enforces every annotation at run time. Cython compiles the unchanged
source with Python's semantics and takes its declarations from .pxd files beside it.

Every build first copies dsl/ and engine/ into a tree of their installed names (journeyctl.engine,
journeyctl.dsl), so each module is compiled under its real name.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"dsl": "journeyctl/dsl", "engine": "journeyctl/engine"}  # source folder -> installed path
# The modules a replay spends its time in (cProfile of bench/core.py and of simulate); everything
# else stays Python in every build.
MODULES = [
    "engine/core/engine.py", "engine/core/state.py", "engine/core/aggregates.py", "engine/core/expr.py",
    "engine/core/timers.py", "engine/core/events.py", "engine/core/actions.py", "engine/core/runtime.py",
    "engine/core/localtime.py", "engine/core/stats.py", "engine/store/memory.py", "engine/core/partition.py",
    "engine/replay/loop.py", "engine/replay/sources.py", "engine/replay/output.py", "engine/replay/parallel.py",
    "engine/replay/glance.py",
]
SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")
# Python's semantics wherever they could differ: indexing checks bounds and wraps, division by zero raises,
# `None` where a declared type is expected raises AttributeError as in Python (nonecheck), and annotations
# are never read as C types (annotation_typing): only the .pxd files declare types.
CYTHON_DIRECTIVES = {"language_level": 3, "annotation_typing": False, "binding": True,
                     "boundscheck": True, "wraparound": True, "cdivision": False, "nonecheck": True,
                     "infer_types": None, "embedsignature": False}


def no_compiler() -> str | None:
    """Why no extension module can be built here, or None when one can."""
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]  # (setuptools reads CC too)
    if shutil.which(cc) is None:
        return f"no C compiler ({cc}) found"
    include = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not include.exists():
        return f"the Python headers ({include}) are not installed"
    return None


def mirror(tree: Path, declarations: bool = True) -> None:
    """dsl/ and engine/ as the installed package journeyctl (sources and data, no extension modules);
    without `declarations`, the .pxd files are left out (the plain compile, for comparison)."""
    skip = ["__pycache__", "*.so", "*.pyd", "*.c", *([] if declarations else ["*.pxd"])]
    for src, dst in PACKAGES.items():
        target = tree / dst
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(ROOT / src, target, ignore=shutil.ignore_patterns(*skip))


def modules() -> list[str]:
    return [m for m in MODULES if (ROOT / m).exists()]


def installed(module: str) -> str:
    top, rest = module.split("/", 1)
    return f"{PACKAGES[top]}/{rest}"


def build_cython(tree: Path, work: Path, jobs: int) -> list[Path]:
    from Cython.Build import cythonize
    from setuptools import Extension

    exts = [Extension(installed(m)[:-3].replace("/", "."), [installed(m)]) for m in modules()]
    cwd = os.getcwd()
    os.chdir(tree)
    try:
        compiled = cythonize(exts, compiler_directives=CYTHON_DIRECTIVES, build_dir=str(work / "c"),
                             nthreads=jobs, quiet=True)
        _build_ext(compiled, work, jobs)
    finally:
        os.chdir(cwd)
    return [work / "lib" / (installed(m)[:-3] + SUFFIX) for m in modules()]


def _build_ext(extensions, work: Path, jobs: int) -> None:
    from setuptools import Distribution

    dist = Distribution({"ext_modules": extensions, "script_args": [
        "build_ext", "--build-lib", str(work / "lib"), "--build-temp", str(work / "temp"), "-j", str(jobs)]})
    dist.parse_command_line()
    dist.run_commands()


def install(built: list[Path], work: Path, dest: Path) -> None:
    for so in built:
        target = dest / so.relative_to(work / "lib")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(so, target)


def clean_in_place() -> int:
    removed = 0
    for src in PACKAGES:
        for so in (ROOT / src).rglob(f"*{SUFFIX}"):
            so.unlink()
            removed += 1
    return removed


def in_place_target(so_relative: Path) -> Path:
    """journeyctl/engine/core/x.so -> engine/core/x.so in the source tree."""
    parts = so_relative.parts
    assert parts[0] == "journeyctl", so_relative
    return ROOT.joinpath(*parts[1:])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="build a separate tree here instead of in place")
    ap.add_argument("--clean", action="store_true", help="remove the in-place extension modules")
    ap.add_argument("--quick", action="store_true",
                    help="compile with -O1 and no debug information: the same C, built in a third of the time (CI)")
    ap.add_argument("--no-pxd", action="store_true",
                    help="leave the .pxd declarations out: the plain compile of the same source, for comparison")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    if args.clean:
        print(f"build_fast: removed {clean_in_place()} compiled modules; the pure-Python build runs")
        return 0
    why = no_compiler()
    if why is not None:
        print(f"build_fast: {why}: keeping the pure-Python build (it is the reference and works everywhere)")
        return 0
    if importlib.util.find_spec("Cython") is None:
        print("build_fast: Cython is not installed (`make` installs it from requirements.lock.txt)")
        return 1
    if args.quick:
        os.environ["CFLAGS"] = os.environ.get("CFLAGS", "") + " -O1 -g0"
    # a work folder kept between builds, so a rebuild compiles only what changed
    work = ROOT / "build" / "fast-work" / "-".join(
        ["cython", *(["plain"] if args.no_pxd else []), *(["quick"] if args.quick else [])])
    tree = args.out.resolve() if args.out else work / "src"
    tree.mkdir(parents=True, exist_ok=True)
    mirror(tree, declarations=not args.no_pxd)
    built = build_cython(tree, work, args.jobs)
    if args.out:
        install(built, work, tree)
        print(f"build_fast: {len(built)} modules compiled with Cython into {args.out}")
    else:
        clean_in_place()
        for so in built:
            shutil.copy2(so, in_place_target(so.relative_to(work / "lib")))
        print(f"build_fast: {len(built)} modules compiled with Cython in place "
              f"(`make pure` removes them; rebuild after changing their source)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
