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
  - ``time_to_first_scale_up_seconds``: first node added at or after the phase
    start, minus the phase start (null: no scale-up);
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


def scaling_for_phase(
    pd: dict[str, Any],
    obs: ObservedNodes | None,
    records: list[JobRecord] | None = None,
    extra_note: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(node_timeline, scaling) for one phase dict; ``obs`` None means no node data at all."""
    hosts = _job_hosts(pd.get("jobs") or [])
    busy = (
        busy_peak(records)
        if records is not None
        else int((pd.get("stats") or {}).get("peak_nodes") or 0)
    )
    start, end = _window(pd, obs)
    notes: list[str] = [extra_note] if extra_note else []
    source = obs.source if obs is not None else "orchestrator"
    timeline = (
        [e.to_dict() for e in sorted(obs.events, key=lambda e: e.time)] if obs is not None else []
    )
    states = obs.states() if obs is not None and obs.available else {}
    if obs is not None:
        notes += obs.notes

    def pool_of(name: str) -> str | None:
        st = states.get(name)
        return (st.pool if st else None) or pool_from_name(name)

    pools = sorted({p for h in hosts if (p := pool_of(h))})
    if hosts and states and not any(h in states for h in hosts):
        notes.append(
            "none of the phase's execution hosts was among the watched nodes; "
            "check the node label selector"
        )
    considered = {n: s for n, s in states.items() if not pools or s.pool in pools or n in hosts}

    if start is None or end is None or end < start:
        peak, node_seconds, first_up = busy, None, None
        notes.append("the phase has no time window (no job reached the server)")
    elif considered:
        peak = max(busy, _ready_peak(considered.values(), obs, start, end)) if obs else busy
        node_seconds = 0.0
        for st in considered.values():  # present from creation (or before the phase) to removal
            node_seconds += _overlap(st.added_at or start, st.removed_at or end, start, end)
        node_seconds = round(node_seconds, 3)
        ups = [
            t
            for e in timeline
            if e["event"] == "added"
            and e["node"] in considered
            and (t := parse_ts(e["time"])) is not None
            and t >= start
        ]
        first_up = round((min(ups) - start).total_seconds(), 3) if ups else None
    else:  # no host data: the jobs' hosts, busy from their first job start to their last end
        peak, first_up = busy, None
        node_seconds = _busy_node_seconds(pd.get("jobs") or []) if hosts else 0.0
        if source == "orchestrator":
            notes.append(
                "no node data: peak and node-seconds come from the jobs' execution hosts "
                "(node-seconds = first job start to last job end per host, a lower bound); "
                "time to first scale-up unknown"
            )

    per_node = {n: 0 for n in considered}
    per_node.update(hosts)
    scaling = {
        "source": source,
        "peak_nodes": int(peak),
        "time_to_first_scale_up_seconds": first_up,
        "node_seconds": node_seconds,
        "jobs_per_node": dict(sorted(per_node.items())),
        "pools": pools,
        "nodes_at_start": sorted(
            n for n, s in (obs.initial.items() if obs else []) if n in considered
        ),
        "nodes_added": sum(
            1 for e in timeline if e["event"] == "added" and e["node"] in considered
        ),
        "nodes_removed": sum(
            1 for e in timeline if e["event"] == "removed" and e["node"] in considered
        ),
        "window": {"start": iso(start), "end": iso(end)},
        "note": "; ".join(dict.fromkeys(notes)) or None,
    }
    return timeline, scaling


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
