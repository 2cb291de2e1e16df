"""What-if: fit the cluster model to a measured run, then replay other configurations.

Rules, in the order they are applied:

* **Input** (:func:`load_study`): a jes-runner results file (any version
  ``load_results`` reads), the shared measurements' format (``phases`` mapping
  name -> ``{context, jobs: [{name, submitted, server_elapsed_s, orchestrator}]}``)
  or the emulator's condensed copy of it. Each becomes a :class:`Study`: phases
  of jobs with server-side queue wait, start-up, run time and host. The phase's
  mode is the results file's; in the measurements' format a phase in which no two
  jobs overlapped is sequential. An emulated run (``metadata.emulator_model``) is
  read in the modelled cluster's seconds (served / speed factor) and answered so.
* **Inputs vs outcome**: a phase's jobs, context, queue, mode, submission times
  and node inventory (the nodes its queue's pools had: the pools' configuration)
  are inputs; waits, run times, ends, which node ran which job and consumed
  resources are its outcome. A left-out phase keeps its inputs only
  (:meth:`MeasuredPhase.inputs_only`).
* **Fit** (:func:`fit`), from the phases kept (``leave_out`` drops one first):

  - each job's run time alone: its run time in the sequential phase; CPU demand
    from its CPU time. Without a sequential phase: fitted jointly with a per-pool
    contention factor over the concurrent phases (a job beside ``N - 1`` others
    runs ``1 + a (N - 1)`` times slower; the same job at different contention
    separates the two); start-up alone: the concurrent phases' 10th percentile;
    the client's gap between sequential jobs is then half the measuring tool's poll
    interval (:data:`MEASURED_TOOL_POLL_S`);
  - cluster shape (``aks-<pool>-<vmss>-vmss<index>``): pool sizes from every
    phase's node inventory (a pool the sequential phase ran on is fixed, the
    others autoscale from 0); slots per node = the most jobs a host held at once
    in a kept phase; a queue's pools in order of first use, and a host limit when
    it used fewer hosts than its pools had while its jobs waited;
  - scale-up delay: node added -> Ready from a results file's node timeline when
    it has some, else first dispatch on a host new in a phase minus the phase's
    first queue wait (the measured study has ONE such event); image pull: the
    first start-up on a host new to the run minus the start-up median;
  - contention (each pool's cores) and the start-up load exponent: a small grid
    replaying the study as one continuous history (:func:`replay_history`: the
    measured pauses, the model's own nodes carried from phase to phase), scored
    by makespan error and the KS statistics of queue wait and run time.
* **Leave-out** (:func:`leave_out`): the history up to the left-out phase, that
  phase from its inputs only. Not identifiable (no number, the reason instead)
  when one of its pools never ran two jobs at once in the kept phases. When its
  autoscaling pools' start state matters (more than 5 % between the model's history and
  every inventory node up), both ends are given with why (:class:`LeaveOut`).
* **Replay** (:func:`run_whatif`): for each (concurrency, max nodes) pair,
  ``replicates`` seeds on the virtual clock from a cold autoscaling pool: the
  sequential phase's jobs x ``jobs_multiplier``, at most ``concurrency`` in
  flight in the run's concurrent mode (window: the next job when one ends; batch:
  the next wave when all have ended), into the target context (the concurrent
  phase whose queue uses an autoscaling pool, else the last concurrent one).
  Concurrency 1 is the sequential baseline: replayed in the sequential phase's
  context (its pool, as the measured baseline ran), labelled so.
  ``--max-nodes`` sets the autoscaling pools' maximum; ``--node-cores`` scales
  each pool's cores and slots from the assumed measured size
  (``measured_node_cores``, default 4: node sizes are not in the data).
* **Figures** per configuration, median and 10-90 % interval over replicates:
  makespan (per replicate the largest over the workload's prefixes: one more job never
  prints faster, :func:`replay_config`, a prefix drained only when its proven upper bound
  does not rule it out; and the least over the caps 1..m, found branch and bound: one more
  node never prints slower, :func:`_fewest_nodes_bound`), node-minutes (existence of the target queue's pools' nodes from the
  first submission to the last end: what the pool cost; times a node-hour price
  when one is given), p95 queue wait. Marked: the fastest (least median makespan)
  and the cheapest within 10 % of it (least node-minutes, i.e. least cost, among
  configurations whose makespan is within 10 % of the fastest).

Nothing here reads the wall clock; the same input and seeds give the same answer.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import heapq
import json
import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from jes_runner._util import parse_aks_node_name, parse_ts
from jes_runner.errors import JesError
from jes_runner.sim.fidelity import ks_2samp, quantiles
from jes_runner.sim.model import Cluster, SimJob
from jes_runner.sim.scenario import (
    JobProfile,
    PoolSpec,
    Scenario,
    default_scenario,
    parse_scenario,
)

CHEAPEST_WITHIN = 0.10  # the cheapest configuration within 10 % of the fastest makespan
# The client submits a sequential job when it sees the previous one end: it polls every 10 s
# (the measuring tool, public repository argx-vgaddu/JES, src/jes/job_execution.py,
# wait_for_completion_no_timeout), so it sees an end on average half a poll interval late.
# Used only when no sequential phase shows the gap itself.
MEASURED_TOOL_POLL_S = 10.0


@functools.cache
def _calibrated() -> Scenario:
    """The emulator's scenario, fitted on the measured study (docs/CALIBRATION.md): the spreads
    a study does not refit, and the scale-up delay and image pull when it shows none."""
    return default_scenario()


def _calibrated_autoscaling_pool() -> PoolSpec:
    return next(p for p in _calibrated().pools.values() if p.min_nodes == 0)


# ----- the measured run -------------------------------------------------------------------


@dataclass(frozen=True)
class MeasuredJob:
    name: str
    submit: float  # s from the phase's first submission
    pending: float
    starting: float
    running: float
    end: float  # Job Execution end, s from the phase's first submission
    host: str | None
    queue: str | None
    cpu_time_s: float | None = None


@dataclass
class MeasuredPhase:
    name: str
    context: str
    jobs: list[MeasuredJob]
    gap_s: list[float] = field(default_factory=list)  # client gaps (sequential: end -> next submit)
    # inputs (what the client configured), as opposed to the outcome in ``jobs``:
    start_abs: float = 0.0  # the first submission, s since the epoch (model s when emulated)
    sequential: bool = False  # the phase's mode: one job at a time
    queue_name: str | None = None  # the context's queue (configuration)
    inventory: tuple[str, ...] = ()  # the nodes its queue's pools had (the pools' configuration)
    mode: str | None = None  # the results file's mode (batch, window, all); None: not recorded

    @property
    def makespan_s(self) -> float:
        return max(j.end for j in self.jobs) - min(j.submit for j in self.jobs)

    @property
    def end_abs(self) -> float:
        return self.start_abs + max(j.end for j in self.jobs)

    def inputs_only(self) -> MeasuredPhase:
        """The phase as a client configured it: jobs, submission times, mode, context, queue and
        node inventory; nothing of its outcome (waits, run times, ends, hosts, resources)."""
        jobs = [
            MeasuredJob(j.name, j.submit, 0.0, 0.0, 0.0, j.submit, None, None) for j in self.jobs
        ]
        return MeasuredPhase(
            self.name,
            self.context,
            jobs,
            [],
            self.start_abs,
            self.sequential,
            self.queue_name,
            self.inventory,
            self.mode,
        )

    @property
    def queue(self) -> str | None:
        return self.queue_name

    @property
    def hosts(self) -> list[str]:
        return sorted({j.host for j in self.jobs if j.host})


@dataclass
class Study:
    source: str
    phases: list[MeasuredPhase]
    # node added -> Ready (s), from a results file's node timeline: scale-up delays measured
    # directly, preferred to the ones inferred from job starts
    scale_ups: dict[str, list[float]] = field(default_factory=dict)  # phase -> delays
    # the unit of every figure: "s", or "model s" for an emulated run (served s / speed factor)
    unit: str = "s"
    emulated: str | None = None  # "scenario <name>, speed factor <f>" for an emulated run

    def phase(self, name: str) -> MeasuredPhase:
        for p in self.phases:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.phases)
        raise JesError(f"{self.source}: no phase {name!r} (phases: {known}); fix --leave-out")


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return None
    return float(x)


def _no_overlap(jobs: list[MeasuredJob]) -> bool:
    spans = sorted((j.submit, j.end) for j in jobs)
    return all(b[0] >= a[1] - 0.5 for a, b in zip(spans, spans[1:], strict=False))


def _finish(
    name: str, context: str, rows: list[MeasuredJob], mode: str | None = None
) -> MeasuredPhase:
    """Offsets from the phase's first submission; client gaps of a sequential phase. The mode
    is the results file's; the measurements' format has none: no two jobs overlapped means
    sequential."""
    if not rows:
        raise JesError(f"phase {name!r} has no job with server times and orchestrator figures")
    t0 = min(r.submit for r in rows)
    jobs = [
        MeasuredJob(
            r.name,
            r.submit - t0,
            r.pending,
            r.starting,
            r.running,
            r.end - t0,
            r.host,
            r.queue,
            r.cpu_time_s,
        )
        for r in sorted(rows, key=lambda r: r.submit)
    ]
    queues = [j.queue for j in jobs if j.queue]
    phase = MeasuredPhase(
        name,
        context,
        jobs,
        [],
        t0,
        mode == "sequential" if mode is not None else _no_overlap(jobs),
        statistics.mode(queues) if queues else None,
        tuple(sorted({j.host for j in jobs if j.host})),
        mode,
    )
    if phase.sequential:
        phase.gap_s = [max(0.0, b.submit - a.end) for a, b in zip(jobs, jobs[1:], strict=False)]
    return phase


def _from_measurements(data: dict[str, Any], source: str) -> Study:
    """The shared measurements' format, or the emulator's condensed copy of it."""
    phases = []
    for name, p in data["phases"].items():
        if not isinstance(p, dict) or not isinstance(p.get("jobs"), list):
            raise JesError(f"{source}: phases.{name}: expected an object with a 'jobs' list")
        rows = []
        for j in p["jobs"]:
            if not isinstance(j, dict):
                continue
            o = j.get("orchestrator")
            if isinstance(o, dict):  # the shared format
                sub, end = parse_ts(j.get("submitted")), parse_ts(j.get("ended"))
                vals = [
                    _num(o.get(k))
                    for k in (
                        "total_time_pending_s",
                        "total_time_starting_s",
                        "total_time_running_s",
                    )
                ]
                if sub is None or end is None or None in vals:
                    continue
                rows.append(
                    MeasuredJob(
                        str(j.get("name")),
                        sub.timestamp(),
                        vals[0] or 0.0,
                        vals[1] or 0.0,
                        vals[2] or 0.0,
                        end.timestamp(),
                        o.get("execution_host"),
                        o.get("queue"),
                        _num(o.get("max_cpu_time_s")),
                    )
                )
            else:  # condensed: offsets and figures inline
                vals = [_num(j.get(k)) for k in ("submit", "end", "pending", "starting", "running")]
                if None in vals:
                    continue
                rows.append(
                    MeasuredJob(
                        str(j.get("name")),
                        vals[0] or 0.0,
                        vals[2] or 0.0,
                        vals[3] or 0.0,
                        vals[4] or 0.0,
                        vals[1] or 0.0,
                        j.get("host"),
                        j.get("queue"),
                        _num(j.get("cpu_time_s")),
                    )
                )
        phases.append(_finish(name, str(p.get("context") or ""), rows))
    return Study(source, phases)


def _from_results(data: dict[str, Any], source: str) -> Study:
    """A jes-runner results file, read through the one results reader."""
    from jes_runner.results.views import normalize_results, phase_views

    phases = []
    scale_ups: dict[str, list[float]] = {}
    for view in phase_views(normalize_results(data, source)):
        added: dict[str, datetime] = {}
        for e in view.node_timeline:
            t, node = parse_ts(e.get("time")), e.get("node")
            if t is None or not isinstance(node, str):
                continue
            if e.get("event") == "added":
                added[node] = t
            elif e.get("event") == "ready" and node in added and t >= added[node]:
                scale_ups.setdefault(view.name, []).append((t - added.pop(node)).total_seconds())
        rows = []
        for j in view.jobs:
            if j.status != "completed" or j.submitted is None or j.ended is None:
                continue
            if j.queue_wait is None or j.starting is None or j.execution is None:
                continue
            o = j.orchestrator or {}
            raw_limits = o.get("limits")
            limits: dict[str, Any] = raw_limits if isinstance(raw_limits, dict) else {}
            rows.append(
                MeasuredJob(
                    j.name,
                    j.submitted.timestamp(),
                    j.queue_wait,
                    j.starting,
                    j.execution,
                    j.ended.timestamp(),
                    j.host,
                    o.get("queue"),
                    _num(o.get("max_cpu_time_s")) or _num(limits.get("maxCpuTime")),
                )
            )
        if rows:
            phases.append(_finish(view.name, view.context, rows, view.mode or None))
    if not phases:
        raise JesError(
            f"{source}: no phase has completed jobs with orchestrator figures "
            "(queue wait, start-up, run time); whatif needs them"
        )
    study = Study(source, phases, scale_ups)
    model = (data.get("metadata") or {}).get("emulator_model") if isinstance(data, dict) else None
    sf = _num((model or {}).get("speed_factor"))
    if sf:
        study = _in_model_seconds(study, sf, str((model or {}).get("scenario") or "?"))
    return study


def _in_model_seconds(study: Study, speed_factor: float, scenario: str) -> Study:
    """An emulated run's served seconds back in the modelled cluster's (served / speed factor):
    the scenario's delays, the answers and the run's own phases then share one scale."""
    k = 1.0 / speed_factor

    def job(j: MeasuredJob) -> MeasuredJob:
        cpu = None if j.cpu_time_s is None else j.cpu_time_s * k
        return MeasuredJob(
            j.name,
            j.submit * k,
            j.pending * k,
            j.starting * k,
            j.running * k,
            j.end * k,
            j.host,
            j.queue,
            cpu,
        )

    phases = [
        MeasuredPhase(
            p.name,
            p.context,
            [job(j) for j in p.jobs],
            [g * k for g in p.gap_s],
            p.start_abs * k,
            p.sequential,
            p.queue_name,
            p.inventory,
            p.mode,
        )
        for p in study.phases
    ]
    ups = {n: [d * k for d in v] for n, v in study.scale_ups.items()}
    return Study(
        study.source,
        phases,
        ups,
        "model s",
        f"emulated run: scenario {scenario}, speed factor {speed_factor:g}",
    )


def load_study(path: str | Path) -> Study:
    """Read a results file or the measurements' format; one-line JesError (exit 2) otherwise."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JesError(
            f"{p}: no such file; give a jes-runner results file or a measurements file"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise JesError(f"{p}: cannot read ({e.__class__.__name__})") from None
    except json.JSONDecodeError as e:
        raise JesError(f"{p}: not JSON (line {e.lineno}: {e.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("phases"), dict):
        study = _from_measurements(data, str(p))
    else:
        study = _from_results(data, str(p))
    return study


# ----- fitting ----------------------------------------------------------------------------


@dataclass
class Fit:
    """The model fitted to a study: a scenario plus the study's history to replay it on."""

    scenario: Scenario
    target_context: str
    autoscaling_pools: list[str]
    notes: list[str]
    submit_spacing_s: float
    client_gap_s: float
    # the study's phases in order; a left-out phase as its inputs only (MeasuredPhase.inputs_only)
    history: list[MeasuredPhase] = field(default_factory=list)
    blind: str | None = None  # the left-out phase
    unidentified: str | None = None  # why the left-out phase cannot be predicted blind
    unit: str = "s"
    # the sequential phase's context (an input, kept when that phase is left out): where the
    # sequential baseline runs, so concurrency 1 is replayed there (:func:`replay_context`)
    baseline_context: str | None = None
    # how the levels above 1 submit: "window" (the next job when one ends) or "batch" (waves
    # of N, the next wave when all have ended): the target phase's mode, window when unknown
    mode: str = "window"


def replay_context(fit: Fit, concurrency: int | None) -> str:
    """Where a configuration is replayed: concurrency 1 is the sequential baseline, replayed
    in the sequential phase's context (on its pool, warm as the measured baseline found it);
    every other level in the target context (from a cold autoscaling pool)."""
    if concurrency == 1 and fit.baseline_context is not None:
        return fit.baseline_context
    return fit.target_context


def _pool_of(host: str | None) -> tuple[str, str, int] | None:
    parsed = parse_aks_node_name(host)
    return (parsed.pool, parsed.vmss, parsed.index) if parsed else None


def _peak_concurrent(jobs: Sequence[MeasuredJob]) -> int:
    """Most jobs a host held at once (dispatch to orchestrator end; whole-second figures, so
    a slot handed over within 1.5 s counts once)."""
    spans = [(j.submit + j.pending, j.submit + j.pending + j.starting + j.running) for j in jobs]
    edges = sorted([(a + 0.75, 1) for a, _ in spans] + [(b - 0.75, -1) for _, b in spans])
    peak = cur = 0
    for _, d in edges:
        cur += d
        peak = max(peak, cur)
    return peak


def _pools_from_inventory(study: Study) -> dict[str, dict[str, Any]]:
    """Pools from the nodes every phase's queue had (configuration, not outcome)."""
    pools: dict[str, dict[str, Any]] = {}
    nodes: dict[str, set[str]] = {}
    for p in study.phases:
        for host in p.inventory:
            parsed = _pool_of(host)
            if parsed is None:
                continue
            name, vmss, index = parsed
            spec = pools.setdefault(
                name, {"vmss_id": vmss, "first_index": index, "slots_per_node": 1}
            )
            spec["first_index"] = min(spec["first_index"], index)
            nodes.setdefault(name, set()).add(host)
    if not pools:
        raise JesError(
            f"{study.source}: no execution host named like an AKS node "
            "(aks-<pool>-<vmss>-vmss<index>); whatif needs the orchestrator's hosts"
        )
    seq_nodes = {h for p in study.phases if p.sequential for h in p.inventory}
    for name, spec in pools.items():
        fixed = bool(nodes[name] & seq_nodes)  # a pool the sequential phase ran on is fixed
        spec.update(min_nodes=len(nodes[name]) if fixed else 0, max_nodes=len(nodes[name]))
    return pools


def _shape(
    study: Study, kept: list[MeasuredPhase]
) -> tuple[dict[str, Any], dict[str, Any], list[str], list[str], set[str]]:
    """Pools and queues: sizes from the node inventory, job slots, queue order and host limits
    from the kept phases' outcome. Returns (pools, queues, autoscaling pools, notes, pools seen
    running more than one job at once)."""
    notes: list[str] = []
    pools = _pools_from_inventory(study)
    seen_busy: set[str] = set()
    for p in kept:
        for host in p.hosts:
            parsed = _pool_of(host)
            if parsed is None:
                continue
            slots = _peak_concurrent([j for j in p.jobs if j.host == host])
            pools[parsed[0]]["slots_per_node"] = max(pools[parsed[0]]["slots_per_node"], slots)
            if slots > 1:
                seen_busy.add(parsed[0])
    autoscaling = [n for n, spec in pools.items() if spec["min_nodes"] == 0]
    queues: dict[str, dict[str, Any]] = {}
    for p in kept:
        q = p.queue or f"queue-{p.context}"
        order = []
        for j in sorted(p.jobs, key=lambda j: j.submit + j.pending):
            parsed = _pool_of(j.host)
            if parsed and parsed[0] not in order:
                order.append(parsed[0])
        spec = queues.setdefault(q, {"pools": []})
        spec["pools"] += [pl for pl in order if pl not in spec["pools"]]
        waited = any(j.pending > 1 for j in p.jobs)
        could = sum(pools[pl]["max_nodes"] for pl in spec["pools"])
        if waited and len(p.hosts) < could:
            spec["max_nodes"] = max(spec.get("max_nodes", 0), len(p.hosts))
            notes.append(
                f"queue {q}: jobs waited on {len(p.hosts)} host(s) while its pools had "
                f"{could}: a host limit of {len(p.hosts)} is assumed"
            )
    for p in study.phases:  # a queue only a left-out phase used: the pools of its nodes
        q = p.queue or f"queue-{p.context}"
        spec = queues.setdefault(q, {"pools": []})
        for host in p.inventory:
            parsed = _pool_of(host)
            if parsed and parsed[0] not in spec["pools"]:
                spec["pools"].append(parsed[0])
    return pools, queues, autoscaling, notes, seen_busy


def _scale_timing(study: Study) -> tuple[float, float, list[str]]:
    """(scale-up delay, image pull) from hosts that appeared during the run."""
    notes = []
    seen: set[str] = set()
    delays, pulls = [], []
    seq = [p for p in study.phases if p.sequential]
    start_med = statistics.median(j.starting for p in seq for j in p.jobs) if seq else 6.0
    for p in study.phases:
        first_wait = min((j.submit for j in p.jobs if j.pending > 1), default=None)
        for host in p.hosts:
            on = sorted((j for j in p.jobs if j.host == host), key=lambda j: j.submit + j.pending)
            first = on[0]
            if host not in seen and first.starting > 3 * max(start_med, 1.0):
                pulls.append(first.starting - start_med)
            if first.pending > 1 and first_wait is not None and host not in seen:
                delays.append(first.submit + first.pending - first_wait)
        seen.update(p.hosts)
    observed = [d for p in study.phases for d in study.scale_ups.get(p.name, [])]
    source = "node timeline" if observed else "job starts"
    delays = observed or delays
    measured = _calibrated_autoscaling_pool()  # no scale-up / cold start in the data
    delay = statistics.median(delays) if delays else measured.scale_up_delay
    pull = statistics.median(pulls) if pulls else measured.image_pull
    notes.append(
        f"scale-up delay {delay:.0f} {study.unit} from {len(delays)} measured event(s) ({source})"
        if delays
        else f"scale-up delay {delay:.0f} {study.unit}: no scale-up measured, the default AKS figure"
    )
    notes.append(
        f"image pull {pull:.0f} {study.unit} from {len(pulls)} cold start(s)"
        + ("" if pulls else " (none: the default)")
    )
    return delay, pull, notes


def _running_load(phase: MeasuredPhase, job: MeasuredJob) -> float:
    """Jobs running on ``job``'s host during its run, time-averaged, itself included."""
    a = job.submit + job.pending + job.starting
    b = a + job.running
    if b - a < 1.0:
        return 1.0
    shared = 0.0
    for o in phase.jobs:
        if o.host == job.host:
            oa = o.submit + o.pending + o.starting
            shared += max(0.0, min(b, oa + o.running) - max(a, oa))
    return max(1.0, shared / (b - a))


def _joint_run_alone(conc: list[MeasuredPhase]) -> tuple[dict[str, float], dict[str, float]]:
    """Per-job run time alone and per-pool contention, fitted jointly over concurrent phases.

    A job running beside ``N - 1`` others on its host runs ``1 + a (N - 1)`` times slower
    (``a`` per pool); the same job seen at different contention (other phase, other host,
    the burst's ramp) separates its run time alone from ``a``. Least squares in logs,
    coordinate descent over the pools' ``a``.
    """
    obs = [
        (j.name, parsed[0], _running_load(p, j), max(0.5, j.running))
        for p in conc
        for j in p.jobs
        if (parsed := _pool_of(j.host))
    ]
    pools = sorted({o[1] for o in obs})
    a = dict.fromkeys(pools, 0.5)

    def bases(av: dict[str, float]) -> dict[str, float]:
        logs: dict[str, list[float]] = {}
        for name, pool, n, r in obs:
            logs.setdefault(name, []).append(math.log(r) - math.log(1 + av[pool] * (n - 1)))
        return {k: math.exp(statistics.fmean(v)) for k, v in logs.items()}

    def loss(av: dict[str, float]) -> float:
        b = bases(av)
        return sum(
            (math.log(r) - math.log(b[name] * (1 + av[pool] * (n - 1)))) ** 2
            for name, pool, n, r in obs
        )

    grid = [i / 50 for i in range(0, 151)]  # 0 .. 3
    for _ in range(3):
        for pool in pools:

            def pool_loss(x: float, pool: str = pool) -> float:
                return loss({**a, pool: x})

            a[pool] = min(grid, key=pool_loss)
    return bases(a), a


def _profiles(
    kept: list[MeasuredPhase], seq: MeasuredPhase | None, start_s: float, lag_s: float
) -> tuple[dict[str, JobProfile], list[str]]:
    notes = []
    cpu: dict[str, float] = {}
    for p in kept:
        for j in p.jobs:
            if j.cpu_time_s is not None:  # consumed CPU grows under contention: the least
                cpu[j.name] = min(cpu.get(j.name, math.inf), j.cpu_time_s)
    if seq is not None:
        alone = {j.name: max(0.5, j.running) for j in seq.jobs}
        cpu = {j.name: j.cpu_time_s for j in seq.jobs if j.cpu_time_s is not None}
    else:
        conc = [p for p in kept if not p.sequential]
        alone, contention = _joint_run_alone(conc)
        notes.append(
            "no sequential phase: run times alone fitted jointly with contention over "
            f"{len(conc)} concurrent phase(s) (slowdown 1 + a (N - 1) beside N - 1 jobs; a: "
            + ", ".join(f"{k} {v:g}" for k, v in contention.items())
            + ")"
        )
    profiles = {
        name: JobProfile(
            elapsed_s=run + start_s + lag_s,
            cpu_time_s=min(cpu[name], run) if name in cpu else None,
        )
        for name, run in alone.items()
    }
    return profiles, notes


def _start_overhead(
    kept: list[MeasuredPhase], seq: MeasuredPhase | None
) -> tuple[float, str | None]:
    """Start-up of a job alone: the sequential phase's median, else the kept phases' 10th
    percentile (the least-loaded starts)."""
    if seq is not None:
        return statistics.median(j.starting for j in seq.jobs), None
    starts = [j.starting for p in kept for j in p.jobs]
    if not starts:
        return 6.0, "start-up alone: no data, 6 s assumed"
    low = quantiles(starts, (0.1,))[0]
    return low, f"start-up alone {low:.0f} s: the 10th percentile of the concurrent phases'"


def _unidentified(study: Study, blind: MeasuredPhase | None, busy: set[str]) -> str | None:
    """Why ``blind`` cannot be predicted from the other phases, or None."""
    if blind is None or blind.sequential:
        return None
    unseen = sorted({parsed[0] for h in blind.inventory if (parsed := _pool_of(h))} - busy)
    if unseen:
        return (
            f"pool(s) {', '.join(unseen)} never ran two jobs at once in the other phases: "
            "their job slots and CPU contention are not in the data"
        )
    return None


def _contexts_and_target(
    study: Study, queues: dict[str, Any], autoscaling: list[str]
) -> tuple[list[dict[str, str]], MeasuredPhase]:
    """Each context's queue, and the phase whatif replays into: the last concurrent phase
    whose queue uses an autoscaling pool, else the last concurrent one."""
    contexts: list[dict[str, str]] = []
    for p in study.phases:
        if p.context not in [c["name"] for c in contexts]:
            contexts.append({"name": p.context, "queue": p.queue or f"queue-{p.context}"})
    conc = [p for p in study.phases if not p.sequential]
    target = next(
        (
            p
            for p in reversed(conc)
            if any(pl in autoscaling for pl in queues[p.queue or f"queue-{p.context}"]["pools"])
        ),
        conc[-1] if conc else study.phases[-1],
    )
    return contexts, target


def _client_pace(kept: list[MeasuredPhase], notes: list[str]) -> tuple[float, float]:
    """(submission spacing of a concurrent phase, client gap between sequential jobs)."""
    spacing = [
        b.submit - a.submit
        for p in kept
        if not p.sequential
        for a, b in zip(p.jobs, p.jobs[1:], strict=False)
    ]
    gaps = [g for p in kept if p.sequential for g in p.gap_s]
    if not gaps:
        notes.append(
            f"client gap between sequential jobs: {MEASURED_TOOL_POLL_S / 2:g} s, half the "
            f"measuring tool's {MEASURED_TOOL_POLL_S:g} s poll interval (no sequential phase "
            "to measure it on)"
        )
    return (
        statistics.median(spacing) if spacing else 0.0,
        statistics.median(gaps) if gaps else MEASURED_TOOL_POLL_S / 2,
    )


def _base_scenario(study: Study, leave_out: str | None) -> Fit:
    kept = [p for p in study.phases if p.name != leave_out]
    if not kept:
        raise JesError(f"{study.source}: nothing left to fit after --leave-out {leave_out}")
    blind = next((p.inputs_only() for p in study.phases if p.name == leave_out), None)
    kept_study = Study(study.source, kept, study.scale_ups, study.unit)
    seq = next((p for p in kept if p.sequential), None)
    start_s, start_note = _start_overhead(kept, seq)
    lag_s = 1.0
    pools, queues, autoscaling, notes, busy = _shape(study, kept)
    delay, pull, tnotes = _scale_timing(kept_study)
    notes += tnotes + ([start_note] if start_note else [])
    for name in autoscaling:
        pools[name].update(
            scale_up_delay=delay,
            image_pull=pull,
            delay_jitter=_calibrated_autoscaling_pool().delay_jitter,
        )
    for spec in pools.values():
        spec.setdefault("cores_per_node", 4.0)
    profiles, pnotes = _profiles(kept, seq, start_s, lag_s)
    notes += pnotes
    contexts, target = _contexts_and_target(study, queues, autoscaling)
    sc = parse_scenario(
        {
            "name": "whatif",
            "profile": None,
            "start_overhead_s": start_s,
            "completion_lag_s": lag_s,
            "start_load_exponent": 0.5,  # a first guess: fit() chooses it on the kept phases
            # the emulator's calibrated spreads (docs/CALIBRATION.md), not refitted per study
            "start_sigma": _calibrated().start_sigma,
            "run_noise_sigma": _calibrated().run_noise_sigma,
            "default_job": {
                "elapsed_s": statistics.median(pr.elapsed_s for pr in profiles.values())
            },
            "jobs": {k: v.model_dump(exclude_none=True) for k, v in profiles.items()},
            "pools": pools,
            "queues": queues,
            "contexts": contexts,
        },
        f"whatif fit of {study.source}",
    )
    spacing, gap = _client_pace(kept, notes)
    history = sorted(
        [blind if p.name == leave_out and blind is not None else p for p in study.phases],
        key=lambda p: p.start_abs,
    )
    baseline = next((p.context for p in study.phases if p.sequential), None)
    return Fit(
        sc,
        target.context,
        autoscaling,
        notes,
        spacing,
        gap,
        history,
        leave_out,
        _unidentified(study, blind, busy),
        study.unit,
        baseline,
        "batch" if target.mode == "batch" else "window",
    )


# ----- replays ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    makespan_s: float
    node_minutes: float
    queue_wait_p95_s: float
    jobs: tuple[SimJob, ...] = ()


def _drain(cluster: Cluster, jobs: list[SimJob]) -> None:
    while any(j.end_t is None for j in jobs):
        t = cluster.next_event_time()
        if math.isinf(t):
            raise RuntimeError("model stalled with unfinished jobs")
        cluster.advance(t)


def _outcome(cluster: Cluster, jobs: list[SimJob], pools: set[str]) -> Outcome:
    lag = cluster.scenario.completion_lag_s
    t0 = min(j.submit_t for j in jobs)
    t1 = max(j.end_t or 0.0 for j in jobs) + lag
    removed = {e["node"]: e["t"] for e in cluster.node_events if e["event"] == "remove"}
    node_s = sum(
        max(0.0, min(removed.get(n.name, t1), t1) - max(n.requested_t, t0))
        for n in cluster.nodes
        if n.pool in pools
    )
    waits = [(j.dispatch_t or 0.0) - j.submit_t for j in jobs]
    return Outcome(t1 - t0, node_s / 60, quantiles(waits, (0.95,))[0], tuple(jobs))


def _phase_start(
    fit: Fit, prev: MeasuredPhase | None, phase: MeasuredPhase, prev_start: float, prev_end: float
) -> float:
    """When ``phase`` begins on the model's clock: the measured pause after the previous
    phase's end; after a left-out phase (whose end is an outcome) the measured distance
    between the two phases' first submissions, never before the model ended it."""
    if prev is None:
        return 0.0
    if prev.name == fit.blind:
        return max(prev_end, prev_start + phase.start_abs - prev.start_abs)
    return prev_end + max(0.0, phase.start_abs - prev.end_abs)


def _submit_phase(fit: Fit, cluster: Cluster, phase: MeasuredPhase, start: float) -> list[SimJob]:
    jobs: list[SimJob] = []
    if not phase.sequential:
        return [cluster.submit(start + mj.submit, mj.name, phase.context) for mj in phase.jobs]
    t = start
    for i, mj in enumerate(phase.jobs):
        job = cluster.submit(t, mj.name, phase.context)
        jobs.append(job)
        _drain(cluster, [job])
        gap = phase.gap_s[i] if i < len(phase.gap_s) else fit.client_gap_s
        t = (job.end_t or 0.0) + cluster.scenario.completion_lag_s + gap
    return jobs


def _configured_nodes_up(fit: Fit, cluster: Cluster, phase: MeasuredPhase) -> None:
    """Bring the autoscaling pools of ``phase``'s queue up to the nodes its inventory lists
    (configuration, not outcome): Ready now, image not pulled unless the history pulled it."""
    ctx = next(c for c in cluster.scenario.contexts if c.name == phase.context)
    for pool in cluster.scenario.queues[ctx.queue].pools:
        if pool not in fit.autoscaling_pools:
            continue
        configured = sum(1 for h in phase.inventory if (pp := _pool_of(h)) and pp[0] == pool)
        live = sum(1 for n in cluster.live_nodes() if n.pool == pool)
        for _ in range(configured - live):
            cluster.add_ready_node(pool, image_ready=False)


def replay_history(
    fit: Fit, scenario: Scenario, until: str | None = None, configured_start: bool = False
) -> dict[str, Outcome]:
    """The study's phases as one continuous cluster history: the measured pauses between them,
    nodes a phase scaled up kept for the pool's scale-down delay, the autoscaler's own
    decisions; nothing of any phase's outcome sets another's start state.

    ``configured_start``: the left-out phase starts with its autoscaling pools at the size its
    inventory lists (the other end of a start state the kept phases cannot pin down)."""
    cluster = Cluster(scenario)
    out: dict[str, Outcome] = {}
    prev: MeasuredPhase | None = None
    prev_start = prev_end = 0.0
    for phase in fit.history:
        start = _phase_start(fit, prev, phase, prev_start, prev_end)
        if start > cluster.now:
            cluster.advance(start)
        if configured_start and phase.name == fit.blind:
            _configured_nodes_up(fit, cluster, phase)
        jobs = _submit_phase(fit, cluster, phase, start)
        _drain(cluster, jobs)
        ctx = next(c for c in scenario.contexts if c.name == phase.context)
        out[phase.name] = _outcome(cluster, jobs, set(scenario.queues[ctx.queue].pools))
        prev, prev_start = phase, start
        prev_end = max(j.end_t or 0.0 for j in jobs) + scenario.completion_lag_s
        if phase.name == until:
            break
    return out


def _with_cores(sc: Scenario, cores: dict[str, float], exponent: float | None = None) -> Scenario:
    pools = {
        n: p.model_copy(update={"cpu_capacity": cores[n]}) if n in cores else p
        for n, p in sc.pools.items()
    }
    update: dict[str, Any] = {"pools": pools}
    if exponent is not None:
        update["start_load_exponent"] = exponent
    return sc.model_copy(update=update)


def _score(fit: Fit, sc: Scenario, phases: list[MeasuredPhase], seeds: Sequence[int]) -> float:
    total = 0.0
    for seed in seeds:
        outs = replay_history(fit, sc.model_copy(update={"seed": seed}), phases[-1].name)
        for p in phases:
            o = outs[p.name]
            total += 3 * abs(o.makespan_s - p.makespan_s) / p.makespan_s
            emu_wait = [round((j.dispatch_t or 0) - j.submit_t) for j in o.jobs]
            emu_run = [round((j.end_t or 0) - (j.run_t or 0)) for j in o.jobs]
            total += ks_2samp([j.pending for j in p.jobs], emu_wait)
            total += ks_2samp([j.running for j in p.jobs], emu_run)
    return total / len(seeds)


def fit(study: Study, leave_out: str | None = None, seeds: Sequence[int] = (0, 1)) -> Fit:
    """Fit the model to ``study`` without phase ``leave_out`` (rules: module docstring)."""
    if leave_out is not None:
        study.phase(leave_out)  # one clear line when it does not exist
    f = _base_scenario(study, leave_out)
    sc = f.scenario
    conc = [p for p in f.history if not p.sequential and p.name != leave_out]
    pools_used = sorted(
        {pl for p in conc for h in p.hosts if (parsed := _pool_of(h)) for pl in [parsed[0]]}
    )
    cores = dict.fromkeys(sc.pools, 1.5)
    if conc:
        grid = [0.5, 0.7, 0.9, 1.1, 1.3, 1.6, 2.0, 2.5, 3.2, 4.0]
        for _ in range(2):  # coordinate descent: a pool's cores, then the next
            for pool in pools_used:
                best = min(
                    grid, key=lambda c: _score(f, _with_cores(sc, {**cores, pool: c}), conc, seeds)
                )
                cores[pool] = best
        exponent = min(
            (0.3, 0.5, 0.7), key=lambda e: _score(f, _with_cores(sc, cores, e), conc, seeds)
        )
        sc = _with_cores(sc, cores, exponent)
        f.notes.append(
            "cores fitted per pool: "
            + ", ".join(f"{n} {cores[n]:g}" for n in pools_used)
            + f"; start-up load exponent {exponent:g}"
        )
    else:
        f.notes.append("no concurrent phase to fit contention on: each pool's cores assumed 1.5")
        sc = _with_cores(sc, cores)
    f.scenario = sc
    return f


# ----- what-if configurations -------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    median: float
    low: float  # 10th percentile over replicates
    high: float  # 90th percentile

    @classmethod
    def of(cls, xs: Sequence[float]) -> Interval:
        lo, mid, hi = quantiles(xs, (0.1, 0.5, 0.9))
        return cls(mid, lo, hi)


@dataclass(frozen=True)
class ConfigResult:
    concurrency: int | None  # None: all at once
    max_nodes: int
    makespan_s: Interval
    node_minutes: Interval
    queue_wait_p95_s: Interval
    fastest: bool = False
    cheapest_near_fastest: bool = False
    cost: Interval | None = None  # node-minutes / 60 x the node-hour price, when one is given
    context: str = ""  # the compute context it is replayed in (:func:`replay_context`)
    baseline: bool = False  # the sequential baseline: replayed in the sequential phase's context

    def as_dict(self) -> dict[str, Any]:
        def iv(i: Interval, digits: int = 1) -> dict[str, float]:
            return {
                "median": round(i.median, digits),
                "p10": round(i.low, digits),
                "p90": round(i.high, digits),
            }

        return {
            "concurrency": self.concurrency if self.concurrency is not None else "all",
            "max_nodes": self.max_nodes,
            "makespan_seconds": iv(self.makespan_s),
            "node_minutes": iv(self.node_minutes),
            "queue_wait_p95_seconds": iv(self.queue_wait_p95_s),
            "cost": iv(self.cost, 2) if self.cost is not None else None,
            "fastest": self.fastest,
            "cheapest_within_10_percent": self.cheapest_near_fastest,
            "context": self.context,
            "baseline": self.baseline,
        }


def configured(
    fit: Fit, max_nodes: int, node_cores: float | None, measured_node_cores: float
) -> Scenario:
    """The fitted scenario with the autoscaling pools at ``max_nodes`` and ``node_cores``."""
    sc = fit.scenario
    pools = {}
    for name, spec in sc.pools.items():
        update: dict[str, Any] = {}
        if name in fit.autoscaling_pools:
            update["max_nodes"] = max_nodes
            if node_cores is not None:
                k = node_cores / measured_node_cores
                update.update(
                    cores_per_node=node_cores,
                    cpu_capacity=spec.job_cores * k,
                    slots_per_node=max(1, round(spec.slots_per_node * k)),
                )
        pools[name] = spec.model_copy(update=update)
    queues = {}
    for qname, q in sc.queues.items():
        if q.max_nodes and any(pl in fit.autoscaling_pools for pl in q.pools):
            fixed = sum(pools[pl].max_nodes for pl in q.pools if pl not in fit.autoscaling_pools)
            q = q.model_copy(update={"max_nodes": fixed + max_nodes})
        queues[qname] = q
    return sc.model_copy(update={"pools": pools, "queues": queues})


# ``whatif`` prints, for N jobs on a cap of m nodes, the makespan per seed as
#     min over caps k <= m of ( max over prefixes j <= N of R(k, j) ),
# R(k, j) the makespan of the first j jobs alone on a cap of k (same seed): monotone in the
# jobs (a maximum over more prefixes) and in the nodes (a minimum over more caps) by
# construction. Computing every R(k, j) is a quadratic number of replays; instead a prefix is
# replayed only when a proven upper bound of its makespan (:func:`_makespan_bound`) does not
# already rule it out, and a cap is replayed only when it can change what a seed gives.
BOUND_SLACK = 1e-6  # s: floating-point margin on the upper bound (it must never undershoot)


@dataclass
class _Sweep:
    """What one seed's replays at one cap touched: enough to tell when a larger cap changes
    nothing (no replay created as many nodes as the cap, no bound relied on the pool being
    at the cap)."""

    nodes: int = 0  # most nodes any autoscaling pool had requested in a replay (ever created)
    at_cap: bool = False  # a prefix bound assumed a pool could not grow
    replayed_prefixes: int = 0  # prefixes drained (their bound did not rule them out)

    def saw(self, cluster: Cluster, autoscaling: Sequence[str]) -> None:
        for pool in autoscaling:
            self.nodes = max(self.nodes, sum(1 for n in cluster.nodes if n.pool == pool))

    def same_above(self, cap: int) -> bool:
        """Every cap above ``cap`` replays this seed identically: the cap never bound."""
        return self.nodes < cap and not self.at_cap


def _shared_config(cluster: Cluster) -> dict[int, Any]:
    """deepcopy memo: the scenario and its specs are configuration, never changed by a replay,
    so a copy of the cluster shares them (copying them was most of a copy's cost); ended jobs
    never change again and a drain submits nothing (the job registries stay as they are)."""
    sc = cluster.scenario
    shared: list[Any] = [sc, *sc.pools.values(), *sc.queues.values(), *sc.contexts]
    shared += [*cluster.profiles.values(), *cluster.contexts.values()]
    shared += [j for j in cluster.job_list if j.terminal]
    shared += [cluster.jobs, cluster.by_orch_id, cluster.job_list]
    memo: dict[int, Any] = {id(o): o for o in shared}
    rng = random.Random()  # its state copied in C: deepcopy would copy 625 ints one by one
    rng.setstate(cluster.rng.getstate())
    memo[id(cluster.rng)] = rng
    memo[id(cluster.node_events)] = list(cluster.node_events)  # its entries are never changed
    return memo


def _slowdown(job: SimJob, load: float) -> float:
    """Seconds per second of run work alone at a node load of at most ``load`` (model rule)."""
    d = min(1.0, job.demand)
    return (1.0 - d) + d * load


def _worst_load(demands: Sequence[float], slots: int, cores: float) -> float:
    """The most load ``slots`` of these jobs can put on a node of ``cores`` (at least 1)."""
    return max(1.0, sum(sorted(demands, reverse=True)[:slots]) / cores)


def _held_end_bound(cluster: Cluster, job: SimJob, load: float) -> float:
    """Latest end of a job on a node whose load stays at most ``load`` from now on: the model's
    speeds are ``1 / slowdown`` running and ``load ** -exponent`` starting, its start-up work
    ``overhead * exp(sigma (1 - 1/load)^2 z)`` drawn when it starts."""
    sc = cluster.scenario
    now = cluster.now
    start_slow = load**sc.start_load_exponent
    run_s = job.run_work * _slowdown(job, load)
    node = job.node
    assert node is not None
    if job in node.active:
        left = max(0.0, job.remaining - (now - node.last_t) * job.speed)
        if job.state == "running":
            return now + left * _slowdown(job, load)
        return now + left * start_slow + run_s
    # on a node still pulling its image: it starts when the pull ends
    return max(now, node.warm_t) + _start_work_bound(cluster, job, load) * start_slow + run_s


def _start_work_bound(cluster: Cluster, job: SimJob, load: float) -> float:
    sc = cluster.scenario
    spread = sc.start_sigma * (1.0 - 1.0 / load) ** 2
    return sc.start_overhead_s * math.exp(max(0.0, spread * job.start_z))


NODE_BOUND_ROUNDS = 3  # tightening rounds of a node's end bounds (each one valid)


def _work_done_at(t: float, work: float, rate: Any, breaks: Sequence[float]) -> float:
    """When ``work`` is done from ``t`` at ``rate(t)``, a rate constant between ``breaks``."""
    for b in breaks:
        if b <= t:
            continue
        r = rate(t)
        if work <= (b - t) * r:
            return t + work / r
        work -= (b - t) * r
        t = b
    return t + work / rate(t)


def _node_end_bounds(cluster: Cluster, node: Any) -> list[float]:
    """Latest ends of the jobs a node holds, nothing more coming to it (no job waits).

    First at the load of all of them together; then, round by round, at the load of those
    whose bound end is still ahead (a job ends no later than its bound, so the node's load at
    ``t`` is at most the demand of the jobs whose bound is after ``t``): each round's bounds
    are valid, and no larger than the last's."""
    sc = cluster.scenario
    held: list[SimJob] = list(node.jobs)
    cores = node.spec.job_cores
    load0 = _worst_load([j.demand for j in held], node.spec.slots_per_node, cores)
    ends = [_held_end_bound(cluster, j, load0) for j in held]
    exponent = sc.start_load_exponent
    for _ in range(NODE_BOUND_ROUNDS if len(held) > 1 else 0):
        breaks = sorted(set(ends))
        bound_ends = list(ends)

        def load_at(t: float, bound_ends: list[float] = bound_ends) -> float:
            return max(1.0, sum(j.demand for j, e in zip(held, bound_ends, strict=True) if e > t)
                       / cores)  # fmt: skip

        for i, j in enumerate(held):
            ends[i] = min(ends[i], _job_end_at(cluster, j, load_at, breaks, exponent))
    return ends


def _job_end_at(
    cluster: Cluster, job: SimJob, load_at: Any, breaks: Sequence[float], exponent: float
) -> float:
    """A held job's latest end when the node's load at ``t`` is at most ``load_at(t)``."""
    now = cluster.now
    node = job.node
    assert node is not None

    def start_rate(t: float) -> float:
        return float(load_at(t) ** -exponent)

    def run_rate(t: float) -> float:
        return 1.0 / _slowdown(job, load_at(t))

    if job in node.active:
        left = max(0.0, job.remaining - (now - node.last_t) * job.speed)
        if job.state == "running":
            return _work_done_at(now, left, run_rate, breaks)
        t = _work_done_at(now, left, start_rate, breaks)
    else:  # on a node still pulling its image: it starts when the pull ends
        t0 = max(now, node.warm_t)
        t = _work_done_at(t0, _start_work_bound(cluster, job, load_at(t0)), start_rate, breaks)
    return _work_done_at(t, job.run_work, run_rate, breaks)


def _can_queue_bound(cluster: Cluster, queue: str, sweep: _Sweep) -> bool:
    """Waiting jobs get a bound only when the queue's nodes are fixed from now on: every pool
    at its maximum, no node coming or pulling, no host limit below them.
    Then each waiting job takes the first slot that frees, in queue order (the model's rule)."""
    sc = cluster.scenario
    qspec = sc.queues[queue]
    live = [n for n in cluster.nodes if n.removed_t is None and n.pool in qspec.pools]
    if any(not n.ready or not n.warm(cluster.now) for n in live):
        return False
    for pool in qspec.pools:
        if sum(1 for n in live if n.pool == pool) < sc.pools[pool].max_nodes:
            return False
    if qspec.max_nodes and qspec.max_nodes < len(live):
        return False
    sweep.at_cap = True
    return True


def _waiting_end_bounds(
    cluster: Cluster, queue: str, held: list[SimJob], waiting: list[SimJob], sweep: _Sweep
) -> list[float] | None:
    """Latest ends of the held and waiting jobs, the queue's nodes fixed from now on (None
    otherwise, or with no slot at all): every job at the worst load any node can see, the
    waiting ones in queue order on the first slot that frees."""
    if not _can_queue_bound(cluster, queue, sweep):
        return None
    sc = cluster.scenario
    qpools = sc.queues[queue].pools
    demands = [j.demand for j in held] + [j.demand for j in waiting]
    load = max(_worst_load(demands, sc.pools[p].slots_per_node, sc.pools[p].job_cores)
               for p in qpools)  # fmt: skip
    ends = [_held_end_bound(cluster, j, load) for j in held]
    frees: list[float] = []
    for node in cluster.nodes:
        if node.removed_t is None and node.pool in qpools:
            frees += [_held_end_bound(cluster, j, load) for j in node.jobs]
            frees += [cluster.now] * node.free_slots()
    if not frees:
        return None
    heapq.heapify(frees)
    start_slow = load**sc.start_load_exponent
    for j in waiting:
        at = heapq.heappop(frees)
        end = at + _start_work_bound(cluster, j, load) * start_slow
        end += j.run_work * _slowdown(j, load)
        ends.append(end)
        heapq.heappush(frees, end)
    return ends


def _makespan_bound(cluster: Cluster, jobs: list[SimJob], sweep: _Sweep) -> float | None:
    """An upper bound of the makespan of ``jobs`` were nothing more submitted, or None when
    the state allows none cheaply (jobs waiting while nodes may still come).

    Proof sketch: with nothing submitted, a node only ever holds jobs it holds now or that
    wait now, so its load never exceeds the largest ``slots`` of their demands over its cores;
    at that load every job's remaining start-up and run work takes longest (with no job
    waiting, tightened per node: :func:`_node_end_bounds`). Waiting jobs, on a fixed set of
    warm nodes, start in queue order on the first slot that frees: list scheduling of
    independent jobs on identical slots, where later frees and longer jobs never start
    anyone sooner, so the same schedule with the bounds is a bound."""
    queue = cluster.contexts[jobs[0].context].queue
    if any(q for name, q in cluster.pending.items() if name != queue):
        return None  # another queue's backlog may come onto these nodes
    waiting = list(cluster.pending[queue])
    held: list[SimJob] = [j for j in jobs if j.end_t is None and j.node is not None]
    more: list[float] | None
    if waiting:
        more = _waiting_end_bounds(cluster, queue, held, waiting, sweep)
    else:
        nodes = {id(j.node): j.node for j in held}
        more = [e for node in nodes.values() for e in _node_end_bounds(cluster, node)]
    ends = [j.end_t for j in jobs if j.end_t is not None]
    if more is None or len(ends) + len(more) < len(jobs):
        return None  # a job neither ended, held nor waiting in its queue: no bound
    last = max(ends + more)
    lag = cluster.scenario.completion_lag_s
    return last + BOUND_SLACK * (1.0 + abs(last)) + lag - min(j.submit_t for j in jobs)


def _prefix_makespan(
    cluster: Cluster, jobs: list[SimJob], ceiling: float, sweep: _Sweep, autoscaling: list[str]
) -> float | None:
    """The makespan had the workload stopped at ``jobs``, when it may exceed ``ceiling``; None
    when it is proven not to (its bound, now or at any step of its drain, is at most that)."""
    bound = _makespan_bound(cluster, jobs, sweep)
    if bound is not None and bound <= ceiling:
        return None
    clone, clone_jobs = copy.deepcopy((cluster, jobs), _shared_config(cluster))
    sweep.replayed_prefixes += 1
    steps = 0
    while any(j.end_t is None for j in clone_jobs):
        t = clone.next_event_time()
        if math.isinf(t):
            raise RuntimeError("model stalled with unfinished jobs")
        clone.advance(t)
        steps += 1
        if steps % BOUND_EVERY:
            continue
        bound = _makespan_bound(clone, clone_jobs, sweep)
        if bound is not None and bound <= ceiling:
            sweep.saw(clone, autoscaling)
            return None
    sweep.saw(clone, autoscaling)
    lag = clone.scenario.completion_lag_s
    return max(j.end_t or 0.0 for j in clone_jobs) + lag - min(j.submit_t for j in clone_jobs)


def _replay_workload(
    fit: Fit,
    sc: Scenario,
    names: list[str],
    concurrency: int | None,
    on_submit: Any = None,
) -> tuple[Cluster, list[SimJob]]:
    """The workload in :func:`replay_context`, at most ``concurrency`` in flight (None: all),
    the first burst ``submit_spacing_s`` apart, then (the runner's modes, ``fit.mode``) the
    next job when one ends, or the next wave when all have ended, after the client's gap.
    ``on_submit(cluster, jobs)`` is called before
    each submission but the first, the cluster as it is with ``jobs`` submitted."""
    cluster = Cluster(sc)
    ctx = replay_context(fit, concurrency)
    limit = len(names) if concurrency is None else concurrency
    # batch: a wave of ``limit`` goes in once every job of the previous one has ended
    room = 1 if fit.mode == "batch" else limit
    jobs: list[SimJob] = []
    t = 0.0
    for i, name in enumerate(names):
        if i < limit:
            t = i * fit.submit_spacing_s
        elif fit.mode == "batch" and i % limit:  # the rest of a wave, right behind its first
            t = t + fit.submit_spacing_s
        else:
            while sum(1 for j in jobs if j.end_t is None) >= room:
                t_next = cluster.next_event_time()
                if math.isinf(t_next):
                    raise RuntimeError("model stalled with jobs in flight")
                cluster.advance(t_next)
            last_end = max((j.end_t for j in jobs if j.end_t is not None), default=cluster.now)
            t = max(cluster.now, last_end + sc.completion_lag_s + fit.client_gap_s)
        if jobs and on_submit is not None:
            on_submit(cluster, jobs)
        jobs.append(cluster.submit(t, name, ctx))
    _drain(cluster, jobs)
    return cluster, jobs


@dataclass
class _Swept:
    """One seed's replay at one cap: the workload's own outcome, and the largest makespan
    over its prefixes (``exact``), or a floor of it (the sweep gave up once past a level)."""

    outcome: Outcome  # the whole workload's replay (its makespan, node-minutes, waits)
    span_s: float  # max over prefixes, or at least this when not exact
    exact: bool
    sweep: _Sweep


BOUND_EVERY = 4  # drain steps between two bound checks (a check costs about a step)


def _replay_swept(
    fit: Fit,
    sc: Scenario,
    names: list[str],
    concurrency: int | None,
    give_up_at: float = math.inf,
) -> _Swept:
    """The workload's replay and its prefix maximum, unless that reaches ``give_up_at``."""
    sweep = _Sweep()
    cluster, jobs = _replay_workload(fit, sc, names, concurrency)
    sweep.saw(cluster, fit.autoscaling_pools)
    ctx = replay_context(fit, concurrency)
    q = next(c.queue for c in sc.contexts if c.name == ctx)
    out = _outcome(cluster, jobs, set(sc.queues[q].pools))
    ceiling = out.makespan_s

    def prefix(cluster: Cluster, jobs: list[SimJob]) -> None:
        nonlocal ceiling
        if ceiling >= give_up_at:
            return
        span = _prefix_makespan(cluster, jobs, ceiling, sweep, fit.autoscaling_pools)
        if span is not None:
            ceiling = max(ceiling, span)

    if ceiling < give_up_at:
        # the same replay again (same seed: the same history), each prefix checked on the way
        _replay_workload(fit, sc, names, concurrency, prefix)
    return _Swept(out, ceiling, ceiling < give_up_at, sweep)


def replay_config(fit: Fit, sc: Scenario, names: list[str], concurrency: int | None) -> Outcome:
    """The workload in the target context, at most ``concurrency`` in flight (None: all).

    The makespan is the largest over the workload's prefixes (the first k jobs, k = 1..N, on
    the same seed): one more job may bring a node sooner that an earlier job then uses (the
    autoscaler scales on the backlog), which would print a shorter makespan for more work.
    What whatif prints for N jobs is the time N jobs need at most, never less than for fewer:
    monotone in the jobs by construction (docs/CALIBRATION.md). A prefix is drained only when
    its proven upper bound does not already keep it under the largest so far."""
    swept = _replay_swept(fit, sc, names, concurrency)
    return dataclasses.replace(swept.outcome, makespan_s=swept.span_s)


def _fewest_nodes_bound(per_cap: list[list[Outcome]]) -> list[Outcome]:
    """The last cap's outcomes, each seed's makespan the least over the caps 1..m.

    A cap of m nodes lets the pool run on fewer; on nodes shared by several jobs, the
    model's packing (first free slot) can make one more node slower by CPU contention -- a
    list-scheduling anomaly, rare (under 1 % of random configurations) but real. What
    whatif prints for m nodes is therefore what a cap of at most m gives on the same seed:
    monotone in the nodes by construction, as the prefix maximum is in the jobs."""
    return [
        dataclasses.replace(seeds[-1], makespan_s=min(o.makespan_s for o in seeds))
        for seeds in zip(*per_cap, strict=True)
    ]


@dataclass
class WhatIf:
    fit: Fit
    configs: list[ConfigResult]
    replicates: int
    jobs: int
    currency: str | None = None  # set when a node-hour price was given
    emulated: str | None = None  # "emulated run: scenario ..., speed factor ..." or None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.fit.scenario.source.removeprefix("whatif fit of "),
            "target_context": self.fit.target_context,
            # concurrency 1 is the sequential baseline, replayed in this context (None: no
            # sequential phase, concurrency 1 in the target context like every level)
            "baseline_context": self.fit.baseline_context,
            "jobs": self.jobs,
            "replicates": self.replicates,
            # seconds of the modelled cluster for an emulated run (served s / speed factor)
            "unit": "model_seconds" if self.fit.unit == "model s" else "seconds",
            "mode": self.fit.mode,  # how levels above 1 submit: window or batch (waves)
            "emulated": self.emulated,
            "currency": self.currency,
            "notes": self.fit.notes,
            "rule": "fastest: least median makespan; cheapest: least median node-minutes among "
            "configurations within 10 % of the fastest's makespan; intervals p10-p90 "
            "over replicates",
            "configurations": [c.as_dict() for c in self.configs],
        }


