"""The emulator names itself on every answer; a run pointed at it by URL is labelled emulated."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))
from runner_helpers import latest_results, run_cli  # noqa: E402

from jes_runner.viya import EMULATOR_HEADER, parse_emulator_header  # noqa: E402


def _header(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.headers.get(EMULATOR_HEADER)
    except urllib.error.HTTPError as e:  # an error answer is an answer too
        return e.headers.get(EMULATOR_HEADER)


@pytest.mark.parametrize("speed", [0.002, 0.04])
def test_every_answer_names_the_emulator(make_emulator: Any, speed: float) -> None:
    emu = make_emulator(speed_factor=speed)
    for path in ("/emulator/ground-truth", "/jobExecution/jobs", "/no/such/path", "/"):
        got = parse_emulator_header(_header(emu.url + path))
        assert got == {"scenario": emu.scenario.name, "speed_factor": speed}, path


def test_parse_rejects_what_is_not_the_emulator() -> None:
    assert parse_emulator_header(None) is None
    assert parse_emulator_header("") is None
    assert parse_emulator_header("scenario=x") is None
    assert parse_emulator_header("speed_factor=0; scenario=x") is None
    assert parse_emulator_header("speed_factor=abc") is None


def test_run_by_url_is_labelled_like_emulator_flag(
    make_emulator: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    speed = 0.003
    emu = make_emulator(speed_factor=speed)
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", emu.password)
    assert run_cli(["run", "--viya-url", emu.url, "--limit-jobs", "2", "--no-report"]) == 0
    res = latest_results(runner_env)
    truth = emu.ground_truth()
    assert res["emulator"] is True
    assert res["metadata"]["emulator_model"] == {
        "scenario": truth["scenario"],
        "speed_factor": truth["speed_factor"],
    }
    assert json.dumps(res).count('"emulator": true') >= 1
