"""Per-phase statistics and phase-versus-baseline figures (all from server times).

Rules the figures keep:

* unknown is ``None``, never 0 (no orchestrator data: ``hosts_used`` is unknown);
* ``idle_seconds`` is the time inside the phase window when none of its jobs
  existed on the server (between one job's end and the next creation: the
  runner's own reaction time); ``busy_makespan_seconds`` is the makespan without it;
* ``slot_idle_seconds`` (window and sequential modes, which release a job when one
  ends) is the time a slot stood empty waiting for the runner to see an end: the
  k-th end to the (k + slots)-th creation, summed; in window mode the others still
  run, so idle time misses it. ``slot_idle_percent`` is its share of slots x makespan;
* a phase is compared with the baseline over the jobs *completed in both*, on the
  makespan and on the busy time, and is ``comparable`` only when neither phase
  had a failure, a timeout, a cancellation or an abort (a failed job ends early
  and makes the concurrent phase look faster).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from jes_runner._util import parse_ts, percentile  # percentile: re-exported for callers
from jes_runner.config.settings import DEFAULT_MAX_IDLE_SHARE, DEFAULT_MAX_OUTAGE_SHARE
from jes_runner.measure.records import DATA_ERROR, JobRecord


def measured(records: list[JobRecord]) -> list[JobRecord]:
    """The records whose server figures can be believed: a data error enters no statistic."""
    return [r for r in records if r.status != DATA_ERROR]


def phase_window(records: list[JobRecord]) -> tuple[datetime | None, datetime | None]:
    """First server creation, last server end (data errors left out)."""
    starts = [r.submitted_at for r in measured(records) if r.submitted_at]
    ends = [r.ended_at for r in measured(records) if r.ended_at]
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


Interval = tuple[datetime, datetime]


class JobSpan(NamedTuple):
    """What the comparison needs of one job: which it is, how it ended, its server times."""

    name: str
    sequence: int
    status: str
    created: datetime | None
    ended: datetime | None


def spans(records: list[JobRecord]) -> list[JobSpan]:
    return [JobSpan(r.name, r.sequence, r.status, r.submitted_at, r.ended_at) for r in records]


def server_intervals(jobs: list[JobSpan]) -> list[Interval]:
    """[creation, end] of every job with both server timestamps."""
    return [(j.created, j.ended) for j in jobs if j.created and j.ended and j.ended >= j.created]


def busy_seconds(intervals: list[Interval]) -> float | None:
    """Length of the union of the intervals (None when there are none)."""
    if not intervals:
        return None
    total = 0.0
    cur_start, cur_end = None, None
    for a, b in sorted(intervals):
        if cur_end is None or a > cur_end:
            if cur_end is not None and cur_start is not None:
                total += (cur_end - cur_start).total_seconds()
            cur_start, cur_end = a, b
        elif b > cur_end:
            cur_end = b
    if cur_start is not None and cur_end is not None:
        total += (cur_end - cur_start).total_seconds()
    return round(total, 3)


def span_seconds(intervals: list[Interval]) -> float | None:
    """First creation to last end."""
    if not intervals:
        return None
    return round((max(b for _, b in intervals) - min(a for a, _ in intervals)).total_seconds(), 3)


# modes that release the next job when one ends: a late look leaves a slot empty
RELEASE_ON_END_MODES = ("sequential", "window")


def slot_idle_seconds(intervals: list[Interval], slots: int) -> float:
    """Time slots stood empty between an end and the creation it released: with at most
    ``slots`` jobs in flight the (k + slots)-th creation waits for the k-th end."""
    ends = sorted(b for _, b in intervals)
    starts = sorted(a for a, _ in intervals)
    gaps = (max(0.0, (c - e).total_seconds()) for e, c in zip(ends, starts[slots:], strict=False))
    return round(sum(gaps), 3)


def _slot_idle(
    intervals: list[Interval], makespan: float | None, mode: str | None, slots: int | None
) -> dict[str, float | None]:
    if mode not in RELEASE_ON_END_MODES or not slots or not intervals:
        return {"slot_idle_seconds": None, "slot_idle_percent": None}
    empty = slot_idle_seconds(intervals, slots)
    share = round(empty / (slots * makespan) * 100, 2) if makespan else None
    return {"slot_idle_seconds": empty, "slot_idle_percent": share}


def phase_stats(
    all_records: list[JobRecord],
    planned: int | None = None,
    mode: str | None = None,
    concurrency: int | None = None,
) -> dict[str, Any]:
    """``mode`` and ``concurrency`` (the phase's): for the slot idle of modes that release
    a job when one ends (None otherwise, or when unknown)."""
    counts = Counter(r.status for r in all_records)
    records = measured(all_records)
    first, last = phase_window(records)
    makespan = round((last - first).total_seconds(), 3) if first and last else None
    intervals = server_intervals(spans(records))
    busy = busy_seconds(intervals)
    idle = round(makespan - busy, 3) if makespan is not None and busy is not None else None
    slots = 1 if mode == "sequential" else concurrency
    durations = [r.duration for r in records if r.status == "completed" and r.duration is not None]
    waits = [
        float(w)
        for r in records
        if r.orchestrator
        and isinstance((w := r.orchestrator.get("queue_wait_seconds")), int | float)
    ]
    hosts = Counter(
        h for r in records if r.orchestrator and (h := r.orchestrator.get("execution_host"))
    )
    sum_run = round(
        sum(r.duration for r in records if r.duration is not None and r.timing_source == "server"),
        3,
    )
    with_orchestrator = any(r.orchestrator for r in records)
    peak = peak_nodes(records) if with_orchestrator else None
    return {
        "makespan_seconds": makespan,
        "busy_makespan_seconds": busy,
        "idle_seconds": idle,
        "idle_percent": round(idle / makespan * 100, 2) if idle is not None and makespan else None,
        **_slot_idle(intervals, makespan, mode, slots),
        "jobs_planned": len(all_records) if planned is None else planned,
        "jobs_submitted": sum(1 for r in all_records if r.job_instance_id),
        "jobs_total": len(all_records),
        "jobs_completed": counts["completed"],
        "jobs_failed": counts["failed"] + counts["submit_failed"],
        "jobs_canceled": counts["canceled"],
        "jobs_timed_out": counts["timed_out"],
        "jobs_data_error": counts[DATA_ERROR],
        "duration_p50_seconds": percentile(durations, 50),
        "duration_p95_seconds": percentile(durations, 95),
        "duration_max_seconds": round(max(durations), 3) if durations else None,
        "queue_wait_p50_seconds": percentile(waits, 50),
        "queue_wait_p95_seconds": percentile(waits, 95),
        "queue_wait_max_seconds": round(max(waits), 3) if waits else None,
        "hosts_used": len(hosts) if with_orchestrator else None,
        "jobs_per_host": dict(sorted(hosts.items())),
        "sum_run_seconds": sum_run,
        "concurrency_achieved": round(sum_run / makespan, 3) if makespan else None,
        "peak_nodes": peak,
    }


def _ratio_figures(base: float | None, cur: float | None, prefix: str = "") -> dict[str, Any]:
    known = base is not None and cur is not None and base > 0
    saved = round(base - cur, 3) if known and base is not None and cur is not None else None
    return {
        f"{prefix}time_saved_seconds": saved,
        f"{prefix}efficiency_gain_percent": round(saved / base * 100, 2)
        if saved is not None and base
        else None,
        f"{prefix}speedup": round(base / cur, 3) if known and base and cur else None,
    }


def not_comparable_reason(
    name: str, jobs: list[JobSpan], aborted: bool, planned: int | None = None
) -> str | None:
    """Why a phase's figures cannot stand for "the same work, faster" (None: they can)."""
    if aborted:
        return f"phase {name} was aborted"
    counts = Counter(j.status for j in jobs if j.status not in ("completed", DATA_ERROR))
    if planned is not None and planned > len(jobs):
        counts["not_run"] += planned - len(jobs)
    if not counts:
        return None
    what = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(counts.items()))
    return f"phase {name} had jobs not completed ({what})"


