"""Preflight failures: the CLI as a subprocess must exit 2 with exactly one error line, last on stderr."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import write_job_config
from support.cli_output import jes_cli, non_log_lines

SECRET = "pw-that-must-not-leak"


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("JES_")}
    base.update(
        {"JES_SECRETS_DIR": str(cwd / "no-secrets"), "JES_OUTPUT_DIR": str(cwd / "results")}
    )
    base.update(env)
    return jes_cli(args, base, cwd, timeout=60)


def assert_one_line(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    # log lines go to stderr too; the error is one line, the last
    lines = non_log_lines(proc.stderr)
    assert len(lines) == 1 and proc.stderr.splitlines()[-1] == lines[0], proc.stderr
    assert lines[0].startswith("error: ")
    for n in needles:
        assert n in lines[0], lines[0]
    assert SECRET not in proc.stderr + proc.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def good_env(emulator: Any) -> dict[str, str]:
    return {
        "JES_VIYA_URL": emulator.url,
        "JES_USERNAME": emulator.username,
        "JES_PASSWORD": emulator.password,
    }


def test_unknown_context(good_env: dict[str, str], tmp_path: Path) -> None:
    phases = tmp_path / "phases.json"
    phases.write_text('[{"name": "seq", "context": "No Such Context", "mode": "sequential"}]')
    proc = cli(["run", "--limit-jobs", "2", "--phases", str(phases)], good_env, tmp_path)
    assert_one_line(
        proc, "unknown compute context 'No Such Context'", "available:", "Autoscaling POC Context"
    )
    assert not (tmp_path / "results").exists()  # nothing was submitted or written


def test_unknown_definition(good_env: dict[str, str], tmp_path: Path) -> None:
    cfg = write_job_config(tmp_path / "jobs.json", ["cm_pooled", "nope_pooled"])
    proc = cli(["run", "--config", str(cfg)], good_env, tmp_path)
    assert_one_line(proc, "not found on Viya: nope_pooled")


def test_bad_credentials(good_env: dict[str, str], tmp_path: Path) -> None:
    proc = cli(["run", "--limit-jobs", "1"], {**good_env, "JES_PASSWORD": SECRET}, tmp_path)
    assert_one_line(proc, "authentication failed", "Bad credentials")


def test_unreachable_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    # retried, quickly
    env = {
        "JES_USERNAME": "u",
        "JES_PASSWORD": SECRET,
        "JES_RETRY_BACKOFF_S": "0.05",
    }
    proc = cli(["run", "--limit-jobs", "1", "--viya-url", url], env, tmp_path)
    assert_one_line(proc, "cannot reach Viya at " + url, "connection refused")


def test_expired_token_without_credentials(good_env: dict[str, str], tmp_path: Path) -> None:
    env = {"JES_VIYA_URL": good_env["JES_VIYA_URL"], "JES_ACCESS_TOKEN": "not-a-valid-token"}
    proc = cli(["run", "--limit-jobs", "1"], env, tmp_path)
    assert_one_line(proc, "authentication failed")


def test_malformed_settings(tmp_path: Path) -> None:
    proc = cli(["run", "--limit-jobs", "1"], {"JES_POLL_INTERVAL_MAX": "often"}, tmp_path)
    assert_one_line(proc, "JES_POLL_INTERVAL_MAX")
