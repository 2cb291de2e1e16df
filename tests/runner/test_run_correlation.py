"""Orchestrator correlation after each phase: registration lag, deadline, outage."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import check_results, latest_results, run_cli

FAST = 0.002


@pytest.fixture
def env(runner_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JES_RETRY_BACKOFF_S", "0.05")
    return runner_env


def _run(emu: Any, monkeypatch: pytest.MonkeyPatch, *extra: str) -> int:
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", emu.password)
    return run_cli(["run", "--viya-url", emu.url, "--limit-jobs", "3", "--sequential-only", *extra])


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_registration_lag_is_waited_for(
    make_emulator: Any, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # jobs show up in the orchestrator 1.5 s after submission: longer than the whole phase
    emu = make_emulator(speed_factor=FAST, registration_lag_s=750)
    t0 = time.monotonic()
    assert _run(emu, monkeypatch) == 0
    res = latest_results(env)
    truth = check_results(res, emu)
    phase = res["phases"][0]
    assert phase["unmatched_jobs"] == []
    for j in phase["jobs"]:
        o = j["metrics"]["orchestrator_data"]
        t = truth[j["job_instance_id"]]
        assert o["orchestrator_name"] == t["orchestrator_name"] and o["execution_host"] == t["host"]
        assert o["queue_wait_seconds"] == pytest.approx(t["pending_seconds"], abs=0.01)
        assert j["started_at"] == o["start_time"]
    assert time.monotonic() - t0 < 10
    # retried with backoff, not in a hot loop
    assert res["metadata"]["viya_requests"]["by_kind"]["GET /workloadOrchestrator/jobs"] <= 12


def test_deadline_lists_unmatched_jobs(
    make_emulator: Any, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = make_emulator(speed_factor=FAST, registration_lag_s=100000)  # never visible in time
    t0 = time.monotonic()
    assert _run(emu, monkeypatch, "--correlation-deadline", "0.5") == 0
    assert time.monotonic() - t0 < 8
    res = latest_results(env)
    check_results(res, emu)
    phase = res["phases"][0]
    assert sorted(phase["unmatched_jobs"]) == sorted(j["unique_job_name"] for j in phase["jobs"])
    assert all(j["metrics"]["orchestrator_data"] is None for j in phase["jobs"])
    # no orchestrator data at all: the hosts are unknown (null), never 0
    assert phase["stats"]["hosts_used"] is None  # (peak_nodes comes from the node watch: known)
    assert phase["status"] == "completed"


def test_orchestrator_outage_is_ridden_out(
    make_emulator: Any, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = make_emulator(
        speed_factor=FAST, faults={"orchestrator_outage": {"start_s": 0, "duration_s": 600}}
    )
    assert _run(emu, monkeypatch) == 0  # outage ends 1.2 s after start; the deadline is longer
    res = latest_results(env)
    check_results(res, emu)
    assert res["phases"][0]["unmatched_jobs"] == []
    assert any(f["kind"] == "outage" for f in emu.ground_truth()["faults_injected"])
