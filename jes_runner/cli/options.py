"""Flags shared by several commands, declared once (pip's ``cmdoptions``).

Each ``add_*`` adds one group of flags to a command's parser. A flag that sets a
setting is declared through :func:`setting_flag`, from ``config.settings.SETTING_FLAGS``
(the one field <-> flag table ``cli.session.settings_from_args`` reads back with), so a
flag means the same thing in every command that has it.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from jes_runner.config.settings import SETTING_FLAGS, env_name

LOG_FORMATS = ("text", "json")


def setting_flag(p: argparse.ArgumentParser, field: str, help: str, **kw: Any) -> None:
    """The flag of a Settings field (dest = the field), its JES_* variable named in the help."""
    p.add_argument(SETTING_FLAGS[field], dest=field, help=f"{help} ({env_name(field)})", **kw)


def off_switch(p: argparse.ArgumentParser, field: str, help: str) -> None:
    """``--no-X``: sets the boolean setting to false (the variable says ``JES_X=false``)."""
    setting_flag(p, field, help, action="store_const", const=False)


def add_viya(p: argparse.ArgumentParser, *, url_help: str = "Viya base URL") -> None:
    """Where Viya is and how its certificate is checked."""
    setting_flag(p, "viya_url", url_help)
    setting_flag(p, "ca_bundle", "CA bundle for Viya's TLS certificate")
    off_switch(p, "verify_tls", "do not verify Viya's TLS certificate (one warning per run)")


def add_emulator(p: argparse.ArgumentParser) -> None:
    """The embedded emulator runs only when asked: its figures are marked emulated everywhere."""
    p.add_argument(
        "--emulator",
        action="store_true",
        help="measure the embedded Viya emulator instead of a Viya (results, metrics and "
        "report are marked emulated)",
    )


def add_log_format(p: argparse.ArgumentParser) -> None:
    setting_flag(
        p,
        "log_format",
        "log lines on stderr as text or one JSON object per line",
        choices=LOG_FORMATS,
    )


def add_output_dir(p: argparse.ArgumentParser) -> None:
    setting_flag(p, "output_dir", "results directory, default results/")


def add_job_config(p: argparse.ArgumentParser) -> None:
    setting_flag(p, "job_config", "job config file")


def add_concurrency(p: argparse.ArgumentParser, help: str, **kw: Any) -> None:
    """``--concurrency N`` in every command (``--concurrent`` kept as the original tool's alias)."""
    p.add_argument(
        "--concurrency", "--concurrent", dest="concurrency", type=int, metavar="N", help=help, **kw
    )


def add_json(p: argparse.ArgumentParser, what: str = "the result") -> None:
    """``--json``: print ``what`` as one JSON document on stdout instead of the table (every command)."""
    p.add_argument("--json", action="store_true", help=f"print {what} as JSON on stdout")


def add_phase_plan(p: argparse.ArgumentParser) -> None:
    """The original tool's flags that choose the phases and the jobs."""
    p.add_argument(
        "--phases",
        dest="phases_file",
        metavar="FILE",
        help="phases as a JSON/YAML list, each naming its context (JES_PHASES); not together "
        "with --mode/--concurrency",
    )
    p.add_argument(
        "--mode", choices=["batch", "window", "all"], help="concurrent phase mode (default batch)"
    )
    add_concurrency(p, "jobs per batch / window (default 5)")
    setting_flag(
        p,
        "sequential_context",
        "compute context of the default sequential (baseline) phase; default: the job config's "
        "default_context, else 'SAS Job Execution compute context'",
        metavar="NAME",
    )
    setting_flag(
        p,
        "concurrent_context",
        "compute context of the default concurrent phase; default: the job config's "
        "async_context, else 'Autoscaling POC Context' (`jes-runner discover` lists yours)",
        metavar="NAME",
    )
    p.add_argument("--async-only", action="store_true", help="skip the baseline phase")
    p.add_argument("--sequential-only", action="store_true", help="run only the baseline phase")
    p.add_argument(
        "--limit-jobs", type=int, help="first N enabled jobs; 0 prints the effective configuration"
    )


def add_run_behaviour(p: argparse.ArgumentParser) -> None:
    """How a run waits, labels itself and reports."""
    setting_flag(
        p, "job_timeout_s", "seconds before a job is canceled and recorded timed_out", type=float
    )
    setting_flag(
        p,
        "correlation_deadline_s",
        "seconds to wait for Workload Orchestrator records after each phase",
        type=float,
    )
    setting_flag(p, "cluster", "run label")
    setting_flag(p, "environment", "run label")
    setting_flag(
        p,
        "profile",
        "run kind, default adhoc: part of the metrics' group, so only runs of one profile "
        "replace each other's metrics",
    )
    off_switch(p, "report", "do not write the HTML report beside the results file")
    setting_flag(
        p,
        "cancel_orphans",
        "cancel jobs that other, dead runs left pending/running in Viya (past their own job "
        "timeout; runs that may be alive are only listed)",
        action="store_const",
        const=True,
    )


def add_cost(p: argparse.ArgumentParser) -> None:
    """The node-hour price that turns each phase's node-seconds into a cost."""
    setting_flag(
        p,
        "node_hour_price",
        "price of one node-hour: each phase's node-seconds become a cost in the results, "
        "the jes_phase_cost metric and the report; unset: no cost",
        type=float,
        metavar="PRICE",
    )
    setting_flag(p, "currency", "currency code of that price, default USD", metavar="CODE")


def add_push(p: argparse.ArgumentParser) -> None:
    setting_flag(p, "pushgateway_url", "Pushgateway URL; unset: no push")
    off_switch(p, "push", "do not push metrics, even when JES_PUSHGATEWAY_URL is set")


def add_thresholds(p: argparse.ArgumentParser) -> None:
    setting_flag(p, "max_failed_jobs", "threshold: exit 6 above this many failed jobs", type=int)
    setting_flag(
        p,
        "min_speedup",
        "threshold: exit 6 when a comparable phase's busy speedup is lower",
        type=float,
    )
    setting_flag(
        p,
        "max_queue_wait_p95_seconds",
        "threshold: exit 6 when a phase's queue wait p95 (s) is higher",
        type=float,
    )
    setting_flag(
        p,
        "max_outage_share",
        "a phase with Viya API errors over this share of its makespan is not comparable "
        "(default 0.10)",
        type=float,
    )
    setting_flag(
        p,
        "max_idle_share",
        "a phase idle (none of its jobs on the server) over this share of its makespan is "
        "not comparable (default 0.25)",
        type=float,
    )


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Everything `run` takes."""
    add_viya(p, url_help="Viya base URL (JES_VIYA_URL); required unless --emulator")
    add_emulator(p)
    add_job_config(p)
    add_output_dir(p)
    add_phase_plan(p)
    add_log_format(p)
    add_run_behaviour(p)
    add_cost(p)
    add_push(p)
    add_thresholds(p)


def parse_percent(text: str) -> float:
    """`10%`, `10` or `12.5 %` -> 10.0 (always percent)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*%?\s*", str(text))
    if not m:
        raise argparse.ArgumentTypeError(f"expected a percentage such as 10% (got {text!r})")
    return float(m.group(1))
