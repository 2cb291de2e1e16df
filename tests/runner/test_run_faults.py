"""HTTP faults during a run: lost submission replies, 5xx, 429, resets. No job is duplicated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from runner_helpers import check_results, latest_results, run_cli

FAST = 0.002


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_lost_replies_errors_and_throttling(
    make_emulator: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = {
        "seed": 7,
        "rules": [
            {
                "endpoint": "POST /jobExecution/jobs",
                "drop_reply_rate": 0.3,
                "throttle_rate": 0.1,
                "retry_after_s": 0,
            },
            {"endpoint": "GET /jobExecution/jobs", "error_rate": 0.2, "reset_rate": 0.05},
            {"endpoint": "GET /workloadOrchestrator/jobs", "error_rate": 0.3},
        ],
    }
    emu = make_emulator(speed_factor=FAST, faults=faults)
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", emu.password)
    monkeypatch.setenv("JES_RETRY_BACKOFF_S", "0.02")
    assert (
        run_cli(
            [
                "run",
                "--viya-url",
                emu.url,
                "--limit-jobs",
                "10",
                "--mode",
                "window",
                "--concurrent",
                "4",
            ]
        )
        == 0
    )
    res = latest_results(runner_env)
    check_results(res, emu)  # includes: every unique name submitted exactly once
    kinds = emu.ground_truth()["faults_injected_counts"]
    assert any(k.startswith("drop POST") for k in kinds), kinds
    assert any(k.startswith("error GET") for k in kinds), kinds
    assert all(p["unmatched_jobs"] == [] for p in res["phases"])


def test_random_job_failures_are_reported(
    make_emulator: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = make_emulator(speed_factor=FAST, faults={"seed": 3, "job_failure_rate": 0.5})
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", emu.password)
    assert (
        run_cli(
            ["run", "--viya-url", emu.url, "--limit-jobs", "6", "--async-only", "--mode", "all"]
        )
        == 3
    )
    res = latest_results(runner_env)
    check_results(res, emu)
    jobs = res["phases"][0]["jobs"]
    failed = [j for j in jobs if j["status"] == "failed"]
    assert failed and all(j["error"] for j in failed)
    assert res["phases"][0]["stats"]["jobs_failed"] == len(failed)
    assert res["status"] == "completed_with_failures"
    assert all(j["metrics"]["orchestrator_data"]["exit_code"] != 0 for j in failed)
