"""The live progress line's ETA: from the runtime model, in the modelled cluster's seconds for an
emulated run (labelled "model"), "ETA --" rather than an invented number, and judged against the
emulator's ground truth (when each phase's last job really ended)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from jes_runner.cli.session import make_client
from jes_runner.config.phases import parse_phases
from jes_runner.config.settings import load_settings
from jes_runner.console import Progress
from jes_runner.measure.plan import PhasePlan, PlannedJob, build_plan, load_jobs
from jes_runner.measure.polling import RuntimeModel
from jes_runner.measure.records import JobRecord
from jes_runner.runner import Runner

CONTEXT = "SAS Job Execution compute context"
# the ETA at a phase's first status line against the true time left: within this share (the
# estimates are the study's runtimes; contention in a concurrent phase is learned only later)
ETA_TOLERANCE = 0.35


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _phase(mode: str, n: int, expected: float | None, concurrency: int = 1) -> PhasePlan:
    jobs = [PlannedJob(f"j{i}", None, {}, expected) for i in range(n)]
    return PhasePlan("p", "p", CONTEXT, mode, concurrency, False, jobs)  # type: ignore[arg-type]


def _record(seq: int, status: str = "completed") -> JobRecord:
    rec = JobRecord(
        name=f"j{seq - 1}",
        unique_job_name=f"j{seq - 1}_p_{seq}",
        phase="p",
        context=CONTEXT,
        sequence=seq,
    )
    rec.status = status
    return rec


def test_emulated_eta_is_in_model_seconds_and_labelled() -> None:
    # the report: 5 jobs of 96 model s one after the other at speed factor 0.005 read
    # "ETA 8m00s" for a phase served in 2.4 s; it is 8 model minutes, and says so
    clock = _Clock()
    p = Progress(io.StringIO(), live=False, clock=clock)
    p.phase_started(_phase("sequential", 5, 96.0), RuntimeModel(), speed_factor=0.005)
    assert p.eta_seconds() == pytest.approx(2.4)
    assert p.status_line().endswith("ETA 8m00s model (2.4s served)")
    clock.t += 1.2  # half of it served, nothing seen ending yet
    p.job_submitted(p._phase, _record(1))  # type: ignore[arg-type]
    assert "ETA 8m00s model" in p.status_line()  # the job just submitted: its whole runtime left


def test_real_run_eta_has_no_model_label() -> None:
    p = Progress(io.StringIO(), live=False, clock=_Clock())
    p.phase_started(_phase("batch", 6, 60.0, concurrency=3), RuntimeModel())
    line = p.status_line()
    assert line.endswith("ETA 2m00s") and "model" not in line  # two waves of 60 s


def test_no_estimate_shows_eta_dashes_until_a_job_ended() -> None:
    clock = _Clock()
    p = Progress(io.StringIO(), live=False, clock=clock)
    model = RuntimeModel()
    phase = _phase("sequential", 3, None)
    p.phase_started(phase, model)
    p.job_submitted(phase, _record(1))
    clock.t += 30
    assert p.status_line().endswith("ETA --")
    model.observe(None, 30.0)  # what the executor learns as the job ends
    p.job_finished(phase, _record(1))
    p.job_submitted(phase, _record(2))
    assert p.eta_seconds() == pytest.approx(60.0)  # two more of the phase's typical 30 s


def test_non_terminal_log_lines_carry_the_eta(caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    p = Progress(io.StringIO(), live=False, clock=clock)
    phase = _phase("sequential", 2, 40.0)
    p.phase_started(phase, RuntimeModel(), speed_factor=0.01)
    p.job_submitted(phase, _record(1))
    clock.t += 0.4
    with caplog.at_level("INFO", logger="jes_runner.progress"):
        p.job_finished(phase, _record(1))
    rec = caplog.records[-1]
    assert "[1/2, ETA 40.0s model (0.4s served)]" in rec.getMessage()
    assert rec.eta_seconds == pytest.approx(0.4)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- against the emulator's truth


class _Recording(Progress):
    """Each status line drawn, with the wall clock and the ETA it showed (served seconds)."""

    def __init__(self) -> None:
        super().__init__(io.StringIO(), live=True)
        self.lines: list[tuple[float, str, float | None, str]] = []

    def status_line(self) -> str:
        eta, now = self.eta_seconds(), time.time()
        line = super().status_line()
        self.lines.append((now, self._phase.name if self._phase else "", eta, line))
        return line


def _run(
    emu: Any, out: Path, phases: list[dict[str, Any]], n: int, config: Path | None = None
) -> tuple[Any, _Recording]:
    kw = {"job_config": config} if config else {}
    settings = load_settings(
        viya_url=emu.url, username=emu.username, password=emu.password, output_dir=out, **kw
    )
    path, jobs = load_jobs(settings, n)
    progress = _Recording()
    runner = Runner(
        settings,
        build_plan(parse_phases(phases), jobs, path),
        client=make_client(settings),  # the emulator is found by its header: labelled as --emulator
        progress=progress,
        stdout=io.StringIO(),
        sinks=[],
    )
    return runner.run(), progress


def _true_ends(ctx: Any, emu: Any) -> dict[str, float]:
    """Each phase's true end (wall epoch): its last job's end in the emulator's ground truth."""
    truth = {j["id"]: j for j in emu.ground_truth()["jobs"]}
    return {
        p["name"]: max(truth[j["job_instance_id"]]["jes_end_epoch"] for j in p["jobs"])
        for p in ctx.results["phases"]
    }


@pytest.mark.parametrize("speed_factor", [0.005, 0.01])  # what must not matter: the served speed
def test_eta_at_phase_start_matches_the_true_time_left(
    make_emulator: Any, runner_env: Path, speed_factor: float
) -> None:
    emu = make_emulator(speed_factor=speed_factor)
    phases = [
        {"name": "seq", "context": CONTEXT, "baseline": True},
        {"name": "batch3", "context": CONTEXT, "mode": "batch", "concurrency": 3},
    ]
    ctx, progress = _run(emu, runner_env, phases, 6)
    assert ctx.exit_code == 0
    for name, end in _true_ends(ctx, emu).items():
        at, _, eta, line = next(x for x in progress.lines if x[1] == name and x[2] is not None)
        true_left = end - at
        assert "model (" in line  # emulated: model seconds, served ones beside them
        assert eta == pytest.approx(true_left, rel=ETA_TOLERANCE), (name, line, true_left)


def test_eta_without_estimates_waits_for_the_first_job(
    make_emulator: Any, runner_env: Path, tmp_path: Path
) -> None:
    emu = make_emulator(speed_factor=0.005)
    names = json.loads((Path(__file__).parents[2] / "config" / "job_configs.json").read_text())[
        "jobs"
    ][:4]
    cfg = tmp_path / "jobs.json"
    cfg.write_text(json.dumps({"jobs": [dict(j, expected_runtime_s=None) for j in names]}))
    ctx, progress = _run(emu, runner_env, [{"name": "seq", "context": CONTEXT}], 4, cfg)
    assert ctx.exit_code == 0
    lines = [x for x in progress.lines if x[1] == "seq"]
    assert lines[0][3].endswith("ETA --")  # nothing to go on: no invented number
    assert any(x[2] is not None for x in lines[1:])  # once a job ended: the phase's typical job
