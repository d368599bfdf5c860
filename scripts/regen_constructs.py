#!/usr/bin/env python3
"""Write tests/constructs/NAME.ir.json from each NAME.journey: the expected IR is generated, never typed.

Run it after an intended change to the compiler or the IR, then read the diff:
the diff is the review. A construct file that does not compile cleanly is a
mistake in the test data, so the script stops rather than writing a bad answer.

usage: scripts/regen_constructs.py [--check]   (--check: exit 1 if any file would change)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from journeyctl.dsl.compiler import compile_text  # noqa: E402

FOLDER = ROOT / "tests" / "constructs"


def expected_ir(source: Path) -> str:
    compiled = compile_text(source.read_text(encoding="utf-8"), source.name)
    if [d for d in compiled.diagnostics if d.severity != "note"] or compiled.ir is None:
        problems = "\n".join(f"  {d.span.line}:{d.span.column} {d.code} {d.message}" for d in compiled.diagnostics)
        raise SystemExit(f"{source.relative_to(ROOT)} does not compile cleanly:\n{problems}")
    return json.dumps(compiled.ir.to_dict(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    changed = []
    for source in sorted(FOLDER.glob("*.journey")):
        target = source.with_suffix(".ir.json")
        text = expected_ir(source)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            changed.append(target.name)
            if not check:
                target.write_text(text, encoding="utf-8")
    stale = [p.name for p in FOLDER.glob("*.ir.json") if not p.with_name(p.name[: -len(".ir.json")] + ".journey").exists()]
    for name in stale:
        changed.append(name)
        if not check:
            (FOLDER / name).unlink()
    verb = "would change" if check else "written"
    print(f"{len(changed)} {verb}" + (": " + ", ".join(changed) if changed else ""))
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
