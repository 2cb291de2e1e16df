"""Graceful termination: SIGTERM (pod eviction, activeDeadlineSeconds) and SIGINT (Ctrl-C).

First signal: set the runner's stop event -- the executor stops submitting and
cancels every job still pending or running in Viya, the runner correlates what
finished within a short budget, writes the results file marked ``aborted``
and runs its sinks (the Pushgateway push included) -- and exit 143 (SIGTERM)
or 130 (SIGINT). A watchdog makes sure the process is gone by the end of
``grace_period_seconds`` (keep it below the pod's terminationGracePeriodSeconds,
after which the kubelet sends SIGKILL): finished jobs are then in the checkpoint.

Second signal: cancel every job still in flight at once (in parallel, within a few
seconds), say in one line which could not be canceled and the command that will
(``run --cancel-orphans``), and exit. The checkpoint is written line by line as jobs
are submitted and finish, so it still holds every finished job and every job in flight.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from jes_runner.errors import ExitCode

log = logging.getLogger("jes_runner.shutdown")

SIGNALS = (signal.SIGTERM, signal.SIGINT)
MAX_NAMED = 20  # jobs named in the second signal's line; the rest counted


def exit_code_for(signum: int) -> int:
    return int(ExitCode.SIGTERM if signum == signal.SIGTERM else ExitCode.SIGINT)


class GracefulShutdown:
    """Install with ``with GracefulShutdown(stop_event, grace_s):`` in the main thread."""

    def __init__(
        self,
        stop_event: threading.Event,
        grace_period_s: float = 25.0,
        *,
        on_signal: Callable[[int], None] | None = None,
        on_second_signal: Callable[[], list[str]] | None = None,
        hard_exit: Callable[[int], Any] = os._exit,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stop_event = stop_event
        self.grace_period_s = grace_period_s
        self.on_signal = on_signal
        # cancels what is in flight; returns the unique names it could not cancel
        self.on_second_signal = on_second_signal
        self.hard_exit = hard_exit
        self.clock = clock
        self.signum: int | None = None
        self.deadline: float | None = None
        self.done = threading.Event()  # set when the run finished on its own (no watchdog exit)
        self._previous: dict[int, Any] = {}
        self._watchdog: threading.Thread | None = None

    @property
    def exit_code(self) -> int | None:
        return exit_code_for(self.signum) if self.signum is not None else None

    def remaining(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - self.clock())

    def install(self) -> GracefulShutdown:
        if threading.current_thread() is not threading.main_thread():
            log.debug("not the main thread: signals stay with their current handlers")
            return self
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def uninstall(self) -> None:
        self.done.set()
        for sig, handler in self._previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, handler)
        self._previous.clear()

    def __enter__(self) -> GracefulShutdown:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.signum is not None:  # second signal: no more grace
            self._hard_stop(name, signum)
            return
        self.signum = signum
        self.deadline = self.clock() + self.grace_period_s
        log.warning(
            "%s received: stopping -- no new submissions, canceling jobs in flight, writing results "
            "(within %g s; a second signal exits at once)",
            name,
            self.grace_period_s,
            extra={"event": "signal", "signal": name},
        )
        if self.on_signal is not None:
            self.on_signal(signum)
        self.stop_event.set()
        self._watchdog = threading.Thread(target=self._watch, name="grace-watchdog", daemon=True)
        self._watchdog.start()

    def _hard_stop(self, name: str, signum: int) -> None:
        left: list[str] = []
        if self.on_second_signal is not None:
            try:
                left = self.on_second_signal()
            except Exception as e:  # noqa: BLE001 - exiting anyway: say it, do not hide the exit
                left = [f"(cancel failed: {type(e).__name__})"]
        if left:
            shown = ", ".join(left[:MAX_NAMED]) + (
                f" and {len(left) - MAX_NAMED} more" if len(left) > MAX_NAMED else ""
            )
            _say(
                f"{name} again: exiting now; {len(left)} job(s) could not be canceled and may still "
                f"run: {shown} -- `jes-runner run --cancel-orphans` cancels them once past their "
                "job timeout; finished jobs are in the checkpoint"
            )
        else:
            _say(
                f"{name} again: exiting now; jobs in flight canceled, finished jobs are in the checkpoint"
            )
        self.hard_exit(exit_code_for(signum))

    def _watch(self) -> None:
        remaining = self.remaining() or 0.0
        if self.done.wait(remaining):
            return
        _say(
            f"grace period of {self.grace_period_s:g} s exhausted: exiting now; "
            "finished jobs are in the checkpoint"
        )
        self.hard_exit(self.exit_code or int(ExitCode.SIGTERM))


def _say(text: str) -> None:
    """The one ``error:`` line on stderr, written raw: a logging handler may hold its lock mid-write."""
    for stream in (sys.stdout, sys.stderr):
        # RuntimeError: a signal arrived while this (main) thread was inside that stream's write
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            stream.flush()
    with contextlib.suppress(OSError):
        os.write(2, f"error: {text}\n".encode())


def graceful(runner: Any, grace_period_s: float) -> GracefulShutdown:
    """A GracefulShutdown for a Runner: sets its abort exit code and correlation budget."""

    def on_signal(signum: int) -> None:
        runner.abort_exit_code = exit_code_for(signum)
        # keep most of the grace for canceling and writing: correlation gets a third, at most 10 s
        runner.abort_correlation_s = min(
            getattr(runner, "abort_correlation_s", 10.0), 10.0, max(0.5, grace_period_s / 3)
        )
        # the sinks (the Pushgateway push) get only what is left, less a second to exit cleanly
        runner.stop_deadline = time.monotonic() + max(0.0, grace_period_s - 1.0)

    return GracefulShutdown(
        runner.stop_event,
        grace_period_s,
        on_signal=on_signal,
        on_second_signal=getattr(runner, "cancel_in_flight", None),
    )
