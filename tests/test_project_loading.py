"""Project loading has one home, dsl/project/ (issue 19): the commands reach the config, the catalog and
the journey files only through `load_project`, and dsl/ imports without cycles (config.py and catalog.py
once imported each other)."""
from __future__ import annotations

import ast
from pathlib import Path

from journeyctl.dsl.project import load_project

ROOT = Path(__file__).resolve().parent.parent
LOADERS = {"load_paths", "load_journeys", "load_config", "load_catalog", "read_source"}


def _imports(path: Path, package: str) -> set[str]:
    """Modules of journeyctl.dsl that `path` imports, at any level of the file (lazy imports too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names = [f"{module}.{a.name}" for a in node.names]
            out |= {n for n in [module, *names] if n.startswith("journeyctl.dsl")}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("journeyctl.dsl")}
    return out


def _dsl_modules() -> dict[str, Path]:
    modules = {}
    for path in (ROOT / "dsl").rglob("*.py"):
        parts = path.relative_to(ROOT / "dsl").with_suffix("").parts
        name = ".".join(["journeyctl.dsl", *[p for p in parts if p != "__init__"]])
        modules[name] = path
    return modules


def test_dsl_imports_have_no_cycles():
    modules = _dsl_modules()
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        graph[name] = {m for m in _imports(path, package) if m in modules and m != name}
    cycles = []

    def visit(node, stack, on_stack, done):
        on_stack.add(node)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt in on_stack:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, stack, on_stack, done)
        stack.pop()
        on_stack.discard(node)
        done.add(node)

    done: set = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [], set(), done)
    assert cycles == []


def test_the_commands_load_projects_only_through_load_project():
    """No module of the engine calls the pieces the loader is made of: a command that did would load the
    journeys under other settings than the others (demo --offline once ran without journeyctl.yaml)."""
    callers = []
    for path in sorted((ROOT / "engine").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in LOADERS:
                    callers.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert callers == []


def test_load_project_gives_plain_records_with_the_config_applied(tmp_path):
    (tmp_path / "journeyctl.yaml").write_text("channels:\n  push: push_token\n  line:\n")
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "a.journey").write_text("on signup -> send line\n")
    (tmp_path / "j" / "s.journey").write_text("segment s\n  where count(signup) > 1\n")
    project = load_project([tmp_path / "j"], cwd=tmp_path)
    assert project.ok and not project.cannot_check and project.files_checked == 2
    assert [ir.id for ir in project.journeys] == ["a"] and [ir.id for ir in project.segments] == ["s"]
    assert project.config.contacts == {"push": "push_token"}
    assert set(project.sources) == {str(tmp_path / "j" / "a.journey"), str(tmp_path / "j" / "s.journey")}


def test_a_broken_config_stops_the_load_before_the_journeys(tmp_path):
    (tmp_path / "journeyctl.yaml").write_text("chanels:\n  line:\n")
    (tmp_path / "a.journey").write_text("on signup -> send line\n")
    project = load_project([tmp_path / "a.journey"], cwd=tmp_path)
    assert [(d.code, d.span.line, d.message) for d in project.diagnostics] == [
        ("J009", 1, 'unknown key "chanels"')]
    assert project.cannot_check and project.compiled == [] and project.files_checked == 0
    assert str(tmp_path / "journeyctl.yaml") in project.sources  # for the source line under the message
