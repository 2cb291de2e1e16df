"""End to end on real servers: two `jes-runner demo` runs push to Debian's Pushgateway, two of
Debian's Prometheus servers scrape it (1 s) -- one with honor_labels, one the way
viya4-monitoring's ServiceMonitor does (no honor_labels: the pushed job becomes
exported_job) -- and every dashboard query and alert expression is evaluated through
each Prometheus' HTTP API.

Alert expressions are empty when all is well, so each is checked three ways:
the expression itself is valid and (for the deterministic ones) empty after two
good runs; its "bool form" (every top-level comparison given `bool`: the full
expression with thresholds and joins, returning 0/1 per series) returns data; and
a second stack with the chart's parameter substitution set to seconds is driven
into every alert -- failed jobs, a speedup drop, no success, no push -- and
Prometheus' own rule evaluation must report each firing.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from metrics_helpers import (
    PROFILE,
    RULES,
    SCRAPES,
    Stack,
    alert_rules,
    bool_form,
    dashboard,
    dashboard_panels,
    label_values_query,
    start_stack,
    substitute,
)
from prometheus_client import generate_latest
from support.servers import api, free_port, http, parse_metrics_text, query, wait_for
from test_dashboard import NOT_YET_PUSHED

from jes_runner.sinks.metrics.push import push_results
from jes_runner.sinks.metrics.registry import build_registry

pytestmark = [pytest.mark.services, pytest.mark.slow]

CLUSTER, ENVIRONMENT = "e2e-cluster", "ci"
LIMIT_JOBS = 3
# pushed only by a phase with `cold_start: true`; `demo` runs the seed's two phases (its value is
# checked in test_registry.py)
NOT_IN_DEMO_RUNS = {"jes_phase_cold_start_wait_seconds"}
NODE_HOUR_PRICE = 2.5
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def demo_run(
    out_dir: Path, pushgateway_url: str, **env_extra: str
) -> tuple[dict[str, Any], int, tuple[float, float], str]:
    """`jes-runner demo --limit-jobs 3` as a subprocess (clean JES_* env) pushing to ``pushgateway_url``.

    Returns (results, exit code, (time before, time after), stdout + stderr).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("JES_")}
    env.update(
        {
            "JES_PUSHGATEWAY_URL": pushgateway_url,
            "JES_CLUSTER": CLUSTER,
            "JES_ENVIRONMENT": ENVIRONMENT,
            "JES_PROFILE": PROFILE,
            "JES_SECRETS_DIR": str(out_dir / "no-secrets"),
            **env_extra,
        }
    )
    out_dir.mkdir(parents=True)
    t0 = time.time()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jes_runner",
            "demo",
            "--limit-jobs",
            str(LIMIT_JOBS),
            "--output-dir",
            str(out_dir),
        ],
        cwd=out_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    files = sorted(out_dir.glob("pooled_jobs_comparison_*.json"))
    assert files, f"no results file (exit {proc.returncode}):\n{output[-3000:]}"
    return json.loads(files[-1].read_text()), proc.returncode, (t0, time.time()), output


@dataclass
class E2E:
    stack: Stack
    runs: list[dict[str, Any]]
    windows: list[tuple[float, float]]


