"""JobRecord: everything measured about one job execution.

Server timestamps are the measurement; the runner's own clock is kept beside
them, labelled ``client_*``, because polling delays make it late by seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from jes_runner._util import iso, parse_ts

TERMINAL_STATES = frozenset({"completed", "failed", "canceled"})


class JobStatus(StrEnum):
    """A job record's status (the results schema's enum); a StrEnum, so it is written as its value."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMED_OUT = "timed_out"
    SUBMIT_FAILED = "submit_failed"
    # the run stopped (authentication refused, or it died and `recover` could not learn the end)
    # while the job was on the server: it may still run there -- never counted as failed
    UNKNOWN = "unknown"
    # the server's timestamps cannot be true (ended before it was created, negative elapsed
    # time): recorded, shown, and kept out of every statistic
    DATA_ERROR = "data_error"


DATA_ERROR = JobStatus.DATA_ERROR


@dataclass(slots=True)
class JobRecord:
    name: str
    unique_job_name: str
    phase: str
    context: str
    sequence: int
    definition_id: str | None = None
    job_instance_id: str | None = None
    status: str = "submit_failed"
    server_state: str | None = None
    submitted_at: datetime | None = None  # server creationTimeStamp
    started_at: datetime | None = None  # orchestrator startTime (Job Execution has no start stamp)
    ended_at: datetime | None = None  # server endTimeStamp
    elapsed_time_ms: int | float | None = None
    client_submitted_at: datetime | None = None
    client_ended_at: datetime | None = None
    error: str | None = None
    log_tail: str | None = None  # a failed job's log, its last lines (ViyaClient.get_log_tail)
    orchestrator: dict[str, Any] | None = field(default=None)

    @property
    def duration(self) -> float | None:
        """Server seconds: endTimeStamp − creationTimeStamp (client figures only as a fallback);
        None for a data error: an impossible figure enters no sum."""
        if self.status == DATA_ERROR:
            return None
        if self.submitted_at and self.ended_at:
            return round((self.ended_at - self.submitted_at).total_seconds(), 3)
        return self.client_duration if self.status != "submit_failed" else None

    @property
    def timing_source(self) -> str:
        return "server" if self.submitted_at and self.ended_at else "client"

    @property
    def client_duration(self) -> float | None:
        if self.client_submitted_at and self.client_ended_at:
            return round((self.client_ended_at - self.client_submitted_at).total_seconds(), 3)
        return None

    def apply_server_job(self, job: dict[str, Any]) -> None:
        """Copy the server's view of a (terminal) job into the record."""
        self.job_instance_id = job.get("id") or self.job_instance_id
        state = job.get("state")
        self.server_state = state
        self.submitted_at = parse_ts(job.get("creationTimeStamp")) or self.submitted_at
        self.ended_at = parse_ts(job.get("endTimeStamp")) or self.ended_at
        self.elapsed_time_ms = job.get("elapsedTime", self.elapsed_time_ms)
        if state in TERMINAL_STATES and self.status != "timed_out":
            self.status = state
        if state == "failed" and not self.error:
            self.error = _job_error(job) or "job failed"
        impossible = self.impossible_timestamps()
        if state in TERMINAL_STATES and impossible:
            self.status, self.error = DATA_ERROR, f"impossible server timestamps: {impossible}"

    def impossible_timestamps(self) -> str | None:
        """What in the server's figures cannot be true (None: nothing)."""
        if self.submitted_at and self.ended_at and self.ended_at < self.submitted_at:
            gap = (self.submitted_at - self.ended_at).total_seconds()
            return f"endTimeStamp {gap:.3f} s before creationTimeStamp"
        if isinstance(self.elapsed_time_ms, int | float) and self.elapsed_time_ms < 0:
            return f"elapsedTime {self.elapsed_time_ms} ms is negative"
        return None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobRecord:
        """A record back from :meth:`to_dict` (a checkpoint line); derived fields are recomputed."""
        return cls(
            name=str(d["name"]),
            unique_job_name=str(d["unique_job_name"]),
            phase=str(d["phase"]),
            context=str(d["context"]),
            sequence=int(d["sequence"]),
            definition_id=d.get("definition_id"),
            job_instance_id=d.get("job_instance_id"),
            status=str(d.get("status") or "submit_failed"),
            server_state=d.get("server_state"),
            submitted_at=parse_ts(d.get("submitted_at")),
            started_at=parse_ts(d.get("started_at")),
            ended_at=parse_ts(d.get("ended_at")),
            elapsed_time_ms=d.get("elapsed_time_ms"),
            client_submitted_at=parse_ts(d.get("client_submitted_at")),
            client_ended_at=parse_ts(d.get("client_ended_at")),
            error=d.get("error"),
            orchestrator=(d.get("metrics") or {}).get("orchestrator_data"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unique_job_name": self.unique_job_name,
            "job_instance_id": self.job_instance_id,
            "definition_id": self.definition_id,
            "phase": self.phase,
            "context": self.context,
            "sequence": self.sequence,
            "status": self.status,
            "server_state": self.server_state,
            "submitted_at": iso(self.submitted_at),
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "duration": self.duration,
            "elapsed_time_ms": self.elapsed_time_ms,
            "timing_source": self.timing_source,
            "client_submitted_at": iso(self.client_submitted_at),
            "client_ended_at": iso(self.client_ended_at),
            "client_duration": self.client_duration,
            "error": self.error,
            "log_tail": self.log_tail,
            "metrics": {"orchestrator_data": self.orchestrator},
        }


def _job_error(job: dict[str, Any]) -> str | None:
    err = job.get("error")
    if isinstance(err, dict):
        msg = err.get("message") or err.get("details")
        if isinstance(msg, list):
            msg = "; ".join(str(m) for m in msg)
        if msg:
            return " ".join(str(msg).split())[:500]
    details = job.get("stateDetails")
    if isinstance(details, dict):
        text = details.get("failureReason") or details.get("message")
        if text:
            return " ".join(str(text).split())[:500]
    elif isinstance(details, str) and details:
        return " ".join(details.split())[:500]
    return None
