"""`jes-runner discover`: job definitions matching a glob, as a job config file.

Filters server side with ``startsWith`` when the pattern has a literal prefix,
then matches client side with fnmatch. An existing file at ``--out`` keeps its
``enabled`` flags, ``expected_runtime_s``, arguments and order.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from jes_runner._util import write_atomic
from jes_runner.cli.commands import SUMMARIES
from jes_runner.cli.options import add_emulator, add_log_format, add_viya
from jes_runner.config.settings import Settings, load_settings
from jes_runner.console import configure_logging
from jes_runner.errors import ConfigError
from jes_runner.measure.discovery import build_config, discover

log = logging.getLogger("jes_runner.cli.commands.discover")


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from jes_runner.cli.session import make_client

    client = make_client(settings)
    try:
        defs = discover(client, args.pattern)
    finally:
        client.close()
    if not defs:  # an empty config would make the next run fail far from the cause
        raise ConfigError(
            f"no job definition matches {args.pattern!r} -- check the pattern "
            "(a glob on definition names, e.g. '*_pooled'); nothing written"
        )
    out = Path(args.out) if args.out else None
    runtimes = None
    if args.with_runtimes:
        from jes_runner.results.history import runtimes_from_results

        runtimes = runtimes_from_results(args.with_runtimes)
    doc = build_config(defs, args.pattern, out, runtimes=runtimes)
    text = json.dumps(doc, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        try:
            write_atomic(out, text)
        except OSError as e:
            raise ConfigError(f"cannot write {out}: {e.strerror or e}") from None
        log.info(
            "%d job definition(s) match %r; written to %s (%d enabled)",
            len(doc["jobs"]),
            args.pattern,
            out,
            doc["metadata"]["enabled_jobs"],
        )
    return 0


def cmd_discover(args: argparse.Namespace) -> int:
    settings = load_settings(viya_url=args.viya_url, log_format=args.log_format)
    # the config itself may go to stdout: keep log lines out of it
    configure_logging(settings.log_format, stream=None if args.out else sys.stderr)
    from jes_runner.cli.session import require_viya_url, viya_target

    if not args.emulator:
        require_viya_url(settings)
    with viya_target(settings, emulator=args.emulator, reason="--emulator") as target:
        return _run(target.settings, args)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "discover",
        help=SUMMARIES["discover"],
        description="List Viya job definitions whose names match a glob and write a job "
        "config file in the original format.",
    )
    p.add_argument("--pattern", required=True, help="glob on definition names, e.g. '*_pooled'")
    p.add_argument(
        "--out",
        help="file to write (its enabled flags and expected runtimes are kept); default stdout",
    )
    p.add_argument(
        "--with-runtimes",
        metavar="RESULTS",
        help="fill expected_runtime_s from a results file (or the newest in a directory): "
        "each job's median server duration in the baseline phase",
    )
    add_viya(p, url_help="Viya base URL (JES_VIYA_URL); required unless --emulator")
    add_emulator(p)
    add_log_format(p)
    p.set_defaults(func=cmd_discover)
