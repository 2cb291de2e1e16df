"""A dead run's checkpoint back into a results file (``jes-runner recover``).

Rules:

* The checkpoint (``<run_id>.checkpoint.jsonl``, see ``files.Checkpoint``) starts
  with a ``run`` line -- the plan and the metadata a results document needs --
  then a ``job`` line per finished job, ``orchestrator`` lines and a ``phase``
  line per finished phase. A line cut short by the crash (the last one) is skipped.
* Every job measured is kept, with its server timestamps; nothing is invented:
  jobs that were still in flight at the crash are absent (they were never measured).
* A phase that ended has its correlation from the checkpoint. A phase the crash
  interrupted gets its correlation redone for its finished jobs when a client is
  given (the orchestrator keeps its records); without one they are listed unmatched.
* The document is schema-valid with status ``aborted``; ``report``, ``export``,
  ``compare`` and ``push`` read it like any results file.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from jes_runner._util import iso, parse_ts, utcnow
from jes_runner.config.phases import slug
from jes_runner.errors import ConfigError
from jes_runner.measure.correlation import Correlator
from jes_runner.measure.executor import PhaseOutcome
from jes_runner.measure.plan import PhasePlan, RunPlan
from jes_runner.measure.records import JobRecord
from jes_runner.measure.stats import phase_window, vs_baseline
from jes_runner.results.document import phase_document, run_document
from jes_runner.viya import ViyaClient

log = logging.getLogger("jes_runner.results.recovery")

CHECKPOINT_SUFFIX = ".checkpoint.jsonl"


def run_line(
    plan: RunPlan,
    *,
    started: datetime,
    viya_url: str,
    labels: dict[str, str],
    settings: dict[str, Any],
    emulated: bool,
) -> dict[str, Any]:
    """The checkpoint's first line: what ``recover`` needs to rebuild the results document.
    ``viya_url`` and ``settings`` must already be masked (they are stored as given)."""
    return {
        "type": "run",
        "run_id": plan.run_id,
        "started_at": iso(started),
        "viya_url": viya_url,
        "labels": labels,
        "job_config": str(plan.job_config_path),
        "settings": settings,
        "emulator": emulated,
        "phases": [p.describe() for p in plan.phases],
    }


@dataclass
class Checkpointed:
    """What a checkpoint holds, by kind."""

    path: Path
    run: dict[str, Any] = field(default_factory=dict)
    jobs: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # phase -> lines
    orchestrator: dict[str, dict[str, Any]] = field(default_factory=dict)  # unique name -> data
    phases: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # phase name -> its "phase" line
    skipped: int = 0


def read_checkpoint(path: Path) -> Checkpointed:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
    cp = Checkpointed(path)
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            cp.skipped += 1  # the line the crash cut short
            continue
        if not isinstance(entry, dict):
            cp.skipped += 1
            continue
        kind = entry.get("type")
        if kind == "run" and not cp.run:
            cp.run = entry
        elif kind == "job" and entry.get("unique_job_name") and entry.get("phase"):
            cp.jobs[str(entry["phase"])].append(entry)
        elif kind == "orchestrator" and entry.get("unique_job_name"):
            cp.orchestrator[str(entry["unique_job_name"])] = entry.get("orchestrator_data") or {}
        elif kind == "phase" and entry.get("name"):
            cp.phases[str(entry["name"])] = entry
        else:
            cp.skipped += 1
    if not cp.run and not cp.jobs:
        raise ConfigError(
            f"{path}: not a jes-runner checkpoint (no run or job lines) -- pass the "
            f"<run_id>{CHECKPOINT_SUFFIX} file the dead run left in its output directory"
        )
    return cp


def _phase_plans(cp: Checkpointed) -> list[PhasePlan]:
    specs = cp.run.get("phases") if cp.run else None
    if not specs:  # a checkpoint from before the run line: phases as the job lines name them
        log.warning(
            "%s has no run line (an older version wrote it): phase modes are unknown, shown as 'window'",
            cp.path.name,
        )
        specs = [
            {
                "name": name,
                "context": lines[0].get("context") or "?",
                "mode": "window",
                "concurrency": len(lines),
                "baseline": i == 0,
            }
            for i, (name, lines) in enumerate(cp.jobs.items())
        ]
    return [
        PhasePlan(
            name=str(s["name"]),
            slug=slug(str(s["name"])),
            context=str(s["context"]),
            mode=s["mode"],
            concurrency=int(s.get("concurrency") or 1),
            baseline=bool(s.get("baseline")),
            jobs=[],
        )
        for s in specs
    ]


def recover(
    path: Path, client: ViyaClient | None = None, *, correlation_deadline_s: float = 30.0
) -> dict[str, Any]:
    """The results document of the run that left checkpoint ``path`` (status ``aborted``)."""
    cp = read_checkpoint(path)
    run_id = str(cp.run.get("run_id") or path.name.removesuffix(CHECKPOINT_SUFFIX))
    correlator = (
        Correlator(client, deadline_s=correlation_deadline_s) if client is not None else None
    )
    phase_dicts: list[dict[str, Any]] = []
    baseline_makespan = None
    for plan in _phase_plans(cp):
        lines = cp.jobs.get(plan.name, [])
        done = cp.phases.get(plan.name)
        if not lines and done is None:
            continue  # the crash came before this phase started
        records = sorted((JobRecord.from_dict(d) for d in lines), key=lambda r: r.sequence)
        for r in records:
            if r.orchestrator is None and r.unique_job_name in cp.orchestrator:
                r.orchestrator = cp.orchestrator[r.unique_job_name]
                r.started_at = parse_ts(r.orchestrator.get("start_time")) or r.started_at
        if done is not None:
            unmatched = [str(u) for u in done.get("unmatched_jobs") or []]
        elif correlator is not None:
            first, _ = phase_window(records)
            unmatched = correlator.correlate(records, first)
        else:
            unmatched = [r.unique_job_name for r in records if r.orchestrator is None]
            if unmatched:
                log.warning(
                    "phase %s: %d job(s) not correlated (no Viya to ask: pass --viya-url)",
                    plan.name,
                    len(unmatched),
                )
        outcome = PhaseOutcome(plan, records, aborted=done is None)
        pd = phase_document(outcome, unmatched)
        if plan.baseline:
            baseline_makespan = pd["stats"]["makespan_seconds"]
        phase_dicts.append(pd)
    for pd in phase_dicts:
        pd["vs_baseline"] = (
            None
            if pd["baseline"]
            else vs_baseline(baseline_makespan, pd["stats"]["makespan_seconds"])
        )
    started = parse_ts(cp.run.get("started_at")) or _first(phase_dicts, "started_at") or utcnow()
    ended = _last(phase_dicts) or started
    return run_document(
        phase_dicts,
        run_id=run_id,
        started=started,
        ended=ended,
        elapsed_s=max(0.0, (ended - started).total_seconds()),
        aborted=True,
        viya_url=str(cp.run.get("viya_url") or ""),
        labels=dict(cp.run.get("labels") or {}),
        job_config=str(cp.run.get("job_config") or ""),
        settings=dict(cp.run.get("settings") or {}),
        emulated=bool(cp.run.get("emulator")),
        viya_requests={
            "total": client.request_count if client else 0,
            "by_kind": dict(sorted(client.requests_by_kind.items())) if client else {},
        },
    )


def _first(phases: list[dict[str, Any]], key: str) -> datetime | None:
    stamps = [t for p in phases if (t := parse_ts(p.get(key)))]
    return min(stamps) if stamps else None


def _last(phases: list[dict[str, Any]]) -> datetime | None:
    stamps = [
        t
        for p in phases
        for j in p["jobs"]
        for k in ("ended_at", "client_ended_at")
        if (t := parse_ts(j.get(k)))
    ]
    return max(stamps) if stamps else None
