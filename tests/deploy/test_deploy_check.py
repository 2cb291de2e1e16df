"""`jes-runner check` (the chart's `helm test`): one line per check, exit 2 on any
failure, against the emulator over real HTTP and a real Pushgateway."""

from __future__ import annotations

import json
import re

import pytest
from deploy_util import REPO, free_port

from jes_runner.cli.main import main
from jes_runner.emulator import Emulator

LINE = re.compile(r"^(ok|FAIL|skip)\s+(.+?): (.*)$")


def run_check(capsys, *args: str) -> tuple[int, dict[str, tuple[str, str]], str]:
    code = main(["check", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            lines[m.group(2)] = (m.group(1), m.group(3))
    return code, lines, out


@pytest.fixture
def viya(runner_env, emulator, monkeypatch):
    """The shared emulator with the right credentials in the environment."""
    monkeypatch.setenv("JES_VIYA_URL", emulator.url)
    monkeypatch.setenv("JES_USERNAME", emulator.username)
    monkeypatch.setenv("JES_PASSWORD", emulator.password)
    monkeypatch.setenv("JES_MAX_RETRIES", "0")
    return emulator


def statuses(lines):
    return {name: status for name, (status, _) in lines.items()}


@pytest.mark.services
def test_all_checks_pass_and_nothing_is_submitted(viya, pushgateway, monkeypatch, capsys):
    monkeypatch.setenv("JES_PUSHGATEWAY_URL", pushgateway)
    before = len(viya.ground_truth()["jobs"])
    code, lines, out = run_check(capsys)
    assert code == 0, out
    assert statuses(lines) == {
        "settings": "ok",
        "viya": "ok",
        "token": "ok",
        "context 'SAS Job Execution compute context'": "ok",
        "context 'Autoscaling POC Context'": "ok",
        "job definitions": "ok",
        "pushgateway": "ok",
        "results directory": "ok",
    }, out
    assert "all 54 enabled jobs resolve" in lines["job definitions"][1]
    assert out.rstrip().endswith("check: all checks passed")
    assert len(viya.ground_truth()["jobs"]) == before, "check must not submit jobs"


def test_no_pushgateway_is_not_a_failure(viya, capsys):
    code, lines, out = run_check(capsys)
    assert code == 0, out
    assert lines["pushgateway"][0] == "skip"


def test_viya_url_missing(runner_env, capsys):
    code, lines, out = run_check(capsys)
    assert code == 2
    assert lines["viya"][0] == "FAIL" and "JES_VIYA_URL" in lines["viya"][1]


def test_viya_unreachable(runner_env, monkeypatch, capsys):
    monkeypatch.setenv("JES_VIYA_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("JES_USERNAME", "jes")
    monkeypatch.setenv("JES_PASSWORD", "x")
    monkeypatch.setenv("JES_MAX_RETRIES", "0")
    code, lines, out = run_check(capsys)
    assert code == 2
    assert lines["viya"][0] == "FAIL" and "fix:" in lines["viya"][1]
    assert lines["token"][0] == lines["job definitions"][0] == "skip"
    assert lines["results directory"][0] == "ok"


def test_wrong_password(viya, monkeypatch, capsys):
    monkeypatch.setenv("JES_PASSWORD", "not-the-password")
    code, lines, out = run_check(capsys)
    assert code == 2
    assert lines["viya"][0] == "ok"
    assert lines["token"][0] == "FAIL" and "fix:" in lines["token"][1], out
    assert lines["job definitions"][0] == "skip"


def test_no_credentials(viya, monkeypatch, capsys):
    monkeypatch.delenv("JES_USERNAME")
    monkeypatch.delenv("JES_PASSWORD")
    code, lines, out = run_check(capsys)
    assert code == 2
    assert lines["token"][0] == "FAIL" and "no credentials" in lines["token"][1]


def test_refused_access_token(viya, monkeypatch, capsys):
    monkeypatch.delenv("JES_USERNAME")
    monkeypatch.delenv("JES_PASSWORD")
    monkeypatch.setenv("JES_ACCESS_TOKEN", "not-a-token-viya-issued")
    code, lines, out = run_check(capsys)
    assert code == 2
    assert lines["viya"][0] == "ok"
    assert lines["token"][0] == "FAIL", out


def test_credentials_from_the_secrets_directory(viya, monkeypatch, tmp_path, capsys):
    """The layout of the chart's mounted Secret: one file per key."""
    monkeypatch.delenv("JES_USERNAME")
    monkeypatch.delenv("JES_PASSWORD")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "username").write_text(viya.username + "\n")
    (secrets / "password").write_text(viya.password)
    monkeypatch.setenv("JES_SECRETS_DIR", str(secrets))
    code, lines, out = run_check(capsys)
    assert code == 0, out
    assert "password grant" in lines["token"][1]


def test_unknown_context(viya, monkeypatch, capsys):
    monkeypatch.setenv(
        "JES_PHASES",
        json.dumps(
            [
                {
                    "name": "sequential",
                    "context": "SAS Job Execution compute context",
                    "mode": "sequential",
                },
                {"name": "pooled", "context": "No Such Context", "mode": "batch", "concurrency": 4},
            ]
        ),
    )
    code, lines, out = run_check(capsys)
    assert code == 2
    assert lines["context 'SAS Job Execution compute context'"][0] == "ok"
    status, detail = lines["context 'No Such Context'"]
    assert status == "FAIL"
    assert "phase 'pooled'" in detail and "Autoscaling POC Context" in detail and "fix:" in detail
    assert lines["job definitions"][0] == "ok"


def test_unresolved_job_definitions(viya, monkeypatch, tmp_path, capsys):
    shipped = json.loads((REPO / "config" / "job_configs.json").read_text())
    jobs = shipped["jobs"][:3]
    jobs.append({**jobs[0], "name": "zz_not_on_viya", "definition_id": None})
    jobs.append(
        {**jobs[0], "name": "by_id", "definition_id": "00000000-dead-beef-0000-000000000000"}
    )
    jobs.append({**jobs[0], "name": "disabled_missing", "enabled": False})
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps({**shipped, "jobs": jobs}))
    monkeypatch.setenv("JES_JOB_CONFIG", str(path))
    code, lines, out = run_check(capsys)
    assert code == 2
    status, detail = lines["job definitions"]
    assert status == "FAIL"
    assert "2 of 5 enabled jobs do not resolve" in detail
    assert "zz_not_on_viya" in detail and "00000000-dead-beef" in detail
    assert "disabled_missing" not in detail
    assert "jes-runner discover" in detail


def test_bad_job_config(viya, monkeypatch, tmp_path, capsys):
    path = tmp_path / "jobs.json"
    path.write_text("{not json")
    monkeypatch.setenv("JES_JOB_CONFIG", str(path))
    code, lines, out = run_check(capsys)
    assert code == 2
    assert lines["job config"][0] == "FAIL"
    assert lines["viya"][0] == "ok" and lines["token"][0] == "ok"
    assert lines["job definitions"][0] == "skip"


def test_bad_settings(runner_env, monkeypatch, capsys):
    monkeypatch.setenv("JES_PHASES", '[{"name": "only-a-name"}]')
    code, lines, out = run_check(capsys)
    assert code == 2
    assert lines["settings"][0] == "FAIL" and "JES_PHASES" in lines["settings"][1]


def test_pushgateway_unreachable(viya, monkeypatch, capsys):
    monkeypatch.setenv("JES_PUSHGATEWAY_URL", f"http://127.0.0.1:{free_port()}")
    code, lines, out = run_check(capsys)
    assert code == 2
    status, detail = lines["pushgateway"]
    assert status == "FAIL" and "cannot reach" in detail and "fix:" in detail
    assert all(s == "ok" for n, s in statuses(lines).items() if n != "pushgateway")


@pytest.mark.services
def test_pushgateway_wrong_url_path(viya, pushgateway, monkeypatch, capsys):
    monkeypatch.setenv("JES_PUSHGATEWAY_URL", pushgateway + "/not/the/gateway")
    code, lines, out = run_check(capsys)
    assert code == 2
    assert lines["pushgateway"][0] == "FAIL" and "404" in lines["pushgateway"][1]


def test_results_directory_not_writable(viya, monkeypatch, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("JES_OUTPUT_DIR", str(blocker / "results"))
    code, lines, out = run_check(capsys)
    assert code == 2
    status, detail = lines["results directory"]
    assert status == "FAIL" and "not writable" in detail and "JES_OUTPUT_DIR" in detail
    assert not list(tmp_path.glob("**/.jes-check-*"))


def test_results_directory_is_created_and_left_clean(viya, runner_env, capsys):
    code, lines, out = run_check(capsys)
    assert code == 0, out
    assert runner_env.is_dir() and not list(runner_env.iterdir())


def test_viya_faults_do_not_crash_the_check(runner_env, monkeypatch, capsys):
    """Contexts listing answered with 503 every time: a FAIL line, not a traceback."""
    with Emulator(port=0) as emu:
        emu.set_faults(
            {
                "rules": [
                    {
                        "endpoint": "GET /compute/contexts",
                        "error_rate": 1.0,
                        "error_statuses": [503],
                    }
                ]
            }
        )
        monkeypatch.setenv("JES_VIYA_URL", emu.url)
        monkeypatch.setenv("JES_USERNAME", emu.username)
        monkeypatch.setenv("JES_PASSWORD", emu.password)
        monkeypatch.setenv("JES_MAX_RETRIES", "0")
        code, lines, out = run_check(capsys)
    assert code == 2, out
    assert lines["viya"][0] == "ok" and lines["token"][0] == "ok"
    assert lines["contexts"][0] == "FAIL" and "503" in lines["contexts"][1]
