"""Reports and comparisons of real runs against the emulator (no constructed data).

The compare runs release every job at once (``--mode all``) so a makespan is the
cluster's alone: first creation to last end, whatever the client's polling does.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.browser import Browser
from support.study import scenario

from jes_runner.cli.main import main

from .test_html import data_block

pytestmark = (
    pytest.mark.slow
)  # end-to-end runs of seconds: outside the fast selection (README, Development)

SLOWER_POOL = {"pools": {"computetmp": {"cpu_capacity": 0.5}}}  # a third of the default 1.5 cores


def _isolated_env(mp: pytest.MonkeyPatch, tmp: Path) -> None:
    for k in list(os.environ):
        if k.startswith("JES_"):
            mp.delenv(k)
    mp.setenv("JES_SECRETS_DIR", str(tmp / "no-secrets"))
    mp.chdir(tmp)


def _run_on(overrides: dict[str, Any] | None, out: Path, *args: str) -> Path:
    from jes_runner.emulator import Emulator

    with Emulator(scenario=scenario(overrides), port=0) as emu, pytest.MonkeyPatch.context() as mp:
        mp.setenv("JES_USERNAME", emu.username)
        mp.setenv("JES_PASSWORD", emu.password)
        rc = main(["run", "--viya-url", emu.url, "--output-dir", str(out), *args])
    assert rc == 0
    (path,) = out.glob("pooled_jobs_comparison_*.json")
    return path


@pytest.fixture(scope="module")
def compare_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Three real runs: default scenario twice, then with a slower autoscaling pool."""
    tmp = tmp_path_factory.mktemp("compare-runs")
    args = ("--async-only", "--mode", "all", "--limit-jobs", "12", "--no-report")
    with pytest.MonkeyPatch.context() as mp:
        _isolated_env(mp, tmp)
        yield {
            name: _run_on(over, tmp / name, *args)
            for name, over in (("base", None), ("same", None), ("slower", SLOWER_POOL))
        }


def test_compare_identical_scenarios_pass(
    compare_runs: dict[str, Path], cli: Callable[..., Any]
) -> None:
    assert not list(compare_runs["base"].parent.glob("*_report"))  # --no-report
    rc, out, err = cli("compare", compare_runs["base"], compare_runs["same"], "--min-delta", "0.05")
    assert rc == 0, out + err
    assert "REGRESSION" not in out and "result: within tolerance (exit 0)" in out
    line = next(
        ln for ln in out.splitlines() if ln.startswith("async") and "makespan_seconds" in ln
    )
    pct = float(re.search(r"([+-][0-9.]+) %", line).group(1))
    assert abs(pct) < 5  # the same scenario measures the same makespan


def test_compare_flags_a_slower_pool(
    tmp_path: Path, compare_runs: dict[str, Path], cli: Callable[..., Any]
) -> None:
    rc, out, _ = cli(
        "compare",
        compare_runs["base"],
        compare_runs["slower"],
        "--max-regression",
        "10%",
        "--min-delta",
        "0.05",
        "--json-out",
        tmp_path / "cmp.json",
    )
    assert rc == 6, out
    cmp = json.loads((tmp_path / "cmp.json").read_text())
    mk = next(c for c in cmp["phase_changes"] if c["figure"] == "makespan_seconds")
    assert mk["phase"] == "async" and mk["regression"] and mk["percent"] > 10
    assert any(r.startswith("async: makespan_seconds") for r in cmp["regressions"])
    # per job: the same 12 jobs, each matched and most of them slower
    durations = [c for c in cmp["job_changes"] if c["figure"] == "duration"]
    assert len(durations) == 12 and sum(c["delta"] > 0 for c in durations) >= 9
    # and the other way round it is an improvement, not a regression
    rc, out, _ = cli("compare", compare_runs["slower"], compare_runs["base"], "--min-delta", "0.05")
    assert rc == 0 and "REGRESSION" not in out


