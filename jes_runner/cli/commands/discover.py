"""`jes-runner discover`: job definitions matching a glob, as a job config file.

Filters server side with ``startsWith`` when the pattern has a literal prefix,
then matches client side with fnmatch. An existing file at ``--out`` keeps its
``enabled`` flags, ``expected_runtime_s``, arguments and order.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jes_runner.errors import ConfigError
from jes_runner.config.jobconfig import load_job_config
from jes_runner.results.files import write_atomic
from jes_runner.config.settings import ASYNC_CONTEXT, BASELINE_CONTEXT, Settings, load_settings
from jes_runner.console import configure_logging
from jes_runner.viya import ViyaClient, user_errors
from jes_runner.viya._client import quote

log = logging.getLogger("jes_runner.cli.commands.discover")

DEFAULT_FILE_SETTINGS = {
    "default_context": BASELINE_CONTEXT,
    "async_context": ASYNC_CONTEXT,
    "concurrent_jobs": 5,
    "poll_interval": 5,
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


def build_config(definitions: list[dict[str, Any]], pattern: str, existing_path: Path | None) -> dict[str, Any]:
    old_jobs: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    file_settings = dict(DEFAULT_FILE_SETTINGS)
    if existing_path is not None and existing_path.exists():
        old = load_job_config(existing_path)
        for j in old.jobs:
            old_jobs[j.name] = j.model_dump(mode="json")
            order.append(j.name)
        file_settings = old.settings or file_settings
    found = {str(d["name"]): d for d in definitions if d.get("name")}
    names = [n for n in order if n in found] + sorted(n for n in found if n not in old_jobs)
    jobs = []
    for name in names:
        d, prev = found[name], old_jobs.get(name, {})
        context = prev.get("context_name") or file_settings.get("default_context") or BASELINE_CONTEXT
        jobs.append({
            "definition_id": d.get("id"),
            "name": name,
            "description": d.get("description") or prev.get("description") or "",
            "arguments": prev.get("arguments") or {"_contextName": context},
            "context_name": context,
            "enabled": prev.get("enabled", True),
            "expected_runtime_s": prev.get("expected_runtime_s"),
        })
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
        },
    }


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from jes_runner.runner import make_client

    client = make_client(settings)
    try:
        defs = discover(client, args.pattern)
    finally:
        client.close()
    out = Path(args.out) if args.out else None
    doc = build_config(defs, args.pattern, out)
    text = json.dumps(doc, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        try:
            write_atomic(out, text)
        except OSError as e:
            raise ConfigError(f"cannot write {out}: {e.strerror or e}") from None
        log.info("%d job definition(s) match %r; written to %s (%d enabled)", len(doc["jobs"]), args.pattern, out,
                 doc["metadata"]["enabled_jobs"])
    if not doc["jobs"]:
        log.warning("no job definition matches %r", args.pattern)
    return 0


def cmd_discover(args: argparse.Namespace) -> int:
    settings = load_settings(viya_url=args.viya_url, log_format=args.log_format)
    # the config itself may go to stdout: keep log lines out of it
    configure_logging(settings.log_format, stream=None if args.out else sys.stderr)
    if settings.viya_url:
        return _run(settings, args)
    from jes_runner.cli.commands.demo import embedded_emulator, emulator_settings

    with embedded_emulator() as emu:
        log.info("no --viya-url / JES_VIYA_URL: discovering on the embedded Viya emulator at %s", emu.url)
        return _run(emulator_settings(settings, emu), args)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("discover", help="write a job config from the job definitions matching a pattern",
                              description="List Viya job definitions whose names match a glob and write a job "
                                          "config file in the original format.")
    p.add_argument("--pattern", required=True, help="glob on definition names, e.g. '*_pooled'")
    p.add_argument("--out", help="file to write (its enabled flags and expected runtimes are kept); default stdout")
    p.add_argument("--viya-url", help="Viya base URL (JES_VIYA_URL); unset: the embedded emulator")
    p.add_argument("--log-format", choices=["text", "json"])
    p.set_defaults(func=cmd_discover)
