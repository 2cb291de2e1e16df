"""Phases of a run: which compute context, how jobs are released, which one is the baseline.

A phase file (``--phases`` / ``JES_PHASES``) is a JSON/YAML list of
``{name, context, mode, concurrency, baseline}``; without one, the original
tool's run: a sequential baseline, then one concurrent phase."""

from __future__ import annotations

import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from jes_runner.errors import ConfigError

BASELINE_CONTEXT = "SAS Job Execution compute context"


ASYNC_CONTEXT = "Autoscaling POC Context"


Mode = Literal["sequential", "batch", "window", "all"]


def slug(name: str) -> str:
    """Phase names go into job names and the orchestrator name rule: keep [a-z0-9_]."""
    s = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_")
    return s or "phase"


class PhaseSpec(BaseModel):
    """One phase of a run: which context, how jobs are released."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    context: str = Field(min_length=1)
    mode: Mode = "sequential"
    concurrency: int = Field(default=1, ge=1)
    baseline: bool = False
    # start from a cold pool: before the phase, wait (bounded) until its pool is back at its minimum
    # nodes, so a pool scaled up by an earlier phase cannot make this one look faster
    cold_start: bool = False
    # the context's node pool(s); default: learned (earlier phases, history)
    pools: list[str] | None = None
    # the pools' autoscaler minimum (nodes, all pools together)
    min_nodes: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _concurrency_for_mode(self) -> PhaseSpec:
        if self.mode == "sequential":
            self.concurrency = 1
        return self


def parse_phases(value: Any, source: str = "phases") -> list[PhaseSpec]:
    """Accept a JSON/YAML string, a list, or {"phases": [...]}; validate names and baseline."""
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)  # YAML is a superset of JSON
        except yaml.YAMLError as e:
            raise ConfigError(
                f"{source}: not valid JSON/YAML ({' '.join(str(e).split())}) -- fix the syntax"
            ) from None
        except RecursionError:
            raise ConfigError(
                f"{source}: nested too deeply to be a list of phases -- fix the value"
            ) from None
    if isinstance(value, dict) and "phases" in value:
        value = value["phases"]
    if not isinstance(value, list) or not value:
        raise ConfigError(
            f"{source}: expected a non-empty list of phases ({{name, context, mode, concurrency}})"
            " -- fix the value"
        )
    phases: list[PhaseSpec] = []
    for i, item in enumerate(value):
        if isinstance(item, PhaseSpec):
            phases.append(item)
            continue
        try:
            phases.append(PhaseSpec.model_validate(item))
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(p) for p in err["loc"]) or "(entry)"
            msg = err["msg"].removeprefix("Value error, ")
            raise ConfigError(
                f"{source}: phase {i + 1} field '{loc}': {msg} -- fix that phase"
                " ({name, context, mode, concurrency, baseline})"
            ) from None
    slugs = [slug(p.name) for p in phases]
    dupes = sorted({s for s in slugs if slugs.count(s) > 1})
    if dupes:
        raise ConfigError(
            f"{source}: phase names must differ after sanitising to [a-z0-9_]: {', '.join(dupes)}"
            " -- rename one of them"
        )
    if sum(p.baseline for p in phases) > 1:
        raise ConfigError(
            f"{source}: at most one phase may set baseline: true -- keep it on one phase"
        )
    if not any(p.baseline for p in phases):
        phases[0] = phases[0].model_copy(update={"baseline": True})
    return phases


def default_phases(
    mode: Mode = "batch",
    concurrent: int = 5,
    *,
    baseline_context: str = BASELINE_CONTEXT,
    async_context: str = ASYNC_CONTEXT,
) -> list[PhaseSpec]:
    """The seed tool's run: sequential baseline, then the async phase."""
    if concurrent < 1:
        raise ConfigError("--concurrency must be at least 1")
    return [
        PhaseSpec(name="sequential", context=baseline_context, mode="sequential", baseline=True),
        PhaseSpec(name="async", context=async_context, mode=mode, concurrency=concurrent),
    ]
