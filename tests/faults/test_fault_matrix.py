"""The fault matrix over real HTTP: each fault (and two combinations) against a 54-job, two-phase run,
plus issue 11's runs that overlap, crash or hang (faultmatrix.ISOLATION_CASES, emulator-slow).

For every case (tests/faults/faultmatrix.py), judged from the emulator's ground truth:
every job the server ran is in the results exactly once, no job name was created
twice, no server job is orphaned or left pending/running, recorded durations are
within 0.05 s of the true server durations, the exit code is the documented one,
the results are schema-valid, stderr holds at most one line and no planted secret
(password, client secret, tokens) appears in any output, file or pushed metric.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from faultmatrix import CASE_IDS, CASES, PASSWORD, Case, find_leaks, run_and_judge

pytestmark = pytest.mark.services  # see README, Contributing: the fast selection


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_fault_matrix(
    case: Case, pushgateway_url: str, tmp_path: Path, matrix_rows: list[Any]
) -> None:
    row, detail = run_and_judge(case, tmp_path, pushgateway_url)
    matrix_rows.append(row)
    assert not row.problems, f"{case.fault}: " + "; ".join(row.problems) + detail


def test_the_leak_scan_is_not_vacuous() -> None:
    """The scan the matrix relies on finds a planted secret and a bare JWT wherever they are."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqZXMiLCJleHAiOjF9.c2lnbmF0dXJlLWJ5dGVz"
    assert find_leaks({"stdout": "all fine"}, [PASSWORD]) == []
    assert len(find_leaks({"report.html": f"<td>{PASSWORD}</td>"}, [PASSWORD])) == 1
    assert "JWT" in find_leaks({"/metrics": f'jes_x{{t="Bearer {jwt}"}} 1'}, [PASSWORD])[0]
