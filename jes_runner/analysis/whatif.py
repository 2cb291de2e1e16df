"""What-if: fit the cluster model to a measured run, then replay other configurations.

Rules, in the order they are applied:

* **Input** (:func:`load_study`): a jes-runner results file (any version
  ``load_results`` reads), the shared measurements' format (``phases`` mapping
  name -> ``{context, jobs: [{name, submitted, server_elapsed_s, orchestrator}]}``)
  or the emulator's condensed copy of it. Each becomes a :class:`Study`: phases
  of jobs with server-side queue wait, start-up, run time and host. A phase in
  which no two jobs overlapped is sequential.
* **Fit** (:func:`fit`), from the phases given (``leave_out`` drops one first):

  - each job's run time alone: its run time in the sequential phase; CPU demand
    from its CPU time when the data has one; start-up median and completion lag
    from the sequential phase too. Without a sequential phase the run time alone
    cannot be told from contention: the least-contended concurrent phase's run
    times are taken as run times alone (an upper bound; the output says so);
  - cluster shape from the hosts of *every* phase, the left-out one included
    (leave-out tests the timing model, not the shape inference) (``aks-<pool>-<vmss>-vmss<index>``): a pool
    whose hosts ran the sequential phase is fixed at that many nodes, the others
    autoscale from 0 to the most hosts seen; slots per node = the most jobs a
    host held at once; a queue's pools in order of first use, and a host limit
    when it used fewer hosts than its pools had while its jobs waited;
  - scale-up delay: node added -> Ready from a results file's node timeline when
    it has some, else first dispatch on a host new in a phase minus the phase's
    first queue wait (the measured study has ONE such event); image pull: the
    first start-up on a host new to the run minus the start-up median;
  - contention (each pool's cores) and the start-up load exponent: a small grid
    replaying each concurrent phase present from its measured starting state
    (the nodes its first jobs found up), scored by makespan error and the KS
    statistics of queue wait and run time.
* **Replay** (:func:`run_whatif`): for each (concurrency, max nodes) pair,
  ``replicates`` seeds on the virtual clock from a cold autoscaling pool: the
  sequential phase's jobs x ``jobs_multiplier``, at most ``concurrency`` in
  flight (the runner's window mode), into the target context (the concurrent
  phase whose queue uses an autoscaling pool, else the last concurrent one).
  ``--max-nodes`` sets the autoscaling pools' maximum; ``--node-cores`` scales
  each pool's cores and slots from the assumed measured size
  (``measured_node_cores``, default 4: node sizes are not in the data).
* **Figures** per configuration, median and 10-90 % interval over replicates:
  makespan, node-minutes (existence of the target queue's pools' nodes from the
  first submission to the last end: what the pool cost), p95 queue wait. Marked:
  the fastest (least median makespan) and the cheapest within 10 % of it (least
  node-minutes among configurations whose makespan is within 10 % of the fastest).

Nothing here reads the wall clock; the same input and seeds give the same answer.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from jes_runner.emulator.fidelity import ks_2samp, quantiles
from jes_runner.emulator.model import Cluster, SimJob
from jes_runner.emulator.scenario import JobProfile, Scenario, parse_scenario
from jes_runner.errors import JesError

HOST_RE = re.compile(r"^aks-(?P<pool>[a-z0-9]+)-(?P<vmss>[0-9]+)-vmss(?P<index>[0-9a-z]{6})$")
CHEAPEST_WITHIN = 0.10  # the cheapest configuration within 10 % of the fastest makespan
DEFAULT_SCALE_UP_DELAY = 275.0  # no scale-up in the data: the measured AKS delay (CALIBRATION.md)
DEFAULT_IMAGE_PULL = 78.0  # no cold start in the data: the measured one
DEFAULT_DELAY_JITTER = 0.15


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

    @property
    def makespan_s(self) -> float:
        return max(j.end for j in self.jobs) - min(j.submit for j in self.jobs)

    @property
    def sequential(self) -> bool:
        """No two jobs overlapped."""
        spans = sorted((j.submit, j.end) for j in self.jobs)
        return all(b[0] >= a[1] - 0.5 for a, b in zip(spans, spans[1:], strict=False))

    @property
    def queue(self) -> str | None:
        qs = [j.queue for j in self.jobs if j.queue]
        return statistics.mode(qs) if qs else None

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


def _ts(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _finish(name: str, context: str, rows: list[MeasuredJob]) -> MeasuredPhase:
    """Offsets from the phase's first submission; client gaps of a sequential phase."""
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
    phase = MeasuredPhase(name, context, jobs)
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
                sub, end = _ts(j.get("submitted")), _ts(j.get("ended"))
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
            t, node = _ts(e.get("time")), e.get("node")
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
            limits = o.get("limits") if isinstance(o.get("limits"), dict) else {}
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
            phases.append(_finish(view.name, view.context, rows))
    if not phases:
        raise JesError(
            f"{source}: no phase has completed jobs with orchestrator figures "
            "(queue wait, start-up, run time); whatif needs them"
        )
    return Study(source, phases, scale_ups)


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
    """The model fitted to a study: a scenario plus how to replay the study's phases."""

    scenario: Scenario
    target_context: str
    autoscaling_pools: list[str]
    start_nodes: dict[str, list[tuple[str, bool]]]  # phase -> [(pool, warm)] found up at its start
    notes: list[str]
    submit_spacing_s: float
    client_gap_s: float


