"""build_registry: the metrics of one results dict (pure, no server)."""

from __future__ import annotations

import copy
import math
from datetime import datetime
from typing import Any

import pytest
from metrics_helpers import make_results
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from jes_runner.results.schema import validate_results
from jes_runner.sinks.metrics.registry import build_registry, default_labels

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

ASYNC = {"phase": "async", "context": "Autoscaling POC Context", "mode": "batch"}
SEQ = {"phase": "sequential", "context": "SAS Job Execution compute context", "mode": "sequential"}
DEPLOY = {"cluster": "test-cluster", "environment": "ci", "profile": "nightly", "emulated": "false"}


def samples(results: dict[str, Any], labels: dict[str, str] | None = None) -> Samples:
    text = generate_latest(build_registry(results, labels)).decode()
    out: Samples = {}
    for fam in text_string_to_metric_families(text):
        assert fam.type == "gauge", fam.name
        for s in fam.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def get(s: Samples, name: str, **labels: str) -> float:
    return s[(name, frozenset({**DEPLOY, **labels}.items()))]


def names(s: Samples) -> set[str]:
    return {n for n, _ in s}


def test_sample_results_follow_the_schema() -> None:
    assert validate_results(make_results()) == []
    assert (
        validate_results(
            make_results(status="completed_with_failures", failed=("AE",), speedup=None)
        )
        == []
    )


def test_every_metric_of_a_successful_run_with_values_from_the_results_file() -> None:
    r = make_results()
    s = samples(r)
    end_ts = datetime.fromisoformat(r["metadata"]["ended_at"]).timestamp()
    info = [k for k in s if k[0] == "jes_run_info"]
    assert len(info) == 1 and dict(info[0][1]) == {
        **DEPLOY,
        "run_id": r["run_id"],
        "version": "0.1.0",
        "status": "completed",
        "speed_factor": "",
    }
    assert get(s, "jes_run_timestamp_seconds") == end_ts
    assert get(s, "jes_run_duration_seconds") == r["metadata"]["duration_seconds"]
    assert get(s, "jes_run_success") == 1.0
    assert get(s, "jes_last_success_timestamp_seconds") == end_ts

    for phase, labels in (("sequential", SEQ), ("async", ASYNC)):
        p = next(p for p in r["phases"] if p["name"] == phase)
        st = p["stats"]
        assert get(s, "jes_phase_makespan_seconds", **labels) == st["makespan_seconds"]
        for outcome in ("completed", "failed", "canceled", "timed_out"):
            assert get(s, "jes_phase_jobs", **labels, outcome=outcome) == st[f"jobs_{outcome}"]
        assert get(s, "jes_phase_jobs", **labels, outcome="other") == 0
        for stat in ("p50", "p95", "max"):
            assert (
                get(s, "jes_phase_job_duration_seconds", **labels, stat=stat)
                == st[f"duration_{stat}_seconds"]
            )
            assert (
                get(s, "jes_phase_queue_wait_seconds", **labels, stat=stat)
                == st[f"queue_wait_{stat}_seconds"]
            )
        assert get(s, "jes_phase_hosts_used", **labels) == st["hosts_used"]
        assert get(s, "jes_phase_peak_nodes", **labels) == st["peak_nodes"]
        assert get(s, "jes_phase_summed_run_seconds", **labels) == st["sum_run_seconds"]
        assert get(s, "jes_phase_concurrency", **labels) == p["concurrency"]
        assert get(s, "jes_phase_concurrency_achieved", **labels) == st["concurrency_achieved"]
        assert get(s, "jes_phase_unmatched_jobs", **labels) == len(p["unmatched_jobs"])
        for job in p["jobs"]:
            assert (
                get(s, "jes_job_duration_seconds", **labels, sas_job_name=job["name"])
                == job["duration"]
            )
            qw = job["metrics"]["orchestrator_data"]["queue_wait_seconds"]
            assert get(s, "jes_job_queue_wait_seconds", **labels, sas_job_name=job["name"]) == qw

    vs = r["phases"][1]["vs_baseline"]
    assert get(s, "jes_phase_speedup_ratio", **ASYNC) == vs["speedup"]
    assert get(s, "jes_phase_time_saved_seconds", **ASYNC) == vs["time_saved_seconds"]
    assert get(s, "jes_phase_efficiency_gain_ratio", **ASYNC) == pytest.approx(
        vs["efficiency_gain_percent"] / 100
    )
    # the baseline has no vs-baseline figures (null in the file): no series, no placeholder
    assert not [
        k for k in s if k[0] == "jes_phase_speedup_ratio" and ("phase", "sequential") in k[1]
    ]
    # bounded per-job series: jobs x phases
    assert len([k for k in s if k[0] == "jes_job_duration_seconds"]) == 6


