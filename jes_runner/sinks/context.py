"""What a sink gets once a run is over: :class:`RunContext` (the runner fills it)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from jes_runner.config.settings import Settings
from jes_runner.measure.executor import PhaseOutcome
from jes_runner.measure.plan import RunPlan
from jes_runner.results.checkpoint import Checkpoint


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
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    # stopping (SIGTERM): time.monotonic() by which the sinks must be done (the push gets what is left)
    stop_deadline: float | None = None


Sink = Callable[[RunContext], None]
