"""Shared checks for the bad-input property tests: run the CLI in-process, expect one clear line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from support.cli_output import jes_cli, non_log_lines

from jes_runner.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def one_line_error(out: str, err: str, code: int, *, mentions: Sequence[str]) -> str:
    """Exit 2, exactly one stderr line `error: ...` naming everything in `mentions` and a fix; no traceback."""
    assert "Traceback" not in out + err, err[-2000:]
    lines = non_log_lines(err)  # log lines (stderr) aside: exactly one error line, the last one
    assert not lines or err.strip().splitlines()[-1] == lines[-1], err[-500:]
    assert code == 2, f"exit {code}, expected 2; stderr: {err[-500:]!r}; stdout: {out[-300:]!r}"
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {lines[:5]}"
    line = lines[0]
    assert line.startswith("error: "), line
    for m in mentions:
        assert m in line, f"{m!r} not named in {line!r}"
    assert " -- " in line or "fix" in line, f"no fix suggested in {line!r}"
    return line


def run_inprocess(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def run_subprocess(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    proc = jes_cli(argv, env, cwd, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def clean_env(tmp: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("JES_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["JES_SECRETS_DIR"] = str(tmp / "no-secrets")
    return env
