"""Every reader goes through results/views.py: impossible server timestamps and phases that are not
comparable are said before any figure is shown, and older files' data errors are caught too."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from jes_runner.results.views import normalize_results, phase_views


def _results(end: str) -> dict[str, Any]:
    job = {
        "name": "b",
        "unique_job_name": "b_async_1_1_ab",
        "sequence": 1,
        "status": "completed",
        "submitted_at": "2026-01-01T00:01:30.000Z",
        "ended_at": end,
        "duration": None,
        "metrics": {"orchestrator_data": None},
    }
    phase = {"name": "async", "baseline": False, "jobs": [job], "stats": {}, "vs_baseline": None}
    base = {"name": "sequential", "baseline": True, "jobs": [], "stats": {}, "vs_baseline": None}
    return {"schema_version": 1, "phases": [base, phase]}


def test_reader_flags_impossible_timestamps(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="jes_runner.results"):
        res = normalize_results(_results("2026-01-01T00:00:00.000Z"), "old.json")
    assert "impossible server timestamps" in caplog.text and "old.json" in caplog.text
    (_, p) = phase_views(res)
    assert p.data_errors == ["b_async_1_1_ab"] and p.comparable is False
    assert p.jobs[0].duration is None and p.started is None  # in no figure


def test_reader_silent_on_sound_data(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="jes_runner.results"):
        res = normalize_results(_results("2026-01-01T00:02:00.000Z"), "ok.json")
    assert caplog.text == ""
    assert phase_views(res)[1].jobs[0].duration == 30.0
