"""docs/grafana-journeyctl.json: importable as is (an exported dashboard asking for its Prometheus), and
every metric it queries is one that is really served: by `run --metrics-port` (scraped from
engine/obs/metrics.py) for the queries of `$job`, by a real `journeyctl deliver --metrics-port` on the
broker, delivering to a real webhook receiver, for the queries of `$deliver_job`."""
from __future__ import annotations

import json
import re
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, wait_until
from journeyctl.engine.deliver.local import LocalWebhook
from journeyctl.engine.obs.metrics import serve_metrics
from test_deliver import Deliver, Topics, action, hook_config, send_actions
from test_metrics import engine_and_monitor

DASHBOARD = ROOT / "docs" / "grafana-journeyctl.json"


def queries(dash: dict) -> list[str]:
    out = [p["expr"] for panel in dash["panels"] for p in panel.get("targets", [])]
    out += [v["query"]["query"] for v in dash["templating"]["list"]]
    return out


def metrics(query: str) -> set[str]:
    return set(re.findall(r"\bjourneyctl_\w+", query))


def scrape(url: str) -> set[str]:
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_the_dashboard_imports_as_is():
    dash = json.loads(DASHBOARD.read_text())
    assert [i["name"] for i in dash["__inputs"]] == ["DS_PROMETHEUS"] and dash["uid"] and dash["title"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for panel in dash["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not mine & cells, f"{panel['title']} lies over another panel"
        cells |= mine
        if panel["type"] == "row":
            assert grid["w"] == 24 and grid["h"] == 1 and not panel.get("targets")
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}" and panel["targets"], panel["title"]
        for target in panel["targets"]:  # each query is of one command's metrics: run's or deliver's
            assert ("$job" in target["expr"]) != ("$deliver_job" in target["expr"]), target["expr"]
    variables = {v["name"] for v in dash["templating"]["list"]}
    used = {m for q in queries(dash) for m in re.findall(r"\$(\w+)", q) if not m.startswith("__")}
    assert used <= variables, used - variables


def test_every_metric_it_queries_of_run_is_served():
    engine, monitor, _ = engine_and_monitor()
    monitor.set_lag({("events", 0): 3})
    monitor.set_health("broker", True, "ok")
    monitor.observe_latency(0.2)
    monitor.snapshot()
    server = serve_metrics(0, monitor, addr="127.0.0.1")
    try:
        served = scrape(server.url)
    finally:
        server.close()
    dash = json.loads(DASHBOARD.read_text())
    wanted = {m for q in queries(dash) if "$deliver_job" not in q and "journeyctl_deliver_" not in q
              for m in metrics(q)}
    assert wanted and wanted <= served, sorted(wanted - served)


def test_every_metric_it_queries_of_deliver_is_served(kafka, tmp_path):
    dash = json.loads(DASHBOARD.read_text())
    wanted = {m for q in queries(dash) if "$deliver_job" in q or "journeyctl_deliver_" in q for m in metrics(q)}
    assert {"journeyctl_deliver_messages_total", "journeyctl_deliver_retries_total",
            "journeyctl_deliver_rate_limited_total", "journeyctl_deliver_latency_seconds_bucket",
            "journeyctl_deliver_in_flight", "journeyctl_deliver_consumer_lag"} <= wanted
    hook = LocalWebhook().start()
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "hello.whatsapp.liquid").write_text("Hi {{ name }}")
    (tmp_path / "journeyctl.yaml").write_text(hook_config(hook).replace("/whatsapp'}", "/whatsapp', rate: 5/s}"))
    t = Topics(kafka)
    d = Deliver(tmp_path, ["--bootstrap-servers", kafka.bootstrap_servers, "--state", f"sqlite:///{tmp_path}/s.db",
                           "--metrics-port", "0", *t.args()], "metrics")
    try:
        url = wait_until(lambda: (re.findall(r"metrics on (http://\S+)", d.err()) or [None])[0], 60, d.err)
        send_actions(kafka, t.actions, [action(i) for i in range(3)])
        wait_until(lambda: len(hook.received.effects) == 3, 60, lambda: d.err())
        # the lag is asked of the broker once a second, and shown once it answered
        wait_until(lambda: wanted <= scrape(url), 30, lambda: f"{sorted(wanted - scrape(url))} on {url}")
    finally:
        d.stop()
        hook.stop()
