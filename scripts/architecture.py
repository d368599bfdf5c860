"""The house rules: which room may import which, checked against the code and drawn as one picture.

    python scripts/architecture.py check              # exit 1 and a line per broken rule
    python scripts/architecture.py draw docs/architecture.svg

The rules are data (ROOMS, MAY_IMPORT below), so the test that guards them
(tests/test_architecture.py) and the picture in the README come from the same table. Imports are
read with `ast` from the source, those inside functions included: a lazy import is still a
dependency, and a cycle through one is still a cycle.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "journeyctl"
FOLDERS = {"dsl": "journeyctl.dsl", "engine": "journeyctl.engine"}

# room -> (what lives there, drawn row: 0 is the top)
ROOMS = {
    "engine.cli": ("one module per command: wiring and rendering", 0),
    "engine.live": ("the run loop, outbox, the one Kafka module, broker", 1),
    "engine.deliver": ("templates, providers, the deliver loop", 1),
    "engine.ui": ("the web app over the store", 1),
    "engine.testing": ("journey tests, in-memory source and sink", 1),
    "engine.replay": ("replay and event files (simulate)", 2),
    "engine.obs": ("monitor, metrics, dashboard, renderers", 2),
    "engine.store": ("memory, SQLite, PostgreSQL stores", 2),
    "engine.core": ("the pure engine: events in, actions out", 3),
    "dsl": ("the language: text in, IR out; project loading", 4),
}

# room -> the rooms it may import (besides itself). Nothing imports cli; the core reads only the IR.
MAY_IMPORT = {
    "engine.cli": {"engine.live", "engine.deliver", "engine.ui", "engine.testing", "engine.replay",
                   "engine.obs", "engine.store", "engine.core", "dsl"},
    "engine.live": {"engine.replay", "engine.obs", "engine.store", "engine.core", "dsl"},
    "engine.deliver": {"engine.live", "engine.obs", "engine.store", "engine.core", "dsl"},
    "engine.ui": {"engine.obs", "engine.store", "engine.core", "dsl"},
    "engine.testing": {"engine.live", "engine.replay", "engine.obs", "engine.store", "engine.core", "dsl"},
    "engine.replay": {"engine.store", "engine.core", "dsl"},
    "engine.obs": {"engine.core", "dsl"},
    "engine.store": {"engine.core"},
    "engine.core": {"dsl"},
    "dsl": set(),
}
CORE_MAY_READ_FROM_DSL = {"journeyctl.dsl.ir"}   # the core imports only the IR from dsl/
KAFKA_MODULE = "journeyctl.engine.live.kafka_edge"  # the only module that imports kafka


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for folder, dotted in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join((dotted, *parts))] = path
    return out


def imports(name: str, path: Path) -> set[str]:
    """Every module `name` imports, absolute, at any depth of the file."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


def room_of(module: str) -> str | None:
    if not module.startswith(PACKAGE + "."):
        return None
    parts = module.split(".")[1:]
    if parts[0] == "dsl":
        return "dsl"
    return ".".join(parts[:2]) if len(parts) > 1 else None


def graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    mods = modules()
    return {name: {m for m in imports(name, path) if m in mods and m != name} for name, path in mods.items()}


def problems() -> list[str]:
    mods = modules()
    edges = graph()
    out = []
    for name, path in mods.items():
        src = room_of(name)
        if src is None:
            continue
        if src not in ROOMS:
            out.append(f"{name}: room {src} is not in the table (scripts/architecture.py ROOMS)")
            continue
        for target in sorted(edges[name]):
            dst = room_of(target)
            if dst is None or dst == src:
                continue
            if dst not in MAY_IMPORT[src]:
                out.append(f"{name} imports {target}: {src} may not import {dst}")
            elif src == "engine.core" and dst == "dsl" and target not in CORE_MAY_READ_FROM_DSL:
                out.append(f"{name} imports {target}: the core reads only the IR from dsl/")
        if name != KAFKA_MODULE and any(m == "kafka" or m.startswith("kafka.") for m in imports(name, path)):
            out.append(f"{name} imports kafka: only {KAFKA_MODULE} may")
    out.extend(f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(edges))
    return out


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component) + [sorted(component)[0]])

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def room_edges() -> dict[tuple[str, str], int]:
    """(from room, to room) -> how many imports go that way."""
    counts: dict = {}
    for name, targets in graph().items():
        src = room_of(name)
        for t in targets:
            dst = room_of(t)
            if src and dst and src != dst:
                counts[(src, dst)] = counts.get((src, dst), 0) + 1
    return counts


