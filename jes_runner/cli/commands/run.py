"""`jes-runner run`: a comparison against Viya (or, asked for, the embedded emulator)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from jes_runner.cli.commands import SUMMARIES
from jes_runner.cli.options import add_run_arguments
from jes_runner.cli.session import (
    log_job_config,
    managed_run,
    print_effective_config,
    require_viya_url,
    settings_and_plan,
    settings_from_args,
    viya_target,
)
from jes_runner.console import configure_logging

log = logging.getLogger("jes_runner.cli.commands.run")


def cmd_run(args: argparse.Namespace) -> int:
    configure_logging(settings_from_args(args).log_format)
    settings, plan = settings_and_plan(args)
    if args.limit_jobs == 0:
        log_job_config(settings, plan, args)
        print_effective_config(settings, plan, sys.stdout)
        return 0
    if not args.emulator:
        require_viya_url(settings)  # before anything else is said: a missing URL is the one line
    elif settings.viya_url:
        log.warning("--emulator: measuring the embedded emulator, not %s", settings.viya_url)
    log_job_config(settings, plan, args)
    with viya_target(settings, emulator=args.emulator, reason="--emulator") as target:
        return managed_run(target, plan).exit_code


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run",
        help=SUMMARIES["run"],
        description="Run the job comparison: phases of jobs in compute contexts, measured "
        "from Viya server timestamps.",
    )
    add_run_arguments(p)
    p.set_defaults(func=cmd_run)
