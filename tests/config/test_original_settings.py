"""The original tool's job config `settings` block is honoured: contexts, concurrency, poll interval,
timeout mapped onto the plan and the settings; a flag or JES_* variable still wins; unknown keys warned."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from jes_runner.cli.main import build_parser
from jes_runner.cli.session import settings_and_plan
from jes_runner.errors import ConfigError

SETTINGS = {
    "default_context": "Fixed Ctx",
    "async_context": "Scaling Ctx",
    "concurrent_jobs": 3,
    "poll_interval": 7,
    "timeout": 900,
    "max_retries_per_job": 2,
}


def _config(tmp: Path, settings: dict) -> Path:
    p = tmp / "job_configs.json"
    p.write_text(
        json.dumps(
            {
                "jobs": [{"definition_id": "d1", "name": "a_pooled", "arguments": {}}],
                "settings": settings,
            }
        )
    )
    return p


def _args(*argv: str):  # noqa: ANN202
    return build_parser(["run"]).parse_args(["run", *argv])


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    import os

    for k in list(os.environ):
        if k.startswith("JES_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("JES_SECRETS_DIR", str(tmp_path / "none"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_settings_block_shapes_phases_and_settings(
    clean_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = _config(clean_env, SETTINGS)
    with caplog.at_level(logging.WARNING):
        settings, plan = settings_and_plan(_args("--config", str(cfg)))
    assert [(p.name, p.context, p.mode, p.concurrency) for p in plan.phases] == [
        ("sequential", "Fixed Ctx", "sequential", 1),
        ("async", "Scaling Ctx", "batch", 3),
    ]
    assert settings.poll_interval_max == 7 and settings.job_timeout_s == 900
    warned = [r.getMessage() for r in caplog.records if "max_retries_per_job" in r.getMessage()]
    assert len(warned) == 1  # unknown keys: one warning naming them


def test_flags_and_env_win_over_the_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config(clean_env, SETTINGS)
    monkeypatch.setenv("JES_POLL_INTERVAL_MAX", "11")
    settings, plan = settings_and_plan(
        _args("--config", str(cfg), "--concurrent", "8", "--job-timeout", "60")
    )
    assert (
        plan.phases[1].concurrency == 8
        and settings.job_timeout_s == 60
        and settings.poll_interval_max == 11
    )
    assert plan.phases[0].context == "Fixed Ctx"  # what no flag set still comes from the file


def test_a_bad_settings_value_is_one_line(clean_env: Path) -> None:
    cfg = _config(clean_env, {"concurrent_jobs": 0})
    with pytest.raises(ConfigError, match=r"settings\.concurrent_jobs"):
        settings_and_plan(_args("--config", str(cfg)))
