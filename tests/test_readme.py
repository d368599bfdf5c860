"""The README and docs/ a user reads: the diagnostic table is the codes table, links lead to files in the
repository, and the language reference keeps up with the grammar (a stale copy would mislead its readers)."""
import re
from pathlib import Path

import pytest

from journeyctl.dsl.codes import CODES, markdown_table
from journeyctl.dsl.compiler import Options, compile_text
from journeyctl.dsl.parser import KEYWORDS

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_lists_every_code_as_the_table_says():
    assert markdown_table() in README.read_text(encoding="utf-8")


# ---- the user's docs stand alone: what they link to is in the repository ---------------------------

ROOT = README.parent
DOCS = [README, *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_point_at_files_in_the_repository(doc):
    broken = []
    for target in LINK.findall(FENCE.sub("", doc.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists() or ROOT.resolve() not in path.resolve().parents:
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_never_send_a_user_outside_the_repository(doc):
    """A user's clone has no ../shared folder and no copy of "the spec": the reference is docs/language.md."""
    text = doc.read_text(encoding="utf-8")
    assert "../shared" not in text and "/work/" not in text
    assert not re.search(r"spec section|LANGUAGE\.md", text)


LANGUAGE = ROOT / "docs" / "language.md"


def test_the_language_reference_covers_every_keyword_of_the_grammar():
    text = LANGUAGE.read_text(encoding="utf-8")
    missing = [k for k in KEYWORDS if not re.search(rf"\b{k}\b", text)]
    assert missing == []


def test_the_journeys_in_the_language_reference_compile():
    """The reference's examples are journeys a reader copies: each must check clean, as written."""
    blocks = [b for b in FENCE.findall(LANGUAGE.read_text(encoding="utf-8"))
              if re.match(r"\s*(on |journey |segment )", b)]
    assert len(blocks) >= 3
    for block in blocks:
        found = compile_text(block, "example.journey", Options(segments={"loyal_runners"})).diagnostics
        assert [(d.code, d.message) for d in found if d.severity == "error"] == [], block


def test_every_code_the_docs_name_exists():
    named = set(re.findall(r"\bJ\d{3}\b", "".join(d.read_text(encoding="utf-8") for d in DOCS)))
    assert named and named <= set(CODES)
