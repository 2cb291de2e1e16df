"""`jes-runner push RESULTS.json`: push an existing results file to the Pushgateway."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from jes_runner.cli.commands import SUMMARIES
from jes_runner.errors import ExitCode, JesError
from jes_runner.sinks.metrics.push import log as push_log
from jes_runner.sinks.metrics.push import push_results, redact_url
from jes_runner.sinks.metrics.registry import LABEL_KEYS, default_labels, run_succeeded


def load_results_file(path: Path) -> dict[str, Any]:
    """Any results file the one reader knows (the runner's, the seed's, the original tool's)."""
    from jes_runner.results.views import load_results

    if path.name.endswith(".checkpoint.jsonl"):
        raise JesError(
            f"{path}: a run's checkpoint, not a results file -- `jes-runner recover {path}` turns it into one"
        )
    return load_results(path)


def _cmd_push(args: argparse.Namespace) -> int:
    from jes_runner.config.settings import load_settings, warn_unknown_env

    warn_unknown_env()  # this command does not configure logging: said once, plainly
    results = load_results_file(Path(args.results))
    # validates --profile; push=True: this command is the explicit push, JES_PUSH=false is for runs
    settings = load_settings(pushgateway_url=args.pushgateway_url, profile=args.profile, push=True)
    if not settings.pushgateway_url:
        raise JesError("no Pushgateway URL: pass --pushgateway-url or set JES_PUSHGATEWAY_URL")
    labels = default_labels(results, settings)
    for key in LABEL_KEYS:
        if getattr(args, key):
            labels[key] = getattr(args, key)
    # a failure is a JesError(exit 4): main prints it as this command's one `error:` line, so
    # the sink's own warning of the same text is not logged a second time
    logging.getLogger(push_log.name).setLevel(logging.ERROR)
    push_results(results, settings, labels=labels)
    verb = "PUT" if run_succeeded(results) else "POST"
    print(f"pushed run {results.get('run_id')} ({verb}) to {redact_url(settings.pushgateway_url)}")
    return int(ExitCode.OK)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "push",
        help=SUMMARIES["push"],
        description="Push the metrics of an existing results file (same metrics and semantics as a run's push).",
    )
    p.add_argument(
        "results", metavar="RESULTS.json", help="a results file written by `jes-runner run`"
    )
    p.add_argument("--pushgateway-url", help="Pushgateway URL (default: JES_PUSHGATEWAY_URL)")
    p.add_argument("--cluster", help="cluster label (default: the file's metadata.labels.cluster)")
    p.add_argument(
        "--environment", help="environment label (default: the file's metadata.labels.environment)"
    )
    p.add_argument(
        "--profile",
        help="profile label (default: the file's metadata.labels.profile, else JES_PROFILE "
        "or adhoc)",
    )
    p.set_defaults(func=_cmd_push)
