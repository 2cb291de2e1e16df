"""The run plan: which phases run, in which context and mode, with which jobs."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jes_runner.config.jobconfig import FileSettings, JobConfig, file_settings, load_job_config
from jes_runner.config.phases import (
    ASYNC_CONTEXT,
    BASELINE_CONTEXT,
    Mode,
    PhaseSpec,
    default_phases,
    parse_phases,
    slug,
)
from jes_runner.config.settings import Settings
from jes_runner.errors import ConfigError

log = logging.getLogger("jes_runner.measure.plan")


@dataclass(frozen=True, slots=True)
class PlannedJob:
    name: str
    definition_id: str | None
    arguments: dict[str, str]
    expected_runtime_s: float | None


@dataclass(slots=True)
class PhasePlan:
    name: str
    slug: str
    context: str
    mode: Mode
    concurrency: int  # jobs in flight at most (len(jobs) for "all")
    baseline: bool
    jobs: list[PlannedJob]
    cold_start: bool = False
    pools: list[str] | None = None
    min_nodes: int = 0

    def describe(self) -> dict[str, Any]:
        """The phase as the effective configuration and the checkpoint's run line show it."""
        return {
            "name": self.name,
            "context": self.context,
            "mode": self.mode,
            "concurrency": self.concurrency,
            "baseline": self.baseline,
        }

    def unique_job_name(self, job: PlannedJob, sequence: int, epoch: int, token: str = "") -> str:
        """`<job>_<phase>_<seq>_<epoch>_<token>`: the original tool's readable shape plus the run token,
        so two runs started in the same second (same config) never share a name. The token is lower-case
        hex without underscores, so the orchestrator name rule (lower-case, underscores removed) keeps it."""
        return f"{job.name}_{self.slug}_{sequence}_{epoch}" + (f"_{token}" if token else "")


RUN_TOKEN_LENGTH = 6


def run_token(run_id: str) -> str:
    """The short run token in every job name: the first 6 hex digits of the run id (a UUID4)."""
    return run_id.replace("-", "").lower()[:RUN_TOKEN_LENGTH]


@dataclass(slots=True)
class RunPlan:
    run_id: str
    epoch: int
    phases: list[PhasePlan]
    job_config_path: Path
    jobs: list[PlannedJob]
    # filled by preflight: job name -> definition id
    definition_ids: dict[str, str] = field(default_factory=dict)

    @property
    def token(self) -> str:
        return run_token(self.run_id)

    @property
    def baseline(self) -> PhasePlan | None:
        return next((p for p in self.phases if p.baseline), None)


def select_phases(
    settings: Settings,
    *,
    phases_file: str | None = None,
    mode: Mode | None = None,
    concurrent: int | None = None,
    async_only: bool = False,
    sequential_only: bool = False,
    file_settings: FileSettings | None = None,
) -> list[PhaseSpec]:
    """Phases from --phases / JES_PHASES, else the seed's two phases shaped by --mode/--concurrency,
    --sequential-context/--concurrent-context and the job config's ``settings`` (contexts,
    concurrent_jobs; a flag or JES_* variable wins)."""
    if async_only and sequential_only:
        raise ConfigError("--async-only and --sequential-only exclude each other")
    if phases_file:
        path = Path(phases_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(
                f"{path}: cannot read phases file ({e.__class__.__name__})"
                " -- pass --phases a readable UTF-8 JSON/YAML file"
            ) from None
        specs = parse_phases(text, str(path))
    elif settings.phases:
        specs = list(settings.phases)
    else:
        fs = file_settings or FileSettings()
        n = concurrent if concurrent is not None else (fs.concurrent_jobs or 5)
        specs = default_phases(
            mode or "batch",
            n,
            baseline_context=settings.sequential_context or fs.default_context or BASELINE_CONTEXT,
            async_context=settings.concurrent_context or fs.async_context or ASYNC_CONTEXT,
        )
        mode = concurrent = None
    if (phases_file or settings.phases) and (
        settings.sequential_context or settings.concurrent_context
    ):
        log.warning(
            "--sequential-context/--concurrent-context name the default phases' contexts; "
            "ignored because phases are configured (each names its own context)"
        )
    if mode is not None or concurrent is not None:
        log.warning(
            "--mode/--concurrency shape the default two-phase run; ignored because phases are configured"
        )
    if sequential_only:
        specs = [p for p in specs if p.baseline]
    elif async_only:
        specs = [p for p in specs if not p.baseline]
    if not specs:
        raise ConfigError("no phase left to run after --async-only/--sequential-only")
    return specs


def load_file_settings(settings: Settings) -> FileSettings:
    """The job config's original-tool ``settings`` block; unknown keys warned once, here."""
    path = settings.resolved_job_config()
    fs = file_settings(load_job_config(path), path)
    if fs.unknown:
        log.warning(
            "%s: settings key(s) %s not used by jes-runner (it honours %s)",
            path,
            ", ".join(fs.unknown),
            "default_context, async_context, concurrent_jobs, poll_interval, timeout",
        )
    return fs


def load_jobs(settings: Settings, limit: int | None = None) -> tuple[Path, list[PlannedJob]]:
    path = settings.resolved_job_config()
    cfg = load_job_config(path)
    enabled: list[JobConfig] = cfg.enabled_jobs
    if not enabled:
        raise ConfigError(f'{path}: no enabled jobs -- set "enabled": true on at least one')
    if limit is not None and limit > 0:
        enabled = enabled[:limit]
    jobs = [
        PlannedJob(
            name=j.name,
            definition_id=j.definition_id,
            # _contextName is the phase's decision, not the file's
            arguments={k: v for k, v in j.arguments.items() if k != "_contextName"},
            expected_runtime_s=j.expected_runtime_s,
        )
        for j in enabled
    ]
    return path, jobs


def build_plan(specs: list[PhaseSpec], jobs: list[PlannedJob], job_config_path: Path) -> RunPlan:
    phases = [
        PhasePlan(
            name=s.name,
            slug=slug(s.name),
            context=s.context,
            mode=s.mode,
            concurrency=len(jobs)
            if s.mode == "all"
            else (1 if s.mode == "sequential" else s.concurrency),
            baseline=s.baseline,
            jobs=list(jobs),
            cold_start=s.cold_start,
            pools=s.pools,
            min_nodes=s.min_nodes,
        )
        for s in specs
    ]
    return RunPlan(
        run_id=str(uuid.uuid4()),
        epoch=int(time.time()),
        phases=phases,
        job_config_path=job_config_path,
        jobs=list(jobs),
    )
