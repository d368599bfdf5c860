"""Reproducible installs: requirements.lock.txt pins, with hashes, everything pyproject.toml and
requirements.in ask for, and the environment the tests run in holds exactly those versions (`make`
installs from the lock, so CI tests what the lock says, not whatever was newest that day)."""
from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT


def _lock() -> dict[str, tuple[Requirement, list[str]]]:
    """name -> (the pinned requirement, its hashes), from the lock file's entries."""
    entries: dict = {}
    current = None
    for line in (ROOT / "requirements.lock.txt").read_text().splitlines():
        text = line.strip().removesuffix("\\").strip()
        if not text or text.startswith("#"):
            continue
        if line[0].isspace():
            assert current is not None and text.startswith("--hash=sha256:"), line
            entries[current][1].append(text)
        else:
            req = Requirement(text)
            current = canonicalize_name(req.name)
            assert current not in entries, f"{req.name} is pinned twice"
            entries[current] = (req, [])
    return entries


def _asked_for() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    texts += [line.split("#")[0].strip() for line in (ROOT / "requirements.in").read_text().splitlines()]
    return [Requirement(t) for t in texts if t]


def test_every_entry_is_one_exact_version_with_hashes():
    lock = _lock()
    assert len(lock) > 20
    for name, (req, hashes) in lock.items():
        [spec] = req.specifier
        assert spec.operator == "==" and "*" not in spec.version, f"{name}: {req} is not one exact version"
        assert hashes, f"{name} has no hash"


def test_the_lock_pins_everything_pyproject_and_requirements_in_ask_for():
    lock = _lock()
    for want in _asked_for():
        name = canonicalize_name(want.name)
        assert name in lock, f"{want} is not in requirements.lock.txt: run `make lock`"
        pinned = next(iter(lock[name][0].specifier)).version
        assert want.specifier.contains(pinned, prereleases=True), \
            f"the lock pins {want.name} {pinned}, which {want} does not allow: run `make lock`"
        for extra in want.extras:  # psycopg[binary]: what the extra brings is pinned too
            assert all(canonicalize_name(r.name) in lock for r in _extra_requirements(want.name, extra)), \
                f"{want} needs what its extra {extra!r} brings in the lock: run `make lock`"


def _extra_requirements(name: str, extra: str) -> list[Requirement]:
    from importlib.metadata import requires

    reqs = [Requirement(r) for r in requires(name) or []]
    return [r for r in reqs if r.marker is not None and r.marker.evaluate({"extra": extra})
            and not r.marker.evaluate({"extra": ""})]


def test_the_installed_versions_are_the_locked_ones():
    wrong = []
    for name, (req, _) in _lock().items():
        if req.marker is not None and not req.marker.evaluate():
            continue  # not for this platform or Python (colorama is for Windows)
        pinned = next(iter(req.specifier)).version
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = None
        if installed != pinned:
            wrong.append(f"{name}: {installed or 'not installed'} (the lock says {pinned})")
    assert not wrong, "this environment is not the locked one (`make install` installs it):\n" + "\n".join(wrong)
