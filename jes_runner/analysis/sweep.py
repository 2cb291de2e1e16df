"""`jes-runner sweep --concurrency 1,5,10,20`: the concurrent phase at several levels.

One run: the sequential baseline once, then one phase per level (``c1``, ``c5``, ...) in
the concurrent context, in increasing order. The run writes its own results file (and
report); the sweep adds ``concurrency_sweep_YYYYMMDD_HHMMSS.json`` (+ a PNG) with, per
level, makespan, speedup, queue wait and node usage, and the *knee*: the smallest level
whose makespan is within 5 % of the best one -- more concurrency than that buys little.

Levels run one after another on the same cluster, so an autoscaling pool grown by one
level may still be warm for the next; the node figures per level show it.
"""

from __future__ import annotations

import logging
from typing import Any

from jes_runner.results.views import phase_views

log = logging.getLogger("jes_runner.analysis.sweep")

SWEEP_SCHEMA_VERSION = 1
SWEEP_PREFIX = "concurrency_sweep_"
DEFAULT_TOLERANCE = 5.0


def level_phase_name(level: int) -> str:
    return f"c{level}"


def find_knee(
    points: list[dict[str, Any]], tolerance_percent: float = DEFAULT_TOLERANCE
) -> dict[str, Any] | None:
    """Smallest level whose makespan is within ``tolerance_percent`` of the best makespan."""
    measured = [
        p
        for p in points
        if isinstance(p.get("makespan_seconds"), int | float) and p["makespan_seconds"] > 0
    ]
    if not measured:
        return None
    best = min(measured, key=lambda p: (p["makespan_seconds"], p["concurrency"]))
    limit = best["makespan_seconds"] * (1 + tolerance_percent / 100)
    knee = min(
        (p for p in measured if p["makespan_seconds"] <= limit), key=lambda p: p["concurrency"]
    )
    return {
        "concurrency": knee["concurrency"],
        "makespan_seconds": knee["makespan_seconds"],
        "best_concurrency": best["concurrency"],
        "best_makespan_seconds": best["makespan_seconds"],
        "tolerance_percent": tolerance_percent,
        "rule": f"smallest level whose makespan is within {tolerance_percent:g} % of the best",
    }


def sweep_document(
    results: dict[str, Any],
    levels: list[int],
    *,
    results_file: str | None,
    context: str,
    mode: str,
    tolerance_percent: float = DEFAULT_TOLERANCE,
) -> dict[str, Any]:
    """The sweep results JSON from the run's results (phases ``c<level>`` plus the baseline)."""
    phases = {p.name: p for p in phase_views(results)}
    base = next((p for p in phases.values() if p.baseline), None)
    points = []
    for level in levels:
        p = phases.get(level_phase_name(level))
        if p is None:  # the run was aborted before this level
            continue
        s = p.stats
        points.append(
            {
                "concurrency": level,
                "phase": p.name,
                "status": p.status,
                "makespan_seconds": p.makespan,
                "speedup": p.speedup,
                "jobs_total": s.get("jobs_total"),
                "jobs_completed": s.get("jobs_completed"),
                "queue_wait_p50_seconds": s.get("queue_wait_p50_seconds"),
                "queue_wait_p95_seconds": s.get("queue_wait_p95_seconds"),
                "queue_wait_max_seconds": s.get("queue_wait_max_seconds"),
                "hosts_used": p.nodes_used,
                "peak_nodes": s.get("peak_nodes"),
                "concurrency_achieved": s.get("concurrency_achieved"),
                "per_node_efficiency_percent": p.per_node_efficiency_percent,
            }
        )
    return {
        "schema_version": SWEEP_SCHEMA_VERSION,
        "kind": "concurrency_sweep",
        "sweep": {
            "run_id": results.get("run_id"),
            "status": results.get("status"),
            "results_file": results_file,
            "context": context,
            "mode": mode,
            "levels": levels,
            "baseline": {
                "phase": base.name if base else None,
                "makespan_seconds": base.makespan if base else None,
            },
            "points": points,
            "knee": find_knee(points, tolerance_percent),
        },
    }
