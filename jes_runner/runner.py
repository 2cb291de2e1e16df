"""One run, along its data flow: preflight -> each phase (execute, correlate, enrich) ->
the results document (``results.document.build_run_document``) -> the exit code (a pure
function of the document) -> the results file -> the sinks (``sinks/defaults.py``).

``stop_event`` (SIGTERM/SIGINT, ``shutdown.py``) makes every step wind down: the executor
cancels in-flight jobs, correlation keeps what it matched within a short budget, the
results are written ``aborted``. A phase that stops on an error the run cannot ride out
(authentication refused, the configuration gone from Viya) ends the run the same way,
with that error's exit code and one line.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime
from typing import IO, Any

from jes_runner._util import redact_url, utcnow
from jes_runner.analysis.thresholds import check_thresholds
from jes_runner.config.settings import Settings
from jes_runner.console import Progress, run_id_in_logs
from jes_runner.errors import ExitCode, JesError, ResultsWriteError
from jes_runner.measure.correlation import Correlator
from jes_runner.measure.executor import PhaseExecutor, PhaseOutcome, PollPolicy, RuntimeModel
from jes_runner.measure.plan import PhasePlan, PlannedJob, RunPlan
from jes_runner.measure.preflight import handle_orphans, preflight
from jes_runner.measure.records import JobRecord
from jes_runner.measure.stats import phase_window
from jes_runner.results.checkpoint import Checkpoint, run_line
from jes_runner.results.document import PhaseResult, RunMeta, build_run_document
from jes_runner.results.files import write_results
from jes_runner.sinks.context import RunContext, Sink
from jes_runner.sinks.defaults import default_sinks
from jes_runner.viya import ViyaClient, ViyaError

log = logging.getLogger("jes_runner.runner")

__all__ = ["RunContext", "Runner", "Sink", "decide_exit_code", "fill_expected_runtimes"]

ABORT_CORRELATION_S = 5.0  # correlation budget once stopping (within the SIGTERM grace)
HARD_CANCEL_BUDGET_S = 3.0  # second signal: every in-flight job's cancel, in parallel, this long
HARD_CANCEL_WORKERS = 16


def fill_expected_runtimes(jobs: list[PlannedJob], runtimes: dict[str, float]) -> list[PlannedJob]:
    """The one rule for expected runtimes: a job without one takes ``runtimes[name]`` (history, or
    what it took in an earlier phase); a job that has one keeps it."""
    return [
        replace(j, expected_runtime_s=runtimes[j.name])
        if j.expected_runtime_s is None and j.name in runtimes
        else j
        for j in jobs
    ]


def decide_exit_code(
    results: dict[str, Any],
    *,
    abort_code: int,
    stop_error: JesError | None = None,
    failures_tolerated: bool = False,
) -> int:
    """The run's exit code from its document alone (before the sinks: a failed push may make it 4)."""
    if stop_error is not None:
        return int(stop_error.exit_code)
    if results["status"] == "aborted":
        return abort_code
    if (results.get("thresholds") or {}).get("breaches"):
        return int(ExitCode.THRESHOLD)
    if results["status"] == "completed" or failures_tolerated:
        return int(ExitCode.OK)
    return int(ExitCode.JOB_FAILURES)


class _Tee:
    """Phase listener: the progress display, the checkpoint (each submission as it is accepted,
    each end) and the set of jobs in flight (what a second signal cancels)."""

    def __init__(self, progress: Progress, checkpoint: Checkpoint) -> None:
        self.progress = progress
        self.checkpoint = checkpoint
        self.in_flight: dict[str, str] = {}  # job id -> unique name
        # re-entrant: a second signal's handler runs on the main thread and takes a snapshot,
        # perhaps while that thread is inside job_submitted/job_finished (a plain lock deadlocked
        # there, and the run sat out its whole grace period)
        self._lock = threading.RLock()

    def job_submitted(self, phase: PhasePlan, record: JobRecord) -> None:
        self.checkpoint.submitted(record)
        with self._lock:
            self.in_flight[record.job_instance_id or ""] = record.unique_job_name
        self.progress.job_submitted(phase, record)

    def job_finished(self, phase: PhasePlan, record: JobRecord) -> None:
        self.checkpoint.job(record)
        with self._lock:
            self.in_flight.pop(record.job_instance_id or "", None)
        self.progress.job_finished(phase, record)

    def snapshot(self) -> dict[str, str]:
        with self._lock:
            return dict(self.in_flight)


