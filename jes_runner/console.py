"""What the user sees while a command works: log lines (text or JSON), live progress,
and the one number format and table renderer every table shares.

Log lines and progress go to stderr; stdout carries only what a command produces
(the summary table, a listing, JSON), so ``jes-runner run > summary.txt`` and pipes
work. A failing command's last stderr line is its single ``error:`` line.
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

from jes_runner._util import DAY_S
from jes_runner.measure.plan import PhasePlan
from jes_runner.measure.records import JobRecord

_STD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
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


def configure_logging(
    fmt: str = "text", stream: IO[str] | None = None, level: int = logging.INFO
) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S")
        )
    for name in ("jes_runner", "py.warnings"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(level)
        lg.propagate = False
    logging.captureWarnings(True)  # e.g. urllib3's InsecureRequestWarning, as log lines not stderr
    from jes_runner.config.settings import warn_unknown_env

    warn_unknown_env()  # a mistyped JES_* name, said once in this run's log format


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
    """Phase listener: on a terminal, a status line redrawn at least once a second (elapsed,
    done / in flight / queued, ETA); elsewhere one log line per job (WARNING when it did not
    complete)."""

    TICK_S = 1.0

    def __init__(
        self, stream: IO[str] | None = None, *, live: bool | None = None, log_format: str = "text"
    ) -> None:
        self.stream = stream or sys.stderr
        self.live = (self.stream.isatty() and log_format == "text") if live is None else live
        self.log = logging.getLogger("jes_runner.progress")
        self._lock = threading.Lock()
        self._phase: PhasePlan | None = None
        self._done = self._failed = self._submitted = 0
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._ticker: threading.Thread | None = None
        self._stop_tick = threading.Event()

    def phase_started(self, phase: PhasePlan) -> None:
        with self._lock:
            self._phase = phase
            self._done = self._failed = self._submitted = 0
            self._started = time.monotonic()
        self.log.info(
            "phase %s: %d jobs, mode %s%s, context '%s'",
            phase.name,
            len(phase.jobs),
            phase.mode,
            "" if phase.mode in ("sequential", "all") else f" {phase.concurrency}",
            phase.context,
            extra={"event": "phase_started", "phase": phase.name, "jobs": len(phase.jobs)},
        )
        if self.live:
            self._stop_tick.clear()
            self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._ticker.start()

    def phase_ended(self, phase: PhasePlan) -> None:
        if self.live:
            self._stop_tick.set()
            if self._ticker is not None:
                self._ticker.join(timeout=2)
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
        level = logging.INFO if record.status == "completed" else logging.WARNING
        self.log.log(
            level,
            "phase %s: %s %s%s [%d/%d]",
            phase.name,
            record.unique_job_name,
            record.status,
            f" in {dur:.3f} s ({record.timing_source})" if dur is not None else "",
            self._done,
            len(phase.jobs),
            extra={
                "event": "job_finished",
                "phase": phase.name,
                "job": record.name,
                "unique_job_name": record.unique_job_name,
                "status": record.status,
                "duration": dur,
                "timing_source": record.timing_source,
            },
        )

    def _tick(self) -> None:
        while not self._stop_tick.wait(self.TICK_S):
            self._draw(force=True)

    def eta_seconds(self) -> float | None:
        """Time left: remaining jobs at the pace seen so far, or from the expected runtimes
        of the job config before any job has finished; None when neither is known."""
        with self._lock:
            phase = self._phase
            if phase is None:
                return None
            total, done = len(phase.jobs), self._done
            elapsed = time.monotonic() - self._started
            if done:
                return elapsed / done * (total - done)
            expected = [j.expected_runtime_s for j in phase.jobs if j.expected_runtime_s]
            if len(expected) != total:
                return None
            waves = max(1, phase.concurrency)
            return max(0.0, sum(expected) / waves - elapsed)

    def status_line(self) -> str:
        eta = self.eta_seconds()
        with self._lock:
            phase = self._phase
            total = len(phase.jobs) if phase else 0
            in_flight = max(0, self._submitted - self._done)
            queued = max(0, total - self._submitted)
            elapsed = time.monotonic() - self._started
            return (
                f"{phase.name if phase else '-'}: {fmt_duration(elapsed)} elapsed, {self._done}/{total} done, "
                f"{in_flight} in flight, {queued} queued"
                + (f", {self._failed} not completed" if self._failed else "")
                + (f", ETA {fmt_duration(eta)}" if eta is not None else "")
            )

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        line = self.status_line()
        with self._lock:
            self.stream.write("\r\x1b[2K" + line)
            self.stream.flush()


def fmt_duration(seconds: float) -> str:
    """``1h02m``, ``3m04s`` or ``5.2s``: elapsed times and ETAs."""
    s = max(0.0, seconds)
    if s < 60:
        return f"{s:.1f}s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m}m{sec:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def fmt_number(v: Any, digits: int = 1) -> str:
    """The one number format of every table: ``-`` for unknown, fixed decimals for floats."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def fmt_seconds(s: float | None) -> str:
    """Human duration: `42.1 s`, `15.1 min`, `2.3 h`, `3.5 d`."""
    if s is None:
        return "–"
    if abs(s) < 120:
        return f"{s:.1f} s" if abs(s) >= 1 or s == 0 else f"{s:.3f} s"
    if abs(s) < 7200:
        return f"{s / 60:.1f} min"
    if abs(s) < 2 * DAY_S:
        return f"{s / 3600:.2f} h"
    return f"{s / DAY_S:.1f} d"


def render_table(
    head: list[str], rows: list[list[str]], right: set[int] | None = None
) -> list[str]:
    """The one table renderer: columns padded to their widest cell, two spaces apart,
    ``right`` (column indexes) right-aligned for numbers, a rule under the header."""
    right = right or set()
    widths = [
        max(len(head[i]), *(len(r[i]) for r in rows)) if rows else len(head[i])
        for i in range(len(head))
    ]

    def line(r: list[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)
        ).rstrip()

    return [line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)]
