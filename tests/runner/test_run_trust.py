"""Figures a platform team can trust: no silent emulator, honest comparisons, cold starts, history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import check_results, latest_results, run_cli

from jes_runner.measure.stats import JobSpan, vs_baseline


@pytest.mark.parametrize("command", [["run", "--limit-jobs", "2"], ["orchestrator"]])
def test_no_url_and_no_emulator_is_one_line_exit_2(
    command: list[str], runner_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(command) == 2
    cap = capsys.readouterr()
    lines = [x for x in cap.err.splitlines() if x.strip()]
    assert len(lines) == 1, cap.err
    assert all(k in lines[0] for k in ("--viya-url", "JES_VIYA_URL")), lines[0]
    # the --emulator hint only where the command takes it (orchestrator rejects it)
    assert ("--emulator" in lines[0]) is (command[0] == "run"), lines[0]
    assert "Traceback" not in cap.err and "started the embedded" not in cap.out + cap.err
    assert not list(runner_env.rglob("pooled_jobs_comparison_*.json"))


def test_check_without_url_names_the_emulator_and_fails(
    runner_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["check"]) == 2
    out = capsys.readouterr().out
    fail = [x for x in out.splitlines() if x.startswith("FAIL") and "viya" in x]
    assert fail and "JES_VIYA_URL" in fail[0] and "--emulator" in fail[0], out


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_run_emulator_results_and_summary_say_emulated(
    runner_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["run", "--emulator", "--limit-jobs", "3", "--no-report"]) == 0
    out = capsys.readouterr().out
    res = latest_results(runner_env)
    assert res["emulator"] is True and res["metadata"]["emulator"] is True
    model = res["metadata"]["emulator_model"]
    assert model["speed_factor"] > 0 and model["scenario"] == "default"
    assert out.startswith("EMULATED:") and f"x {1 / model['speed_factor']:g}" in out.splitlines()[0]
    assert "model s" in out  # the makespans also in the modelled cluster's seconds
    for p in res["phases"]:
        s = p["stats"]
        assert s["jobs_planned"] == s["jobs_submitted"] == 3
        assert s["busy_makespan_seconds"] + s["idle_seconds"] == pytest.approx(
            s["makespan_seconds"], abs=0.002
        )


def _failing_jobs_config(tmp: Path) -> Path:
    cfg = json.loads(
        (Path(__file__).resolve().parents[2] / "config" / "job_configs.json").read_text()
    )
    cfg["jobs"] = [j for j in cfg["jobs"] if j.get("enabled", True)][:12]
    path = tmp / "jobs12.json"
    path.write_text(json.dumps(cfg))
    return path


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_injected_failures_make_the_comparison_not_comparable(
    make_emulator: Any,
    runner_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emu = make_emulator(faults={"job_failure_rate": 0.2, "seed": 3})
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", emu.password)
    cfg = _failing_jobs_config(runner_env.parent)
    rc = run_cli(["run", "--viya-url", emu.url, "--config", str(cfg), "--no-report"])
    out = capsys.readouterr().out
    assert rc == 3, out  # jobs failed
    res = latest_results(runner_env)
    check_results(res, emu)
    base, other = res["phases"]
    assert base["stats"]["jobs_failed"] + other["stats"]["jobs_failed"] > 0, (
        "the failure draw failed nothing"
    )
    vb = other["vs_baseline"]
    assert vb["comparable"] is False and "not completed" in vb["reason"]
    done = {(j["name"]) for j in base["jobs"] if j["status"] == "completed"} & {
        (j["name"]) for j in other["jobs"] if j["status"] == "completed"
    }
    assert vb["jobs_compared"] == len(done) < 12
    # the speedup is the one over exactly those jobs, from their server times
    spans = {
        p["name"]: [
            JobSpan(
                j["name"], j["sequence"], j["status"], *map(_ts, (j["submitted_at"], j["ended_at"]))
            )
            for j in p["jobs"]
        ]
        for p in (base, other)
    }
    again = vs_baseline(spans[base["name"]], spans[other["name"]])
    assert (
        again is not None
        and again["speedup"] == vb["speedup"]
        and again["busy_speedup"] == vb["busy_speedup"]
    )
    assert res["comparison"]["execution_time"]["comparable"] is False
    assert "NOT COMPARABLE" in out and "x !" in out


def _ts(v: str | None) -> Any:
    from jes_runner._util import parse_ts

    return parse_ts(v)


THREE = [
    {
        "name": "sequential",
        "context": "SAS Job Execution compute context",
        "mode": "sequential",
        "baseline": True,
    },
    {"name": "fixed_all", "context": "SAS Job Execution compute context", "mode": "all"},
    {
        "name": "autoscaling_all",
        "context": "Autoscaling POC Context",
        "mode": "all",
        "cold_start": True,
    },
]


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
@pytest.mark.parametrize(
    "order", [(0, 1, 2), (0, 2, 1)], ids=["autoscaling-last", "autoscaling-second"]
)
def test_cold_start_scale_up_whatever_the_position(
    order: tuple[int, ...], runner_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    phases = runner_env.parent / "phases.json"
    phases.write_text(json.dumps([THREE[i] for i in order]))
    # 40 jobs: the fixed pool's slots overflow into the autoscaling pool (it scales up); 20 no
    # longer do since the model shares CPU by each job's cores
    rc = run_cli(
        ["run", "--emulator", "--phases", str(phases), "--limit-jobs", "40", "--no-report"]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    res = latest_results(runner_env)
    auto = next(p for p in res["phases"] if p["name"] == "autoscaling_all")
    assert (
        auto["scaling"]["nodes_added"] >= 1
        and auto["scaling"]["time_to_first_node_request_seconds"] is not None
    )
    assert auto["warm_nodes_at_start"] == 0  # it started from a cold pool
    cold = auto["cold_start"]
    assert cold["source"] == "kubernetes"
    # nothing ran on its pool yet and nothing was scaled up: no wait, said so
    if order == (
        0,
        2,
        1,
    ):
        assert (
            cold["reached_minimum"] is None
            and cold["nodes_at_start"] is None
            and "not known" in cold["note"]
        )
    else:  # the fixed phase scaled the pool up: the wait brought it back to its minimum
        fixed = next(p for p in res["phases"] if p["name"] == "fixed_all")
        assert fixed["scaling"]["nodes_added"] >= 1
        assert (
            cold["reached_minimum"] is True
            and cold["pools"] == ["computetmp"]
            and cold["waited_seconds"] > 0
        )
        assert cold["nodes_at_start"] == 0
    assert "cold start:" in out


@pytest.mark.services
def test_run_emulator_says_emulated_in_results_metrics_and_report(
    runner_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On Debian's real Pushgateway: jes_run_info carries emulated="true"; the report has the banner."""
    from support.servers import http, parse_metrics_text, pushgateway

    with pushgateway(tmp_path / "pg") as pg:
        monkeypatch.setenv("JES_CLUSTER", "prod-aks")
        rc = run_cli(["run", "--emulator", "--limit-jobs", "2", "--pushgateway-url", pg.url])
        out = capsys.readouterr().out
        assert rc == 0, out
        status, body = http(pg.url + "/metrics")
    assert status == 200
    info = [lab for n, lab, _ in parse_metrics_text(body.decode()) if n == "jes_run_info"]
    assert len(info) == 1 and info[0]["emulated"] == "true" and info[0]["cluster"] == "prod-aks"
    res = latest_results(runner_env)
    assert res["emulator"] is True
    (report,) = runner_env.glob("*_report/report.html")
    page = report.read_text()
    assert (
        'id="emulated"' in page
        and "EMULATED: these figures come from the embedded Viya emulator" in page
    )
    assert "Makespan (model s)" in page
