"""Correlator and the stop event: a signal during correlation keeps what matched, lists the rest."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from jes_runner.measure.correlation import Correlator
from jes_runner.measure.records import JobRecord

BUDGET_S = 0.5


class _LaggingOrchestrator:
    """Knows one job of two; the other never shows up (registration lag)."""

    def __init__(self, known: str) -> None:
        self.known = known
        self.listings = 0

    def orchestrator_pages(self, limit: int, *, deadline: float | None = None) -> Iterator[Any]:
        self.listings += 1
        yield [
            {
                "id": "o-1",
                "request": {
                    "name": self.known.replace("_", "")
                    + "-"
                    + "0" * 8
                    + "-0000-0000-0000-"
                    + "0" * 12
                },
                "processingInfo": {"state": "DONE", "endTime": "2026-01-01T00:00:10Z"},
            }
        ]


def _record(name: str) -> JobRecord:
    return JobRecord(name, f"{name}_p_1_1700000000_abcdef", "p", "ctx", 1, job_instance_id=name)


def test_a_stop_cuts_correlation_to_its_budget() -> None:
    stop = threading.Event()
    records = [_record("a_pooled"), _record("b_pooled")]
    client = _LaggingOrchestrator(records[0].unique_job_name.lower())
    corr = Correlator(client, deadline_s=120, stop_event=stop, stop_budget_s=BUDGET_S)  # type: ignore[arg-type]
    threading.Timer(0.3, stop.set).start()
    t0 = time.monotonic()
    unmatched = corr.correlate(records, None)
    took = time.monotonic() - t0
    assert took < 0.3 + BUDGET_S + 1.0, took  # not the 120 s deadline
    assert unmatched == [records[1].unique_job_name]
    assert (
        records[0].orchestrator is not None
        and records[0].orchestrator["orchestrator_job_id"] == "o-1"
    )


def test_without_a_stop_it_waits_for_the_lagging_job() -> None:
    """The control: the same lag without a stop runs to the (short) deadline."""
    records = [_record("a_pooled"), _record("b_pooled")]
    client = _LaggingOrchestrator(records[0].unique_job_name.lower())
    corr = Correlator(client, deadline_s=1.5)  # type: ignore[arg-type]
    t0 = time.monotonic()
    corr.correlate(records, None)
    assert time.monotonic() - t0 >= 1.4
    assert client.listings > 1
