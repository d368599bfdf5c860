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
import html
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "journeyctl"
FOLDERS = {"dsl": "journeyctl.dsl", "engine": "journeyctl.engine"}

# room -> (what lives there, drawn row: 0 is the top). Within a row the picture orders rooms by their
# arrows to the row above, then by this table: deliver and testing sit beside live, which both import.
ROOMS = {
    "engine.cli": ("one module per command: wiring and rendering", 0),
    "engine.deliver": ("templates, providers, the deliver loop", 1),
    "engine.live": ("the run loop, outbox, the one Kafka module, broker", 1),
    "engine.testing": ("journey tests (reader, runner, matcher), in-memory source and sink", 1),
    "engine.ui": ("the web app over the store", 1),
    "engine.replay": ("replay and event files (simulate)", 2),
    "engine.obs": ("monitor, metrics, dashboard, renderers", 2),
    "engine.store": ("memory, SQLite, PostgreSQL stores", 2),
    "engine.core": ("the pure engine: events in, actions out", 3),
    "dsl": ("the language: text in, IR out; dsl/project/: loading a project", 4),
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


# ---- the picture: docs/architecture.svg (make architecture) ----------------------------------------

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN, TOP = 212, 62, 68, 84, 24, 92
LANE_PAD = 12        # how near a box a line passing it may run
# one colour per importing room, so a line can be followed by eye (red is kept for a forbidden import)
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]
FORBIDDEN = "#d62728"


def layout(present: set[str], edges: list[tuple[str, str]]) -> tuple[dict[str, tuple[float, float]], float]:
    """Box corners by room and the picture's width. Rows come from ROOMS; within a row, rooms are ordered
    by the mean place of the rooms they share an arrow with in the row above (fewer crossings), the
    table's order breaking ties."""
    rows: dict[int, list[str]] = {}
    for room in ROOMS:
        if room in present:
            rows.setdefault(ROOMS[room][1], []).append(room)
    width = max(len(r) for r in rows.values()) * (BOX_W + GAP_X) - GAP_X + 2 * MARGIN
    pos: dict[str, tuple[float, float]] = {}
    table = list(ROOMS)
    for i, (_, rooms) in enumerate(sorted(rows.items())):
        above = {room: x + BOX_W / 2 for room, (x, y) in pos.items() if y == TOP + (i - 1) * (BOX_H + GAP_Y)}

        def place(room: str) -> tuple[float, int]:
            xs = [above[o] for s, d in edges for o in (s, d) if room in (s, d) and o in above]
            return (sum(xs) / len(xs) if xs else width / 2, table.index(room))

        row_w = len(rooms) * (BOX_W + GAP_X) - GAP_X
        for k, room in enumerate(sorted(rooms, key=place)):
            pos[room] = ((width - row_w) / 2 + k * (BOX_W + GAP_X), TOP + i * (BOX_H + GAP_Y))
    return pos, width


def _gaps(pos: dict, width: float) -> dict[float, list[tuple[float, float]]]:
    """Row top -> the free stretches of that row (between and beside its boxes) a line may pass through."""
    out: dict[float, list[tuple[float, float]]] = {}
    for y in sorted({y for _, y in pos.values()}):
        xs = sorted(x for x, yy in pos.values() if yy == y)
        edges = [0.0] + [v for x in xs for v in (x, x + BOX_W)] + [width]
        out[y] = [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a >= 2 * LANE_PAD + 6]
    return out


