"""Per-phase node figures: node events + orchestrator hosts + each job's execution host.

Input: what a watcher observed during the phase (:class:`ObservedNodes`, from
Kubernetes or from the orchestrator's hosts) and the phase's results dict
(server window, jobs with their ``execution_host``). Output, into the phase:

* ``node_timeline``: ``[{"time", "event": "added|ready|removed", "node", "pool"}]``
  -- every change seen while the phase ran, whatever the pool.
* ``scaling``: figures over the *phase's pools* (the pools of the nodes its
  jobs ran on; every watched pool when no job reached a node):

  - ``peak_nodes``: most nodes Ready at once in the phase window, never fewer
    than the most hosts busy with the phase's jobs at once (a busy host is a
    Ready node, so that bound corrects a watch that missed something);
  - ``time_to_first_node_request_seconds``: first node of its pools added
    (requested) at or after the phase start (its first job's creation), minus the
    phase start -- when the autoscaler asked, not when a node could run anything
    (older files: ``time_to_first_scale_up_seconds``; null: no scale-up);
  - ``time_to_first_node_ready_seconds``: the first of those nodes to become Ready
    (Kubernetes Ready condition; orchestrator host ``readyTime``, or first seen
    able to run) minus the phase start: how long the phase's demand waited for
    capacity it added (``first_new_node`` names it);
  - ``time_to_first_job_on_new_node_seconds``: the first of the phase's jobs to
    start (orchestrator start time, else creation) on one of those nodes, minus
    the phase start;
  - ``node_seconds``: time each node existed (added -> removed, or present
    throughout) clipped to the phase window, summed -- what the pool cost;
  - ``jobs_per_node``: the phase's jobs per execution host, 0 for nodes of
    the phase's pools that ran none.

The phase window is the server one (first job created -> last job ended),
else the client's. ``stats.peak_nodes`` is replaced by ``scaling.peak_nodes``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jes_runner._util import iso, parse_ts
from jes_runner.kube.nodes import NodeState, ObservedNodes, pool_from_name
from jes_runner.measure.records import JobRecord
from jes_runner.measure.stats import peak_nodes as busy_peak


def _window(
    pd: dict[str, Any], obs: ObservedNodes | None
) -> tuple[datetime | None, datetime | None]:
    start = parse_ts(pd.get("started_at")) or parse_ts(pd.get("client_started_at"))
    end = parse_ts(pd.get("ended_at")) or parse_ts(pd.get("client_ended_at"))
    if start is None and obs is not None:
        start = obs.started_at
    if end is None and obs is not None:
        end = obs.ended_at
    return start, end


def _job_hosts(jobs: Iterable[dict[str, Any]]) -> Counter[str]:
    hosts: Counter[str] = Counter()
    for j in jobs:
        od = (j.get("metrics") or {}).get("orchestrator_data") or {}
        host = od.get("execution_host")
        if isinstance(host, str) and host:
            hosts[host] += 1
    return hosts


def _overlap(a0: datetime, a1: datetime, b0: datetime, b1: datetime) -> float:
    lo, hi = max(a0, b0), min(a1, b1)
    return max(0.0, (hi - lo).total_seconds())


def _ready_peak(
    states: Iterable[NodeState], obs: ObservedNodes, start: datetime, end: datetime
) -> int:
    """Most nodes Ready at the same instant within [start, end] (intervals half-open)."""
    marks: list[tuple[datetime, int]] = []
    for st in states:
        if not st.ready:
            continue
        r0 = max(st.ready_at or obs.started_at, start)
        r1 = min(st.removed_at or end, end)
        if r1 > r0:
            marks += [(r0, 1), (r1, -1)]
    marks.sort(key=lambda m: (m[0], m[1]))
    cur = peak = 0
    for _, d in marks:
        cur += d
        peak = max(peak, cur)
    return peak


@dataclass(slots=True)
class _PhaseNodes:
    """What the figures are computed over: the phase window, its pools' nodes, its jobs' hosts."""

    start: datetime | None
    end: datetime | None
    source: str
    timeline: list[dict[str, Any]]
    states: dict[str, NodeState]
    considered: dict[str, NodeState]
    hosts: Counter[str]
    pools: list[str]
    notes: list[str]


@dataclass(slots=True)
class _Figures:
    peak: int
    node_seconds: float | None
    first_request: float | None = None
    first_ready: float | None = None
    first_job_on_new: float | None = None
    first_new_node: str | None = None


def _phase_nodes(
    pd: dict[str, Any], obs: ObservedNodes | None, extra_note: str | None
) -> _PhaseNodes:
    hosts = _job_hosts(pd.get("jobs") or [])
    start, end = _window(pd, obs)
    notes: list[str] = [extra_note] if extra_note else []
    timeline = (
        [e.to_dict() for e in sorted(obs.events, key=lambda e: e.time)] if obs is not None else []
    )
    states = obs.states() if obs is not None and obs.available else {}
    if obs is not None:
        notes += obs.notes
    pools = sorted({p for h in hosts if (p := _pool_of(h, states))})
    if hosts and states and not any(h in states for h in hosts):
        notes.append(
            "none of the phase's execution hosts was among the watched nodes; "
            "check the node label selector"
        )
    considered = {n: s for n, s in states.items() if not pools or s.pool in pools or n in hosts}
    source = obs.source if obs is not None else "orchestrator"
    return _PhaseNodes(start, end, source, timeline, states, considered, hosts, pools, notes)


def _pool_of(name: str, states: dict[str, NodeState]) -> str | None:
    st = states.get(name)
    return (st.pool if st else None) or pool_from_name(name)


def _seconds_after(t: datetime | None, start: datetime) -> float | None:
    return round((t - start).total_seconds(), 3) if t is not None else None


def _new_nodes(pn: _PhaseNodes, start: datetime) -> dict[str, datetime]:
    """Nodes of the phase's pools added (requested) at or after its first job's creation: its demand's."""
    added: dict[str, datetime] = {}
    for e in pn.timeline:
        t = parse_ts(e["time"])
        if e["event"] == "added" and e["node"] in pn.considered and t is not None and t >= start:
            added.setdefault(e["node"], t)
    return added


