"""`jes-runner whatif`: table, JSON and PNG from the measurements and from a results file;
leave-out prediction; bad input answered with one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from jes_runner.analysis import whatif
from jes_runner.cli.main import main

HERE = Path(__file__).parent
MEASURED = (
    HERE / "data" / "pooled-54-measured.json"
)  # the shared measurements (public source inside)
CONDENSED = Path(whatif.__file__).parent.parent / "sim" / "data" / "pooled54_measured.json"
RESULTS = HERE.parent / "reports" / "data" / "pooled54_study.json"  # a jes-runner results file


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize(
    "path", [MEASURED, CONDENSED, RESULTS], ids=["shared", "condensed", "results"]
)
def test_every_input_format_gives_the_same_study(path: Path) -> None:
    study = whatif.load_study(path)
    assert len(study.phases) == 3
    seq = [p for p in study.phases if p.sequential]
    assert len(seq) == 1 and len(seq[0].jobs) == 54
    # the measured makespans, whichever format carried them (15.0 and 10.1 min concurrent)
    spans = sorted(round(p.makespan_s / 60, 1) for p in study.phases)
    assert spans == [10.1, 15.0, 46.9]


def test_table_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "w.png"
    rc, out, err = run(
        capsys,
        "whatif",
        MEASURED,
        "--concurrency",
        "5,all",
        "--max-nodes",
        "1,2,4",
        "--replicates",
        "4",
        "--out",
        png,
    )
    assert rc == 0, err
    rows = [ln for ln in out.splitlines() if ln.strip().startswith(("5 ", "all "))]
    assert len(rows) == 6  # 2 levels x 3 node counts
    assert (
        sum("fastest" in r for r in rows) == 1
        and sum("cheapest within 10 %" in r for r in rows) == 1
    )
    assert (
        "scale-up delay 274 s from 1 measured event(s) (job starts)" in out
    )  # the one event, said so
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] >= 600 and im.size[1] >= 600


def test_json_marks_and_monotone_in_nodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run(
        capsys,
        "whatif",
        MEASURED,
        "--concurrency",
        "all",
        "--max-nodes",
        "1,2,4,8",
        "--replicates",
        "5",
        "--json",
        "--out",
        tmp_path / "w.png",
    )
    assert rc == 0, err
    doc = json.loads(out)
    confs = doc["configurations"]
    assert [c["max_nodes"] for c in confs] == [1, 2, 4, 8] and doc["jobs"] == 54
    spans = [c["makespan_seconds"]["median"] for c in confs]
    assert spans == sorted(spans, reverse=True)  # more nodes never slower
    for c in confs:
        for k in ("makespan_seconds", "node_minutes", "queue_wait_p95_seconds"):
            assert c[k]["p10"] <= c[k]["median"] <= c[k]["p90"]
    fastest = next(c for c in confs if c["fastest"])
    cheapest = next(c for c in confs if c["cheapest_within_10_percent"])
    assert cheapest["makespan_seconds"]["median"] <= 1.1 * fastest["makespan_seconds"]["median"]
    assert cheapest["node_minutes"]["median"] <= fastest["node_minutes"]["median"]
    # 4 cores per node is the documented assumption; twice the cores never slows a job down
    rc, out2, _ = run(
        capsys,
        "whatif",
        MEASURED,
        "--concurrency",
        "all",
        "--max-nodes",
        "2",
        "--replicates",
        "5",
        "--json",
        "--node-cores",
        "8",
        "--out",
        tmp_path / "w8.png",
    )
    big = json.loads(out2)["configurations"][0]["makespan_seconds"]["median"]
    assert rc == 0 and big < spans[1]


def test_results_file_and_multiplier(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(
        capsys,
        "whatif",
        RESULTS,
        "--concurrency",
        "10",
        "--max-nodes",
        "2,4",
        "--jobs-multiplier",
        "2",
        "--replicates",
        "3",
        "--json",
        "--out",
        tmp_path / "r.png",
    )
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["jobs"] == 108 and doc["target_context"] == "Autoscaling POC Context"


# The issue aims at 15 %. Without the fixed-pool phase no phase shows the compute pool's node
# under contention, so its cores are not identifiable (1.5 assumed, 1.1 fitted with it): that
# prediction is about 15 % short (-14.6 % on 5 replicates, -15.5 % on 10); its bound says so.
@pytest.mark.parametrize(
    ("phase", "bound"), [("concurrent_fixed_pool", 0.20), ("concurrent_autoscaling", 0.15)]
)
def test_leave_out_predicts_the_phase(phase: str, bound: float) -> None:
    loo, fit = whatif.leave_out(whatif.load_study(MEASURED), phase, replicates=5)
    print(
        f"{phase}: predicted {loo.predicted.median:.0f} s, measured {loo.measured_makespan_s:.0f} s, "
        f"error {loo.error * 100:+.1f} %"
    )
    assert abs(loo.error) <= bound


def test_leave_out_of_the_sequential_phase_says_what_it_cannot_know() -> None:
    loo, fit = whatif.leave_out(whatif.load_study(MEASURED), "sequential", replicates=3)
    assert any("no sequential phase" in n for n in fit.notes)
    assert loo.error > 0  # run times taken from a contended phase: an upper bound, as the note says


def test_leave_out_cli_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(
        capsys,
        "whatif",
        MEASURED,
        "--leave-out",
        "concurrent_autoscaling",
        "--concurrency",
        "all",
        "--max-nodes",
        "2",
        "--replicates",
        "3",
        "--out",
        tmp_path / "l.png",
    )
    assert rc == 0, err
    first = out.splitlines()[0]
    assert first.startswith("leave-out concurrent_autoscaling: predicted makespan ")
    assert "vs measured 10.1 min" in first


@pytest.mark.parametrize(
    ("content", "argv", "needle"),
    [
        ("{not json", [], "not JSON"),
        ('{"phases": []}', [], "no schema_version"),
        ('{"schema_version": 1, "phases": []}', [], "no phase has completed jobs"),
        (None, ["--leave-out", "nope"], "no phase 'nope'"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    argv: list[str],
    needle: str,
) -> None:
    src = MEASURED
    if content is not None:
        src = tmp_path / "bad.json"
        src.write_text(content)
    rc, out, err = run(
        capsys, "whatif", src, *argv, "--replicates", "2", "--out", tmp_path / "x.png"
    )
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in err


def test_missing_file_and_bad_levels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "whatif", tmp_path / "none.json")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "no such file" in err
    with pytest.raises(SystemExit) as e:
        main(["whatif", str(MEASURED), "--concurrency", "1,five"])
    assert e.value.code == 2
    assert "expected integers or 'all'" in capsys.readouterr().err


def test_node_timeline_gives_the_scale_up_delay(tmp_path: Path) -> None:
    data = json.loads(RESULTS.read_text())
    auto = next(p for p in data["phases"] if p["name"] == "autoscaling")
    auto["node_timeline"] = [
        {
            "time": "2025-09-15T20:45:40.000Z",
            "event": "added",
            "node": "aks-computetmp-28320745-vmss00002s",
        },
        {
            "time": "2025-09-15T20:49:00.000Z",
            "event": "ready",
            "node": "aks-computetmp-28320745-vmss00002s",
        },
    ]
    path = tmp_path / "with_nodes.json"
    path.write_text(json.dumps(data))
    study = whatif.load_study(path)
    assert study.scale_ups == {"autoscaling": [200.0]}
    fit = whatif.fit(study)
    assert "scale-up delay 200 s from 1 measured event(s) (node timeline)" in fit.notes
    assert fit.scenario.pools["computetmp"].scale_up_delay == 200