def draw() -> str:
    """The rooms as boxes in rows and an arrow for each room that imports another today: every arrow
    is allowed by MAY_IMPORT, or `check` fails (a forbidden one is drawn red)."""
    present = {room for room in ROOMS if any(room_of(m) == room for m in modules())}
    rows: dict[int, list[str]] = {}
    for room in ROOMS:
        if room in present:
            rows.setdefault(ROOMS[room][1], []).append(room)
    box_w, box_h, gap_x, gap_y, margin = 250, 56, 40, 70, 30
    width = max(len(r) for r in rows.values()) * (box_w + gap_x) - gap_x + 2 * margin
    pos = {}
    for row_i, (row, rooms) in enumerate(sorted(rows.items())):
        row_w = len(rooms) * (box_w + gap_x) - gap_x
        x0 = (width - row_w) / 2
        for i, room in enumerate(rooms):
            pos[room] = (x0 + i * (box_w + gap_x), margin + 40 + row_i * (box_h + gap_y))
    height = max(y for _, y in pos.values()) + box_h + margin + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif">',
           '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#557"/></marker></defs>',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{margin}" y="{margin + 8}" font-size="15" font-weight="bold">journeyctl: rooms and the '
           'imports between them (an arrow: "imports"; checked by tests/test_architecture.py)</text>']
    edges = [(src, dst) for src, dst in sorted(room_edges()) if src in pos and dst in pos]
    # spread the ends of the arrows along the box edges, ordered by where the other end is, so they
    # neither meet in one point nor cross near the boxes
    starts = {room: sorted((d for s_, d in edges if s_ == room), key=lambda d: pos[d][0]) for room in pos}
    ends = {room: sorted((s_ for s_, d in edges if d == room), key=lambda s_: pos[s_][0]) for room in pos}

    def along(room, others, other):
        x, _ = pos[room]
        i, n = others.index(other), len(others)
        return x + box_w * (i + 1) / (n + 1)

    for src, dst in edges:
        y1, y2 = pos[src][1], pos[dst][1]
        down = y2 > y1
        ax, ay = along(src, starts[src], dst), y1 + (box_h if down else 0)
        bx, by = along(dst, ends[dst], src), y2 + (0 if down else box_h)
        colour = "#557" if dst in MAY_IMPORT.get(src, ()) else "#c00"
        out.append(f'<line x1="{ax:.0f}" y1="{ay:.0f}" x2="{bx:.0f}" y2="{by:.0f}" stroke="{colour}" '
                   f'stroke-opacity="0.7" stroke-width="1.4" marker-end="url(#a)"/>')
    for room, (x, y) in pos.items():
        title = room.replace("engine.", "engine/") + ("/" if room != "dsl" else "/")
        out.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{box_w}" height="{box_h}" rx="8" '
                   f'fill="{"#e8f0fe" if room != "engine.core" else "#fff4d6"}" stroke="#335"/>')
        out.append(f'<text x="{x + box_w / 2:.0f}" y="{y + 22:.0f}" font-size="15" font-weight="bold" '
                   f'text-anchor="middle">{title}</text>')
        out.append(f'<text x="{x + box_w / 2:.0f}" y="{y + 41:.0f}" font-size="10.5" text-anchor="middle" '
                   f'fill="#333">{ROOMS[room][0]}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        found = problems()
        for line in found:
            print(line)
        print("the house rules hold" if not found else f"{len(found)} broken house rules")
        return 1 if found else 0
    if argv[:1] == ["draw"] and len(argv) == 2:
        Path(argv[1]).write_text(draw(), encoding="utf-8")
        print(f"wrote {argv[1]}")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