def _first_job_on(jobs: list[dict[str, Any]], nodes: set[str]) -> datetime | None:
    """When the first of the phase's jobs started on one of ``nodes`` (orchestrator start, else creation)."""
    starts = []
    for j in jobs:
        od = (j.get("metrics") or {}).get("orchestrator_data") or {}
        if od.get("execution_host") in nodes:
            t = parse_ts(od.get("start_time")) or parse_ts(j.get("submitted_at"))
            if t is not None:
                starts.append(t)
    return min(starts) if starts else None


def _latencies(pn: _PhaseNodes, jobs: list[dict[str, Any]], fig: _Figures) -> None:
    """Request, Ready and first-job latencies of the nodes the phase's demand added."""
    assert pn.start is not None
    added = _new_nodes(pn, pn.start)
    if not added:
        return
    fig.first_request = _seconds_after(min(added.values()), pn.start)
    ready = {n: st.ready_at for n in added if (st := pn.states.get(n)) and st.ready_at}
    if ready:
        fig.first_new_node = min(ready, key=lambda n: ready[n])
        fig.first_ready = _seconds_after(ready[fig.first_new_node], pn.start)
    fig.first_job_on_new = _seconds_after(_first_job_on(jobs, set(added)), pn.start)


def _observed_figures(
    pn: _PhaseNodes, obs: ObservedNodes, busy: int, jobs: list[dict[str, Any]]
) -> _Figures:
    assert pn.start is not None and pn.end is not None
    peak = max(busy, _ready_peak(pn.considered.values(), obs, pn.start, pn.end))
    node_seconds = 0.0
    for st in pn.considered.values():  # present from creation (or before the phase) to removal
        node_seconds += _overlap(st.added_at or pn.start, st.removed_at or pn.end, pn.start, pn.end)
    fig = _Figures(peak, round(node_seconds, 3))
    _latencies(pn, jobs, fig)
    return fig


