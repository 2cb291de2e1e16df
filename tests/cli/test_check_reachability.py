"""`check` says "reachable" only after Viya answered; a silent server is reported within 30 s;
argparse's errors end in one `error:` line like every other CLI error."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SILENT_LIMIT_S = 30.0


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JES_")}
    env.update(
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        JES_SECRETS_DIR=str(tmp / "none"),
        JES_OUTPUT_DIR=str(tmp / "results"),
        **extra,
    )
    return env


def _jes(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jes_runner", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (backlog large enough for retries)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_no_credentials_and_nothing_listening_is_not_reachable(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    r = _jes(["check", "--viya-url", url], _env(tmp_path), tmp_path)
    assert r.returncode == 2
    assert "ok    viya" not in r.stdout, r.stdout
    assert f"FAIL  viya: cannot reach Viya at {url}" in r.stdout, r.stdout


def test_no_credentials_but_viya_answers_is_reachable(tmp_path: Path) -> None:
    from jes_runner.emulator import Emulator

    with Emulator(port=0) as emu:
        r = _jes(["check", "--viya-url", emu.url], _env(tmp_path), tmp_path)
    assert f"ok    viya: reachable at {emu.url}" in r.stdout, r.stdout
    assert "FAIL  token" in r.stdout


def test_a_silent_server_is_reported_within_30_s(tmp_path: Path) -> None:
    with silent_port() as port:
        t0 = time.monotonic()
        r = _jes(
            ["check", "--viya-url", f"http://127.0.0.1:{port}"],
            _env(tmp_path, JES_USERNAME="u", JES_PASSWORD="p"),
            tmp_path,
        )
        took = time.monotonic() - t0
    assert r.returncode == 2
    assert "FAIL  viya" in r.stdout and "timed out" in r.stdout, r.stdout
    assert took < SILENT_LIMIT_S, took


def test_argparse_errors_are_one_error_line(tmp_path: Path) -> None:
    for args in (["run", "--no-such-flag"], ["run", "--concurrency", "x"], ["nosuchcommand"]):
        r = _jes(args, _env(tmp_path), tmp_path)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2, args
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, r.stderr)
