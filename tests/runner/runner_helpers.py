"""Helpers for the runner's end-to-end tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jes_runner.cli.main import main
from jes_runner.results.schema import validate_results

TOLERANCE_S = 0.05


def run_cli(argv: list[str]) -> int:
    return main(argv)


def latest_results(out_dir: Path) -> dict[str, Any]:
    files = sorted(out_dir.glob("pooled_jobs_comparison_*.json"))
    assert files, f"no results file in {out_dir}"
    return json.loads(files[-1].read_text())


def check_results(results: dict[str, Any], emu: Any) -> dict[str, dict[str, Any]]:
    """Schema-valid, no duplicate submissions, server durations within 0.05 s of the emulator's truth."""
    errors = validate_results(results)
    assert not errors, errors[:5]
    truth = {j["id"]: j for j in emu.ground_truth()["jobs"]}
    names = [j["unique_job_name"] for p in results["phases"] for j in p["jobs"]]
    assert len(names) == len(set(names))
    submitted = [t for t in truth.values() if t["name"] in set(names)]
    assert len(submitted) == len([n for n in names]), "a job was submitted twice (or went missing)"
    for p in results["phases"]:
        for j in p["jobs"]:
            if j["status"] == "submit_failed":
                continue
            t = truth[j["job_instance_id"]]
            assert t["name"] == j["unique_job_name"]
            if j["timing_source"] == "server":
                true = t["jes_end_epoch"] - t["submit_epoch"]
                assert j["duration"] == pytest.approx(true, abs=TOLERANCE_S), j["unique_job_name"]
    return truth


def max_overlap(jobs: list[dict[str, Any]]) -> int:
    """Most jobs in flight at once, from server creation/end times."""
    events = []
    for j in jobs:
        events.append((j["submitted_at"], 1))
        events.append((j["ended_at"], -1))
    events.sort(key=lambda e: (e[0], e[1]))
    cur = peak = 0
    for _, d in events:
        cur += d
        peak = max(peak, cur)
    return peak


def write_job_config(
    path: Path, names: list[str], runtimes: dict[str, float] | None = None
) -> Path:
    jobs = [
        {
            "definition_id": None,
            "name": n,
            "description": "",
            "arguments": {},
            "context_name": None,
            "enabled": True,
            "expected_runtime_s": (runtimes or {}).get(n),
        }
        for n in names
    ]
    path.write_text(json.dumps({"jobs": jobs, "settings": {}, "metadata": {}}))
    return path
