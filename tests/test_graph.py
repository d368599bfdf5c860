"""`journeyctl graph`: pictures made from the IR, and the IR expression printer behind their labels."""
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from journeyctl.dsl.compiler import compile_text
from journeyctl.dsl.graph import build, dot, expression, mermaid, render, text
from journeyctl.engine.cli.main import main
from strategies import journeys  # tests/strategies.py (pytest puts tests/ on sys.path)

ROOT = Path(__file__).resolve().parent.parent
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")

CART = """\
journey cart_recovery "Cart recovery"
  description "Win back shoppers who leave a cart behind"
  audience profile.marketing_consent == true
  reentry after 7d
  goal purchase within 3d
  exit on account_deleted
  quiet hours 21:00-08:00
  cap whatsapp 1 per 1d
  holdout 10%

  on cart_abandoned where cart_value >= 50
  wait 30m unless purchase or cart_emptied
  send whatsapp "cart_reminder" or sms "cart_reminder_sms" with name = profile.first_name
  wait 1d unless purchase
  if profile.ltv > 500
    send email "cart_reminder_vip" with discount = "15%"
  else
    send email
"""

EVERYTHING = """\
journey everything
  on signup
  when order where total > 10 within 2d
    split
      a 25%
        set profile.tier = "silver"
      b 75%
        emit upgraded with tier = "gold"
  or when unsubscribe within 2d
    exit
  otherwise
    wait until 09:00
  if now() - last_seen(app_opened) > 30d
    send push "come_back"
  else if count(purchase where amount > 5 within 7d) >= 2 and not profile.vip
    send email "thanks" with n = count(purchase where amount > 5 within 7d)
"""


def _ir(source: str):
    compiled = compile_text(source, "journey.journey")
    assert compiled.ir is not None, [d.message for d in compiled.diagnostics]
    return compiled.ir


def test_text_outline_of_cart_recovery():
    assert text(_ir(CART)) == """\
journey cart_recovery "Cart recovery"
  Win back shoppers who leave a cart behind

entry
  audience profile.marketing_consent == true
  reentry after 7d

while running
  quiet hours 21:00-08:00
  cap whatsapp 1 per 1d
  holdout 10%
  goal purchase within 3d  => converted
  exit on account_deleted  => exited

flow
      on cart_abandoned where cart_value >= 50
s1    wait 30m
        unless purchase  => converted
        unless cart_emptied  => cancelled
s2    send whatsapp "cart_reminder" or sms "cart_reminder_sms" with name = profile.first_name
s3    wait 1d
        unless purchase  => converted
s4    if profile.ltv > 500
s5      send email "cart_reminder_vip" with discount = "15%"
      else
s6      send email "cart_recovery"
      => completed"""


def test_the_graph_has_every_state_and_every_way_out():
    g = build(_ir(CART))
    ids = {n.id for n in g.nodes}
    assert {"start", "running", "s1", "s2", "s3", "s4", "s5", "s6"} <= ids
    assert {"r_completed", "r_converted", "r_cancelled", "r_exited"} <= ids
    edges = {(e.source, e.target, e.label) for e in g.edges}
    assert ("s1", "r_converted", "unless purchase") in edges
    assert ("s1", "r_cancelled", "unless cart_emptied") in edges
    assert ("s4", "s5", "yes") in edges and ("s4", "s6", "no") in edges
    assert ("running", "r_converted", "goal purchase\nwithin 3d") in edges
    assert ("running", "r_exited", "exit on account_deleted") in edges
    assert ("s6", "r_completed", "") in edges
    labels = {n.id: n.lines for n in g.nodes}
    assert labels["s2"] == ['send whatsapp "cart_reminder"', 'or sms "cart_reminder_sms"', "with name"]
    assert labels["s6"] == ['send email "cart_recovery"']  # a send without a template uses the journey id
    assert labels["start"][:2] == ["on cart_abandoned", "where cart_value >= 50"]


def test_branches_splits_and_when_are_labelled():
    ir = _ir(EVERYTHING)
    edges = {(e.source, e.label) for e in build(ir).edges}
    assert ("s1", "order\nwhere total > 10") in edges
    assert ("s1", "unsubscribe") in edges
    assert ("s1", "otherwise, after 2d") in edges
    split = next(sid for sid, st in ir.states.items() if st["kind"] == "split")
    assert (split, "a 25%") in edges and (split, "b 75%") in edges
    assert any(label == "now() - last_seen(app_opened) > 30d" for _, label in edges)
    assert any(label.startswith("count(purchase where amount > 5 within 7d) >= 2") for _, label in edges)
    outline = text(ir)
    assert "      a 25%" in outline and "=> exited" in outline and "wait until 09:00" in outline


