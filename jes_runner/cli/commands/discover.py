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
from jes_runner.cli.options import add_log_format, add_viya
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
    out = Path(args.out) if args.out else None
    doc = build_config(defs, args.pattern, out)
    text = json.dumps(doc, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        try:
            write_atomic(out, text)
        except OSError as e:
            raise ConfigError(f"cannot write {out}: {e.strerror or e}") from None
        log.info("%d job definition(s) match %r; written to %s (%d enabled)", len(doc["jobs"]), args.pattern, out,
                 doc["metadata"]["enabled_jobs"])
    if not doc["jobs"]:
        log.warning("no job definition matches %r", args.pattern)
    return 0


def cmd_discover(args: argparse.Namespace) -> int:
    settings = load_settings(viya_url=args.viya_url, log_format=args.log_format)
    # the config itself may go to stdout: keep log lines out of it
    configure_logging(settings.log_format, stream=None if args.out else sys.stderr)
    from jes_runner.cli.session import viya_target

    reason = "no --viya-url / JES_VIYA_URL: discovering on the embedded emulator"
    with viya_target(settings, emulator=not settings.viya_url, reason=reason) as target:
        return _run(target.settings, args)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("discover", help=SUMMARIES["discover"],
                              description="List Viya job definitions whose names match a glob and write a job "
                                          "config file in the original format.")
    p.add_argument("--pattern", required=True, help="glob on definition names, e.g. '*_pooled'")
    p.add_argument("--out", help="file to write (its enabled flags and expected runtimes are kept); default stdout")
    add_viya(p, url_help="Viya base URL (JES_VIYA_URL); unset: the embedded emulator")
    add_log_format(p)
    p.set_defaults(func=cmd_discover)
