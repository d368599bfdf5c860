"""`make fast` and `make test-compiled` on a machine without a C compiler: one line that says so, exit 0,
nothing built, the pure build untouched (scripts/build_fast.py)."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_without_a_c_compiler_it_says_so_in_one_line_and_builds_nothing(tmp_path):
    out = tmp_path / "compiled"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_fast.py"), "--out", str(out)],
                          capture_output=True, text=True, env={**os.environ, "CC": "no-such-compiler"}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "build_fast: no C compiler (no-such-compiler) found: keeping the pure-Python build "
        "(it is the reference and works everywhere)"]
    assert not out.exists()