@dataclass
class _Learned:
    """What one phase teaches the next: the runtime factor and each job's server duration.

    Expected runtimes are in the job config's seconds -- the modelled cluster's on an emulator --
    and ``unit`` is the served seconds one of them takes before anything is learned (the
    emulator's speed factor; 1 on a Viya): durations measured here are stored back in that unit."""

    prior: float | None
    measured: dict[str, float]
    unit: float = 1.0

    def model_for(self, phase: PhasePlan) -> RuntimeModel:
        prior = self.prior
        if self.measured and any(j.expected_runtime_s is None for j in phase.jobs):
            # jobs without an estimate: what they took in the earlier phase, learned from there on
            phase.jobs = fill_expected_runtimes(phase.jobs, self.measured)
            prior = prior or self.unit
        return RuntimeModel(prior)

    def learn(self, outcome: PhaseOutcome) -> None:
        self.prior = outcome.learned_factor or self.prior
        if outcome.phase.baseline or not self.measured:
            for r in outcome.records:
                if r.status == "completed" and r.timing_source == "server" and r.duration:
                    self.measured.setdefault(r.name, r.duration / self.unit)


class Runner:
    """One run. The client is the caller's (``cli.session`` builds it, closes it, and wires the
    Kubernetes lifecycle and SIGTERM handling around the run)."""

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
        # an emulator in this process dies with the run: `recover` must not ask its URL (an emulator
        # reached by URL is labelled emulated too, at preflight, but outlives the run)
        self.embedded_emulator = emulated
        self.emulator_model = emulator_model  # speed factor and scenario of the emulator measured
        self.runtime_history = runtime_history  # where the plan's expected runtimes came from
        self.on_pending = on_pending  # a job was seen queued
        # run after the results file is written, in order; each gets the RunContext
        self.sinks: list[Sink] = default_sinks(settings) if sinks is None else sinks
        # called with each phase before its first job (e.g. re-read the Secret, start a node watch)
        self.phase_starters = list(phase_starters or [])
        # called with each phase's outcome and its document before it is stored (e.g. a node timeline)
        self.phase_enrichers = list(phase_enrichers or [])
        self.abort_exit_code: int = int(ExitCode.SIGINT)
        self.abort_correlation_s: float = ABORT_CORRELATION_S
        self.stop_deadline: float | None = None  # time.monotonic() by which a stopping run is done
        self.stop_error: JesError | None = None  # what stopped the run, when not a signal
        self._tee: _Tee | None = None

    # -- the run ---------------------------------------------------------------

    def run(self) -> RunContext:
        with run_id_in_logs(self.plan.run_id):
            return self._run()

    def _run(self) -> RunContext:
        s, plan = self.settings, self.plan
        ctx = RunContext(settings=s, plan=plan, stdout=self.stdout)
        self._preflight()
        started_at, t0 = utcnow(), time.monotonic()
        ctx.checkpoint = checkpoint = self._open_checkpoint(started_at)
        results: list[PhaseResult] = []
        try:
            aborted = self._run_phases(checkpoint, results, ctx)
        finally:
            checkpoint.close()
        ended_at = utcnow()
        ctx.results = build_run_document(
            results, self._meta(started_at, ended_at, time.monotonic() - t0), aborted=aborted
        )
        self._apply_thresholds(ctx.results)
        ctx.exit_code = decide_exit_code(
            ctx.results,
            abort_code=self.abort_exit_code,
            stop_error=self.stop_error,
            failures_tolerated=s.max_failed_jobs is not None,
        )
        self._write(ctx, ended_at)
        ctx.stop_deadline = self.stop_deadline
        for sink in self.sinks:
            sink(ctx)
        if ctx.results_error:
            raise ResultsWriteError(ctx.results_error)
        if self.stop_error is not None:  # the results are safe: now the one line and its exit code
            raise self.stop_error
        return ctx

    def _preflight(self) -> None:
        s, plan = self.settings, self.plan
        log.info(
            "run %s: %d phase(s), %d job(s) each, Viya at %s",
            plan.run_id,
            len(plan.phases),
            len(plan.jobs),
            redact_url(s.viya_url or ""),
            extra={"event": "run_started", "run_id": plan.run_id},
        )
        preflight(self.client, plan)
        if not self.emulated and self.client.emulator_model:
            # the emulator reached by URL identifies itself: labelled exactly as --emulator
            self.emulated, self.emulator_model = True, self.client.emulator_model
        log.info(
            "preflight passed: token, %d context(s), %d definition(s) resolved",
            len({p.context for p in plan.phases}),
            len(plan.definition_ids),
        )
        handle_orphans(self.client, plan.run_id, cancel=s.cancel_orphans)

    def _open_checkpoint(self, started_at: datetime) -> Checkpoint:
        s = self.settings
        checkpoint = Checkpoint(s.output_dir, self.plan.run_id)
        if not checkpoint.open():
            log.warning("%s; the run goes on, figures will be on stdout", checkpoint.error)
        checkpoint.append(  # what `recover` needs
            run_line(
                self.plan,
                started=started_at,
                viya_url=redact_url(s.viya_url or ""),
                labels={"cluster": s.cluster, "environment": s.environment},
                settings=s.masked(),
                emulated=self.emulated,
                embedded_emulator=self.embedded_emulator,
                emulator_model=self.emulator_model,
            )
        )
        return checkpoint

    def _run_phases(
        self, checkpoint: Checkpoint, results: list[PhaseResult], ctx: RunContext
    ) -> bool:
        """Each phase in turn; True when the run stopped before its end (signal or stop error)."""
        s = self.settings
        correlator = Correlator(
            self.client,
            deadline_s=s.correlation_deadline_s,
            page_limit=s.correlation_page_limit,
            stop_event=self.stop_event,
        )
        policy = PollPolicy.for_cluster(
            s.poll_interval_min, s.poll_interval_max, s.job_timeout_s, self._speed_factor()
        )
        # expected runtimes measured on this target (history): the factor starts at the unit, not unknown
        history = self.runtime_history and self.runtime_history.get("jobs_with_history")
        unit = self._speed_factor() or 1.0  # served seconds per expected (config) second
        learned = _Learned(unit if history else None, {}, unit)
        self._tee = _Tee(self.progress, checkpoint)
        for phase in self.plan.phases:
            if self.stop_event.is_set():
                return True
            outcome = self._execute(phase, policy, learned.model_for(phase))
            ctx.outcomes.append(outcome)
            learned.learn(outcome)
            results.append(self._settle_phase(outcome, correlator, checkpoint))
            if outcome.stopped is not None:
                self.stop_error = outcome.stopped
            if outcome.aborted or outcome.stopped is not None:
                return True
        return self.stop_event.is_set()

    def _speed_factor(self) -> float | None:
        """An emulated run's served seconds per model second (None on a Viya)."""
        sf = (self.emulator_model or {}).get("speed_factor") if self.emulated else None
        return float(sf) if isinstance(sf, int | float) and sf > 0 else None

    def _execute(self, phase: PhasePlan, policy: PollPolicy, model: RuntimeModel) -> PhaseOutcome:
        self.progress.phase_started(phase, model, self._speed_factor())
        for start in self.phase_starters:
            start(phase)
        assert self._tee is not None
        outcome = PhaseExecutor(
            self.client,
            phase,
            run_id=self.plan.run_id,
            epoch=self.plan.epoch,
            definition_ids=self.plan.definition_ids,
            policy=policy,
            model=model,
            listener=self._tee,
            stop_event=self.stop_event,
            submit_workers=self.settings.submit_workers,
            on_pending=self.on_pending,
        ).run()
        self.progress.phase_ended(phase)
        return outcome

    def _settle_phase(
        self, outcome: PhaseOutcome, correlator: Correlator, checkpoint: Checkpoint
    ) -> PhaseResult:
        """Correlate (within the stop budget once stopping), enrich, checkpoint one phase."""
        correlator.stop_budget_s = self.abort_correlation_s
        first, _ = phase_window(outcome.records)
        result = PhaseResult(outcome, correlator.correlate(outcome.records, first))
        pd = result.document
        for enrich in self.phase_enrichers:
            enrich(outcome, pd)
        for r in outcome.records:
            checkpoint.orchestrator(r)
        checkpoint.phase(pd["name"], pd["status"], pd["stats"], result.unmatched)
        log.info(
            "phase %s: %s, makespan %s s, %d/%d completed",
            pd["name"],
            pd["status"],
            pd["stats"]["makespan_seconds"],
            pd["stats"]["jobs_completed"],
            pd["stats"]["jobs_total"],
            extra={"event": "phase_ended", "phase": pd["name"], "stats": pd["stats"]},
        )
        return result

    def _meta(self, started: datetime, ended: datetime, elapsed_s: float) -> RunMeta:
        s = self.settings
        return RunMeta(
            run_id=self.plan.run_id,
            started=started,
            ended=ended,
            elapsed_s=elapsed_s,
            viya_url=redact_url(s.viya_url or ""),
            labels={"cluster": s.cluster, "environment": s.environment, "profile": s.profile},
            job_config=str(self.plan.job_config_path),
            settings=s.masked(),
            emulated=self.emulated,
            viya_requests={
                "total": self.client.request_count,
                "by_kind": dict(sorted(self.client.requests_by_kind.items())),
            },
            emulator=self.emulator_model,
            runtime_history=self.runtime_history,
        )

    def _write(self, ctx: RunContext, ended_at: datetime) -> None:
        assert ctx.results is not None
        try:
            ctx.results_path = write_results(
                self.settings.output_dir, ctx.results, ended_at.astimezone()
            )
            log.info(
                "results written to %s",
                ctx.results_path,
                extra={"event": "results_written", "path": str(ctx.results_path)},
            )
        except ResultsWriteError as e:
            ctx.results_error = str(e)
            ctx.exit_code = int(ExitCode.RESULTS_UNWRITABLE)
            cp = ctx.checkpoint
            if cp is None or cp.error or cp.lines <= 1:  # the run line alone holds no figure
                # nothing on disk at all: the results themselves go to stdout
                self.stdout.write(json.dumps(ctx.results) + "\n")

    def _apply_thresholds(self, results: dict[str, Any]) -> None:
        """Configured limits -> results["thresholds"] (``decide_exit_code`` reads the breaches)."""
        s = self.settings
        th = check_thresholds(
            results,
            max_failed_jobs=s.max_failed_jobs,
            min_speedup=s.min_speedup,
            max_queue_wait_p95_seconds=s.max_queue_wait_p95_seconds,
        )
        if not th["checked"]:
            return
        results["thresholds"] = th
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

    # -- second signal ---------------------------------------------------------------

    def cancel_in_flight(self, budget_s: float = HARD_CANCEL_BUDGET_S) -> list[str]:
        """Cancel every job in flight at once (in parallel, within ``budget_s``); the unique names
        of those not confirmed canceled (or finished) -- ``--cancel-orphans`` gets them later."""
        jobs = self._tee.snapshot() if self._tee is not None else {}
        if not jobs:
            return []

        def cancel(job_id: str) -> bool:
            try:
                self.client.cancel_job(job_id)
            except ViyaError:
                return False
            return True

        pool = ThreadPoolExecutor(max_workers=min(HARD_CANCEL_WORKERS, len(jobs)))
        futures = {pool.submit(cancel, job_id): name for job_id, name in jobs.items()}
        done, _ = wait(futures, timeout=budget_s)
        pool.shutdown(wait=False, cancel_futures=True)
        return sorted(name for f, name in futures.items() if f not in done or not f.result())