def run_whatif(
    fit: Fit,
    concurrency: Sequence[int | None],
    max_nodes: Sequence[int],
    node_cores: float | None = None,
    jobs_multiplier: int = 1,
    replicates: int = 20,
    measured_node_cores: float = 4.0,
    node_hour_price: float | None = None,
    currency: str | None = None,
    emulated: str | None = None,
    workload: Sequence[str] | None = None,
) -> WhatIf:
    """``workload``: the job names to replay (default: the study's jobs, in the measured order)."""
    seq_names = list(workload) if workload is not None else list(fit.scenario.jobs)
    names = [n for _ in range(jobs_multiplier) for n in seq_names]
    results = []
    scenarios: dict[tuple[int, int], Scenario] = {}
    plain: dict[tuple[int | None, int, int], Outcome] = {}
    swept: dict[tuple[int | None, int, int], _Swept] = {}
    # (concurrency, seed) -> a cap every larger one replays identically (the cap never bound):
    # for the workload alone, and for it and its prefixes
    plain_settled: dict[tuple[int | None, int], int] = {}
    settled: dict[tuple[int | None, int], int] = {}

    def scenario(cap: int, seed: int) -> Scenario:
        if (cap, seed) not in scenarios:
            sc = configured(fit, cap, node_cores, measured_node_cores)
            scenarios[cap, seed] = sc.model_copy(update={"seed": seed})
        return scenarios[cap, seed]

    def whole(cap: int, c: int | None, seed: int) -> Outcome:
        """The workload's own replay (no prefix): its outcome and a floor of the cap's span."""
        cap = min(cap, plain_settled.get((c, seed), cap))
        if (c, seed, cap) not in plain:
            sc = scenario(cap, seed)
            cluster, jobs = _replay_workload(fit, sc, names, c)
            ctx = replay_context(fit, c)
            q = next(x.queue for x in sc.contexts if x.name == ctx)
            plain[c, seed, cap] = _outcome(cluster, jobs, set(sc.queues[q].pools))
            sweep = _Sweep()
            sweep.saw(cluster, fit.autoscaling_pools)
            if sweep.same_above(cap):
                plain_settled[c, seed] = cap
        return plain[c, seed, cap]

    def span(cap: int, c: int | None, seed: int, give_up_at: float) -> _Swept:
        cap = min(cap, settled.get((c, seed), cap))
        known = swept.get((c, seed, cap))
        if known is None or not (known.exact or known.span_s >= give_up_at):
            known = _replay_swept(fit, scenario(cap, seed), names, c, give_up_at)
            swept[c, seed, cap] = known
            if known.exact and known.sweep.same_above(cap):  # a partial sweep saw too little
                settled[c, seed] = cap
        return known

    def fewest_nodes(m: int, c: int | None, seed: int) -> Outcome:
        """The least over caps 1..m of each cap's prefix maximum (:func:`_fewest_nodes_bound`),
        found branch and bound: a cap whose workload alone already takes at least the best
        so far cannot lower it, and a cap's prefix sweep stops once it reaches the best."""
        # no autoscaling pool: the cap changes nothing, one replay per seed suffices
        caps = list(range(1, m + 1)) if fit.autoscaling_pools else [m]
        best = math.inf
        for cap in sorted(caps, key=lambda k: (whole(k, c, seed).makespan_s, -k)):
            if whole(cap, c, seed).makespan_s >= best:
                break
            s = span(cap, c, seed, best)
            if s.exact:
                best = min(best, s.span_s)
        return dataclasses.replace(whole(m, c, seed), makespan_s=best)

    for m in max_nodes:
        for c in concurrency:
            outs = [fewest_nodes(m, c, s) for s in range(replicates)]
            results.append(
                ConfigResult(
                    c,
                    m,
                    Interval.of([o.makespan_s for o in outs]),
                    Interval.of([o.node_minutes for o in outs]),
                    Interval.of([o.queue_wait_p95_s for o in outs]),
                    cost=None
                    if node_hour_price is None
                    else Interval.of([o.node_minutes / 60 * node_hour_price for o in outs]),
                    context=replay_context(fit, c),
                    baseline=replay_context(fit, c) != fit.target_context,
                )
            )
    fastest = min(results, key=lambda r: r.makespan_s.median)
    near = [
        r
        for r in results
        if r.makespan_s.median <= fastest.makespan_s.median * (1 + CHEAPEST_WITHIN)
    ]
    cheapest = min(near, key=lambda r: (r.node_minutes.median, r.makespan_s.median))
    marked = [
        ConfigResult(
            r.concurrency,
            r.max_nodes,
            r.makespan_s,
            r.node_minutes,
            r.queue_wait_p95_s,
            r is fastest,
            r is cheapest,
            r.cost,
            r.context,
            r.baseline,
        )
        for r in results
    ]
    return WhatIf(
        fit,
        marked,
        replicates,
        len(names),
        currency if node_hour_price is not None else None,
        emulated,
    )


