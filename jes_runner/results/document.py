"""The results document: the dict written to the results file (schema in ``schemas/``).

:func:`build_run_document` is the one way from phase outcomes to a results document
(phase documents -> comparisons with the baseline -> the run document): the runner and
``recover`` both call it, so the two can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jes_runner import __version__
from jes_runner._util import iso
from jes_runner.measure.executor import PhaseOutcome
from jes_runner.measure.stats import (
    ComparabilityLimits,
    judge_phase,
    phase_stats,
    phase_status,
    phase_window,
    spans,
    vs_baseline,
)
from jes_runner.results.cost import price_phases

SCHEMA_VERSION = 1


def seed_execution(phase: dict[str, Any] | None, *, mode_label: str) -> dict[str, Any]:
    """`sequential_execution` / `async_execution` as the seed wrote them."""
    if phase is None:
        return {
            "context_name": None,
            "mode": mode_label,
            "jobs": [],
            "total_duration": 0,
            "successful_jobs": 0,
            "failed_jobs": 0,
            "summary": {},
        }
    stats = phase["stats"]
    jobs = []
    for j in phase["jobs"]:
        seed_job = dict(j)
        # aliases the seed's readers use
        seed_job["sequence_number"] = j["sequence"]
        seed_job["start_time"] = j["submitted_at"]
        seed_job["end_time"] = j["ended_at"]
        jobs.append(seed_job)
    out: dict[str, Any] = {
        "context_name": phase["context"],
        "mode": mode_label,
        "execution_mode": phase["mode"],
        "max_concurrent": phase["concurrency"],
        "start_time": phase["started_at"],
        "end_time": phase["ended_at"],
        "jobs": jobs,
        "total_duration": stats["makespan_seconds"],
        "successful_jobs": stats["jobs_completed"],
        "failed_jobs": stats["jobs_total"] - stats["jobs_completed"],
        "summary": {
            k: stats[k]
            for k in ("duration_p50_seconds", "duration_p95_seconds", "hosts_used", "peak_nodes")
        },
    }
    return out


def seed_comparison(
    seq: dict[str, Any], asy: dict[str, Any], vs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The seed's `comparison` block; unknown figures are null (never 0), and the time saved is the
    phase's `vs_baseline` one (jobs completed in both phases) with its comparability."""
    seq_n, asy_n = len(seq["jobs"]), len(asy["jobs"])
    vs = vs or {}

    def avg(jobs: list[dict[str, Any]]) -> float | None:
        ds = [j["duration"] for j in jobs if j.get("duration") is not None]
        return round(sum(ds) / len(ds), 3) if ds else None

    def nodes(jobs: list[dict[str, Any]]) -> dict[str, Any]:
        hosts = sorted(
            {
                h
                for j in jobs
                if (
                    h := ((j.get("metrics") or {}).get("orchestrator_data") or {}).get(
                        "execution_host"
                    )
                )
            }
        )
        return {"total_unique_nodes": len(hosts), "all_nodes": hosts}

    return {
        "execution_time": {
            "sequential_total": seq["total_duration"],
            "async_total": asy["total_duration"],
            "time_saved": vs.get("time_saved_seconds"),
            "efficiency_gain": vs.get("efficiency_gain_percent"),
            "comparable": vs.get("comparable"),
            "basis": vs.get("basis"),
        },
        "job_performance": {
            "sequential_success_rate": round(seq["successful_jobs"] / seq_n * 100, 2)
            if seq_n
            else None,
            "async_success_rate": round(asy["successful_jobs"] / asy_n * 100, 2) if asy_n else None,
            "sequential_avg_job_time": avg(seq["jobs"]),
            "async_avg_job_time": avg(asy["jobs"]),
        },
        "resource_utilization": {
            "sequential_context": seq["context_name"],
            "async_context": asy["context_name"],
            "concurrent_execution": True,
        },
        "node_analysis": {
            "sequential_nodes": nodes(seq["jobs"]),
            "async_nodes": nodes(asy["jobs"]),
        },
    }


def phase_document(outcome: PhaseOutcome, unmatched: list[str]) -> dict[str, Any]:
    """One phase of the results document: its plan, status, jobs, statistics, requests."""
    phase, records = outcome.phase, outcome.records
    first, last = phase_window(records)
    return {
        "name": phase.name,
        "context": phase.context,
        "mode": phase.mode,
        "concurrency": max(1, phase.concurrency),
        "baseline": phase.baseline,
        "status": phase_status(records, outcome.aborted),
        "started_at": iso(first),
        "ended_at": iso(last),
        "client_started_at": iso(outcome.client_started_at),
        "client_ended_at": iso(outcome.client_ended_at),
        "jobs": [r.to_dict() for r in records],
        "unmatched_jobs": unmatched,
        "stats": phase_stats(
            records, planned=len(phase.jobs), mode=phase.mode, concurrency=phase.concurrency
        ),
        "vs_baseline": None,
        "viya_requests": outcome.requests,
        "learned_runtime_factor": outcome.learned_factor,
    }


