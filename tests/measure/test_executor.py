"""PhaseExecutor on a fake client and a fake clock: release rules per mode, server timings,
idle gaps, request counts, timeouts and stops -- no threads racing the wall clock.

The fake clock advances only when the executor waits (``stop_event.wait``), so every
figure below is exact and independent of how fast this machine is.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jes_runner.measure.executor import PhaseExecutor
from jes_runner.measure.plan import PhasePlan, PlannedJob
from jes_runner.measure.polling import PROBE_GROWTH, UNKNOWN_GROWTH, PollPolicy, RuntimeModel
from jes_runner.viya._outage import OutageClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class FakeStop:
    """The executor's stop event: waiting on it is where virtual time passes."""

    def __init__(self, clock: FakeClock, stop_at: float | None = None) -> None:
        self.clock = clock
        self.stop_at = stop_at
        self._set = False

    def is_set(self) -> bool:
        if self.stop_at is not None and self.clock.t >= self.stop_at:
            self._set = True
        return self._set

    def set(self) -> None:
        self._set = True

    def wait(self, timeout: float | None = None) -> bool:
        self.clock.t += timeout or 0.0
        return self.is_set()


FIRST_RUN_STATUS_REQUESTS_PER_JOB = 25  # issue 21: a first run with no history may take this many