def test_report_of_a_real_run(
    tmp_path: Path, compare_runs: dict[str, Path], cli: Callable[..., Any]
) -> None:
    src = compare_runs["slower"]
    results = json.loads(src.read_text())
    rc, out, err = cli("report", src, "--out", tmp_path / "rep")
    assert rc == 0, err
    page = (tmp_path / "rep" / "report.html").read_text()
    d = data_block(page)
    (phase,) = results["phases"]
    tl = d["figures"]["timeline_async"]
    hosts = sorted({j["metrics"]["orchestrator_data"]["execution_host"] for j in phase["jobs"]})
    assert [r["host"] for r in tl["rows"]] == hosts and tl["drawn"]["host_rows"] == len(hosts)
    assert tl["drawn"]["run_bars"] == len(phase["jobs"]) == 12
    assert all(b["split"] for b in tl["bars"])  # every job matched: queue/start-up/run known
    assert d["table_rows"] == 12 and len(re.findall(r'<tr data-phase="async"', page)) == 12
    assert tl["makespan"] == phase["stats"]["makespan_seconds"]


@pytest.mark.services
def test_run_writes_the_report_beside_the_results(
    runner_env: Path, cli: Callable[..., Any], artifacts: Path
) -> None:
    """`jes-runner run` on the embedded emulator: results, then the report as a sink; a threshold
    crossed (speedup) turns the exit code into 6 and shows in the report."""
    rc, out, err = cli("run", "--emulator", "--limit-jobs", "8", "--min-speedup", "50")
    assert rc == 6, out + err
    (results_path,) = runner_env.glob("pooled_jobs_comparison_*.json")
    results = json.loads(results_path.read_text())
    report_dir = results_path.with_name(results_path.stem + "_report")
    assert f"report: {report_dir / 'report.html'}" in out
    assert sorted(p.name for p in report_dir.glob("*.png")) == [
        "makespan.png",
        "queue_wait.png",
        "timeline_async.png",
        "timeline_sequential.png",
    ]
    th = results["thresholds"]
    assert th["checked"] == {"min_speedup": 50.0}
    assert [b["threshold"] for b in th["breaches"]] == ["min_speedup"]
    assert "threshold crossed: phase async" in err  # a log line: stderr

    page = (report_dir / "report.html").read_text()
    d = data_block(page)
    assert d["run_id"] == results["run_id"] and d["table_rows"] == 16
    for raw in results["phases"]:
        tl = d["figures"][f"timeline_{raw['name']}"]
        hosts = sorted(raw["stats"]["jobs_per_host"])
        assert [r["host"] for r in tl["rows"]] == hosts and tl["drawn"]["host_rows"] == raw[
            "stats"
        ]["hosts_used"]
        assert {r["host"]: r["jobs"] for r in tl["rows"]} == raw["stats"]["jobs_per_host"]
        assert tl["drawn"]["run_bars"] == len(raw["jobs"]) == 8
        assert sorted(b["unique_job_name"] for b in tl["bars"]) == sorted(
            j["unique_job_name"] for j in raw["jobs"]
        )
        assert len(re.findall(f'<tr data-phase="{raw["name"]}"', page)) == 8
    assert "1 threshold(s) crossed" in page

    with Browser(width=1400, height=2000) as b:
        b.open((report_dir / "report.html").as_uri())
        assert b.js("document.documentElement.getAttribute('data-report-ready')") == "1"
        assert b.js("document.querySelectorAll('#jobs tbody tr').length") == 16
        b.screenshot(artifacts / "report-demo-run.png")
        assert b.errors == []
    print(f"screenshot: {artifacts / 'report-demo-run.png'}")


def test_failed_jobs_within_max_failed_jobs(
    runner_env: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    """A failing job makes a run exit 3; with max_failed_jobs=1 it is tolerated (0), with 0 it is 6."""
    cfg = tmp_path / "jobs.json"
    cfg.write_text(
        json.dumps({"jobs": [{"name": n} for n in ("cm_pooled", "failing_job", "co_pooled")]})
    )
    rc, out, err = cli(
        "run",
        "--emulator",
        "--config",
        cfg,
        "--sequential-only",
        "--max-failed-jobs",
        "1",
        "--no-report",
    )
    assert rc == 0, out + err
    (path,) = runner_env.glob("pooled_jobs_comparison_*.json")
    results = json.loads(path.read_text())
    assert results["status"] == "completed_with_failures"
    assert results["thresholds"] == {"checked": {"max_failed_jobs": 1}, "breaches": []}
    assert not list(runner_env.glob("*_report"))
    path.unlink()
    rc, _, err = cli("run", "--emulator", "--config", cfg, "--sequential-only", "--no-report")
    assert rc == 3 and "thresholds" not in json.loads(
        next(runner_env.glob("pooled_*.json")).read_text()
    )
