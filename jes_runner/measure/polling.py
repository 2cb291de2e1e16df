"""The polling policy: when to look at a job again, so that a job's end is seen soon after it
happens (idle time in a sequential makespan) without disturbing the Viya being measured.

A job is due at its expected end: ``expected_runtime_s`` x a factor learned online
(:class:`RuntimeModel`, median observed/expected), so a 0.005-speed emulator and a real
cluster are both polled near completion. Known runtimes are bracketed (``BRACKET``); unknown
ones are looked at each time the job's age grew by a share (``UNKNOWN_GROWTH``); overdue jobs
back off geometrically. A job whose end releases nothing (others of its batch wave still run)
needs no close look: each list request covers it anyway. In window mode one list request covers
every job in flight, so jobs queued or past their own estimate share the window's looks, paced to
issue 21's request budget (``WINDOW_REQUESTS_PER_JOB``): what the phase has not spent buys closer
looks (a freed slot refilled sooner), an overspend sparser ones. All intervals stay within
[poll_interval_min, poll_interval_max] (:class:`PollPolicy`).

Measurements come from the server's timestamps, so polling late never changes a figure; it
only changes how soon the next job is released.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from jes_runner._util import median_of_sorted

# Viya is given up on after MAX_POLL_FAILURES consecutive failed ticks (each already retried) that
# also span LOST_CONTACT_S: a restart or a blip is ridden out
MAX_POLL_FAILURES = 8
LOST_CONTACT_S = 300.0
DUE_MARGIN = 1.04  # a queued job that started: first look a little after its expected end
# Known runtime (config, history or an earlier phase): polls bracket the expected end, so the gap
# between a job's end and the next job's creation (idle time in a sequential makespan) stays ~1 %.
BRACKET = (0.998, 1.001, 1.004, 1.01, 1.02, 1.035)
# window mode: each bracket point is a request (shared by the window, but one per point), and a
# late look leaves one slot empty, not the cluster idle -- fewer, a little later
WINDOW_BRACKET = (1.001, 1.02)
# a shared window: a job's own look due within this share of the window's spacing after a look is
# covered by that look (a request a moment after the last tells nothing new)
WINDOW_MERGE_SHARE = 0.25
BRACKET_STEP = 0.03  # past the bracket: overdue steps start at 3 % of the expected runtime
# no estimate: poll each time the job's age grew by this share (the gap after its end <= that share)
UNKNOWN_GROWTH = 0.035
SPREAD_LIMIT = 1.05  # observed/expected ratios wider than this: an estimate is a lower bound only
# nothing learned at all (first job of a run): its gap is idle time like any other
PROBE_GROWTH = 0.1
SHORTEST_MARGIN = 0.97  # no estimate: nothing ends before the phase's shortest job did (less this)
OVERDUE_GROWTH = 1.6  # overdue: each step this much longer than the last ...
OVERDUE_AGE_FRACTION = 0.2  # ... but never longer than this share of the job's age
# A job whose end releases the next one (sequential, window, the last of a batch wave or of "all")
# is *critical*: its detection delay is idle time in the makespan, so it is looked at more closely.
CRITICAL_AGE_FRACTION = 0.04
RELAXED_GROWTH = 0.5  # not critical (others of its wave still run): each list request covers it
RESTART_STEP = 0.1  # a queued job that started: overdue steps from a tenth of its runtime
QUEUED_WAIT = 0.5  # queued: its whole run still ahead -- wait half a runtime, or half its queue age
# modes whose jobs release nothing one by one: only the wave's (batch) or phase's (all) last end does
WAVE_MODES = ("batch", "all")
# no estimates in such a wave: list requests at least this share of the wave's age apart
WAVE_SPACING = 0.25
# window mode before any end: the probe's looks at least 1/(this x n) of the oldest age apart
WINDOW_LOOKS_PER_JOB = 1.5
# window mode paces its shared looks to a request budget per job (issue 21: <= 3 with the job's
# POST, no runtime history), a little under it for what cannot be paced (a queue's looks at
# poll_interval_max, the probe); the looks per job left stay within [MIN, MAX]
WINDOW_REQUESTS_PER_JOB = 2.8
WINDOW_LOOKS_MIN = 0.5
WINDOW_LOOKS_MAX = 4.0
# window mode before any end (nothing known about the runtimes): the probe's looks, each this share
# of the oldest job's age after the last
WINDOW_PROBE_GROWTH = 1.0
MISSING_LIMIT = 3  # list answers without a job before asking for it by id


@dataclass(frozen=True, slots=True)
class PollPolicy:
    interval_min: float = 0.05
    interval_max: float = 30.0
    job_timeout_s: float = 3600.0
    ids_per_request: int = 100
    lost_contact_s: float = LOST_CONTACT_S  # polls failing this long (and MAX_POLL_FAILURES times)

    @classmethod
    def for_cluster(
        cls, interval_min: float, interval_max: float, job_timeout_s: float, speed: float | None
    ) -> PollPolicy:
        """The longest gap between looks is the cluster's seconds: an emulated cluster runs
        ``speed`` served seconds per modelled second, so its ceiling is scaled alike (30 s is
        0.15 s served at 0.005). Unscaled, a look every 30 s served would be 100 minutes of the
        modelled cluster, and a window of queued jobs would sit through whole runs unseen. The
        floor stays as set: it spares the server, whatever its clock."""
        if not speed:
            return cls(interval_min, interval_max, job_timeout_s)
        return cls(interval_min, max(interval_min, interval_max * speed), job_timeout_s)


class RuntimeModel:
    """Expected runtime of a job: config estimate × learned factor (median observed/expected)."""

    def __init__(self, prior_factor: float | None = None) -> None:
        self.prior_factor = prior_factor
        self._ratios: list[float] = []
        self._durations: list[float] = []

    @property
    def factor(self) -> float | None:
        return median_of_sorted(self._ratios) if self._ratios else self.prior_factor

    def observe(self, expected: float | None, observed: float | None) -> None:
        if observed is None or observed <= 0:
            return
        bisect.insort(self._durations, observed)
        if expected:
            bisect.insort(self._ratios, observed / expected)

    @property
    def observed(self) -> int:
        return len(self._durations)

    @property
    def shortest(self) -> float | None:
        """The shortest run time observed in this phase (None before the first)."""
        return self._durations[0] if self._durations else None

    def exact(self, expected: float | None) -> float | None:
        """This job's own expected runtime (its estimate × the factor), None without one -- or when
        the jobs of this phase ran so unevenly against their estimates (contention, queueing) that
        one factor does not predict a job's end (see ``earliest``)."""
        f = self.factor
        if not (expected and f) or self.spread > SPREAD_LIMIT:
            return None
        return expected * f

    @property
    def spread(self) -> float:
        """Largest / smallest observed-to-expected ratio in this phase (1 before two were seen)."""
        return (
            self._ratios[-1] / self._ratios[0]
            if len(self._ratios) >= 2 and self._ratios[0] > 0
            else 1.0
        )

    def earliest(self, expected: float | None) -> float | None:
        """The soonest this job plausibly ends: its estimate × the smallest ratio seen."""
        return expected * self._ratios[0] if expected and self._ratios else None

    def estimate(self, expected: float | None) -> float | None:
        f = self.factor
        if expected and f:
            return expected * f
        if self._durations:  # no per-job estimate: the typical job of this phase
            return median_of_sorted(self._durations)
        return None