@dataclass
class PhaseResult:
    """One phase as measured: its outcome, the jobs correlation left unmatched, and its document
    (built once here; enrichers such as the node timeline add keys to it)."""

    outcome: PhaseOutcome
    unmatched: list[str]
    document: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.document = phase_document(self.outcome, self.unmatched)


@dataclass(frozen=True)
class RunMeta:
    """What the results document says about the run itself (``viya_url``, ``settings`` masked)."""

    run_id: str
    started: datetime
    ended: datetime
    elapsed_s: float
    viya_url: str
    labels: dict[str, str]
    job_config: str
    settings: dict[str, Any]
    emulated: bool
    viya_requests: dict[str, Any]
    emulator: dict[str, Any] | None = None
    runtime_history: dict[str, Any] | None = None


def compare_with_baseline(phases: list[PhaseResult], limits: ComparabilityLimits) -> None:
    """Each phase judged (failures, outage, idle, data errors), then against the baseline over the
    jobs completed in both (whatever the phase order)."""
    verdicts = []
    for p in phases:
        o = p.outcome
        p.document["stats"]["api_error_seconds"] = o.api_error_seconds
        verdicts.append(
            judge_phase(
                o.phase.name,
                o.records,
                aborted=o.aborted,
                planned=len(o.phase.jobs),
                stats=p.document["stats"],
                api_error_seconds=o.api_error_seconds,
                limits=limits,
            )
        )
    base = next((i for i, p in enumerate(phases) if p.outcome.phase.baseline), None)
    if base is None:
        return
    base_jobs = spans(phases[base].outcome.records)
    for p, verdict in zip(phases, verdicts, strict=True):
        if not p.outcome.phase.baseline:
            p.document["vs_baseline"] = vs_baseline(
                base_jobs, spans(p.outcome.records), verdicts=(verdicts[base], verdict)
            )


def build_run_document(
    phases: list[PhaseResult], meta: RunMeta, *, aborted: bool
) -> dict[str, Any]:
    """Phase results -> the comparisons -> the whole results document. The comparability limits
    are the run's own settings (so ``recover`` judges a dead run as the run would have), and so
    is the node-hour price each phase's ``cost`` comes from."""
    compare_with_baseline(phases, ComparabilityLimits.from_settings(meta.settings))
    doc = run_document(
        [p.document for p in phases],
        run_id=meta.run_id,
        started=meta.started,
        ended=meta.ended,
        elapsed_s=meta.elapsed_s,
        aborted=aborted,
        viya_url=meta.viya_url,
        labels=meta.labels,
        job_config=meta.job_config,
        settings=meta.settings,
        emulated=meta.emulated,
        viya_requests=meta.viya_requests,
        emulator=meta.emulator,
        runtime_history=meta.runtime_history,
    )
    price_phases(doc)
    return doc


def run_document(
    phases: list[dict[str, Any]],
    *,
    run_id: str,
    started: datetime,
    ended: datetime,
    elapsed_s: float,
    aborted: bool,
    viya_url: str,
    labels: dict[str, str],
    job_config: str,
    settings: dict[str, Any],
    emulated: bool,
    viya_requests: dict[str, Any],
    emulator: dict[str, Any] | None = None,
    runtime_history: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole results document: every phase plus the original tool's keys (seed layout)."""
    if aborted:
        status = "aborted"
    elif phases and all(p["status"] == "completed" for p in phases):
        status = "completed"
    else:
        status = "completed_with_failures"
    base = next((p for p in phases if p["baseline"]), None)
    other = next((p for p in phases if not p["baseline"]), None)
    seq = seed_execution(base, mode_label="sequential")
    asy = seed_execution(other, mode_label="asynchronous")
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "status": status,
        "emulator": emulated,  # figures from the embedded emulator, not a Viya: never publish them as one
        "metadata": {
            "started_at": iso(started),
            "ended_at": iso(ended),
            "duration_seconds": round(elapsed_s, 3),
            "tool_version": __version__,
            "viya_url": viya_url,
            "labels": labels,
            "job_config": job_config,
            "settings": settings,
            "emulator": emulated,
            "execution_timestamp": iso(started),  # the seed's key
            "base_url": viya_url,  # the seed's key
            "viya_requests": viya_requests,
        },
        "phases": phases,
        "sequential_execution": seq,
        "async_execution": asy,
        "comparison": seed_comparison(seq, asy, other.get("vs_baseline") if other else None),
    }
    if emulated and emulator:
        # how served seconds map to the modelled cluster's: model seconds = served / speed_factor
        doc["metadata"]["emulator_model"] = emulator
    if runtime_history is not None:
        doc["metadata"]["runtime_history"] = runtime_history
    return doc
