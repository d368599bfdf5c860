"""Type-check the packages named in pyproject.toml's [tool.mypy] (make test runs this).

    python scripts/typecheck.py                        # the packages of [tool.mypy], as make test does
    python scripts/typecheck.py -p journeyctl.engine.core   # another room, to see what it would take

The folders dsl/ and engine/ install as journeyctl.dsl and journeyctl.engine through an editable-install
import hook that mypy cannot follow. So mypy is given an import root of its own, .mypy_cache/root, where
`journeyctl` is a link to this repository: `journeyctl.dsl.ir` is then dsl/ir.py, found the way Python
finds it. The link lives in mypy's cache folder (ignored by git, made again when missing), and the paths
in mypy's messages are written back as the repository's own (dsl/ir.py:12: ...), so an editor can open
them.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = ROOT / ".mypy_cache" / "root" / "journeyctl"   # [tool.mypy] mypy_path is its folder
SHOWN_AS = os.path.join(".mypy_cache", "root", "journeyctl", "")


def ensure_root() -> None:
    """The link .mypy_cache/root/journeyctl -> the repository (relative, so a moved clone still works)."""
    if LINK.is_symlink() and LINK.resolve() == ROOT:
        return
    LINK.parent.mkdir(parents=True, exist_ok=True)
    if LINK.is_symlink() or LINK.exists():
        LINK.unlink()
    LINK.symlink_to(os.path.relpath(ROOT, LINK.parent), target_is_directory=True)


def main(argv: list[str]) -> int:
    from mypy import api

    os.chdir(ROOT)  # mypy reads [tool.mypy] from ./pyproject.toml
    ensure_root()
    out, err, status = api.run(argv)
    sys.stdout.write(out.replace(SHOWN_AS, ""))
    sys.stderr.write(err.replace(SHOWN_AS, ""))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
