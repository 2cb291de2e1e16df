"""Match job records with Workload Orchestrator jobs, right after each phase.

Name rule (observed on 162 real jobs): the orchestrator's ``request.name`` is the
job request name lower-cased with underscores removed, then ``-<uuid>``. The
orchestrator lists newest first; we page until items are older than the phase
and retry with backoff until every job is matched (and ended) or a deadline
passes. Jobs still unmatched are listed, never dropped.

Job names carry the run token (``plan.run_token``), so another run's jobs never
share a key with ours. Should two orchestrator jobs still map to one key, the
match is ambiguous: the record stays unmatched with a warning, never a guess.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from jes_runner._util import parse_ts
from jes_runner.measure.records import JobRecord
from jes_runner.viya import AuthError, ViyaClient, ViyaError, ViyaHTTPError

log = logging.getLogger("jes_runner.measure.correlation")

_UUID_TAIL = re.compile(r"-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# orchestrator submitTime has second precision and comes from another service's clock
SUBMIT_SLACK = timedelta(seconds=10)


def orchestrator_key(unique_job_name: str) -> str:
    return unique_job_name.lower().replace("_", "")


def name_key(orchestrator_name: str) -> str | None:
    """The job-name part of `<name>-<uuid>`, or None when the name does not follow the rule."""
    name = orchestrator_name.lower()
    m = _UUID_TAIL.search(name)
    return name[: m.start()] if m else None


def _pairs(items: Iterable[Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for it in items or []:
        if isinstance(it, dict) and "name" in it:
            out[str(it["name"])] = it.get("value")
    return out


def orchestrator_data(item: dict[str, Any]) -> dict[str, Any]:
    pi = item.get("processingInfo") or {}
    rq = item.get("request") or {}
    consumed = _pairs(pi.get("consumedResources"))
    return {
        "orchestrator_job_id": item.get("id"),
        "orchestrator_name": rq.get("name"),
        "queue": rq.get("queue"),
        "state": pi.get("state"),
        "exit_code": pi.get("exitCode"),
        "execution_host": pi.get("executionHost"),
        "execution_ip": pi.get("executionIP"),
        "submit_time": pi.get("submitTime"),
        "start_time": pi.get("startTime"),
        "end_time": pi.get("endTime"),
        "queue_wait_seconds": pi.get("totalTimePending"),
        "starting_seconds": pi.get("totalTimeStarting"),
        "execution_seconds": pi.get("totalTimeRunning"),
        "requeue_count": pi.get("requeueCount"),
        "cpu_cores": consumed.get("cores"),
        "memory_mb": consumed.get("memory"),
        "limits": _pairs(pi.get("limitValues")),
    }


def _ended(item: dict[str, Any]) -> bool:
    return bool((item.get("processingInfo") or {}).get("endTime"))


class Correlator:
    def __init__(
        self,
        client: ViyaClient,
        *,
        deadline_s: float = 120.0,
        page_limit: int = 500,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        stop_event: threading.Event | None = None,
        stop_budget_s: float = 5.0,
    ) -> None:
        self.client = client
        self.deadline_s = deadline_s
        # stopping (SIGTERM/SIGINT): what is matched within stop_budget_s of the signal is kept,
        # the rest listed unmatched -- correlation never eats the grace period
        self.stop_event = stop_event or threading.Event()
        self.stop_budget_s = stop_budget_s
        self.page_limit = page_limit
        self.sleep = sleep or self._nap
        self.clock = clock
        self._stop_seen: float | None = None
        self.available = True  # False once the orchestrator answered 404/403: stop asking

    def correlate(self, records: list[JobRecord], phase_start: datetime | None) -> list[str]:
        """Attach orchestrator data to records; return the unique names left unmatched."""
        want: dict[str, JobRecord] = {}
        for r in records:
            if r.job_instance_id:
                key = orchestrator_key(r.unique_job_name)
                if key in want:
                    log.warning(
                        "orchestrator name rule maps %s and %s to the same name; cannot tell them apart",
                        want[key].unique_job_name,
                        r.unique_job_name,
                    )
                want[key] = r
        unmatched_names = [r.unique_job_name for r in records if not r.job_instance_id]
        if not want:
            return unmatched_names
        if not self.available:
            return unmatched_names + [r.unique_job_name for r in want.values()]

        floor = (phase_start - SUBMIT_SLACK) if phase_start else None
        found: dict[str, dict[str, Any]] = {}
        # key -> orchestrator job ids seen for it (more than one)
        ambiguous: dict[str, set[str]] = {}
        deadline = self.clock() + self.deadline_s
        delay = 0.2
        while True:
            deadline = self._stop_bound(deadline)
            try:
                # the listing's own retries stop at the deadline too (monotonic, whatever self.clock is)
                self._scan(
                    want,
                    found,
                    floor,
                    time.monotonic() + max(0.0, deadline - self.clock()),
                    ambiguous,
                )
            except ViyaHTTPError as e:
                if e.status in (403, 404):
                    log.warning(
                        "Workload Orchestrator not available (HTTP %d); %d jobs left uncorrelated",
                        e.status,
                        len(want),
                    )
                    self.available = False
                    break
                log.warning("orchestrator listing failed: %s", e)
            except AuthError as e:  # no token will come back by waiting: keep what matched
                log.warning("orchestrator listing refused (%s); the rest stays unmatched", e)
                break
            except ViyaError as e:
                log.warning("orchestrator listing failed: %s", e)
            pending = [
                k for k in want if k not in ambiguous and (k not in found or not _ended(found[k]))
            ]
            deadline = self._stop_bound(deadline)
            remaining = deadline - self.clock()
            if not pending or remaining <= 0:
                break
            self.sleep(min(delay, remaining))
            delay = min(delay * 2, 5.0)

        for key, ids in ambiguous.items():
            found.pop(key, None)
            log.warning(
                "%s matches %d Workload Orchestrator jobs (%s); left unmatched rather than guessed",
                want[key].unique_job_name,
                len(ids),
                ", ".join(sorted(ids)[:3]),
            )
        for key, item in found.items():
            rec = want[key]
            rec.orchestrator = orchestrator_data(item)
            rec.started_at = parse_ts(rec.orchestrator["start_time"]) or rec.started_at
        missing = [want[k].unique_job_name for k in want if k not in found]
        if len(missing) > len(ambiguous):
            log.warning(
                "%d job(s) not found in the Workload Orchestrator before the %.0f s deadline",
                len(missing),
                self.deadline_s,
            )
        return unmatched_names + missing

    def _nap(self, seconds: float) -> None:
        """Wait between listings; a stop arriving cuts the wait short (then waits go on, bounded)."""
        if self.stop_event.is_set():
            time.sleep(seconds)
        else:
            self.stop_event.wait(seconds)

    def _stop_bound(self, deadline: float) -> float:
        """The deadline, pulled in to ``stop_budget_s`` after a stop was first seen."""
        if not self.stop_event.is_set():
            return deadline
        if self._stop_seen is None:
            self._stop_seen = self.clock()
            log.warning(
                "stopping: correlation keeps what it matches within %.1f s, the rest is listed unmatched",
                self.stop_budget_s,
            )
        return min(deadline, self._stop_seen + self.stop_budget_s)

    def _scan(
        self,
        want: dict[str, JobRecord],
        found: dict[str, dict[str, Any]],
        floor: datetime | None,
        deadline: float | None = None,
        ambiguous: dict[str, set[str]] | None = None,
    ) -> None:
        ambiguous = {} if ambiguous is None else ambiguous
        for page in self.client.orchestrator_pages(self.page_limit, deadline=deadline):
            if self.stop_event.is_set() and self.clock() >= self._stop_bound(float("inf")):
                return  # a stop's budget is spent: keep what was found
            older = False
            for item in page:
                rq = item.get("request") or {}
                key = name_key(str(rq.get("name") or ""))
                if key is not None and key in want:
                    prior = found.get(key)
                    if prior is not None and prior.get("id") != item.get("id"):
                        ambiguous.setdefault(key, {str(prior.get("id"))}).add(str(item.get("id")))
                    found[key] = item
                submitted = parse_ts((item.get("processingInfo") or {}).get("submitTime"))
                if floor is not None and submitted is not None and submitted < floor:
                    older = True
            if older or all(k in ambiguous or (k in found and _ended(found[k])) for k in want):
                return
