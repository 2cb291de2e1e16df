"""Error paths of `push` and `orchestrator`: one `error:` line, the documented exit code."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from support.cli_output import non_log_lines

from jes_runner.cli.main import main
from jes_runner.errors import ExitCode

STUDY = Path(__file__).parents[1] / "support" / "data" / "pooled54_study.json"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: connection refused


def test_a_failed_push_exits_4_with_its_error_line(
    runner_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JES_PUSHGATEWAY_RETRIES", "0")
    url = f"http://127.0.0.1:{_closed_port()}"
    assert main(["push", str(STUDY), "--pushgateway-url", url]) == ExitCode.PUSH_FAILED
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: Pushgateway push") and "failed" in lines[0]


def test_orchestrator_without_a_url_does_not_offer_a_flag_it_rejects(
    runner_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["orchestrator"]) == ExitCode.BAD_INPUT
    err = non_log_lines(capsys.readouterr().err)
    assert len(err) == 1 and "--viya-url" in err[0] and "--emulator" not in err[0]


def test_run_without_a_url_still_offers_the_emulator(
    runner_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run"]) == ExitCode.BAD_INPUT
    err = non_log_lines(capsys.readouterr().err)
    assert len(err) == 1 and "--emulator" in err[0]