def _pool_of(host: str | None) -> tuple[str, str, int] | None:
    m = HOST_RE.match(host or "")
    if not m:
        return None
    return m["pool"], m["vmss"], int(m["index"], 36)


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


def _shape(study: Study) -> tuple[dict[str, Any], dict[str, Any], list[str], list[str]]:
    """Pools and queues from the hosts; returns (pools, queues, autoscaling pools, notes)."""
    notes: list[str] = []
    seq_hosts = {j.host for p in study.phases if p.sequential for j in p.jobs if j.host}
    pools: dict[str, dict[str, Any]] = {}
    hosts_per_pool: dict[str, set[str]] = {}
    for p in study.phases:
        for host in p.hosts:
            parsed = _pool_of(host)
            if parsed is None:
                continue
            name, vmss, index = parsed
            spec = pools.setdefault(
                name, {"vmss_id": vmss, "first_index": index, "slots_per_node": 1}
            )
            spec["first_index"] = min(spec["first_index"], index)
            hosts_per_pool.setdefault(name, set()).add(host)
            slots = _peak_concurrent([j for j in p.jobs if j.host == host])
            spec["slots_per_node"] = max(spec["slots_per_node"], slots)
    if not pools:
        raise JesError(
            f"{study.source}: no execution host named like an AKS node "
            "(aks-<pool>-<vmss>-vmss<index>); whatif needs the orchestrator's hosts"
        )
    autoscaling = []
    for name, spec in pools.items():
        hosts = hosts_per_pool[name]
        if hosts & seq_hosts:
            spec.update(min_nodes=len(hosts), max_nodes=len(hosts))
        else:
            spec.update(min_nodes=0, max_nodes=len(hosts))
            autoscaling.append(name)
    queues: dict[str, dict[str, Any]] = {}
    for p in study.phases:
        q = p.queue or f"queue-{p.context}"
        order = []
        for j in sorted(p.jobs, key=lambda j: j.submit + j.pending):
            parsed = _pool_of(j.host)
            if parsed and parsed[0] not in order:
                order.append(parsed[0])
        spec = queues.setdefault(q, {"pools": []})
        for pool in order:
            if pool not in spec["pools"]:
                spec["pools"].append(pool)
        waited = any(j.pending > 1 for j in p.jobs)
        could = sum(pools[pl]["max_nodes"] for pl in spec["pools"])
        if waited and len(p.hosts) < could:
            spec["max_nodes"] = max(spec.get("max_nodes", 0), len(p.hosts))
            notes.append(
                f"queue {q}: jobs waited on {len(p.hosts)} host(s) while its pools had "
                f"{could}: a host limit of {len(p.hosts)} is assumed"
            )
    return pools, queues, autoscaling, notes


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
    delay = statistics.median(delays) if delays else DEFAULT_SCALE_UP_DELAY
    pull = statistics.median(pulls) if pulls else DEFAULT_IMAGE_PULL
    notes.append(
        f"scale-up delay {delay:.0f} s from {len(delays)} measured event(s) ({source})"
        if delays
        else f"scale-up delay {delay:.0f} s: no scale-up measured, the default AKS figure"
    )
    notes.append(
        f"image pull {pull:.0f} s from {len(pulls)} cold start(s)"
        + ("" if pulls else " (none: the default)")
    )
    return delay, pull, notes


