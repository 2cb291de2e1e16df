"""Replay the measured 54-job session on the model's virtual clock.

The measured session (data/pooled54_measured.json) ran three phases back to
back: sequential, all-at-once on the default queue ("fixed pool"), all-at-once
in the autoscaling context. The replay keeps what the *client* did and lets the
model produce everything the *cluster* did:

* sequential: the next job is submitted the measured client gap (~6 s) after
  the previous job's emulated end -- the gap is the submitting tool's, not the
  cluster's, so the model must not invent it;
* concurrent phases: jobs are submitted at their measured offsets from the
  phase's first submission;
* between phases: the measured pause, so nodes scaled up in one phase are still
  warm in the next (as the computetmp node 00002q was on the real cluster).

``python -m jes_runner.emulator.calibration`` prints the real-vs-emulated table.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from jes_runner.emulator.model import Cluster, SimJob
from jes_runner.emulator.scenario import Scenario, default_scenario

PHASES = ("sequential", "concurrent_fixed_pool", "concurrent_autoscaling")


def measured() -> dict[str, Any]:
    text = (
        resources.files("jes_runner.emulator")
        .joinpath("data")
        .joinpath("pooled54_measured.json")
        .read_text("utf-8")
    )
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass
class PhaseFigures:
    makespan_s: float
    pending_mean_s: float
    pending_max_s: float
    starting_mean_s: float
    running_sum_s: float
    jobs_per_host: dict[str, int] = field(default_factory=dict)

    @property
    def hosts(self) -> int:
        return len(self.jobs_per_host)


def real_figures(phase: dict[str, Any]) -> PhaseFigures:
    jobs = phase["jobs"]
    per_host: dict[str, int] = {}
    for j in jobs:
        per_host[j["host"]] = per_host.get(j["host"], 0) + 1
    return PhaseFigures(
        makespan_s=phase["last_end"] - phase["first_submit"],
        pending_mean_s=statistics.fmean(j["pending"] for j in jobs),
        pending_max_s=max(j["pending"] for j in jobs),
        starting_mean_s=statistics.fmean(j["starting"] for j in jobs),
        running_sum_s=sum(j["running"] for j in jobs),
        jobs_per_host=per_host,
    )


def emulated_figures(jobs: list[SimJob], lag: float) -> PhaseFigures:
    per_host: dict[str, int] = {}
    rows: list[tuple[float, float, float, float]] = []  # submit, dispatch, run, end
    for j in jobs:
        if j.node is None or j.dispatch_t is None or j.run_t is None or j.end_t is None:
            raise RuntimeError(f"job {j.name} did not run to its end")
        per_host[j.node.name] = per_host.get(j.node.name, 0) + 1
        rows.append((j.submit_t, j.dispatch_t, j.run_t, j.end_t))
    return PhaseFigures(
        makespan_s=max(r[3] for r in rows) + lag - min(r[0] for r in rows),
        pending_mean_s=statistics.fmean(r[1] - r[0] for r in rows),
        pending_max_s=max(r[1] - r[0] for r in rows),
        starting_mean_s=statistics.fmean(r[2] - r[1] for r in rows),
        running_sum_s=sum(r[3] - r[2] for r in rows),
        jobs_per_host=per_host,
    )


def _run_until_done(cluster: Cluster, jobs: list[SimJob]) -> float:
    """Advance until every job ended; returns the last Job Execution end (model s)."""
    lag = cluster.scenario.completion_lag_s
    while any(j.end_t is None for j in jobs):
        t = cluster.next_event_time()
        if math.isinf(t):
            raise RuntimeError("model stalled with unfinished jobs")
        cluster.advance(t)
    return max(j.end_t or 0.0 for j in jobs) + lag


def replay_session(
    scenario: Scenario | None = None,
    contexts: dict[str, str] | None = None,
) -> dict[str, tuple[PhaseFigures, PhaseFigures]]:
    """Replay the three measured phases in order; returns phase -> (real, emulated)."""
    sc = scenario or default_scenario()
    data = measured()
    cluster = Cluster(sc)
    lag = sc.completion_lag_s
    out: dict[str, tuple[PhaseFigures, PhaseFigures]] = {}
    t = 0.0
    prev_real_end: float | None = None
    for name in PHASES:
        phase = data["phases"][name]
        ctx = (contexts or {}).get(name, phase["context"])
        if prev_real_end is not None:
            t += phase["first_submit"] - prev_real_end  # measured pause between phases
        start = t
        jobs: list[SimJob] = []
        if name == "sequential":
            mjobs = phase["jobs"]
            for i, mj in enumerate(mjobs):
                job = cluster.submit(t, mj["name"], ctx)
                jobs.append(job)
                end = _run_until_done(cluster, [job])
                gap = mjobs[i + 1]["submit"] - mj["end"] if i + 1 < len(mjobs) else 0.0
                t = end + gap
        else:
            for mj in phase["jobs"]:
                jobs.append(
                    cluster.submit(start + mj["submit"] - phase["first_submit"], mj["name"], ctx)
                )
        t = _run_until_done(cluster, jobs)
        prev_real_end = phase["last_end"]
        out[name] = (real_figures(phase), emulated_figures(jobs, lag))
    return out


def table(results: dict[str, tuple[PhaseFigures, PhaseFigures]]) -> str:
    rows = [
        "| phase | makespan real / emulated (min) | error | pending mean real / emu (s) | pending max real / emu (s) | starting mean real / emu (s) | running sum real / emu (min) | hosts real / emu (jobs per host) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, (r, e) in results.items():
        err = (e.makespan_s - r.makespan_s) / r.makespan_s * 100
        rows.append(
            f"| {name} | {r.makespan_s / 60:.1f} / {e.makespan_s / 60:.1f} | {err:+.1f} % "
            f"| {r.pending_mean_s:.0f} / {e.pending_mean_s:.0f} | {r.pending_max_s:.0f} / {e.pending_max_s:.0f} "
            f"| {r.starting_mean_s:.0f} / {e.starting_mean_s:.0f} | {r.running_sum_s / 60:.1f} / {e.running_sum_s / 60:.1f} "
            f"| {r.hosts} ({'/'.join(str(v) for v in sorted(r.jobs_per_host.values(), reverse=True))}) "
            f"/ {e.hosts} ({'/'.join(str(v) for v in sorted(e.jobs_per_host.values(), reverse=True))}) |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(table(replay_session()))
