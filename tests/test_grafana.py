"""docs/grafana-journeyctl.json: importable as is (an exported dashboard asking for its Prometheus), and
every metric it queries is one `run --metrics-port` really serves (scraped from engine/obs/metrics.py)."""
from __future__ import annotations

import json
import re
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT
from journeyctl.engine.obs.metrics import serve_metrics
from test_metrics import engine_and_monitor

DASHBOARD = ROOT / "docs" / "grafana-journeyctl.json"


def queries(dash: dict) -> list[str]:
    out = [p["expr"] for panel in dash["panels"] for p in panel["targets"]]
    out += [v["query"]["query"] for v in dash["templating"]["list"]]
    return out


def test_the_dashboard_imports_as_is():
    dash = json.loads(DASHBOARD.read_text())
    assert [i["name"] for i in dash["__inputs"]] == ["DS_PROMETHEUS"] and dash["uid"] and dash["title"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dash["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}" and panel["targets"], panel["title"]
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24


def test_every_metric_it_queries_is_served():
    engine, monitor, _ = engine_and_monitor()
    monitor.set_lag({("events", 0): 3})
    monitor.set_health("broker", True, "ok")
    monitor.observe_latency(0.2)
    monitor.snapshot()
    server = serve_metrics(0, monitor, addr="127.0.0.1")
    try:
        with urllib.request.urlopen(server.url, timeout=10) as r:
            text = r.read().decode()
    finally:
        server.close()
    served = {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}
    wanted = {m for q in queries(json.loads(DASHBOARD.read_text())) for m in re.findall(r"\bjourneyctl_\w+", q)}
    assert wanted and wanted <= served, sorted(wanted - served)
