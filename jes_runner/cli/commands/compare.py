"""`jes-runner compare BASE CURRENT`: per-phase and per-job changes; exit 6 on a regression."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jes_runner.analysis.regression import compare_results, parse_percent, render
from jes_runner.cli.commands import SUMMARIES
from jes_runner.errors import ExitCode, JesError
from jes_runner.results.views import load_results


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help=SUMMARIES["compare"],
        description="Per phase and per job, the change in makespan, duration and queue wait between "
        "two runs. Exit 6 when a phase figure grew by more than --max-regression (or a job "
        "figure by more than --max-job-regression, when given), 0 otherwise.",
    )
    p.add_argument(
        "baseline",
        metavar="BASELINE.json",
        type=Path,
        help="the earlier results file (the reference)",
    )
    p.add_argument(
        "current", metavar="CURRENT.json", type=Path, help="the results file to judge against it"
    )
    p.add_argument(
        "--max-regression",
        type=parse_percent,
        default=10.0,
        metavar="PCT",
        help="tolerated growth of phase makespan, duration p50/p95, queue wait p95 (default 10%%)",
    )
    p.add_argument(
        "--max-job-regression",
        type=parse_percent,
        default=None,
        metavar="PCT",
        help="also fail when one job's duration or queue wait grew by more (default: jobs are only shown)",
    )
    p.add_argument(
        "--min-delta",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="changes smaller than this are noise, never a regression (default 1 s)",
    )
    p.add_argument(
        "--allow-config-change",
        action="store_true",
        help="judge regressions even when the runs' configurations differ (contexts, modes, "
        "concurrency, job set, tool version, emulator); by default they are only shown",
    )
    p.add_argument(
        "--json", type=Path, default=None, metavar="FILE", help="also write the comparison as JSON"
    )
    p.add_argument(
        "--top", type=int, default=5, metavar="N", help="job changes shown per phase (default 5)"
    )
    p.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    if args.min_delta < 0:
        raise JesError("--min-delta must not be negative")
    base, cur = load_results(args.baseline), load_results(args.current)
    out = compare_results(
        base,
        cur,
        max_regression=args.max_regression,
        max_job_regression=args.max_job_regression,
        min_delta=args.min_delta,
        allow_config_change=args.allow_config_change,
    )
    if args.json:
        try:
            args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        except OSError as e:
            raise JesError(f"cannot write {args.json}: {e.strerror or e}") from None
    sys.stdout.write(render(out, args.baseline.name, args.current.name, top=args.top))
    return int(ExitCode.OK if out["passed"] else ExitCode.THRESHOLD)
