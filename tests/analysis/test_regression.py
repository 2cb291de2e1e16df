"""`jes-runner compare` on constructed results (real study figures, altered) and run thresholds."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.study import study_results

from jes_runner.analysis.regression import compare_results
from jes_runner.analysis.thresholds import check_thresholds
from jes_runner.cli.commands.compare import parse_percent


def slower(results: dict[str, Any], phase: str, factor: float) -> dict[str, Any]:
    """Stretch one phase: every job's duration and queue wait, and the phase stats."""
    for p in results["phases"]:
        if p["name"] != phase:
            continue
        for j in p["jobs"]:
            j["duration"] = round(j["duration"] * factor, 3)
            o = j["metrics"]["orchestrator_data"]
            o["queue_wait_seconds"] = round(o["queue_wait_seconds"] * factor, 3)
        for k in (
            "makespan_seconds",
            "duration_p50_seconds",
            "duration_p95_seconds",
            "queue_wait_p95_seconds",
        ):
            p["stats"][k] = round(p["stats"][k] * factor, 3)
    results["run_id"] = f"slower-{phase}"
    return results


def test_identical_runs_pass(cli: Callable[..., Any], write_json: Callable[..., Path]) -> None:
    a = write_json(study_results(), "a.json")
    rc, out, err = cli("compare", a, a)
    assert rc == 0, err
    assert "REGRESSION" not in out and out.rstrip().endswith("result: within tolerance (exit 0)")
    assert out.count("no job got slower") == 3


def test_slower_phase_is_a_regression(
    tmp_path: Path, cli: Callable[..., Any], write_json: Callable[..., Path]
) -> None:
    a = write_json(study_results(), "a.json")
    b = write_json(slower(study_results(), "autoscaling", 1.25), "b.json")
    rc, out, _ = cli(
        "compare", a, b, "--max-regression", "10%", "--json-out", tmp_path / "cmp.json"
    )
    assert rc == 6
    flagged = [line.split()[:2] for line in out.splitlines() if line.endswith("REGRESSION")]
    assert flagged == [
        ["autoscaling", "makespan_seconds"],
        ["autoscaling", "duration_p50_seconds"],
        ["autoscaling", "duration_p95_seconds"],
        ["autoscaling", "queue_wait_p95_seconds"],
    ]
    assert "result: 4 regressions beyond tolerance (exit 6)" in out
    grew = sum(
        1
        for j in study_results()["phases"][2]["jobs"]
        for v in (j["duration"], j["metrics"]["orchestrator_data"]["queue_wait_seconds"])
        if v * 0.25 > 1
    )
    assert grew > 100 and f"autoscaling: {grew} job figure(s) grew" in out
    assert "(+25.0 %)  over tolerance (not counted)" in out
    data = json.loads((tmp_path / "cmp.json").read_text())
    assert data["passed"] is False and len(data["regressions"]) == 4
    mk = next(
        c
        for c in data["phase_changes"]
        if c["phase"] == "autoscaling" and c["figure"] == "makespan_seconds"
    )
    assert mk["percent"] == 25.0 and mk["regression"] is True
    # a wider tolerance lets the same change pass
    rc, out, _ = cli("compare", a, b, "--max-regression", "30")
    assert rc == 0 and "within tolerance" in out
    # faster is never a regression
    rc, _, _ = cli("compare", b, a)
    assert rc == 0


def test_job_tolerance_and_noise_floor() -> None:
    base = study_results()
    cur = study_results()
    job = cur["phases"][0]["jobs"][1]  # ae_pooled, 149.8 s
    job["duration"] += 30.0
    out = compare_results(base, cur, max_regression=10)
    assert out["passed"]  # job figures are shown, not counted, unless asked
    ch = next(
        c
        for c in out["job_changes"]
        if c["job"] == "ae_pooled" and c["phase"] == "sequential" and c["figure"] == "duration"
    )
    assert ch["delta"] == 30.0 and ch["regression"] is True and ch["counted"] is False
    out = compare_results(base, cur, max_regression=10, max_job_regression=15)
    assert not out["passed"] and out["regressions"] == [
        "ae_pooled in sequential: duration 2.5 min -> 3.0 min (+20.0 %)"
    ]
    # below the noise floor nothing counts, whatever the percentage
    out = compare_results(base, cur, max_regression=10, max_job_regression=15, min_delta=31)
    assert out["passed"]
    # 0 s -> 20 s queue wait has no percentage: above the floor it is a regression
    cur["phases"][0]["jobs"][2]["metrics"]["orchestrator_data"]["queue_wait_seconds"] = 20
    out = compare_results(base, cur, max_regression=10, max_job_regression=50, min_delta=31)
    assert out["passed"]
    out = compare_results(base, cur, max_regression=10, max_job_regression=50, min_delta=5)
    assert "co_pooled in sequential: queue_wait 0.0 s -> 20.0 s (new)" in out["regressions"]