@dataclass(frozen=True, slots=True)
class ComparabilityLimits:
    """Beyond these a phase's figures say more about the measurement than about the cluster."""

    max_outage_share: float = DEFAULT_MAX_OUTAGE_SHARE
    max_idle_share: float = DEFAULT_MAX_IDLE_SHARE

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ComparabilityLimits:
        """The limits a run used, from its (masked) settings; the defaults where absent."""
        return cls(
            float(settings.get("max_outage_share", DEFAULT_MAX_OUTAGE_SHARE)),
            float(settings.get("max_idle_share", DEFAULT_MAX_IDLE_SHARE)),
        )


class Reason(StrEnum):
    """Why a phase is not comparable: the short form (metrics label, reader flags)."""

    ABORTED = "aborted"
    NOT_COMPLETED = "jobs_not_completed"
    DATA_ERROR = "data_error"
    API_OUTAGE = "api_outage"
    IDLE = "idle"
    NO_COMMON_JOBS = "no_common_jobs"


@dataclass(slots=True)
class Verdict:
    """A phase's comparability: reason codes and the sentences that explain them."""

    codes: list[Reason] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def add(self, code: Reason, text: str) -> None:
        if code not in self.codes:
            self.codes.append(code)
        self.texts.append(text)


# the runner's idle gaps, judged against max_idle_share: the first figure over it is the reason
IDLE_FIGURES = (
    ("idle_percent", "{:.0f} % of its makespan had none of its jobs on the server"),
    (
        "slot_idle_percent",
        "its job slots stood empty {:.0f} % of the time waiting for the runner to see an end",
    ),
)


