"""Comparability judged against the emulator's ground truth: impossible server timestamps, an API
blip, and (control) the same run without them."""

from __future__ import annotations

import fnmatch
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))
from runner_helpers import latest_results, run_cli  # noqa: E402

from jes_runner.analysis.thresholds import check_thresholds  # noqa: E402
from jes_runner.results.views import data_warnings, phase_views  # noqa: E402

pytestmark = (
    pytest.mark.slow
)  # end-to-end runs of seconds: outside the fast selection (README, Development)

SPEED = 0.01  # a 40 model-s job takes 0.4 s: HTTP gaps stay small against it
JOBS = 5


def _run(emu: Any, monkeypatch: pytest.MonkeyPatch, *extra: str) -> int:
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", emu.password)
    argv = ["run", "--viya-url", emu.url, "--limit-jobs", str(JOBS), "--no-report", *extra]
    return run_cli(argv)


def _blip_when_phase_starts(emu: Any, glob: str, rule: dict[str, Any]) -> threading.Thread:
    """Inject the blip (model seconds after now) as soon as the phase's first job exists."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(fnmatch.fnmatchcase(j["name"], glob) for j in emu.ground_truth()["jobs"]):
                emu.set_faults({"rules": [rule]})
                return
            time.sleep(0.01)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


def _blip(active_from_s: float, active_for_s: float = 30.0) -> dict[str, Any]:
    """``active_for_s`` model seconds (30: the issue's blip) of 500/503 and non-JSON answers on
    the job list."""
    return {
        "endpoint": "GET /jobExecution/jobs",
        "error_rate": 0.5,
        "error_statuses": [500, 503],
        "garbage_rate": 1.0,
        "active_from_s": active_from_s,
        "active_for_s": active_for_s,
    }


def test_impossible_timestamps_are_data_errors(
    make_emulator: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    glob = "*_async_2_*"  # the second job of the concurrent phase is served ending before creation
    emu = make_emulator(speed_factor=SPEED, faults={"impossible_end_jobs": [glob]})
    code = _run(emu, monkeypatch, "--min-speedup", "1.0")
    res = latest_results(runner_env)
    truth = emu.ground_truth()
    bad = {j["name"] for j in truth["jobs"] if fnmatch.fnmatchcase(j["name"], glob)}
    assert len(bad) == 1
    jobs = [j for p in res["phases"] for j in p["jobs"]]
    assert {j["unique_job_name"] for j in jobs if j["status"] == "data_error"} == bad
    seq, asy = res["phases"]
    assert all(j["duration"] is None for j in jobs if j["status"] == "data_error")
    # the statistics hold only believable figures: every duration they sum is the true one (>= 0)
    true_run = {
        j["name"]: j["jes_end_epoch"] - j["submit_epoch"]
        for j in truth["jobs"]
        if j["name"] not in bad
    }
    believed = [j for j in asy["jobs"] if j["status"] == "completed"]
    assert asy["stats"]["sum_run_seconds"] == pytest.approx(
        sum(true_run[j["unique_job_name"]] for j in believed), abs=0.05
    )
    assert asy["stats"]["jobs_data_error"] == 1 and asy["stats"]["concurrency_achieved"] > 0
    assert asy["vs_baseline"]["comparable"] is False
    assert "data_error" in asy["vs_baseline"]["reasons"]
    # readers flag it; the threshold does not judge a phase that is not comparable
    assert any("impossible server timestamps" in w for w in data_warnings(res))
    assert phase_views(res)[1].data_errors == sorted(bad)
    assert res["thresholds"]["not_judged"][0]["phase"] == "async"
    assert res["thresholds"]["breaches"] == []
    assert code == 3  # a job not measured is not a clean run


def test_api_blip_in_the_baseline_makes_it_not_comparable(
    make_emulator: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = make_emulator(speed_factor=SPEED)
    # 45 model s of errors: over 10 % of this short baseline (the runner measures the span it saw)
    watcher = _blip_when_phase_starts(emu, "*_sequential_*", _blip(5.0, 45.0))
    _run(emu, monkeypatch)
    watcher.join()
    res = latest_results(runner_env)
    truth = emu.ground_truth()
    hits = sorted(f["epoch"] for f in truth["faults_injected"] if "jobExecution" in f["endpoint"])
    assert hits, "the blip was never hit"
    seq = res["phases"][0]
    true_span = hits[-1] - hits[0]
    # the runner saw at least the span the emulator really answered errors over
    assert seq["stats"]["api_error_seconds"] >= true_span - 0.01
    share = seq["stats"]["api_error_seconds"] / seq["stats"]["makespan_seconds"]
    vs = res["phases"][1]["vs_baseline"]
    assert share > 0.10
    assert vs["comparable"] is False and "api_outage" in vs["reasons"], vs["reason"]


def test_api_blip_in_the_concurrent_phase_makes_it_not_comparable(
    make_emulator: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The concurrent phase runs first (the baseline after it), so the blip lands in it."""
    phases = tmp_path / "phases.yaml"
    phases.write_text(
        "- {name: async, context: SAS Job Execution compute context, mode: all}\n"
        "- {name: sequential, context: SAS Job Execution compute context, mode: sequential, "
        "baseline: true}\n"
    )
    emu = make_emulator(speed_factor=SPEED)
    watcher = _blip_when_phase_starts(emu, "*_async_*", _blip(2.0))
    _run(emu, monkeypatch, "--phases", str(phases))
    watcher.join()
    res = latest_results(runner_env)
    truth = emu.ground_truth()
    hits = sorted(f["epoch"] for f in truth["faults_injected"] if "jobExecution" in f["endpoint"])
    asy, seq = res["phases"]
    names = {j["unique_job_name"] for j in asy["jobs"]}
    window = [j for j in truth["jobs"] if j["name"] in names]
    t0, t1 = min(j["submit_epoch"] for j in window), max(j["jes_end_epoch"] for j in window)
    assert hits and t0 <= hits[0] and hits[-1] <= t1, "the blip fell outside the concurrent phase"
    assert asy["stats"]["api_error_seconds"] >= hits[-1] - hits[0] - 0.01
    assert seq["stats"]["api_error_seconds"] == 0
    vs = asy["vs_baseline"]
    assert asy["stats"]["api_error_seconds"] / asy["stats"]["makespan_seconds"] > 0.10
    assert vs["comparable"] is False and "api_outage" in vs["reasons"], vs["reason"]


def test_control_without_faults_is_comparable(
    make_emulator: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = make_emulator(speed_factor=SPEED)
    assert _run(emu, monkeypatch) == 0
    res = latest_results(runner_env)
    seq, asy = res["phases"]
    assert seq["stats"]["api_error_seconds"] == 0 and seq["stats"]["jobs_data_error"] == 0
    assert asy["vs_baseline"]["comparable"] is True, asy["vs_baseline"]["reason"]
    assert asy["vs_baseline"]["reasons"] == []
    assert data_warnings(res) == []


def test_threshold_judges_busy_speedup() -> None:
    """A makespan speedup inflated by the baseline's idle gaps does not pass min_speedup."""
    vs = {"comparable": True, "speedup": 3.4, "busy_speedup": 0.9, "reasons": []}
    res = {
        "schema_version": 1,
        "phases": [
            {"name": "sequential", "baseline": True, "jobs": [], "stats": {}},
            {"name": "async", "baseline": False, "jobs": [], "stats": {}, "vs_baseline": vs},
        ],
    }
    th = check_thresholds(res, min_speedup=1.0)
    assert [b["value"] for b in th["breaches"]] == [0.9]
    assert "busy" in th["speedup_basis"]
