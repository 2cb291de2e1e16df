"""Flags shared by several commands, declared once."""

from __future__ import annotations

import argparse


def add_run_arguments(p: argparse.ArgumentParser, *, with_url: bool = True) -> None:
    if with_url:
        p.add_argument("--viya-url", help="Viya base URL (JES_VIYA_URL); unset: start the embedded emulator")
    p.add_argument("--config", dest="job_config", help="job config file (JES_JOB_CONFIG)")
    p.add_argument("--output-dir", help="results directory (JES_OUTPUT_DIR, default results/)")
    p.add_argument("--phases", dest="phases_file", metavar="FILE", help="phases as a JSON/YAML list")
    p.add_argument("--mode", choices=["batch", "window", "all"], help="async phase mode (default batch)")
    p.add_argument("--concurrent", type=int, help="jobs per batch / window (default 5)")
    p.add_argument("--async-only", action="store_true", help="skip the baseline phase")
    p.add_argument("--sequential-only", action="store_true", help="run only the baseline phase")
    p.add_argument("--limit-jobs", type=int, help="first N enabled jobs; 0 prints the effective configuration")
    p.add_argument("--log-format", choices=["text", "json"], help="log lines as text or one JSON object per line")
    p.add_argument("--job-timeout", dest="job_timeout_s", type=float, help="seconds before a job is canceled")
    p.add_argument("--correlation-deadline", dest="correlation_deadline_s", type=float,
                   help="seconds to wait for Workload Orchestrator records after each phase")
    p.add_argument("--cluster", help="run label (JES_CLUSTER)")
    p.add_argument("--environment", help="run label (JES_ENVIRONMENT)")
    p.add_argument("--ca-bundle", help="CA bundle for Viya's TLS certificate (JES_CA_BUNDLE)")
    p.add_argument("--no-verify-tls", dest="verify_tls", action="store_const", const=False,
                   help="do not verify Viya's TLS certificate")
    p.add_argument("--no-report", dest="report", action="store_const", const=False,
                   help="do not write the HTML report beside the results file (JES_REPORT=false)")
    p.add_argument("--max-failed-jobs", type=int, help="threshold: exit 6 above this many failed jobs")
    p.add_argument("--min-speedup", type=float, help="threshold: exit 6 when a phase's speedup is lower")
    p.add_argument("--max-queue-wait-p95", dest="max_queue_wait_p95_seconds", type=float,
                   help="threshold: exit 6 when a phase's queue wait p95 (s) is higher")
