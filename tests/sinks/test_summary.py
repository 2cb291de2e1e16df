"""The terminal summary of an emulated run: every duration in the modelled cluster's seconds
(checked against the emulator's ground truth), the served makespan kept and labelled, configured
and achieved concurrency side by side."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))
from runner_helpers import latest_results, run_cli  # noqa: E402

from jes_runner.console import fmt_number  # noqa: E402
from jes_runner.sinks.summary import render_summary  # noqa: E402


def _cells(text: str, phase: str) -> list[str]:
    line = next(ln for ln in text.splitlines() if ln.lstrip().startswith(phase + " "))
    return [c for c in line.replace("|", " ").split("  ") if c.strip()]


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
@pytest.mark.parametrize("speed", [0.004, 0.008])
def test_emulated_summary_in_model_seconds(
    speed: float, make_emulator: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = make_emulator(speed_factor=speed)
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", emu.password)
    argv = ["run", "--viya-url", emu.url, "--limit-jobs", "4", "--concurrent", "2"]
    assert run_cli([*argv, "--no-report"]) == 0
    res = latest_results(runner_env)
    text = render_summary(res)
    assert text.startswith("EMULATED")
    header = next(ln for ln in text.splitlines() if "ok/planned" in ln)
    assert "makespan model s" in header and "served s" in header and "p50 model s" in header
    truth = {j["name"]: j for j in emu.ground_truth()["jobs"]}
    for p in res["phases"]:
        jobs = [truth[j["unique_job_name"]] for j in p["jobs"]]
        served = max(j["jes_end_epoch"] for j in jobs) - min(j["submit_epoch"] for j in jobs)
        cells = [c.strip() for c in _cells(text, p["name"] + (" *" if p["baseline"] else ""))]
        # the modelled cluster's makespan: the emulator's served seconds / its speed factor
        assert float(cells[5]) == pytest.approx(served / speed, abs=0.5)
        assert float(cells[6]) == pytest.approx(served, abs=0.01)  # served s, kept and labelled
        cfg = p["concurrency"]
        assert cells[3] == f"{cfg}/{fmt_number(p['stats']['concurrency_achieved'], 2)}"


def test_real_viya_summary_stays_in_seconds() -> None:
    res = {
        "run_id": "r",
        "status": "completed",
        "emulator": False,
        "phases": [
            {
                "name": "sequential",
                "context": "c",
                "mode": "sequential",
                "concurrency": 1,
                "baseline": True,
                "jobs": [],
                "stats": {
                    "jobs_total": 1,
                    "jobs_completed": 1,
                    "makespan_seconds": 12.5,
                    "duration_p50_seconds": 12.5,
                    "duration_p95_seconds": 12.5,
                    "queue_wait_p95_seconds": None,
                    "hosts_used": 1,
                    "peak_nodes": 1,
                    "concurrency_achieved": 1.0,
                },
            }
        ],
    }
    text = render_summary(res)
    assert "model s" not in text and "served s" not in text and "EMULATED" not in text
    assert "12.50" in text