def test_names_and_labels_follow_prometheus_conventions() -> None:
    s = samples(make_results())
    for name, labels in s:
        assert name.startswith("jes_"), name
        keys = {k for k, _ in labels}
        assert not keys & {"job", "instance"}, (name, keys)  # reserved: grouping key / scrape
        assert "run_id" not in keys or name == "jes_run_info", name  # run id: the info metric only
        assert not name.endswith(("_total", "_sum", "_count", "_bucket")), name


def test_failed_run_has_no_last_success_and_fills_empty_families_with_nan() -> None:
    r = make_results(status="completed_with_failures", failed=("AE",), speedup=None)
    s = samples(r)
    assert "jes_last_success_timestamp_seconds" not in names(s)
    assert get(s, "jes_run_success") == 0.0
    assert get(s, "jes_phase_jobs", **ASYNC, outcome="failed") == 1.0
    # vs-baseline families would be empty: one NaN series with empty labels makes a POST replace them
    empty = {"phase": "", "context": "", "mode": ""}
    for name in (
        "jes_phase_speedup_ratio",
        "jes_phase_time_saved_seconds",
        "jes_phase_efficiency_gain_ratio",
    ):
        assert math.isnan(get(s, name, **empty))
        assert len([k for k in s if k[0] == name]) == 1
    # families with real samples get no placeholder
    assert not [k for k in s if k[0] == "jes_phase_makespan_seconds" and ("phase", "") in k[1]]


def test_failed_run_without_phases_still_replaces_every_family() -> None:
    r = make_results(status="failed")
    r["phases"] = []
    s = samples(r)
    assert get(s, "jes_run_success") == 0.0
    assert {"jes_job_duration_seconds", "jes_phase_makespan_seconds", "jes_phase_jobs"} <= names(s)
    assert math.isnan(
        get(s, "jes_job_duration_seconds", phase="", context="", mode="", sas_job_name="")
    )


def test_nulls_in_a_successful_run_give_no_series() -> None:
    r = make_results()
    r["phases"][0]["stats"]["queue_wait_p95_seconds"] = None
    r["phases"][0]["jobs"][0]["metrics"]["orchestrator_data"] = None
    s = samples(r)
    assert (
        "jes_phase_queue_wait_seconds",
        frozenset({**DEPLOY, **SEQ, "stat": "p95"}.items()),
    ) not in s
    assert (
        "jes_job_queue_wait_seconds",
        frozenset({**DEPLOY, **SEQ, "sas_job_name": "DM"}.items()),
    ) not in s
    assert not any(math.isnan(v) for v in s.values())


def test_a_job_name_repeated_in_a_phase_gets_distinct_series() -> None:
    s = samples(make_results(job_names=("DM", "DM", "AE")))
    assert get(s, "jes_job_duration_seconds", **SEQ, sas_job_name="DM") == 10.0
    assert get(s, "jes_job_duration_seconds", **SEQ, sas_job_name="DM #2") == 11.0


def test_submit_failures_count_as_other_outcome() -> None:
    r = make_results()
    r["phases"][1]["stats"]["jobs_total"] = 4  # one job never got submitted
    assert get(samples(r), "jes_phase_jobs", **ASYNC, outcome="other") == 1.0


def test_labels_default_to_the_files_labels_and_can_be_overridden() -> None:
    r = make_results(cluster="prod-eu", environment="prod")
    assert default_labels(r) == {"cluster": "prod-eu", "environment": "prod", "profile": "nightly"}
    s = samples(r, {"cluster": "x", "environment": "y", "profile": "z"})
    assert {dict(k[1])["cluster"] for k in s} == {"x"} and {dict(k[1])["profile"] for k in s} == {
        "z"
    }
    settings = type("S", (), {"cluster": "c", "environment": "e", "profile": "p"})()
    assert default_labels({"metadata": {}}, settings) == {
        "cluster": "c",
        "environment": "e",
        "profile": "p",
    }
    # a file from before profiles, no settings: the ad-hoc group, never a scheduled one
    assert default_labels({"metadata": {"labels": {"cluster": "c", "environment": "e"}}}) == {
        "cluster": "c",
        "environment": "e",
        "profile": "adhoc",
    }


