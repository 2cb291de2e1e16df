"""`jes-runner demo`: the default comparison against the embedded emulator.

The emulator is started through ``cli.session.viya_target``; the library below
the CLI never imports it.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from jes_runner.cli.commands import SUMMARIES
from jes_runner.cli.options import add_log_format, add_output_dir
from jes_runner.cli.session import managed_run, viya_target
from jes_runner.config.settings import load_settings, packaged_job_config
from jes_runner.console import configure_logging
from jes_runner.errors import ConfigError
from jes_runner.measure.plan import build_plan, load_jobs, select_phases

log = logging.getLogger("jes_runner.cli.commands.demo")


def cmd_demo(args: argparse.Namespace) -> int:
    settings = load_settings(output_dir=args.output_dir, log_format=args.log_format)
    configure_logging(settings.log_format)
    if args.limit_jobs is not None and args.limit_jobs < 1:
        raise ConfigError("--limit-jobs must be at least 1 for the demo")
    # the demo is always the seed's comparison over the shipped 54-job config
    settings = settings.model_copy(update={"phases": None, "job_config": packaged_job_config()})
    specs = select_phases(settings)
    path, jobs = load_jobs(settings, args.limit_jobs)
    plan = build_plan(specs, jobs, path)
    reason = f"demo ({args.scenario or 'default scenario'})"
    with viya_target(settings, emulator=True, scenario=args.scenario, reason=reason) as target:
        return managed_run(target, plan).exit_code


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help=SUMMARIES["demo"],
        description="Start the Viya emulator in-process and run the default comparison "
        "(sequential, then batches of 5) over all 54 jobs.",
    )
    add_output_dir(p)
    add_log_format(p)
    p.add_argument("--limit-jobs", type=int, help="first N jobs only")
    p.add_argument("--scenario", help="emulator scenario file (YAML/JSON) instead of the default")
    p.set_defaults(func=cmd_demo)
