"""`jes-runner report RESULTS.json`: the HTML report and PNG figures of a results file."""

from __future__ import annotations

import argparse
from pathlib import Path

from jes_runner.cli.commands import SUMMARIES
from jes_runner.errors import ExitCode
from jes_runner.results.views import load_results
from jes_runner.sinks.report.html import default_out_dir, write_report


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help=SUMMARIES["report"],
        description="Write a self-contained HTML report (timeline per phase, makespan and speedup, "
        "queue wait, per-job table) and the figures as PNG files.",
    )
    p.add_argument(
        "results",
        metavar="RESULTS.json",
        type=Path,
        help="a results file (any version, or the original tool's)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=None,
        help="output directory (default: RESULTS_report/ beside the results file)",
    )
    p.add_argument(
        "--no-png", action="store_true", help="only the HTML file (figures stay embedded in it)"
    )
    p.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    results = load_results(args.results)
    out = args.out or default_out_dir(args.results)
    path = write_report(results, out, source=args.results.name, pngs=not args.no_png)
    print(f"report: {path}")
    return int(ExitCode.OK)