def test_pure_same_input_same_output_and_input_untouched() -> None:
    r = make_results()
    before = copy.deepcopy(r)
    assert generate_latest(build_registry(r)) == generate_latest(build_registry(r))
    assert r == before


def test_scaling_figures_of_a_phase_become_metrics() -> None:
    results = make_results()
    results["phases"][1]["scaling"] = {
        "source": "kubernetes",
        "peak_nodes": 2,
        "time_to_first_scale_up_seconds": 4.5,
        "node_seconds": 321.0,
        "jobs_per_node": {"node-a": 1, "node-b": 2},
        "nodes_added": 2,
        "nodes_removed": 1,
        "note": None,
    }
    assert validate_results(results) == []  # the schema accepts the scaling block
    s = samples(results)
    assert get(s, "jes_phase_scaling_info", **ASYNC, source="kubernetes") == 1.0
    # an older file's key is read as the request time it always was
    assert get(s, "jes_phase_time_to_first_node_request_seconds", **ASYNC) == 4.5
    assert get(s, "jes_phase_node_seconds", **ASYNC) == 321.0
    assert get(s, "jes_phase_nodes_added", **ASYNC) == 2.0
    assert get(s, "jes_phase_nodes_removed", **ASYNC) == 1.0
    assert get(s, "jes_phase_node_jobs", **ASYNC, node="node-b") == 2.0
    # the baseline phase had no scaling block: no series for it, rather than a made-up zero
    assert not [
        k for k in s if k[0] == "jes_phase_node_seconds" and ("phase", "sequential") in k[1]
    ]


def test_node_latencies_cold_start_and_comparability_reason() -> None:
    results = make_results()
    asy = results["phases"][1]
    asy["scaling"] = {
        "source": "orchestrator",
        "peak_nodes": 2,
        "time_to_first_node_request_seconds": 0.4,
        "time_to_first_node_ready_seconds": 258.0,
        "time_to_first_job_on_new_node_seconds": 262.5,
        "node_seconds": 321.0,
        "jobs_per_node": {},
        "note": None,
    }
    asy["cold_start"] = {"waited_seconds": 12.5, "reached_minimum": True, "nodes_at_start": 0}
    asy["warm_nodes_at_start"] = 0
    asy["vs_baseline"].update(comparable=False, reasons=["api_outage", "idle"], reason="...")
    assert validate_results(results) == []
    s = samples(results)
    assert get(s, "jes_phase_time_to_first_node_request_seconds", **ASYNC) == 0.4
    assert get(s, "jes_phase_time_to_first_node_ready_seconds", **ASYNC) == 258.0
    assert get(s, "jes_phase_time_to_first_job_on_new_node_seconds", **ASYNC) == 262.5
    assert get(s, "jes_phase_cold_start_wait_seconds", **ASYNC) == 12.5
    assert get(s, "jes_phase_warm_nodes_at_start", **ASYNC) == 0.0
    assert get(s, "jes_phase_comparable", **ASYNC, reason="api_outage,idle") == 0.0


def test_emulated_run_is_labelled_and_in_model_seconds() -> None:
    speed = 0.005
    results = make_results()
    results["emulator"] = True
    results["metadata"]["emulator_model"] = {"scenario": "default", "speed_factor": speed}
    s = samples(results)
    emu = {**ASYNC, "emulated": "true"}
    assert all(dict(labels)["emulated"] == "true" for _, labels in s)
    asy = results["phases"][1]
    # served seconds (in the file) / speed factor = the modelled cluster's seconds
    assert get(s, "jes_phase_makespan_seconds", **emu) == pytest.approx(
        asy["stats"]["makespan_seconds"] / speed
    )
    job = asy["jobs"][0]
    assert get(s, "jes_job_duration_seconds", **emu, sas_job_name=job["name"]) == pytest.approx(
        job["duration"] / speed
    )
    # ratios and counts are the same in either scale
    assert get(s, "jes_phase_speedup_ratio", **emu) == asy["vs_baseline"]["speedup"]
    assert get(s, "jes_phase_concurrency", **emu) == asy["concurrency"]
