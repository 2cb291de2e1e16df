"""Discovery: a job config (the original tool's format) from the job definitions matching a glob."""

from __future__ import annotations

import fnmatch
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jes_runner.config.jobconfig import load_job_config
from jes_runner.config.phases import ASYNC_CONTEXT, BASELINE_CONTEXT
from jes_runner.viya import ViyaClient, quote, user_errors

# the context keys are not here: discover writes only the contexts the user chose or the server has
DEFAULT_FILE_SETTINGS = {
    "concurrent_jobs": 5,
    # no poll_interval: jes-runner polls near each job's expected end; set one to cap the gap between looks
    "timeout": 3600,
}


def literal_prefix(pattern: str) -> str:
    m = re.search(r"[*?\[]", pattern)
    return pattern[: m.start()] if m else pattern


def discover(client: ViyaClient, pattern: str) -> list[dict[str, Any]]:
    prefix = literal_prefix(pattern)
    flt = f"startsWith(name,{quote(prefix, chr(39))})" if prefix else None
    with user_errors("listing job definitions"):
        defs = client.list_job_definitions(flt)
    return [d for d in defs if fnmatch.fnmatchcase(str(d.get("name", "")), pattern)]


def context_names(client: ViyaClient) -> list[str]:
    """The compute contexts the server has, by name (sorted)."""
    with user_errors("listing compute contexts"):
        items = client.list_contexts()
    return sorted(str(c["name"]) for c in items if c.get("name"))


def context_settings(
    current: dict[str, Any],
    available: list[str],
    sequential: str | None = None,
    concurrent: str | None = None,
) -> dict[str, Any]:
    """The job config's context keys: the user's choice wins; a key already in the file stays;
    otherwise the original tool's name only where the server has that context (a config naming
    a context the server lacks fails the first run's preflight)."""
    out = dict(current)
    for key, chosen, default in (
        ("default_context", sequential, BASELINE_CONTEXT),
        ("async_context", concurrent, ASYNC_CONTEXT),
    ):
        if chosen:
            out[key] = chosen
        elif key not in out and default in available:
            out[key] = default
    return out


def build_config(
    definitions: list[dict[str, Any]],
    pattern: str,
    existing_path: Path | None,
    runtimes: dict[str, float] | None = None,
    *,
    contexts: list[str] | None = None,
    sequential: str | None = None,
    concurrent: str | None = None,
) -> dict[str, Any]:
    """The config for the matching definitions; ``runtimes`` (job name -> measured seconds, from
    ``discover --with-runtimes``) replace the expected runtimes of the jobs they name."""
    old_jobs: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    file_settings = dict(DEFAULT_FILE_SETTINGS)
    if existing_path is not None and existing_path.exists():
        old = load_job_config(existing_path)
        for j in old.jobs:
            old_jobs[j.name] = j.model_dump(mode="json")
            order.append(j.name)
        file_settings = old.settings or file_settings
    file_settings = context_settings(file_settings, contexts or [], sequential, concurrent)
    found = {str(d["name"]): d for d in definitions if d.get("name")}
    names = [n for n in order if n in found] + sorted(n for n in found if n not in old_jobs)
    jobs = []
    for name in names:
        d, prev = found[name], old_jobs.get(name, {})
        context = (
            prev.get("context_name") or file_settings.get("default_context") or BASELINE_CONTEXT
        )
        jobs.append(
            {
                "definition_id": d.get("id"),
                "name": name,
                "description": d.get("description") or prev.get("description") or "",
                "arguments": prev.get("arguments") or {"_contextName": context},
                "context_name": context,
                "enabled": prev.get("enabled", True),
                "expected_runtime_s": (runtimes or {}).get(name, prev.get("expected_runtime_s")),
            }
        )
    enabled = sum(1 for j in jobs if j["enabled"])
    return {
        "jobs": jobs,
        "settings": file_settings,
        "metadata": {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "discovery_pattern": pattern,
            "total_jobs_found": len(jobs),
            "enabled_jobs": enabled,
            "disabled_jobs": len(jobs) - enabled,
            "jobs_with_runtimes": sum(1 for j in jobs if j["expected_runtime_s"]),
        },
    }
