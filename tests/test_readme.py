"""The README's diagnostic table is the codes table: a stale copy would mislead the people who read it."""
from pathlib import Path

from journeyctl.dsl.codes import markdown_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_lists_every_code_as_the_table_says():
    assert markdown_table() in README.read_text(encoding="utf-8")
