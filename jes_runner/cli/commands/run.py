"""`jes-runner run`: a comparison against Viya (or, asked for, the embedded emulator)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from jes_runner.cli.commands import SUMMARIES
from jes_runner.cli.options import add_run_arguments
from jes_runner.cli.session import (
    log_job_config,
    managed_run,
    plan_from_args,
    print_effective_config,
    settings_from_args,
    viya_target,
)
from jes_runner.console import configure_logging


def cmd_run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    configure_logging(settings.log_format)
    plan = plan_from_args(settings, args)
    log_job_config(settings, plan, args)
    if args.limit_jobs == 0:
        print_effective_config(settings, plan, sys.stdout)
        return 0
    emulator = not settings.viya_url
    reason = "no --viya-url / JES_VIYA_URL"
    with viya_target(settings, emulator=emulator, reason=reason) as target:
        return managed_run(target, plan).exit_code


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("run", help=SUMMARIES["run"],
                              description="Run the job comparison: phases of jobs in compute contexts, measured "
                                          "from Viya server timestamps.")
    add_run_arguments(p)
    p.set_defaults(func=cmd_run)