@pytest.fixture(scope="module")
def e2e(module_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> E2E:
    runs, windows = [], []
    base = tmp_path_factory.mktemp("demo")
    for i in range(2):
        # priced, as a chart with cost.nodeHourPrice runs: the cost panel has data
        results, rc, window, output = demo_run(
            base / f"run{i}",
            module_stack.pushgateway.url,
            JES_NODE_HOUR_PRICE=str(NODE_HOUR_PRICE),
            JES_CURRENCY="EUR",
        )
        assert rc == 0, f"demo run {i} exited {rc} (status {results['status']}):\n{output[-3000:]}"
        assert "pushed metrics (PUT" in output
        runs.append(results)
        windows.append(window)
    return E2E(module_stack, runs, windows)


def gateway_group(pg_url: str) -> Series:
    _, body = http(pg_url + "/metrics")
    out: Series = {}
    for name, labels, value in parse_metrics_text(body.decode()):
        key = (
            labels.get("job"),
            labels.get("cluster"),
            labels.get("environment"),
            labels.get("profile"),
        )
        if key == ("jes-runner", CLUSTER, ENVIRONMENT, PROFILE):
            out[(name, frozenset((k, v) for k, v in labels.items() if v))] = value
    return out


def expected_series(results: dict[str, Any]) -> Series:
    labels = {"cluster": CLUSTER, "environment": ENVIRONMENT, "profile": PROFILE}
    text = generate_latest(build_registry(results, labels)).decode()
    # an empty label value is no label (Prometheus), as gateway_group reads them
    return {
        (n, frozenset((k, x) for k, x in {**lbl, "job": "jes-runner"}.items() if x)): v
        for n, lbl, v in parse_metrics_text(text)
    }


def ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def wait_scraped(prom_url: str, run_id: str) -> None:
    wait_for(
        lambda: query(prom_url, f'jes_run_info{{run_id="{run_id}"}}'),
        timeout=40,
        what=f"Prometheus to scrape run {run_id}",
    )


# -- the Pushgateway ------------------------------------------------------------------


def test_gateway_holds_every_metric_of_the_latest_run(e2e: E2E) -> None:
    r1, r2 = e2e.runs
    got = gateway_group(e2e.stack.pushgateway.url)
    pushed = {k: v for k, v in got.items() if not k[0].startswith("push_")}
    # exactly the second run's series: nothing of the first run is left over
    assert pushed == expected_series(r2)

    def one(name: str, **labels: str | None) -> float:
        want = {
            "job": "jes-runner",
            "cluster": CLUSTER,
            "environment": ENVIRONMENT,
            "profile": PROFILE,
            "emulated": "true",  # demo runs measure the emulator: every series says so
            **labels,
        }
        want = {k: v for k, v in want.items() if v is not None}  # None: not that label
        hits = [v for (n, lbl), v in got.items() if n == name and dict(lbl) == want]
        assert len(hits) == 1, (name, labels)
        return hits[0]

    # spot checks straight from the results file (independent of build_registry)
    # the demo measures the emulator, and says so
    assert (
        one(
            "jes_run_info",
            run_id=r2["run_id"],
            version=r2["metadata"]["tool_version"],
            status="completed",
            emulated="true",
            speed_factor=str(r2["metadata"]["emulator_model"]["speed_factor"]),
        )
        == 1
    )
    assert not [k for k in got if k[0] == "jes_run_info" and ("run_id", r1["run_id"]) in k[1]]
    assert one("jes_run_success") == 1
    # an emulated run's durations are pushed in the modelled cluster's seconds (served / speed factor)
    m = 1 / r2["metadata"]["emulator_model"]["speed_factor"]
    assert one("jes_run_timestamp_seconds") == pytest.approx(ts(r2["metadata"]["ended_at"]))
    assert one("jes_last_success_timestamp_seconds") == pytest.approx(
        ts(r2["metadata"]["ended_at"])
    )
    assert one("jes_run_duration_seconds") == pytest.approx(r2["metadata"]["duration_seconds"] * m)
    for p in r2["phases"]:
        pl = {"phase": p["name"], "context": p["context"], "mode": p["mode"]}
        st = p["stats"]
        assert one("jes_phase_makespan_seconds", **pl) == pytest.approx(st["makespan_seconds"] * m)
        assert (
            one("jes_phase_jobs", **pl, outcome="completed") == st["jobs_completed"] == LIMIT_JOBS
        )
        assert one("jes_phase_jobs", **pl, outcome="failed") == 0
        assert one("jes_phase_job_duration_seconds", **pl, stat="p95") == pytest.approx(
            st["duration_p95_seconds"] * m
        )
        assert one("jes_phase_queue_wait_seconds", **pl, stat="max") == pytest.approx(
            st["queue_wait_max_seconds"] * m
        )
        assert one("jes_phase_hosts_used", **pl) == st["hosts_used"]
        assert one("jes_phase_peak_nodes", **pl) == st["peak_nodes"]
        assert one("jes_phase_summed_run_seconds", **pl) == pytest.approx(st["sum_run_seconds"] * m)
        # the cost: the phase's node-seconds in the modelled cluster's seconds, priced here
        sf = r2["metadata"]["emulator_model"]["speed_factor"]
        model_node_hours = p["scaling"]["node_seconds"] / sf / 3600
        assert one("jes_phase_cost", **pl, currency="EUR") == pytest.approx(
            model_node_hours * NODE_HOUR_PRICE, rel=1e-4
        )
        if p["baseline"]:
            assert not [
                k for k in got if k[0] == "jes_phase_speedup_ratio" and ("phase", p["name"]) in k[1]
            ]
        else:
            vs = p["vs_baseline"]
            assert one("jes_phase_speedup_ratio", **pl) == pytest.approx(vs["speedup"])
            assert one("jes_phase_time_saved_seconds", **pl) == pytest.approx(
                vs["time_saved_seconds"] * m
            )
            assert one("jes_phase_efficiency_gain_ratio", **pl) == pytest.approx(
                vs["efficiency_gain_percent"] / 100
            )
        for job in p["jobs"]:
            assert one("jes_job_duration_seconds", **pl, sas_job_name=job["name"]) == pytest.approx(
                job["duration"] * m
            )
            qw = job["metrics"]["orchestrator_data"]["queue_wait_seconds"]
            assert one(
                "jes_job_queue_wait_seconds", **pl, sas_job_name=job["name"]
            ) == pytest.approx(qw * m)
    assert len([k for k in got if k[0] == "jes_job_duration_seconds"]) == LIMIT_JOBS * len(
        r2["phases"]
    )
    push_time = one("push_time_seconds", emulated=None)  # the gateway's, not the runner's
    assert e2e.windows[1][0] <= push_time <= e2e.windows[1][1] + 1


def test_gateway_down_results_written_exit_4(tmp_path: Path) -> None:
    password = "pw-in-the-url-Secret"
    url = f"http://jes:{password}@127.0.0.1:{free_port()}"  # nothing listens there
    results, rc, _, output = demo_run(
        tmp_path / "run", url, JES_PUSHGATEWAY_RETRIES="1", JES_PUSHGATEWAY_BACKOFF_S="0.1"
    )
    assert rc == 4, output[-3000:]
    assert results["status"] == "completed"  # measured fine and written
    failures = [line for line in output.splitlines() if "Pushgateway push" in line]
    assert len(failures) == 1 and "failed after 2 attempt(s)" in failures[0], output[-3000:]
    assert "Traceback" not in output
    assert password not in output
    for f in (tmp_path / "run").rglob("*"):
        if f.is_file() and f.suffix in (".json", ".jsonl", ".html"):
            assert password not in f.read_text(errors="replace"), f


# -- Prometheus: dashboard ------------------------------------------------------------


VARIANTS = {
    "selected": {
        "cluster": CLUSTER,
        "environment": ENVIRONMENT,
        "profile": PROFILE,
        "phase": "(sequential|async)",
        "emulated": ".*",  # demo runs are emulated; the default "false|" shows real runs only
    },
    "all": {
        "cluster": ".+",
        "environment": ".+",
        "profile": ".+",
        "phase": ".+",
        "emulated": ".*",
    },
}


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and annotation of the dashboard."""
    out = [
        (f"{p['title']} [{t['refId']}]", t["expr"])
        for p in dashboard_panels()
        for t in p["targets"]
    ]
    out += [
        (f"annotation {a['name']}", a["expr"])
        for a in dashboard()["annotations"]["list"]
        if "expr" in a
    ]
    return out


@pytest.mark.parametrize("scrape", SCRAPES)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_dashboard_query_returns_data(e2e: E2E, variant: str, scrape: str) -> None:
    prom = e2e.stack.prom(scrape)
    wait_scraped(prom, e2e.runs[1]["run_id"])
    values = {**VARIANTS[variant], "datasource": "unused"}
    empty, checked = [], 0
    for where, expr in dashboard_queries():
        if any(name in expr for name in NOT_YET_PUSHED | NOT_IN_DEMO_RUNS):
            continue  # names the runner does not push yet, or demo runs never carry
        expr = substitute(expr, values)
        if not query(prom, expr):  # an API error raises PromQLError
            empty.append(f"{where}: {expr}")
        checked += 1
    assert checked >= 25
    assert not empty, f"panels without data ({scrape}):\n" + "\n".join(empty)


def test_the_two_scrape_styles_differ_as_in_the_wild(e2e: E2E) -> None:
    """The premise: without honor_labels the pushed job is exported_job, so `job="jes-runner"` finds nothing."""
    honor, exported = e2e.stack.prom("honor_labels"), e2e.stack.prom("exported_job")
    for prom in (honor, exported):
        wait_scraped(prom, e2e.runs[1]["run_id"])
    assert query(honor, 'jes_run_info{job="jes-runner"}')
    assert not query(exported, 'jes_run_info{job="jes-runner"}')
    (info,) = query(exported, f'jes_run_info{{profile="{PROFILE}"}}')
    assert (
        info["metric"]["exported_job"] == "jes-runner"
        and info["metric"]["job"] == "prometheus-pushgateway"
    )


@pytest.mark.parametrize("scrape", SCRAPES)
def test_dashboard_variables_list_the_pushed_labels(e2e: E2E, scrape: str) -> None:
    prom = e2e.stack.prom(scrape)
    wait_scraped(prom, e2e.runs[1]["run_id"])
    want = {"cluster": CLUSTER, "environment": ENVIRONMENT, "profile": PROFILE, "phase": "async"}
    for var in [v for v in dashboard()["templating"]["list"] if v["type"] == "query"]:
        selector, label = label_values_query(var["definition"])
        selector = substitute(selector, {"cluster": ".+", "environment": ".+", "profile": ".+"})
        found = api(prom, f"label/{label}/values", {"match[]": selector})
        assert want[label] in found, (var["name"], found)


# -- Prometheus: alert rules (default parameters) ---------------------------------------


def signals(expr: str) -> list[str]:
    """Queries that return data when the alert's inputs are there and healthy: the bool form of a
    comparison; both sides of an `unless`; the selector itself for an `absent`."""
    if "absent_over_time(" in expr:
        return [expr.replace("absent_over_time(", "present_over_time(")]
    if expr.strip().startswith("absent("):
        return [expr.strip()[len("absent(") : -1]]
    if expr.lstrip().startswith("group by") and " unless on " in expr:
        left, right = expr.split(" unless on ", 1)
        return [left, right.split(")", 1)[1]]
    return [bool_form(expr)]


@pytest.mark.parametrize("scrape", SCRAPES)
def test_alert_expressions_on_healthy_runs(e2e: E2E, scrape: str) -> None:
    prom = e2e.stack.prom(scrape)
    wait_scraped(prom, e2e.runs[1]["run_id"])
    for rule in alert_rules(e2e.stack.rules.read_text()):
        name, expr = rule["alert"], rule["expr"]
        firing = query(prom, expr)  # valid PromQL on real data
        for signal_expr in signals(expr):
            signal = query(prom, signal_expr)
            assert signal, f"{name} ({scrape}): returned nothing: {signal_expr}"
            assert {s["metric"].get("profile") for s in signal} == {PROFILE}, name
            if "absent" not in expr:
                assert {s["metric"].get("cluster") for s in signal} == {CLUSTER}, name
        signal = query(prom, signals(expr)[0])
        if name != "JesSpeedupDropped":  # two short demo runs may differ in speedup by chance
            assert firing == [], f"{name} fires after two good runs: {firing}"
            if signals(expr) == [bool_form(expr)]:
                assert {s["value"][1] for s in signal} == {"0"}, name

    # Prometheus' own evaluation of the loaded rules: healthy, nothing deterministic firing
    def evaluated() -> list[dict[str, Any]]:
        rules = [r for g in api(prom, "rules")["groups"] for r in g["rules"]]
        return (
            rules
            if all(
                r.get("lastEvaluation", "").startswith("20") and r["health"] != "unknown"
                for r in rules
            )
            else []
        )

    rules = wait_for(evaluated, timeout=20, what="rule evaluation")
    recorded = {
        r["record"]
        for g in yaml.safe_load(RULES.read_text())["groups"]
        for r in g["rules"]
        if "record" in r
    }
    assert {r["name"] for r in rules} == {r["alert"] for r in alert_rules()} | recorded
    assert all(r["health"] == "ok" and not r.get("lastError") for r in rules), rules
    active = {a["labels"]["alertname"] for a in api(prom, "alerts")["alerts"]}
    assert not active - {"JesSpeedupDropped"}, active


# -- Prometheus: every alert made to fire (parameters substituted to seconds) -----------


def _variant(results: dict[str, Any], **changes: Any) -> dict[str, Any]:
    r = copy.deepcopy(results)
    r["run_id"] = str(uuid.uuid4())
    for k, v in changes.items():
        r[k] = v
    return r


@pytest.fixture
def fast_stack(tmp_path: Path) -> Iterator[Stack]:
    with ExitStack() as es:
        # the chart's substitution with a 2 s "schedule": stale after 2 x 2 s; `for: 0s` as the
        # chart's per-rule override would set it (JesMetricsGroupMissing waits 15 min by default)
        yield start_stack(
            es,
            tmp_path / "fast",
            schedule_seconds=2,
            multiple=2,
            speedup_fraction=0.8,
            profile=PROFILE,
            no_for=True,
        )


def firing(prom: str) -> set[str]:
    return {
        a["labels"]["alertname"] for a in api(prom, "alerts")["alerts"] if a["state"] == "firing"
    }


def wait_firing(proms: list[str], alert: str) -> None:
    for prom in proms:
        wait_for(lambda p=prom: alert in firing(p), timeout=30, what=f"{alert} to fire on {prom}")


def test_every_alert_fires_on_real_prometheus(e2e: E2E, fast_stack: Stack) -> None:
    """On both scrape styles at once: the two Prometheus servers scrape the same gateway."""
    pg = fast_stack.pushgateway.url
    proms = [fast_stack.prom(scrape) for scrape in SCRAPES]
    good = e2e.runs[1]
    s = SimpleNamespace(pushgateway_url=pg, cluster=CLUSTER, environment=ENVIRONMENT)
    push_results(good, s)
    sel = f'{{cluster="{CLUSTER}", profile="{PROFILE}"}}'
    # a few scrapes of the good speedup build up its median
    for prom in proms:
        wait_for(
            lambda p=prom: [
                v
                for v in query(p, f"count_over_time(jes_phase_speedup_ratio{sel}[1m])")
                if float(v["value"][1]) >= 5
            ],
            timeout=40,
            what="5 scrapes of the good run",
        )
        assert not firing(prom) & {"JesRunFailedJobs", "JesMetricsGroupMissing", "JesMetricsAbsent"}

    # a run with a failed job (POST): JesRunFailedJobs; the last success stays
    failed = _variant(good, status="completed_with_failures")
    ph = failed["phases"][-1]
    ph["jobs"][0]["status"] = "failed"
    ph["stats"]["jobs_completed"] -= 1
    ph["stats"]["jobs_failed"] += 1
    push_results(failed, s)
    wait_firing(proms, "JesRunFailedJobs")
    for prom in proms:
        (last,) = query(prom, f"jes_last_success_timestamp_seconds{sel}")
        assert float(last["value"][1]) == pytest.approx(ts(good["metadata"]["ended_at"]))

    # a run far slower than the median: JesSpeedupDropped
    slow = _variant(good)
    for p in slow["phases"]:
        if p["vs_baseline"]:
            p["vs_baseline"]["speedup"] = p["vs_baseline"]["speedup"] * 0.3
    push_results(slow, s)
    wait_firing(proms, "JesSpeedupDropped")

    # no pushes for 2 x 2 s, last success older than that: JesPushStale and JesNoRecentSuccess
    wait_firing(proms, "JesPushStale")
    wait_firing(proms, "JesNoRecentSuccess")

    # the group is deleted (a Pushgateway restart without persistence looks the same):
    # the staleness alerts lose their data, the absent alerts take over
    group = f"/metrics/job/jes-runner/cluster/{CLUSTER}/environment/{ENVIRONMENT}/profile/{PROFILE}"
    status, _ = http(pg + group, method="DELETE")
    assert status == 202
    for prom in proms:
        wait_for(
            lambda p=prom: not query(p, f"jes_run_info{sel}"),
            timeout=30,
            what="the group to go stale",
        )
    wait_firing(proms, "JesMetricsGroupMissing")
    wait_firing(proms, "JesMetricsAbsent")
    for prom in proms:
        rules = [r for g in api(prom, "rules")["groups"] for r in g["rules"]]
        assert all(r["health"] == "ok" for r in rules), rules
        missing = [
            a
            for a in api(prom, "alerts")["alerts"]
            if a["labels"]["alertname"] == "JesMetricsGroupMissing"
        ]
        assert [(a["labels"]["cluster"], a["labels"]["profile"]) for a in missing] == [
            (CLUSTER, PROFILE)
        ]


def test_default_thresholds_fire_later_in_time(e2e: E2E) -> None:
    """The time-based alerts with their default parameters (2 x 86400 s): time() replaced by a clock
    2 days + 1 h ahead fires them on the real data, 1 h ahead does not."""
    prom = e2e.stack.prom("exported_job")  # the harder scrape style
    wait_scraped(prom, e2e.runs[1]["run_id"])
    now = time.time()
    for rule in alert_rules():
        if rule["alert"] in ("JesNoRecentSuccess", "JesPushStale"):
            # shift the clock instead of waiting 2 days: time() + 2d1h in place of time()
            expr = rule["expr"].replace("time()", f"({now + 2 * 86400 + 3600:.0f})")
            assert query(prom, expr), rule["alert"]
            assert not query(prom, rule["expr"].replace("time()", f"({now + 3600:.0f})")), rule[
                "alert"
            ]