def routes(pos: dict, width: float, edges: list[tuple[str, str]]) -> dict[tuple[str, str], list]:
    """Each arrow as points: its start on a box side, then, for every row it passes, a way down (or up)
    through a free stretch of that row, then its end on the other box. Arrows passing the same stretch
    share it side by side, in the order of where they would cross it in a straight line; the ends of the
    arrows are spread along each box side in the order of where their lines go, so they neither meet in
    one point nor cross next to the box. Same-row arrows go side to side (neighbours) or over the row."""
    gaps = _gaps(pos, width)
    centre = {room: (x + BOX_W / 2, y) for room, (x, y) in pos.items()}
    passes: dict[tuple[float, int], list] = {}   # (row top, stretch) -> [(ideal x, edge)]
    through: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for src, dst in edges:
        (x1, y1), (x2, y2) = centre[src], centre[dst]
        through[(src, dst)] = []
        lo, hi = sorted((y1, y2))
        for row_y in sorted((y for y in gaps if lo < y < hi), reverse=y2 < y1):
            ideal = x1 + (x2 - x1) * (row_y - y1) / (y2 - y1)
            k = min(range(len(gaps[row_y])), key=lambda k: (
                max(gaps[row_y][k][0] + LANE_PAD - ideal, ideal - gaps[row_y][k][1] + LANE_PAD, 0), k))
            passes.setdefault((row_y, k), []).append((ideal, x1, x2, (src, dst)))
            through[(src, dst)].append((row_y, k))
    lane: dict[tuple[tuple[str, str], float], float] = {}
    for (row_y, k), users in passes.items():
        a, b = gaps[row_y][k]
        for i, (*_, edge) in enumerate(sorted(users)):
            lane[(edge, row_y)] = a + LANE_PAD + (b - a - 2 * LANE_PAD) * (i + 1) / (len(users) + 1)
    # which side of which box each end sits on, and the x it heads for, to spread the ends in order
    sides: dict[tuple[str, str], list] = {}
    ends: dict[tuple[tuple[str, str], int], tuple[str, str]] = {}
    for src, dst in edges:
        (x1, y1), (x2, y2) = centre[src], centre[dst]
        lanes = [lane[((src, dst), row_y)] for row_y, _ in through[(src, dst)]]
        if y1 == y2:
            between = any(yy == y1 and min(x1, x2) < xx + BOX_W / 2 < max(x1, x2) for xx, yy in pos.values())
            if between:   # over the row, from top to top
                ends[((src, dst), 0)], ends[((src, dst), 1)] = (src, "top"), (dst, "top")
            else:         # side to side
                right = x2 > x1
                ends[((src, dst), 0)] = (src, "right" if right else "left")
                ends[((src, dst), 1)] = (dst, "left" if right else "right")
            heads = (x2, x1)
        else:
            down = y2 > y1
            ends[((src, dst), 0)] = (src, "bottom" if down else "top")
            ends[((src, dst), 1)] = (dst, "top" if down else "bottom")
            heads = (lanes[0] if lanes else x2, lanes[-1] if lanes else x1)
        for end in (0, 1):
            sides.setdefault(ends[((src, dst), end)], []).append((heads[end], (src, dst), end))
    at: dict[tuple[tuple[str, str], int], tuple[float, float]] = {}
    for (room, side), users in sides.items():
        x, y = pos[room]
        for i, (_, edge, end) in enumerate(sorted(users)):
            f = (i + 1) / (len(users) + 1)
            at[(edge, end)] = {"top": (x + BOX_W * f, y), "bottom": (x + BOX_W * f, y + BOX_H),
                               "left": (x, y + BOX_H * f), "right": (x + BOX_W, y + BOX_H * f)}[side]
    out = {}
    for edge in edges:
        points = [at[(edge, 0)]]
        down = centre[edge[1]][1] > centre[edge[0]][1]
        for row_y, _ in through[edge]:
            x = lane[(edge, row_y)]
            points += [(x, row_y), (x, row_y + BOX_H)] if down else [(x, row_y + BOX_H), (x, row_y)]
        out[edge] = points + [at[(edge, 1)]]
    return out


def _path(points: list[tuple[float, float]], over: bool) -> str:
    """Smooth: every bend leaves and arrives upright, so a curve between two rows stays between them."""
    (x, y), rest = points[0], points[1:]
    d = f"M{x:.1f},{y:.1f}"
    if len(points) == 2 and points[0][1] == points[1][1]:   # same row
        (bx, by) = points[1]
        if over:
            h = GAP_Y * 0.55
            return d + f" C{x:.1f},{y - h:.1f} {bx:.1f},{by - h:.1f} {bx:.1f},{by:.1f}"
        return d + f" L{bx:.1f},{by:.1f}"
    for i, (bx, by) in enumerate(rest):
        if i % 2 == 1:    # through a row: straight
            d += f" L{bx:.1f},{by:.1f}"
        else:
            m = (by - y) / 2
            d += f" C{x:.1f},{y + m:.1f} {bx:.1f},{by - m:.1f} {bx:.1f},{by:.1f}"
        x, y = bx, by
    return d


