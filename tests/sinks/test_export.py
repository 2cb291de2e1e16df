"""Export flags impossible server timestamps (even in files written before data_error existed) and
gives an emulated run's durations in the modelled cluster's seconds beside the served ones."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from jes_runner.sinks.export import write_csv


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
