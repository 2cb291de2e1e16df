"""Static checks of the Grafana dashboard JSON (its queries run against Prometheus in test_metrics_e2e)."""

from __future__ import annotations

import json
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


# Agreed metric names the dashboard uses before the runner on this branch pushes them
# (docs/METRICS.md): the lead drops each entry once the registry produces it.
NOT_YET_PUSHED: set[str] = set()
VALUES = {
    "cluster": ".+",
    "environment": ".+",
    "profile": ".+",
    "phase": ".+",
    "emulated": "false|",
}


def produced_metric_names() -> set[str]:
    """Every name a results-document push produces (a clean and a failed run)."""
    names = set()
    for r in (make_results(), make_results(status="failed")):
        text = generate_latest(build_registry(r)).decode()
        names |= set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    return names | {"push_time_seconds"}  # added by the Pushgateway


def test_the_not_yet_pushed_allow_list_only_holds_missing_names() -> None:
    """Once the registry pushes a name, its allow-list entry must go."""
    assert not NOT_YET_PUSHED & produced_metric_names()


def test_identity_and_variables() -> None:
    d = dashboard()
    assert d["uid"] == "jes-runner" and d["title"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert list(variables) == [
        "datasource",
        "cluster",
        "environment",
        "profile",
        "phase",
        "emulated",
    ]
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
    known = produced_metric_names() | NOT_YET_PUSHED
    panels = dashboard_panels()
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for p in panels:
        assert p["datasource"] == DS, p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["datasource"] == DS, p["title"]
            expr = substitute(t["expr"], VALUES)
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
        "Node-ready latency",
        "Nodes added / removed",
        "Node-seconds",
        "Cold-start wait",
        "Warm nodes at start",
        "Cost per run (node-hours x price)",
        "Comparable (latest run)",
        "Busy speedup (comparable runs)",
        "Idle share",
        "Concurrency: configured vs achieved",
        "Scaling source (latest run)",
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


def test_rows_carry_no_query() -> None:
    """Grafana shows a row's title only: a query on a row is never drawn."""
    for p in dashboard()["panels"]:
        if p["type"] == "row":
            assert not p.get("targets"), p["title"]
            for inner in p.get("panels", []):
                assert inner["type"] != "row"


def test_speedup_panels_use_comparable_runs_only() -> None:
    for p in dashboard_panels():
        for t in p["targets"]:
            if "speedup_ratio" in t["expr"]:
                assert "jes_phase_comparable" in t["expr"] and "== 1" in t["expr"], p["title"]
                assert t["expr"].count("speedup_ratio") == t["expr"].count("jes_phase_comparable")


def test_every_runner_series_is_filtered_by_emulated_defaulting_to_real_runs() -> None:
    d = dashboard()
    (var,) = [v for v in d["templating"]["list"] if v["name"] == "emulated"]
    # "false|": real runs, and series from runners that predate the label
    assert var["current"]["value"] == "false|"
    assert {o["value"] for o in var["options"]} == {"false|", "true", ".*"}
    for where, expr in every_query(d):
        if where.startswith("variable"):
            continue
        for m in re.finditer(r"\b(jes_[a-z_]+)\{([^}]*)\}", expr):
            assert 'emulated=~"$emulated"' in m.group(2), (where, m.group(0))


def test_cost_panel_shows_the_runners_cost_and_configured_concurrency_is_shown() -> None:
    """One price, the runner's (jes_phase_cost): no dashboard-side price that could disagree
    with the results file and trend, and each series names its currency."""
    (cost,) = [p for p in dashboard_panels() if p["title"].startswith("Cost per run")]
    (t,) = cost["targets"]
    assert (
        re.fullmatch(r"jes_phase_cost\{[^}]*\}", t["expr"]) and "{{currency}}" in t["legendFormat"]
    )
    assert "$node_hour_price" not in json.dumps(dashboard())
    (conc,) = [p for p in dashboard_panels() if p["title"].startswith("Concurrency")]
    used = {re.search(r"(jes_\w+)\{", t["expr"]).group(1) for t in conc["targets"]}
    assert used == {"jes_phase_concurrency", "jes_phase_concurrency_achieved"}


def test_comparable_table_shows_the_reason() -> None:
    (p,) = [p for p in dashboard_panels() if p["title"] == "Comparable (latest run)"]
    index = p["transformations"][0]["options"]["indexByName"]
    assert "reason" in index and p["targets"][0]["format"] == "table"
