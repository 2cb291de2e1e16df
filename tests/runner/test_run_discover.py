"""`jes-runner discover`: definitions matching a glob, written in the original config format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import run_cli

from jes_runner.config.jobconfig import load_job_config
from jes_runner.measure.discovery import literal_prefix


def test_literal_prefix() -> None:
    assert literal_prefix("*_pooled") == ""
    assert literal_prefix("supp*_pooled") == "supp"
    assert literal_prefix("cm_pooled") == "cm_pooled"


def test_discover_writes_config_and_keeps_flags(
    emulator: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("JES_USERNAME", emulator.username)
    monkeypatch.setenv("JES_PASSWORD", emulator.password)
    out = tmp_path / "jobs.json"
    assert (
        run_cli(
            ["discover", "--viya-url", emulator.url, "--pattern", "*_pooled", "--out", str(out)]
        )
        == 0
    )
    doc = json.loads(out.read_text())
    assert len(doc["jobs"]) == 54 and "failing_job" not in {j["name"] for j in doc["jobs"]}
    assert (
        doc["metadata"]["discovery_pattern"] == "*_pooled"
        and doc["metadata"]["total_jobs_found"] == 54
    )
    assert all(j["definition_id"] for j in doc["jobs"])
    load_job_config(out)  # valid for the runner

    # the user disables one job and records a runtime; rediscovering keeps both
    doc["jobs"][0]["enabled"] = False
    doc["jobs"][0]["expected_runtime_s"] = 12.5
    first = doc["jobs"][0]["name"]
    out.write_text(json.dumps(doc))
    assert (
        run_cli(
            ["discover", "--viya-url", emulator.url, "--pattern", "*_pooled", "--out", str(out)]
        )
        == 0
    )
    again = json.loads(out.read_text())
    j0 = next(j for j in again["jobs"] if j["name"] == first)
    assert j0["enabled"] is False and j0["expected_runtime_s"] == 12.5
    assert again["metadata"]["enabled_jobs"] == 53 and again["metadata"]["disabled_jobs"] == 1


def test_discover_prefix_filter_server_side(
    emulator: Any,
    runner_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("JES_USERNAME", emulator.username)
    monkeypatch.setenv("JES_PASSWORD", emulator.password)
    assert run_cli(["discover", "--viya-url", emulator.url, "--pattern", "supp??_pooled"]) == 0
    doc = json.loads(capsys.readouterr().out)
    names = [j["name"] for j in doc["jobs"]]
    assert names and all(
        n.startswith("supp") and n.endswith("_pooled") and len(n) == 13 for n in names
    )


def test_discover_no_match_is_exit_2_and_writes_nothing(
    emulator: Any,
    runner_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("JES_USERNAME", emulator.username)
    monkeypatch.setenv("JES_PASSWORD", emulator.password)
    out = tmp_path / "jobs.json"
    assert (
        run_cli(
            [
                "discover",
                "--viya-url",
                emulator.url,
                "--pattern",
                "nothing_like_this*",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    cap = capsys.readouterr()
    lines = [x for x in cap.err.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "nothing_like_this*" in lines[0] and "nothing written" in lines[0]
    assert not out.exists() and cap.out == ""


def test_discover_without_url_names_the_emulator(
    runner_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["discover", "--pattern", "*_pooled"]) == 2
    err = capsys.readouterr().err
    assert "--viya-url" in err and "--emulator" in err


def test_discover_with_runtimes_from_a_results_file(
    emulator: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each job's median server duration in the baseline phase becomes its expected_runtime_s."""
    monkeypatch.setenv("JES_USERNAME", emulator.username)
    monkeypatch.setenv("JES_PASSWORD", emulator.password)
    assert (
        run_cli(
            [
                "run",
                "--viya-url",
                emulator.url,
                "--limit-jobs",
                "3",
                "--sequential-only",
                "--no-report",
            ]
        )
        == 0
    )
    (results,) = runner_env.glob("pooled_jobs_comparison_*.json")
    doc = json.loads(results.read_text())
    # the emulator identifies itself, so the run is emulated: a job config's expected runtimes
    # are the modelled cluster's seconds, i.e. served seconds / the run's speed factor
    speed = doc["metadata"]["emulator_model"]["speed_factor"]
    measured = {j["name"]: j["duration"] / speed for j in doc["phases"][0]["jobs"]}
    out = tmp_path / "jobs.json"
    assert (
        run_cli(
            [
                "discover",
                "--viya-url",
                emulator.url,
                "--pattern",
                "*_pooled",
                "--out",
                str(out),
                "--with-runtimes",
                str(runner_env),
            ]
        )
        == 0
    )
    doc = json.loads(out.read_text())
    got = {
        j["name"]: j["expected_runtime_s"]
        for j in doc["jobs"]
        if j["expected_runtime_s"] is not None
    }
    assert got == pytest.approx(measured, rel=1e-3)
    assert doc["metadata"]["jobs_with_runtimes"] == 3
