"""Without the `report` extra (matplotlib, openpyxl -- the container image leaves it out):
every command still parses, `run` writes its results and says once why there is no
report, and `report` / `export --format xlsx` fail with one line naming the extra."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = (
    pytest.mark.slow
)  # end-to-end runs of seconds: outside the fast selection (README, Development)

REPO = Path(__file__).resolve().parents[3]
# a sitecustomize that makes the extra's modules unimportable, like an image without them
BLOCKER = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("matplotlib", "openpyxl"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Block())
"""


def jes(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JES_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO)])
    env["JES_SECRETS_DIR"] = str(tmp_path / "no-secrets")
    return subprocess.run(
        [sys.executable, "-m", "jes_runner", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_help_and_a_run_without_the_extra(tmp_path: Path) -> None:
    assert jes(tmp_path, "--help").returncode == 0
    proc = jes(tmp_path, "demo", "--limit-jobs", "2", "--output-dir", str(tmp_path / "out"))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "Traceback" not in output
    (results,) = (tmp_path / "out").glob("pooled_jobs_comparison_*.json")
    assert json.loads(results.read_text())["status"] == "completed"
    lines = [ln for ln in output.splitlines() if "report not written" in ln]
    assert len(lines) == 1 and "pip install 'jes-runner[report]'" in lines[0], output[-3000:]


@pytest.mark.parametrize("command", [["report"], ["export", "--format", "xlsx"]])
def test_commands_that_need_the_extra_say_so_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    proc = jes(tmp_path, "demo", "--limit-jobs", "1", "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (results,) = (tmp_path / "out").glob("pooled_jobs_comparison_*.json")
    proc = jes(tmp_path, command[0], str(results), *command[1:])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "pip install 'jes-runner[report]'" in errors[0], proc.stderr
