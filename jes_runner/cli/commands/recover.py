"""`jes-runner recover CHECKPOINT`: a dead run's checkpoint as a results file (status `aborted`).

For a run killed without a chance to write its results (``kill -9``, an OOM-killed or
evicted pod past its grace period), in any phase. Viya (flag, JES_VIYA_URL, else the URL in
the checkpoint's run line; credentials as for `run`) is asked for the final state of every
job in flight at the crash, and correlation is redone for the interrupted phase;
`report`, `export`, `compare` and `push` then read the file like any other.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jes_runner.cli.commands import SUMMARIES
from jes_runner.cli.options import add_viya
from jes_runner.errors import ExitCode


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "recover",
        help=SUMMARIES["recover"],
        description="Turn the checkpoint a dead run left (<run_id>.checkpoint.jsonl) into a schema-valid results "
        "file with status 'aborted': every measured job kept, correlation redone for the finished "
        "jobs of the phase the crash interrupted (needs --viya-url / JES_VIYA_URL).",
    )
    p.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        type=Path,
        help="the dead run's <run_id>.checkpoint.jsonl",
    )
    add_viya(
        p,
        url_help="Viya base URL (JES_VIYA_URL; default: the dead run's, from its checkpoint)",
    )
    p.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="where the results file goes (default: beside the checkpoint)",
    )
    p.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    from jes_runner._util import parse_ts, utcnow
    from jes_runner.cli.session import make_client
    from jes_runner.config.settings import load_settings
    from jes_runner.console import configure_logging
    from jes_runner.results.files import write_results
    from jes_runner.results.recovery import read_checkpoint, recover
    from jes_runner.results.schema import validate_results
    from jes_runner.viya import user_errors

    settings = load_settings(
        viya_url=args.viya_url, ca_bundle=args.ca_bundle, verify_tls=args.verify_tls
    )
    configure_logging(settings.log_format)
    cp = read_checkpoint(args.checkpoint)  # not a checkpoint: one line before anything connects
    if not settings.viya_url and cp.viya_url():
        # the dead run's Viya (its run line), with the credentials of flags/env as for `run`
        settings = settings.model_copy(update={"viya_url": cp.viya_url()})
    client = make_client(settings) if settings.viya_url else None
    try:
        with user_errors("recover"):
            results = recover(
                args.checkpoint, client, correlation_deadline_s=settings.correlation_deadline_s
            )
    finally:
        if client is not None:
            client.close()
    errors = validate_results(results)
    if errors:  # a bug, not bad input: say so rather than write a file readers will refuse
        raise RuntimeError(f"recovered document is not schema-valid: {errors[:3]}")
    out_dir = args.output_dir or args.checkpoint.parent
    # named by when the dead run's last job ended, so it sorts among the other results files
    when = parse_ts(results["metadata"]["ended_at"]) or utcnow()
    path = write_results(out_dir, results, when.astimezone())
    jobs = sum(len(p["jobs"]) for p in results["phases"])
    print(
        f"recovered run {results['run_id']}: {jobs} job(s) in {len(results['phases'])} phase(s), status "
        f"{results['status']}"
    )
    print(f"results: {path}")
    return int(ExitCode.OK)