@dataclass(frozen=True)
class LeaveOut:
    """A phase predicted blind: fitted without it, replayed from its inputs only."""

    phase: str
    measured_makespan_s: float  # for the error only; never an input of the prediction
    predicted: Interval | None  # None: not identifiable (``reason``)
    reason: str | None = None
    # the start state is not identifiable: ``predicted`` starts from the nodes the kept history
    # leaves (the slow end), ``configured_start`` from every node the pool's inventory lists
    # (the fast end); ``start_state`` says why the two differ
    configured_start: Interval | None = None
    start_state: str | None = None

    @property
    def error(self) -> float | None:
        if self.predicted is None:
            return None
        return (self.predicted.median - self.measured_makespan_s) / self.measured_makespan_s

    @property
    def configured_start_error(self) -> float | None:
        if self.configured_start is None:
            return None
        return (self.configured_start.median - self.measured_makespan_s) / self.measured_makespan_s


START_STATE_MATTERS = 0.05  # the two start states' medians differ by more: say so


START_STATE_REASON = (
    "start state not identifiable: whether the autoscaler kept nodes from an earlier "
    "backlog (requested past the queue's host limit, never used) leaves no trace in the "
    "kept phases' jobs; slow end: only the nodes the kept history leaves, fast end: "
    "every node of the pool's inventory up (image not pulled)"
)


