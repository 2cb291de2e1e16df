"""Per-phase statistics and phase-versus-baseline figures (all from server times)."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from typing import Any

from jes_runner._util import parse_ts
from jes_runner.measure.records import JobRecord


def percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return round(xs[lo] + (xs[hi] - xs[lo]) * (k - lo), 3)


def phase_window(records: list[JobRecord]) -> tuple[datetime | None, datetime | None]:
    """First server creation, last server end."""
    starts = [r.submitted_at for r in records if r.submitted_at]
    ends = [r.ended_at for r in records if r.ended_at]
    return (min(starts) if starts else None, max(ends) if ends else None)


def _busy_interval(r: JobRecord) -> tuple[datetime, datetime] | None:
    o = r.orchestrator or {}
    start, end = parse_ts(o.get("start_time")), parse_ts(o.get("end_time"))
    if start and end and end > start:
        return start, end
    # orchestrator times are whole seconds: at high speed they collapse, use Job Execution's
    if r.submitted_at and r.ended_at and r.ended_at > r.submitted_at:
        return r.submitted_at, r.ended_at
    return None


def peak_nodes(records: list[JobRecord]) -> int:
    """Most distinct hosts busy at the same instant (intervals half-open)."""
    events: list[tuple[datetime, int, str]] = []
    for r in records:
        host = (r.orchestrator or {}).get("execution_host")
        iv = _busy_interval(r) if isinstance(host, str) and host else None
        if iv and isinstance(host, str):
            events.append((iv[0], 1, host))
            events.append((iv[1], -1, host))
    events.sort(key=lambda e: (e[0], e[1]))  # ends before starts at the same instant
    active: Counter[str] = Counter()
    peak = 0
    for _, delta, host in events:
        active[host] += delta
        if active[host] <= 0:
            del active[host]
        peak = max(peak, len(active))
    return peak


def phase_stats(records: list[JobRecord]) -> dict[str, Any]:
    first, last = phase_window(records)
    makespan = round((last - first).total_seconds(), 3) if first and last else None
    counts = Counter(r.status for r in records)
    durations = [r.duration for r in records if r.status == "completed" and r.duration is not None]
    waits = [float(w) for r in records
             if r.orchestrator and isinstance((w := r.orchestrator.get("queue_wait_seconds")), int | float)]
    hosts = Counter(h for r in records if r.orchestrator and (h := r.orchestrator.get("execution_host")))
    sum_run = round(sum(r.duration for r in records if r.duration is not None and r.timing_source == "server"), 3)
    return {
        "makespan_seconds": makespan,
        "jobs_total": len(records),
        "jobs_completed": counts["completed"],
        "jobs_failed": counts["failed"] + counts["submit_failed"],
        "jobs_canceled": counts["canceled"],
        "jobs_timed_out": counts["timed_out"],
        "duration_p50_seconds": percentile(durations, 50),
        "duration_p95_seconds": percentile(durations, 95),
        "duration_max_seconds": round(max(durations), 3) if durations else None,
        "queue_wait_p50_seconds": percentile(waits, 50),
        "queue_wait_p95_seconds": percentile(waits, 95),
        "queue_wait_max_seconds": round(max(waits), 3) if waits else None,
        "hosts_used": len(hosts),
        "jobs_per_host": dict(sorted(hosts.items())),
        "sum_run_seconds": sum_run,
        "concurrency_achieved": round(sum_run / makespan, 3) if makespan else None,
        "peak_nodes": peak_nodes(records),
    }


def vs_baseline(baseline_makespan: float | None, makespan: float | None) -> dict[str, Any] | None:
    if not baseline_makespan or makespan is None:
        return None
    saved = baseline_makespan - makespan
    return {
        "time_saved_seconds": round(saved, 3),
        "efficiency_gain_percent": round(saved / baseline_makespan * 100, 2),
        "speedup": round(baseline_makespan / makespan, 3) if makespan > 0 else None,
    }


def phase_status(records: list[JobRecord], aborted: bool) -> str:
    if aborted:
        return "aborted"
    return "completed" if all(r.status == "completed" for r in records) else "completed_with_failures"


# -- the seed tool's keys, kept for users' existing scripts ------------------------------



