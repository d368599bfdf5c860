"""A process that replayed leaves its state to the operating system (engine/replay/leave.py): only where
the process ends with its command, and without freeing it at the interpreter's shutdown either."""
import gc
import subprocess
import sys
import weakref
from pathlib import Path

from journeyctl.engine.replay.leave import leave_for_exit

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = [sys.executable, "-c", "from journeyctl.engine.cli.main import program; program()"]
MAIN = [sys.executable, "-c", "from journeyctl.engine.cli.main import main; main()"]

# A state whose freeing says so on stdout, left (or not) as simulate leaves its engine.
SCRIPT = """
import sys
from journeyctl.engine.replay import leave

class State:
    def __del__(self):
        print("freed", flush=True)

if sys.argv[1] == "ends":
    leave.ends_with_command()
state = State()
state.customers = {"c%d" % i: State() for i in range(3)}  # a tree, no cycle: as the engine's state is
leave.leave_for_exit(state, process_ends=sys.argv[1] == "child")
del state
print("returned", flush=True)
if sys.argv[1] == "child":  # as multiprocessing ends a --jobs process
    import os
    os._exit(0)
"""


def run(mode: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr, done.stderr
    return done.stdout.split()


def test_a_process_that_ends_with_its_command_never_frees_what_it_left():
    assert run("ends") == ["returned"]
    assert run("child") == ["returned"]


def test_a_process_that_goes_on_frees_it_as_before():
    assert run("goes-on") == ["freed"] * 4 + ["returned"]  # as the caller lets go of it

    class State:
        pass
    state = State()
    alive = weakref.ref(state)
    leave_for_exit(state)  # this test's process never said it ends with a command
    del state
    gc.collect()
    assert alive() is None


def test_the_program_writes_what_the_group_writes(tmp_path):
    """The installed `journeyctl` (program) leaves its replay at the end: the output is all there."""
    outs = []
    for cmd in (PROGRAM, MAIN):
        done = subprocess.run([*cmd, "simulate", str(ROOT / "journeys"), "--events", str(ROOT / "examples" / "events.jsonl"),
                               "--format", "jsonl", "--dead-letter", str(tmp_path / "dead.jsonl")],
                              capture_output=True, timeout=120, cwd=ROOT)
        assert done.returncode == 0, done.stderr.decode()
        outs.append((done.stdout, done.stderr, (tmp_path / "dead.jsonl").read_bytes()))
    assert outs[0] == outs[1] and outs[0][0].count(b"\n") > 5 and outs[0][2]
