"""A dead run's checkpoint back into a results file (``jes-runner recover``).

Rules:

* The checkpoint (``checkpoint.py``) holds the run line, every job Viya accepted
  (``submitted``), every job that ended (``job``), correlations and ended phases.
* Every job measured is kept, with its server timestamps. A job that was in flight
  at the crash is asked of Viya (when a client is given): one that ended since is
  measured from the server's timestamps like any other; one still queued or running,
  gone, or not asked about is kept with status ``unknown`` (still on the server:
  ``run --cancel-orphans`` cancels it) -- never dropped, never guessed.
* A phase that ended has its correlation from the checkpoint. A phase the crash
  interrupted gets its correlation redone when a client is given (the orchestrator
  keeps its records); without one its jobs are listed unmatched.
* Planned counts come from the run line, so a recovered phase says how much was
  never run. The document is built by ``document.build_run_document`` -- the same
  function the runner uses -- schema-valid, status ``aborted``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from jes_runner._util import parse_ts, utcnow
from jes_runner.measure.correlation import Correlator
from jes_runner.measure.executor import PhaseOutcome
from jes_runner.measure.plan import PhasePlan
from jes_runner.measure.records import TERMINAL_STATES, JobRecord, JobStatus
from jes_runner.measure.stats import phase_window
from jes_runner.results.checkpoint import Checkpointed, read_checkpoint
from jes_runner.results.document import PhaseResult, RunMeta, build_run_document
from jes_runner.viya import (
    PHASE_PROPERTY,
    ViyaClient,
    ViyaError,
    job_property,
    job_run_id,
)

log = logging.getLogger("jes_runner.results.recovery")

NOT_ASKED = (
    "in flight when the run died; no Viya to ask (pass --viya-url): may still be on the server"
)
STILL_ACTIVE = "in flight when the run died and still {state} on the server at recovery"
GONE = "in flight when the run died; the server no longer has it"
UNREACHABLE = "in flight when the run died; Viya could not be asked ({error})"
CANCEL_HINT = " -- `jes-runner run --cancel-orphans` cancels it"


def recover(
    path: Path, client: ViyaClient | None = None, *, correlation_deadline_s: float = 30.0
) -> dict[str, Any]:
    """The results document of the run that left checkpoint ``path`` (status ``aborted``)."""
    cp = read_checkpoint(path)
    in_flight = _in_flight_records(cp, client)
    correlator = (
        Correlator(client, deadline_s=correlation_deadline_s) if client is not None else None
    )
    results: list[PhaseResult] = []
    for plan in cp.phase_plans():
        records = _phase_records(cp, plan, in_flight)
        done = cp.phases.get(plan.name)
        if not records and done is None:
            continue  # the crash came before this phase started
        unmatched = _unmatched(plan, records, done, correlator)
        results.append(PhaseResult(PhaseOutcome(plan, records, aborted=done is None), unmatched))
    docs = [r.document for r in results]
    started = parse_ts(cp.run.get("started_at")) or _first(docs) or utcnow()
    ended = _last(docs) or started
    meta = RunMeta(
        run_id=cp.run_id,
        started=started,
        ended=ended,
        elapsed_s=max(0.0, (ended - started).total_seconds()),
        viya_url=str(cp.run.get("viya_url") or ""),
        labels=dict(cp.run.get("labels") or {}),
        job_config=str(cp.run.get("job_config") or ""),
        settings=dict(cp.run.get("settings") or {}),
        emulated=bool(cp.run.get("emulator")),
        emulator=cp.run.get("emulator_model") or None,
        viya_requests={
            "total": client.request_count if client else 0,
            "by_kind": dict(sorted(client.requests_by_kind.items())) if client else {},
        },
    )
    return build_run_document(results, meta, aborted=True)


def _phase_records(
    cp: Checkpointed, plan: PhasePlan, in_flight: dict[str, JobRecord]
) -> list[JobRecord]:
    records = [JobRecord.from_dict(d) for d in cp.jobs.get(plan.name, [])]
    records += [r for r in in_flight.values() if r.phase == plan.name]
    for r in records:
        if r.orchestrator is None and r.unique_job_name in cp.orchestrator:
            r.orchestrator = cp.orchestrator[r.unique_job_name]
            r.started_at = parse_ts(r.orchestrator.get("start_time")) or r.started_at
    return sorted(records, key=lambda r: r.sequence)


def _unmatched(
    plan: PhasePlan,
    records: list[JobRecord],
    done: dict[str, Any] | None,
    correlator: Correlator | None,
) -> list[str]:
    if done is not None:
        return [str(u) for u in done.get("unmatched_jobs") or []]
    if correlator is not None:
        first, _ = phase_window(records)
        return correlator.correlate(records, first)
    unmatched = [r.unique_job_name for r in records if r.orchestrator is None]
    if unmatched:
        log.warning(
            "phase %s: %d job(s) not correlated (no Viya to ask: pass --viya-url)",
            plan.name,
            len(unmatched),
        )
    return unmatched


ALL_STATES = ("pending", "running", "completed", "failed", "canceled")


def _in_flight_records(cp: Checkpointed, client: ViyaClient | None) -> dict[str, JobRecord]:
    """Jobs submitted but never seen ending, as Viya knows them now (unique name -> record):
    the checkpoint's submissions without an end, and -- asked of Viya -- jobs carrying this run's
    mark that the checkpoint never saw (the POST whose answer the kill cut off)."""
    records = {str(s["unique_job_name"]): _submitted_record(s) for s in cp.in_flight()}
    if client is None:
        _mark_unknown(records.values(), NOT_ASKED)
        return records
    try:
        records.update(_unseen(cp, client, {str(p.name): p.slug for p in cp.phase_plans()}))
    except ViyaError as e:
        log.warning("could not list this run's jobs on the server: %s", e)
    if not records:
        return records
    ids = [r.job_instance_id for r in records.values() if r.job_instance_id]
    try:
        served = {j.get("id"): j for j in client.get_jobs(ids) if isinstance(j, dict)}
    except ViyaError as e:
        log.warning(
            "the %d job(s) in flight at the crash could not be asked about: %s", len(ids), e
        )
        _mark_unknown(records.values(), UNREACHABLE.format(error=e))
        return records
    for r in records.values():
        job = served.get(r.job_instance_id)
        if job is None:
            _mark_unknown([r], GONE)
        elif job.get("state") in TERMINAL_STATES:
            r.apply_server_job(job)  # ended after the crash: measured from the server's timestamps
        else:
            r.apply_server_job(job)
            _mark_unknown(
                [r], STILL_ACTIVE.format(state=job.get("state") or "active") + CANCEL_HINT
            )
    ended = sum(1 for r in records.values() if r.status != JobStatus.UNKNOWN)
    log.info(
        "%d job(s) in flight at the crash: %d ended since (measured from the server), %d unknown",
        len(records),
        ended,
        len(records) - ended,
    )
    return records


def _unseen(cp: Checkpointed, client: ViyaClient, slugs: dict[str, str]) -> dict[str, JobRecord]:
    """This run's jobs on the server that no checkpoint line names."""
    seen = {
        str(x["unique_job_name"])
        for group in (cp.jobs, cp.submitted)
        for lines in group.values()
        for x in lines
    }
    out: dict[str, JobRecord] = {}
    for job in client.list_marked_jobs(ALL_STATES):
        unique = str((job.get("jobRequest") or {}).get("name") or job.get("name") or "")
        phase = job_property(job, PHASE_PROPERTY)
        if job_run_id(job) != cp.run_id or not unique or unique in seen or phase not in slugs:
            continue
        name, sequence = _split_unique(unique, slugs[phase])
        out[unique] = _submitted_record(
            {
                "name": name,
                "unique_job_name": unique,
                "phase": phase,
                "sequence": sequence,
                "job_instance_id": job.get("id"),
                "context": (job.get("jobRequest") or {}).get("arguments", {}).get("_contextName"),
            }
        )
    if out:
        log.info("%d job(s) of this run on the server that the checkpoint never saw", len(out))
    return out


