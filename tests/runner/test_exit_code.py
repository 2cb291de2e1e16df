"""decide_exit_code: the run's exit code from its results document alone."""

from __future__ import annotations

from jes_runner.errors import AuthFailedError, ConfigError, ExitCode
from jes_runner.runner import decide_exit_code


def _doc(status: str, breaches: int = 0) -> dict[str, object]:
    return {"status": status, "thresholds": {"breaches": [{}] * breaches}}


def test_each_outcome_has_its_documented_code() -> None:
    assert decide_exit_code(_doc("completed"), abort_code=143) == ExitCode.OK
    assert (
        decide_exit_code(_doc("completed_with_failures"), abort_code=143) == ExitCode.JOB_FAILURES
    )
    assert (
        decide_exit_code(_doc("completed_with_failures"), abort_code=143, failures_tolerated=True)
        == ExitCode.OK
    )
    assert decide_exit_code(_doc("completed", breaches=1), abort_code=143) == ExitCode.THRESHOLD
    assert decide_exit_code(_doc("aborted", breaches=1), abort_code=143) == 143
    assert decide_exit_code(_doc("aborted"), abort_code=130) == 130


def test_a_stop_error_decides_over_the_status() -> None:
    auth = AuthFailedError("authentication failed")
    assert decide_exit_code(_doc("aborted"), abort_code=143, stop_error=auth) == 7
    drift = ConfigError("context gone")
    assert decide_exit_code(_doc("aborted"), abort_code=143, stop_error=drift) == ExitCode.BAD_INPUT
