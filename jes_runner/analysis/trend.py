"""`jes-runner trend`: every run's figures on a results volume as series, and the last run judged.

Runs are grouped into series by environment, profile, phase and source: a Viya, or the
emulator and its scenario. Emulated runs never share a series with measured ones, and
their seconds are the modelled cluster's (served seconds / speed factor). Per series, one
point per run: makespan, busy speedup, idle share, queue wait p95, node-ready latency
and cost.

The last run of a series is judged against the median of the previous comparable runs
with the same phase configuration (context, mode, concurrency, cold start, jobs planned),
at most ``window`` of them and at least ``min_history``. A figure regresses when it moved
the worse way by more than its tolerance (percent of the median) *and* by more than its
noise floor -- the rule `compare` applies between two runs (analysis/regression.py:
tolerance in percent, changes under ``--min-delta`` are noise). A run whose phase was not
comparable (failures, timeouts, an abort) is drawn apart, never judged, never in a median.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from jes_runner._util import finite, iso
from jes_runner.config.settings import DEFAULT_PROFILE
from jes_runner.console import fmt_seconds, render_table
from jes_runner.errors import JesError
from jes_runner.results.skim import PhaseSummary, RunSummary, summarize

DEFAULT_ENVIRONMENT = "default"  # Settings.environment's default: a run that recorded none
DEFAULT_WINDOW = 10  # previous comparable runs in the median: recent enough to follow a drift
DEFAULT_MIN_HISTORY = 3  # fewer previous comparable runs than this: the last run is not judged
REAL_SOURCE = "viya"


class Worse(StrEnum):
    UP = "up"  # a larger value is worse: seconds, idle share, cost
    DOWN = "down"  # a smaller value is worse: speedup


class Verdict(StrEnum):
    REGRESSION = "regression"
    IMPROVED = "improved"
    WITHIN = "within tolerance"
    NOT_COMPARABLE = "last run not comparable"
    TOO_FEW_RUNS = "too few comparable runs"
    NO_VALUE = "no value"


@dataclass(frozen=True, slots=True)
class FigureRule:
    """One trended figure: how it is judged (direction, tolerance %, noise floor in its unit)."""

    key: str
    label: str
    unit: str  # "s" (model s when emulated), "x", "%", or the cost's currency
    worse: Worse
    tolerance_pct: float
    min_delta: float  # a change smaller than this is noise, never a verdict
    seconds: bool  # emulated runs: divided by the speed factor


MAKESPAN = FigureRule("makespan", "makespan", "s", Worse.UP, 20.0, 1.0, True)
BUSY_SPEEDUP = FigureRule("busy_speedup", "busy speedup", "x", Worse.DOWN, 15.0, 0.01, False)
IDLE_SHARE = FigureRule("idle_share", "idle share", "%", Worse.UP, 50.0, 5.0, False)
QUEUE_WAIT_P95 = FigureRule("queue_wait_p95", "queue wait p95", "s", Worse.UP, 25.0, 5.0, True)
# node provisioning takes minutes and varies by tens of seconds from night to night
NODE_READY = FigureRule("node_ready", "node ready", "s", Worse.UP, 30.0, 30.0, True)
COST = FigureRule("cost", "cost", "", Worse.UP, 20.0, 0.01, False)
FIGURES = (MAKESPAN, BUSY_SPEEDUP, IDLE_SHARE, QUEUE_WAIT_P95, NODE_READY, COST)
FIGURE_KEYS = tuple(f.key for f in FIGURES)


@dataclass(slots=True)
class Point:
    """One run's figures in one series."""

    run_id: str
    file: str  # relative to the trend's directory
    started: str
    config: str  # the phase configuration: only runs of the same one are compared
    comparable: bool
    reason: str | None  # why not comparable
    values: dict[str, float | None]
    cost_basis: str | None = None  # "EUR at 1.2 per node-hour": costs compare only on one basis
    in_reference: bool = False  # in the median the last run is judged against
    other_config: bool = False  # configuration differs from the last run's: drawn apart


