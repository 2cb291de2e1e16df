"""measure/correlation.py: the orchestrator name rule; the Correlator and the stop event (a signal during
correlation keeps what matched, lists the rest); its deadline during an orchestrator outage."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from jes_runner.measure.correlation import Correlator, name_key, orchestrator_key
from jes_runner.measure.records import JobRecord
from jes_runner.viya import Credentials, RetryPolicy, ViyaClient

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


def test_orchestrator_name_rule() -> None:
    key = orchestrator_key("cm_pooled_async_12_1757476678")
    assert key == "cmpooledasync121757476678"
    assert name_key(f"{key}-8c1e3d4f-1a2b-4c3d-9e8f-0123456789ab") == key
    assert name_key("sas-compute-server-abc") is None


def test_correlation_stops_at_its_deadline_during_an_outage(make_emulator: Any) -> None:
    """Orchestrator 503s: the listing's own retries (0.5 s backoff, 4 retries: ~4-7 s) stop at the 1 s deadline."""
    emu = make_emulator(faults={"orchestrator_outage": {"start_s": 0, "duration_s": 1e9}})
    c = ViyaClient(
        emu.url,
        Credentials(username=emu.username, password=emu.password),
        retry=RetryPolicy(max_retries=4, backoff_s=0.5),
    )
    c.authenticate()
    records = [
        JobRecord(
            name="a",
            unique_job_name=f"a_p_{i}_1",
            phase="p",
            context="c",
            sequence=i,
            job_instance_id=f"id{i}",
        )
        for i in range(3)
    ]
    t0 = time.monotonic()
    unmatched = Correlator(c, deadline_s=1.0).correlate(records, datetime.now(UTC))
    assert time.monotonic() - t0 < 1.8
    assert sorted(unmatched) == sorted(r.unique_job_name for r in records)
    assert all(r.orchestrator is None for r in records)
