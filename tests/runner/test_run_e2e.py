"""End-to-end runs over real HTTP against the embedded emulator (CLI in-process)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import check_results, latest_results, max_overlap, run_cli, write_job_config
from support.cli_output import non_log_lines

FAST = 0.002  # emulator speed for tests: a 40 s model job takes 0.08 s


def creds(monkeypatch: pytest.MonkeyPatch, emu: Any) -> None:
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", emu.password)


def _truth_slot_idle(emu: Any, ids: set[str], slots: int) -> float:
    """From the emulator's ground truth: the k-th end to the (k + slots)-th submission, summed."""
    jobs = [j for j in emu.ground_truth()["jobs"] if j["id"] in ids]
    ends = sorted(j["jes_end_epoch"] for j in jobs)
    starts = sorted(j["submit_epoch"] for j in jobs)
    return sum(max(0.0, c - e) for e, c in zip(ends, starts[slots:], strict=False))


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
@pytest.mark.parametrize("mode,concurrent", [("batch", 3), ("window", 3), ("all", None)])
def test_modes(
    mode: str,
    concurrent: int | None,
    make_emulator: Any,
    runner_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = make_emulator(speed_factor=FAST)
    creds(monkeypatch, emu)
    argv = ["run", "--viya-url", emu.url, "--limit-jobs", "8", "--mode", mode]
    if concurrent:
        argv += ["--concurrent", str(concurrent)]
    assert run_cli(argv) == 0
    res = latest_results(runner_env)
    check_results(res, emu)
    seq, asy = res["phases"]
    assert seq["mode"] == "sequential" and seq["baseline"] and seq["vs_baseline"] is None
    assert asy["mode"] == mode and asy["vs_baseline"] is not None
    assert max_overlap(seq["jobs"]) == 1
    overlap = max_overlap(asy["jobs"])
    if mode in ("batch", "window"):
        assert overlap <= 3
    if mode == "window":
        assert overlap == 3  # the window is kept full
    if mode == "all":
        assert overlap > 3
    if mode == "batch":  # waves: a job of wave k+1 starts after every job of wave k ended
        jobs = sorted(asy["jobs"], key=lambda j: j["sequence"])
        assert min(j["submitted_at"] for j in jobs[3:6]) >= max(j["ended_at"] for j in jobs[:3])
    for p in res["phases"]:
        assert p["unmatched_jobs"] == []
        assert all(j["metrics"]["orchestrator_data"]["execution_host"] for j in p["jobs"])
        s = p["stats"]
        assert s["jobs_total"] == s["jobs_completed"] == 8
        assert s["makespan_seconds"] > 0 and s["peak_nodes"] >= 1
        slots = {"sequential": 1, "window": 3}.get(p["mode"])
        if slots is None:  # batch waits for its wave by design, all has a slot per job
            assert s["slot_idle_seconds"] is None
        else:  # the emulator's own submit and end times, not the runner's reading of them
            truth = _truth_slot_idle(emu, {j["job_instance_id"] for j in p["jobs"]}, slots)
            assert s["slot_idle_seconds"] == pytest.approx(truth, abs=0.01)
    # the seed's keys keep their shape
    assert (
        res["sequential_execution"]["successful_jobs"] == 8
        and len(res["async_execution"]["jobs"]) == 8
    )
    assert (
        res["comparison"]["execution_time"]["sequential_total"] == seq["stats"]["makespan_seconds"]
    )
    checkpoint = runner_env / f"{res['run_id']}.checkpoint.jsonl"
    lines = [json.loads(x) for x in checkpoint.read_text().splitlines()]
    assert sum(1 for x in lines if x["type"] == "job") == 16
    # an emulator reached by URL: labelled emulated, but it outlives the run, so `recover` asks it
    run = lines[0]
    assert (run["emulator"], run["embedded_emulator"]) == (True, False)
    assert run["emulator_model"]["speed_factor"] == FAST


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_three_phases_from_file(
    make_emulator: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    emu = make_emulator(speed_factor=FAST)
    creds(monkeypatch, emu)
    phases = tmp_path / "phases.yaml"
    phases.write_text(
        "- {name: sequential, context: SAS Job Execution compute context, mode: sequential}\n"
        "- {name: Fixed pool (all), context: SAS Studio compute context, mode: all}\n"
        "- {name: autoscaling, context: Autoscaling POC Context, mode: all}\n"
    )
    assert (
        run_cli(["run", "--viya-url", emu.url, "--limit-jobs", "6", "--phases", str(phases)]) == 0
    )
    res = latest_results(runner_env)
    check_results(res, emu)
    assert [p["name"] for p in res["phases"]] == ["sequential", "Fixed pool (all)", "autoscaling"]
    assert res["phases"][1]["jobs"][0]["unique_job_name"].startswith("cm_pooled_fixed_pool_all_1_")
    base = res["phases"][0]["stats"]["makespan_seconds"]
    for p in res["phases"][1:]:
        vb = p["vs_baseline"]
        assert vb["time_saved_seconds"] == pytest.approx(
            base - p["stats"]["makespan_seconds"], abs=1e-3
        )
        assert vb["speedup"] == pytest.approx(base / p["stats"]["makespan_seconds"], rel=1e-3)
    # seed keys: baseline and the first concurrent phase
    assert res["async_execution"]["context_name"] == "SAS Studio compute context"


def test_limit_jobs_zero_prints_effective_config(
    runner_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JES_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("JES_ACCESS_TOKEN", "tok-secret")
    assert run_cli(["run", "--limit-jobs", "0", "--mode", "all"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("jes-runner ")
    assert "hunter2-secret" not in out and "tok-secret" not in out and "********" in out
    doc = json.loads(out.split("\n", 1)[1])
    assert doc["jobs"] == 54 and doc["phases"][1]["mode"] == "all"
    assert not runner_env.exists()  # nothing ran, nothing written


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
@pytest.mark.parametrize(
    "flag,expect", [("--async-only", ["async"]), ("--sequential-only", ["sequential"])]
)
def test_single_phase_flags(
    flag: str, expect: list[str], emulator: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds(monkeypatch, emulator)
    assert run_cli(["run", "--viya-url", emulator.url, "--limit-jobs", "3", flag]) == 0
    res = latest_results(runner_env)
    check_results(res, emulator)
    assert [p["name"] for p in res["phases"]] == expect
    if flag == "--async-only":  # no baseline ran: nothing to compare with
        assert res["phases"][0]["vs_baseline"] is None
        # nothing to compare with: unknown (null), never 0
        assert (
            res["sequential_execution"]["jobs"] == []
            and res["comparison"]["execution_time"]["time_saved"] is None
        )


def test_failing_job_and_timeout(
    make_emulator: Any,
    runner_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emu = make_emulator(speed_factor=FAST)
    creds(monkeypatch, emu)
    cfg = write_job_config(tmp_path / "jobs.json", ["cm_pooled", "failing_job", "ae_pooled"])
    # ae_pooled runs 149.8 model s = 0.3 s here: a 0.15 s timeout cancels it
    code = run_cli(
        [
            "run",
            "--viya-url",
            emu.url,
            "--config",
            str(cfg),
            "--sequential-only",
            "--job-timeout",
            "0.15",
        ]
    )
    assert code == 3
    res = latest_results(runner_env)
    check_results(res, emu)
    assert res["status"] == "completed_with_failures"
    by = {j["name"]: j for j in res["phases"][0]["jobs"]}
    assert by["cm_pooled"]["status"] == "completed"
    assert by["failing_job"]["status"] == "failed" and by["failing_job"]["error"]
    assert (
        by["ae_pooled"]["status"] == "timed_out" and by["ae_pooled"]["server_state"] == "canceled"
    )
    truth = {j["id"]: j for j in emu.ground_truth()["jobs"]}
    assert truth[by["ae_pooled"]["job_instance_id"]]["state"] == "canceled"
    stats = res["phases"][0]["stats"]
    assert (stats["jobs_completed"], stats["jobs_failed"], stats["jobs_timed_out"]) == (1, 1, 1)
    out = capsys.readouterr().out
    assert "failing_job_sequential_2_" in out and "timed_out" in out  # named in the summary
    # the failed job's log tail (GET /files/files/{id}/content) is in its record ...
    tail = by["failing_job"]["log_tail"]
    assert "ERROR: The SAS program aborted" in tail and "abort abend" in tail
    assert by["cm_pooled"]["log_tail"] is None and by["ae_pooled"]["log_tail"] is None
    # ... and in the report
    (path,) = sorted(runner_env.glob("pooled_jobs_comparison_*.json"))[-1:]
    assert run_cli(["report", str(path), "--out", str(tmp_path / "rep")]) == 0
    html = (tmp_path / "rep" / "report.html").read_text()
    assert 'id="log-tails"' in html and "ERROR: The SAS program aborted" in html


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_token_expiry_mid_run(
    make_emulator: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = make_emulator(speed_factor=FAST, auth={"access_token_lifetime_s": 0.6})
    creds(monkeypatch, emu)
    assert (
        run_cli(
            ["run", "--viya-url", emu.url, "--limit-jobs", "10", "--mode", "window", "--no-report"]
        )
        == 0
    )
    res = latest_results(runner_env)
    check_results(res, emu)
    tokens = res["metadata"]["viya_requests"]["by_kind"]["POST /SASLogon/oauth"]
    # the jobs alone (server time) outlived two token lifetimes, and every expired token was replaced
    # before a call needed it: no 401 reached a job (check_results: none lost), more grants than one.
    # (The count is not compared with wall time: a slow machine stretches the gaps between requests.)
    busy = sum(p["stats"]["makespan_seconds"] for p in res["phases"])
    assert busy > 1.2 and tokens >= 2
    served = emu.ground_truth()["requests"]
    assert served.get("POST /SASLogon/oauth/token", 0) == tokens


def test_refused_token_is_refreshed_and_the_call_retried(
    make_emulator: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = make_emulator(speed_factor=FAST)
    creds(monkeypatch, emu)
    # no exp to read: only a 401 tells
    monkeypatch.setenv("JES_ACCESS_TOKEN", "opaque-revoked-token")
    assert run_cli(["run", "--viya-url", emu.url, "--limit-jobs", "1", "--sequential-only"]) == 0
    served = emu.ground_truth()["requests"]
    assert served["GET /compute/contexts"] == 2  # 401 invalid_token, then the retry
    assert served["POST /SASLogon/oauth/token"] == 1


def test_unwritable_results_dir(
    emulator: Any,
    runner_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    creds(monkeypatch, emulator)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the results directory should be")
    code = run_cli(
        [
            "run",
            "--viya-url",
            emulator.url,
            "--limit-jobs",
            "2",
            "--sequential-only",
            "--output-dir",
            str(blocker / "results"),
        ]
    )
    assert code == 5
    cap = capsys.readouterr()
    errors = non_log_lines(cap.err)
    assert len(errors) == 1 and errors[0].startswith("error: cannot write results file")
    assert cap.err.strip().splitlines()[-1] == errors[0]
    assert "makespan" in cap.out and "sequential" in cap.out  # figures still on stdout
    dumped = [ln for ln in cap.out.splitlines() if ln.startswith('{"schema_version"')]
    assert dumped and json.loads(dumped[0])["status"] == "completed"  # and the whole results


def test_json_logs(
    emulator: Any,
    runner_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    creds(monkeypatch, emulator)
    assert (
        run_cli(
            [
                "run",
                "--viya-url",
                emulator.url,
                "--limit-jobs",
                "2",
                "--sequential-only",
                "--log-format",
                "json",
            ]
        )
        == 0
    )
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    events = [json.loads(ln) for ln in lines]  # every log line (stderr) is one JSON object
    assert cap.out.strip() == ""  # the summary is a log event too: stdout stays empty
    assert any(e.get("event") == "job_finished" and e["status"] == "completed" for e in events)
    assert all({"ts", "level", "msg"} <= e.keys() for e in events)
    run_id = latest_results(runner_env)["run_id"]
    assert all(e.get("run_id") == run_id for e in events)  # the run id is on every line
    summary = [e for e in events if e.get("event") == "run_summary"]
    assert summary and summary[0]["phases"][0]["stats"]["jobs_completed"] == 2


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_demo_under_a_minute(runner_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.monotonic()
    assert run_cli(["demo"]) == 0
    elapsed = time.monotonic() - t0
    assert elapsed < 60
    res = latest_results(runner_env)
    assert [len(p["jobs"]) for p in res["phases"]] == [54, 54]
    assert res["phases"][1]["mode"] == "batch" and res["phases"][1]["concurrency"] == 5
    assert res["metadata"]["emulator"] is True
    # issue 21's budgets, no runtime history: a concurrent phase <= 3 Viya requests per job, the
    # sequential baseline <= 25 job-status requests per job (its submission besides)
    seq, batch = res["phases"]
    assert batch["viya_requests"] / 54 <= 3, batch["viya_requests"]
    assert (seq["viya_requests"] - 54) / 54 <= 25, seq["viya_requests"]
    assert "speedup" in capsys.readouterr().out


def test_run_emulator_only_when_asked(runner_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # no URL: no silent emulator
    assert run_cli(["run", "--limit-jobs", "2", "--sequential-only"]) == 2
    assert not list(runner_env.glob("pooled_jobs_comparison_*.json"))
    capsys.readouterr()
    assert run_cli(["run", "--emulator", "--limit-jobs", "2", "--sequential-only"]) == 0
    cap = capsys.readouterr()
    # logs: stderr
    assert "started the embedded Viya emulator in-process at http://127.0.0.1:" in cap.err
    res = latest_results(runner_env)
    assert res["status"] == "completed" and res["emulator"] is True
    # the in-process emulator died with the run: its checkpoint tells `recover` not to ask its URL
    cp = runner_env / f"{res['run_id']}.checkpoint.jsonl"
    run = json.loads(cp.read_text().splitlines()[0])
    assert (run["emulator"], run["embedded_emulator"]) == (True, True)
