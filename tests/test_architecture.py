"""The house rules (scripts/architecture.py): rooms import only what the table allows, the core reads
only the IR from dsl/, one module imports kafka, nothing imports the CLI, no import cycles; and the
package list in pyproject.toml names every package folder, so an install carries all of them."""
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _architecture():
    spec = importlib.util.spec_from_file_location("architecture", ROOT / "scripts" / "architecture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_house_rules_hold():
    assert _architecture().problems() == []


def test_the_rules_catch_a_forbidden_import(tmp_path, monkeypatch):
    arch = _architecture()
    (tmp_path / "engine" / "core").mkdir(parents=True)
    (tmp_path / "engine" / "cli").mkdir()
    (tmp_path / "dsl").mkdir()
    (tmp_path / "engine" / "core" / "engine.py").write_text(
        "import kafka\nfrom journeyctl.engine.cli.main import main\nfrom journeyctl.dsl.parser import parse\n")
    (tmp_path / "engine" / "cli" / "main.py").write_text("def f():\n    from journeyctl.engine.core import engine\n")
    (tmp_path / "dsl" / "parser.py").write_text("")
    monkeypatch.setattr(arch, "ROOT", tmp_path)
    found = "\n".join(arch.problems())
    assert "engine.core may not import engine.cli" in found
    assert "the core reads only the IR" in found
    assert "only journeyctl.engine.live.kafka_edge may" in found
    assert "import cycle: journeyctl.engine.cli.main -> journeyctl.engine.core.engine" in found


def test_pyproject_lists_every_package_folder():
    listed = set(re.findall(r'"(journeyctl\.[\w.]+)"', (ROOT / "pyproject.toml").read_text().split("[tool.setuptools]")[1]
                            .split("[tool.setuptools.package-dir]")[0]))
    folders = {"journeyctl." + ".".join(p.parent.relative_to(ROOT).parts)
               for top in ("dsl", "engine") for p in (ROOT / top).rglob("__init__.py")}
    assert folders == listed
