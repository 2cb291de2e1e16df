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
from jes_runner.cli.options import add_log_format, add_viya, setting_flag
from jes_runner.config.settings import Settings
from jes_runner.console import configure_logging
from jes_runner.errors import ConfigError
from jes_runner.measure.discovery import build_config, context_names, discover

log = logging.getLogger("jes_runner.cli.commands.discover")


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from jes_runner.cli.session import make_client

    client = make_client(settings)
    try:
        defs = discover(client, args.pattern)
        contexts = context_names(client)
    finally:
        client.close()
    _say_contexts(contexts, settings)
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
    doc = build_config(
        defs,
        args.pattern,
        out,
        runtimes=runtimes,
        contexts=contexts,
        sequential=settings.sequential_context,
        concurrent=settings.concurrent_context,
    )
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


def _say_contexts(contexts: list[str], settings: Settings) -> None:
    """The server's contexts on stderr (pick yours for run's context flags); a chosen one it lacks is warned."""
    log.info(
        "compute contexts on the server (%d): %s",
        len(contexts),
        "; ".join(contexts) or "none",
        extra={"event": "contexts", "contexts": contexts},
    )
    for flag, chosen in (
        ("--sequential-context", settings.sequential_context),
        ("--concurrent-context", settings.concurrent_context),
    ):
        if chosen and chosen not in contexts:
            log.warning("%s %r: the server has no such compute context", flag, chosen)


def cmd_discover(args: argparse.Namespace) -> int:
    from jes_runner.cli.session import require_viya_url, settings_from_args, viya_target

    settings = settings_from_args(args)
    # the config itself may go to stdout: keep log lines out of it
    configure_logging(settings.log_format, stream=None if args.out else sys.stderr)

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
    setting_flag(
        p,
        "sequential_context",
        "write this as the config's default_context (the baseline phase's context)",
        metavar="NAME",
    )
    setting_flag(
        p,
        "concurrent_context",
        "write this as the config's async_context (the concurrent phase's context); without "
        "it a context is written only if the server has the original tool's one",
        metavar="NAME",
    )
    add_viya(p, url_help="Viya base URL; required unless --emulator")
    p.add_argument(
        "--emulator",
        action="store_true",
        help="discover the embedded Viya emulator's job definitions and contexts instead of a "
        "Viya's (to try the command; the file is no use against a real Viya)",
    )
    add_log_format(p)
    p.set_defaults(func=cmd_discover)