def leave_out(study: Study, phase: str, replicates: int = 10) -> tuple[LeaveOut, Fit]:
    """Fit without ``phase``, then predict its makespan from its inputs alone (jobs, context,
    mode, submission times, node inventory) after the kept phases' history before it.

    Its autoscaling pools' start state is bracketed when the kept phases cannot pin it down:
    from the model's own history (nodes kept for the scale-down delay) and from every node
    the pool's inventory lists; both are reported when their medians differ by more than 5 %."""
    f = fit(study, leave_out=phase)
    measured = study.phase(phase).makespan_s
    if f.unidentified is not None:
        return LeaveOut(phase, measured, None, f.unidentified), f
    seeds = range(replicates)
    history = [replay_history(f, f.scenario.model_copy(update={"seed": s}), phase) for s in seeds]
    predicted = Interval.of([o[phase].makespan_s for o in history])
    configured = Interval.of(
        [
            replay_history(f, f.scenario.model_copy(update={"seed": s}), phase, True)[
                phase
            ].makespan_s
            for s in seeds
        ]
    )
    if abs(configured.median - predicted.median) <= START_STATE_MATTERS * predicted.median:
        return LeaveOut(phase, measured, predicted), f
    return LeaveOut(phase, measured, predicted, None, configured, START_STATE_REASON), f