def test_mermaid_and_dot_are_well_formed():
    ir = _ir(CART)
    m = mermaid(build(ir))
    assert m.splitlines()[3] == "flowchart TD"
    assert 's1 -.->|"unless purchase"| r_converted' in m
    assert "#quot;cart_reminder#quot;" in m and "#gt;= 50" in m  # quotes and < > escaped as entities
    assert not re.search(r"\bend\b", m.replace("#", ""))  # `end` is a Mermaid keyword
    d = dot(build(ir))
    assert d.startswith("digraph journey {") and d.endswith("}")
    assert 's2 [label="send whatsapp \\"cart_reminder\\"\\nor sms' in d
    assert d.count("{") == d.count("}")


PROJECT = [p for p in sorted(ROOT.glob("journeys/*.journey"))
           if not re.search(r"^segment ", p.read_text(encoding="utf-8"), re.M)]


@pytest.mark.parametrize("path", PROJECT, ids=lambda p: p.name)
def test_every_project_journey_draws(path):
    compiled = compile_text(path.read_text(encoding="utf-8"), str(path))
    assert compiled.ir is not None, [d.message for d in compiled.diagnostics]
    for fmt in ("mermaid", "dot", "text"):
        assert render(compiled.ir, fmt)


# ---- the expression printer reads back to the same IR ---------------------------------------------

def _where_and_conditions(ir):
    if ir.trigger["where"] is not None:
        yield "where", ir.trigger["where"]
    for st in ir.states.values():
        for b in st.get("branches", []):
            if "cond" in b:
                yield "if", b["cond"]


@given(journeys())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_printed_expressions_compile_back_to_the_same_ir(source):
    ir = _ir(source)
    for place, x in _where_and_conditions(ir):
        printed = expression(x, ir.aggregates)
        zone = f'timezone "{ir.timezone}"\n' if ir.timezone else ""  # (a date read as a time is midnight there)
        again = _ir(zone + (f"on e where {printed}\n" if place == "where" else f"on e\nif {printed}\n  exit\n"))
        got = again.trigger["where"] if place == "where" else again.states["s1"]["branches"][0]["cond"]
        assert got == x, printed
    for fmt in ("mermaid", "dot", "text"):
        render(ir, fmt)


# ---- the command ----------------------------------------------------------------------------------

@pytest.fixture
def cart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cart.journey").write_text(CART)
    return tmp_path / "cart.journey"


@pytest.mark.parametrize("fmt, start", [("text", "journey cart_recovery"), ("mermaid", "---"),
                                        ("dot", "digraph journey {")])
def test_graph_prints_each_format(cart, fmt, start):
    result = CliRunner().invoke(main, ["graph", str(cart), "--format", fmt])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(start)


def test_graph_writes_to_a_file_with_the_format_from_its_suffix(cart, tmp_path):
    result = CliRunner().invoke(main, ["graph", str(cart), "-o", str(tmp_path / "cart.mmd")])
    assert result.exit_code == 0, result.output
    assert "flowchart TD" in (tmp_path / "cart.mmd").read_text()


def test_a_journey_with_errors_exits_1_with_diagnostics(tmp_path):
    bad = tmp_path / "bad.journey"
    bad.write_text("on a -> send emial\n")
    result = CliRunner().invoke(main, ["graph", str(bad)])
    assert result.exit_code == 1
    assert "J101" in result.output


def test_usage_and_io_errors_exit_2(tmp_path):
    assert CliRunner().invoke(main, ["graph", str(tmp_path / "missing.journey")]).exit_code == 2
    seg = tmp_path / "seg.journey"
    seg.write_text("segment s\n  where count(purchase) >= 2\n")
    result = CliRunner().invoke(main, ["graph", str(seg)])
    assert result.exit_code == 2 and "segment" in result.output


def test_without_graphviz_svg_says_how_to_install_it(cart, monkeypatch):
    monkeypatch.setattr("journeyctl.engine.cli.graph.shutil.which", lambda name: None)
    result = CliRunner().invoke(main, ["graph", str(cart), "--format", "svg"])
    assert result.exit_code == 2
    assert "apt-get install graphviz" in result.output and "brew install graphviz" in result.output


@needs_dot
@pytest.mark.parametrize("fmt, magic", [("svg", b"<svg"), ("png", b"\x89PNG")])
def test_graphviz_draws_svg_and_png(cart, tmp_path, fmt, magic):
    out = tmp_path / f"cart.{fmt}"
    result = CliRunner().invoke(main, ["graph", str(cart), "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert magic in out.read_bytes()[:400]
