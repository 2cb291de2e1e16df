"""The CLI as a subprocess, and reading what it printed: log lines (text or JSON) on stderr are
told apart from the single ``error:`` line a failing command ends with."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

_TEXT_LOG = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL)\s")


def is_log_line(line: str) -> bool:
    return bool(_TEXT_LOG.match(line)) or (line.startswith('{"ts": ') and '"level": ' in line)


def non_log_lines(stderr: str) -> list[str]:
    """What stderr holds besides log lines: for a failing command, exactly its ``error:`` line."""
    return [ln for ln in stderr.splitlines() if ln.strip() and not is_log_line(ln)]


def jes_cli(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m jes_runner ARGS`` with exactly ``env``, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "jes_runner", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