def _figures(
    pn: _PhaseNodes, obs: ObservedNodes | None, busy: int, jobs: list[dict[str, Any]]
) -> _Figures:
    if pn.start is None or pn.end is None or pn.end < pn.start:
        pn.notes.append("the phase has no time window (no job reached the server)")
        return _Figures(busy, None)
    if pn.considered and obs is not None:
        return _observed_figures(pn, obs, busy, jobs)
    # no host data: the jobs' hosts, busy from their first job start to their last end
    if pn.source == "orchestrator":
        pn.notes.append(
            "no node data: peak and node-seconds come from the jobs' execution hosts "
            "(node-seconds = first job start to last job end per host, a lower bound); "
            "node request and Ready times unknown"
        )
    return _Figures(busy, _busy_node_seconds(jobs) if pn.hosts else 0.0)


def _count_events(pn: _PhaseNodes, kind: str) -> int:
    return sum(1 for e in pn.timeline if e["event"] == kind and e["node"] in pn.considered)


def scaling_for_phase(
    pd: dict[str, Any],
    obs: ObservedNodes | None,
    records: list[JobRecord] | None = None,
    extra_note: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(node_timeline, scaling) for one phase dict; ``obs`` None means no node data at all."""
    jobs = pd.get("jobs") or []
    busy = (
        busy_peak(records)
        if records is not None
        else int((pd.get("stats") or {}).get("peak_nodes") or 0)
    )
    pn = _phase_nodes(pd, obs, extra_note)
    fig = _figures(pn, obs, busy, jobs)
    per_node = {n: 0 for n in pn.considered}
    per_node.update(pn.hosts)
    scaling = {
        "source": pn.source,
        "peak_nodes": int(fig.peak),
        "time_to_first_node_request_seconds": fig.first_request,
        "time_to_first_node_ready_seconds": fig.first_ready,
        "time_to_first_job_on_new_node_seconds": fig.first_job_on_new,
        "first_new_node": fig.first_new_node,
        "node_seconds": fig.node_seconds,
        "jobs_per_node": dict(sorted(per_node.items())),
        "pools": pn.pools,
        "nodes_at_start": sorted(n for n in (obs.initial if obs else {}) if n in pn.considered),
        "nodes_added": _count_events(pn, "added"),
        "nodes_removed": _count_events(pn, "removed"),
        "window": {"start": iso(pn.start), "end": iso(pn.end)},
        "note": "; ".join(dict.fromkeys(pn.notes)) or None,
    }
    return pn.timeline, scaling


def _busy_node_seconds(jobs: list[dict[str, Any]]) -> float:
    spans: dict[str, list[datetime]] = {}
    for j in jobs:
        od = (j.get("metrics") or {}).get("orchestrator_data") or {}
        host = od.get("execution_host")
        t0 = parse_ts(od.get("start_time")) or parse_ts(j.get("submitted_at"))
        t1 = parse_ts(od.get("end_time")) or parse_ts(j.get("ended_at"))
        if not host or t0 is None or t1 is None:
            continue
        s = spans.setdefault(host, [t0, t1])
        s[0], s[1] = min(s[0], t0), max(s[1], t1)
    return round(sum(max(0.0, (b - a).total_seconds()) for a, b in spans.values()), 3)


def apply_to_phase(
    pd: dict[str, Any],
    obs: ObservedNodes | None,
    records: list[JobRecord] | None = None,
    extra_note: str | None = None,
) -> None:
    """Write ``node_timeline`` and ``scaling`` into the phase dict; update ``stats.peak_nodes``."""
    timeline, scaling = scaling_for_phase(pd, obs, records, extra_note)
    pd["node_timeline"] = timeline
    pd["scaling"] = scaling
    if isinstance(pd.get("stats"), dict):
        pd["stats"]["peak_nodes"] = scaling["peak_nodes"]
