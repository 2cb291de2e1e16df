"""Static checks of the Grafana dashboard JSON (its queries run against Prometheus in test_metrics_e2e)."""

from __future__ import annotations

import re

from metrics_helpers import (
    dashboard,
    dashboard_panels,
    label_values_query,
    make_results,
    substitute,
)
from prometheus_client import generate_latest

from jes_runner.sinks.metrics.registry import build_registry

DS = {"type": "prometheus", "uid": "${datasource}"}


def produced_metric_names() -> set[str]:
    names = set()
    for r in (make_results(), make_results(status="failed")):
        text = generate_latest(build_registry(r)).decode()
        names |= set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    return names | {"push_time_seconds"}  # added by the Pushgateway


def test_identity_and_variables() -> None:
    d = dashboard()
    assert d["uid"] == "jes-runner" and d["title"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert list(variables) == ["datasource", "cluster", "environment", "phase"]
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for name in ("cluster", "environment", "phase"):
        v = variables[name]
        assert v["type"] == "query" and v["datasource"] == DS
        selector, label = label_values_query(v["definition"])
        assert label == name and v["query"]["query"] == v["definition"]
        assert v["includeAll"] and v["multi"] and v["allValue"] == ".*"


def test_every_panel_uses_the_datasource_variable_and_known_metrics() -> None:
    known = produced_metric_names()
    panels = dashboard_panels()
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for p in panels:
        assert p["datasource"] == DS, p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["datasource"] == DS, p["title"]
            expr = substitute(t["expr"], {"cluster": ".*", "environment": ".*", "phase": ".*"})
            used = set(re.findall(r"\b((?:jes|push)_[a-z_]+)\b", expr))
            assert used and used <= known, (p["title"], used - known)


def test_required_views_are_there() -> None:
    titles = {p["title"] for p in dashboard_panels()}
    for needed in ("Latest speedup", "Time saved (latest)", "Makespan per phase", "Queue wait (p50 / p95 / max)",
                   "Jobs not completed", "Per-job duration and queue wait (latest run)",
                   "Per-job duration over runs (heatmap)", "Last run status", "Last run age"):
        assert needed in titles
