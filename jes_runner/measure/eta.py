"""Time left in a phase: each job's expected runtime (job config or runtime history) scaled by what
the phase has learned (``RuntimeModel``), laid out as the phase's mode releases jobs.

Concurrent modes do not add their jobs up: a batch phase's remaining time is its waves, each as
long as its longest job; a window phase's is the slots' ends as each queued job takes the first
free slot; an all-at-once phase's is its longest remaining job. An estimate is never invented: a
job with no expected runtime, before any job of the phase has finished, makes the time left
unknown (None).

Units: expected runtimes are in *expected seconds* -- the job config's seconds, which for an
emulated run are the modelled cluster's seconds -- and ``served_per_expected`` converts them to the
clock the run is measured on (the emulator's speed factor; 1 on a Viya) until the phase has
learned its own factor. The answer is in served seconds (/ speed factor = the modelled cluster's).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from jes_runner.measure.polling import RuntimeModel


@dataclass(frozen=True, slots=True)
class FlightAge:
    """A job in flight: its expected runtime (expected seconds, None: unknown) and its age (served s)."""

    expected: float | None
    age_s: float


@dataclass(frozen=True, slots=True)
class PhaseState:
    mode: str  # sequential | batch | window | all
    concurrency: int
    in_flight: list[FlightAge]
    queued: list[float | None]  # expected runtimes of the jobs not yet submitted, in release order


def _runtime(
    expected: float | None, model: RuntimeModel, served_per_expected: float
) -> float | None:
    """One job's expected runtime in served seconds (None: nothing to go on yet)."""
    factor = model.factor
    if expected:
        return expected * (factor if factor is not None else served_per_expected)
    return model.estimate(None)  # the phase's typical job, once one has finished


def remaining_seconds(
    state: PhaseState, model: RuntimeModel, served_per_expected: float = 1.0
) -> float | None:
    """Served seconds until the phase's last job ends, or None when some job's runtime is unknown."""
    flights = [_runtime(f.expected, model, served_per_expected) for f in state.in_flight]
    runs = [_runtime(e, model, served_per_expected) for e in state.queued]
    if None in flights or None in runs:
        return None
    # a job past its expected end is about to be seen ending: it adds nothing more
    left = [max(0.0, r - f.age_s) for r, f in zip(flights, state.in_flight, strict=True) if r]
    known = [r for r in runs if r is not None]
    if state.mode == "batch":
        return _batches(left, known, max(1, state.concurrency))
    return _slots(left, known, _slot_count(state, len(left) + len(known)))


def _slot_count(state: PhaseState, jobs: int) -> int:
    """Jobs the mode runs at once: one (sequential), all of them (all), else its concurrency."""
    if state.mode == "sequential":
        return 1
    if state.mode == "all":
        return max(1, jobs)
    return max(1, state.concurrency)


def _batches(left: list[float], runs: list[float], size: int) -> float:
    """The current wave ends with its longest job; each next wave of ``size`` lasts its longest."""
    total = max(left, default=0.0)
    for i in range(0, len(runs), size):
        total += max(runs[i : i + size])
    return total


def _slots(left: list[float], runs: list[float], slots: int) -> float:
    """``slots`` jobs at once: each queued job takes the first slot to free up."""
    free = sorted(left) + [0.0] * max(0, slots - len(left))
    heapq.heapify(free)
    end = max(free, default=0.0)
    for r in runs:
        t = heapq.heappop(free) + r
        end = max(end, t)
        heapq.heappush(free, t)
    return end
