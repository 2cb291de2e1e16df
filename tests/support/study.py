"""Fixtures for the report/export/compare/sweep tests: the real study as a results file, a CLI runner
(registered for every test by tests/conftest.py)."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

STUDY = Path(__file__).parent / "data" / "pooled54_study.json"
_study_cache: dict[str, Any] = {}


def study_results() -> dict[str, Any]:
    """The 2025-09-15 study (3 phases x 54 jobs, real timings) as a version-1 results dict."""
    if not _study_cache:
        _study_cache.update(json.loads(STUDY.read_text()))
    return copy.deepcopy(_study_cache)


def scenario(overrides: dict[str, Any] | None = None) -> Any:
    """The emulator's default scenario with nested overrides (None: the default itself)."""
    from jes_runner.emulator import default_scenario
    from jes_runner.sim.scenario import parse_scenario

    if not overrides:
        return None

    def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    return parse_scenario(merge(default_scenario().model_dump(mode="json"), overrides), "<test>")


@pytest.fixture
def study() -> dict[str, Any]:
    return study_results()


@pytest.fixture
def write_json(tmp_path: Path) -> Callable[..., Path]:
    def _write(data: Any, name: str = "results.json") -> Path:
        p = tmp_path / name
        p.write_text(json.dumps(data))
        return p

    return _write


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run `jes-runner ARGS` in-process: (exit code, stdout, stderr)."""
    from jes_runner.cli.main import main

    def _run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = main([str(a) for a in argv])
        out = capsys.readouterr()
        return rc, out.out, out.err

    return _run


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where tests leave files worth looking at (screenshots): $REPORT_ARTIFACTS_DIR or tmp_path."""
    d = Path(os.environ.get("REPORT_ARTIFACTS_DIR") or tmp_path / "artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d
