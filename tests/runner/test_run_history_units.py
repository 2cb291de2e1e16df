"""Expected runtimes in one unit: on an emulator the job config's are the modelled cluster's seconds,
and runtime history read from an emulated run's results (served seconds) is converted to them, so
a plan mixing both polls each job near its true end (ground truth: the emulator's job times)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from jes_runner.cli.session import Target, apply_runtime_history, make_client
from jes_runner.config.phases import parse_phases
from jes_runner.config.settings import load_settings
from jes_runner.console import Progress
from jes_runner.measure.plan import build_plan, load_jobs
from jes_runner.runner import Runner

CONTEXT = "SAS Job Execution compute context"
SPEED = 0.02
# sequential gaps between a job's end and the next one's creation, as a share of the makespan: the
# HTTP round trips alone (tens of ms served, x 1/SPEED) are a few %; a unit mix-up was ~95 %
MAX_IDLE_SHARE = 0.15


def _config(tmp: Path, name: str, keep_expected: int) -> Path:
    shipped = json.loads((Path(__file__).parents[2] / "config" / "job_configs.json").read_text())
    jobs = shipped["jobs"][:4]
    out = [
        dict(j, expected_runtime_s=j["expected_runtime_s"] if i < keep_expected else None)
        for i, j in enumerate(jobs)
    ]
    path = tmp / name
    path.write_text(json.dumps({"jobs": out}))
    return path


def _run(emu: Any, out: Path, cfg: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    settings = load_settings(
        viya_url=emu.url,
        username=emu.username,
        password=emu.password,
        output_dir=out,
        job_config=cfg,
    )
    plan = build_plan(
        parse_phases([{"name": "seq", "context": CONTEXT}]), load_jobs(settings)[1], cfg
    )
    model = {"scenario": emu.scenario.name, "speed_factor": SPEED}
    history = apply_runtime_history(Target(settings, emulated=True, emulator_model=model), plan)
    ctx = Runner(
        settings,
        plan,
        client=make_client(settings),
        progress=Progress(io.StringIO(), live=False),
        stdout=io.StringIO(),
        emulated=True,
        emulator_model=model,
        runtime_history=history,
        sinks=[],
    ).run()
    assert ctx.results is not None and ctx.exit_code == 0
    return ctx.results, history


def _true_idle_share(emu: Any, results: dict[str, Any]) -> float:
    ids = {j["job_instance_id"] for j in results["phases"][0]["jobs"]}
    spans = sorted(
        (t["submit_epoch"], t["jes_end_epoch"])
        for t in emu.ground_truth()["jobs"]
        if t["id"] in ids
    )
    gaps = sum(max(0.0, nxt[0] - cur[1]) for cur, nxt in zip(spans, spans[1:], strict=False))
    return gaps / (spans[-1][1] - spans[0][0])


def test_history_and_config_estimates_mix_in_one_plan(
    make_emulator: Any, runner_env: Path, tmp_path: Path
) -> None:
    emu = make_emulator(speed_factor=SPEED)
    _run(emu, runner_env, _config(tmp_path, "none.json", keep_expected=0))  # the history run
    # two jobs keep the config's (model s) estimates, two take the history's
    results, history = _run(emu, runner_env, _config(tmp_path, "mixed.json", keep_expected=2))
    assert history is not None and history["jobs_with_history"] == 2
    # history in served seconds mistaken for the config's unit made one job's estimate 100x the
    # other's: its end was looked for a poll_interval_max late
    assert _true_idle_share(emu, results) <= MAX_IDLE_SHARE
