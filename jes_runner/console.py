"""What the user sees: log lines (text or JSON), live progress, the summary table.

Everything goes to stdout; stderr is kept for the single ``error:`` line a
failing command prints, so scripts can rely on it.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

from jes_runner.measure.plan import PhasePlan
from jes_runner.measure.records import JobRecord

_STD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _STD_ATTRS and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(fmt: str = "text", stream: IO[str] | None = None, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(stream or sys.stdout)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
    for name in ("jes_runner", "py.warnings"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(level)
        lg.propagate = False
    logging.captureWarnings(True)  # e.g. urllib3's InsecureRequestWarning, as log lines not stderr


class RunIdFilter(logging.Filter):
    """Stamps every log record with the run id (JSON lines then carry it as a field)."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = self.run_id
        return True


@contextmanager
def run_id_in_logs(run_id: str) -> Iterator[None]:
    handlers = list(logging.getLogger("jes_runner").handlers)
    flt = RunIdFilter(run_id)
    for h in handlers:
        h.addFilter(flt)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(flt)


class Progress:
    """Phase listener: a live line on a TTY, one log line per job otherwise."""

    def __init__(self, stream: IO[str] | None = None, *, live: bool | None = None, log_format: str = "text") -> None:
        self.stream = stream or sys.stdout
        self.live = (self.stream.isatty() and log_format == "text") if live is None else live
        self.log = logging.getLogger("jes_runner.progress")
        self._lock = threading.Lock()
        self._phase: str | None = None
        self._total = self._done = self._failed = self._submitted = 0
        self._last_draw = 0.0

    def phase_started(self, phase: PhasePlan) -> None:
        with self._lock:
            self._phase, self._total = phase.name, len(phase.jobs)
            self._done = self._failed = self._submitted = 0
        self.log.info("phase %s: %d jobs, mode %s%s, context '%s'", phase.name, len(phase.jobs), phase.mode,
                      "" if phase.mode in ("sequential", "all") else f" {phase.concurrency}", phase.context,
                      extra={"event": "phase_started", "phase": phase.name, "jobs": len(phase.jobs)})

    def phase_ended(self, phase: PhasePlan) -> None:
        if self.live:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()

    def job_submitted(self, phase: PhasePlan, record: JobRecord) -> None:
        with self._lock:
            self._submitted += 1
        if self.live:
            self._draw()

    def job_finished(self, phase: PhasePlan, record: JobRecord) -> None:
        with self._lock:
            self._done += 1
            self._failed += record.status != "completed"
        if self.live:
            self._draw()
            return
        dur = record.duration
        self.log.info(
            "phase %s: %s %s%s [%d/%d]", phase.name, record.unique_job_name, record.status,
            f" in {dur:.3f} s ({record.timing_source})" if dur is not None else "", self._done, self._total,
            extra={"event": "job_finished", "phase": phase.name, "job": record.name,
                   "unique_job_name": record.unique_job_name, "status": record.status, "duration": dur,
                   "timing_source": record.timing_source},
        )

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            in_flight = self._submitted - self._done
            width = 30
            filled = int(width * self._done / self._total) if self._total else width
            line = (f"\r{self._phase}: [{'#' * filled}{'.' * (width - filled)}] {self._done}/{self._total} done"
                    f", {max(0, in_flight)} in flight" + (f", {self._failed} not completed" if self._failed else ""))
        self.stream.write(line)
        self.stream.flush()


def fmt_number(v: Any, digits: int = 1) -> str:
    """The one number format of every table: ``-`` for unknown, fixed decimals for floats."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


