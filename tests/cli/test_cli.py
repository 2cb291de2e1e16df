"""The CLI as people expect of a well-kept tool: true and complete help, logs on stderr,
a quiet end on a closed pipe, conflicting flags refused, and `sweep` on the managed run path."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.kube_support import emulator_process, ground_truth, subprocess_env, wait_for

from jes_runner.cli.commands import SUMMARIES
from jes_runner.cli.main import build_parser, main
from jes_runner.emulator import default_scenario

IN_FLIGHT = ("pending", "starting", "running")


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser([name])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("name", sorted(SUMMARIES))
def test_every_flag_has_help_and_help_has_no_artefacts(name: str) -> None:
    p = _subparser(name)
    missing = [a.option_strings or a.dest for a in p._actions if not a.help]
    assert missing == [], f"{name}: flags without help: {missing}"
    text = p.format_help()
    assert "%%" not in text and "%(" not in text
    assert SUMMARIES[name].split()[0] in build_parser([]).format_help()


def test_check_help_lists_only_what_check_uses_and_says_it_needs_a_url() -> None:
    text = _subparser("check").format_help()
    assert "required" in text and "--viya-url" in text
    for flag in ("--max-failed-jobs", "--no-report", "--job-timeout", "--cluster"):
        assert flag not in text


def test_run_accepts_push_flags() -> None:
    args = build_parser(["run"]).parse_args(
        ["run", "--pushgateway-url", "http://pg:9091", "--no-push"]
    )
    assert args.pushgateway_url == "http://pg:9091" and args.push is False


def test_phases_with_mode_is_refused_in_one_line(
    runner_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    phases = tmp_path / "phases.yaml"
    phases.write_text("- {name: seq, context: SAS Job Execution compute context}\n")
    for extra in (["--mode", "all"], ["--concurrent", "3"]):
        rc = main(["run", "--viya-url", "http://127.0.0.1:9", "--phases", str(phases), *extra])
        err = capsys.readouterr().err.strip().splitlines()
        assert (
            rc == 2 and len(err) == 1 and "--phases" in err[0] and "--mode/--concurrency" in err[0]
        )


def _env(tmp: Path) -> dict[str, str]:
    return subprocess_env(
        JES_SECRETS_DIR=str(tmp / "none"), JES_OUTPUT_DIR=str(tmp / "results"), HOME=str(tmp)
    )


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_demo_stdout_is_only_what_it_produces(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "jes_runner", "demo", "--limit-jobs", "3"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout.splitlines()
    # the demo's figures are emulated: the banner comes first, then the run's table
    assert (
        out[0].startswith("EMULATED: ")
        and out[1].startswith("run ")
        and any(line.startswith("results: ") for line in out)
    )
    assert any(line.startswith("report: ") for line in out)
    # log lines ("HH:MM:SS LEVEL ...") are on stderr, none on stdout
    assert not [line for line in out if line[:2].isdigit() and line[2:3] == ":"], out
    assert "INFO" in proc.stderr and "phase sequential" in proc.stderr


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    cmd = f'{sys.executable} -m jes_runner demo --limit-jobs 2 | head -1; echo "rc=${{PIPESTATUS[0]}}" >&2'
    proc = subprocess.run(
        ["bash", "-c", cmd],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.stdout.startswith("EMULATED: ") and len(proc.stdout.splitlines()) == 1
    assert (
        "rc=0" in proc.stderr and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
    )


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_sweep_phases_carry_node_data(runner_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """sweep runs through the managed path: its phases get node_timeline and scaling like `run`."""
    rc = main(["sweep", "--emulator", "--concurrency", "2,4", "--limit-jobs", "4", "--no-report"])
    assert rc == 0, capsys.readouterr().err[-2000:]
    sweep = json.loads(next(runner_env.glob("concurrency_sweep_*.json")).read_text())
    results = json.loads(Path(sweep["sweep"]["results_file"]).read_text())
    assert [p["name"] for p in results["phases"]] == ["sequential", "c2", "c4"]
    for p in results["phases"]:
        assert "node_timeline" in p and p["scaling"]["source"] == "kubernetes", (
            p["name"],
            p.get("scaling"),
        )
    # the autoscaling pool grows under the first concurrent level: the timeline saw its nodes
    assert results["phases"][1]["node_timeline"], results["phases"][1]["scaling"]


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_sigterm_during_a_sweep_cancels_its_jobs(tmp_path: Path) -> None:
    scenario: dict[str, Any] = default_scenario().model_dump(mode="json")
    with emulator_process(tmp_path, scenario, 0.01) as (url, _emu):
        cmd = [
            sys.executable,
            "-m",
            "jes_runner",
            "sweep",
            "--viya-url",
            url,
            "--concurrency",
            "3",
            "--limit-jobs",
            "6",
            "--no-report",
        ]
        env = _env(tmp_path) | {
            "JES_USERNAME": "jes",
            "JES_PASSWORD": "jes-demo-password",
            "JES_KUBE_API_URL": url,
            "JES_GRACE_PERIOD_SECONDS": "15",
        }
        run = subprocess.Popen(
            cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            wait_for(
                lambda: any(
                    j["jes_state"] in IN_FLIGHT and "_c3_" in j["name"]
                    for j in ground_truth(url)["jobs"]
                ),
                timeout=60,
                step=0.05,
                what="the sweep's concurrent level running",
            )
            run.send_signal(signal.SIGTERM)
            _, stderr = run.communicate(timeout=30)
        finally:
            if run.poll() is None:
                run.kill()
        assert run.returncode == 143, stderr[-2000:]
        time.sleep(0.2)
        left = [j["name"] for j in ground_truth(url)["jobs"] if j["jes_state"] in IN_FLIGHT]
        assert left == [], f"jobs left running after SIGTERM: {left}"
        files = list((tmp_path / "results").glob("pooled_jobs_comparison_*.json"))
        assert len(files) == 1 and json.loads(files[0].read_text())["status"] == "aborted"
        assert os.path.exists(tmp_path / "results")
