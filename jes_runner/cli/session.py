"""What every command that talks to Viya shares: settings from flags, the target (a real
Viya or the embedded emulator), the client, and the one managed run path.

Every command that runs jobs (``run``, ``demo``, ``sweep``) goes through
:func:`managed_run`, so each gets SIGTERM handling (cancel in-flight jobs, write
``aborted`` results), the Kubernetes lifecycle (token write-back, node timeline,
secrets reload) and the sinks, the same way.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import IO, Any

from pydantic import SecretStr

from jes_runner import __version__
from jes_runner.config.jobconfig import FileSettings, JobConfigOrigin, job_config_origin
from jes_runner.config.settings import (
    Settings,
    load_settings,
    packaged_job_config,
    with_file_settings,
)
from jes_runner.console import run_id_in_logs
from jes_runner.errors import ConfigError, ExitCode, JesError
from jes_runner.measure.plan import (
    PlannedJob,
    RunPlan,
    build_plan,
    load_file_settings,
    load_jobs,
    select_phases,
)
from jes_runner.runner import RunContext, Runner, Sink
from jes_runner.shutdown import graceful
from jes_runner.viya import Credentials, Handler, RetryPolicy, ViyaClient

log = logging.getLogger("jes_runner.cli.session")

# the emulator never stands in for a missing URL: a run that silently measured it would
# publish emulator figures under the real cluster's labels
NO_VIYA_URL = (
    "no Viya URL: pass --viya-url or set JES_VIYA_URL "
    "(or pass --emulator to measure the embedded emulator)"
)


def require_viya_url(settings: Settings) -> None:
    """One line (exit 2) when neither a Viya URL nor the emulator was asked for."""
    if not settings.viya_url:
        raise JesError(NO_VIYA_URL)


def make_client(
    settings: Settings,
    *,
    handler: Handler | None = None,
    on_refresh_token: Callable[[str], None] | None = None,
) -> ViyaClient:
    require_viya_url(settings)
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


def settings_from_args(args: argparse.Namespace, **extra: Any) -> Settings:
    """Settings with the command's flags on top (a flag the command does not have is not given)."""
    keys = (
        "viya_url",
        "job_config",
        "output_dir",
        "log_format",
        "job_timeout_s",
        "correlation_deadline_s",
        "cluster",
        "environment",
        "profile",
        "ca_bundle",
        "verify_tls",
        "report",
        "max_failed_jobs",
        "min_speedup",
        "max_queue_wait_p95_seconds",
        "max_outage_share",
        "max_idle_share",
        "pushgateway_url",
        "cancel_orphans",
    )
    overrides = {k: getattr(args, k, None) for k in keys}
    overrides.update(extra)
    settings = load_settings(**overrides)
    if getattr(args, "push", None) is False:  # --no-push wins over JES_PUSHGATEWAY_URL
        settings = settings.model_copy(update={"pushgateway_url": None})
    return settings


def settings_and_plan(args: argparse.Namespace) -> tuple[Settings, RunPlan]:
    """Settings from flags/env, then the job config's original-tool ``settings`` block where those
    left a value unset (poll_interval, timeout), and the plan (contexts, concurrent_jobs)."""
    settings = settings_from_args(args)
    fs = load_file_settings(settings)
    settings = with_file_settings(settings, fs.poll_interval, fs.timeout)
    return settings, plan_from_args(settings, args, file_settings=fs)


def plan_from_args(
    settings: Settings, args: argparse.Namespace, file_settings: FileSettings | None = None
) -> RunPlan:
    if args.phases_file and (args.mode is not None or args.concurrent is not None):
        raise ConfigError(
            "--phases sets every phase's mode and concurrency: drop --mode/--concurrent, "
            "or drop --phases"
        )
    if args.concurrent is not None and args.concurrent < 1:
        raise JesError("--concurrent must be at least 1")
    if args.limit_jobs is not None and args.limit_jobs < 0:
        raise JesError("--limit-jobs must be 0 or more")
    specs = select_phases(
        settings,
        phases_file=args.phases_file,
        mode=args.mode,
        concurrent=args.concurrent,
        async_only=args.async_only,
        sequential_only=args.sequential_only,
        file_settings=file_settings,
    )
    path, jobs = load_jobs(settings, args.limit_jobs)
    return build_plan(specs, jobs, path)


EXAMPLE_HINT = (
    "the packaged example (54 pooled SDTM jobs), not yours -- pass your own with --config / "
    "JES_JOB_CONFIG (Helm: --set-file jobConfig.json=PATH)"
)


def plan_origin(plan: RunPlan, args: argparse.Namespace) -> JobConfigOrigin:
    """Where the plan's job config came from (flag, environment, working directory, package)."""
    return job_config_origin(
        plan.job_config_path,
        flag=bool(getattr(args, "job_config", None)),
        env=bool(os.environ.get("JES_JOB_CONFIG")),
        packaged=packaged_job_config(),
    )


def log_job_config(settings: Settings, plan: RunPlan, args: argparse.Namespace) -> None:
    """Say where the job config came from; warn when a run against a real Viya uses the packaged example."""
    origin = plan_origin(plan, args)
    extra = {
        "event": "job_config",
        "path": str(origin.path),
        "source": origin.source,
        "example": origin.example,
    }
    with run_id_in_logs(plan.run_id):  # said before the run starts, but it is this run's
        if origin.example and settings.viya_url:
            log.warning("job config %s: %s", origin.describe(), EXAMPLE_HINT, extra=extra)
        else:
            log.info(
                "job config %s: %d job(s) enabled", origin.describe(), len(plan.jobs), extra=extra
            )