class FakeViya:
    """Jobs run from their creation for their run time, with ``slots`` at once (the rest queue)."""

    def __init__(self, clock: FakeClock, runtimes: dict[str, float], slots: int = 1000) -> None:
        self.clock = clock
        self.runtimes = runtimes
        self.slots = slots
        self.jobs: dict[str, dict[str, Any]] = {}
        self.request_count = 0
        self.requests_by_kind: dict[str, int] = {}
        self.canceled: list[str] = []
        self.lock = threading.Lock()
        self.outage = OutageClock(lambda: clock.t)

    def _ts(self, t: float) -> str:
        return (T0 + timedelta(seconds=t)).isoformat().replace("+00:00", "Z")

    def _count(self, kind: str) -> None:
        self.request_count += 1
        self.requests_by_kind[kind] = self.requests_by_kind.get(kind, 0) + 1

    def submit_job(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._count("submit")
            job_id = f"job-{len(self.jobs) + 1}"
            base = body["name"].split("_")[0]
            self.jobs[job_id] = {
                "id": job_id,
                "name": body["name"],
                "created": self.clock.t,
                "runtime": self.runtimes[base],
                "canceled_at": None,
            }
            return self._view(job_id)

    def _timeline(self) -> dict[str, tuple[float, float]]:
        """(start, end) of every job: FIFO over the slots."""
        slot_free = [0.0] * self.slots
        out = {}
        for job_id, j in sorted(
            self.jobs.items(), key=lambda kv: (kv[1]["created"], int(kv[0][4:]))
        ):
            k = min(range(self.slots), key=lambda i: slot_free[i])
            start = max(j["created"], slot_free[k])
            end = start + j["runtime"]
            if j["canceled_at"] is not None and j["canceled_at"] < end:
                end = j["canceled_at"]
            slot_free[k] = end
            out[job_id] = (start, end)
        return out

    def _view(self, job_id: str) -> dict[str, Any]:
        j = self.jobs[job_id]
        start, end = self._timeline()[job_id]
        now = self.clock.t
        view: dict[str, Any] = {
            "id": job_id,
            "name": j["name"],
            "creationTimeStamp": self._ts(j["created"]),
        }
        if now >= end:
            view["state"] = (
                "canceled"
                if j["canceled_at"] is not None and j["canceled_at"] <= end
                else "completed"
            )
            view["endTimeStamp"] = self._ts(end)
        else:
            view["state"] = "running" if now >= start else "pending"
        return view

    def get_jobs(self, ids: list[str]) -> list[dict[str, Any]]:
        with self.lock:
            self._count("list")
            return [self._view(i) for i in ids if i in self.jobs]

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        with self.lock:
            self._count("get")
            return self._view(job_id) if job_id in self.jobs else None

    def cancel_job(self, job_id: str) -> bool:
        with self.lock:
            self._count("cancel")
            view = self._view(job_id)
            if view["state"] in ("completed", "failed", "canceled"):
                return False
            self.jobs[job_id]["canceled_at"] = self.clock.t
            self.canceled.append(job_id)
            return True

    def max_in_flight(self) -> int:
        """The most jobs that existed unfinished at one time (from creation to end)."""
        spans = [(self.jobs[i]["created"], end) for i, (_, end) in self._timeline().items()]
        points = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
        cur = best = 0
        for _, d in points:
            cur += d
            best = max(best, cur)
        return best


RUNTIMES = {"a": 30.0, "b": 50.0, "c": 20.0, "d": 40.0, "e": 60.0, "f": 25.0}


def _phase(mode: str, concurrency: int, expected: bool = True) -> PhasePlan:
    jobs = [
        PlannedJob(name, f"def-{name}", {}, rt if expected else None)
        for name, rt in RUNTIMES.items()
    ]
    return PhasePlan(
        name=mode,
        slug=mode,
        context="ctx",
        mode=mode,  # type: ignore[arg-type]
        concurrency=concurrency if mode != "sequential" else 1,
        baseline=mode == "sequential",
        jobs=jobs,
    )


def _run(
    mode: str,
    concurrency: int = 1,
    *,
    expected: bool = True,
    slots: int = 1000,
    timeout_s: float = 3600.0,
    stop_at: float | None = None,
    prior: float | None = None,
) -> tuple[Any, FakeViya]:
    clock = FakeClock()
    viya = FakeViya(clock, RUNTIMES, slots=slots)
    ex = PhaseExecutor(
        viya,
        _phase(mode, concurrency, expected),
        run_id="r1",
        epoch=1,  # type: ignore[arg-type]
        definition_ids={n: f"def-{n}" for n in RUNTIMES},
        policy=PollPolicy(interval_min=0.5, interval_max=30.0, job_timeout_s=timeout_s),
        model=RuntimeModel(prior),
        stop_event=FakeStop(clock, stop_at),  # type: ignore[arg-type]
        submit_workers=1,
        clock=clock,
    )
    return ex.run(), viya


def _idle_gaps(viya: FakeViya) -> list[float]:
    spans = sorted(
        (j["created"], end)
        for j, (_, end) in ((viya.jobs[i], se) for i, se in viya._timeline().items())
    )
    return [b[0] - a[1] for a, b in zip(spans, spans[1:], strict=False)]


def test_sequential_one_at_a_time_with_server_durations_and_small_gaps() -> None:
    outcome, viya = _run("sequential")
    assert [r.status for r in outcome.records] == ["completed"] * len(RUNTIMES)
    # server timestamps, exact
    assert [r.duration for r in outcome.records] == list(RUNTIMES.values())
    assert all(r.timing_source == "server" for r in outcome.records)
    assert viya.max_in_flight() == 1
    gaps = _idle_gaps(viya)
    # the config's runtime was a candidate among the probes; then the factor is learned: polls bracket
    # each expected end within 1 % of the runtime plus poll_interval_min (0.5 s here: looks are that far apart)
    assert all(0 <= g <= 0.01 * rt + 0.5 for g, rt in zip(gaps, RUNTIMES.values(), strict=False)), (
        gaps
    )
    # a first run (runtimes in unknown units until one job ended): issue 21's first-run budget
    assert viya.requests_by_kind["list"] <= FIRST_RUN_STATUS_REQUESTS_PER_JOB * len(RUNTIMES), (
        viya.requests_by_kind
    )


def test_sequential_without_expected_runtimes_probes_and_learns() -> None:
    outcome, viya = _run("sequential", expected=False)
    assert [r.duration for r in outcome.records] == list(RUNTIMES.values())
    gaps = _idle_gaps(viya)
    runtimes = list(RUNTIMES.values())
    # the first job: probes overshoot by at most PROBE_GROWTH of its age (+ the poll floor)
    assert gaps[0] <= PROBE_GROWTH * runtimes[0] + 0.5, gaps
    # then: polled each time a job's age grew by UNKNOWN_GROWTH, so a gap is at most that share of its runtime
    assert all(
        g <= UNKNOWN_GROWTH * rt + 0.5 for g, rt in zip(gaps[1:], runtimes[1:], strict=False)
    ), gaps
    # the price of not knowing the runtimes (history removes it): within issue 21's first-run budget
    assert viya.requests_by_kind["list"] <= FIRST_RUN_STATUS_REQUESTS_PER_JOB * len(RUNTIMES), (
        viya.requests_by_kind
    )


def test_sequential_with_exact_runtimes_polls_about_twice_per_job() -> None:
    """History gives each job's runtime and the factor starts at 1: polls bracket each end closely."""
    clock = FakeClock()
    viya = FakeViya(clock, RUNTIMES)
    ex = PhaseExecutor(
        viya,
        _phase("sequential", 1),
        run_id="r1",
        epoch=1,  # type: ignore[arg-type]
        definition_ids={n: f"def-{n}" for n in RUNTIMES},
        # interval_max above every runtime: only the bracket polls (it adds D/interval_max)
        policy=PollPolicy(interval_min=0.05, interval_max=120.0),
        model=RuntimeModel(1.0),
        stop_event=FakeStop(clock),  # type: ignore[arg-type]
        submit_workers=1,
        clock=clock,
    )
    ex.run()
    gaps = _idle_gaps(viya)
    assert all(0 <= g <= 0.01 * rt for g, rt in zip(gaps, RUNTIMES.values(), strict=False)), gaps
    assert viya.requests_by_kind["list"] <= 2 * len(RUNTIMES), viya.requests_by_kind


def test_batch_releases_the_next_wave_only_when_the_last_ended() -> None:
    outcome, viya = _run("batch", 2)
    assert all(r.status == "completed" for r in outcome.records)
    created = sorted(j["created"] for j in viya.jobs.values())
    ends = {i: end for i, (_, end) in viya._timeline().items()}
    waves = [
        sorted(viya.jobs, key=lambda i: int(i[4:]))[k : k + 2] for k in range(0, len(RUNTIMES), 2)
    ]
    for prev, nxt in zip(waves, waves[1:], strict=False):
        assert min(viya.jobs[i]["created"] for i in nxt) >= max(ends[i] for i in prev)
    assert viya.max_in_flight() == 2 and len(created) == len(RUNTIMES)


@pytest.mark.parametrize("n", [2, 3])
def test_window_keeps_n_in_flight(n: int) -> None:
    outcome, viya = _run("window", n)
    assert all(r.status == "completed" for r in outcome.records)
    assert viya.max_in_flight() == n


def test_all_at_once_queues_on_the_server_and_durations_include_the_queue() -> None:
    outcome, viya = _run("all", len(RUNTIMES), slots=2)
    assert viya.max_in_flight() == len(RUNTIMES)
    for r in outcome.records:
        start, end = viya._timeline()[r.job_instance_id or ""]
        assert r.duration == pytest.approx(end - viya.jobs[r.job_instance_id or ""]["created"])


def test_a_job_past_its_timeout_is_canceled_and_recorded_timed_out() -> None:
    outcome, viya = _run("all", len(RUNTIMES), timeout_s=45.0)
    by_name = {r.name: r for r in outcome.records}
    # 50 s and 60 s jobs
    assert {n for n, r in by_name.items() if r.status == "timed_out"} == {
        "b",
        "e",
    }
    assert len(viya.canceled) == 2
    assert all(by_name[n].status == "completed" for n in ("a", "c", "d", "f"))


def test_a_stop_cancels_everything_in_flight_and_submits_nothing_more() -> None:
    outcome, viya = _run("window", 2, stop_at=35.0)
    assert outcome.aborted
    statuses = {r.name: r.status for r in outcome.records}
    assert set(statuses.values()) <= {"completed", "canceled"} and "canceled" in statuses.values()
    assert len(viya.jobs) < len(RUNTIMES)  # the queue was never submitted
    assert all(viya._view(i)["state"] in ("completed", "canceled") for i in viya.jobs)


CONCURRENT_REQUESTS_PER_JOB = 3  # issue 21: batch / window / all, no runtime history


@pytest.mark.parametrize("mode,concurrency", [("batch", 3), ("all", 6)])
@pytest.mark.parametrize("slots", [1000, 2])  # 2: jobs queue behind each other (a pool scaling up)
def test_waves_cost_at_most_three_requests_per_job(mode: str, concurrency: int, slots: int) -> None:
    """Runtimes as the sequential phase measured them (the run's own earlier phase, factor 1):
    jobs whose end releases nothing ride along in the wave's list requests."""
    outcome, viya = _run(mode, concurrency, slots=slots, prior=1.0)
    assert [r.status for r in outcome.records] == ["completed"] * len(RUNTIMES)
    assert viya.request_count <= CONCURRENT_REQUESTS_PER_JOB * len(RUNTIMES), viya.requests_by_kind
    # the wave still ends promptly: the next wave (or the phase end) follows the last end closely
    if mode == "batch" and slots == 1000:
        gaps = [g for g in _idle_gaps(viya) if g > 0]
        assert all(g <= CRITICAL_GAP_SHARE * max(RUNTIMES.values()) + 0.5 for g in gaps), gaps


CRITICAL_GAP_SHARE = 0.1  # a wave's release: within a tenth of the longest job (+ the poll floor)


def _release_delays(viya: FakeViya, n: int) -> list[float]:
    """Window mode: how long each freed slot stayed empty (the k-th end to the (n+k)-th creation)."""
    ends = sorted(end for _, end in viya._timeline().values())
    created = sorted(j["created"] for j in viya.jobs.values())
    return [c - e for e, c in zip(ends, created[n:], strict=False)]


WINDOW_SLOT_GAP_SHARE = 0.25  # a freed slot refilled within a quarter of the longest job (+ floor)


# A window that knows nothing of its jobs (no runtime of their own, no earlier phase, no history)
# first probes for the scale: looks each the oldest job's age after the last, from the poll floor
# (0.5 s) to the first end (30 s), 7 requests; after it the looks are paced to what the budget has
# left per job (a share 1/(left x n) of the typical runtime apart). With 3 in flight that fits the
# 12 list requests of 6 jobs; with 2, one look covers too few jobs: looks at most half a typical
# runtime apart (else a freed slot would wait most of a runtime) still make 15.
_WINDOW_UNINFORMED = pytest.mark.xfail(
    strict=True,
    reason="issue 21: a window of 2 knowing nothing of its 6 jobs (20-60 s): the 7-look probe from "
    "the 0.5 s poll floor to the first end and looks half a runtime apart make 15 list requests "
    "(was 23) against a budget of 12 (and ~3.05 per job at 24-54 jobs; windows of 3 and 5 meet it: "
    "test_an_uninformed_window_amortizes_its_probe)",
)


@pytest.mark.parametrize(
    "n,prior,expected",  # prior None: no runtime history at all; 1.0: the run's earlier phase
    [
        (2, 1.0, True),
        (3, 1.0, True),
        (2, None, True),  # the config's runtimes, in units not known before the first end
        (3, None, True),
        pytest.param(2, None, False, marks=_WINDOW_UNINFORMED),
        (3, None, False),  # nothing known: the probe, then looks paced to the budget left
        pytest.param(2, 1.0, False, marks=_WINDOW_UNINFORMED),
    ],
)
def test_window_costs_at_most_three_requests_per_job(
    n: int, prior: float | None, expected: bool
) -> None:
    """One list request covers every job in flight: the window looks when the job expected to end
    first is due, not once per job -- and still refills a freed slot soon."""
    outcome, viya = _run("window", n, expected=expected, prior=prior)
    assert [r.status for r in outcome.records] == ["completed"] * len(RUNTIMES)
    assert viya.max_in_flight() == n
    assert viya.request_count <= CONCURRENT_REQUESTS_PER_JOB * len(RUNTIMES), viya.requests_by_kind
    delays = _release_delays(viya, n)
    assert all(d <= WINDOW_SLOT_GAP_SHARE * max(RUNTIMES.values()) + 0.5 for d in delays), delays


WINDOW_SLOT_IDLE_SHARE = 0.02  # runtimes known (or learned at the first end): slot idle <= 2 %


def _slot_idle_share(viya: FakeViya, n: int) -> float:
    """Ground truth: the time freed slots stayed empty, as a share of n x the phase's makespan."""
    ends = [end for _, end in viya._timeline().values()]
    created = [j["created"] for j in viya.jobs.values()]
    return sum(_release_delays(viya, n)) / (n * (max(ends) - min(created)))


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("prior,expected", [(1.0, True), (None, True)])
def test_window_slot_idle_stays_small_when_runtimes_are_known(
    n: int, prior: float | None, expected: bool
) -> None:
    """Few requests must not come from refilling slots late: each freed slot is refilled within
    ~1 % of its job's runtime, so the slots' idle share stays small (from the fake's ground truth)."""
    _, viya = _run("window", n, expected=expected, prior=prior)
    assert _slot_idle_share(viya, n) <= WINDOW_SLOT_IDLE_SHARE, _release_delays(viya, n)


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("prior", [0.5, 0.8, 1.25])  # the concurrent phase slower / faster
def test_window_survives_an_earlier_phase_factor_that_does_not_hold(n: int, prior: float) -> None:
    """The runtimes an earlier phase measured, at a pace this phase does not keep (contention, or a
    faster pool): brackets on them miss, the phase's own factor takes over at its first end --
    still within the budget, no freed slot left empty long."""
    outcome, viya = _run("window", n, prior=prior)
    assert [r.status for r in outcome.records] == ["completed"] * len(RUNTIMES)
    assert viya.request_count <= CONCURRENT_REQUESTS_PER_JOB * len(RUNTIMES), viya.requests_by_kind
    delays = _release_delays(viya, n)
    assert all(d <= WINDOW_SLOT_GAP_SHARE * max(RUNTIMES.values()) + 0.5 for d in delays), delays


@pytest.mark.parametrize("n", [3, 5])
def test_an_uninformed_window_amortizes_its_probe(n: int) -> None:
    """Nothing known at all (no runtimes, no earlier phase): the probe for the first end is paid
    once per phase, so from 24 jobs (the job mix four times) the budget holds. (A window of 2
    holds the budget too, but its looks, ~a third of a runtime apart, leave a slot empty up to
    17 s: one list request covers too few jobs there to look more often.)"""
    clock = FakeClock()
    viya = FakeViya(clock, RUNTIMES)
    phase = _phase("window", n, expected=False)
    phase.jobs = phase.jobs * 4
    PhaseExecutor(
        viya,
        phase,
        run_id="r1",
        epoch=1,  # type: ignore[arg-type]
        definition_ids={k: f"def-{k}" for k in RUNTIMES},
        policy=PollPolicy(interval_min=0.5, interval_max=30.0),
        model=RuntimeModel(None),
        stop_event=FakeStop(clock),  # type: ignore[arg-type]
        submit_workers=1,
        clock=clock,
    ).run()
    assert len(viya.jobs) == len(phase.jobs)
    assert viya.request_count <= CONCURRENT_REQUESTS_PER_JOB * len(phase.jobs), (
        viya.requests_by_kind
    )
    delays = _release_delays(viya, n)
    assert all(d <= WINDOW_SLOT_GAP_SHARE * max(RUNTIMES.values()) + 0.5 for d in delays), delays
