"""`jes-runner sweep`: the knee rule, and a real sweep over the emulator whose knee is the slot count."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from jes_runner.analysis.sweep import find_knee, sweep_document
from jes_runner.cli.commands.sweep import parse_levels, render

DATA = Path(__file__).parent / "data"


def pts(*pairs: tuple[int, float]) -> list[dict[str, Any]]:
    return [{"concurrency": c, "makespan_seconds": m} for c, m in pairs]


def test_knee_rule() -> None:
    # the study's shape: more concurrency helps until the slots are full, then flattens
    knee = find_knee(pts((1, 2814.0), (5, 700.0), (10, 610.0), (20, 600.0)))
    assert knee is not None and knee["concurrency"] == 10 and knee["best_concurrency"] == 20
    assert knee["makespan_seconds"] == 610.0 and knee["tolerance_percent"] == 5.0
    # exactly 5 % above the best still counts; a bit more does not
    assert find_knee(pts((2, 105.0), (4, 100.0)))["concurrency"] == 2
    assert find_knee(pts((2, 105.1), (4, 100.0)))["concurrency"] == 4
    # the best level is the knee when a higher one got worse (e.g. queueing overhead)
    assert find_knee(pts((1, 50.0), (8, 10.0), (16, 12.0)))["concurrency"] == 8
    assert find_knee(pts((1, 50.0), (8, 10.0)), tolerance_percent=500)["concurrency"] == 1
    assert find_knee(pts((1, 0.0))) is None and find_knee([]) is None


def test_parse_levels() -> None:
    assert parse_levels("20,1,5,10,5") == [1, 5, 10, 20]
    for bad in ("", "0,1", "a,b", "1;2"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_levels(bad)


def test_sweep_document_from_results() -> None:
    def phase(name: str, makespan: float, baseline: bool = False) -> dict[str, Any]:
        return {
            "name": name,
            "context": "ctx",
            "mode": "sequential" if baseline else "window",
            "baseline": baseline,
            "concurrency": 1,
            "status": "completed",
            "jobs": [],
            "unmatched_jobs": [],
            "stats": {
                "makespan_seconds": makespan,
                "jobs_total": 4,
                "jobs_completed": 4,
                "hosts_used": 1,
                "peak_nodes": 1,
                "queue_wait_p95_seconds": 0.0,
            },
            "vs_baseline": None,
        }

    results = {
        "schema_version": 1,
        "run_id": "r",
        "status": "completed",
        "metadata": {},
        "phases": [
            phase("sequential", 12.0, True),
            phase("c1", 12.0),
            phase("c2", 6.1),
            phase("c4", 6.0),
        ],
    }
    doc = sweep_document(results, [1, 2, 4, 8], results_file="x.json", context="ctx", mode="window")
    sw = doc["sweep"]
    assert doc["kind"] == "concurrency_sweep" and sw["levels"] == [1, 2, 4, 8]
    assert [p["concurrency"] for p in sw["points"]] == [1, 2, 4]  # level 8 never ran (aborted run)
    assert [p["speedup"] for p in sw["points"]] == [1.0, 1.967, 2.0]
    assert sw["knee"]["concurrency"] == 2 and sw["baseline"]["makespan_seconds"] == 12.0
    text = render(doc)
    row2 = next(line for line in text.splitlines() if line.split()[:1] == ["2"])
    assert (
        row2.split()[1:4] == ["6.1", "s", "1.97x"]
        and row2.endswith("<- knee")
        and text.count("<- knee") == 1
    )
    assert "knee: concurrency 2" in text


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_sweep_over_emulator_finds_the_slots(
    tmp_path: Path, runner_env: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Any]
) -> None:
    """One node with 2 slots, 4 equal jobs: 1 -> 4 waves, 2 -> 2 waves, 4 -> 2 waves (2 queued)."""
    slots = yaml.safe_load((DATA / "sweep_slots2.yaml").read_text())["pools"]["fixed"][
        "slots_per_node"
    ]
    # release the next job promptly in window mode
    monkeypatch.setenv("JES_POLL_INTERVAL_MIN", "0.01")
    rc, out, err = cli(
        "sweep",
        "--concurrency",
        "1,2,4",
        "--mode",
        "window",
        "--scenario",
        DATA / "sweep_slots2.yaml",
        "--config",
        DATA / "sweep_jobs4.json",
        "--no-report",
    )
    assert rc == 0, err
    sweeps = list(runner_env.glob("concurrency_sweep_*.json"))
    assert len(sweeps) == 1 and f"sweep results: {sweeps[0]}" in out
    doc = json.loads(sweeps[0].read_text())
    sw = doc["sweep"]
    by_level = {p["concurrency"]: p for p in sw["points"]}
    assert sorted(by_level) == [1, 2, 4]
    assert sw["knee"]["concurrency"] == slots == 2, render(doc)
    m1, m2, m4 = (by_level[c]["makespan_seconds"] for c in (1, 2, 4))
    assert 1.7 < m1 / m2 < 2.3  # twice the waves
    assert abs(m2 - m4) / m4 <= 0.05  # the level above the slots only queues
    assert by_level[4]["queue_wait_p95_seconds"] > 0.5 * m4 / 2  # half the jobs waited a wave
    assert by_level[2]["queue_wait_p95_seconds"] < 0.1 * m2
    assert all(
        p["peak_nodes"] == 1 and p["hosts_used"] == 1 and p["jobs_completed"] == 4
        for p in sw["points"]
    )
    # the run behind it is an ordinary results file: baseline + one phase per level
    results = json.loads(Path(sw["results_file"]).read_text())
    assert [p["name"] for p in results["phases"]] == ["sequential", "c1", "c2", "c4"]
    assert [p["concurrency"] for p in results["phases"][1:]] == [1, 2, 4]
    with Image.open(io.BytesIO(sweeps[0].with_suffix(".png").read_bytes())) as img:
        assert img.size == (1200, 400)
    assert next(line for line in out.splitlines() if line.split()[:1] == ["2"]).endswith("<- knee")
    # compare knows a sweep file is not a run's results file
    rc, _, err = cli("compare", sweeps[0], sw["results_file"])
    assert rc == 2 and "sweep results file" in err
