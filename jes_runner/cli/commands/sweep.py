"""`jes-runner sweep`: the concurrent phase at several concurrency levels, and the knee."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime
from pathlib import Path

from jes_runner.analysis.sweep import (
    DEFAULT_TOLERANCE,
    level_phase_name,
    parse_levels,
    render,
    sweep_document,
)
from jes_runner.cli.commands import SUMMARIES
from jes_runner.cli.options import (
    add_emulator,
    add_job_config,
    add_log_format,
    add_output_dir,
    add_push,
    add_run_behaviour,
    add_viya,
)
from jes_runner.errors import ConfigError, ExitCode, JesError
from jes_runner.sinks.report.figures import write_sweep

log = logging.getLogger("jes_runner.cli.commands.sweep")


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
        choices=["window", "batch"],
        default="window",
        help="window: keep N in flight (default); batch: waves of N",
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
    add_push(p)
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
    with viya_target(settings, emulator=emulator, scenario=args.scenario, reason="sweep") as target:
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
    out = write_sweep(doc, Path(settings.output_dir), datetime.now().astimezone())
    sys.stdout.write("\n" + render(doc))
    sys.stdout.write(f"sweep results: {out}\n")
    return int(ctx.exit_code)
