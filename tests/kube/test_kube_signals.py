"""Graceful termination: SIGTERM mid-phase in a real subprocess run, the second signal, the watchdog."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from support.kube_support import emulator_process, ground_truth, subprocess_env, wait_for
from support.servers import http, parse_metrics_text, pushgateway  # type: ignore[import-not-found]

from jes_runner.emulator import default_scenario
from jes_runner.results.schema import validate_results
from jes_runner.runner import HARD_CANCEL_BUDGET_S
from jes_runner.shutdown import GracefulShutdown

SPEED = 0.01  # model seconds -> real: a scale-up (275 s) takes 2.75 s, so the concurrent phase is seconds long
IN_FLIGHT = ("pending", "starting", "running")


def _scenario() -> dict[str, Any]:
    return default_scenario().model_dump(mode="json")


def _start_run(url: str, out: Path, tmp: Path, **env: str) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "jes_runner",
        "run",
        "--viya-url",
        url,
        "--limit-jobs",
        "6",
        "--mode",
        "all",
        "--no-report",
        "--output-dir",
        str(out),
    ]
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp,
        env=subprocess_env(
            JES_USERNAME="jes",
            JES_PASSWORD="jes-demo-password",
            JES_SECRETS_DIR=str(tmp / "none"),
            HOME=str(tmp),
            JES_KUBE_API_URL=url,
            **env,
        ),
    )


def _async_jobs(url: str) -> list[dict[str, Any]]:
    return [j for j in ground_truth(url)["jobs"] if "_async_" in j["name"]]


@pytest.mark.services
def test_sigterm_in_the_concurrent_phase_cancels_everything_and_writes_aborted_results(
    tmp_path: Path,
) -> None:
    out = tmp_path / "results"
    with (
        emulator_process(tmp_path, _scenario(), SPEED) as (url, _emu),
        pushgateway(tmp_path / "pg") as pg,
    ):
        run = _start_run(
            url, out, tmp_path, JES_PUSHGATEWAY_URL=pg.url, JES_GRACE_PERIOD_SECONDS="15"
        )
        try:
            # the concurrent phase is on: some of its jobs finished, others are still queued or running
            wait_for(
                lambda: (
                    lambda js: (
                        any(j["jes_state"] == "completed" for j in js)
                        and any(j["jes_state"] in IN_FLIGHT for j in js)
                    )
                )(_async_jobs(url)),
                timeout=40,
                step=0.05,
                what="a concurrent phase half done",
            )
            t0 = time.monotonic()
            run.send_signal(signal.SIGTERM)
            stdout, stderr = run.communicate(timeout=30)
            took = time.monotonic() - t0
        finally:
            if run.poll() is None:
                run.kill()
        assert run.returncode == 143, stderr[-2000:]
        assert took < 15, "within the grace period"
        assert "SIGTERM received: stopping" in stderr  # a log line

        truth = ground_truth(url)["jobs"]
        assert truth and not [
            j for j in truth if j["jes_state"] in IN_FLIGHT or j["state"] in IN_FLIGHT
        ]
        (path,) = out.glob("pooled_jobs_comparison_*.json")
        res = json.loads(path.read_text())
        assert validate_results(res) == []
        assert res["status"] == "aborted"
        seq, asy = res["phases"]
        assert seq["status"] == "completed" and asy["status"] == "aborted"
        recorded = {j["job_instance_id"]: j for p in res["phases"] for j in p["jobs"]}
        assert set(recorded) == {j["id"] for j in truth}  # every submitted job is in the results
        for t in truth:
            # completed stays completed
            assert recorded[t["id"]]["status"] == t["jes_state"], t["name"]
        assert {t["jes_state"] for t in truth if "_async_" in t["name"]} == {
            "completed",
            "canceled",
        }
        assert asy["stats"]["jobs_canceled"] >= 1 and asy["stats"]["jobs_completed"] >= 1
        assert asy["scaling"]["source"] == "kubernetes"
        checkpoint = [
            json.loads(x) for x in next(out.glob("*.checkpoint.jsonl")).read_text().splitlines()
        ]
        assert {c["job_instance_id"] for c in checkpoint if c["type"] == "job"} == set(recorded)

        # the Pushgateway got the aborted outcome
        status, body = http(f"{pg.url}/metrics")
        assert status == 200
        info = [lb for name, lb, _ in parse_metrics_text(body.decode()) if name == "jes_run_info"]
        assert [lb["status"] for lb in info] == ["aborted"] and info[0]["run_id"] == res["run_id"]


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_second_signal_cancels_in_flight_within_bounds_and_names_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "results"
    with emulator_process(tmp_path, _scenario(), SPEED) as (url, _emu):
        run = _start_run(url, out, tmp_path, JES_GRACE_PERIOD_SECONDS="20")
        try:
            wait_for(
                lambda: any(j["jes_state"] in IN_FLIGHT for j in _async_jobs(url)),
                timeout=40,
                step=0.05,
                what="the concurrent phase",
            )
            # every cancel now takes 5 s: a graceful stop would be slow
            requests.post(
                f"{url}/emulator/faults",
                json={
                    "rules": [{"endpoint": "PUT /jobExecution/jobs/{id}/state", "latency_ms": 5000}]
                },
                timeout=5,
            ).raise_for_status()
            run.send_signal(signal.SIGTERM)
            wait_for(
                lambda: ground_truth(url)["requests"].get("PUT /jobExecution/jobs/{id}/state"),
                timeout=10,
                what="the first cancel request",
            )
            t0 = time.monotonic()
            run.send_signal(signal.SIGTERM)
            stdout, stderr = run.communicate(timeout=10)
            took = time.monotonic() - t0
        finally:
            if run.poll() is None:
                run.kill()
        assert run.returncode == 143
        # the second signal cancels what is in flight, in parallel, within a bounded time: with
        # every cancel taking 5 s, none is confirmed -- they are named, with the command that cancels
        assert took < HARD_CANCEL_BUDGET_S + 1.5, took
        last = stderr.strip().splitlines()[-1]
        assert "SIGTERM again: exiting now" in last and "could not be canceled" in last, last
        assert "--cancel-orphans" in last
        in_flight = [t["name"] for t in ground_truth(url)["jobs"] if "_async_" in t["name"]]
        assert any(name in last for name in in_flight), last
        assert not list(out.glob("pooled_jobs_comparison_*.json"))  # no time was left to write it
        truth = {j["id"]: j for j in ground_truth(url)["jobs"]}
        lines = [
            json.loads(x) for x in next(out.glob("*.checkpoint.jsonl")).read_text().splitlines()
        ]
        jobs = [c for c in lines if c["type"] == "job"]
        seq = [t for t in truth.values() if "_sequential_" in t["name"]]
        assert len(seq) == 6 and {t["id"] for t in seq} <= {c["job_instance_id"] for c in jobs}
        for c in jobs:  # every line is a job that really finished, as the server says
            assert truth[c["job_instance_id"]]["jes_state"] == c["status"] == "completed"


def test_graceful_shutdown_unit_sigint_second_signal_and_watchdog() -> None:
    stop = threading.Event()
    exits: list[int] = []
    seen: list[int] = []
    gs = GracefulShutdown(stop, grace_period_s=0.3, on_signal=seen.append, hard_exit=exits.append)
    before = signal.getsignal(signal.SIGINT)
    with gs:
        os.kill(os.getpid(), signal.SIGINT)
        wait_for(stop.is_set, timeout=2, what="stop event")
        assert (gs.exit_code, seen, exits) == (130, [signal.SIGINT], [])
        assert 0 < (gs.remaining() or 0) <= 0.3
        os.kill(os.getpid(), signal.SIGTERM)  # second signal: exit at once, with its own code
        wait_for(lambda: exits, timeout=2, what="hard exit")
        assert exits == [143]
        wait_for(lambda: len(exits) == 2, timeout=2, what="watchdog")  # the grace period ran out
        assert exits == [143, 130]
    assert signal.getsignal(signal.SIGINT) is before

    # a run that ends within the grace period: the watchdog stands down
    stop2, exits2 = threading.Event(), list[int]()
    with GracefulShutdown(stop2, grace_period_s=0.2, hard_exit=exits2.append):
        os.kill(os.getpid(), signal.SIGTERM)
        wait_for(stop2.is_set, timeout=2, what="stop event")
    time.sleep(0.3)
    assert exits2 == []
