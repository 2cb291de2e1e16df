"""Preflight: the token works, every phase's context exists, every enabled job definition resolves.

Nothing is submitted before all of this passes; each failure is one line (exit 2).
Then the jobs other runs left in Viya are listed, one line per run (``handle_orphans``)."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jes_runner._util import WEEK_S, finite, iso, parse_ts
from jes_runner.errors import PreflightError
from jes_runner.measure.plan import RunPlan
from jes_runner.viya import (
    TIMEOUT_PROPERTY,
    ViyaClient,
    ViyaError,
    job_property,
    job_run_id,
    user_errors,
)

log = logging.getLogger("jes_runner.preflight")


MAX_NAMED = 10  # jobs named in a finding; the rest counted


@dataclass(frozen=True, slots=True)
class Finding:
    """One preflight problem: what ``check`` prints as a FAIL line and ``run`` raises (exit 2)."""

    name: str  # the check's name: "context '<name>'" or "job definitions"
    problem: str
    fix: str

    @property
    def line(self) -> str:
        return f"{self.problem} -- {self.fix}"


def context_findings(plan: RunPlan, contexts: list[dict[str, Any]]) -> list[Finding]:
    """Every phase whose compute context Viya does not list."""
    names = {str(c.get("name")) for c in contexts if c.get("name")}
    return [
        Finding(
            f"context '{phase.context}'",
            f"unknown compute context '{phase.context}' (phase '{phase.name}'); available: "
            + (", ".join(sorted(names)) or "none"),
            "fix the phase's context in JES_PHASES / --phases, or create the context in SAS "
            "Environment Manager",
        )
        for phase in plan.phases
        if phase.context not in names
    ]


def resolve_definitions(
    plan: RunPlan, definitions: list[dict[str, Any]]
) -> tuple[dict[str, str], list[Finding]]:
    """Job name -> definition id for every enabled job, and the finding naming those that do not
    resolve (a name matching several definitions takes the most recently modified, with a warning)."""
    by_id = {str(d.get("id")): d for d in definitions if d.get("id")}
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in definitions:
        by_name[str(d.get("name"))].append(d)
    resolved: dict[str, str] = {}
    missing: list[str] = []
    for job in plan.jobs:
        if job.definition_id:
            if job.definition_id in by_id:
                resolved[job.name] = job.definition_id
            else:
                missing.append(f"{job.name} (id {job.definition_id})")
            continue
        candidates = by_name.get(job.name, [])
        if not candidates:
            missing.append(job.name)
            continue
        if len(candidates) > 1:
            log.warning(
                "%d job definitions are named %s; using the most recently modified (set definition_id to choose)",
                len(candidates),
                job.name,
            )
            candidates = sorted(
                candidates, key=lambda d: str(d.get("modifiedTimeStamp") or ""), reverse=True
            )
        resolved[job.name] = str(candidates[0]["id"])
    if not missing:
        return resolved, []
    shown = ", ".join(missing[:MAX_NAMED]) + (
        f" and {len(missing) - MAX_NAMED} more" if len(missing) > MAX_NAMED else ""
    )
    return resolved, [
        Finding(
            "job definitions",
            f"{len(missing)} of {len(plan.jobs)} enabled jobs do not resolve, their job "
            f"definition(s) not found on Viya: {shown}",
            f"fix {plan.job_config_path} (names or definition_id), or regenerate it with "
            "`jes-runner discover`",
        )
    ]


def preflight(client: ViyaClient, plan: RunPlan) -> None:
    """Token, contexts, definitions: checked before any job is submitted; the first finding is
    the one line (exit 2). ``check`` prints the same findings, one line each."""
    with user_errors("preflight"):
        client.authenticate()
        contexts = client.list_contexts()
        definitions = client.list_job_definitions()
    resolved, missing = resolve_definitions(plan, definitions)
    findings = context_findings(plan, contexts) + missing
    if findings:
        raise PreflightError(findings[0].line)
    plan.definition_ids = resolved


# -- orphans: jobs a dead run left behind -------------------------------------------------------

ORPHAN_SLACK_S = 5.0  # a live run cancels a job at its timeout; give the cancel this long to land
UNKNOWN_TIMEOUT_S = WEEK_S  # a job without the timeout mark: the longest JES_JOB_TIMEOUT_S allowed


@dataclass(frozen=True, slots=True)
class OrphanRun:
    """Jobs of one other run still pending/running in Viya.

    ``gone``: every one of them is older than that run's own job timeout (a property on each job)
    plus a little slack. A live run cancels a job at its timeout, so that run is certainly dead
    (``kill -9``, an evicted pod) -- only then may ``--cancel-orphans`` touch its jobs. A run
    still within its timeouts may be alive (someone's manual run beside the CronJob): left alone.
    """

    run_id: str
    jobs: list[dict[str, Any]]
    oldest: datetime | None
    gone: bool


def find_orphans(client: ViyaClient, run_id: str) -> list[OrphanRun]:
    """Pending/running jobs that carry jes-runner's marks from runs other than ``run_id``."""
    jobs = client.list_marked_jobs()
    now = client.server_now()  # the server's clock: job ages never depend on ours
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for job in jobs:
        other = job_run_id(job)
        if other and other != run_id:
            by_run[other].append(job)
    out = []
    for other, run_jobs in sorted(by_run.items()):
        created = [parse_ts(j.get("creationTimeStamp")) for j in run_jobs]
        known = [c for c in created if c is not None]

        def past_timeout(job: dict[str, Any], at: datetime | None) -> bool:
            limit = finite(job_property(job, TIMEOUT_PROPERTY)) or UNKNOWN_TIMEOUT_S
            return (
                now is not None
                and at is not None
                and (now - at).total_seconds() > limit + ORPHAN_SLACK_S
            )

        gone = all(past_timeout(j, c) for j, c in zip(run_jobs, created, strict=True))
        out.append(OrphanRun(other, run_jobs, min(known) if known else None, gone))
    return out


def handle_orphans(client: ViyaClient, run_id: str, *, cancel: bool) -> list[OrphanRun]:
    """One line per other run with jobs still in Viya; with ``cancel``, cancel those of dead runs.
    Listing or canceling failing is a warning: it never stops this run."""
    try:
        orphans = find_orphans(client, run_id)
    except ViyaError as e:
        log.warning("could not look for jobs left by other runs: %s", e)
        return []
    for o in orphans:
        states = ", ".join(
            f"{n} {s}" for s, n in sorted(Counter(str(j.get("state")) for j in o.jobs).items())
        )
        since = f"oldest submitted {iso(o.oldest)}" if o.oldest else "submission time unknown"
        head = f"run {o.run_id} left {len(o.jobs)} job(s) in Viya ({states}; {since})"
        if not o.gone:
            log.warning(
                "%s: within that run's job timeout, it may still be running -- left alone",
                head,
                extra={"event": "orphans", "run_id": o.run_id, "jobs": len(o.jobs), "gone": False},
            )
            continue
        if not cancel:
            log.warning(
                "%s: past that run's job timeout, the run is gone -- pass --cancel-orphans "
                "(JES_CANCEL_ORPHANS=true) to cancel them",
                head,
                extra={"event": "orphans", "run_id": o.run_id, "jobs": len(o.jobs), "gone": True},
            )
            continue
        failed = 0
        for job in o.jobs:
            try:
                client.cancel_job(str(job.get("id")))
            except ViyaError:
                failed += 1
        log.warning(
            "%s: past that run's job timeout, the run is gone -- canceled %d%s",
            head,
            len(o.jobs) - failed,
            f" ({failed} cancel request(s) failed)" if failed else "",
            extra={
                "event": "orphans_canceled",
                "run_id": o.run_id,
                "canceled": len(o.jobs) - failed,
            },
        )
    return orphans
