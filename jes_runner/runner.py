"""Orchestrates a run: preflight, phases, correlation, comparison, sinks.

``Runner.run()`` returns a :class:`RunContext`; ``sinks`` run after the results
file is written (the terminal summary, the HTML report, then the Pushgateway push), and
``stop_event`` makes the executor cancel in-flight jobs and end the run as
``aborted`` (a later issue wires SIGTERM to it).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from jes_runner import __version__
from jes_runner.analysis.regression import check_thresholds
from jes_runner.measure.stats import phase_stats, phase_status, phase_window, seed_comparison, seed_execution, vs_baseline
from jes_runner.measure.correlation import Correlator
from jes_runner.errors import ExitCode, JesError, PreflightError, ResultsWriteError
from jes_runner.measure.executor import PhaseExecutor, PhaseOutcome, PollPolicy, RuntimeModel
from jes_runner.measure.plan import PhasePlan, RunPlan, build_plan, load_jobs, select_phases
from jes_runner.measure.records import JobRecord, iso, utcnow
from jes_runner.results.files import SCHEMA_VERSION, Checkpoint, write_results
from jes_runner.config.settings import Settings, load_settings
from jes_runner.console import Progress, configure_logging, render_summary, run_id_in_logs
from jes_runner.viya import Credentials, Handler, RetryPolicy, ViyaClient, user_errors

log = logging.getLogger("jes_runner.runner")


@dataclass
class RunContext:
    """Everything a sink may need once the run is over."""

    settings: Settings
    plan: RunPlan
    results: dict[str, Any] | None = None
    results_path: Path | None = None
    results_error: str | None = None
    checkpoint: Checkpoint | None = None
    exit_code: int = 0
    outcomes: list[PhaseOutcome] = field(default_factory=list)


Sink = Callable[[RunContext], None]


def make_client(
    settings: Settings,
    *,
    handler: Handler | None = None,
    on_refresh_token: Callable[[str], None] | None = None,
) -> ViyaClient:
    if not settings.viya_url:
        raise JesError("no Viya URL: set JES_VIYA_URL or pass --viya-url")
    creds = Credentials(
        access_token=settings.secret("access_token"),
        refresh_token=settings.secret("refresh_token"),
        username=settings.username,
        password=settings.secret("password"),
        client_id=settings.client_id,
        client_secret=settings.secret("client_secret") or "",
    )
    verify: bool | str = str(settings.ca_bundle) if settings.ca_bundle else settings.verify_tls
    return ViyaClient(
        settings.viya_url,
        creds,
        handler=handler,
        retry=RetryPolicy(max_retries=settings.max_retries, backoff_s=settings.retry_backoff_s),
        timeout=settings.request_timeout_s,
        verify=verify,
        on_refresh_token=on_refresh_token,
    )


def preflight(client: ViyaClient, plan: RunPlan) -> None:
    """Token, contexts, definitions: checked before any job is submitted; one line per failure."""
    with user_errors("preflight"):
        client.authenticate()
        contexts = client.list_contexts()
        definitions = client.list_job_definitions()

    names = {str(c.get("name")) for c in contexts if c.get("name")}
    for phase in plan.phases:
        if phase.context not in names:
            raise PreflightError(
                f"unknown compute context '{phase.context}' (phase '{phase.name}'); available: "
                + (", ".join(sorted(names)) or "none")
            )

    by_id = {str(d.get("id")): d for d in definitions if d.get("id")}
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in definitions:
        by_name[str(d.get("name"))].append(d)
    resolved: dict[str, str] = {}
    missing: list[str] = []
    for job in plan.jobs:
        if job.definition_id:
            if job.definition_id in by_id:
                resolved[job.name] = job.definition_id
            else:
                missing.append(f"{job.name} (id {job.definition_id})")
            continue
        candidates = by_name.get(job.name, [])
        if not candidates:
            missing.append(job.name)
            continue
        if len(candidates) > 1:
            log.warning("%d job definitions are named %s; using the most recently modified (set definition_id to choose)",
                        len(candidates), job.name)
            candidates = sorted(candidates, key=lambda d: str(d.get("modifiedTimeStamp") or ""), reverse=True)
        resolved[job.name] = str(candidates[0]["id"])
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise PreflightError(
            f"{len(missing)} job definition(s) not found on Viya: {shown} -- fix {plan.job_config_path} "
            "or regenerate it with `jes-runner discover`"
        )
    plan.definition_ids = resolved


class _Tee:
    """Phase listener that feeds both the progress display and the checkpoint."""

    def __init__(self, progress: Progress, checkpoint: Checkpoint, run_id: str) -> None:
        self.progress = progress
        self.checkpoint = checkpoint
        self.run_id = run_id

    def job_submitted(self, phase: PhasePlan, record: JobRecord) -> None:
        self.progress.job_submitted(phase, record)

    def job_finished(self, phase: PhasePlan, record: JobRecord) -> None:
        self.checkpoint.append({"type": "job", "run_id": self.run_id, **record.to_dict()})
        self.progress.job_finished(phase, record)


class Runner:
    def __init__(
        self,
        settings: Settings,
        plan: RunPlan,
        *,
        client: ViyaClient | None = None,
        handler: Handler | None = None,
        stop_event: threading.Event | None = None,
        sinks: list[Sink] | None = None,
        progress: Progress | None = None,
        stdout: IO[str] | None = None,
        emulated: bool = False,
    ) -> None:
        self.settings = settings
        self.plan = plan
        self.stop_event = stop_event or threading.Event()
        self.stdout = stdout or sys.stdout
        self.progress = progress or Progress(self.stdout, log_format=settings.log_format)
        self.emulated = emulated
        self.refresh_token_hooks: list[Callable[[str], None]] = []
        self._owns_client = client is None
        self.client = client or make_client(settings, handler=handler, on_refresh_token=self._new_refresh_token)
        # run after the results file is written, in order; each gets the RunContext
        self.sinks: list[Sink] = ([self._print_summary, *([self._write_report] if settings.report else []),
                                   self._push_metrics] if sinks is None else sinks)
        # called with each phase's outcome and its results dict before it is stored (e.g. a node timeline)
        self.phase_enrichers: list[Callable[[PhaseOutcome, dict[str, Any]], None]] = []
        # called with each phase before its first job (e.g. re-read the Secret, start a node watch)
        self.phase_starters: list[Callable[[PhasePlan], None]] = []
        self.abort_exit_code: int = int(ExitCode.SIGINT)
        self.abort_correlation_s: float = 5.0  # correlation budget once stopping (within the SIGTERM grace)

    def _new_refresh_token(self, token: str) -> None:
        log.debug("SASLogon issued a new refresh token")
        for hook in self.refresh_token_hooks:
            hook(token)

    # -- the run ---------------------------------------------------------------

    def run(self) -> RunContext:
        with run_id_in_logs(self.plan.run_id):
            try:
                return self._run()
            finally:
                if self._owns_client:
                    self.client.close()

    def _run(self) -> RunContext:
        s, plan = self.settings, self.plan
        ctx = RunContext(settings=s, plan=plan)
        log.info("run %s: %d phase(s), %d job(s) each, Viya at %s", plan.run_id, len(plan.phases),
                 len(plan.jobs), s.viya_url, extra={"event": "run_started", "run_id": plan.run_id})
        preflight(self.client, plan)
        log.info("preflight passed: token, %d context(s), %d definition(s) resolved",
                 len({p.context for p in plan.phases}), len(plan.definition_ids))

        checkpoint = Checkpoint(s.output_dir, plan.run_id)
        ctx.checkpoint = checkpoint
        if not checkpoint.open():
            log.warning("%s; the run goes on, figures will be on stdout", checkpoint.error)
        started_at = utcnow()
        t0 = time.monotonic()
        correlator = Correlator(self.client, deadline_s=s.correlation_deadline_s, page_limit=s.correlation_page_limit)
        policy = PollPolicy(s.poll_interval_min, s.poll_interval_max, s.job_timeout_s)
        prior: float | None = None
        phase_dicts: list[dict[str, Any]] = []
        baseline_makespan: float | None = None
        aborted = False
        try:
            for phase in plan.phases:
                if self.stop_event.is_set():
                    aborted = True
                    break
                self.progress.phase_started(phase)
                for start in self.phase_starters:
                    start(phase)
                executor = PhaseExecutor(
                    self.client, phase, run_id=plan.run_id, epoch=plan.epoch, definition_ids=plan.definition_ids,
                    policy=policy, model=RuntimeModel(prior), listener=_Tee(self.progress, checkpoint, plan.run_id),
                    stop_event=self.stop_event, submit_workers=s.submit_workers,
                )
                outcome = executor.run()
                self.progress.phase_ended(phase)
                ctx.outcomes.append(outcome)
                prior = outcome.learned_factor or prior
                first, _ = phase_window(outcome.records)
                if self.stop_event.is_set():  # stopping: correlate what is there, within the grace period
                    correlator.deadline_s = min(correlator.deadline_s, self.abort_correlation_s)
                unmatched = correlator.correlate(outcome.records, first)
                pd = self._phase_dict(outcome, unmatched)
                for enrich in self.phase_enrichers:
                    enrich(outcome, pd)
                if phase.baseline:
                    baseline_makespan = pd["stats"]["makespan_seconds"]
                phase_dicts.append(pd)
                for r in outcome.records:
                    if r.orchestrator:
                        checkpoint.append({"type": "orchestrator", "run_id": plan.run_id, "phase": phase.name,
                                           "unique_job_name": r.unique_job_name, "orchestrator_data": r.orchestrator})
                checkpoint.append({"type": "phase", "run_id": plan.run_id, "name": phase.name,
                                   "status": pd["status"], "stats": pd["stats"], "unmatched_jobs": unmatched})
                log.info("phase %s: %s, makespan %s s, %d/%d completed", phase.name, pd["status"],
                         pd["stats"]["makespan_seconds"], pd["stats"]["jobs_completed"], pd["stats"]["jobs_total"],
                         extra={"event": "phase_ended", "phase": phase.name, "stats": pd["stats"]})
                if outcome.aborted:
                    aborted = True
                    break
        finally:
            checkpoint.close()

        for pd in phase_dicts:
            pd["vs_baseline"] = None if pd["baseline"] else vs_baseline(baseline_makespan, pd["stats"]["makespan_seconds"])
        ended_at = utcnow()
        ctx.results = self._assemble(phase_dicts, started_at, ended_at, time.monotonic() - t0, aborted)
        status = ctx.results["status"]
        ctx.exit_code = (self.abort_exit_code if status == "aborted"
                         else int(ExitCode.OK) if status == "completed" else int(ExitCode.JOB_FAILURES))
        self._apply_thresholds(ctx)
        try:
            ctx.results_path = write_results(s.output_dir, ctx.results, ended_at.astimezone())
            log.info("results written to %s", ctx.results_path, extra={"event": "results_written",
                                                                         "path": str(ctx.results_path)})
        except ResultsWriteError as e:
            ctx.results_error = str(e)
            ctx.exit_code = int(ExitCode.RESULTS_UNWRITABLE)
            if checkpoint.error or checkpoint.lines == 0:
                # nothing on disk at all: the results themselves go to stdout
                self.stdout.write(json.dumps(ctx.results) + "\n")
        for sink in self.sinks:
            sink(ctx)
        if ctx.results_error:
            raise ResultsWriteError(ctx.results_error)
        return ctx

    def _phase_dict(self, outcome: PhaseOutcome, unmatched: list[str]) -> dict[str, Any]:
        phase, records = outcome.phase, outcome.records
        first, last = phase_window(records)
        return {
            "name": phase.name,
            "context": phase.context,
            "mode": phase.mode,
            "concurrency": max(1, phase.concurrency),
            "baseline": phase.baseline,
            "status": phase_status(records, outcome.aborted),
            "started_at": iso(first),
            "ended_at": iso(last),
            "client_started_at": iso(outcome.client_started_at),
            "client_ended_at": iso(outcome.client_ended_at),
            "jobs": [r.to_dict() for r in records],
            "unmatched_jobs": unmatched,
            "stats": phase_stats(records),
            "vs_baseline": None,
            "viya_requests": outcome.requests,
            "learned_runtime_factor": outcome.learned_factor,
        }

    def _assemble(self, phases: list[dict[str, Any]], started: datetime, ended: datetime,
                  elapsed: float, aborted: bool) -> dict[str, Any]:
        s = self.settings
        if aborted:
            status = "aborted"
        elif phases and all(p["status"] == "completed" for p in phases):
            status = "completed"
        else:
            status = "completed_with_failures"
        base = next((p for p in phases if p["baseline"]), None)
        other = next((p for p in phases if not p["baseline"]), None)
        seq = seed_execution(base, mode_label="sequential")
        asy = seed_execution(other, mode_label="asynchronous")
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.plan.run_id,
            "status": status,
            "metadata": {
                "started_at": iso(started),
                "ended_at": iso(ended),
                "duration_seconds": round(elapsed, 3),
                "tool_version": __version__,
                "viya_url": s.viya_url or "",
                "labels": {"cluster": s.cluster, "environment": s.environment},
                "job_config": str(self.plan.job_config_path),
                "settings": s.masked(),
                "emulator": self.emulated,
                "execution_timestamp": iso(started),  # the seed's key
                "base_url": s.viya_url or "",  # the seed's key
                "viya_requests": {"total": self.client.request_count,
                                  "by_kind": dict(sorted(self.client.requests_by_kind.items()))},
            },
            "phases": phases,
            "sequential_execution": seq,
            "async_execution": asy,
            "comparison": seed_comparison(seq, asy),
        }

    def _push_metrics(self, ctx: RunContext) -> None:
        """Pushgateway sink (metrics.py); a failed push turns an otherwise clean exit into 4."""
        if ctx.results is None or not self.settings.pushgateway_url:
            return
        from jes_runner.sinks.metrics.registry import push_results

        try:
            push_results(ctx.results, self.settings)
        except JesError as e:  # push_results already logged it in one line
            if e.exit_code != ExitCode.PUSH_FAILED:
                raise
            if ctx.exit_code == ExitCode.OK:
                ctx.exit_code = int(ExitCode.PUSH_FAILED)

    def _apply_thresholds(self, ctx: RunContext) -> None:
        """Configured limits -> results["thresholds"]; one crossed makes the exit code 6.

        With ``max_failed_jobs`` set, failures within it no longer make the exit code 3."""
        s = self.settings
        assert ctx.results is not None
        th = check_thresholds(ctx.results, max_failed_jobs=s.max_failed_jobs, min_speedup=s.min_speedup,
                              max_queue_wait_p95_seconds=s.max_queue_wait_p95_seconds)
        if not th["checked"]:
            return
        ctx.results["thresholds"] = th
        for b in th["breaches"]:
            log.warning("threshold crossed: %s", b["message"],
                        extra={"event": "threshold_crossed", "threshold": b["threshold"], "limit": b["limit"]})
        if ctx.results["status"] == "aborted":
            return
        if th["breaches"]:
            ctx.exit_code = int(ExitCode.THRESHOLD)
        elif s.max_failed_jobs is not None and ctx.exit_code == int(ExitCode.JOB_FAILURES):
            ctx.exit_code = int(ExitCode.OK)

    def _write_report(self, ctx: RunContext) -> None:
        """HTML report + PNGs beside the results file; a failure is logged, the run is already safe."""
        if ctx.results is None or ctx.results_path is None:
            return
        from jes_runner.sinks.report.html import write_report_beside  # matplotlib loads only when a report is written

        path = write_report_beside(ctx.results_path, ctx.results)
        if path is None:
            return
        log.info("report written to %s", path, extra={"event": "report_written", "path": str(path)})
        if self.settings.log_format != "json":
            self.stdout.write(f"report: {path}\n")
            self.stdout.flush()

    def _print_summary(self, ctx: RunContext) -> None:
        if ctx.results is None:
            return
        if self.settings.log_format == "json":  # pods: keep every stdout line a JSON object
            res = ctx.results
            log.info("run %s: %s", res["run_id"], res["status"], extra={
                "event": "run_summary", "run_id": res["run_id"], "status": res["status"],
                "results_path": str(ctx.results_path) if ctx.results_path else None,
                "phases": [{"name": p["name"], "context": p["context"], "mode": p["mode"], "stats": p["stats"],
                            "vs_baseline": p["vs_baseline"], "unmatched_jobs": len(p["unmatched_jobs"])}
                           for p in res["phases"]]})
            return
        self.stdout.write("\n" + render_summary(ctx.results) + "\n")
        if ctx.results_path:
            self.stdout.write(f"results: {ctx.results_path}\n")
        if ctx.checkpoint and ctx.checkpoint.lines:
            self.stdout.write(f"checkpoint: {ctx.checkpoint.path}\n")
        self.stdout.flush()


# -- the `run` command ---------------------------------------------------------------

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


def settings_from_args(args: argparse.Namespace, **extra: Any) -> Settings:
    keys = ("viya_url", "job_config", "output_dir", "log_format", "job_timeout_s", "correlation_deadline_s",
            "cluster", "environment", "ca_bundle", "verify_tls", "report", "max_failed_jobs", "min_speedup",
            "max_queue_wait_p95_seconds")
    overrides = {k: getattr(args, k, None) for k in keys}
    overrides.update(extra)
    return load_settings(**overrides)


def plan_from_args(settings: Settings, args: argparse.Namespace) -> RunPlan:
    if args.concurrent is not None and args.concurrent < 1:
        raise JesError("--concurrent must be at least 1")
    if args.limit_jobs is not None and args.limit_jobs < 0:
        raise JesError("--limit-jobs must be 0 or more")
    specs = select_phases(settings, phases_file=args.phases_file, mode=args.mode, concurrent=args.concurrent,
                          async_only=args.async_only, sequential_only=args.sequential_only)
    path, jobs = load_jobs(settings, args.limit_jobs)
    return build_plan(specs, jobs, path)


def print_effective_config(settings: Settings, plan: RunPlan, out: IO[str]) -> None:
    out.write(f"jes-runner {__version__}\n")
    doc = {
        "settings": settings.masked(),
        "job_config": str(plan.job_config_path),
        "jobs": len(plan.jobs),
        "phases": [{"name": p.name, "context": p.context, "mode": p.mode, "concurrency": p.concurrency,
                    "baseline": p.baseline} for p in plan.phases],
    }
    out.write(json.dumps(doc, indent=2) + "\n")


def cmd_run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    configure_logging(settings.log_format)
    plan = plan_from_args(settings, args)
    if args.limit_jobs == 0:
        print_effective_config(settings, plan, sys.stdout)
        return 0
    if not settings.viya_url:
        from jes_runner.cli.commands.demo import run_on_embedded_emulator  # the emulator is imported only when needed

        return run_on_embedded_emulator(settings, plan, reason="no --viya-url / JES_VIYA_URL")
    from jes_runner.shutdown import run_managed  # SIGTERM/SIGINT handling, token write-back, node timeline

    return run_managed(Runner(settings, plan))


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("run", help="run a comparison (phases of jobs) against Viya",
                              description="Run the job comparison: phases of jobs in compute contexts, measured "
                                          "from Viya server timestamps.")
    add_run_arguments(p)
    p.set_defaults(func=cmd_run)
