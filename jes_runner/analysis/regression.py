"""`jes-runner compare` and run thresholds: is this run worse than an earlier one, or than a limit?

compare: per phase (matched by name) the change in makespan, duration p50/p95, queue
wait p95 and failed jobs; per job (matched by phase, name and occurrence) the change
in duration and queue wait. A figure *regresses* when it grew by more than the
tolerance and by more than ``--min-delta`` seconds (noise floor; also what makes a
0 s -> 3 s queue wait count). Exit 6 (ExitCode.THRESHOLD) when any counted figure
regressed, 0 otherwise, 2 when a file is not a results file of a known schema.

thresholds: ``check_thresholds`` applies the settings' limits (``max_failed_jobs``,
``min_speedup``, ``max_queue_wait_p95_seconds``) to one run's results.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from jes_runner._util import finite
from jes_runner.console import fmt_seconds
from jes_runner.errors import JesError
from jes_runner.results.views import PhaseView, phase_views

PHASE_FIGURES = (
    "makespan_seconds",
    "busy_makespan_seconds",
    "duration_p50_seconds",
    "duration_p95_seconds",
    "queue_wait_p95_seconds",
)
SPEEDUPS = ("speedup", "busy_speedup")  # ratios vs the baseline: a *drop* is the regression


@dataclass(slots=True)
class Change:
    phase: str
    figure: str
    baseline: float | None
    current: float | None
    job: str | None = None
    delta: float | None = None
    percent: float | None = None  # None when the baseline is 0 or missing
    regression: bool = False
    counted: bool = True  # False: shown, but not part of the exit code

    def describe(self) -> str:
        who = f"{self.job} in {self.phase}" if self.job else self.phase
        pct = f"{self.percent:+.1f} %" if self.percent is not None else "new"
        if self.figure in SPEEDUPS:
            return f"{who}: {self.figure} {ratio_text(self.baseline)} -> {ratio_text(self.current)} ({pct})"
        if self.figure == "jobs_not_completed":
            return f"{who}: jobs not completed {count_text(self.baseline)} -> {count_text(self.current)}"
        return f"{who}: {self.figure} {fmt_seconds(self.baseline)} -> {fmt_seconds(self.current)} ({pct})"


def ratio_text(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}x"


def count_text(v: float | None) -> str:
    return "–" if v is None else str(int(v))


def _change(
    phase: str,
    figure: str,
    base: float | None,
    cur: float | None,
    *,
    max_pct: float | None,
    min_delta: float,
    job: str | None = None,
) -> Change:
    c = Change(
        phase=phase, figure=figure, baseline=base, current=cur, job=job, counted=max_pct is not None
    )
    if base is None or cur is None:
        return c
    c.delta = round(cur - base, 3)
    c.percent = round(c.delta / base * 100, 2) if base else None
    if max_pct is not None and c.delta > min_delta:
        c.regression = c.percent is None or c.percent > max_pct
    return c


def _speedup_change(
    phase: str,
    figure: str,
    base: float | None,
    cur: float | None,
    *,
    max_pct: float,
    comparable: bool,
) -> Change:
    """A speedup that dropped by more than the tolerance regressed (only between comparable phases)."""
    c = Change(phase=phase, figure=figure, baseline=base, current=cur)
    if base is None or cur is None:
        return c
    c.delta = round(cur - base, 3)
    c.percent = round(c.delta / base * 100, 2) if base else None
    c.regression = (
        comparable and c.percent is not None and c.percent < -max_pct and abs(c.delta) >= 0.01
    )
    return c


def configuration(results: dict[str, Any]) -> dict[str, Any]:
    """What a run measured: phases (context, mode, concurrency, cold start), job set, tool, target."""
    phases = [p for p in results.get("phases") or [] if isinstance(p, dict)]
    jobs = sorted(
        {str(j.get("name")) for p in phases for j in p.get("jobs") or [] if isinstance(j, dict)}
    )
    meta = results.get("metadata") or {}
    return {
        "phases": {
            str(p.get("name")): {
                "context": p.get("context"),
                "mode": p.get("mode"),
                "concurrency": p.get("concurrency"),
                "cold_start": bool(p.get("cold_start")),
            }
            for p in phases
        },
        "jobs": jobs,
        "tool_version": meta.get("tool_version"),
        "emulator": bool(results.get("emulator", meta.get("emulator"))),
    }


def configuration_differences(base: dict[str, Any], cur: dict[str, Any]) -> list[str]:
    """Each way the two runs' configurations differ, in words (empty: the same configuration)."""
    a, b = configuration(base), configuration(cur)
    out: list[str] = []
    for name in [n for n in a["phases"] if n in b["phases"]]:
        for key in ("context", "mode", "concurrency", "cold_start"):
            if a["phases"][name][key] != b["phases"][name][key]:
                out.append(
                    f"phase {name}: {key} {a['phases'][name][key]} -> {b['phases'][name][key]}"
                )
    if list(a["phases"]) != list(b["phases"]):
        out.append(
            f"phases: {', '.join(a['phases']) or 'none'} -> {', '.join(b['phases']) or 'none'}"
        )
    if a["jobs"] != b["jobs"]:
        gone, new = sorted(set(a["jobs"]) - set(b["jobs"])), sorted(set(b["jobs"]) - set(a["jobs"]))
        out.append(
            f"job set: {len(a['jobs'])} -> {len(b['jobs'])} jobs"
            + (f", removed {', '.join(gone[:5])}{' ...' if len(gone) > 5 else ''}" if gone else "")
            + (f", added {', '.join(new[:5])}{' ...' if len(new) > 5 else ''}" if new else "")
        )
    if a["tool_version"] != b["tool_version"]:
        out.append(f"tool version: {a['tool_version']} -> {b['tool_version']}")
    if a["emulator"] != b["emulator"]:
        out.append(f"emulator: {str(a['emulator']).lower()} -> {str(b['emulator']).lower()}")
    return out


