"""The original tool's results files (two and three phases) go through report, export, compare
and push with every phase they hold, measured from their server timestamps."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from support.servers import Server, http, parse_metrics_text

from jes_runner.cli.main import main
from jes_runner.results.views import load_results, phase_views

from .conftest import DATA

TWO = DATA / "original_two_phase.json"
THREE = DATA / "original_three_phase.json"
PHASES = {TWO: ["sequential", "async"], THREE: ["sequential", "async_regular", "async_autoscaling"]}


def cli(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.mark.parametrize("path", [TWO, THREE], ids=["two-phase", "three-phase"])
def test_every_phase_read_with_server_timestamps(path: Path) -> None:
    raw = json.loads(path.read_text())
    res = load_results(path)
    assert [p["name"] for p in res["phases"]] == PHASES[path]
    for p in res["phases"]:
        src = raw[p["source_key"]]
        assert len(p["jobs"]) == len(src["jobs"])
        for j, s in zip(p["jobs"], src["jobs"], strict=True):
            assert j["timing_source"] == "server"
            assert j["submitted_at"].startswith(s["job_metrics"]["submission_time"][:19])
            assert j["duration"] == pytest.approx(
                s["job_metrics"]["elapsed_time_ms"] / 1000, abs=0.001
            )
            od = (s.get("metrics") or {}).get("orchestrator_data") or s["job_metrics"].get(
                "orchestrator_data"
            )
            assert (
                j["metrics"]["orchestrator_data"]["queue_wait_seconds"] == od["queue_wait_seconds"]
            )
        # the makespan is the server one (first creation -> last end), not the tool's client-clock total
        assert p["stats"]["makespan_seconds"] < src["total_duration"]
        assert p["stats"]["hosts_used"] == len(
            {j["metrics"]["orchestrator_data"]["execution_host"] for j in p["jobs"]}
        )
    base = res["phases"][0]
    # the original's polling gaps
    assert base["stats"]["idle_seconds"] == pytest.approx(5 * 3.4, abs=0.01)


def test_two_phase_failure_makes_it_not_comparable() -> None:
    asy = {p.name: p for p in phase_views(load_results(TWO))}["async"]
    vb = asy.vs_baseline or {}
    assert vb["comparable"] is False and "failed" in vb["reason"] and vb["jobs_compared"] == 5


@pytest.mark.parametrize("path", [TWO, THREE], ids=["two-phase", "three-phase"])
def test_report_has_every_phase(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "rep"
    rc, out, err = cli(capsys, "report", path, "--out", out_dir)
    assert rc == 0, err
    page = (out_dir / "report.html").read_text()
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert m
    data = json.loads(m.group(1).replace("<\\/", "</"))
    assert [p["name"] for p in data["phases"]] == PHASES[path]
    for name in PHASES[path]:
        assert f"timeline_{name}" in data["figures"]
    assert all(p["speedup"] for p in data["phases"][1:])


@pytest.mark.parametrize("path", [TWO, THREE], ids=["two-phase", "three-phase"])
def test_export_has_every_phase(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.csv"
    rc, _, err = cli(capsys, "export", path, "--format", "csv", "--out", out)
    assert rc == 0, err
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["phase"] for r in rows] == [n for n in PHASES[path] for _ in range(6)]
    assert all(r["timing_source"] == "server" and r["execution_host"] for r in rows)
    with open(tmp_path / "x_phases.csv", newline="") as fh:
        assert [r["phase"] for r in csv.DictReader(fh)] == PHASES[path]


def test_compare_three_phase_files_compares_every_phase(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "cmp.json"
    rc, out, err = cli(capsys, "compare", THREE, THREE, "--json-out", out_json)
    assert rc == 0, err
    doc = json.loads(out_json.read_text())
    assert doc["phases_compared"] == PHASES[THREE]
    figures = {c["figure"] for c in doc["phase_changes"]}
    assert {"makespan_seconds", "speedup", "busy_makespan_seconds"} <= figures


def test_compare_two_against_three_phase_says_what_differs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "cmp.json"
    rc, out, err = cli(capsys, "compare", TWO, THREE, "--json-out", out_json)
    doc = json.loads(out_json.read_text())
    assert doc["phases_compared"] == ["sequential"] and doc["only_in_current"] == [
        "async_regular",
        "async_autoscaling",
    ]
    assert doc["configuration_changed"] and out.index("configuration") < out.index("sequential")
    assert rc in (0, 6)


@pytest.mark.parametrize("path", [TWO, THREE], ids=["two-phase", "three-phase"])
@pytest.mark.services
def test_push_has_every_phase(
    path: Path, pushgateway_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = cli(
        capsys,
        "push",
        path,
        "--pushgateway-url",
        pushgateway_server.url,
        "--cluster",
        "orig",
        "--environment",
        "ci",
    )
    assert rc == 0, err
    status, body = http(pushgateway_server.url + "/metrics")
    assert status == 200
    series = [
        (n, lab, v)
        for n, lab, v in parse_metrics_text(body.decode())
        if lab.get("cluster") == "orig"
    ]
    makespans = {lab["phase"]: v for n, lab, v in series if n == "jes_phase_makespan_seconds"}
    res = load_results(path)
    assert makespans == {p["name"]: p["stats"]["makespan_seconds"] for p in res["phases"]}
    info = [lab for n, lab, _ in series if n == "jes_run_info"]
    assert info and info[0]["emulated"] == "false"


def test_compare_refuses_a_regression_across_configurations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = load_results(THREE)
    cur = json.loads(json.dumps(base))
    reg = next(p for p in cur["phases"] if p["name"] == "async_regular")
    reg["concurrency"] = 2  # another configuration, and a slower phase
    reg["stats"]["makespan_seconds"] *= 2
    reg["vs_baseline"]["speedup"] /= 2
    b, c = tmp_path / "b.json", tmp_path / "c.json"
    b.write_text(json.dumps(base))
    c.write_text(json.dumps(cur))
    rc, out, _ = cli(capsys, "compare", b, c)
    assert rc == 0 and out.splitlines()[1] == "configuration differs:"
    assert "phase async_regular: concurrency 6 -> 2" in out and "REGRESSION" not in out
    rc, out, _ = cli(capsys, "compare", b, c, "--allow-config-change")
    assert (
        rc == 6
        and "async_regular      makespan_seconds" in out
        and "speedup" in out
        and "REGRESSION" in out
    )