def _wrap(text: str, chars: int = 40) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= chars:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def draw() -> str:
    """The rooms as boxes in rows, and an arrow for each room that imports another today, in the colour
    of the importing room: every arrow is allowed by MAY_IMPORT, or `check` fails (a forbidden one is
    drawn red and dashed). No line crosses a box: arrows that skip rows pass between the boxes."""
    present = {room for room in ROOMS if any(room_of(m) == room for m in modules())}
    edges = [(s, d) for s, d in sorted(room_edges()) if s in present and d in present]
    pos, width = layout(present, edges)
    paths = routes(pos, width, edges)
    height = max(y for _, y in pos.values()) + BOX_H + MARGIN + 44
    colours = {room: PALETTE[i % len(PALETTE)] for i, room in enumerate(r for r in ROOMS if any(s == r for s, _ in edges))}
    used = sorted({colours[s] if d in MAY_IMPORT.get(s, ()) else FORBIDDEN for s, d in edges})
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif">',
           "<defs>" + "".join(f'<marker id="m{c[1:]}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" '
                              f'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>'
                              for c in used) + "</defs>",
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{MARGIN}" y="{MARGIN + 12}" font-size="16" font-weight="bold">journeyctl: the rooms and the '
           'imports between them</text>',
           f'<text x="{MARGIN}" y="{MARGIN + 34}" font-size="12" fill="#333">An arrow: the room it leaves imports '
           'the room it points at (its colour is the importing room\'s). Drawn from the code and the rules in '
           'scripts/architecture.py</text>',
           f'<text x="{MARGIN}" y="{MARGIN + 50}" font-size="12" fill="#333">by `make architecture`; '
           'tests/test_architecture.py fails on an import the rules do not allow (drawn red) and on an '
           'out-of-date picture.</text>']
    for src, dst in edges:
        colour = colours[src] if dst in MAY_IMPORT.get(src, ()) else FORBIDDEN
        dash = "" if colour != FORBIDDEN else ' stroke-dasharray="6 4"'
        over = pos[src][1] == pos[dst][1] and paths[(src, dst)][0][1] == pos[src][1]
        out.append(f'<path d="{_path(paths[(src, dst)], over)}" fill="none" stroke="{colour}" stroke-width="1.6" '
                   f'stroke-opacity="0.85"{dash} marker-end="url(#m{colour[1:]})"><title>{_title(src)} imports '
                   f'{_title(dst)}</title></path>')
    for room, (x, y) in pos.items():
        fill = "#fff4d6" if room == "engine.core" else "#eef3fb"
        out.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" '
                   f'stroke="{colours.get(room, "#335")}" stroke-width="2"/>')
        out.append(f'<text x="{x + BOX_W / 2:.0f}" y="{y + 21:.0f}" font-size="15" font-weight="bold" '
                   f'text-anchor="middle">{_title(room)}</text>')
        for i, line in enumerate(_wrap(ROOMS[room][0])[:2]):
            out.append(f'<text x="{x + BOX_W / 2:.0f}" y="{y + 38 + 13 * i:.0f}" font-size="11" '
                       f'text-anchor="middle" fill="#333">{html.escape(line)}</text>')
    out.append(f'<text x="{MARGIN}" y="{height - MARGIN:.0f}" font-size="12" fill="#333">Also checked: only '
               f'{KAFKA_MODULE.replace("journeyctl.", "").replace(".", "/")}.py imports kafka; the core reads '
               'only the IR (dsl/ir.py) from dsl/; nothing imports engine/cli/; no import cycles.</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _title(room: str) -> str:
    return room.replace(".", "/") + "/"


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