def _start_nodes(study: Study, pools: dict[str, Any]) -> dict[str, list[tuple[str, bool]]]:
    """Per phase, the autoscaling nodes its first jobs found up (a job placed without waiting)."""
    out: dict[str, list[tuple[str, bool]]] = {}
    seen: set[str] = set()
    for p in study.phases:
        found = []
        for host in sorted({j.host for j in p.jobs if j.pending <= 1 and j.host}):
            parsed = _pool_of(host)
            if parsed and parsed[0] in pools and pools[parsed[0]]["min_nodes"] == 0:
                found.append((parsed[0], host in seen))
        out[p.name] = found
        seen.update(p.hosts)
    return out


def _profiles(
    study: Study, seq: MeasuredPhase | None, start_s: float, lag_s: float
) -> tuple[dict[str, JobProfile], list[str]]:
    notes = []
    if seq is not None:
        source = seq
    else:
        # least contended: most hosts per job, then the shortest runs
        conc = [p for p in study.phases if not p.sequential]
        source = min(
            conc,
            key=lambda p: (
                -len(p.hosts) / len(p.jobs),
                statistics.median(j.running for j in p.jobs),
            ),
        )
        notes.append(
            f"no sequential phase: run times alone taken from {source.name!r} "
            "(contended there, so predictions are upper bounds)"
        )
    profiles = {}
    for j in source.jobs:
        profiles[j.name] = JobProfile(
            elapsed_s=max(0.5, j.running) + start_s + lag_s,
            cpu_time_s=j.cpu_time_s if seq is not None else None,
        )
    return profiles, notes


