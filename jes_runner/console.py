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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

from jes_runner._util import DAY_S
from jes_runner.measure.eta import FlightAge, PhaseState, remaining_seconds
from jes_runner.measure.plan import PhasePlan
from jes_runner.measure.polling import RuntimeModel
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
    complete) with the ETA. The ETA is the runtime model's (``measure/eta.py``); for an emulated
    run every time shown is in the modelled cluster's seconds, labelled "model"."""

    TICK_S = 1.0

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        live: bool | None = None,
        log_format: str = "text",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.live = (self.stream.isatty() and log_format == "text") if live is None else live
        self.log = logging.getLogger("jes_runner.progress")
        self.clock = clock
        self._lock = threading.Lock()
        self._phase: PhasePlan | None = None
        self._model = RuntimeModel()
        self._speed_factor: float | None = None
        self._done = self._failed = 0
        self._flights: dict[int, float] = {}  # sequence of each job in flight -> when submitted
        self._submitted: set[int] = set()
        self._started = clock()
        self._last_draw = 0.0
        self._ticker: threading.Thread | None = None
        self._stop_tick = threading.Event()

    def phase_started(
        self,
        phase: PhasePlan,
        model: RuntimeModel | None = None,
        speed_factor: float | None = None,
    ) -> None:
        """``model``: the phase's runtime model (what it learns as jobs end); ``speed_factor``: an
        emulated run's served seconds per model second (None on a Viya)."""
        with self._lock:
            self._phase = phase
            self._model = model or RuntimeModel()
            self._speed_factor = speed_factor or None
            self._done = self._failed = 0
            self._flights, self._submitted = {}, set()
            self._started = self.clock()
            self._last_draw = 0.0  # a new phase's line is drawn at its first submission
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
            self._submitted.add(record.sequence)
            self._flights[record.sequence] = self.clock()
        if self.live:
            self._draw()

    def job_finished(self, phase: PhasePlan, record: JobRecord) -> None:
        with self._lock:
            self._done += 1
            self._failed += record.status != "completed"
            self._submitted.add(record.sequence)
            self._flights.pop(record.sequence, None)
        if self.live:
            self._draw()
            return
        dur = record.duration
        eta = self.eta_seconds()
        level = logging.INFO if record.status == "completed" else logging.WARNING
        self.log.log(
            level,
            "phase %s: %s %s%s [%d/%d, %s]",
            phase.name,
            record.unique_job_name,
            record.status,
            f" in {self._time(dur, 3)} ({record.timing_source})" if dur is not None else "",
            self._done,
            len(phase.jobs),
            self._eta_text(eta),
            extra={
                "event": "job_finished",
                "phase": phase.name,
                "job": record.name,
                "unique_job_name": record.unique_job_name,
                "status": record.status,
                "duration": dur,
                "timing_source": record.timing_source,
                # served seconds; for an emulated run / speed_factor = the modelled cluster's
                "eta_seconds": None if eta is None else round(eta, 3),
            },
        )

    def _tick(self) -> None:
        while not self._stop_tick.wait(self.TICK_S):
            self._draw(force=True)

    def eta_seconds(self) -> float | None:
        """Served seconds until the phase's last job ends (``measure/eta.py``): each job's expected
        runtime scaled by what the phase learned, laid out as its mode releases jobs; None (shown
        ``ETA --``) while a job has no expected runtime and none of the phase has finished."""
        with self._lock:
            phase = self._phase
            if phase is None:
                return None
            now = self.clock()
            state = PhaseState(
                mode=phase.mode,
                concurrency=phase.concurrency,
                in_flight=[
                    FlightAge(phase.jobs[seq - 1].expected_runtime_s, now - t)
                    for seq, t in self._flights.items()
                    if 0 < seq <= len(phase.jobs)
                ],
                queued=[
                    j.expected_runtime_s
                    for seq, j in enumerate(phase.jobs, start=1)
                    if seq not in self._submitted
                ],
            )
            return remaining_seconds(state, self._model, self._speed_factor or 1.0)

    def _time(self, served_s: float | None, digits: int = 1) -> str:
        """A duration as shown: the modelled cluster's seconds, labelled, for an emulated run."""
        if served_s is None:
            return "--"
        if self._speed_factor:
            return f"{fmt_duration(served_s / self._speed_factor)} model ({served_s:.{digits}f}s served)"
        return f"{served_s:.{digits}f} s" if digits > 1 else fmt_duration(served_s)

    def _eta_text(self, eta: float | None) -> str:
        return f"ETA {self._time(eta)}"

    def status_line(self) -> str:
        eta = self.eta_seconds()
        with self._lock:
            phase = self._phase
            total = len(phase.jobs) if phase else 0
            in_flight = len(self._flights)
            queued = max(0, total - len(self._submitted))
            elapsed = self.clock() - self._started
            return (
                f"{phase.name if phase else '-'}: {self._time(elapsed)} elapsed, {self._done}/{total} done, "
                f"{in_flight} in flight, {queued} queued"
                + (f", {self._failed} not completed" if self._failed else "")
                + f", {self._eta_text(eta)}"
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
