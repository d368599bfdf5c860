"""The end of a process that replayed: what it built is left to the operating system, not freed.

Its own module, importing nothing of ours: the `journeyctl` program says so before every command
(cli/main.py:program), and `validate` must not pay for the engine's imports.
"""
from __future__ import annotations

import gc

_LEFT: list = []  # what leave_for_exit keeps, and the list itself (a cycle)
_ending = False   # ends_with_command was said


def ends_with_command() -> None:
    """Said by the `journeyctl` program (cli/main.py:program) before it runs a command: this process ends
    when the command does, so leave_for_exit may keep what it is given. Not said where commands run in a
    process that goes on (a test's CliRunner), which frees everything as before."""
    global _ending
    _ending = True


def leave_for_exit(*objects, process_ends: bool = False) -> None:
    """A replay's engine and results, left for the operating system to take back with the process's memory
    rather than freed object by object as the command returns: 100,000 customers' states are millions of
    small objects, and freeing them was 5% of `simulate` at 1M events (perf). Only in a process that ends
    next (ends_with_command, or `process_ends`: a `--jobs` process, which multiprocessing ends with
    os._exit). Held in a list that holds itself, frozen: neither reference counting nor the collector's
    last pass at the interpreter's shutdown (which leaves frozen objects alone) frees them."""
    if _ending or process_ends:
        if not _LEFT:
            _LEFT.append(_LEFT)
        _LEFT.extend(objects)
        gc.freeze()
