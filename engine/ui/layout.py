"""Where each box of a journey's picture goes on the page: `journeyctl graph`'s graph (dsl/graph.py),
laid out in layers from top to bottom without Graphviz, which is not a Python package.

A journey's flow has no loops, so each step sits one layer below the deepest step leading to it;
the ends share the bottom layer, the "while running" note sits beside the start. Within a layer,
boxes are ordered by the mean position of what leads to them (a few sweeps of the barycenter
heuristic), which untangles the branches of `if`, `when` and `split` well enough for a dozen steps.
"""
from __future__ import annotations

from journeyctl.dsl.graph import Graph, _label, _wrap

CHAR_W = 7.2      # px per character of the 12 px font the page uses
LINE_H = 16
PAD = 10
COUNT_LINES = 2   # room under each step for its live counts
GAP_X = 36
GAP_Y = 56


def layout(g: Graph) -> dict:
    """{width, height, nodes: [{id, kind, lines, x, y, w, h}], edges: [{id, source, target, label, kind,
    points}]}; x, y of a node is its top-left corner."""
    ids = [n.id for n in g.nodes]
    rank = _ranks(g)
    layers: dict[int, list[str]] = {}
    for nid in ids:  # graph order first: the IR's order of steps
        layers.setdefault(rank[nid], []).append(nid)
    _untangle(g, layers)
    boxes = {}
    for n in g.nodes:
        lines = _label(n.lines)
        extra = COUNT_LINES if n.kind not in ("note",) else 0
        w = max(110, int(max(len(s) for s in lines + ["passed 000,000 · waiting 000,000"]) * CHAR_W) + 2 * PAD)
        h = (len(lines) + extra) * LINE_H + 2 * PAD
        boxes[n.id] = {"id": n.id, "kind": n.kind, "lines": lines, "w": w, "h": h}
    width, y = 0, PAD
    rows = []
    for r in sorted(layers):
        row = layers[r]
        row_w = sum(boxes[i]["w"] for i in row) + GAP_X * (len(row) - 1)
        rows.append((row, row_w, y))
        width = max(width, row_w)
        y += max(boxes[i]["h"] for i in row) + GAP_Y
    width += 2 * PAD
    for row, row_w, top in rows:
        x = (width - row_w) / 2
        for i in row:
            boxes[i]["x"], boxes[i]["y"] = round(x), top
            x += boxes[i]["w"] + GAP_X
    edges = []
    for k, e in enumerate(g.edges):
        a, b = boxes[e.source], boxes[e.target]
        if rank[e.source] == rank[e.target]:  # the note beside the start: out of its side
            start = (a["x"] + a["w"], a["y"] + a["h"] / 2) if a["x"] < b["x"] else (a["x"], a["y"] + a["h"] / 2)
        else:
            start = (a["x"] + a["w"] / 2, a["y"] + a["h"])
        end = (b["x"] + b["w"] / 2, b["y"])
        edges.append({"id": f"e{k}", "source": e.source, "target": e.target, "label": "\n".join(_wrap(e.label)),
                      "kind": e.kind, "points": [list(map(round, start)), list(map(round, end))]})
    return {"width": round(width), "height": round(y - GAP_Y + PAD), "nodes": [boxes[i] for i in ids],
            "edges": edges}


def _ranks(g: Graph) -> dict[str, int]:
    """Longest path from the start; ends at the bottom, the note beside the start."""
    out_edges: dict[str, list[str]] = {}
    for e in g.edges:
        out_edges.setdefault(e.source, []).append(e.target)
    kinds = {n.id: n.kind for n in g.nodes}
    rank = {"start": 0}
    order = _topological(g, out_edges)
    for nid in order:
        for t in out_edges.get(nid, ()):
            if kinds.get(t) != "end" and nid in rank:
                rank[t] = max(rank.get(t, 0), rank[nid] + 1)
    bottom = max(rank.values(), default=0) + 1
    for n in g.nodes:
        if n.kind == "end":
            rank[n.id] = bottom
        elif n.kind == "note":
            rank[n.id] = 0
        rank.setdefault(n.id, 1)
    return rank


def _topological(g: Graph, out_edges: dict) -> list[str]:
    seen, order = set(), []

    def visit(nid: str) -> None:
        if nid in seen:
            return
        seen.add(nid)
        for t in out_edges.get(nid, ()):
            visit(t)
        order.append(nid)

    for n in g.nodes:
        visit(n.id)
    return order[::-1]


def _untangle(g: Graph, layers: dict[int, list[str]], sweeps: int = 4) -> None:
    parents: dict[str, list[str]] = {}
    for e in g.edges:
        parents.setdefault(e.target, []).append(e.source)
    for _ in range(sweeps):
        position = {nid: i for row in layers.values() for i, nid in enumerate(row)}
        for r in sorted(layers)[1:]:
            row = layers[r]
            order = {nid: i for i, nid in enumerate(row)}

            def centre(nid: str) -> float:
                ps = [position[p] for p in parents.get(nid, ()) if p in position]
                return sum(ps) / len(ps) if ps else order[nid]

            row.sort(key=lambda nid: (centre(nid), order[nid]))
            position.update({nid: i for i, nid in enumerate(row)})