def _base_scenario(study: Study, leave_out: str | None) -> tuple[Scenario, Fit]:
    phases = [p for p in study.phases if p.name != leave_out]
    if not phases:
        raise JesError(f"{study.source}: nothing left to fit after --leave-out {leave_out}")
    kept = Study(study.source, phases, study.scale_ups)
    seq = next((p for p in phases if p.sequential), None)
    start_s = statistics.median(j.starting for j in seq.jobs) if seq else 6.0
    lag_s = 1.0
    pools, queues, autoscaling, notes = _shape(study)  # shape: hosts are not an outcome to predict
    delay, pull, tnotes = _scale_timing(kept)
    notes += tnotes
    for name in autoscaling:
        pools[name].update(scale_up_delay=delay, image_pull=pull, delay_jitter=DEFAULT_DELAY_JITTER)
    for spec in pools.values():
        spec.setdefault("cores_per_node", 4.0)
    profiles, pnotes = _profiles(kept, seq, start_s, lag_s)
    notes += pnotes
    contexts = []
    for p in study.phases:
        q = p.queue or f"queue-{p.context}"
        if p.context not in [c["name"] for c in contexts]:
            contexts.append({"name": p.context, "queue": q})
    conc = [p for p in study.phases if not p.sequential]
    target = next(
        (
            p
            for p in reversed(conc)
            if any(pl in autoscaling for pl in queues[p.queue or f"queue-{p.context}"]["pools"])
        ),
        conc[-1] if conc else study.phases[-1],
    )
    sc = parse_scenario(
        {
            "name": "whatif",
            "profile": None,
            "start_overhead_s": start_s,
            "completion_lag_s": lag_s,
            "start_load_exponent": 0.5,
            "start_sigma": 0.6,
            "run_noise_sigma": 0.1,
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
    spacing = [b.submit - a.submit for p in conc for a, b in zip(p.jobs, p.jobs[1:], strict=False)]
    gaps = [g for p in phases if p.sequential for g in p.gap_s]
    fit = Fit(
        sc,
        target.context,
        autoscaling,
        _start_nodes(study, pools),
        notes,
        statistics.median(spacing) if spacing else 0.0,
        statistics.median(gaps) if gaps else 0.0,
    )
    return sc, fit


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


def replay_phase(fit: Fit, scenario: Scenario, phase: MeasuredPhase) -> Outcome:
    """Replay a measured phase: its client behaviour (submissions, gaps), the model's cluster."""
    cluster = Cluster(scenario)
    for pool, warm in fit.start_nodes.get(phase.name, []):
        cluster.add_ready_node(pool, image_ready=warm)
    jobs: list[SimJob] = []
    if phase.sequential:
        t = 0.0
        for i, mj in enumerate(phase.jobs):
            job = cluster.submit(t, mj.name, phase.context)
            jobs.append(job)
            _drain(cluster, [job])
            gap = phase.gap_s[i] if i < len(phase.gap_s) else 0.0
            t = (job.end_t or 0.0) + scenario.completion_lag_s + gap
    else:
        for mj in phase.jobs:
            jobs.append(cluster.submit(mj.submit, mj.name, phase.context))
    _drain(cluster, jobs)
    ctx = next(c for c in scenario.contexts if c.name == phase.context)
    pools = set(scenario.queues[ctx.queue].pools)
    return _outcome(cluster, jobs, pools)


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
        s = sc.model_copy(update={"seed": seed})
        for p in phases:
            o = replay_phase(fit, s, p)
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
    sc, f = _base_scenario(study, leave_out)
    conc = [p for p in study.phases if not p.sequential and p.name != leave_out]
    pools_used = sorted(
        {pl for p in conc for h in p.hosts if (parsed := _pool_of(h)) for pl in [parsed[0]]}
    )
    cores = {n: 1.5 for n in sc.pools}
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

    def as_dict(self) -> dict[str, Any]:
        def iv(i: Interval) -> dict[str, float]:
            return {"median": round(i.median, 1), "p10": round(i.low, 1), "p90": round(i.high, 1)}

        return {
            "concurrency": self.concurrency if self.concurrency is not None else "all",
            "max_nodes": self.max_nodes,
            "makespan_seconds": iv(self.makespan_s),
            "node_minutes": iv(self.node_minutes),
            "queue_wait_p95_seconds": iv(self.queue_wait_p95_s),
            "fastest": self.fastest,
            "cheapest_within_10_percent": self.cheapest_near_fastest,
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


def replay_config(fit: Fit, sc: Scenario, names: list[str], concurrency: int | None) -> Outcome:
    """The workload in the target context, at most ``concurrency`` in flight (None: all)."""
    cluster = Cluster(sc)
    ctx = fit.target_context
    limit = len(names) if concurrency is None else concurrency
    jobs: list[SimJob] = []
    t = 0.0
    for name in names[:limit]:
        jobs.append(cluster.submit(t, name, ctx))
        t += fit.submit_spacing_s
    rest = list(names[limit:])
    while rest:
        # the window: the next job goes in when one ends (after the client's gap)
        while True:
            ended = [j for j in jobs if j.end_t is not None]
            if len(jobs) - len(ended) < limit:
                break
            t_next = cluster.next_event_time()
            if math.isinf(t_next):
                raise RuntimeError("model stalled with jobs in flight")
            cluster.advance(t_next)
        last_end = max((j.end_t for j in jobs if j.end_t is not None), default=cluster.now)
        t = max(cluster.now, last_end + sc.completion_lag_s + fit.client_gap_s)
        jobs.append(cluster.submit(t, rest.pop(0), ctx))
    _drain(cluster, jobs)
    q = next(c.queue for c in sc.contexts if c.name == ctx)
    return _outcome(cluster, jobs, set(sc.queues[q].pools))


@dataclass
class WhatIf:
    fit: Fit
    configs: list[ConfigResult]
    replicates: int
    jobs: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.fit.scenario.source.removeprefix("whatif fit of "),
            "target_context": self.fit.target_context,
            "jobs": self.jobs,
            "replicates": self.replicates,
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
) -> WhatIf:
    seq_names = [n for n in fit.scenario.jobs]  # profiles, in the measured order
    names = [n for _ in range(jobs_multiplier) for n in seq_names]
    results = []
    for m in max_nodes:
        sc = configured(fit, m, node_cores, measured_node_cores)
        for c in concurrency:
            outs = [
                replay_config(fit, sc.model_copy(update={"seed": s}), names, c)
                for s in range(replicates)
            ]
            results.append(
                ConfigResult(
                    c,
                    m,
                    Interval.of([o.makespan_s for o in outs]),
                    Interval.of([o.node_minutes for o in outs]),
                    Interval.of([o.queue_wait_p95_s for o in outs]),
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
        )
        for r in results
    ]
    return WhatIf(fit, marked, replicates, len(names))


@dataclass(frozen=True)
class LeaveOut:
    phase: str
    measured_makespan_s: float
    predicted: Interval

    @property
    def error(self) -> float:
        return (self.predicted.median - self.measured_makespan_s) / self.measured_makespan_s


def leave_out(study: Study, phase: str, replicates: int = 10) -> tuple[LeaveOut, Fit]:
    """Fit without ``phase``, then predict its makespan from its client behaviour alone."""
    f = fit(study, leave_out=phase)
    p = study.phase(phase)
    outs = [
        replay_phase(f, f.scenario.model_copy(update={"seed": s}), p) for s in range(replicates)
    ]
    return LeaveOut(phase, p.makespan_s, Interval.of([o.makespan_s for o in outs])), f


# ----- output -----------------------------------------------------------------------------


def table(w: WhatIf) -> str:
    lines = [
        f"what-if for {w.jobs} jobs in {w.fit.target_context!r}, {w.replicates} replicates each "
        "(median [p10-p90])",
        f"{'concurrency':>11}  {'max nodes':>9}  {'makespan min':>20}  {'node-minutes':>20}  "
        f"{'p95 queue wait s':>20}  mark",
    ]
    for c in w.configs:
        mark = ", ".join(
            m
            for m, on in (("fastest", c.fastest), ("cheapest within 10 %", c.cheapest_near_fastest))
            if on
        )

        def iv(i: Interval, k: float = 1.0) -> str:
            return f"{i.median / k:.1f} [{i.low / k:.1f}-{i.high / k:.1f}]"

        conc = "all" if c.concurrency is None else str(c.concurrency)
        lines.append(
            f"{conc:>11}  {c.max_nodes:>9}  {iv(c.makespan_s, 60):>20}  "
            f"{iv(c.node_minutes):>20}  {iv(c.queue_wait_p95_s):>20}  {mark}"
        )
    lines += [f"note: {n}" for n in w.fit.notes]
    return "\n".join(lines)


def figure(w: WhatIf, out: str | Path) -> None:
    """Three panels (makespan, node-minutes, p95 queue wait) per configuration, with intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [
        f"c={'all' if c.concurrency is None else c.concurrency}\nn={c.max_nodes}" for c in w.configs
    ]
    fig, axes = plt.subplots(3, 1, figsize=(max(6.0, 0.6 * len(labels) + 2), 8), sharex=True)
    panels = (
        ("makespan (min)", lambda c: c.makespan_s, 60.0),
        ("node-minutes", lambda c: c.node_minutes, 1.0),
        ("p95 queue wait (s)", lambda c: c.queue_wait_p95_s, 1.0),
    )
    xs = list(range(len(labels)))
    for ax, (title, get, k) in zip(axes, panels, strict=True):
        mids = [get(c).median / k for c in w.configs]
        err = [
            [(get(c).median - get(c).low) / k for c in w.configs],
            [(get(c).high - get(c).median) / k for c in w.configs],
        ]
        colors = [
            "#d62728" if c.fastest else "#2ca02c" if c.cheapest_near_fastest else "#1f77b4"
            for c in w.configs
        ]
        ax.bar(xs, mids, yerr=err, color=colors, capsize=3)
        ax.set_ylabel(title)
    axes[-1].set_xticks(xs, labels, fontsize=7)
    axes[0].set_title(
        f"what-if: {w.jobs} jobs, {w.replicates} replicates (bars: median, "
        "whiskers p10-p90; red fastest, green cheapest within 10 %)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
