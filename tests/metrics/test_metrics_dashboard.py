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
    assert list(variables) == ["datasource", "cluster", "environment", "profile", "phase"]
    assert (
        variables["datasource"]["type"] == "datasource"
        and variables["datasource"]["query"] == "prometheus"
    )
    for name in ("cluster", "environment", "profile", "phase"):
        v = variables[name]
        assert v["type"] == "query" and v["datasource"] == DS
        selector, label = label_values_query(v["definition"])
        assert label == name and v["query"]["query"] == v["definition"]
        # "All" is `.+`, not `.*`: an empty regex match would pull in every other pusher's
        # push_time_seconds and the NaN placeholders (empty labels) of a failed run
        assert v["includeAll"] and v["multi"] and v["allValue"] == ".+"
        assert "job" not in selector, (name, selector)


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
            expr = substitute(
                t["expr"], {"cluster": ".+", "environment": ".+", "profile": ".+", "phase": ".+"}
            )
            used = set(re.findall(r"\b((?:jes|push)_[a-z_]+)\b", expr))
            assert used and used <= known, (p["title"], used - known)


def test_required_views_are_there() -> None:
    titles = {p["title"] for p in dashboard_panels()}
    for needed in (
        "Latest speedup",
        "Time saved (latest)",
        "Makespan per phase",
        "Queue wait (p50 / p95 / max)",
        "Jobs not completed",
        "Per-job duration and queue wait (latest run)",
        "Per-job duration over runs (heatmap)",
        "Last run status",
        "Last run age",
        "Time to first scale-up",
        "Nodes added / removed",
        "Node-seconds (cost)",
        "Unmatched jobs",
    ):
        assert needed in titles


def every_query(dash: dict) -> list[tuple[str, str]]:
    """(where, expr) of every panel target, variable and annotation query."""
    out = [
        (f"panel {p['title']} [{t['refId']}]", t["expr"])
        for p in dashboard_panels(dash)
        for t in p["targets"]
    ]
    out += [
        (f"variable {v['name']}", v["definition"])
        for v in dash["templating"]["list"]
        if v["type"] == "query"
    ]
    out += [
        (f"annotation {a['name']}", a["expr"]) for a in dash["annotations"]["list"] if "expr" in a
    ]
    return out


def test_nothing_selects_on_job() -> None:
    """A Pushgateway scraped without honor_labels renames the pushed job to exported_job."""
    for where, expr in every_query(dashboard()):
        assert not re.search(r"\bjob\s*[=!]", expr), (where, expr)
        assert "exported_job" not in expr, (where, expr)


def test_every_data_query_filters_by_profile_and_legends_name_the_cluster() -> None:
    for p in dashboard_panels():
        for t in p["targets"]:
            assert 'profile=~"$profile"' in t["expr"], (p["title"], t["expr"])
            legend = t.get("legendFormat", "__auto")
            assert legend == "__auto" or legend.startswith(
                "{{cluster}}/{{environment}} {{profile}}"
            ), (p["title"], legend)


def test_run_annotations() -> None:
    (runs,) = [a for a in dashboard()["annotations"]["list"] if a.get("name") == "Runs"]
    assert runs["datasource"] == DS and runs["enable"] and runs["useValueForTime"]
    assert "jes_run_timestamp_seconds" in runs["expr"] and 'profile=~"$profile"' in runs["expr"]
    assert "{{run_id}}" in runs["textFormat"]
