"""`jes-runner export RESULTS.json --format csv|xlsx`: one row per job execution."""

from __future__ import annotations

import argparse
from pathlib import Path

from jes_runner.cli.commands import SUMMARIES
from jes_runner.errors import ExitCode
from jes_runner.results.views import load_results
from jes_runner.sinks.export import export


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help=SUMMARIES["export"],
        description="One row per job execution with every timing, orchestrator and resource field, "
        "plus phase summaries (csv: FILE and FILE_phases.csv; xlsx: Jobs, Phases, Run and "
        "one sheet per phase).",
    )
    p.add_argument(
        "results",
        metavar="RESULTS.json",
        type=Path,
        help="a results file (any version, or the original tool's)",
    )
    p.add_argument(
        "--format",
        choices=("csv", "xlsx"),
        default="csv",
        help="csv: two files (jobs, phases); xlsx: one workbook (default csv)",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        default=None,
        help="output file (default: the results file's name with .csv / .xlsx)",
    )
    p.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    results = load_results(args.results)
    out = args.out or args.results.with_suffix(f".{args.format}")
    for path in export(results, args.format, out):
        print(f"export: {path}")
    return int(ExitCode.OK)
