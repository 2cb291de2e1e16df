"""results/files.py: results files are written atomically, never overwritten, and an unwritable directory is one clear error (the checkpoint never raises)."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from jes_runner.errors import ResultsWriteError
from jes_runner.results.checkpoint import Checkpoint
from jes_runner.results.files import write_results


def test_results_atomic_write_and_unwritable_dir(tmp_path: Path) -> None:
    res = {"run_id": "12345678-aaaa", "x": 1}
    p = write_results(tmp_path, res, datetime(2025, 9, 15, 17, 17, 47))
    assert (
        p.name == "pooled_jobs_comparison_20250915_171747.json" and json.loads(p.read_text()) == res
    )
    p2 = write_results(tmp_path, res, datetime(2025, 9, 15, 17, 17, 47))
    assert p2 != p and p2.exists()
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    # a regular file where the directory should be: unwritable even for root
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(ResultsWriteError) as ei:
        write_results(blocker / "results", res, datetime.now())
    assert "\n" not in str(ei.value) and "cannot write results file" in str(ei.value)
    cp = Checkpoint(blocker / "results", "r")
    assert not cp.open() and cp.error
    cp.append({"ignored": True})  # never raises
