"""The Runner as a library: sinks after the results file, stop_event aborts, live progress on a TTY."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import check_results

from jes_runner.cli.session import make_client
from jes_runner.config.phases import parse_phases
from jes_runner.config.settings import load_settings
from jes_runner.console import Progress
from jes_runner.measure.plan import build_plan, load_jobs
from jes_runner.runner import RunContext, Runner


def _runner(emu: Any, out: Path, n: int, phases: list[dict[str, Any]], **kw: Any) -> Runner:
    settings = load_settings(
        viya_url=emu.url, username=emu.username, password=emu.password, output_dir=out
    )
    path, jobs = load_jobs(settings, n)
    plan = build_plan(parse_phases(phases), jobs, path)
    return Runner(settings, plan, client=make_client(settings), **kw)


def test_sinks_run_after_results_are_written(emulator: Any, runner_env: Path) -> None:
    seen: list[tuple[bool, str]] = []

    def sink(ctx: RunContext) -> None:
        assert ctx.results is not None
        seen.append((bool(ctx.results_path and ctx.results_path.exists()), ctx.results["status"]))

    r = _runner(
        emulator,
        runner_env,
        2,
        [{"name": "seq", "context": "SAS Job Execution compute context"}],
        sinks=[sink],
        stdout=io.StringIO(),
    )
    ctx = r.run()
    assert seen == [(True, "completed")] and ctx.exit_code == 0
    assert ctx.results is not None
    check_results(ctx.results, emulator)


def test_stop_event_cancels_in_flight_jobs(make_emulator: Any, runner_env: Path) -> None:
    emu = make_emulator(speed_factor=0.01)  # jobs last 0.3-1.5 s: still running when stopped
    stop = threading.Event()
    r = _runner(
        emu,
        runner_env,
        6,
        [
            {"name": "all", "context": "SAS Job Execution compute context", "mode": "all"},
            {"name": "never", "context": "SAS Studio compute context"},
        ],
        stop_event=stop,
        stdout=io.StringIO(),
    )
    timer = threading.Timer(0.25, stop.set)
    timer.start()
    ctx = r.run()
    timer.cancel()
    assert ctx.results is not None
    assert ctx.results["status"] == "aborted" and ctx.exit_code == 130
    assert [p["name"] for p in ctx.results["phases"]] == ["all"]  # the next phase never started
    jobs = ctx.results["phases"][0]["jobs"]
    assert ctx.results["phases"][0]["status"] == "aborted"
    canceled = [j for j in jobs if j["status"] == "canceled"]
    assert canceled and all(j["error"] == "run aborted" for j in canceled)
    truth = {j["id"]: j for j in emu.ground_truth()["jobs"]}
    assert all(truth[j["job_instance_id"]]["state"] == "canceled" for j in canceled)
    check_results(ctx.results, emu)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_progress_on_a_tty(emulator: Any, runner_env: Path) -> None:
    out = _Tty()
    r = _runner(
        emulator,
        runner_env,
        3,
        [{"name": "seq", "context": "SAS Job Execution compute context"}],
        progress=Progress(out),
        stdout=out,
    )
    assert r.run().exit_code == 0
    text = out.getvalue()
    # a status line redrawn in place: elapsed, done / in flight / queued, ETA once a job has ended
    assert "\r\x1b[2Kseq: " in text and "3/3 done, 0 in flight, 0 queued" in text
    assert "elapsed" in text and "ETA" in text


@pytest.mark.parametrize(
    "phases",
    [
        [
            {
                "name": "w",
                "context": "SAS Job Execution compute context",
                "mode": "window",
                "concurrency": 2,
            }
        ]
    ],
)
def test_window_counts_requests(
    make_emulator: Any, runner_env: Path, phases: list[dict[str, Any]]
) -> None:
    emu = make_emulator()
    r = _runner(emu, runner_env, 8, phases, stdout=io.StringIO())
    ctx = r.run()
    assert ctx.results is not None
    served = emu.ground_truth()["requests"]
    assert served["POST /jobExecution/jobs"] == 8
    # polling is list requests only, never one GET per job
    assert not any(k.startswith("GET /jobExecution/jobs/") for k in served), served
    # the client counts right
    assert sum(served.values()) == ctx.results["metadata"]["viya_requests"]["total"]
    # per job: its POST and at most two list polls; per run, a fixed few (token, contexts, definitions,
    # the orphan listing, orchestrator pages) that a run of 8 jobs cannot spread thin
    per_run = sum(
        v
        for k, v in served.items()
        if not k.startswith(("POST /jobExecution", "GET /jobExecution"))
    )
    polls = served["GET /jobExecution/jobs"] - 1  # the first list is the orphan listing at start
    assert polls / 8 <= 2 and per_run <= 6, served
    assert (sum(served.values()) - per_run - 1) / 8 <= 3
