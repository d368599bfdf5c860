"""Finding journey tests: the `NAME.test.yaml` files under folders, or beside the journeys named."""
from __future__ import annotations

import os
from pathlib import Path

from journeyctl.engine.testing.reader import SUFFIXES


def is_test_file(path: Path) -> bool:
    return path.name.endswith(SUFFIXES)


def discover(paths) -> tuple[list[str], list[str]]:
    """(test files, problems). A folder gives its `*.test.yaml` files at any depth (hidden folders
    skipped); a `NAME.journey` gives the `NAME.test.yaml` beside it; any other file is taken as a test."""
    found: list[str] = []
    problems: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            here = sorted(str(f) for f in p.rglob("*") if is_test_file(f) and not f.is_dir()
                          and not any(part.startswith(".") for part in f.relative_to(p).parts[:-1]))
            if not here:
                problems.append(f"{raw}: no journey tests (*.test.yaml) in this folder")
            found += here
        elif p.suffix == ".journey" and p.is_file():
            test = next((p.with_name(p.stem + s) for s in SUFFIXES if p.with_name(p.stem + s).is_file()), None)
            if test is None:
                problems.append(f"{raw}: no test beside this journey (write {p.with_name(p.stem + SUFFIXES[0])})")
            else:
                found.append(str(test))
        elif os.path.lexists(p):  # read only if it is a regular file: load_test_file says why not
            found.append(str(p))
        else:
            problems.append(f"{raw}: no such file or folder")
    unique = list(dict.fromkeys(found))
    return unique, problems
