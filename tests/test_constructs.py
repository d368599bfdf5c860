"""Every construct of the language (LANGUAGE.md sections 1-8 and 10's segments), one data file each.

tests/constructs/NAME.journey compiles to exactly tests/constructs/NAME.ir.json.
The JSON is written by scripts/regen_constructs.py, never by hand: when a change
to the compiler is intended, regenerate and review the diff.
"""
import json
from pathlib import Path

import pytest

from journeyctl.dsl.compiler import compile_text

FOLDER = Path(__file__).parent / "constructs"
CASES = sorted(p.stem for p in FOLDER.glob("*.journey"))


def test_every_construct_has_its_expected_ir():
    missing = [name for name in CASES if not (FOLDER / f"{name}.ir.json").exists()]
    assert not missing, "run scripts/regen_constructs.py"
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", CASES)
def test_construct(name):
    source = FOLDER / f"{name}.journey"
    compiled = compile_text(source.read_text(encoding="utf-8"), source.name)
    assert [d for d in compiled.diagnostics if d.severity != "note"] == []
    expected = json.loads((FOLDER / f"{name}.ir.json").read_text(encoding="utf-8"))
    assert compiled.ir.to_dict() == expected


@pytest.mark.parametrize("name", CASES)
def test_version_ignores_comments_and_layout(name):
    """The version hash is of what the engine acts on: comments and blank lines must not move it."""
    text = (FOLDER / f"{name}.journey").read_text(encoding="utf-8")
    noisy = "# a comment added on top\n\n" + text.replace("\n", "  # trailing\n", 1)
    before = compile_text(text, f"{name}.journey").ir
    after = compile_text(noisy, f"{name}.journey").ir
    assert after.version == before.version