def _keyed_jobs(p: PhaseView) -> dict[tuple[str, int], Any]:
    """(name, occurrence) -> job: the same job may run more than once in a phase."""
    seen: Counter[str] = Counter()
    out = {}
    for j in sorted(p.jobs, key=lambda j: j.sequence):
        seen[j.name] += 1
        out[(j.name, seen[j.name])] = j
    return out


def _phase_figure_changes(
    name: str, b: PhaseView, c: PhaseView, *, max_pct: float, min_delta: float
) -> list[Change]:
    """The phase's timing figures, its speedups vs the baseline and its jobs not completed."""
    out = [
        _change(
            name,
            fig,
            finite(b.stats.get(fig)),
            finite(c.stats.get(fig)),
            max_pct=max_pct,
            min_delta=min_delta,
        )
        for fig in PHASE_FIGURES
    ]
    comparable = all((p.vs_baseline or {}).get("comparable") is not False for p in (b, c))
    out += [
        _speedup_change(
            name,
            fig,
            finite((b.vs_baseline or {}).get(fig)),
            finite((c.vs_baseline or {}).get(fig)),
            max_pct=max_pct,
            comparable=comparable,
        )
        for fig in SPEEDUPS
    ]
    nc_b, nc_c = b.jobs_not_completed, c.jobs_not_completed
    out.append(
        Change(
            phase=name,
            figure="jobs_not_completed",
            baseline=nc_b,
            current=nc_c,
            delta=nc_c - nc_b,
            regression=nc_c > nc_b,
        )
    )
    return out


def _job_changes(
    name: str,
    b: PhaseView,
    c: PhaseView,
    *,
    max_regression: float,
    max_job_regression: float | None,
    min_delta: float,
) -> list[Change]:
    """Per job (matched by name and occurrence): duration and queue wait. Without
    ``max_job_regression`` jobs are judged by the phase tolerance, but not counted."""
    out = []
    bj = _keyed_jobs(b)
    for key, j in _keyed_jobs(c).items():
        old = bj.get(key)
        if old is None:
            continue
        label = j.name if key[1] == 1 else f"{j.name}#{key[1]}"
        for fig, before, after in (
            ("duration", old.duration, j.duration),
            ("queue_wait", old.queue_wait, j.queue_wait),
        ):
            ch = _change(
                name,
                fig,
                before,
                after,
                job=label,
                min_delta=min_delta,
                max_pct=max_regression if max_job_regression is None else max_job_regression,
            )
            ch.counted = max_job_regression is not None
            out.append(ch)
    return out


def _run_identity(results: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": results.get("run_id"),
        "schema_version": results.get("schema_version"),
        "started_at": (results.get("metadata") or {}).get("started_at"),
    }


def _common_phases(bp: dict[str, PhaseView], cp: dict[str, PhaseView]) -> list[str]:
    common = [n for n in cp if n in bp]
    if not common:
        raise JesError(
            f"no phase in common: baseline has {', '.join(bp) or 'none'}, "
            f"current has {', '.join(cp) or 'none'} -- compare runs of the same phases"
        )
    return common


def compare_results(
    base: dict[str, Any],
    cur: dict[str, Any],
    *,
    max_regression: float = 10.0,
    max_job_regression: float | None = None,
    min_delta: float = 1.0,
    allow_config_change: bool = False,
) -> dict[str, Any]:
    """Phase and job changes; with different configurations nothing is called a regression unless
    ``allow_config_change`` (a batch-5 run is not a regressed batch-2 run)."""
    bp = {p.name: p for p in phase_views(base)}
    cp = {p.name: p for p in phase_views(cur)}
    common = _common_phases(bp, cp)
    phases: list[Change] = []
    jobs: list[Change] = []
    for name in common:
        phases += _phase_figure_changes(
            name, bp[name], cp[name], max_pct=max_regression, min_delta=min_delta
        )
        jobs += _job_changes(
            name,
            bp[name],
            cp[name],
            max_regression=max_regression,
            max_job_regression=max_job_regression,
            min_delta=min_delta,
        )
    differences = configuration_differences(base, cur)
    judged = not differences or allow_config_change
    regressions = [c for c in phases + jobs if c.regression and c.counted] if judged else []
    return {
        "configuration_changed": differences,
        "judged": judged,
        "baseline": _run_identity(base),
        "current": _run_identity(cur),
        "tolerance": {
            "max_regression_percent": max_regression,
            "max_job_regression_percent": max_job_regression,
            "min_delta_seconds": min_delta,
        },
        "phases_compared": common,
        "only_in_baseline": [n for n in bp if n not in cp],
        "only_in_current": [n for n in cp if n not in bp],
        "phase_changes": [asdict(c) for c in phases],
        "job_changes": [asdict(c) for c in jobs],
        "regressions": [c.describe() for c in regressions],
        "passed": not regressions,
    }
