"""`jes-runner orchestrator`: recent SAS Workload Orchestrator jobs, any job, not only the runner's.

Newest first (``GET /workloadOrchestrator/jobs?sortBy=submitTime:descending``), with queue
wait, start-up, run time, host, cores and memory. ``--name`` filters on the client side
(the orchestrator's filters are undocumented); a job name such as ``cm_pooled`` also
matches the orchestrator's form of it (``cmpooled-<uuid>``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO, Any

from jes_runner.cli.commands import SUMMARIES
from jes_runner.cli.options import add_json, add_viya
from jes_runner.console import fmt_seconds, render_table
from jes_runner.errors import ExitCode, JesError
from jes_runner.measure.orchestrator import recent_jobs
from jes_runner.viya import user_errors


def render(jobs: list[dict[str, Any]], out: IO[str]) -> None:
    cols = [
        "id",
        "name",
        "queue",
        "state",
        "host",
        "submitted (UTC)",
        "wait",
        "start-up",
        "run",
        "cores",
        "mem MB",
    ]
    rows = []
    for j in jobs:
        rows.append(
            [
                str(j.get("orchestrator_job_id") or ""),
                _short(str(j.get("orchestrator_name") or ""), 44),
                str(j.get("queue") or ""),
                str(j.get("state") or ""),
                str(j.get("execution_host") or "–"),
                str(j.get("submit_time") or "").replace("T", " ").rstrip("Z"),
                _secs(j.get("queue_wait_seconds")),
                _secs(j.get("starting_seconds")),
                _secs(j.get("execution_seconds")),
                _val(j.get("cpu_cores")),
                _val(j.get("memory_mb")),
            ]
        )
    for line in render_table(cols, rows, right={0, 6, 7, 8, 9, 10}):
        out.write(line + "\n")


def _short(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _secs(v: Any) -> str:
    return fmt_seconds(float(v)) if isinstance(v, int | float) and not isinstance(v, bool) else "–"


def _val(v: Any) -> str:
    return "–" if v is None else f"{v:g}" if isinstance(v, int | float) else str(v)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "orchestrator",
        help=SUMMARIES["orchestrator"],
        description="List recent SAS Workload Orchestrator jobs (any job, newest first) with queue wait, "
        "start-up and run time, host, cores and memory. Credentials as for `run` (JES_*).",
    )
    p.add_argument("--last", type=int, default=20, metavar="N", help="how many jobs (default 20)")
    p.add_argument("--name", metavar="PREFIX", help="only jobs whose name starts with PREFIX")
    p.add_argument(
        "--scan",
        type=int,
        default=5000,
        metavar="N",
        help="with --name: look at no more than N recent jobs (default 5000)",
    )
    add_json(p, "the jobs")
    add_viya(p)
    p.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    from jes_runner.cli.session import make_client, require_viya_url, settings_from_args
    from jes_runner.config.settings import warn_unknown_env

    if args.last < 1 or args.scan < 1:
        raise JesError("--last and --scan must be at least 1")
    warn_unknown_env()  # this command does not configure logging: said once, plainly
    settings = settings_from_args(args)
    require_viya_url(settings, offers_emulator=False)  # no --emulator here: it ran no jobs
    client = make_client(settings)
    try:
        with user_errors("Workload Orchestrator request", JesError):
            jobs = recent_jobs(client, args.last, args.name, args.scan)
    finally:
        client.close()
    if args.json:
        json.dump({"viya_url": settings.viya_url, "jobs": jobs}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not jobs:
        print("no Workload Orchestrator jobs" + (f" named {args.name}*" if args.name else ""))
    else:
        render(jobs, sys.stdout)
    return int(ExitCode.OK)
