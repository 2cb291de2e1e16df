"""sinks/export.py: `jes-runner export` CSV and xlsx rows match the results file, field for field;
impossible server timestamps are flagged (even in files written before data_error existed) and an
emulated run's durations are given in the modelled cluster's seconds beside the served ones."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
from support.study import study_results

from jes_runner.sinks.export import JOB_FIELDS, ORCH_FIELDS, STAT_FIELDS, write_csv


def test_csv_one_row_per_job_and_phase_summary(
    tmp_path: Path, cli: Callable[..., Any], write_json: Callable[..., Path]
) -> None:
    results = study_results()
    results["phases"][2]["jobs"][0]["metrics"]["orchestrator_data"] = None  # an unmatched job
    src = write_json(results, "run.json")
    rc, out, err = cli("export", src, "--format", "csv")
    assert rc == 0, err
    jobs_csv, phases_csv = tmp_path / "run.csv", tmp_path / "run_phases.csv"
    assert out.split() == ["export:", str(jobs_csv), "export:", str(phases_csv)]
    with open(jobs_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 162
    header = list(rows[0])
    for f in JOB_FIELDS + ORCH_FIELDS + ["limit_maxCpuTime", "limit_maxMemory", "phase", "run_id"]:
        assert f in header
    raw_jobs = [j for p in results["phases"] for j in p["jobs"]]
    for row, j in zip(rows, raw_jobs, strict=True):
        assert row["unique_job_name"] == j["unique_job_name"]
        assert float(row["duration"]) == j["duration"]
        assert row["submitted_at"] == j["submitted_at"] and row["client_duration"] == str(
            j["client_duration"]
        )
        o = j["metrics"]["orchestrator_data"]
        if o is None:
            assert row["orchestrator_matched"] == "False" and row["execution_host"] == ""
        else:
            assert row["execution_host"] == o["execution_host"]
            assert float(row["queue_wait_seconds"]) == o["queue_wait_seconds"]
            assert (
                float(row["cpu_cores"]) == o["cpu_cores"]
                and float(row["memory_mb"]) == o["memory_mb"]
            )
            assert float(row["limit_maxCpuTime"]) == o["limits"]["maxCpuTime"]
    with open(phases_csv, newline="") as fh:
        prow = list(csv.DictReader(fh))
    assert [r["phase"] for r in prow] == ["sequential", "fixed_pool", "autoscaling"]
    for r, p in zip(prow, results["phases"], strict=True):
        for f in ("makespan_seconds", "queue_wait_p95_seconds", "duration_p50_seconds"):
            assert float(r[f]) == p["stats"][f]
    assert (
        prow[2]["jobs_per_host"]
        == "aks-computetmp-28320745-vmss00002q=29; aks-computetmp-28320745-vmss00002r=25"
    )
    assert (
        float(prow[1]["speedup"]) == 3.123 and float(prow[1]["perfect_split_seconds"]) == 1407.049
    )


def test_xlsx_sheets_rows_and_text_safety(
    tmp_path: Path, cli: Callable[..., Any], write_json: Callable[..., Path]
) -> None:
    results = study_results()
    results["phases"][1]["jobs"][3]["status"] = "failed"
    results["phases"][1]["jobs"][3]["error"] = '=HYPERLINK("http://x","click")'
    src = write_json(results, "run.json")
    out_file = tmp_path / "sub" / "study.xlsx"
    rc, out, err = cli("export", src, "--format", "xlsx", "--out", out_file)
    assert rc == 0, err
    wb = openpyxl.load_workbook(out_file)
    assert wb.sheetnames == [
        "Jobs",
        "Phases",
        "Run",
        "Phase sequential",
        "Phase fixed_pool",
        "Phase autoscaling",
    ]
    jobs = list(wb["Jobs"].iter_rows(values_only=True))
    header, body = list(jobs[0]), jobs[1:]
    assert len(body) == 162
    col = {h: i for i, h in enumerate(header)}
    err_row = next(r for r in body if r[col["status"]] == "failed")
    assert err_row[col["error"]] == '=HYPERLINK("http://x","click")'
    cell = wb["Jobs"].cell(row=body.index(err_row) + 2, column=col["error"] + 1)
    assert cell.data_type == "s"  # text, not a formula
    assert (
        sum(1 for r in body if r[col["execution_host"]] == "aks-compute-36279683-vmss000001")
        == 54 + 31
    )
    phases = list(wb["Phases"].iter_rows(values_only=True))
    assert len(phases) == 4 and all(f in phases[0] for f in STAT_FIELDS)
    auto = dict(r for r in wb["Phase autoscaling"].iter_rows(values_only=True) if r[0] is not None)
    assert auto["makespan_seconds"] == results["phases"][2]["stats"]["makespan_seconds"]
    assert auto["aks-computetmp-28320745-vmss00002r"] == 25
    assert auto["per_node_efficiency_percent"] == 231.5
    run = dict(wb["Run"].iter_rows(values_only=True))
    assert run["run_id"] == results["run_id"] and run["label_cluster"] == "aks-study"


def test_export_refuses_unknown_input(
    cli: Callable[..., Any], write_json: Callable[..., Path]
) -> None:
    rc, out, err = cli(
        "export", write_json({"schema_version": 2, "phases": []}), "--format", "xlsx"
    )
    assert rc == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1


# -- data errors and emulated runs ----------------------------------------------------------


def _job(name: str, seq: int, created: str, ended: str, duration: float) -> dict[str, Any]:
    return {
        "name": name,
        "unique_job_name": f"{name}_async_{seq}_1_ab",
        "sequence": seq,
        "status": "completed",
        "submitted_at": created,
        "ended_at": ended,
        "duration": duration,
        "metrics": {"orchestrator_data": None},
    }


def _results(emulated: bool) -> dict[str, Any]:
    good = _job("a", 1, "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:02.000Z", 2.0)
    # written by an older version: end 90 s before creation, taken as measured (-90)
    bad = _job("b", 2, "2026-01-01T00:01:30.000Z", "2026-01-01T00:00:00.000Z", -90.0)
    phase = {
        "name": "async",
        "context": "c",
        "mode": "all",
        "concurrency": 2,
        "baseline": False,
        "status": "completed",
        "jobs": [good, bad],
        "stats": {"makespan_seconds": 2.0},
        "vs_baseline": {"comparable": True, "speedup": 2.0, "time_saved_seconds": 2.0},
    }
    meta: dict[str, Any] = {}
    if emulated:
        meta["emulator_model"] = {"scenario": "default", "speed_factor": 0.01}
    return {
        "schema_version": 1,
        "run_id": "r",
        "emulator": emulated,
        "metadata": meta,
        "phases": [phase],
    }


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_impossible_timestamps_flagged_in_export(tmp_path: Path) -> None:
    jobs_path, phases_path = write_csv(_results(False), tmp_path / "r.csv")
    rows = {r["name"]: r for r in _read(jobs_path)}
    assert rows["b"]["status"] == "data_error" and rows["a"]["status"] == "completed"
    (phase,) = _read(phases_path)
    assert phase["comparable"] == "False" and phase["data_error_jobs"] == "1"
    assert "data_error" in phase["reasons"]
    assert "duration_model_seconds" not in rows["a"]


def test_emulated_export_has_model_seconds_beside_served(tmp_path: Path) -> None:
    jobs_path, phases_path = write_csv(_results(True), tmp_path / "r.csv")
    rows = {r["name"]: r for r in _read(jobs_path)}
    assert rows["a"]["emulated"] == "True"
    assert float(rows["a"]["duration"]) == 2.0  # served seconds kept
    assert float(rows["a"]["duration_model_seconds"]) == 200.0  # 2 s / 0.01
    (phase,) = _read(phases_path)
    assert float(phase["makespan_seconds_model"]) == 200.0
