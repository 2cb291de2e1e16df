"""`jes-runner sweep`: the concurrent phase at several concurrency levels, and the knee."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from jes_runner._util import create_exclusive
from jes_runner.analysis.sweep import (
    DEFAULT_TOLERANCE,
    SWEEP_PREFIX,
    level_phase_name,
    sweep_document,
)
from jes_runner.cli.commands import SUMMARIES
from jes_runner.cli.options import (
    add_cost,
    add_emulator,
    add_job_config,
    add_log_format,
    add_output_dir,
    add_push,
    add_run_behaviour,
    add_viya,
)
from jes_runner.console import fmt_seconds, render_table
from jes_runner.errors import ConfigError, ExitCode, JesError, extra_installed

log = logging.getLogger("jes_runner.cli.commands.sweep")


def parse_levels(text: str) -> list[int]:
    try:
        levels = sorted({int(x) for x in str(text).split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 1,5,10,20 (got {text!r})"
        ) from None
    if not levels or levels[0] < 1:
        raise argparse.ArgumentTypeError("concurrency levels must be integers of at least 1")
    return levels


def render(doc: dict[str, Any]) -> str:
    sw = doc["sweep"]
    knee = sw["knee"] or {}
    head = [
        "level",
        "makespan",
        "speedup",
        "queue p50",
        "queue p95",
        "hosts",
        "peak nodes",
        "ok/total",
        "knee",
    ]
    rows = [
        [
            str(p["concurrency"]),
            fmt_seconds(p["makespan_seconds"]),
            f"{p['speedup']:.2f}x" if p["speedup"] else "–",
            fmt_seconds(p["queue_wait_p50_seconds"]),
            fmt_seconds(p["queue_wait_p95_seconds"]),
            str(p["hosts_used"]),
            str(p["peak_nodes"]),
            f"{p['jobs_completed']}/{p['jobs_total']}",
            "<- knee" if p["concurrency"] == knee.get("concurrency") else "",
        ]
        for p in sw["points"]
    ]
    lines = [
        f"concurrency sweep in '{sw['context']}' ({sw['mode']} mode); baseline "
        f"{fmt_seconds(sw['baseline']['makespan_seconds'])}",
        *render_table(head, rows, right=set(range(8))),
    ]
    if knee:
        lines.append(
            f"knee: concurrency {knee['concurrency']} ({knee['rule']}; best "
            f"{fmt_seconds(knee['best_makespan_seconds'])} at {knee['best_concurrency']})"
        )
    else:
        lines.append("knee: none (no level measured a makespan)")
    return "\n".join(lines) + "\n"


def write_sweep(doc: dict[str, Any], output_dir: Path, when: datetime, figure: bool) -> Path:
    """The sweep document (created exclusively) and, when asked and matplotlib is there, its figure."""
    path = output_dir / f"{SWEEP_PREFIX}{when.strftime('%Y%m%d_%H%M%S')}.json"
    try:
        # exclusive: two sweeps ending in the same second keep both
        path = create_exclusive(
            [path, *(path.with_name(f"{path.stem}_{i}.json") for i in range(2, 100))],
            json.dumps(doc, indent=2) + "\n",
        )
        if figure:
            from jes_runner.sinks.report.figures import sweep_figure

            path.with_suffix(".png").write_bytes(sweep_figure(doc))
    except OSError as e:
        raise JesError(
            f"cannot write sweep results {path}: {e.strerror or e}", ExitCode.RESULTS_UNWRITABLE
        ) from None
    return path


def register(subparsers: argparse._SubParsersAction) -> None:
    from jes_runner.config.phases import ASYNC_CONTEXT, BASELINE_CONTEXT

    p = subparsers.add_parser(
        "sweep",
        help=SUMMARIES["sweep"],
        description="Sequential baseline once, then the concurrent phase at each --concurrency level; "
        "reports makespan, queue wait and node usage per level and marks the knee (the "
        "smallest level within 5% of the best makespan). Against --viya-url, or the embedded "
        "emulator with --emulator (or --scenario).",
    )
    p.add_argument(
        "--concurrency",
        type=parse_levels,
        required=True,
        metavar="N,N,...",
        help="levels, e.g. 1,5,10,20",
    )
    p.add_argument(
        "--context",
        default=ASYNC_CONTEXT,
        help=f"context of the concurrent phases (default {ASYNC_CONTEXT})",
    )
    p.add_argument(
        "--baseline-context", default=BASELINE_CONTEXT, help="context of the sequential baseline"
    )
    p.add_argument(
        "--mode",
        choices=["batch", "window"],
        default="batch",
        help="batch: waves of N (default, as run's); window: keep N in flight",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        metavar="PCT",
        help="knee: within this %% of the best makespan (default 5)",
    )
    add_viya(p, url_help="Viya base URL (JES_VIYA_URL); required unless --emulator")
    add_emulator(p)
    p.add_argument("--scenario", help="emulator scenario file (implies --emulator)")
    add_job_config(p)
    add_output_dir(p)
    p.add_argument("--limit-jobs", type=int, help="first N enabled jobs")
    add_log_format(p)
    add_run_behaviour(p)
    add_cost(p)
    add_push(p)
    p.add_argument(
        "--json",
        action="store_true",
        help="print the sweep document as JSON instead of the table (no figure)",
    )
    p.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    from jes_runner.cli.session import (
        managed_run,
        require_viya_url,
        settings_from_args,
        viya_target,
    )
    from jes_runner.config.phases import PhaseSpec
    from jes_runner.console import configure_logging
    from jes_runner.measure.plan import build_plan, load_jobs

    if args.tolerance < 0:
        raise ConfigError("--tolerance must not be negative")
    if args.limit_jobs is not None and args.limit_jobs < 1:
        raise ConfigError("--limit-jobs must be at least 1")
    settings = settings_from_args(args)
    emulator = bool(args.emulator or args.scenario)
    if args.scenario and settings.viya_url:
        raise ConfigError(
            "--scenario configures the embedded emulator; it cannot be used with a Viya URL"
        )
    if not emulator:
        require_viya_url(settings)
    configure_logging(settings.log_format)
    specs = [
        PhaseSpec(
            name="sequential", context=args.baseline_context, mode="sequential", baseline=True
        )
    ]
    specs += [
        PhaseSpec(name=level_phase_name(n), context=args.context, mode=args.mode, concurrency=n)
        for n in args.concurrency
    ]
    path, jobs = load_jobs(settings, args.limit_jobs)
    plan = build_plan(specs, jobs, path)
    log.info(
        "sweep: baseline + %d level(s) %s over %d job(s)",
        len(args.concurrency),
        ",".join(map(str, args.concurrency)),
        len(jobs),
    )
    # the one managed path: SIGTERM cancels in-flight jobs, phases get node_timeline/scaling
    # --json: stdout carries the sweep document alone; the run's own summary goes to stderr
    quiet = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with (
        quiet,
        viya_target(settings, emulator=emulator, scenario=args.scenario, reason="sweep") as target,
    ):
        ctx = managed_run(target, plan)
    if ctx.results is None:  # pragma: no cover - run() raises before this
        raise JesError("the sweep's run produced no results", ExitCode.INTERNAL)
    doc = sweep_document(
        ctx.results,
        args.concurrency,
        results_file=str(ctx.results_path) if ctx.results_path else None,
        context=args.context,
        mode=args.mode,
        tolerance_percent=args.tolerance,
    )
    # the figure needs the report extra, which the container image leaves out: the table and
    # the JSON never do
    figure = not args.json and extra_installed("matplotlib")
    out = write_sweep(doc, Path(settings.output_dir), datetime.now().astimezone(), figure)
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return int(ctx.exit_code)
    sys.stdout.write("\n" + render(doc))
    sys.stdout.write(
        f"sweep results: {out}" + ("" if figure else " (no figure: matplotlib absent)") + "\n"
    )
    return int(ctx.exit_code)
