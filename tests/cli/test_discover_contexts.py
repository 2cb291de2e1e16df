"""`discover` lists the server's compute contexts and writes only the contexts the user chose or
the server has (never the original tool's "Autoscaling POC Context" on a server without it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jes_runner.cli.main import main
from jes_runner.config.phases import ASYNC_CONTEXT, BASELINE_CONTEXT

SITE_CONTEXTS = [
    {"name": BASELINE_CONTEXT, "queue": "default"},
    {"name": "Team Batch Context", "queue": "default"},
]


def _discover(emu: Any, monkeypatch: pytest.MonkeyPatch, out: Path, *extra: str) -> int:
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", emu.password)
    argv = ["discover", "--viya-url", emu.url, "--pattern", "*_pooled", "--out", str(out)]
    return main([*argv, *extra])


def test_a_server_without_the_poc_context_gets_no_async_context(
    make_emulator: Any,
    runner_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emu = make_emulator(contexts=SITE_CONTEXTS)
    out = tmp_path / "jobs.json"
    assert _discover(emu, monkeypatch, out) == 0
    settings = json.loads(out.read_text())["settings"]
    assert settings.get("default_context") == BASELINE_CONTEXT
    assert "async_context" not in settings and ASYNC_CONTEXT not in out.read_text()
    err = capsys.readouterr().err.splitlines()
    listed = [line for line in err if "compute contexts on the server (2)" in line]
    assert len(listed) == 1 and "Team Batch Context" in listed[0]


def test_the_users_contexts_are_written_and_win_over_an_existing_file(
    make_emulator: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    emu = make_emulator(contexts=SITE_CONTEXTS)
    out = tmp_path / "jobs.json"
    out.write_text(
        json.dumps(
            {
                "jobs": [{"definition_id": "x", "name": "cm_pooled", "arguments": {}}],
                "settings": {"default_context": "Old Seq", "async_context": "Old Conc"},
            }
        )
    )
    monkeypatch.setenv("JES_SEQUENTIAL_CONTEXT", "Team Batch Context")
    assert _discover(emu, monkeypatch, out, "--concurrent-context", "Team Batch Context") == 0
    settings = json.loads(out.read_text())["settings"]
    assert settings["default_context"] == "Team Batch Context"
    assert settings["async_context"] == "Team Batch Context"


def test_an_existing_files_contexts_stay_when_none_is_chosen(
    make_emulator: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    emu = make_emulator(contexts=SITE_CONTEXTS)
    out = tmp_path / "jobs.json"
    out.write_text(
        json.dumps(
            {
                "jobs": [{"definition_id": "x", "name": "cm_pooled", "arguments": {}}],
                "settings": {"async_context": "Kept Conc"},
            }
        )
    )
    assert _discover(emu, monkeypatch, out) == 0
    settings = json.loads(out.read_text())["settings"]
    assert settings["async_context"] == "Kept Conc"
    assert settings["default_context"] == BASELINE_CONTEXT  # the server has it
