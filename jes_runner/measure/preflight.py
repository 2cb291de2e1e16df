"""Preflight: the token works, every phase's context exists, every enabled job definition resolves.

Nothing is submitted before all of this passes; each failure is one line (exit 2)."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from jes_runner.errors import PreflightError
from jes_runner.measure.plan import RunPlan
from jes_runner.viya import ViyaClient, user_errors

log = logging.getLogger("jes_runner.preflight")



def preflight(client: ViyaClient, plan: RunPlan) -> None:
    """Token, contexts, definitions: checked before any job is submitted; one line per failure."""
    with user_errors("preflight"):
        client.authenticate()
        contexts = client.list_contexts()
        definitions = client.list_job_definitions()

    names = {str(c.get("name")) for c in contexts if c.get("name")}
    for phase in plan.phases:
        if phase.context not in names:
            raise PreflightError(
                f"unknown compute context '{phase.context}' (phase '{phase.name}'); available: "
                + (", ".join(sorted(names)) or "none")
            )

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
            log.warning("%d job definitions are named %s; using the most recently modified (set definition_id to choose)",
                        len(candidates), job.name)
            candidates = sorted(candidates, key=lambda d: str(d.get("modifiedTimeStamp") or ""), reverse=True)
        resolved[job.name] = str(candidates[0]["id"])
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise PreflightError(
            f"{len(missing)} job definition(s) not found on Viya: {shown} -- fix {plan.job_config_path} "
            "or regenerate it with `jes-runner discover`"
        )
    plan.definition_ids = resolved
