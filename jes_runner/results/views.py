"""Reading results files for the sinks that look back at a run (report, export, compare).

`load_results` accepts the schema versions it knows and refuses anything else with
one line (exit 2):

* version 1 -- the runner's results file (docs/ARCHITECTURE.md, "Results file contract");
* version 0 -- the seed tool's files (no ``schema_version``; ``sequential_execution`` and
  ``async_execution`` with client-clock times), upgraded to the version-1 shape.

`phase_views` turns the dict into typed views with the figures every sink derives
(queue wait / start-up / run split, host, the study's "perfect split" and per-node
efficiency), so the report, the export and compare all compute them one way.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from jes_runner._util import finite as _num
from jes_runner._util import parse_ts
from jes_runner.errors import JesError

KNOWN_SCHEMA_VERSIONS = (0, 1)
NOT_COMPLETED = ("failed", "canceled", "timed_out", "submit_failed")
UNKNOWN_HOST = "(no orchestrator match)"
DATA_ERROR = "data_error"  # impossible server timestamps: shown, flagged, in no statistic

log = logging.getLogger("jes_runner.results")


# -- loading ---------------------------------------------------------------------------


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and normalise a results file; one-line JesError (exit 2) when it is not one."""
    p = Path(path)
    if p.name.endswith(".checkpoint.jsonl"):
        raise JesError(
            f"{p}: a run's checkpoint, not a results file -- `jes-runner recover {p}` turns it into one"
        )
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JesError(f"{p}: no such results file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise JesError(f"{p}: cannot read results file ({e.__class__.__name__})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise JesError(f"{p}: not JSON (line {e.lineno}: {e.msg})") from None
    return normalize_results(data, str(p))


def data_warnings(results: dict[str, Any]) -> list[str]:
    """What a reader must say before showing a file's figures: data errors, phases not comparable."""
    out: list[str] = []
    for p in phase_views(results):
        if p.data_errors:
            out.append(
                f"phase {p.name}: {len(p.data_errors)} job(s) with impossible server timestamps "
                f"({', '.join(p.data_errors[:5])}) left out of its figures"
            )
        if not p.baseline and p.comparable is False:
            out.append(f"phase {p.name} is not comparable: {p.reason or 'see vs_baseline'}")
    return out


def normalize_results(data: Any, source: str = "results") -> dict[str, Any]:
    """Version-1 shaped dict from any known schema version; what a reader must say before showing
    its figures (data errors, phases not comparable) is logged, so every reader says it."""
    results = _normalize(data, source)
    for warning in data_warnings(results):
        log.warning("%s: %s", source, warning, extra={"event": "results_data_warning"})
    return results


def _normalize(data: Any, source: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise JesError(f"{source}: not a jes-runner results file (top level is not an object)")
    if "schema_version" in data:
        version = data["schema_version"]
        if data.get("kind") == "concurrency_sweep" or isinstance(data.get("sweep"), dict):
            raise JesError(f"{source}: this is a sweep results file, not a run's results file")
        if version in (0, 1) and isinstance(data.get("phases"), list):
            return data  # a version-1 file, or an original-tool file already upgraded (version 0)
        if version == 1:
            raise JesError(f"{source}: schema_version 1 but no 'phases' list -- not a results file")
        known = ", ".join(str(v) for v in KNOWN_SCHEMA_VERSIONS)
        raise JesError(
            f"{source}: unknown results schema_version {version!r} (this jes-runner reads {known});"
            " upgrade jes-runner to read it"
        )
    if any(isinstance(data.get(key), dict) for key, _, _ in SEED_PHASES):
        return _upgrade_seed(data)
    raise JesError(f"{source}: not a jes-runner results file (no schema_version and no phases)")


# The original tool's phase keys, in run order: (key, phase name, baseline). Two-phase files have
# `sequential_execution` + `async_execution`; three-phase ones split the async phase into a regular
# (same fixed context, concurrency only) and an autoscaling one.
SEED_PHASES = (
    ("sequential_execution", "sequential", True),
    ("async_regular_execution", "async_regular", False),
    ("async_autoscaling_execution", "async_autoscaling", False),
    ("async_execution", "async", False),
)
_SEED_STATUS = {
    "completed": "completed",
    "failed": "failed",
    "error": "failed",
    "canceled": "canceled",
    "cancelled": "canceled",
    "timeout": "timed_out",
    "timed_out": "timed_out",
}


def _seed_job(j: dict[str, Any], i: int, name: str, context: str | None) -> dict[str, Any]:
    """One job of the original tool's file; its `job_metrics` server timestamps win over its client clock."""
    jm: dict[str, Any] = _dict(j.get("job_metrics")) or {}
    od = _dict(_dict(j.get("metrics")).get("orchestrator_data")) or _dict(
        jm.get("orchestrator_data")
    )
    created = parse_ts(jm.get("submission_time") or jm.get("creationTimeStamp"))
    ended = parse_ts(jm.get("completion_time") or jm.get("endTimeStamp"))
    server = created is not None and ended is not None and ended >= created
    status = _SEED_STATUS.get(str(j.get("status") or jm.get("state") or "").lower(), "failed")
    return {
        "name": j.get("name") or f"job{i}",
        "unique_job_name": j.get("unique_job_name"),
        "job_instance_id": j.get("job_instance_id") or jm.get("job_id"),
        "definition_id": j.get("definition_id"),
        "phase": name,
        "context": context,
        "sequence": j.get("sequence_number", i),
        "status": status,
        "submitted_at": (created.isoformat() if server and created else j.get("start_time")),
        "started_at": od.get("start_time"),
        "ended_at": (ended.isoformat() if server and ended else j.get("end_time")),
        "duration": round((ended - created).total_seconds(), 3)
        if server and created and ended
        else _num(j.get("duration")),
        "elapsed_time_ms": jm.get("elapsed_time_ms"),
        "timing_source": "server" if server else "client",
        "client_submitted_at": j.get("start_time"),
        "client_ended_at": j.get("end_time"),
        "client_duration": _num(j.get("duration")),
        "error": j.get("error"),
        "metrics": {"orchestrator_data": od or None},
    }


def _dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (the original files vary)."""
    return value if isinstance(value, dict) else {}


def _seed_stats(jobs: list[dict[str, Any]], total_duration: Any) -> dict[str, Any]:
    """The runner's phase statistics over the upgraded jobs (one computation for every reader)."""
    from jes_runner.measure.records import JobRecord
    from jes_runner.measure.stats import phase_stats

    records = []
    for j in jobs:
        r = JobRecord(
            name=str(j["name"]),
            unique_job_name=str(j.get("unique_job_name") or j["name"]),
            phase=str(j["phase"]),
            context=str(j.get("context") or ""),
            sequence=int(j["sequence"] or 0),
            job_instance_id=j.get("job_instance_id"),
            status=j["status"],
            orchestrator=(j.get("metrics") or {}).get("orchestrator_data"),
        )
        if j["timing_source"] == "server":
            r.submitted_at, r.ended_at = parse_ts(j["submitted_at"]), parse_ts(j["ended_at"])
        records.append(r)
    stats = phase_stats(records)
    if stats["makespan_seconds"] is None or any(j["timing_source"] != "server" for j in jobs):
        # client-clock times only (or a mix): the tool's own total, labelled by timing_source on the jobs
        stats["makespan_seconds"] = _num(total_duration)
        stats["busy_makespan_seconds"] = stats["idle_seconds"] = stats["idle_percent"] = None
    return stats


def _seed_phase(key: str, name: str, baseline: bool, src: Any) -> dict[str, Any] | None:
    """One phase of an original-tool file as a version-1 phase; None when the file lacks it."""
    if not isinstance(src, dict) or not (src.get("jobs") or src.get("total_duration")):
        return None
    context = src.get("context_name")
    jobs = [
        _seed_job(j, i, name, context)
        for i, j in enumerate(src.get("jobs") or [], 1)
        if isinstance(j, dict)
    ]
    all_completed = bool(jobs) and all(j["status"] == "completed" for j in jobs)
    return {
        "name": name,
        "context": context,
        "mode": "sequential" if baseline else (src.get("execution_mode") or "batch"),
        "concurrency": 1 if baseline else (src.get("max_concurrent") or len(jobs) or 1),
        "baseline": baseline,
        "status": "completed" if all_completed else "completed_with_failures",
        "started_at": src.get("start_time"),
        "ended_at": src.get("end_time"),
        "jobs": jobs,
        "unmatched_jobs": [
            j["unique_job_name"] or j["name"] for j in jobs if not j["metrics"]["orchestrator_data"]
        ],
        "stats": _seed_stats(jobs, src.get("total_duration")),
        "vs_baseline": None,
        "source_key": key,
    }


def _seed_spans(phase: dict[str, Any]) -> list[Any]:
    from jes_runner.measure.stats import JobSpan

    return [
        JobSpan(
            j["name"],
            int(j["sequence"] or 0),
            j["status"],
            parse_ts(j["submitted_at"]),
            parse_ts(j["ended_at"]),
        )
        for j in phase["jobs"]
    ]


def _server_timed(phase: dict[str, Any]) -> bool:
    return bool(phase["jobs"]) and all(j["timing_source"] == "server" for j in phase["jobs"])


def _seed_vs_baseline(phases: list[dict[str, Any]]) -> None:
    """Each server-timed phase against the server-timed baseline (client-clock phases are
    compared by phase_views on the phases' own totals)."""
    from jes_runner.measure.stats import not_comparable_reason, vs_baseline

    base = next((p for p in phases if p["baseline"]), None)
    if base is None or not _server_timed(base):
        return
    b = _seed_spans(base)
    for p in phases:
        if p is base or not _server_timed(p):
            continue
        cur = _seed_spans(p)
        p["vs_baseline"] = vs_baseline(
            b,
            cur,
            baseline_reason=not_comparable_reason(base["name"], b, False),
            reason=not_comparable_reason(p["name"], cur, False),
        )


def _upgrade_seed(data: dict[str, Any]) -> dict[str, Any]:
    """The original tool's files (two or three phases) as version-1 phases, every phase they hold."""
    phases = [
        phase
        for key, name, baseline in SEED_PHASES
        if (phase := _seed_phase(key, name, baseline, data.get(key))) is not None
    ]
    if not phases:
        raise JesError(
            "original-tool results file has no phase with jobs (sequential_execution, "
            "async_regular_execution, async_autoscaling_execution, async_execution)"
        )
    _seed_vs_baseline(phases)
    meta = _dict(data.get("metadata"))
    all_completed = all(p["status"] == "completed" for p in phases)
    return {
        "schema_version": 0,
        "run_id": meta.get("execution_timestamp") or "seed",
        "status": "completed" if all_completed else "completed_with_failures",
        "emulator": False,
        "metadata": {
            "started_at": meta.get("execution_timestamp"),
            "viya_url": meta.get("base_url"),
            "labels": {},
            "settings": {},
            "tool_version": "original",
            "source_format": "original tool",
            "original_comparison": data.get("comparison"),
        },
        "phases": phases,
    }


# -- views -------------------------------------------------------------------------------


@dataclass(slots=True)
class JobView:
    """One job execution with its orchestrator figures flattened."""

    raw: dict[str, Any]
    phase: str
    name: str
    unique_job_name: str | None
    sequence: int
    status: str
    submitted: datetime | None
    ended: datetime | None
    duration: float | None
    queue_wait: float | None
    starting: float | None
    execution: float | None
    host: str | None
    cores: float | None
    memory_mb: float | None
    orchestrator: dict[str, Any] | None

    @classmethod
    def from_dict(cls, j: dict[str, Any], phase: str) -> JobView:
        o = (j.get("metrics") or {}).get("orchestrator_data")
        o = o if isinstance(o, dict) else None
        submitted, ended = parse_ts(j.get("submitted_at")), parse_ts(j.get("ended_at"))
        duration = _num(j.get("duration"))
        if duration is None and submitted and ended:
            duration = round((ended - submitted).total_seconds(), 3)
        status = str(j.get("status") or "unknown")
        elapsed = _num(j.get("elapsed_time_ms"))
        if (submitted and ended and ended < submitted) or (elapsed is not None and elapsed < 0):
            status, duration = DATA_ERROR, None  # older files took such a job as measured
        seq = j.get("sequence")
        return cls(
            raw=j,
            phase=phase,
            name=str(j.get("name") or "?"),
            unique_job_name=j.get("unique_job_name"),
            sequence=int(seq) if isinstance(seq, int | float) else 0,
            status=status,
            submitted=submitted,
            ended=ended,
            duration=duration,
            queue_wait=_num(o.get("queue_wait_seconds")) if o else None,
            starting=_num(o.get("starting_seconds")) if o else None,
            execution=_num(o.get("execution_seconds")) if o else None,
            host=(o.get("execution_host") or None) if o else None,
            cores=_num(o.get("cpu_cores")) if o else None,
            memory_mb=_num(o.get("memory_mb")) if o else None,
            orchestrator=o,
        )

    def segments(self) -> tuple[float, float, float, bool]:
        """(wait, start-up, run) seconds spanning the server duration; last item: split known.

        The orchestrator's start-up and run are placed at the end of the bar (they end when
        the job ends); the wait is the rest, so it includes the seconds before the
        orchestrator saw the job. Without orchestrator times the whole bar is "run".
        """
        total = self.duration or 0.0
        parts = [self.queue_wait or 0.0, self.starting or 0.0, self.execution or 0.0]
        if total <= 0 or sum(parts) <= 0:
            return 0.0, 0.0, max(total, 0.0), False
        run = min(parts[2], total)
        start = min(parts[1], total - run)
        return round(total - run - start, 3), round(start, 3), round(run, 3), True


@dataclass(slots=True)
class PhaseView:
    raw: dict[str, Any]
    name: str
    context: str
    mode: str
    concurrency: int
    baseline: bool
    status: str
    started: datetime | None
    ended: datetime | None
    jobs: list[JobView]
    stats: dict[str, Any]
    vs_baseline: dict[str, Any] | None
    unmatched: list[str]
    node_timeline: list[dict[str, Any]] = field(default_factory=list)
    # filled by phase_views: the study's figures against the baseline
    perfect_split_seconds: float | None = None
    per_node_efficiency_percent: float | None = None
    vs_perfect_split_percent: float | None = None

    @property
    def makespan(self) -> float | None:
        return _num(self.stats.get("makespan_seconds"))

    @property
    def speedup(self) -> float | None:
        return _num((self.vs_baseline or {}).get("speedup"))

    @property
    def busy_speedup(self) -> float | None:
        """Speedup without the runner's idle gaps (the figure thresholds judge); makespan one in older files."""
        busy = _num((self.vs_baseline or {}).get("busy_speedup"))
        return busy if busy is not None else self.speedup

    @property
    def comparable(self) -> bool | None:
        c = (self.vs_baseline or {}).get("comparable")
        if self.data_errors and not self.baseline:
            return False  # an older file may have called it comparable
        return c if isinstance(c, bool) else None

    @property
    def reason(self) -> str | None:
        r = (self.vs_baseline or {}).get("reason")
        return str(r) if r else None

    @property
    def reasons(self) -> list[str]:
        """Short reason codes (``vs_baseline.reasons``; "data_error" added for such jobs in any file)."""
        codes = [str(c) for c in (self.vs_baseline or {}).get("reasons") or []]
        if self.data_errors and DATA_ERROR not in codes:
            codes.append(DATA_ERROR)
        return codes

    @property
    def scaling(self) -> dict[str, Any]:
        """The phase's node figures; an older file's ``time_to_first_scale_up_seconds`` is read as
        the request time it always measured (``time_to_first_node_request_seconds``)."""
        sc = (
            dict(self.raw.get("scaling") or {}) if isinstance(self.raw.get("scaling"), dict) else {}
        )
        if (
            "time_to_first_node_request_seconds" not in sc
            and "time_to_first_scale_up_seconds" in sc
        ):
            sc["time_to_first_node_request_seconds"] = sc["time_to_first_scale_up_seconds"]
        return sc

    @property
    def data_errors(self) -> list[str]:
        return [j.unique_job_name or j.name for j in self.jobs if j.status == DATA_ERROR]

    @property
    def jobs_not_completed(self) -> int:
        """Jobs that ended any way but completed (failed, canceled, timed out, never submitted)."""
        return sum(1 for j in self.jobs if j.status in NOT_COMPLETED)

    @property
    def hosts(self) -> list[str]:
        return sorted({j.host for j in self.jobs if j.host})

    @property
    def nodes_used(self) -> int:
        n = self.stats.get("hosts_used")
        return int(n) if isinstance(n, int | float) and n else len(self.hosts)

    def offset(self, t: datetime | None) -> float | None:
        """Seconds since the phase started (its first server creation)."""
        if t is None or self.started is None:
            return None
        return (t - self.started).total_seconds()


def _phase(p: dict[str, Any]) -> PhaseView:
    name = str(p.get("name") or "phase")
    jobs = [JobView.from_dict(j, name) for j in p.get("jobs") or [] if isinstance(j, dict)]
    stats = dict(p.get("stats") or {})
    started, ended = parse_ts(p.get("started_at")), parse_ts(p.get("ended_at"))
    subs = [j.submitted for j in jobs if j.submitted and j.status != DATA_ERROR]
    ends = [j.ended for j in jobs if j.ended and j.status != DATA_ERROR]
    started = min(subs) if subs else started  # server times win over the phase's own stamps
    ended = max(ends) if ends else ended
    if _num(stats.get("makespan_seconds")) is None and started and ended:
        stats["makespan_seconds"] = round((ended - started).total_seconds(), 3)
    stats.setdefault("jobs_total", len(jobs))
    stats.setdefault("jobs_completed", sum(j.status == "completed" for j in jobs))
    stats.setdefault("hosts_used", len({j.host for j in jobs if j.host}))
    timeline = [e for e in p.get("node_timeline") or [] if isinstance(e, dict)]
    return PhaseView(
        raw=p,
        name=name,
        context=str(p.get("context") or ""),
        mode=str(p.get("mode") or ""),
        concurrency=int(p.get("concurrency") or 1),
        baseline=bool(p.get("baseline")),
        status=str(p.get("status") or ""),
        started=started,
        ended=ended,
        jobs=jobs,
        stats=stats,
        vs_baseline=p.get("vs_baseline") if isinstance(p.get("vs_baseline"), dict) else None,
        unmatched=[str(u) for u in p.get("unmatched_jobs") or []],
        node_timeline=timeline,
    )


def phase_views(results: dict[str, Any]) -> list[PhaseView]:
    phases = [_phase(p) for p in results.get("phases") or [] if isinstance(p, dict)]
    base = next((p for p in phases if p.baseline), None)
    base_makespan = base.makespan if base else None
    for p in phases:
        if p.vs_baseline is None and base_makespan and p.makespan and p is not base:
            saved = base_makespan - p.makespan
            # no per-job server times to match jobs on: whole-phase makespans; comparable only if all completed
            failed = p.jobs_not_completed or (base.jobs_not_completed if base else 0)
            p.vs_baseline = {
                "basis": "phase makespans (no per-job server times)",
                "comparable": None if not p.jobs else not failed,
                "reason": ("jobs not completed" if failed else None)
                if p.jobs
                else "no per-job results",
                "time_saved_seconds": round(saved, 3),
                "efficiency_gain_percent": round(saved / base_makespan * 100, 2),
                "speedup": round(base_makespan / p.makespan, 3),
            }
        nodes = p.nodes_used
        if base_makespan and nodes:
            # the study's figures: baseline / nodes, and baseline / (phase x nodes)
            p.perfect_split_seconds = round(base_makespan / nodes, 3)
            if p.makespan:
                p.per_node_efficiency_percent = round(base_makespan / (p.makespan * nodes) * 100, 1)
                p.vs_perfect_split_percent = round(
                    (p.perfect_split_seconds - p.makespan) / p.perfect_split_seconds * 100, 1
                )
    return phases