@dataclass(slots=True)
class FigureVerdict:
    figure: str
    label: str
    unit: str
    worse: Worse
    tolerance_pct: float
    min_delta: float
    last: float | None
    median: float | None
    change_pct: float | None
    reference_runs: int
    verdict: Verdict


@dataclass(slots=True)
class Series:
    environment: str
    profile: str
    phase: str
    source: str  # "viya", or "emulated (scenario)"
    emulated: bool
    points: list[Point]
    verdicts: list[FigureVerdict] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.environment} / {self.profile} / {self.phase}" + (
            f" -- EMULATED ({self.source.removeprefix('emulated ').strip('()')}, model seconds)"
            if self.emulated
            else ""
        )

    @property
    def regressions(self) -> list[FigureVerdict]:
        return [v for v in self.verdicts if v.verdict is Verdict.REGRESSION]


@dataclass(slots=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(slots=True)
class TrendReport:
    directory: str
    files_read: int
    runs: int
    skipped: list[SkippedFile]
    profile_not_recorded: int  # runs grouped under the default profile because they record none
    environment_not_recorded: int
    filters: dict[str, str | None]
    window: int
    min_history: int
    rules: list[FigureRule]
    series: list[Series]

    @property
    def regressions(self) -> list[str]:
        return [describe(s, v) for s in self.series for v in s.regressions]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["regressions"] = self.regressions
        for s, sd in zip(self.series, d["series"], strict=True):
            sd["title"] = s.title
        return d


# -- reading ----------------------------------------------------------------------------


def results_paths(directory: Path) -> list[Path]:
    """Every JSON file under the directory, recursively (results or not: the rest is listed)."""
    if not directory.exists():
        raise JesError(f"{directory}: no such directory -- pass the results directory (volume)")
    if not directory.is_dir():
        raise JesError(f"{directory}: not a directory -- pass the directory holding results files")
    try:
        return sorted(p for p in directory.rglob("*.json") if p.is_file())
    except OSError as e:
        raise JesError(f"{directory}: cannot list it ({e.strerror or e})") from None


def read_runs(paths: Iterable[Path], root: Path) -> tuple[list[RunSummary], list[SkippedFile]]:
    """Each file's run summary; a corrupt or foreign file is listed with its reason, not fatal."""
    runs, skipped = [], []
    for p in paths:
        rel = _relative(p, root)
        try:
            run = summarize(p)
        except JesError as e:
            skipped.append(SkippedFile(rel, str(e).removeprefix(f"{p}: ")))
            continue
        if run.started is None:
            skipped.append(SkippedFile(rel, "no start time recorded: cannot place it in a series"))
            continue
        runs.append(replace(run, source=rel))
    return runs, skipped


def _relative(p: Path, root: Path) -> str:
    try:
        return str(p.relative_to(root))
    except ValueError:
        return str(p)


# -- series -----------------------------------------------------------------------------


def build_trend(
    directory: Path,
    *,
    profile: str | None = None,
    environment: str | None = None,
    since: datetime | None = None,
    tolerances: dict[str, float] | None = None,
    window: int = DEFAULT_WINDOW,
    min_history: int = DEFAULT_MIN_HISTORY,
) -> TrendReport:
    """Read every results file under ``directory``, group, and judge each series' last run."""
    paths = results_paths(directory)
    runs, skipped = read_runs(paths, directory)
    if not runs:
        raise JesError(
            f"{directory}: no results file among {len(paths)} JSON file(s)"
            + (f" (first skipped: {skipped[0].path}: {skipped[0].reason})" if skipped else "")
            + " -- pass the directory the runs write to (JES_OUTPUT_DIR)"
        )
    chosen = [
        r
        for r in runs
        if (profile is None or _profile(r) == profile)
        and (environment is None or _environment(r) == environment)
        and (since is None or (r.started is not None and r.started >= since))
    ]
    if not chosen:
        raise JesError(
            f"{directory}: no run matches the filters ({_filters_text(profile, environment, since)});"
            f" profiles found: {', '.join(sorted({_profile(r) for r in runs}))};"
            f" environments found: {', '.join(sorted({_environment(r) for r in runs}))}"
        )
    rules = [_rule(f, tolerances or {}) for f in FIGURES]
    series = group_series(chosen)
    for s in series:
        judge_series(s, rules, window=window, min_history=min_history)
    return TrendReport(
        directory=str(directory),
        files_read=len(paths),
        runs=len(chosen),
        skipped=skipped,
        profile_not_recorded=sum("profile" not in r.labels for r in chosen),
        environment_not_recorded=sum("environment" not in r.labels for r in chosen),
        filters={
            "profile": profile,
            "environment": environment,
            "since": iso(since) if since else None,
        },
        window=window,
        min_history=min_history,
        rules=rules,
        series=series,
    )


def _rule(rule: FigureRule, tolerances: dict[str, float]) -> FigureRule:
    unknown = sorted(set(tolerances) - set(FIGURE_KEYS))
    if unknown:
        raise JesError(
            f"unknown trend figure {unknown[0]!r} in --tolerance; figures: {', '.join(FIGURE_KEYS)}"
        )
    pct = tolerances.get(rule.key)
    return rule if pct is None else replace(rule, tolerance_pct=pct)


def _filters_text(profile: str | None, environment: str | None, since: datetime | None) -> str:
    parts = [
        f"--profile {profile}" if profile else "",
        f"--environment {environment}" if environment else "",
        f"--since {iso(since)}" if since else "",
    ]
    return ", ".join(p for p in parts if p)


def _profile(run: RunSummary) -> str:
    return run.labels.get("profile") or DEFAULT_PROFILE


def _environment(run: RunSummary) -> str:
    return run.labels.get("environment") or DEFAULT_ENVIRONMENT


def _source(run: RunSummary) -> str:
    return f"emulated ({run.scenario or 'unknown scenario'})" if run.emulated else REAL_SOURCE


def group_series(runs: list[RunSummary]) -> list[Series]:
    """One series per environment, profile, phase and source; points in start order."""
    series: dict[tuple[str, str, str, str], Series] = {}
    phase_order: dict[str, int] = {}
    for run in sorted(runs, key=lambda r: (r.started, r.run_id)):
        for p in run.phases:
            phase_order.setdefault(p.name, len(phase_order))
            key = (_environment(run), _profile(run), p.name, _source(run))
            s = series.get(key)
            if s is None:
                s = series[key] = Series(*key, emulated=run.emulated, points=[])
            s.points.append(_point(run, p))
    return sorted(
        series.values(),
        key=lambda s: (s.environment, s.profile, s.emulated, s.source, phase_order[s.phase]),
    )


def phase_config(p: PhaseSummary) -> str:
    """The phase configuration in words; runs are compared only within one."""
    planned = p.stats.get("jobs_planned") or p.stats.get("jobs_total")
    return (
        f"{p.mode} x{p.concurrency}, {planned if planned is not None else '?'} jobs, {p.context}"
        + (", cold start" if p.cold_start else "")
    )


def not_comparable_reason(run: RunSummary, p: PhaseSummary) -> str | None:
    """Why this run's phase cannot be judged, None when it can."""
    vs = p.vs_baseline or {}
    if vs.get("comparable") is False:
        return str(vs.get("reason") or "not comparable with its baseline")
    if p.status and p.status != "completed":
        return f"phase {p.status}"
    if run.status == "aborted":
        return "run aborted"
    return None


def phase_values(run: RunSummary, p: PhaseSummary) -> dict[str, float | None]:
    """The trended figures of one phase; emulated seconds in the modelled cluster's seconds."""
    scaling, cost = p.scaling or {}, p.cost or {}
    raw = {
        MAKESPAN.key: finite(p.stats.get("makespan_seconds")),
        BUSY_SPEEDUP.key: finite((p.vs_baseline or {}).get("busy_speedup")),
        IDLE_SHARE.key: finite(p.stats.get("idle_percent")),
        QUEUE_WAIT_P95.key: finite(p.stats.get("queue_wait_p95_seconds")),
        NODE_READY.key: finite(scaling.get("time_to_first_node_ready_seconds")),
        COST.key: finite(cost.get("amount")),
    }
    if run.emulated and run.speed_factor:
        for rule in FIGURES:
            v = raw[rule.key]
            if rule.seconds and v is not None:
                raw[rule.key] = round(v / run.speed_factor, 3)
    return raw


def _cost_basis(p: PhaseSummary) -> str | None:
    cost = p.cost or {}
    if finite(cost.get("amount")) is None:
        return None
    return f"{cost.get('currency') or '?'} at {cost.get('node_hour_price')} per node-hour"


def _point(run: RunSummary, p: PhaseSummary) -> Point:
    reason = not_comparable_reason(run, p)
    return Point(
        run_id=run.run_id,
        file=run.source,
        started=iso(run.started) or "",
        config=phase_config(p),
        comparable=reason is None,
        reason=reason,
        values=phase_values(run, p),
        cost_basis=_cost_basis(p),
    )


# -- verdicts ---------------------------------------------------------------------------


def judge_series(s: Series, rules: list[FigureRule], *, window: int, min_history: int) -> None:
    """Mark the reference runs and judge the last run's figures against their median."""
    last, earlier = s.points[-1], s.points[:-1]
    for pt in earlier:
        pt.other_config = pt.config != last.config
    reference = [pt for pt in earlier if pt.comparable and not pt.other_config]
    if window > 0:
        reference = reference[-window:]
    for pt in reference:
        pt.in_reference = True
    s.verdicts = [judge(rule, last, reference, min_history=min_history) for rule in rules]


def judge(
    rule: FigureRule, last: Point, reference: list[Point], *, min_history: int
) -> FigureVerdict:
    """The last run's figure against the median of the reference runs' (the compare rule)."""
    if rule.key == COST.key:
        reference = [pt for pt in reference if pt.cost_basis == last.cost_basis]
    values = [v for pt in reference if (v := pt.values.get(rule.key)) is not None]
    value = last.values.get(rule.key)
    median = round(statistics.median(values), 3) if values else None
    change = (
        round((value - median) / median * 100, 2)
        if value is not None and median not in (None, 0)
        else None
    )
    verdict = _verdict(rule, value, median, change, last, len(values), min_history)
    return FigureVerdict(
        figure=rule.key,
        label=rule.label,
        unit=_unit(rule, last),
        worse=rule.worse,
        tolerance_pct=rule.tolerance_pct,
        min_delta=rule.min_delta,
        last=value,
        median=median,
        change_pct=change,
        reference_runs=len(values),
        verdict=verdict,
    )


def _verdict(
    rule: FigureRule,
    value: float | None,
    median: float | None,
    change: float | None,
    last: Point,
    n: int,
    min_history: int,
) -> Verdict:
    if value is None:
        return Verdict.NO_VALUE
    if not last.comparable:
        return Verdict.NOT_COMPARABLE
    if median is None or n < min_history:
        return Verdict.TOO_FEW_RUNS
    worse_by = (value - median) if rule.worse is Worse.UP else (median - value)
    beyond = change is None or abs(change) > rule.tolerance_pct  # from 0: any move is beyond
    if beyond and worse_by > rule.min_delta:
        return Verdict.REGRESSION
    if beyond and -worse_by > rule.min_delta:
        return Verdict.IMPROVED
    return Verdict.WITHIN


def _unit(rule: FigureRule, last: Point) -> str:
    if rule.key == COST.key:
        return (last.cost_basis or "").split(" at ")[0]
    return rule.unit


# -- text -------------------------------------------------------------------------------


def format_value(unit: str, v: float | None, *, emulated: bool = False) -> str:
    """A figure in its unit; emulated seconds say they are the model's."""
    if v is None:
        return "–"
    if unit == "s":
        return fmt_seconds(v) + (" (model)" if emulated else "")
    if unit == "x":
        return f"{v:.2f}x"
    if unit == "%":
        return f"{v:.1f} %"
    return (f"{v:.2f}" if abs(v) >= 10 else f"{v:.3g}") + (f" {unit}" if unit else "")


def describe(s: Series, v: FigureVerdict) -> str:
    sign = "+" if v.worse is Worse.UP else "-"
    return (
        f"{s.title}: {v.label} {format_value(v.unit, v.last, emulated=s.emulated)} vs median "
        f"{format_value(v.unit, v.median, emulated=s.emulated)} of {v.reference_runs} earlier "
        f"comparable run(s) ({_pct(v.change_pct)}; tolerance {sign}{v.tolerance_pct:g} %)"
    )


def _pct(p: float | None) -> str:
    return "from 0" if p is None else f"{p:+.1f} %"


def change_text(v: FigureVerdict) -> str:
    """The last run against the median in percent ("from 0" when the median is 0 and it moved)."""
    if v.last is None or v.median is None:
        return "–"
    if v.change_pct is None and v.last == v.median:
        return "+0.0 %"
    return _pct(v.change_pct)


def render_trend(t: TrendReport) -> str:
    """The terminal view: one block per series, the last run against the median."""
    lines = [
        f"trend: {t.runs} run(s) from {t.files_read} JSON file(s) under {t.directory}; "
        f"median of up to {t.window or 'all'} earlier comparable runs of the same configuration "
        f"(at least {t.min_history})"
    ]
    if t.profile_not_recorded:
        lines.append(
            f"note: {t.profile_not_recorded} run(s) record no profile: grouped as {DEFAULT_PROFILE!r}"
        )
    if t.environment_not_recorded:
        lines.append(
            f"note: {t.environment_not_recorded} run(s) record no environment: grouped as "
            f"{DEFAULT_ENVIRONMENT!r}"
        )
    for s in t.series:
        lines += ["", *_series_lines(s)]
    if t.skipped:
        lines += ["", f"skipped {len(t.skipped)} file(s) (not read as results):"]
        lines += [f"  {f.path}: {f.reason}" for f in t.skipped]
    n = len(t.regressions)
    lines += [""] + [f"REGRESSION {r}" for r in t.regressions]
    lines.append(
        f"result: {n} regression{'s' if n != 1 else ''} beyond tolerance (exit 6)"
        if n
        else "result: no regression beyond tolerance (exit 0)"
    )
    return "\n".join(lines) + "\n"


def _series_lines(s: Series) -> list[str]:
    last = s.points[-1]
    apart = [pt for pt in s.points[:-1] if not pt.comparable]
    other = [pt for pt in s.points[:-1] if pt.comparable and pt.other_config]
    head = (
        f"{s.title}: {len(s.points)} run(s), last {last.started} ({last.config})"
        + (f"; {len(apart)} not comparable" if apart else "")
        + (f"; {len(other)} of another configuration" if other else "")
    )
    if not last.comparable:
        head += f"\n  last run not comparable: {last.reason} -- shown, not judged"
    rows = [
        [
            v.label,
            format_value(v.unit, v.last, emulated=s.emulated),
            format_value(v.unit, v.median, emulated=s.emulated),
            str(v.reference_runs),
            change_text(v),
            f"{'+' if v.worse is Worse.UP else '-'}{v.tolerance_pct:g} %",
            v.verdict.value.upper() if v.verdict is Verdict.REGRESSION else v.verdict.value,
        ]
        for v in s.verdicts
    ]
    table = render_table(
        ["figure", "last", "median", "runs", "change", "tolerance", "verdict"],
        rows,
        right={1, 2, 3, 4, 5},
    )
    return [head, *(f"  {line}" for line in table)]
