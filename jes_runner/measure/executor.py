"""Runs one phase: releases jobs by mode and polls them cheaply.

Modes: ``sequential`` (one at a time), ``batch`` (waves of N: the next wave
starts when the whole previous one ended, the seed's behaviour), ``window``
(keep N in flight), ``all`` (everything at once).

Each tick is one list request (``in(id,...)``, ≤100 ids) covering the jobs
that are *due*, topped up with the next-due ones for free; when a job is due
is the polling policy's (``measure/polling.py``).

Measurements come from the server's timestamps, so polling late never
changes a figure; it only changes how soon the next job is released.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from jes_runner._util import utcnow
from jes_runner.errors import AuthFailedError, ConfigError, JesError
from jes_runner.measure.plan import PhasePlan, PlannedJob, run_token
from jes_runner.measure.polling import (
    BRACKET,
    BRACKET_STEP,
    CRITICAL_AGE_FRACTION,
    DUE_MARGIN,
    MAX_POLL_FAILURES,
    MISSING_LIMIT,
    OVERDUE_AGE_FRACTION,
    OVERDUE_GROWTH,
    PROBE_GROWTH,
    QUEUED_WAIT,
    RELAXED_GROWTH,
    RESTART_STEP,
    SHORTEST_MARGIN,
    UNKNOWN_GROWTH,
    WAVE_MODES,
    WAVE_SPACING,
    WINDOW_BRACKET,
    WINDOW_LOOKS_MAX,
    WINDOW_LOOKS_MIN,
    WINDOW_LOOKS_PER_JOB,
    WINDOW_MERGE_SHARE,
    WINDOW_PROBE_GROWTH,
    WINDOW_REQUESTS_PER_JOB,
    PollPolicy,
    RuntimeModel,
)
from jes_runner.measure.records import TERMINAL_STATES, JobRecord, JobStatus
from jes_runner.viya import AuthError, ViyaClient, ViyaError, ViyaHTTPError, job_request

log = logging.getLogger("jes_runner.measure.executor")


class PhaseListener(Protocol):
    def job_submitted(self, phase: PhasePlan, record: JobRecord) -> None: ...

    def job_finished(self, phase: PhasePlan, record: JobRecord) -> None: ...


class _NullListener:
    def job_submitted(self, phase: PhasePlan, record: JobRecord) -> None:
        pass

    def job_finished(self, phase: PhasePlan, record: JobRecord) -> None:
        pass


@dataclass(slots=True)
class _Flight:
    record: JobRecord
    job: PlannedJob
    t_submit: float  # monotonic, when the server's answer arrived
    due: float
    step: float
    estimate: float | None
    version: int = 0
    misses: int = 0
    last_pending_at: float | None = None  # when a poll last saw it queued (cleared once running)
    queued_s: float = 0.0  # lower bound of its queue wait: last "pending" answer - submission
    exact: bool = False  # estimate is this job's own (bracket its end), not the phase's typical job
    # when its expected runtime started counting (submission, or start after a queue)
    t_base: float = 0.0
    bracket: int = 0  # next BRACKET point to poll at
    queued: bool = False  # the last answer said "pending"


def _expected_end(f: _Flight) -> float:
    """When the job is expected to end (its bracket's start; -inf without an estimate of its own)."""
    if f.exact and f.estimate is not None:
        return f.t_base + f.estimate * BRACKET[0]
    return float("-inf")


@dataclass(slots=True)
class PhaseOutcome:
    phase: PhasePlan
    records: list[JobRecord]
    aborted: bool = False
    client_started_at: datetime | None = None
    client_ended_at: datetime | None = None
    requests: int = 0
    learned_factor: float | None = None
    # an error the run cannot ride out stopped the phase (authentication refused: exit 7; the
    # context or a job definition gone from Viya: exit 2); the runner starts no further phase
    stopped: JesError | None = None
    api_error_seconds: float = 0.0  # Viya answered with errors this long during the phase


class PhaseExecutor:
    def __init__(
        self,
        client: ViyaClient,
        phase: PhasePlan,
        *,
        run_id: str,
        epoch: int,
        definition_ids: dict[str, str],
        policy: PollPolicy,
        model: RuntimeModel | None = None,
        listener: PhaseListener | None = None,
        stop_event: threading.Event | None = None,
        submit_workers: int = 8,
        clock: Callable[[], float] = time.monotonic,
        on_pending: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        # a job was seen queued (the pool may scale): e.g. look at the hosts
        self.on_pending = on_pending
        self.phase = phase
        self.run_id = run_id
        self.token = run_token(run_id)
        self.epoch = epoch
        self.definition_ids = definition_ids
        self.policy = policy
        self.model = model or RuntimeModel()
        self.listener = listener or _NullListener()
        self.stop_event = stop_event or threading.Event()
        self.submit_workers = max(1, min(submit_workers, phase.concurrency))
        self.clock = clock

        self._queue: list[tuple[int, PlannedJob]] = list(enumerate(phase.jobs, start=1))
        self._queue.reverse()  # pop() from the end keeps config order
        self._submitting: dict[Future[Any], JobRecord] = {}
        self._job_of: dict[int, PlannedJob] = {}  # record id -> its config, while submitting
        self._pool: ThreadPoolExecutor | None = None
        self._flights: dict[str, _Flight] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._records: list[JobRecord] = []
        self._last_poll = float("-inf")
        self._poll_failures = 0
        # clock() of the first failed poll in the current run of failures
        self._failing_since: float | None = None
        self._deadlines: list[tuple[float, str]] = []  # (t_submit + job timeout, job id)
        self._stopped: JesError | None = None  # see PhaseOutcome.stopped
        # the current batch wave's release (the phase's, for "all")
        self._wave_started = self.clock()
        self._looks = 0  # list requests this phase made
        self._prior_dropped = False  # window mode: the earlier phase's factor did not hold here
        # a window's looks are shared by all its jobs: a short bracket (each point is a request)
        self._bracket = WINDOW_BRACKET if phase.mode == "window" else BRACKET

    # -- public ------------------------------------------------------------------

    def run(self) -> PhaseOutcome:
        outcome = PhaseOutcome(self.phase, self._records, client_started_at=utcnow())
        start_requests = self.client.request_count
        start_outage = self.client.outage.seconds
        with ThreadPoolExecutor(
            max_workers=self.submit_workers, thread_name_prefix="submit"
        ) as pool:
            self._pool = pool
            try:
                outcome.aborted = self._loop()
            finally:
                if self._submitting:  # only after an abort (or a bug): settle what was on its way
                    for fut, rec in list(self._submitting.items()):
                        if fut.cancel():  # still queued in the pool: never sent
                            self._job_of.pop(id(rec), None)
                        else:
                            self._harvest(fut, rec)
                    self._submitting.clear()
                    self._wind_down()
        outcome.stopped = self._stopped
        outcome.client_ended_at = utcnow()
        outcome.requests = self.client.request_count - start_requests
        outcome.api_error_seconds = round(self.client.outage.seconds - start_outage, 3)
        outcome.learned_factor = self.model.factor
        self._records.sort(key=lambda r: r.sequence)
        return outcome

    # -- main loop -----------------------------------------------------------------

    def _loop(self) -> bool:
        while True:
            if self.stop_event.is_set() or self._stopped is not None:
                self._wind_down()
                return True
            self._release()
            if not self._queue and not self._submitting and not self._flights:
                return False
            now = self.clock()
            wake = min(self._next_poll_time(now), self._next_deadline())
            timeout = max(0.0, wake - now)
            if self._submitting:
                done, _ = wait(
                    list(self._submitting), timeout=min(timeout, 1.0), return_when=FIRST_COMPLETED
                )
                for fut in done:
                    self._harvest(fut, self._submitting.pop(fut))
            elif timeout > 0:
                self.stop_event.wait(min(timeout, 1.0))
            now = self.clock()
            if self._flights and now >= self._next_poll_time(now):
                self._poll(now)
            self._enforce_timeouts(self.clock())

    def _in_flight(self) -> int:
        return len(self._flights) + len(self._submitting)

    def _release(self) -> None:
        """Submit what the mode allows right now."""
        mode, n = self.phase.mode, self.phase.concurrency
        if mode == "batch":
            if self._in_flight() == 0 and self._queue:
                self._wave_started = self.clock()
                for _ in range(min(n, len(self._queue))):
                    self._submit(*self._queue.pop())
            return
        limit = 1 if mode == "sequential" else n
        while self._queue and self._in_flight() < limit:
            self._submit(*self._queue.pop())

    def _submit(self, sequence: int, job: PlannedJob) -> None:
        unique = self.phase.unique_job_name(job, sequence, self.epoch, self.token)
        definition_id = self.definition_ids.get(job.name, job.definition_id)
        record = JobRecord(
            name=job.name,
            unique_job_name=unique,
            phase=self.phase.name,
            context=self.phase.context,
            sequence=sequence,
            definition_id=definition_id,
        )
        body = job_request(
            name=unique,
            definition_id=str(definition_id),
            context=self.phase.context,
            arguments=job.arguments,
            run_id=self.run_id,
            phase=self.phase.name,
            job_timeout_s=self.policy.job_timeout_s,
        )
        assert self._pool is not None
        fut = self._pool.submit(self._post, body)
        self._submitting[fut] = record
        self._job_of[id(record)] = job

    def _post(self, body: dict[str, Any]) -> tuple[dict[str, Any], datetime, float]:
        sent_at = utcnow()
        job = self.client.submit_job(body)
        return job, sent_at, self.clock()

    def _harvest(self, fut: Future[Any], record: JobRecord) -> None:
        job_cfg = self._job_of.pop(id(record))
        try:
            job, sent_at, t_answer = fut.result()
        # refused with a 401: certainly not created, and nothing more will be
        except AuthError as e:
            self._auth_refused(e)
            return
        except ViyaError as e:
            if self._refused_for_drift(e):
                return  # the phase stops on it: one line, not one failure per job
            record.status = "submit_failed"
            record.error = str(e)
            record.client_submitted_at = utcnow()
            self._finish(record)
            log.warning(
                "phase %s: %s could not be submitted: %s",
                self.phase.name,
                record.unique_job_name,
                e,
            )
            return
        record.client_submitted_at = sent_at
        record.job_instance_id = job.get("id")
        record.apply_server_job(job)
        if not record.job_instance_id:
            record.status, record.error = "submit_failed", "submission answer had no job id"
            self._finish(record)
            return
        self.listener.job_submitted(self.phase, record)
        if job.get("state") in TERMINAL_STATES:
            record.client_ended_at = utcnow()
            self._finish(record, expected=job_cfg.expected_runtime_s)
            return
        exact = self.model.exact(job_cfg.expected_runtime_s)
        est = exact if exact is not None else self.model.estimate(job_cfg.expected_runtime_s)
        shortest = self.model.shortest
        lo = self.policy.interval_min
        earliest = self.model.earliest(job_cfg.expected_runtime_s)
        if exact is not None:  # its own runtime: bracket the expected end
            due, step = t_answer + exact * self._bracket[0], max(lo, exact * BRACKET_STEP)
        elif self.phase.mode == "window" and est is not None and self._in_flight() > 1:
            # the window's shared looks (the lead's) cover an early end: its own first look at
            # the typical end the phase has learned
            due, step = t_answer + max(lo, est * SHORTEST_MARGIN), lo
        # uneven phase: not before its estimate at the best ratio; then as it ages
        elif earliest is not None:
            due, step = t_answer + max(lo, earliest * SHORTEST_MARGIN), lo
        # few end before the shortest job so far did; then poll as it ages
        elif shortest is not None:
            n = self.model.observed
            # a window's looks are shared: its first look waits for the shortest job seen
            share = (
                SHORTEST_MARGIN
                if self.phase.mode == "window"
                else min(SHORTEST_MARGIN, n / (n + 1))
            )
            due, step = t_answer + max(lo, shortest * share), lo
        else:  # nothing learned yet: probe as it ages
            due, step = t_answer + lo, lo
        flight = _Flight(
            record, job_cfg, t_answer, due, step, est, exact=exact is not None, t_base=t_answer
        )
        self._flights[record.job_instance_id] = flight
        self._schedule(flight, due)
        heapq.heappush(
            self._deadlines, (t_answer + self.policy.job_timeout_s, record.job_instance_id)
        )

    # -- scheduling ------------------------------------------------------------------

    def _schedule(self, flight: _Flight, due: float) -> None:
        flight.version += 1
        flight.due = max(due, self._quiet_until(flight))
        heapq.heappush(self._heap, (due, flight.version, flight.record.job_instance_id or ""))

    def _quiet_until(self, flight: _Flight) -> float:
        """A job whose end releases nothing needs no look of its own before the job expected to
        end last in its wave (batch) or phase (all): that one's looks cover it (one list request
        covers up to 100 jobs). Without estimates, looks are spaced by a share of the wave's age."""
        if len(self._flights) <= 1:
            return float("-inf")
        if self.phase.mode == "window":
            return self._window_quiet_until(flight)
        if self.phase.mode not in WAVE_MODES:
            return float("-inf")
        last = max(self._flights.values(), key=_expected_end)
        if flight is not last and _expected_end(last) > _expected_end(flight):
            return _expected_end(last)
        if flight.exact:
            return float("-inf")
        wave_age = max(0.0, self.clock() - self._wave_started)
        return self._last_poll + wave_age * WAVE_SPACING

    def _window_end(self, f: _Flight) -> float:
        """Window mode: the soonest this job plausibly ends -- its own estimate, else the shortest
        job this phase has seen, else its submission (nothing learned: the oldest ends first)."""
        run = f.estimate if f.estimate is not None else self.model.shortest
        return f.t_base + (run or 0.0) * SHORTEST_MARGIN

    def _window_quiet_until(self, flight: _Flight) -> float:
        """Window mode: one list request covers every job in flight, so only the job expected to
        end first (the *lead*) sets when to look; the others wait for its looks."""
        lead = min(self._flights.values(), key=self._window_end)
        return float("-inf") if flight is lead else lead.due

    def _peek_due(self) -> float | None:
        while self._heap:
            due, version, job_id = self._heap[0]
            f = self._flights.get(job_id)
            if f is not None and f.version == version:
                return due
            heapq.heappop(self._heap)
        return None

    def _next_poll_time(self, now: float) -> float:
        if not self._flights:
            return now + self.policy.interval_max
        due = self._peek_due()
        earliest = self._last_poll + self.policy.interval_min
        latest = (
            self._last_poll + self.policy.interval_max
            if self._last_poll > float("-inf")
            else now + self.policy.interval_max
        )
        earliest = max(earliest, self._wave_floor())
        if due is None:
            return max(earliest, min(latest, now))
        return max(earliest, min(due, latest))

    def _wave_floor(self) -> float:
        """Batch / all with several jobs in flight: their ends release nothing until the last one,
        so list requests are spaced by a share of the wave's age, none before its earliest end."""
        if self.phase.mode not in WAVE_MODES or len(self._flights) <= 1:
            return float("-inf")
        ends = [
            f.t_base + f.estimate * SHORTEST_MARGIN for f in self._flights.values() if f.estimate
        ]
        first_end = (
            min(ends)
            if len(ends) == len(self._flights)
            else self._wave_started + (self.model.shortest or 0.0) * SHORTEST_MARGIN
        )
        spacing = (self._last_poll - self._wave_started) * WAVE_SPACING
        return max(first_end, self._last_poll + spacing)

    def _pop_valid(self) -> _Flight | None:
        while self._heap:
            _, version, job_id = heapq.heappop(self._heap)
            f = self._flights.get(job_id)
            if f is not None and f.version == version:
                return f
        return None

    def _pick(self, now: float) -> list[_Flight]:
        """Due flights, plus the next-due ones to fill the last request's free id slots."""
        cap = self.policy.ids_per_request
        picked: list[_Flight] = []
        while (due := self._peek_due()) is not None and due <= now + self.policy.interval_min / 2:
            f = self._pop_valid()
            if f is not None:
                picked.append(f)
        # a tick forced by poll_interval_max has nothing due: it asks about the earliest ones
        free = cap if not picked else (-len(picked)) % cap
        for _ in range(free):
            f = self._pop_valid()
            if f is None:
                break
            picked.append(f)
        return picked

    def _poll(self, now: float) -> None:
        flights = self._pick(now)
        if not flights:
            return
        self._last_poll = now
        self._looks += 1
        ids = [f.record.job_instance_id or "" for f in flights]
        try:
            jobs = self.client.get_jobs(ids)
        except AuthError as e:
            for f in flights:
                self._schedule(f, f.due)  # still in flight: _wind_down marks them
            self._auth_refused(e)
            return
        except ViyaError as e:
            self._poll_failures += 1
            if self._failing_since is None:
                self._failing_since = now
            down_for = now - self._failing_since
            log.warning(
                "phase %s: polling failed (%d in a row, for %.1f s): %s",
                self.phase.name,
                self._poll_failures,
                down_for,
                e,
            )
            # while Viya is down, back off (doubling, within the poll interval bounds) instead of hammering it
            backoff = min(
                self.policy.interval_max, self.policy.interval_min * 2**self._poll_failures
            )
            for f in flights:
                self._schedule(f, now + max(backoff, min(self.policy.interval_max, f.step)))
            if self._poll_failures >= MAX_POLL_FAILURES and down_for >= self.policy.lost_contact_s:
                self._give_up(f"lost contact with Viya for {down_for:.0f} s: {e}")
            return
        self._poll_failures = 0
        self._failing_since = None
        by_id = {j.get("id"): j for j in jobs if isinstance(j, dict)}
        t = self.clock()
        observed = self.model.observed
        for f in flights:
            job = by_id.get(f.record.job_instance_id)
            if job is None:
                f.misses += 1
                if f.misses >= MISSING_LIMIT:
                    job = self._lookup_missing(f)
                    if job is None:
                        continue
                else:
                    self._reschedule(f, t, None)
                    continue
            state = job.get("state")
            if state in TERMINAL_STATES:
                f.record.client_ended_at = utcnow()
                f.record.apply_server_job(job)
                if state == "failed":
                    f.record.log_tail = self._log_tail(f.record, job)
                del self._flights[f.record.job_instance_id or ""]
                self._finish(f.record, expected=f.job.expected_runtime_s, queued_s=f.queued_s)
            else:
                self._reschedule(f, t, state)
        if self.model.observed != observed:
            self._refresh_window(t)
        self._became_critical(t)

    def _log_tail(self, record: JobRecord, job: dict[str, Any]) -> str | None:
        """A failed job's log tail; a log that cannot be read costs the record nothing else."""
        try:
            return self.client.get_log_tail(job)
        except ViyaError as e:
            log.warning(
                "phase %s: %s failed and its log could not be read: %s",
                self.phase.name,
                record.unique_job_name,
                e,
            )
            return None

    def _reschedule(self, f: _Flight, now: float, state: str | None) -> None:
        lo, hi = self.policy.interval_min, self.policy.interval_max
        est = f.estimate
        f.queued = state == "pending"
        if state == "pending":
            f.last_pending_at = now
            f.queued_s = now - f.t_submit
            if self.on_pending is not None:
                self.on_pending()
        elif state == "running" and f.last_pending_at is not None and est is not None:
            # it started between the last "pending" answer and this one: expect it a runtime after the midpoint
            started = (f.last_pending_at + now) / 2
            f.last_pending_at = None
            f.step = max(lo, est * RESTART_STEP)
            if f.exact:  # bracket its end again, counted from its start
                f.t_base, f.bracket = started, 0
                self._schedule(f, max(now + lo, min(now + hi, started + est * self._bracket[0])))
                return
            self._schedule(f, now + min(hi, max(lo, started + est * DUE_MARGIN - now)))
            return
        if state == "pending" and self._shared_window():
            # queued: no end before its start -- the window's shared queued wait, not its own plan
            self._schedule(f, now + max(lo, self._window_queued_delay(now)))
            return
        if f.due > now + self._merge_slack(now):  # polled early for free: keep its own due time
            self._schedule(f, f.due)
            return
        if (
            state != "pending"
            and f.exact
            and est is not None
            and f.bracket + 1 < len(self._bracket)
        ):
            f.bracket += 1
            due = f.t_base + est * self._bracket[f.bracket]
            self._schedule(f, max(now + lo, min(now + hi, due)))
            return
        if self._window_overdue(f, now, state):
            return
        critical = self._critical()
        if not f.exact and state != "pending":
            # no runtime of its own: poll each time its age grew by a fixed share, so the gap after
            # its end stays that share of its runtime whatever the runtime is
            growth = (
                self._window_growth()
                if self.phase.mode == "window"
                else PROBE_GROWTH
                if self.model.shortest is None
                else UNKNOWN_GROWTH
                if critical
                else RELAXED_GROWTH
            )
            delay = min((now - f.t_submit) * growth, self._hint_delay(f, now))
        elif est is None:  # queued, nothing learned: look again as it ages
            delay = (now - f.t_submit) * PROBE_GROWTH
        elif state == "pending":
            # queued, its whole run still ahead: wait half a runtime, or half its age in the queue
            delay = max(est * QUEUED_WAIT, (now - f.t_submit) * QUEUED_WAIT)
        else:  # running past its expected end: back off geometrically, but never wait longer
            # than a fraction of its age, so a job slowed down by contention is noticed (and the
            # next batch released) within ~OVERDUE_AGE_FRACTION of its real duration
            fraction = CRITICAL_AGE_FRACTION if critical else OVERDUE_AGE_FRACTION
            delay = min(f.step, (now - f.t_submit) * fraction)
            f.step *= OVERDUE_GROWTH
        self._schedule(f, now + min(hi, max(lo, delay)))

    def _window_overdue(self, f: _Flight, now: float, state: str | None) -> bool:
        """Window mode, a job past its own plan (or with none): one look for all of them, the
        window's spacing from this look -- so n jobs cost one request per look, not n. False when
        the job is not in a shared window (its own look, as in the other modes)."""
        if state != "pending" and f.exact and f.estimate is not None and self._refutes_prior(f):
            self._drop_prior()
        if not self._shared_window():
            return False
        lo, hi = self.policy.interval_min, self.policy.interval_max
        delay = min(self._window_spacing(now), self._hint_delay(f, now))
        self._schedule(f, now + min(hi, max(lo, delay)))
        return True

    def _hint_delay(self, f: _Flight, now: float) -> float:
        """The config's runtime, in unknown units (an emulator runs 200x faster), before anything
        is learned: one candidate among the probes -- if it is right, the job is seen ending near
        it (inf when there is none)."""
        hint = f.job.expected_runtime_s
        if not hint or self.model.factor is not None:
            return float("inf")
        lo = self.policy.interval_min
        nxt = next((t for b in self._bracket if (t := f.t_submit + hint * b) > now + lo), None)
        return float("inf") if nxt is None else nxt - now

    def _shared_window(self) -> bool:
        """Window mode with several jobs in flight: each list request covers all of them."""
        return self.phase.mode == "window" and len(self._flights) > 1

    def _window_growth(self) -> float:
        """Window mode: looks a share of the typical runtime apart. One look covers all ``n`` jobs
        in flight and they end ~n times per runtime, so a share of 1/(L x n) costs about L looks
        per job while a freed slot waits ~half that share: L is what the phase's request budget
        has left per job not yet ended (:meth:`_looks_per_job_left`). Before any end, a share of
        the oldest job's age: a geometric probe."""
        n = max(1, len(self._flights))
        if self.model.shortest is None:
            return max(WINDOW_PROBE_GROWTH, 1.0 / (WINDOW_LOOKS_PER_JOB * n))
        share = 1.0 / (self._looks_per_job_left() * n)
        return min(RELAXED_GROWTH, max(UNKNOWN_GROWTH, share))

    def _looks_per_job_left(self) -> float:
        """Window mode: list requests the phase may still make per job not yet ended, within
        issue 21's budget (WINDOW_REQUESTS_PER_JOB per job, its submission included) -- what the
        queue and the probe did not spend buys closer looks, an overspend sparser ones."""
        budget = len(self.phase.jobs) * (WINDOW_REQUESTS_PER_JOB - 1)
        jobs_left = len(self._queue) + len(self._submitting) + len(self._flights)
        left = (budget - self._looks) / max(1, jobs_left)
        return min(WINDOW_LOOKS_MAX, max(WINDOW_LOOKS_MIN, left))

    def _window_spacing(self, now: float) -> float:
        """The window's next look after ``now``: a share of the typical runtime (the phase's
        median so far); before any end, of the oldest job's age."""
        typical = self.model.estimate(None)
        ref = typical if typical else max(now - f.t_base for f in self._flights.values())
        return ref * self._window_growth()

    def _refresh_window(self, now: float) -> None:
        """Window mode, a job of this phase ended: the jobs in flight submitted before anything was
        learned (or on a factor now seen too slow) get their own estimate from the phase's factor,
        and bracket their end if it is still ahead."""
        if self.phase.mode != "window":
            return
        for f in self._flights.values():
            exact = self.model.exact(f.job.expected_runtime_s)
            if exact is None or f.last_pending_at is not None:
                continue
            # sooner than it was bracketed for (the factor of an earlier phase was too slow): its
            # bracket starts again from the phase's own factor
            due = f.t_base + exact * self._bracket[0]
            if f.exact and (f.estimate is None or exact >= f.estimate):
                continue
            f.exact, f.estimate, f.bracket = True, exact, 0
            if due > now:
                self._schedule(f, due)

    def _merge_slack(self, now: float) -> float:
        """How soon after a look a job's own due may be and still count as covered by it: the
        poll floor; in a shared window a share of its spacing (a look a moment after the last is
        a request that tells nothing new)."""
        lo = self.policy.interval_min
        if not self._shared_window():
            return lo
        return max(lo, WINDOW_MERGE_SHARE * self._window_spacing(now))

    def _window_queued_delay(self, now: float) -> float:
        """Window mode, a job queued: its whole run is still ahead, and starts when another job
        ends. While one runs, that one's looks cover it; with all queued (a pool scaling up: no
        end before a node is ready and a whole run on it), poll_interval_max."""
        return self.policy.interval_max

    def _refutes_prior(self, f: _Flight) -> bool:
        """A job bracketed from a factor this phase has not confirmed (the runtimes of an earlier
        phase or run) ran past its whole bracket: that factor does not hold here."""
        return (
            self.phase.mode == "window"
            and not self._prior_dropped
            and self.model.observed == 0
            and f.bracket + 1 >= len(self._bracket)
        )

    def _drop_prior(self) -> None:
        """Window mode: estimates from another phase (its factor refuted) become lower bounds --
        no job brackets its end on them any more; the shared looks cover every job in flight."""
        self._prior_dropped = True
        self.model.prior_factor = None
        for g in self._flights.values():
            g.exact = False

    def _critical(self) -> bool:
        """Does the next job end release work (so that its detection delay is idle time)?"""
        return self.phase.mode in ("sequential", "window") or len(self._flights) <= 1

    def _became_critical(self, now: float) -> None:
        """The last job of a batch wave (or of "all") is left: look at it as closely as at a sequential one."""
        if self.phase.mode not in ("batch", "all") or len(self._flights) != 1:
            return
        f = next(iter(self._flights.values()))
        if f.exact and f.estimate is not None and f.bracket + 1 < len(BRACKET):
            return  # still bracketing its expected end: already close
        age = now - f.t_submit
        fraction = UNKNOWN_GROWTH if not f.exact else CRITICAL_AGE_FRACTION
        due = now + max(self.policy.interval_min, age * fraction)
        if due < f.due:
            self._schedule(f, due)

    def _lookup_missing(self, f: _Flight) -> dict[str, Any] | None:
        try:
            job = self.client.get_job(f.record.job_instance_id or "")
        except ViyaError as e:
            log.warning(
                "phase %s: %s missing from list answers and lookup failed: %s",
                self.phase.name,
                f.record.unique_job_name,
                e,
            )
            self._reschedule(f, self.clock(), None)
            return None
        if job is None:
            del self._flights[f.record.job_instance_id or ""]
            f.record.status, f.record.error = "failed", "job no longer exists on the server"
            f.record.client_ended_at = utcnow()
            self._finish(f.record)
            return None
        f.misses = 0
        return job

    # -- endings ---------------------------------------------------------------------

    def _finish(
        self, record: JobRecord, expected: float | None = None, queued_s: float = 0.0
    ) -> None:
        if (
            record.status == "completed"
            and record.timing_source == "server"
            and record.duration is not None
        ):
            # learn the run time, not the queue: a wave stuck behind a scale-up says nothing about the next
            self.model.observe(expected, record.duration - queued_s)
        self._records.append(record)
        self.listener.job_finished(self.phase, record)

    def _next_deadline(self) -> float:
        while self._deadlines and self._deadlines[0][1] not in self._flights:
            heapq.heappop(self._deadlines)
        return self._deadlines[0][0] if self._deadlines else float("inf")

    def _enforce_timeouts(self, now: float) -> None:
        limit = self.policy.job_timeout_s
        while self._next_deadline() <= now:
            _, job_id = heapq.heappop(self._deadlines)
            self._cancel(
                self._flights[job_id], "timed_out", f"no terminal state after {limit:g} s: canceled"
            )

    def _cancel(self, f: _Flight, status: str, reason: str) -> None:
        job_id = f.record.job_instance_id or ""
        self._flights.pop(job_id, None)
        try:
            self.client.cancel_job(job_id)
            final = self.client.get_jobs([job_id])
        except ViyaError as e:
            final = []
            reason += f" (cancel request failed: {e})"
        if final:
            f.record.apply_server_job(final[0])
        finished = (
            f.record.server_state == "completed"
            if status == "timed_out"
            else f.record.server_state in ("completed", "failed")
        )
        if finished:
            # it finished between our last poll and the cancel: a normal ending
            f.record.client_ended_at = utcnow()
            self._finish(f.record, expected=f.job.expected_runtime_s)
            return
        f.record.status = status
        f.record.error = reason
        f.record.client_ended_at = utcnow()
        self._finish(f.record)

    def _cancel_all(self, reason: str) -> None:
        flights = list(self._flights.values())
        if len(flights) <= 1:
            for f in flights:
                self._cancel(f, "canceled", reason)
            return
        # a stop mid-phase (SIGTERM grace period): cancel in parallel, then one list request
        ids = [f.record.job_instance_id or "" for f in flights]
        with ThreadPoolExecutor(max_workers=min(8, len(ids)), thread_name_prefix="cancel") as pool:
            failures = dict(zip(ids, pool.map(self._try_cancel, ids), strict=True))
        try:
            final = {j.get("id"): j for j in self.client.get_jobs(ids)}
        except ViyaError as e:
            final = {}
            log.warning("phase %s: state after canceling unknown: %s", self.phase.name, e)
        for f in flights:
            job_id = f.record.job_instance_id or ""
            self._flights.pop(job_id, None)
            job = final.get(job_id)
            if job is not None:
                f.record.apply_server_job(job)
            f.record.client_ended_at = utcnow()
            # it finished before the cancel landed
            if f.record.server_state in ("completed", "failed"):
                self._finish(f.record, expected=f.job.expected_runtime_s)
                continue
            f.record.status = "canceled"
            f.record.error = reason + (
                f" (cancel request failed: {failures[job_id]})" if failures[job_id] else ""
            )
            self._finish(f.record)

    # -- errors the phase cannot ride out ------------------------------------------------

    def _wind_down(self) -> None:
        """End the phase's jobs in flight: canceled on a stop; after a refused authentication no
        request can succeed, so they are left as they are -- status unknown, still on the server."""
        if not isinstance(self._stopped, AuthFailedError):
            reason = "run aborted" if self._stopped is None else f"run stopped: {self._stopped}"
            self._cancel_all(reason)
            return
        for f in list(self._flights.values()):
            self._flights.pop(f.record.job_instance_id or "", None)
            f.record.status = JobStatus.UNKNOWN
            f.record.error = (
                "authentication refused mid-run: state unknown, may still run on the server"
            )
            f.record.client_ended_at = utcnow()
            self._finish(f.record)

    def _auth_refused(self, e: AuthError) -> None:
        if self._stopped is not None:
            return
        self._stopped = AuthFailedError(
            f"authentication failed during phase {self.phase.name}: {e} -- the jobs in flight "
            "may still run on the server (status 'unknown' in the results); renew the "
            "credentials (`jes-runner auth`) and cancel them with `jes-runner run --cancel-orphans`"
        )
        log.error("%s", self._stopped)

    def _refused_for_drift(self, e: ViyaError) -> bool:
        """A submission refused because the configuration left Viya (this one found it, or an
        earlier one did): not created, so not a job record -- the phase's planned count shows it."""
        if isinstance(self._stopped, ConfigError):
            return isinstance(e, ViyaHTTPError) and e.status in (400, 404)
        return self._stopped is None and self._configuration_gone(e)

    def _configuration_gone(self, e: ViyaError) -> bool:
        """A submission refused because the phase's context or the job's definition disappeared
        from Viya mid-run (asked of Viya, not guessed from the message): stop the phase."""
        if not isinstance(e, ViyaHTTPError) or e.status not in (400, 404):
            return False
        try:
            contexts = {str(c.get("name")) for c in self.client.list_contexts()}
            gone = (
                []
                if self.phase.context in contexts
                else [f"compute context '{self.phase.context}'"]
            )
            gone += [
                f"job definition {d}"
                for d in sorted(set(self.definition_ids.values()))
                if not self.client.definition_exists(d)
            ]
        except ViyaError:
            return False
        if not gone:
            return False
        self._stopped = ConfigError(
            f"{' and '.join(gone[:3])} disappeared from Viya during phase {self.phase.name} "
            "-- fix the job config or the phases (`jes-runner check`), then run again"
        )
        log.error("%s", self._stopped)
        return True

    def _try_cancel(self, job_id: str) -> str | None:
        try:
            self.client.cancel_job(job_id)
        except ViyaError as e:
            return str(e)
        return None

    def _give_up(self, reason: str) -> None:
        for f in list(self._flights.values()):
            self._flights.pop(f.record.job_instance_id or "", None)
            f.record.status, f.record.error = "failed", reason
            f.record.client_ended_at = utcnow()
            self._finish(f.record)
        while self._queue:
            seq, job = self._queue.pop()
            rec = JobRecord(
                name=job.name,
                unique_job_name=self.phase.unique_job_name(job, seq, self.epoch, self.token),
                phase=self.phase.name,
                context=self.phase.context,
                sequence=seq,
                definition_id=self.definition_ids.get(job.name, job.definition_id),
                status="submit_failed",
                error=f"not submitted: {reason}",
            )
            self._finish(rec)
