"""The sinks every run has unless told otherwise: terminal summary, Pushgateway push, HTML report
(when asked) -- in that order, after the results file is written. The push comes before the
report: a stopping run (SIGTERM) has only its grace period left, and the metrics are what a
CronJob exists for, while a report can be drawn later from the results file (`jes-runner report`)."""

from __future__ import annotations

import logging

from jes_runner.config.settings import Settings
from jes_runner.errors import ExitCode, JesError
from jes_runner.sinks.context import RunContext, Sink
from jes_runner.sinks.summary import render_summary

log = logging.getLogger("jes_runner.sinks")


def default_sinks(settings: Settings) -> list[Sink]:
    return [print_summary, push_metrics, *([write_report] if settings.report else [])]


def push_metrics(ctx: RunContext) -> None:
    """Pushgateway sink; a failed push turns an otherwise clean exit into 4."""
    if ctx.results is None or not ctx.settings.pushgateway_url:
        return
    from jes_runner.sinks.metrics.push import push_results

    try:
        # stopping (SIGTERM): the push gets what is left of the grace period, not its own timeout
        push_results(ctx.results, ctx.settings, deadline=ctx.stop_deadline)
    except JesError as e:  # push_results already logged it in one line
        if e.exit_code != ExitCode.PUSH_FAILED:
            raise
        if ctx.exit_code == ExitCode.OK:
            ctx.exit_code = int(ExitCode.PUSH_FAILED)


def write_report(ctx: RunContext) -> None:
    """HTML report + PNGs beside the results file; a failure is logged, the run is already safe."""
    if ctx.results is None or ctx.results_path is None:
        return
    if ctx.stop_deadline is not None:  # stopping: the grace period is for results and metrics
        log.warning(
            "stopping: no report drawn -- `jes-runner report %s` draws it", ctx.results_path
        )
        return
    # matplotlib loads only when a report is written
    from jes_runner.sinks.report.html import write_report_beside

    path = write_report_beside(ctx.results_path, ctx.results)
    if path is None:
        return
    log.info("report written to %s", path, extra={"event": "report_written", "path": str(path)})
    if ctx.settings.log_format != "json":
        ctx.stdout.write(f"report: {path}\n")
        ctx.stdout.flush()


def print_summary(ctx: RunContext) -> None:
    if ctx.results is None:
        return
    if ctx.settings.log_format == "json":  # pods: keep every stdout line a JSON object
        _log_summary(ctx)
        return
    ctx.stdout.write(render_summary(ctx.results) + "\n")
    if ctx.results_path:
        ctx.stdout.write(f"results: {ctx.results_path}\n")
    if ctx.checkpoint and ctx.checkpoint.lines:
        ctx.stdout.write(f"checkpoint: {ctx.checkpoint.path}\n")
    ctx.stdout.flush()


def _log_summary(ctx: RunContext) -> None:
    res = ctx.results
    assert res is not None
    log.info(
        "run %s: %s",
        res["run_id"],
        res["status"],
        extra={
            "event": "run_summary",
            "run_id": res["run_id"],
            "status": res["status"],
            # emulated figures: never read as a cluster's
            "emulator": res.get("emulator", False),
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