def _split_unique(unique: str, slug: str) -> tuple[str, int]:
    """``<job>_<slug>_<seq>_<epoch>_<token>`` -> (job, seq) (``PhasePlan.unique_job_name``)."""
    head, sep, tail = unique.rpartition(f"_{slug}_")
    seq = tail.split("_", 1)[0]
    return (head if sep else unique), int(seq) if seq.isdigit() else 0


def _submitted_record(line: dict[str, Any]) -> JobRecord:
    return JobRecord(
        name=str(line["name"]),
        unique_job_name=str(line["unique_job_name"]),
        phase=str(line["phase"]),
        context=str(line.get("context") or ""),
        sequence=int(line.get("sequence") or 0),
        definition_id=line.get("definition_id"),
        job_instance_id=line.get("job_instance_id"),
        status=JobStatus.UNKNOWN,
        submitted_at=parse_ts(line.get("submitted_at")),
        client_submitted_at=parse_ts(line.get("client_submitted_at")),
    )


def _mark_unknown(records: Any, reason: str) -> None:
    for r in records:
        r.status = JobStatus.UNKNOWN
        r.error = reason


def _first(phases: list[dict[str, Any]]) -> datetime | None:
    stamps = [t for p in phases if (t := parse_ts(p.get("started_at")))]
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
