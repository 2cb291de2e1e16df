"""Runtime history: each job's server duration in an earlier run, as the next run's expected runtime.

A run whose job config has no ``expected_runtime_s`` (what ``discover`` writes) cannot
know when a job will end, so it polls as the job ages and the sequential baseline
carries a few percent of idle time between jobs. Every results file already records
each job's server duration; the CronJob's next run takes them from the newest results
file on its volume (``newest_history``), and ``discover --with-runtimes`` writes them
into the config (``runtimes_from_results``).

Rules: durations are server ones (``timing_source == "server"``) of completed jobs;
the baseline phase's (the job alone on its context) win over other phases'; the median
is taken when a job ran more than once. A file measured on the emulator never seeds a
run on a Viya, nor the reverse, and emulators at different speed factors do not mix.

Units: runtimes are in the job config's seconds. An emulated run's durations are served
seconds; they are read back in the modelled cluster's seconds (served / the file's
``metadata.emulator_model.speed_factor``), the unit of the config's ``expected_runtime_s``
on an emulator, so history and config estimates can sit in one plan (the runner converts
them to served seconds with the emulator's speed factor).
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jes_runner.errors import JesError
from jes_runner.results.files import RESULTS_PREFIX
from jes_runner.results.views import load_results

log = logging.getLogger("jes_runner.results.history")


@dataclass(frozen=True, slots=True)
class RuntimeHistory:
    source: str  # the results file's name
    runtimes: dict[str, float]  # job name -> seconds


def _served_per_second(results: dict[str, Any]) -> float:
    """Served seconds per job-config second: an emulated file's speed factor, else 1."""
    meta = results.get("metadata") or {}
    if not results.get("emulator", meta.get("emulator")):
        return 1.0
    sf = (meta.get("emulator_model") or {}).get("speed_factor")
    if not isinstance(sf, int | float) or sf <= 0:
        raise JesError(
            "an emulated results file without metadata.emulator_model.speed_factor: its durations "
            "cannot be read as expected runtimes -- use the results of a newer run"
        )
    return float(sf)


def runtimes_of(results: dict[str, Any]) -> dict[str, float]:
    """Job name -> median server duration of its completed runs, baseline phase first, in the job
    config's seconds (an emulated file's: the modelled cluster's)."""
    unit = _served_per_second(results)
    phases = [p for p in results.get("phases") or [] if isinstance(p, dict)]
    phases.sort(key=lambda p: not p.get("baseline"))  # baseline first
    out: dict[str, float] = {}
    for p in phases:
        found: dict[str, list[float]] = {}
        for j in p.get("jobs") or []:
            d = j.get("duration")
            if (
                j.get("status") == "completed"
                and j.get("timing_source") == "server"
                and isinstance(d, int | float)
                and d > 0
            ):
                found.setdefault(str(j.get("name")), []).append(float(d))
        for name, ds in found.items():
            out.setdefault(name, round(statistics.median(ds) / unit, 3))
    return out


def results_files(directory: Path) -> list[Path]:
    """The results files in a directory, newest name (timestamp) last."""
    return sorted(directory.glob(f"{RESULTS_PREFIX}*.json"))


def runtimes_from_results(path: str | Path) -> dict[str, float]:
    """``discover --with-runtimes``: a results file, or the newest one in a directory."""
    p = Path(path)
    if p.is_dir():
        files = results_files(p)
        if not files:
            raise JesError(
                f"{p}: no results file ({RESULTS_PREFIX}*.json) -- pass a results file or its directory"
            )
        p = files[-1]
    runtimes = runtimes_of(load_results(p))
    if not runtimes:
        raise JesError(
            f"{p}: no completed job with server timestamps -- pass the results of a run that completed jobs"
        )
    return runtimes


def newest_history(
    output_dir: Path, *, emulated: bool, speed_factor: float | None = None, scan: int = 10
) -> RuntimeHistory | None:
    """Runtimes from the newest readable results file measured on the same kind of target."""
    try:
        files = results_files(Path(output_dir))
    except OSError:
        return None
    for f in reversed(files[-scan:]):
        try:
            res = load_results(f)
        except JesError:
            continue
        meta = res.get("metadata") or {}
        if bool(res.get("emulator", meta.get("emulator"))) != emulated:
            continue
        if emulated and (meta.get("emulator_model") or {}).get("speed_factor") != speed_factor:
            continue
        try:
            runtimes = runtimes_of(res)
        except JesError:  # emulated, speed factor unknown: its seconds cannot be converted
            continue
        if runtimes:
            return RuntimeHistory(f.name, runtimes)
    return None