def test_more_failed_jobs_is_a_regression(
    cli: Callable[..., Any], write_json: Callable[..., Path]
) -> None:
    cur = study_results()
    cur["phases"][1]["jobs"][0]["status"] = "failed"
    rc, out, _ = cli("compare", write_json(study_results(), "a.json"), write_json(cur, "b.json"))
    assert rc == 6
    line = next(
        line for line in out.splitlines() if "jobs_not_completed" in line and "fixed_pool" in line
    )
    assert line.split()[2:] == ["0", "1", "+1", "REGRESSION"]


def test_schema_versions(cli: Callable[..., Any], write_json: Callable[..., Path]) -> None:
    v1 = write_json(study_results(), "v1.json")
    seed = {
        "metadata": {"execution_timestamp": "2025-09-15T19:00:00+00:00"},
        "sequential_execution": {
            "context_name": "SAS Job Execution compute context",
            "total_duration": 2800.0,
            "jobs": [
                {"name": "cm_pooled", "sequence_number": 1, "status": "completed", "duration": 66.2}
            ],
        },
        "async_execution": {
            "context_name": "Autoscaling POC Context",
            "total_duration": 500.0,
            "jobs": [
                {"name": "cm_pooled", "sequence_number": 1, "status": "completed", "duration": 60.0}
            ],
        },
    }
    v0 = write_json(seed, "seed.json")
    rc, out, err = cli("compare", v0, v1)
    # the seed's phases are "sequential" and "async": only the first is in both files
    assert rc == 0, err
    assert "note: the baseline is an original-tool file" in out
    assert "phases only in the current run (not compared): fixed_pool, autoscaling" in out
    for bad, msg in (
        (
            {"schema_version": 3, "phases": []},
            "unknown results schema_version 3 (this jes-runner reads 0, 1)",
        ),
        ({"schema_version": 1, "sweep": {}}, "this is a sweep results file"),
        ({"schema_version": 1, "jobs": []}, "schema_version 1 but no 'phases' list"),
        ({"run_id": "x", "jobs": []}, "not a jes-runner results file"),
        ([1, 2], "not a jes-runner results file"),
    ):
        rc, out, err = cli("compare", v1, write_json(bad, "bad.json"))
        assert rc == 2 and out == "" and msg in err and err.count("\n") == 1, err
    rc, _, err = cli(
        "compare",
        v1,
        write_json({"schema_version": 1, "phases": [{"name": "other", "jobs": []}]}, "o.json"),
    )
    assert rc == 2 and "no phase in common" in err


def test_parse_percent() -> None:
    assert (
        parse_percent("10%") == 10.0
        and parse_percent(" 12.5 % ") == 12.5
        and parse_percent("3") == 3.0
    )
    for bad in ("-5%", "ten", "5%%", ""):
        with pytest.raises(Exception, match="percentage"):
            parse_percent(bad)


def test_thresholds_on_one_run() -> None:
    r = study_results()
    assert check_thresholds(r) == {"checked": {}, "breaches": []}
    ok = check_thresholds(r, max_failed_jobs=0, min_speedup=3.0, max_queue_wait_p95_seconds=700)
    assert ok["breaches"] == [] and ok["checked"] == {
        "max_failed_jobs": 0,
        "min_speedup": 3.0,
        "max_queue_wait_p95_seconds": 700,
    }
    r["phases"][2]["jobs"][0]["status"] = "timed_out"
    r["phases"][2]["jobs"][1]["status"] = "failed"
    out = check_thresholds(r, max_failed_jobs=1, min_speedup=4.0, max_queue_wait_p95_seconds=600)
    assert [(b["threshold"], b["phase"]) for b in out["breaches"]] == [
        ("max_failed_jobs", None),
        ("min_speedup", "fixed_pool"),
        ("max_queue_wait_p95_seconds", "fixed_pool"),
    ]
    assert (
        out["breaches"][0]["message"]
        == "2 job(s) failed, were canceled or timed out (max_failed_jobs 1)"
    )
    assert (
        out["breaches"][1]["message"]
        == "phase fixed_pool: busy speedup 3.12x below min_speedup 4.0"
    )
