"""measure/stats.py: a phase's figures and its comparison with the baseline, worked out by hand from job timings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jes_runner.measure.records import JobRecord
from jes_runner.measure.stats import (
    not_comparable_reason,
    peak_nodes,
    percentile,
    phase_stats,
    spans,
    vs_baseline,
)


def _rec(
    i: int, start: float, end: float, host: str | None = None, status: str = "completed"
) -> JobRecord:
    t0 = datetime(2025, 9, 15, 19, 0, tzinfo=UTC)
    r = JobRecord(
        name=f"j{i}",
        unique_job_name=f"j{i}_p_{i}_1",
        phase="p",
        context="c",
        sequence=i,
        job_instance_id=str(i),
        status=status,
        submitted_at=t0 + timedelta(seconds=start),
        ended_at=t0 + timedelta(seconds=end),
    )
    if host:
        r.orchestrator = {"execution_host": host, "queue_wait_seconds": start / 10}
    return r


def test_phase_stats_and_baseline_figures() -> None:
    recs = [
        _rec(1, 0, 10, "a"),
        _rec(2, 0, 20, "b"),
        _rec(3, 10, 30, "a"),
        _rec(4, 31, 32, None, "failed"),
    ]
    s = phase_stats(recs)
    assert s["makespan_seconds"] == 32 and s["jobs_completed"] == 3 and s["jobs_failed"] == 1
    assert (
        s["duration_max_seconds"] == 20
        and s["hosts_used"] == 2
        and s["jobs_per_host"] == {"a": 2, "b": 1}
    )
    assert s["sum_run_seconds"] == 51 and s["concurrency_achieved"] == round(51 / 32, 3)
    assert s["peak_nodes"] == 2
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert (
        s["busy_makespan_seconds"] == 31 and s["idle_seconds"] == 1
    )  # 30 s -> 31 s: nothing on the server
    assert s["jobs_planned"] == s["jobs_submitted"] == 4
    base = [_rec(i, 10 * (i - 1), 10 * i) for i in range(1, 5)]  # sequential, back to back
    cur = [_rec(1, 0, 10), _rec(2, 0, 10), _rec(3, 2, 12), _rec(4, 0, 5, status="failed")]
    vb = vs_baseline(spans(base), spans(cur), reason=not_comparable_reason("p", spans(cur), False))
    assert (
        vb is not None
        and vb["jobs_compared"] == 3
        and vb["comparable"] is False
        and "1 failed" in vb["reason"]
    )
    # over j1..j3 only: 30 s sequential against 12 s; busy the same here (no idle gaps)
    assert (
        vb["baseline_makespan_seconds"] == 30
        and vb["makespan_seconds"] == 12
        and vb["speedup"] == 2.5
    )
    assert (
        vb["busy_speedup"] == 2.5
        and vb["time_saved_seconds"] == 18
        and vb["efficiency_gain_percent"] == 60.0
    )
    ok = vs_baseline(spans(base), spans(cur[:3]))
    assert ok is not None and ok["comparable"] is True and ok["reason"] is None
    assert (
        phase_stats([_rec(1, 0, 10)])["hosts_used"] is None
    )  # no orchestrator data: unknown, not 0
    assert (
        peak_nodes([_rec(1, 0, 10, "a"), _rec(2, 10, 20, "b")]) == 1
    )  # back to back is not concurrent


def test_slot_idle_counts_the_slots_a_late_look_left_empty() -> None:
    """Window of 2: j3 is created 2 s after j1's end, j4 5 s after j2's; j5 waits for j3's end
    by 1 s. Worked out by hand: 8 s of empty slot over 2 slots x 40 s of makespan."""
    recs = [_rec(1, 0, 10), _rec(2, 0, 20), _rec(3, 12, 30), _rec(4, 25, 40), _rec(5, 31, 38)]
    s = phase_stats(recs, mode="window", concurrency=2)
    assert s["slot_idle_seconds"] == 8.0
    assert s["slot_idle_percent"] == 10.0
    assert s["idle_seconds"] == 0.0  # a job ran all along: idle time cannot see it
    # the same phase an hour later and in another order: the same figure
    later = [
        _rec(r.sequence, 3600 + s0, 3600 + e0)
        for r, (s0, e0) in zip(
            recs[::-1], [(31, 38), (25, 40), (12, 30), (0, 20), (0, 10)], strict=True
        )
    ]
    assert phase_stats(later, mode="window", concurrency=2)["slot_idle_seconds"] == 8.0


def test_slot_idle_only_where_an_end_releases_the_next_job() -> None:
    recs = [_rec(1, 0, 10), _rec(2, 13, 20)]
    assert phase_stats(recs, mode="sequential", concurrency=1)["slot_idle_seconds"] == 3.0
    for mode in ("batch", "all", None):
        s = phase_stats(recs, mode=mode, concurrency=2)
        assert s["slot_idle_seconds"] is None and s["slot_idle_percent"] is None


def test_a_sequential_gap_is_one_idle_reason_not_two() -> None:
    from jes_runner.measure.stats import ComparabilityLimits, Reason, judge_phase

    recs = [_rec(1, 0, 10), _rec(2, 40, 50)]  # 30 s of 50 idle: idle and slot idle alike
    stats = phase_stats(recs, mode="sequential", concurrency=1)
    assert stats["idle_percent"] == stats["slot_idle_percent"] == 60.0
    v = judge_phase(
        "p", recs, aborted=False, planned=2, stats=stats, api_error_seconds=0.0,
        limits=ComparabilityLimits(),
    )  # fmt: skip
    assert v.codes == [Reason.IDLE] and len(v.texts) == 1 and "none of its jobs" in v.texts[0]
