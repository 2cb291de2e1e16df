"""`jes-runner trend`: a results volume with one planted regression flags exactly that one.

The runs are built from job timings by the project's own document builder and written
by the runner's writer (tests/support/trend_runs.py): the planted regression is jobs
running 1.6x longer, never a planted figure.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.trend_runs import (
    PLANTED,
    PLANTED_FIGURES,
    Night,
    nights,
    planted_volume,
    write_night,
)

from jes_runner.analysis.trend import TrendReport, Verdict, build_trend


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    from jes_runner.cli.main import main

    def _run(*argv: Any) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = main([str(a) for a in argv])
        out = capsys.readouterr()
        return rc, out.out, out.err

    return _run


def flagged(t: TrendReport) -> set[tuple[str, str, str, str, str]]:
    return {
        (s.environment, s.profile, s.phase, s.source, v.figure)
        for s in t.series
        for v in s.regressions
    }


def series(t: TrendReport, env: str, profile: str, phase: str, source: str = "viya") -> Any:
    return next(
        s
        for s in t.series
        if (s.environment, s.profile, s.phase, s.source) == (env, profile, phase, source)
    )


def test_flags_exactly_the_planted_regression(tmp_path: Path, cli: Callable[..., Any]) -> None:
    vol = planted_volume(tmp_path / "vol")
    rc, out, err = cli("trend", vol.root)
    assert rc == 6, err
    t = build_trend(vol.root)
    assert flagged(t) == {(*PLANTED, f) for f in PLANTED_FIGURES}
    assert out.count("REGRESSION prod / nightly / concurrent") == len(PLANTED_FIGURES)
    assert out.rstrip().endswith(
        f"result: {len(PLANTED_FIGURES)} regressions beyond tolerance (exit 6)"
    )

    planted = series(t, "prod", "nightly", "concurrent")
    # the not-comparable night is drawn, never in the median: 9 earlier runs, 8 comparable, window 10
    bad = next(p for p in planted.points if p.run_id == vol.not_comparable_run)
    assert not bad.comparable and "failed" in (bad.reason or "") and not bad.in_reference
    assert {v.reference_runs for v in planted.verdicts if v.figure == "makespan"} == {8}
    # the other series' last runs: a not-comparable one is shown but not judged
    test_conc = series(t, "test", "nightly", "concurrent")
    assert not test_conc.points[-1].comparable
    assert {v.verdict for v in test_conc.verdicts} <= {Verdict.NOT_COMPARABLE, Verdict.NO_VALUE}
    # another configuration in prod/weekly is drawn apart, outside the median
    weekly = series(t, "prod", "weekly", "concurrent")
    other = next(p for p in weekly.points if p.run_id == vol.other_config_run)
    assert other.other_config and not other.in_reference and "x8" in other.config
    # corrupt and foreign files listed with their reason, nothing else skipped
    skipped = {f.path: f.reason for f in t.skipped}
    assert set(skipped) == {"broken.json", "config/job_configs.json"}
    assert "not JSON" in skipped["broken.json"]
    assert "not a jes-runner results file" in skipped["config/job_configs.json"]
    assert "broken.json" in out and "config/job_configs.json" in out


def test_no_slowdown_no_regression(tmp_path: Path, cli: Callable[..., Any]) -> None:
    """The same volume without the planted slowdown: nothing flagged, exit 0."""
    vol = planted_volume(tmp_path / "vol", slowdown=1.0)
    rc, out, err = cli("trend", vol.root)
    assert rc == 0, out + err
    assert flagged(build_trend(vol.root)) == set()
    assert "result: no regression beyond tolerance (exit 0)" in out


def test_what_must_not_matter(tmp_path: Path) -> None:
    """Emulated runs of the same labels, a not-comparable night, other profiles, environments,
    configurations, the original tool's file and broken files leave the verdict unchanged."""
    full = build_trend(planted_volume(tmp_path / "full").root)
    bare_root = tmp_path / "bare"
    prod = nights(10)
    prod[-1].slowdown = 1.6
    del prod[4]  # the not-comparable night, gone altogether
    for n in prod:
        write_night(bare_root, n)
    bare = build_trend(bare_root)

    def verdicts(t: TrendReport) -> list[tuple[Any, ...]]:
        s = series(t, "prod", "nightly", "concurrent")
        return [(v.figure, v.last, v.median, v.change_pct, v.verdict) for v in s.verdicts]

    assert verdicts(full) == verdicts(bare)
    assert len(bare.series) == 2 and flagged(bare) == flagged(full)


def test_emulated_runs_form_their_own_series_in_model_seconds(tmp_path: Path) -> None:
    vol = planted_volume(tmp_path / "vol")
    t = build_trend(vol.root)
    emu = series(t, "prod", "nightly", "concurrent", "emulated (default)")
    real = series(t, "prod", "nightly", "concurrent")
    assert emu.emulated and not real.emulated and "EMULATED" in emu.title
    assert [p.run_id for p in emu.points] == vol.emulated_runs
    assert not {p.run_id for p in real.points} & set(vol.emulated_runs)
    # model seconds: the file's served makespan / its speed factor, read here independently
    files = sorted((vol.root / "emulated").glob("*.json"))
    doc = json.loads(files[-1].read_text())
    served = next(p for p in doc["phases"] if p["name"] == "concurrent")["stats"][
        "makespan_seconds"
    ]
    sf = doc["metadata"]["emulator_model"]["speed_factor"]
    assert emu.points[-1].values["makespan"] == pytest.approx(served / sf, rel=1e-3)
    # the modelled cluster's seconds are the real runs' scale (same workload), not 200x smaller
    assert emu.points[-1].values["makespan"] == pytest.approx(
        real.points[0].values["makespan"], rel=0.1
    )


