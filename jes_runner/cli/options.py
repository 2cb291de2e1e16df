"""Flags shared by several commands, declared once (pip's ``cmdoptions``).

Each ``add_*`` adds one group of flags to a command's parser; the names match
the settings (``cli.session.settings_from_args`` reads them), so a flag means
the same thing in every command that has it.
"""

from __future__ import annotations

import argparse

LOG_FORMATS = ("text", "json")


def add_viya(p: argparse.ArgumentParser, *, url_help: str = "Viya base URL (JES_VIYA_URL)") -> None:
    """Where Viya is and how its certificate is checked."""
    p.add_argument("--viya-url", help=url_help)
    p.add_argument("--ca-bundle", help="CA bundle for Viya's TLS certificate (JES_CA_BUNDLE)")
    p.add_argument(
        "--no-verify-tls",
        dest="verify_tls",
        action="store_const",
        const=False,
        help="do not verify Viya's TLS certificate (one warning per run)",
    )


def add_emulator(p: argparse.ArgumentParser) -> None:
    """The embedded emulator runs only when asked: its figures are marked emulated everywhere."""
    p.add_argument(
        "--emulator",
        action="store_true",
        help="measure the embedded Viya emulator instead of a Viya (results, metrics and "
        "report are marked emulated)",
    )


def add_log_format(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="log lines on stderr as text or one JSON object per line (JES_LOG_FORMAT)",
    )


def add_output_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output-dir", help="results directory (JES_OUTPUT_DIR, default results/)")


def add_job_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", dest="job_config", help="job config file (JES_JOB_CONFIG)")


def add_phase_plan(p: argparse.ArgumentParser) -> None:
    """The original tool's flags that choose the phases and the jobs."""
    p.add_argument(
        "--phases",
        dest="phases_file",
        metavar="FILE",
        help="phases as a JSON/YAML list (JES_PHASES); not together with --mode/--concurrent",
    )
    p.add_argument(
        "--mode", choices=["batch", "window", "all"], help="async phase mode (default batch)"
    )
    p.add_argument("--concurrent", type=int, help="jobs per batch / window (default 5)")
    p.add_argument("--async-only", action="store_true", help="skip the baseline phase")
    p.add_argument("--sequential-only", action="store_true", help="run only the baseline phase")
    p.add_argument(
        "--limit-jobs", type=int, help="first N enabled jobs; 0 prints the effective configuration"
    )


def add_run_behaviour(p: argparse.ArgumentParser) -> None:
    """How a run waits, labels itself and reports."""
    p.add_argument(
        "--job-timeout",
        dest="job_timeout_s",
        type=float,
        help="seconds before a job is canceled and recorded timed_out (JES_JOB_TIMEOUT_S)",
    )
    p.add_argument(
        "--correlation-deadline",
        dest="correlation_deadline_s",
        type=float,
        help="seconds to wait for Workload Orchestrator records after each phase",
    )
    p.add_argument("--cluster", help="run label (JES_CLUSTER)")
    p.add_argument("--environment", help="run label (JES_ENVIRONMENT)")
    p.add_argument(
        "--profile",
        help="run kind (JES_PROFILE, default adhoc): part of the metrics' group, so only "
        "runs of one profile replace each other's metrics",
    )
    p.add_argument(
        "--no-report",
        dest="report",
        action="store_const",
        const=False,
        help="do not write the HTML report beside the results file (JES_REPORT=false)",
    )
    p.add_argument(
        "--cancel-orphans",
        dest="cancel_orphans",
        action="store_const",
        const=True,
        help="cancel jobs that other, dead runs left pending/running in Viya (past their own job "
        "timeout; runs that may be alive are only listed) (JES_CANCEL_ORPHANS)",
    )


def add_push(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pushgateway-url", help="Pushgateway URL (JES_PUSHGATEWAY_URL); unset: no push"
    )
    p.add_argument(
        "--no-push",
        dest="push",
        action="store_const",
        const=False,
        help="do not push metrics, even when JES_PUSHGATEWAY_URL is set",
    )


def add_thresholds(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-failed-jobs", type=int, help="threshold: exit 6 above this many failed jobs"
    )
    p.add_argument(
        "--min-speedup",
        type=float,
        help="threshold: exit 6 when a comparable phase's busy speedup is lower",
    )
    p.add_argument(
        "--max-queue-wait-p95",
        dest="max_queue_wait_p95_seconds",
        type=float,
        help="threshold: exit 6 when a phase's queue wait p95 (s) is higher",
    )
    p.add_argument(
        "--max-outage-share",
        type=float,
        help="a phase with Viya API errors over this share of its makespan is not comparable "
        "(JES_MAX_OUTAGE_SHARE, default 0.10)",
    )
    p.add_argument(
        "--max-idle-share",
        type=float,
        help="a phase idle (none of its jobs on the server) over this share of its makespan is "
        "not comparable (JES_MAX_IDLE_SHARE, default 0.25)",
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
    add_push(p)
    add_thresholds(p)
