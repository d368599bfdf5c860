"""The compiled build decides exactly what the pure build decides (issue 19): both builds' `simulate`, on a
generated stream of the repository's journeys with late events, re-sent messages and unusable lines, write
the same bytes, on 20,000 events with every output and on a million events, the standard benchmark's size,
with the actions and dead letters. Runs in `make test-compiled`, which compiles the build into a folder of its own, names it
in JOURNEYCTL_COMPILED and puts it first on the path (so this process, too, runs it)."""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generated_events import write_events, write_many

ROOT = Path(__file__).resolve().parent.parent
COMPILED = os.environ.get("JOURNEYCTL_COMPILED")
JOURNEYCTL = [sys.executable, "-c", "from journeyctl.engine.cli.main import program; program()"]

pytestmark = pytest.mark.skipif(not COMPILED, reason="the pure-against-compiled comparison runs in `make test-compiled`")


def env_for(build: str | None) -> dict:
    """This environment running `build` (None: the pure source) first on the path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if build:
        env["PYTHONPATH"] = str(Path(build).resolve())
    return env


def journeyctl(build: str | None, *args):
    done = subprocess.run([*JOURNEYCTL, *map(str, args)], capture_output=True, cwd=ROOT, timeout=600,
                          stdin=subprocess.DEVNULL, env={**env_for(build), "NO_COLOR": "1", "COLUMNS": "1000"})
    assert done.returncode == 0, done.stderr.decode()
    return done


def test_this_process_runs_the_compiled_build():
    from journeyctl.engine.obs.build import build_name
    import journeyctl.engine.core.engine as engine

    assert build_name() == "compiled (Cython)"
    assert not engine.__file__.endswith(".py")


def test_both_builds_write_the_same_bytes(tmp_path):
    events = tmp_path / "events.jsonl"
    write_events(events, 20_000, seed=3)
    runs = {}
    for build in (None, COMPILED):
        assert (b"compiled (Cython)" if build else b"pure Python") in journeyctl(build, "--version").stdout
        folder = tmp_path / ("compiled" if build else "pure")
        folder.mkdir()
        out = {}
        for fmt in ("jsonl", "summary"):
            done = journeyctl(build, "simulate", "journeys", "--events", events, "--format", fmt,
                              "--dead-letter", folder / f"dead-{fmt}.jsonl", "--profiles", folder / f"profiles-{fmt}.jsonl",
                              "--trace", "c11", "--state", f"sqlite:///{folder / fmt}.db")
            out[fmt] = (done.stdout, done.stderr.replace(str(folder).encode(), b"RUN"),
                        (folder / f"dead-{fmt}.jsonl").read_bytes(), (folder / f"profiles-{fmt}.jsonl").read_bytes())
        runs[build] = out
    pure, compiled = runs[None], runs[COMPILED]
    assert pure["jsonl"][0].count(b"\n") > 1_000 and b"late" in pure["jsonl"][1]
    assert compiled == pure


# How many events the long comparison replays: a million, the standard benchmark's size (about 16 s of
# `make test-compiled` on 2 cores; JOURNEYCTL_LONG_EVENTS=200000 for a slower machine). bench/builds.py
# compares the builds on the standard benchmark itself.
LONG = int(os.environ.get("JOURNEYCTL_LONG_EVENTS", "1000000"))


def test_a_long_stream_gives_the_same_actions_from_both_builds(tmp_path):
    """Over 100,000 customers, the two builds side by side, one per core."""
    events = tmp_path / "events.jsonl"
    write_many(events, LONG)
    runs = {}
    for name, build in (("pure", None), ("compiled", COMPILED)):
        out = tmp_path / f"{name}.jsonl"
        with open(out, "wb") as f:
            runs[name] = subprocess.Popen([*JOURNEYCTL, "simulate", "journeys", "--events", str(events), "--format",
                                           "jsonl", "--dead-letter", str(tmp_path / f"dead-{name}.jsonl")],
                                          stdout=f, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=ROOT,
                                          env=env_for(build))
    for name, proc in runs.items():
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err.decode()
    digest = {name: [hashlib.md5((tmp_path / f"{kind}{name}.jsonl").read_bytes()).hexdigest() for kind in ("", "dead-")]
              for name in runs}  # (a failure prints two digests, not two 50 MB strings)
    assert (tmp_path / "pure.jsonl").read_bytes().count(b"\n") > LONG // 20  # (about one action in 11 events)
    assert digest["compiled"] == digest["pure"]
