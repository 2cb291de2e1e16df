"""README's first command, exactly as written, on the distribution's own python3 (PEP 668):
a fresh clone, an empty HOME, no PYTHONPATH, nothing from the test environment's installs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path("/usr/bin/python3")
PYTHON_FLOOR = (3, 11)
INSTALL_TIMEOUT_S = 1800  # a cold pip cache downloads matplotlib and friends


def readme_demo_command() -> str:
    """The one-line demo command of README's "Two commands" section."""
    section = ROOT.joinpath("README.md").read_text().split("## Two commands", 1)[1]
    block = re.search(r"```bash\n(.*?)\n```", section, re.S)
    assert block, "README's Two commands section has no bash block"
    return block.group(1).strip()


def test_readme_states_the_python_floor_and_the_venv_package() -> None:
    text = ROOT.joinpath("README.md").read_text()
    floor = ".".join(map(str, PYTHON_FLOOR))
    assert f"Python >= {floor}" in text
    assert f'requires-python = ">={floor}"' in ROOT.joinpath("pyproject.toml").read_text()
    assert "python3-venv" in text
    command = readme_demo_command()
    assert "pip install" not in command.split("&&")[0], "the venv must come first (PEP 668)"


def _python_version(python: Path) -> tuple[int, int]:
    out = subprocess.run(
        [str(python), "-c", "import sys; print(*sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1])


@pytest.mark.services
@pytest.mark.slow
def test_readme_demo_command_runs_in_a_fresh_clone_with_an_empty_home(tmp_path: Path) -> None:
    assert SYSTEM_PYTHON.exists(), "needs the distribution's /usr/bin/python3"
    assert _python_version(SYSTEM_PYTHON) >= PYTHON_FLOOR, "the distribution's python3 is too old"
    git = shutil.which("git")
    assert git, "needs git to clone the repository"
    clone = tmp_path / "clone"
    subprocess.run([git, "clone", "-q", str(ROOT), str(clone)], check=True)
    # the working tree as it is now (uncommitted edits too), minus what git ignores
    subprocess.run(
        ["bash", "-c", f"cd {ROOT} && git diff HEAD | (cd {clone} && git apply --allow-empty)"],
        check=True,
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k.startswith(("PIP_", "LANG", "LC_", "http", "HTTP", "https", "HTTPS", "no_proxy"))
    }
    env.update(HOME=str(home), PATH=f"{SYSTEM_PYTHON.parent}:/bin")
    res = subprocess.run(
        ["bash", "-c", readme_demo_command()],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    results = list((clone / "results").glob("pooled_jobs_comparison_*.json"))
    assert len(results) == 1, sorted(p.name for p in (clone / "results").iterdir())
    assert "emulat" in (res.stdout + res.stderr).lower()  # emulated figures are labelled
