"""The runner says where its job config came from, and warns when a run against a real Viya
would use the packaged example (54 SDTM jobs) -- a deployment that forgot its config must
not look fine. `run --limit-jobs 0` resolves everything and contacts nobody."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VIYA = "https://viya.example.com"


def run0(cwd: Path, *args: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JES_")}
    env.update({"PYTHONPATH": str(REPO), "JES_SECRETS_DIR": str(cwd / "no-secrets"), **env_extra})
    return subprocess.run(
        [sys.executable, "-m", "jes_runner", "run", "--limit-jobs", "0", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def job_config_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [ln for ln in proc.stderr.splitlines() if "job config" in ln]


def my_config(tmp_path: Path) -> Path:
    doc = json.loads((REPO / "config" / "job_configs.json").read_text())
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"jobs": doc["jobs"][:2]}))
    return path


def test_packaged_example_against_a_real_viya_is_a_warning(tmp_path: Path) -> None:
    (line,) = job_config_lines(run0(tmp_path, "--viya-url", VIYA))
    assert "WARNING" in line and "the packaged example" in line and "from the package" in line
    assert "--set-file jobConfig.json=" in line


def test_a_copy_of_the_example_is_recognised(tmp_path: Path) -> None:
    """The image's /app/config/job_configs.json is such a copy."""
    copy = tmp_path / "copy.json"
    copy.write_bytes((REPO / "config" / "job_configs.json").read_bytes())
    (line,) = job_config_lines(run0(tmp_path, "--viya-url", VIYA, JES_JOB_CONFIG=str(copy)))
    assert "WARNING" in line and "from JES_JOB_CONFIG, the packaged example" in line


@pytest.mark.parametrize("how", ["--config", "JES_JOB_CONFIG"])
def test_your_own_config_is_named_with_its_source(tmp_path: Path, how: str) -> None:
    path = my_config(tmp_path)
    if how == "--config":
        proc = run0(tmp_path, "--viya-url", VIYA, "--config", str(path))
    else:
        proc = run0(tmp_path, "--viya-url", VIYA, JES_JOB_CONFIG=str(path))
    (line,) = job_config_lines(proc)
    assert "WARNING" not in line and f"{path} (from {how})" in line and "2 job(s) enabled" in line


def test_the_example_on_the_embedded_emulator_is_only_information(tmp_path: Path) -> None:
    (line,) = job_config_lines(run0(tmp_path))
    assert "WARNING" not in line and "the packaged example" in line


def test_check_names_the_example_too(tmp_path: Path) -> None:
    """`helm test` runs `check`: its settings line says the same (Viya is unreachable here: exit 2)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JES_")}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "JES_SECRETS_DIR": str(tmp_path / "no-secrets"),
            "JES_VIYA_URL": "http://127.0.0.1:9",
            "JES_REQUEST_TIMEOUT_S": "2",
            "JES_MAX_RETRIES": "0",
        }
    )
    proc = subprocess.run(
        [sys.executable, "-m", "jes_runner", "check", "--output-dir", str(tmp_path / "r")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("ok    settings")]
    assert "the packaged example" in line and "--set-file jobConfig.json=" in line
