"""`jes-runner compare BASE CURRENT`: per-phase and per-job changes; exit 6 on a regression."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from jes_runner.analysis.regression import SPEEDUPS, compare_results, count_text, ratio_text
from jes_runner.cli.commands import SUMMARIES
from jes_runner.cli.options import add_json, parse_percent
from jes_runner.console import fmt_seconds
from jes_runner.errors import ExitCode, JesError
from jes_runner.results.views import load_results


def _header(out: dict[str, Any], base_name: str, cur_name: str) -> list[str]:
    tol = out["tolerance"]
    lines = [
        f"compare: {base_name} (run {str(out['baseline']['run_id'])[:8]}) -> "
        f"{cur_name} (run {str(out['current']['run_id'])[:8]})"
    ]
    diffs = out.get("configuration_changed") or []
    if diffs:
        judged = (
            "judged anyway (--allow-config-change)"
            if out.get("judged")
            else "none is called a regression across configurations (--allow-config-change to judge)"
        )
        lines += ["configuration differs:", *(f"  {d}" for d in diffs)]
        lines.append("  changes below are shown; " + judged)
    else:
        lines.append(
            "configuration: the same (contexts, modes, concurrency, job set, tool version, target)"
        )
    jobs = (
        f", job figures +{tol['max_job_regression_percent']:g} %"
        if tol["max_job_regression_percent"] is not None
        else ", job figures shown only"
    )
    lines.append(
        f"tolerance: phase figures +{tol['max_regression_percent']:g} %{jobs}"
        f"; changes under {tol['min_delta_seconds']:g} s ignored"
    )
    for side in ("baseline", "current"):
        if out[side]["schema_version"] == 0:
            lines.append(
                f"note: the {side} is an original-tool file: server timestamps where its jobs have "
                "them (job_metrics), else its client clock"
            )
    for key, label in (
        ("only_in_baseline", "only in the baseline"),
        ("only_in_current", "only in the current run"),
    ):
        if out[key]:
            lines.append(f"phases {label} (not compared): {', '.join(out[key])}")
    return lines


def _phase_cells(c: dict[str, Any]) -> tuple[str, str, str]:
    """(baseline, current, change) of one phase figure, each in its own format."""
    if c["figure"] == "jobs_not_completed":
        change = f"{c['delta']:+d}" if c["delta"] is not None else "–"
        return count_text(c["baseline"]), count_text(c["current"]), change
    if c["figure"] in SPEEDUPS:
        change = "–" if c["percent"] is None else f"{c['percent']:+.1f} %"
        return ratio_text(c["baseline"]), ratio_text(c["current"]), change
    if c["delta"] is None:
        change = "–"
    elif c["percent"] is not None:
        change = f"{c['percent']:+.1f} %"
    else:
        change = f"{c['delta']:+.1f} s"
    return fmt_seconds(c["baseline"]), fmt_seconds(c["current"]), change


def _phase_table(out: dict[str, Any]) -> list[str]:
    lines = [f"{'phase':<18} {'figure':<22} {'baseline':>11} {'current':>11} {'change':>10}"]
    regression = "  REGRESSION" if out.get("judged", True) else "  (changed configuration)"
    for c in out["phase_changes"]:
        b, cu, change = _phase_cells(c)
        flag = regression if c["regression"] else ""
        lines.append(f"{c['phase']:<18} {c['figure']:<22} {b:>11} {cu:>11} {change:>10}{flag}")
    return lines


def _job_changes(out: dict[str, Any], top: int) -> list[str]:
    floor = out["tolerance"]["min_delta_seconds"]
    by_phase: dict[str, list[dict[str, Any]]] = {name: [] for name in out["phases_compared"]}
    for c in out["job_changes"]:
        if c["delta"] is not None and c["delta"] > floor:
            by_phase[c["phase"]].append(c)
    lines = []
    for phase, changes in by_phase.items():
        if not changes:
            lines.append(f"\n{phase}: no job got slower or waited longer by more than {floor:g} s")
            continue
        lines.append(f"\n{phase}: {len(changes)} job figure(s) grew; largest:")
        for c in sorted(changes, key=lambda c: -c["delta"])[:top]:
            pct = f"{c['percent']:+.1f} %" if c["percent"] is not None else f"{c['delta']:+.1f} s"
            counted = "  REGRESSION" if c["counted"] else "  over tolerance (not counted)"
            flag = counted if c["regression"] else ""
            lines.append(
                f"  {c['job']:<24} {c['figure']:<11} {fmt_seconds(c['baseline']):>11} -> "
                f"{fmt_seconds(c['current']):>11} ({pct}){flag}"
            )
    return lines


def _verdict(out: dict[str, Any]) -> str:
    if not out.get("judged", True):
        return "result: configuration changed, no regression judged (exit 0; --allow-config-change to judge)"
    n = len(out["regressions"])
    if out["passed"]:
        return "result: within tolerance (exit 0)"
    return f"result: {n} regression{'s' if n != 1 else ''} beyond tolerance (exit 6)"


def render(out: dict[str, Any], base_name: str, cur_name: str, *, top: int = 5) -> str:
    """The comparison as the terminal text: header, phase figures, largest job changes, verdict."""
    lines = [
        *_header(out, base_name, cur_name),
        "",
        *_phase_table(out),
        *_job_changes(out, top),
        "",
        _verdict(out),
    ]
    return "\n".join(lines) + "\n"


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
    add_json(p, "the comparison")
    p.add_argument(
        "--json-out",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the comparison as JSON to FILE (the table still printed)",
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
    if args.json_out:
        try:
            args.json_out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        except OSError as e:
            raise JesError(f"cannot write {args.json_out}: {e.strerror or e}") from None
    if args.json:  # as every command's --json: the document on stdout instead of the table
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        sys.stdout.write(render(out, args.baseline.name, args.current.name, top=args.top))
    return int(ExitCode.OK if out["passed"] else ExitCode.THRESHOLD)
