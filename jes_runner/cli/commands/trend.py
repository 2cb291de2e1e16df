"""`jes-runner trend RESULTS_DIR`: series of every run's figures; exit 6 when the last run regressed."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from jes_runner._util import parse_ts
from jes_runner.analysis.trend import (
    DEFAULT_MIN_HISTORY,
    DEFAULT_WINDOW,
    FIGURE_KEYS,
    build_trend,
    render_trend,
)
from jes_runner.cli.commands import SUMMARIES
from jes_runner.cli.options import parse_percent
from jes_runner.errors import ExitCode, JesError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "trend",
        help=SUMMARIES["trend"],
        description="Read every results file under a directory (the original tool's too), group the "
        "runs by environment, profile and phase (emulated runs apart), and show per phase the series "
        "of makespan, busy speedup, idle share, queue wait p95, node-ready latency and cost, the last "
        "run against the median of the earlier comparable runs. Exit 6 when a figure of a last run "
        "regressed beyond its tolerance, 0 otherwise, 2 when the directory holds no results file.",
    )
    p.add_argument("directory", metavar="RESULTS_DIR", type=Path, help="the results directory")
    p.add_argument("--profile", default=None, help="only runs of this profile")
    p.add_argument("--environment", default=None, help="only runs of this environment")
    p.add_argument(
        "--since",
        default=None,
        metavar="DATE",
        help="only runs started on or after this date (YYYY-MM-DD, or an ISO 8601 time; UTC)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=None,
        help="also write a self-contained trend.html into DIR",
    )
    p.add_argument(
        "--json", action="store_true", help="print the series and verdicts as JSON, not a table"
    )
    p.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="FIGURE=PCT",
        help=f"override one figure's tolerance, e.g. makespan=30%% (figures: {', '.join(FIGURE_KEYS)};"
        " repeatable)",
    )
    p.add_argument(
        "--window",
        type=int,
        default=DEFAULT_WINDOW,
        metavar="N",
        help=f"earlier comparable runs in the median (default {DEFAULT_WINDOW}; 0: all)",
    )
    p.add_argument(
        "--min-history",
        type=int,
        default=DEFAULT_MIN_HISTORY,
        metavar="N",
        help=f"earlier comparable runs needed to judge the last one (default {DEFAULT_MIN_HISTORY})",
    )
    p.set_defaults(func=_cmd)


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        text = text.strip() + "T00:00:00Z"
    when = parse_ts(text)
    if when is None:
        raise JesError(f"--since {text!r}: expected a date such as 2026-01-31 or an ISO 8601 time")
    return when.astimezone(UTC)


def _tolerances(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, pct = item.partition("=")
        if not sep:
            raise JesError(f"--tolerance {item!r}: expected FIGURE=PCT, e.g. makespan=30%")
        try:
            out[name.strip()] = parse_percent(pct)
        except argparse.ArgumentTypeError as e:
            raise JesError(f"--tolerance {item!r}: {e}") from None
    return out


def _cmd(args: argparse.Namespace) -> int:
    if args.window < 0 or args.min_history < 1:
        raise JesError("--window must be 0 or more and --min-history 1 or more")
    trend = build_trend(
        args.directory,
        profile=args.profile,
        environment=args.environment,
        since=_since(args.since),
        tolerances=_tolerances(args.tolerance),
        window=args.window,
        min_history=args.min_history,
    )
    if args.out is not None:
        from jes_runner.sinks.report.trend import write_trend_html

        path = write_trend_html(trend, args.out)
        print(f"trend: {path}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        sys.stdout.write(json.dumps(trend.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(render_trend(trend))
    return int(ExitCode.THRESHOLD if trend.regressions else ExitCode.OK)
