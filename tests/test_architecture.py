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


def test_the_picture_is_drawn_from_the_code_as_it_is():
    """docs/architecture.svg, shown in the README, is what `make architecture` draws today."""
    drawn = _architecture().draw()
    assert (ROOT / "docs" / "architecture.svg").read_text(encoding="utf-8") == drawn, \
        "docs/architecture.svg is out of date: run make architecture"


def test_no_arrow_of_the_picture_crosses_a_box():
    """Every arrow runs between the boxes: sampled along each curve, no point falls inside a box it
    does not start or end at."""
    arch = _architecture()
    present = {room for room in arch.ROOMS if any(arch.room_of(m) == room for m in arch.modules())}
    edges = [(s, d) for s, d in sorted(arch.room_edges()) if s in present and d in present]
    pos, width = arch.layout(present, edges)
    crossings = []
    for (src, dst), points in arch.routes(pos, width, edges).items():
        over = pos[src][1] == pos[dst][1] and points[0][1] == pos[src][1]
        for x, y in _samples(arch._path(points, over)):
            for room, (bx, by) in pos.items():
                if room not in (src, dst) and bx < x < bx + arch.BOX_W and by < y < by + arch.BOX_H:
                    crossings.append(f"{src} -> {dst} crosses {room} at ({x:.0f}, {y:.0f})")
    assert crossings == []


def _samples(d: str, n: int = 40):
    """Points along an SVG path of M, L and C commands (absolute), n per segment."""
    tokens = re.findall(r"[MLC]|-?[\d.]+", d)
    x = y = 0.0
    i = 0
    while i < len(tokens):
        op = tokens[i]
        nums = []
        i += 1
        while i < len(tokens) and tokens[i] not in "MLC":
            nums.append(float(tokens[i]))
            i += 1
        if op == "M":
            x, y = nums
        elif op == "L":
            for t in range(1, n + 1):
                yield x + (nums[0] - x) * t / n, y + (nums[1] - y) * t / n
            x, y = nums
        else:
            (c1x, c1y, c2x, c2y, ex, ey) = nums
            for t in (k / n for k in range(1, n + 1)):
                u = 1 - t
                yield (u ** 3 * x + 3 * u * u * t * c1x + 3 * u * t * t * c2x + t ** 3 * ex,
                       u ** 3 * y + 3 * u * u * t * c1y + 3 * u * t * t * c2y + t ** 3 * ey)
            x, y = ex, ey


def test_the_readme_table_says_what_the_rules_say():
    """The README's Architecture table: a row per room, its "may import" column equal to MAY_IMPORT."""
    arch = _architecture()
    text = (ROOT / "README.md").read_text(encoding="utf-8").split("## Architecture", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            rows[_room(cells[0].strip("`"))] = {_room(r) for r in re.findall(r"`((?:engine/\w+|dsl)/)`", cells[2])}
    assert rows == {room: set(may) for room, may in arch.MAY_IMPORT.items()}


def _room(folder: str) -> str:
    return folder.strip("/").replace("/", ".")


def test_the_loops_and_the_in_memory_cluster_load_no_kafka():
    """The run and deliver loops reach a broker through engine/live/edge.py's seam, and the loop's tests
    run on engine/testing/memory_cluster.py without one: importing them must not load kafka-python,
    which only engine/live/kafka_edge.py (handed in by the commands) may."""
    import subprocess
    import sys

    code = ("import sys, journeyctl.engine.testing.memory_cluster, journeyctl.engine.live.loop, "
            "journeyctl.engine.deliver.loop; "
            "print(sorted(m for m in sys.modules if m == 'kafka' or m.startswith('kafka.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
