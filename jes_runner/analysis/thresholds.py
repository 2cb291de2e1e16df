"""Run thresholds: configured limits checked against a results document (exit 6 when crossed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jes_runner._util import finite
from jes_runner.results.views import PhaseView, phase_views


def check_thresholds(
    results: dict[str, Any],
    *,
    max_failed_jobs: int | None = None,
    min_speedup: float | None = None,
    max_queue_wait_p95_seconds: float | None = None,
) -> dict[str, Any]:
    """`{"checked": {...}, "breaches": [{"threshold", "phase", "value", "limit", "message"}]}`."""
    phases = phase_views(results)
    checked = {
        k: v
        for k, v in (
            ("max_failed_jobs", max_failed_jobs),
            ("min_speedup", min_speedup),
            ("max_queue_wait_p95_seconds", max_queue_wait_p95_seconds),
        )
        if v is not None
    }
    breaches: list[dict[str, Any]] = []

    def breach(
        threshold: str, phase: str | None, value: float | None, limit: float, message: str
    ) -> None:
        breaches.append(
            {
                "threshold": threshold,
                "phase": phase,
                "value": value,
                "limit": limit,
                "message": message,
            }
        )

    if max_failed_jobs is not None:
        n = sum(p.jobs_not_completed for p in phases)
        if n > max_failed_jobs:
            breach(
                "max_failed_jobs",
                None,
                n,
                max_failed_jobs,
                f"{n} job(s) failed, were canceled or timed out (max_failed_jobs {max_failed_jobs})",
            )
    not_judged: list[dict[str, Any]] = []
    for p in phases:
        if p.baseline:
            continue
        if min_speedup is not None:
            _judge_speedup(p, min_speedup, breach, not_judged)
        if max_queue_wait_p95_seconds is not None:
            w = finite(p.stats.get("queue_wait_p95_seconds"))
            if w is not None and w > max_queue_wait_p95_seconds:
                breach(
                    "max_queue_wait_p95_seconds",
                    p.name,
                    w,
                    max_queue_wait_p95_seconds,
                    f"phase {p.name}: queue wait p95 {w:.1f} s above max_queue_wait_p95_seconds "
                    f"{max_queue_wait_p95_seconds}",
                )
    out: dict[str, Any] = {"checked": checked, "breaches": breaches}
    if min_speedup is not None:
        out["speedup_basis"] = SPEEDUP_BASIS
        out["not_judged"] = not_judged
    return out


# the runner's idle gaps and a blip that stalled it are not the cluster's: only the busy time counts,
# and only where the phase's figures are comparable at all
SPEEDUP_BASIS = "busy speedup (time any job was on the server), comparable phases only"


def _judge_speedup(
    p: PhaseView,
    min_speedup: float,
    breach: Callable[[str, str | None, float | None, float, str], None],
    not_judged: list[dict[str, Any]],
) -> None:
    if p.comparable is False:
        not_judged.append({"phase": p.name, "reason": p.reason, "reasons": p.reasons})
        return
    speedup = p.busy_speedup
    if speedup is None:
        breach(
            "min_speedup",
            p.name,
            None,
            min_speedup,
            f"phase {p.name}: no busy speedup could be measured (min_speedup {min_speedup})",
        )
    elif speedup < min_speedup:
        breach(
            "min_speedup",
            p.name,
            speedup,
            min_speedup,
            f"phase {p.name}: busy speedup {speedup:.2f}x below min_speedup {min_speedup}",
        )
