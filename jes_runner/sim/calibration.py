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
  there in the next (00002q warm, 00002r cold, as on the real cluster): the
  model's own decisions, no measured start state (see ``explain_measurement``).

``python -m jes_runner.sim.calibration`` prints the real-vs-emulated table.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, NamedTuple

from jes_runner.sim.model import Cluster, SimJob
from jes_runner.sim.scenario import Scenario, default_scenario

PHASES = ("sequential", "concurrent_fixed_pool", "concurrent_autoscaling")


def measured() -> dict[str, Any]:
    text = (
        resources.files("jes_runner.sim")
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


def _run_until_done(cluster: Cluster, jobs: list[SimJob]) -> float:
    """Advance until every job ended; returns the last Job Execution end (model s)."""
    lag = cluster.scenario.completion_lag_s
    while any(j.end_t is None for j in jobs):
        t = cluster.next_event_time()
        if math.isinf(t):
            raise RuntimeError("model stalled with unfinished jobs")
        cluster.advance(t)
    return max(j.end_t or 0.0 for j in jobs) + lag


class JobTimes(NamedTuple):
    """One job of a phase, real or emulated: offsets (s) from the phase's first submission."""

    name: str
    submit: float
    pending: float
    starting: float
    running: float
    end: float  # Job Execution end (orchestrator end + completion lag)
    host: str


class PhaseReplay(NamedTuple):
    real: list[JobTimes]
    emulated: list[JobTimes]
    real_makespan_s: float
    emulated_makespan_s: float


def real_jobs(phase: dict[str, Any]) -> list[JobTimes]:
    t0 = phase["first_submit"]
    return [
        JobTimes(
            j["name"],
            j["submit"] - t0,
            float(j["pending"]),
            float(j["starting"]),
            float(j["running"]),
            j["end"] - t0,
            j["host"],
        )
        for j in phase["jobs"]
    ]


def emulated_jobs(jobs: list[SimJob], start: float, lag: float) -> list[JobTimes]:
    out = []
    for j in jobs:
        if j.node is None or j.dispatch_t is None or j.run_t is None or j.end_t is None:
            raise RuntimeError(f"job {j.name} did not run to its end")
        out.append(
            JobTimes(
                j.name,
                j.submit_t - start,
                j.dispatch_t - j.submit_t,
                j.run_t - j.dispatch_t,
                j.end_t - j.run_t,
                j.end_t + lag - start,
                j.node.name,
            )
        )
    return out


def _measured_starting_nodes(cluster: Cluster, phase: dict[str, Any], seen: set[str]) -> None:
    """Add the nodes the measured phase found already up that the model does not have.

    A host that ran a job without any queue wait existed when that job was
    submitted. The measured autoscaling phase found ``computetmp`` node
    ``00002r`` up but never used (its first jobs "started" for 98 s: image
    pull). The model now produces that node itself (the fixed phase's backlog
    scales past the queue's host limit), so this is only the "explain the
    measurement" mode of :func:`replay`, never a fidelity figure. Its image is
    cold unless the host ran a job in an earlier phase.
    """
    live = {n.name for n in cluster.live_nodes()}
    for host in sorted({j["host"] for j in phase["jobs"] if j["pending"] == 0} - live):
        pool = next(
            (
                p
                for p, spec in cluster.scenario.pools.items()
                if host.startswith(f"aks-{p}-{spec.vmss_id}-vmss")
            ),
            None,
        )
        if pool is not None:
            cluster.add_ready_node(pool, image_ready=host in seen)


def replay(
    scenario: Scenario | None = None,
    contexts: dict[str, str] | None = None,
    explain_measurement: bool = False,
) -> dict[str, PhaseReplay]:
    """Replay the three measured phases in order, one continuous simulation; phase -> replay.

    The model decides every node: nothing of a phase's measured outcome sets its start state.
    ``explain_measurement`` adds the nodes the measurement shows up at a phase's start
    (:func:`_measured_starting_nodes`): a mode to explain one history, never a fidelity figure.
    """
    sc = scenario or default_scenario()
    data = measured()
    cluster = Cluster(sc)
    lag = sc.completion_lag_s
    out: dict[str, PhaseReplay] = {}
    t = 0.0
    prev_real_end: float | None = None
    seen_hosts: set[str] = set()
    for name in PHASES:
        phase = data["phases"][name]
        ctx = (contexts or {}).get(name, phase["context"])
        if prev_real_end is not None:
            t += phase["first_submit"] - prev_real_end  # measured pause between phases
        start = t
        cluster.advance(start)
        if explain_measurement:
            _measured_starting_nodes(cluster, phase, seen_hosts)
        seen_hosts.update(j["host"] for j in phase["jobs"])
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
        first = min(j.submit_t for j in jobs)
        out[name] = PhaseReplay(
            real_jobs(phase),
            emulated_jobs(jobs, first, lag),
            phase["last_end"] - phase["first_submit"],
            t - first,
        )
    return out


def replay_session(
    scenario: Scenario | None = None,
    contexts: dict[str, str] | None = None,
) -> dict[str, tuple[PhaseFigures, PhaseFigures]]:
    """Replay the three measured phases in order; returns phase -> (real, emulated)."""
    sc = scenario or default_scenario()
    data = measured()
    return {
        name: (real_figures(data["phases"][name]), figures(r.emulated, r.emulated_makespan_s))
        for name, r in replay(sc, contexts).items()
    }


def figures(jobs: list[JobTimes], makespan_s: float) -> PhaseFigures:
    per_host: dict[str, int] = {}
    for j in jobs:
        per_host[j.host] = per_host.get(j.host, 0) + 1
    return PhaseFigures(
        makespan_s=makespan_s,
        pending_mean_s=statistics.fmean(j.pending for j in jobs),
        pending_max_s=max(j.pending for j in jobs),
        starting_mean_s=statistics.fmean(j.starting for j in jobs),
        running_sum_s=sum(j.running for j in jobs),
        jobs_per_host=per_host,
    )


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
