"""The fidelity a client sees: the measured session's three phases run by jes-runner itself
(`run --emulator --scenario`, over the emulator's HTTP API), its results file read back in
model seconds and set beside the real measurements.

Nothing of the measured outcome enters the emulated run: the scenario is the default one with
only its seed and speed factor changed; the runner submits the 54 jobs as it would on Viya.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jes_runner.analysis.whatif import load_study
from jes_runner.sim.calibration import PHASES, JobTimes, PhaseReplay, measured, real_jobs
from jes_runner.sim.fidelity import PhaseFidelity, session_fidelity
from jes_runner.sim.scenario import default_scenario

REPO = Path(__file__).resolve().parents[2]
# fast enough for CI, slow enough that the runner's 54 submissions take about as long as the
# measured tool's (23 model s): one model second is 10 ms
SPEED_FACTOR = 0.01
CONTEXTS = {
    "sequential": ("SAS Job Execution compute context", "sequential"),
    "concurrent_fixed_pool": ("SAS Job Execution compute context", "all"),
    "concurrent_autoscaling": ("Autoscaling POC Context", "all"),
}


def run_session(workdir: Path, seed: int, speed_factor: float = SPEED_FACTOR) -> Path:
    """An emulator (default scenario, this seed and speed) and `jes-runner run --viya-url` in a
    subprocess over the three phases; returns the results file, labelled with the emulator's
    model (the runner labels only the emulators it starts itself)."""
    from jes_runner.emulator import Emulator

    workdir.mkdir(parents=True, exist_ok=True)
    sc = default_scenario().model_copy(update={"seed": seed, "speed_factor": speed_factor})
    phases = [
        {"name": name, "context": ctx, "mode": mode, **({"baseline": True} if i == 0 else {})}
        for i, (name, (ctx, mode)) in enumerate(CONTEXTS.items())
    ]
    (workdir / "phases.json").write_text(json.dumps(phases), encoding="utf-8")
    with Emulator(scenario=sc, port=0) as emu:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JES_")}
        env.update(
            PYTHONPATH=str(REPO),
            JES_SECRETS_DIR=str(workdir / "no-secrets"),
            JES_USERNAME=emu.username,
            JES_PASSWORD=emu.password,
        )
        proc = subprocess.run(
            [
                sys.executable, "-m", "jes_runner", "run",
                "--viya-url", emu.url,
                "--phases", str(workdir / "phases.json"),
                "--output-dir", str(workdir / "out"),
            ],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    (results,) = (workdir / "out").glob("pooled_jobs_comparison_*.json")
    doc = json.loads(results.read_text(encoding="utf-8"))
    doc["metadata"]["emulator_model"] = {"scenario": sc.name, "speed_factor": speed_factor}
    labelled = workdir / "results_model.json"
    labelled.write_text(json.dumps(doc), encoding="utf-8")
    return labelled


def replays(results: Path) -> dict[str, PhaseReplay]:
    """The run's phases (model seconds, from metadata.emulator_model) beside the real ones."""
    study = load_study(results)
    assert study.unit == "model s", "the results file must say it was emulated"
    data = measured()
    out = {}
    for name in PHASES:
        p = study.phase(name)
        emulated = [
            JobTimes(j.name, j.submit, j.pending, j.starting, j.running, j.end, j.host or "")
            for j in p.jobs
        ]
        real = data["phases"][name]
        out[name] = PhaseReplay(
            real_jobs(real), emulated, real["last_end"] - real["first_submit"], p.makespan_s
        )
    return out


def session(workdir: Path, seed: int) -> dict[str, PhaseFidelity]:
    return session_fidelity(replays(run_session(workdir / f"seed{seed}", seed)))
