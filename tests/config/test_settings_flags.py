"""One field <-> flag table, the contexts of the default phases, JES_PUSH and unknown JES_* names."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pytest

from jes_runner.cli.main import build_parser
from jes_runner.cli.session import settings_and_plan, settings_from_args
from jes_runner.config import settings as settings_mod
from jes_runner.config.settings import SETTING_FLAGS, Settings, warn_unknown_env


def _args(command: str, *argv: str) -> argparse.Namespace:
    return build_parser([command]).parse_args([command, *argv])


def _config(tmp: Path, settings: dict | None = None) -> Path:
    p = tmp / "job_configs.json"
    doc: dict = {"jobs": [{"definition_id": "d1", "name": "a_pooled", "arguments": {}}]}
    if settings:
        doc["settings"] = settings
    p.write_text(json.dumps(doc))
    return p


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """dest -> first option string, over every option of the parser."""
    return {a.dest: a.option_strings[0] for a in parser._actions if a.option_strings}


def test_every_flag_in_the_table_is_a_settings_field() -> None:
    assert set(SETTING_FLAGS) <= set(Settings.model_fields)


@pytest.mark.parametrize("command", ["run", "check"])
def test_run_and_check_declare_the_table_flags_with_the_field_as_dest(command: str) -> None:
    sub = build_parser([command])._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    declared = _flags(sub)
    for field, flag in SETTING_FLAGS.items():
        if field in declared:
            assert declared[field] == flag, (field, declared[field])
    assert declared["sequential_context"] == "--sequential-context"
    assert declared["concurrent_context"] == "--concurrent-context"


def test_context_flags_name_the_default_phases_contexts(runner_env: Path, tmp_path: Path) -> None:
    cfg = _config(tmp_path, {"default_context": "File Seq", "async_context": "File Conc"})
    _, plan = settings_and_plan(
        _args(
            "run",
            "--config",
            str(cfg),
            "--sequential-context",
            "Team Fixed",
            "--concurrent-context",
            "Team Scaling",
        )
    )
    assert [p.context for p in plan.phases] == ["Team Fixed", "Team Scaling"]


def test_context_variables_win_over_the_job_config_and_check_reads_them(
    runner_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config(tmp_path, {"default_context": "File Seq", "async_context": "File Conc"})
    monkeypatch.setenv("JES_CONCURRENT_CONTEXT", "Env Scaling")
    for command in ("run", "check"):
        _, plan = settings_and_plan(_args(command, "--config", str(cfg)))
        assert [p.context for p in plan.phases] == ["File Seq", "Env Scaling"], command


def test_without_any_context_setting_the_job_config_then_the_default_apply(
    runner_env: Path, tmp_path: Path
) -> None:
    _, plan = settings_and_plan(_args("run", "--config", str(_config(tmp_path))))
    from jes_runner.config.phases import ASYNC_CONTEXT, BASELINE_CONTEXT

    assert [p.context for p in plan.phases] == [BASELINE_CONTEXT, ASYNC_CONTEXT]


def test_context_flags_with_a_phases_file_are_ignored_with_one_warning(
    runner_env: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    phases = tmp_path / "phases.yaml"
    phases.write_text("- {name: seq, context: 'From File', mode: sequential, baseline: true}\n")
    with caplog.at_level(logging.WARNING):
        _, plan = settings_and_plan(
            _args(
                "run",
                "--config",
                str(_config(tmp_path)),
                "--phases",
                str(phases),
                "--concurrent-context",
                "Ignored",
            )
        )
    assert [p.context for p in plan.phases] == ["From File"]
    assert sum("--concurrent-context" in r.getMessage() for r in caplog.records) == 1


def test_concurrency_and_its_old_spelling_are_one_flag(runner_env: Path, tmp_path: Path) -> None:
    cfg = str(_config(tmp_path))
    for flag in ("--concurrency", "--concurrent"):
        _, plan = settings_and_plan(_args("run", "--config", cfg, flag, "7"))
        assert plan.phases[1].concurrency == 7, flag


@pytest.mark.parametrize(
    ("env", "argv", "pushes"),
    [
        ({"JES_PUSHGATEWAY_URL": "http://pg:9091"}, [], True),
        ({"JES_PUSHGATEWAY_URL": "http://pg:9091", "JES_PUSH": "false"}, [], False),
        ({"JES_PUSHGATEWAY_URL": "http://pg:9091"}, ["--no-push"], False),
        ({}, ["--pushgateway-url", "http://pg:9091", "--no-push"], False),
    ],
)
def test_jes_push_false_is_no_push(
    runner_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    argv: list[str],
    pushes: bool,
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    settings = settings_from_args(_args("run", *argv))
    assert (settings.pushgateway_url is not None) is pushes


def test_a_bad_flag_value_names_the_flag_from_the_table(runner_env: Path) -> None:
    from jes_runner.errors import ConfigError

    with pytest.raises(ConfigError, match="--job-timeout option"):
        settings_from_args(_args("run", "--job-timeout", "-1"))


def test_unknown_jes_variable_warned_once_naming_the_closest(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(settings_mod, "_warned_env", set())
    env = {"JES_VIYA_URLL": "x", "JES_PUSHGATEWAY_URL": "y", "JES_ZZZZZZZZZZZ": "z"}
    with caplog.at_level(logging.WARNING, logger="jes_runner.config"):
        assert warn_unknown_env(env) == ["JES_VIYA_URLL", "JES_ZZZZZZZZZZZ"]
        assert warn_unknown_env(env) == []  # once per process
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "JES_VIYA_URLL" in lines[0] and "did you mean JES_VIYA_URL?" in lines[0]
    assert "did you mean" not in lines[1]


@pytest.mark.parametrize("argv", [["orchestrator"], ["run"]])
def test_a_command_warns_an_unknown_variable_once_on_stderr(
    runner_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    argv: list[str],
) -> None:
    from jes_runner.cli.main import main

    monkeypatch.setattr(settings_mod, "_warned_env", set())
    monkeypatch.setenv("JES_JOB_TIMEOUT", "60")
    main(argv)  # exits 2 (no URL); the warning comes first
    # run configures logging (stderr); orchestrator does not (pytest's log capture holds it)
    said = capsys.readouterr().err.splitlines() + [r.getMessage() for r in caplog.records]
    warned = [line for line in said if "JES_JOB_TIMEOUT " in line]
    assert len(warned) == 1 and "did you mean JES_JOB_TIMEOUT_S?" in warned[0]
