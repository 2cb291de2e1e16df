"""How close a replay is to the measurements, job by job and distribution by distribution.

Rules of the comparison (the fidelity suite asserts them, ``benchmarks/fidelity.py``
prints them):

* per phase, the two-sample Kolmogorov-Smirnov statistic (largest gap between
  the two empirical CDFs) of queue wait, start-up time and run time;
* per phase, the Pearson correlation of each job's real and emulated run time
  (jobs matched by name: it says whether the model slows the *right* jobs down);
* the phase makespan, relative error.

Emulated queue wait, start-up and run times are rounded to whole seconds
first, as the orchestrator reports them (``totalTime*``).

Pure Python: no SciPy. ``ks_2samp`` is exact for ties (both CDFs are stepped at
every distinct value before the gap is taken).
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Sequence
from typing import NamedTuple

from jes_runner._util import at_rank
from jes_runner.sim.calibration import PhaseReplay

METRICS = ("pending", "starting", "running")


def ks_2samp(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sample KS statistic sup |F_a - F_b| (0 = same distribution, 1 = disjoint)."""
    if not a or not b:
        raise ValueError("ks_2samp needs two non-empty samples")
    xa, xb = sorted(a), sorted(b)
    gap = 0.0
    for x in sorted(set(xa) | set(xb)):
        fa = bisect.bisect_right(xa, x) / len(xa)
        fb = bisect.bisect_right(xb, x) / len(xb)
        gap = max(gap, abs(fa - fb))
    return gap


def pearson(a: Sequence[float], b: Sequence[float]) -> float:
    """Pearson correlation; nan when either side is constant."""
    if len(a) != len(b) or len(a) < 2:
        raise ValueError("pearson needs two samples of the same length >= 2")
    try:
        return statistics.correlation(a, b)
    except statistics.StatisticsError:
        return math.nan


def quantiles(xs: Sequence[float], qs: Sequence[float] = (0.1, 0.5, 0.9)) -> list[float]:
    """Linear-interpolation quantiles (numpy's default method)."""
    s = sorted(xs)
    return [at_rank(s, q * (len(s) - 1)) for q in qs]


def session_fidelity(replays: dict[str, PhaseReplay]) -> dict[str, PhaseFidelity]:
    """Every phase of a :func:`calibration.replay`; run alone = the real sequential phase."""
    alone = {j.name: j.running for j in replays["sequential"].real}
    return {name: phase_fidelity(name, r, alone) for name, r in replays.items()}


class PhaseFidelity(NamedTuple):
    phase: str
    ks: dict[str, float]  # metric -> KS statistic
    real_q: dict[str, list[float]]  # metric -> p10, p50, p90
    emu_q: dict[str, list[float]]
    run_corr: float  # per-job run time, real vs emulated
    slowdown_corr: float  # per-job run time / its sequential run time, real vs emulated
    real_makespan_s: float
    emulated_makespan_s: float

    @property
    def makespan_error(self) -> float:
        return (self.emulated_makespan_s - self.real_makespan_s) / self.real_makespan_s


def phase_fidelity(phase: str, r: PhaseReplay, alone: dict[str, float]) -> PhaseFidelity:
    """``alone``: each job's measured run time when run alone (the sequential phase)."""
    emu_by_name = {j.name: j for j in r.emulated}
    paired = [(j.running, emu_by_name[j.name].running) for j in r.real if j.name in emu_by_name]
    slow = [
        (j.running / alone[j.name], emu_by_name[j.name].running / alone[j.name])
        for j in r.real
        if j.name in emu_by_name and alone.get(j.name)
    ]
    ks, rq, eq = {}, {}, {}
    for m in METRICS:
        real = [getattr(j, m) for j in r.real]
        # the orchestrator reports whole seconds: compare like with like, or every tie in the
        # real data (eight jobs "started" for 8 s) becomes a step the model cannot match
        emu = [float(round(getattr(j, m))) for j in r.emulated]
        ks[m] = ks_2samp(real, emu)
        rq[m], eq[m] = quantiles(real), quantiles(emu)
    return PhaseFidelity(
        phase,
        ks,
        rq,
        eq,
        pearson([p[0] for p in paired], [p[1] for p in paired]),
        pearson([p[0] for p in slow], [p[1] for p in slow]) if len(slow) > 1 else math.nan,
        r.real_makespan_s,
        r.emulated_makespan_s,
    )
