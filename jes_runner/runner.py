"""Orchestrates a run: preflight, phases, correlation, comparison, sinks.

``Runner.run()`` returns a :class:`RunContext`; ``sinks`` run after the results
file is written (the terminal summary, the HTML report, then the Pushgateway push), and
``stop_event`` makes the executor cancel in-flight jobs and end the run as
``aborted`` (a later issue wires SIGTERM to it).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from jes_runner._util import redact_url, utcnow
from jes_runner.analysis.thresholds import check_thresholds
from jes_runner.config.settings import Settings
from jes_runner.console import Progress, run_id_in_logs
from jes_runner.errors import ExitCode, JesError, ResultsWriteError
from jes_runner.measure.correlation import Correlator
from jes_runner.measure.executor import PhaseExecutor, PhaseOutcome, PollPolicy, RuntimeModel
from jes_runner.measure.plan import PhasePlan, RunPlan
from jes_runner.measure.preflight import handle_orphans, preflight
from jes_runner.measure.records import JobRecord
from jes_runner.measure.stats import (
    ComparabilityLimits,
    judge_phase,
    phase_window,
    spans,
    vs_baseline,
)
from jes_runner.results.document import phase_document, run_document
from jes_runner.results.files import Checkpoint, write_results
from jes_runner.results.recovery import run_line
from jes_runner.sinks.summary import render_summary
from jes_runner.viya import ViyaClient

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
    """One run: preflight, then each phase (execute, correlate, enrich), then the results
    document, thresholds, the results file and the sinks, in that order.

    The client is the caller's (``cli.session`` builds it, closes it, and wires the
    Kubernetes lifecycle and SIGTERM handling around the run); ``stop_event`` makes
    the executor cancel in-flight jobs and ends the run as ``aborted``.
    """

    def __init__(
        self,
        settings: Settings,
        plan: RunPlan,
        *,
        client: ViyaClient,
        stop_event: threading.Event | None = None,
        sinks: list[Sink] | None = None,
        progress: Progress | None = None,
        stdout: IO[str] | None = None,
        emulated: bool = False,
        phase_starters: list[Callable[[PhasePlan], None]] | None = None,
        phase_enrichers: list[Callable[[PhaseOutcome, dict[str, Any]], None]] | None = None,
        emulator_model: dict[str, Any] | None = None,
        runtime_history: dict[str, Any] | None = None,
        on_pending: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.plan = plan
        self.client = client
        self.stop_event = stop_event or threading.Event()
        self.stdout = stdout or sys.stdout
        self.progress = progress or Progress(sys.stderr, log_format=settings.log_format)
        self.emulated = emulated
        self.emulator_model = emulator_model  # speed factor and scenario of the emulator measured
        self.runtime_history = runtime_history  # where the plan's expected runtimes came from
        self.on_pending = on_pending  # a job was seen queued
        # run after the results file is written, in order; each gets the RunContext
        self.sinks: list[Sink] = (
            [
                self._print_summary,
                *([self._write_report] if settings.report else []),
                self._push_metrics,
            ]
            if sinks is None
            else sinks
        )
        # called with each phase before its first job (e.g. re-read the Secret, start a node watch)
        self.phase_starters = list(phase_starters or [])
        # called with each phase's outcome and its results dict before it is stored (e.g. a node timeline)
        self.phase_enrichers = list(phase_enrichers or [])
        self.abort_exit_code: int = int(ExitCode.SIGINT)
        self.abort_correlation_s: float = (
            5.0  # correlation budget once stopping (within the SIGTERM grace)
        )
        self.stop_deadline: float | None = (
            None  # time.monotonic() by which a stopping run must be done
        )

    # -- the run ---------------------------------------------------------------

    def run(self) -> RunContext:
        with run_id_in_logs(self.plan.run_id):
            return self._run()

    def _run(self) -> RunContext:
        s, plan = self.settings, self.plan
        ctx = RunContext(settings=s, plan=plan)
        log.info(
            "run %s: %d phase(s), %d job(s) each, Viya at %s",
            plan.run_id,
            len(plan.phases),
            len(plan.jobs),
            redact_url(s.viya_url or ""),
            extra={"event": "run_started", "run_id": plan.run_id},
        )
        preflight(self.client, plan)
        if (
            not self.emulated and self.client.emulator_model
        ):  # the emulator by URL: labelled as --emulator
            self.emulated, self.emulator_model = True, self.client.emulator_model
        log.info(
            "preflight passed: token, %d context(s), %d definition(s) resolved",
            len({p.context for p in plan.phases}),
            len(plan.definition_ids),
        )
        handle_orphans(self.client, plan.run_id, cancel=s.cancel_orphans)

        checkpoint = Checkpoint(s.output_dir, plan.run_id)
        ctx.checkpoint = checkpoint
        if not checkpoint.open():
            log.warning("%s; the run goes on, figures will be on stdout", checkpoint.error)
        started_at = utcnow()
        t0 = time.monotonic()
        checkpoint.append(
            run_line(
                plan,
                started=started_at,
                viya_url=redact_url(s.viya_url or ""),
                labels={"cluster": s.cluster, "environment": s.environment},
                settings=s.masked(),
                emulated=self.emulated,
            )
        )  # what `recover` needs
        correlator = Correlator(
            self.client, deadline_s=s.correlation_deadline_s, page_limit=s.correlation_page_limit
        )
        policy = PollPolicy(s.poll_interval_min, s.poll_interval_max, s.job_timeout_s)
        # expected runtimes measured on this target (history): the factor starts at 1, not unknown
        prior: float | None = (
            1.0 if self.runtime_history and self.runtime_history.get("jobs_with_history") else None
        )
        measured: dict[
            str, float
        ] = {}  # job name -> server duration in an earlier phase of this run
        phase_dicts: list[dict[str, Any]] = []
        aborted = False
        try:
            for phase in plan.phases:
                if self.stop_event.is_set():
                    aborted = True
                    break
                self.progress.phase_started(phase)
                for start in self.phase_starters:
                    start(phase)
                phase_prior = prior
                if measured and any(j.expected_runtime_s is None for j in phase.jobs):
                    # jobs without an estimate: what they took in the earlier phase, learned from there on
                    phase.jobs = [
                        j
                        if j.expected_runtime_s is not None or j.name not in measured
                        else replace(j, expected_runtime_s=measured[j.name])
                        for j in phase.jobs
                    ]
                    phase_prior = prior or 1.0
                executor = PhaseExecutor(
                    self.client,
                    phase,
                    run_id=plan.run_id,
                    epoch=plan.epoch,
                    definition_ids=plan.definition_ids,
                    policy=policy,
                    model=RuntimeModel(phase_prior),
                    listener=_Tee(self.progress, checkpoint, plan.run_id),
                    stop_event=self.stop_event,
                    submit_workers=s.submit_workers,
                    on_pending=self.on_pending,
                )
                outcome = executor.run()
                self.progress.phase_ended(phase)
                ctx.outcomes.append(outcome)
                prior = outcome.learned_factor or prior
                if phase.baseline or not measured:
                    for r in outcome.records:
                        if r.status == "completed" and r.timing_source == "server" and r.duration:
                            measured.setdefault(r.name, r.duration)
                first, _ = phase_window(outcome.records)
                if (
                    self.stop_event.is_set()
                ):  # stopping: correlate what is there, within the grace period
                    correlator.deadline_s = min(correlator.deadline_s, self.abort_correlation_s)
                unmatched = correlator.correlate(outcome.records, first)
                pd = phase_document(outcome, unmatched)
                for enrich in self.phase_enrichers:
                    enrich(outcome, pd)
                phase_dicts.append(pd)
                for r in outcome.records:
                    if r.orchestrator:
                        checkpoint.append(
                            {
                                "type": "orchestrator",
                                "run_id": plan.run_id,
                                "phase": phase.name,
                                "unique_job_name": r.unique_job_name,
                                "orchestrator_data": r.orchestrator,
                            }
                        )
                checkpoint.append(
                    {
                        "type": "phase",
                        "run_id": plan.run_id,
                        "name": phase.name,
                        "status": pd["status"],
                        "stats": pd["stats"],
                        "unmatched_jobs": unmatched,
                    }
                )
                log.info(
                    "phase %s: %s, makespan %s s, %d/%d completed",
                    phase.name,
                    pd["status"],
                    pd["stats"]["makespan_seconds"],
                    pd["stats"]["jobs_completed"],
                    pd["stats"]["jobs_total"],
                    extra={"event": "phase_ended", "phase": phase.name, "stats": pd["stats"]},
                )
                if outcome.aborted:
                    aborted = True
                    break
        finally:
            checkpoint.close()

        self._compare_with_baseline(
            phase_dicts, ctx.outcomes, ComparabilityLimits(s.max_outage_share, s.max_idle_share)
        )
        ended_at = utcnow()
        ctx.results = run_document(
            phase_dicts,
            run_id=plan.run_id,
            started=started_at,
            ended=ended_at,
            elapsed_s=time.monotonic() - t0,
            aborted=aborted,
            viya_url=redact_url(s.viya_url or ""),
            labels={"cluster": s.cluster, "environment": s.environment, "profile": s.profile},
            job_config=str(plan.job_config_path),
            settings=s.masked(),
            emulated=self.emulated,
            viya_requests={
                "total": self.client.request_count,
                "by_kind": dict(sorted(self.client.requests_by_kind.items())),
            },
            emulator=self.emulator_model,
            runtime_history=self.runtime_history,
        )
        status = ctx.results["status"]
        ctx.exit_code = (
            self.abort_exit_code
            if status == "aborted"
            else int(ExitCode.OK)
            if status == "completed"
            else int(ExitCode.JOB_FAILURES)
        )
        self._apply_thresholds(ctx)
        try:
            ctx.results_path = write_results(s.output_dir, ctx.results, ended_at.astimezone())
            log.info(
                "results written to %s",
                ctx.results_path,
                extra={"event": "results_written", "path": str(ctx.results_path)},
            )
        except ResultsWriteError as e:
            ctx.results_error = str(e)
            ctx.exit_code = int(ExitCode.RESULTS_UNWRITABLE)
            if checkpoint.error or checkpoint.lines <= 1:  # the run line alone holds no figure
                # nothing on disk at all: the results themselves go to stdout
                self.stdout.write(json.dumps(ctx.results) + "\n")
        for sink in self.sinks:
            sink(ctx)
        if ctx.results_error:
            raise ResultsWriteError(ctx.results_error)
        return ctx

    @staticmethod
    def _compare_with_baseline(
        phase_dicts: list[dict[str, Any]],
        outcomes: list[PhaseOutcome],
        limits: ComparabilityLimits,
    ) -> None:
        """Each phase against the baseline, over the jobs completed in both (whatever the phase order)."""
        verdicts = []
        for pd, o in zip(phase_dicts, outcomes, strict=False):
            pd["stats"]["api_error_seconds"] = o.api_error_seconds
            verdicts.append(
                judge_phase(
                    o.phase.name,
                    o.records,
                    aborted=o.aborted,
                    planned=len(o.phase.jobs),
                    stats=pd["stats"],
                    api_error_seconds=o.api_error_seconds,
                    limits=limits,
                )
            )
        base = next((i for i, pd in enumerate(phase_dicts) if pd["baseline"]), None)
        if base is None:
            return
        for pd, o, v in zip(phase_dicts, outcomes, verdicts, strict=False):
            if not pd["baseline"]:
                pd["vs_baseline"] = vs_baseline(
                    spans(outcomes[base].records), spans(o.records), verdicts=(verdicts[base], v)
                )

    def _push_metrics(self, ctx: RunContext) -> None:
        """Pushgateway sink (metrics.py); a failed push turns an otherwise clean exit into 4."""
        if ctx.results is None or not self.settings.pushgateway_url:
            return
        from jes_runner.sinks.metrics.push import push_results

        try:
            # stopping (SIGTERM): the push gets what is left of the grace period, not its own timeout
            push_results(ctx.results, self.settings, deadline=self.stop_deadline)
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
        th = check_thresholds(
            ctx.results,
            max_failed_jobs=s.max_failed_jobs,
            min_speedup=s.min_speedup,
            max_queue_wait_p95_seconds=s.max_queue_wait_p95_seconds,
        )
        if not th["checked"]:
            return
        ctx.results["thresholds"] = th
        for b in th["breaches"]:
            log.warning(
                "threshold crossed: %s",
                b["message"],
                extra={
                    "event": "threshold_crossed",
                    "threshold": b["threshold"],
                    "limit": b["limit"],
                },
            )
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
        from jes_runner.sinks.report.html import (
            write_report_beside,  # matplotlib loads only when a report is written
        )

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
            log.info(
                "run %s: %s",
                res["run_id"],
                res["status"],
                extra={
                    "event": "run_summary",
                    "run_id": res["run_id"],
                    "status": res["status"],
                    "emulator": res.get(
                        "emulator", False
                    ),  # emulated figures: never read as a cluster's
                    "results_path": str(ctx.results_path) if ctx.results_path else None,
                    "phases": [
                        {
                            "name": p["name"],
                            "context": p["context"],
                            "mode": p["mode"],
                            "stats": p["stats"],
                            "vs_baseline": p["vs_baseline"],
                            "unmatched_jobs": len(p["unmatched_jobs"]),
                        }
                        for p in res["phases"]
                    ],
                },
            )
            return
        self.stdout.write(render_summary(ctx.results) + "\n")
        if ctx.results_path:
            self.stdout.write(f"results: {ctx.results_path}\n")
        if ctx.checkpoint and ctx.checkpoint.lines:
            self.stdout.write(f"checkpoint: {ctx.checkpoint.path}\n")
        self.stdout.flush()