def judge_phase(
    name: str,
    records: list[JobRecord],
    *,
    aborted: bool,
    planned: int | None,
    stats: dict[str, Any],
    api_error_seconds: float,
    limits: ComparabilityLimits,
) -> Verdict:
    """Everything that keeps a phase's figures from meaning "the same work, faster"."""
    verdict = Verdict()
    jobs = spans(records)
    text = not_comparable_reason(name, jobs, aborted, planned)
    if text:
        code = Reason.ABORTED if aborted else Reason.NOT_COMPLETED
        verdict.add(code, text)
    if any(j.status == DATA_ERROR for j in jobs):
        verdict.add(Reason.DATA_ERROR, f"phase {name} has jobs with impossible server timestamps")
    makespan = stats.get("makespan_seconds")
    if makespan and api_error_seconds > limits.max_outage_share * makespan:
        verdict.add(
            Reason.API_OUTAGE,
            f"phase {name}: Viya answered with errors for {api_error_seconds:.1f} s, "
            f"{api_error_seconds / makespan:.0%} of its makespan (max_outage_share "
            f"{limits.max_outage_share:.0%}): the runner lost sight of its jobs",
        )
    for key, what in IDLE_FIGURES:
        share = stats.get(key)
        if share is not None and share / 100 > limits.max_idle_share:
            verdict.add(
                Reason.IDLE,
                f"phase {name}: {what.format(share)} (max_idle_share {limits.max_idle_share:.0%})",
            )
            break  # one gap, one reason: a sequential phase's slot idle is its idle time
    return verdict


def vs_baseline(
    baseline: list[JobSpan],
    jobs: list[JobSpan],
    *,
    baseline_reason: str | None = None,
    reason: str | None = None,
    verdicts: tuple[Verdict, ...] = (),
) -> dict[str, Any] | None:
    """The phase against the baseline over the jobs completed in both (matched by name and occurrence).

    ``speedup`` and ``time_saved_seconds`` compare the makespans (first creation to last
    end) of those jobs; the ``busy_*`` figures compare the time any of them was on the
    server, without the runner's idle gaps. ``comparable`` is False, with a reason,
    when either phase had jobs not completed or was aborted."""
    base_done = _completed_by_key(baseline)
    cur_done = _completed_by_key(jobs)
    both = sorted(set(base_done) & set(cur_done))
    b_iv = server_intervals([base_done[k] for k in both])
    c_iv = server_intervals([cur_done[k] for k in both])
    reasons = [r for r in (baseline_reason, reason) if r]
    codes = [Reason.NOT_COMPLETED] if reasons else []
    for v in verdicts:
        reasons += [t for t in v.texts if t not in reasons]
        codes += [c for c in v.codes if c not in codes]
    if not both:
        reasons.append("no job completed in both phases")
        codes.append(Reason.NO_COMMON_JOBS)
    out: dict[str, Any] = {
        "basis": "jobs completed in both phases",
        "jobs_compared": len(both),
        "comparable": not reasons,
        "reason": "; ".join(reasons) or None,
        "reasons": [str(c) for c in codes],
        "baseline_makespan_seconds": span_seconds(b_iv),
        "makespan_seconds": span_seconds(c_iv),
        "baseline_busy_seconds": busy_seconds(b_iv),
        "busy_seconds": busy_seconds(c_iv),
    }
    out.update(_ratio_figures(out["baseline_makespan_seconds"], out["makespan_seconds"]))
    out.update(_ratio_figures(out["baseline_busy_seconds"], out["busy_seconds"], prefix="busy_"))
    return out


def _completed_by_key(jobs: list[JobSpan]) -> dict[tuple[str, int], JobSpan]:
    """(job name, occurrence) -> completed job: the same job may run more than once in a phase."""
    seen: Counter[str] = Counter()
    out: dict[tuple[str, int], JobSpan] = {}
    for j in sorted(jobs, key=lambda j: j.sequence):
        seen[j.name] += 1
        if j.status == "completed":
            out[(j.name, seen[j.name])] = j
    return out


def phase_status(records: list[JobRecord], aborted: bool) -> str:
    if aborted:
        return "aborted"
    return (
        "completed" if all(r.status == "completed" for r in records) else "completed_with_failures"
    )