def print_effective_config(settings: Settings, plan: RunPlan, out: IO[str]) -> None:
    out.write(f"jes-runner {__version__}\n")
    doc = {
        "settings": settings.masked(),
        "job_config": str(plan.job_config_path),
        "jobs": len(plan.jobs),
        "phases": [p.describe() for p in plan.phases],
    }
    out.write(json.dumps(doc, indent=2) + "\n")


@dataclass(frozen=True)
class Target:
    """Where a command's requests go: settings pointed at it, and whether it is the emulator."""

    settings: Settings
    emulated: bool
    # the emulator's scenario and speed factor: served seconds x 1/speed_factor = the modelled cluster's
    emulator_model: dict[str, Any] | None = None


@contextmanager
def viya_target(
    settings: Settings, *, emulator: bool, scenario: str | None = None, reason: str = "emulator"
) -> Iterator[Target]:
    """The real Viya of ``settings``, or (``emulator``) the embedded emulator started in-process."""
    if not emulator:
        yield Target(settings, emulated=False)
        return
    try:
        from jes_runner.emulator import Emulator, load_scenario  # only commands that ask load it
    except ImportError as e:
        raise JesError(f"the embedded emulator is not available ({e})", ExitCode.INTERNAL) from None
    with Emulator(scenario=load_scenario(scenario) if scenario else None, port=0) as emu:
        log.info(
            "%s: started the embedded Viya emulator in-process at %s",
            reason,
            emu.url,
            extra={"event": "emulator_started", "url": emu.url},
        )
        sc = emu.scenario
        model = {
            "scenario": sc.name,
            "speed_factor": sc.speed_factor,
            "model_seconds_per_served_second": round(1 / sc.speed_factor, 6),
        }
        yield Target(emulator_settings(settings, emu), emulated=True, emulator_model=model)


def emulator_settings(settings: Settings, emu: Any) -> Settings:
    """Point the settings at the emulator; credentials from env/secrets would only get in the way."""
    return settings.model_copy(
        update={
            "viya_url": emu.url,
            "username": emu.username,
            "password": SecretStr(emu.password),
            "access_token": None,
            "refresh_token": None,
            "client_id": "sas.cli",
            "client_secret": None,
            # the emulator's Kubernetes API gives the node timeline; its tokens are never written back
            "kube_api_url": emu.url,
            "kube_api_token": None,
            "persist_tokens": "off",
            # the cold-start wait in the emulator's time: a real cluster's minutes are its seconds
            "cold_start_poll_s": max(0.02, settings.cold_start_poll_s * emu.scenario.speed_factor),
            "cold_start_timeout_s": settings.cold_start_timeout_s * emu.scenario.speed_factor,
        }
    )


def apply_runtime_history(target: Target, plan: RunPlan) -> dict[str, Any] | None:
    """Expected runtimes for the jobs the config gives none, from the newest results measured on the
    same kind of target in the output directory (the CronJob's volume); what was used, for the results."""
    from jes_runner.results.history import newest_history

    missing = {j.name for j in plan.jobs if j.expected_runtime_s is None}
    if not missing:
        return {"source": "job config", "jobs_with_history": 0, "jobs_without": 0}
    speed = (target.emulator_model or {}).get("speed_factor")
    hist = newest_history(target.settings.output_dir, emulated=target.emulated, speed_factor=speed)
    if hist is None:
        log.info(
            "no runtime history in %s: %d job(s) without an expected runtime are polled as they age",
            target.settings.output_dir,
            len(missing),
        )
        return {"source": None, "jobs_with_history": 0, "jobs_without": len(missing)}
    filled = {n: hist.runtimes[n] for n in missing if n in hist.runtimes}

    def fill(jobs: list[PlannedJob]) -> list[PlannedJob]:
        return [
            replace(j, expected_runtime_s=filled[j.name]) if j.name in filled else j for j in jobs
        ]

    plan.jobs = fill(plan.jobs)
    for phase in plan.phases:
        phase.jobs = fill(phase.jobs)
    log.info(
        "expected runtimes of %d job(s) from %s",
        len(filled),
        hist.source,
        extra={"event": "runtime_history", "source": hist.source, "jobs": len(filled)},
    )
    return {
        "source": hist.source,
        "jobs_with_history": len(filled),
        "jobs_without": len(missing) - len(filled),
    }


def managed_run(target: Target, plan: RunPlan, *, sinks: list[Sink] | None = None) -> RunContext:
    """Run ``plan`` with graceful termination and the Kubernetes lifecycle around it."""
    from jes_runner.kube.lifecycle import KubeLifecycle  # the kubernetes client loads only for runs

    settings = target.settings
    lifecycle = KubeLifecycle(settings, emulated=target.emulated)
    client = make_client(settings, on_refresh_token=lifecycle.new_refresh_token)
    lifecycle.client = client
    history = apply_runtime_history(target, plan)
    runner = Runner(
        settings,
        plan,
        client=client,
        emulated=target.emulated,
        sinks=sinks,
        phase_starters=[lifecycle.phase_started],
        phase_enrichers=[lifecycle.phase_ended],
        emulator_model=target.emulator_model,
        runtime_history=history,
        on_pending=lifecycle.job_pending,
    )
    shutdown = graceful(runner, settings.grace_period_seconds)
    with shutdown:
        try:
            return runner.run()
        finally:
            left = shutdown.remaining()
            lifecycle.close(flush_s=5.0 if left is None else max(0.1, min(5.0, left - 1.0)))
            client.close()