def test_profile_not_recorded_groups_as_adhoc(tmp_path: Path, cli: Callable[..., Any]) -> None:
    vol = planted_volume(tmp_path / "vol")
    t = build_trend(vol.root)
    assert t.profile_not_recorded == 1 and t.environment_not_recorded == 1
    adhoc = [s for s in t.series if s.profile == "adhoc"]
    assert [s.phase for s in adhoc] == ["sequential", "async"]
    assert all(s.environment == "default" and len(s.points) == 1 for s in adhoc)
    # no scaling section and no cost in the original tool's files: null, never 0
    for s in adhoc:
        assert {v.figure: v.verdict for v in s.verdicts}["node_ready"] is Verdict.NO_VALUE
        assert s.points[0].values["node_ready"] is None and s.points[0].values["cost"] is None
    _, out, _ = cli("trend", vol.root)
    assert "1 run(s) record no profile: grouped as 'adhoc'" in out


def test_filters(tmp_path: Path, cli: Callable[..., Any]) -> None:
    vol = planted_volume(tmp_path / "vol")
    rc, out, _ = cli("trend", vol.root, "--profile", "weekly")
    assert rc == 0 and "prod / weekly / concurrent" in out and "nightly" not in out
    rc, _, _ = cli("trend", vol.root, "--environment", "test")
    assert rc == 0  # its last run would regress, but is not comparable
    t = build_trend(vol.root, environment="prod", profile="nightly")
    assert {s.environment for s in t.series} == {"prod"} and flagged(t)
    # --since: only the last 3 nights of the planted series remain -> too few to judge
    rc, out, _ = cli(
        "trend", vol.root, "--profile", "nightly", "--environment", "prod", "--since", "2026-11-08"
    )
    assert rc == 0 and "too few comparable runs" in out


def test_json_is_the_same_data(tmp_path: Path, cli: Callable[..., Any]) -> None:
    vol = planted_volume(tmp_path / "vol")
    rc, out, err = cli("trend", vol.root, "--json", "--out", tmp_path / "html")
    assert rc == 6
    data = json.loads(out)  # stdout holds the JSON alone; the HTML path went to stderr
    assert "trend.html" in err
    assert len(data["regressions"]) == len(PLANTED_FIGURES)
    assert data["regressions"] == build_trend(vol.root).regressions
    s = next(s for s in data["series"] if s["title"] == "prod / nightly / concurrent")
    v = next(v for v in s["verdicts"] if v["figure"] == "makespan")
    assert v["verdict"] == "regression" and v["worse"] == "up" and v["change_pct"] > 20
    assert {f["path"] for f in data["skipped"]} == {"broken.json", "config/job_configs.json"}
    assert (tmp_path / "html" / "trend.html").is_file()


def test_tolerance_window_and_history_flags(tmp_path: Path, cli: Callable[..., Any]) -> None:
    vol = planted_volume(tmp_path / "vol")
    t = build_trend(vol.root, tolerances={"makespan": 70.0, "cost": 70.0})
    assert flagged(t) == {(*PLANTED, "busy_speedup")}  # +58 % is within 70 %
    rc, out, _ = cli(
        "trend",
        vol.root,
        "--tolerance",
        "makespan=70%",
        "--tolerance",
        "cost=70",
        "--tolerance",
        "busy_speedup=50%",
    )
    assert rc == 0, out
    rc, _, _ = cli("trend", vol.root, "--min-history", "20")
    assert rc == 0
    t = build_trend(vol.root, window=3)
    s = series(t, "prod", "nightly", "concurrent")
    assert sum(p.in_reference for p in s.points) == 3 and flagged(t) == flagged(
        build_trend(vol.root)
    )


def test_cost_compares_only_on_one_price(tmp_path: Path) -> None:
    """A new node-hour price is not a regression of the run: the cost is judged within one price."""
    runs = nights(6)
    for n in runs:
        write_night(tmp_path, n)
    doc = json.loads(sorted(tmp_path.glob("*.json"))[-1].read_text())
    path = sorted(tmp_path.glob("*.json"))[-1]
    for p in doc["phases"]:
        p["cost"]["amount"] *= 3
        p["cost"]["node_hour_price"] *= 3
    path.write_text(json.dumps(doc, indent=2))
    t = build_trend(tmp_path)
    cost = next(
        v for v in series(t, "prod", "nightly", "concurrent").verdicts if v.figure == "cost"
    )
    assert cost.verdict is Verdict.TOO_FEW_RUNS and cost.reference_runs == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["/nonexistent/results"], "no such directory"),
        (["{file}"], "not a directory"),
        (["{empty}"], "no results file among 0 JSON file(s)"),
        (
            ["{vol}", "--profile", "hourly"],
            "no run matches the filters (--profile hourly); profiles found: nightly",
        ),
        (["{vol}", "--since", "yesterday"], "--since 'yesterday'"),
        (["{vol}", "--tolerance", "speed=10%"], "unknown trend figure 'speed'"),
        (["{vol}", "--tolerance", "makespan"], "expected FIGURE=PCT"),
        (["{vol}", "--min-history", "0"], "--min-history 1 or more"),
    ],
)
def test_bad_input_is_one_error_line(
    tmp_path: Path, cli: Callable[..., Any], args: list[str], needle: str
) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "empty").mkdir()
    vol = tmp_path / "vol"
    write_night(vol, Night(started=nights(1)[0].started))
    fill = {"file": tmp_path / "file", "empty": tmp_path / "empty", "vol": vol}
    rc, out, err = cli("trend", *(a.format(**fill) for a in args))
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
