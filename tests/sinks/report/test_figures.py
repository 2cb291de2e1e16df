"""The figures: what they draw matches the results file, and the PNGs are real pictures."""

from __future__ import annotations

import io
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PIL import Image
from support.study import study_results

from jes_runner.results.views import UNKNOWN_HOST, phase_views
from jes_runner.sinks.report.figures import (
    COLORS,
    MAX_LANES_PER_HOST,
    makespan_figure,
    queue_wait_figure,
    timeline_figure,
    timeline_layout,
)


def _rgb(hex_color: str) -> tuple[int, int, int]:
    h = hex_color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def check_png(png: bytes, width: int, height: int, must_contain: list[str]) -> None:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(png)).convert("RGB")
    assert img.size == (width, height)
    assert 600 <= width <= 2000 and 250 <= height <= 3000
    colors = Counter(img.get_flattened_data())
    assert len(colors) > 50  # anti-aliased text and bars, not a blank canvas
    white = colors[(255, 255, 255)] / (width * height)
    assert 0.2 < white < 0.98
    for c in must_contain:
        assert colors[_rgb(c)] > 200, f"colour {c} barely present"


def test_study_fixture_is_a_valid_results_file() -> None:
    from jes_runner.results.schema import validate_results

    results = study_results()
    assert validate_results(results) == []
    assert [len(p["jobs"]) for p in results["phases"]] == [54, 54, 54]


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_timeline_rows_bars_and_marks_match_results_file() -> None:
    results = study_results()
    for raw, phase in zip(results["phases"], phase_views(results), strict=True):
        fig = timeline_figure(phase)
        d = fig.data
        hosts = sorted({j["metrics"]["orchestrator_data"]["execution_host"] for j in raw["jobs"]})
        # one row (band) per host, in host order, labelled with the host
        assert [r["host"] for r in d["rows"]] == hosts
        assert d["drawn"]["host_rows"] == raw["stats"]["hosts_used"] == len(hosts)
        assert d["drawn"]["host_labels"] == hosts
        assert {r["host"]: r["jobs"] for r in d["rows"]} == raw["stats"]["jobs_per_host"]
        # one bar per job, drawn as three stacked segments
        assert (
            d["drawn"]["run_bars"]
            == d["drawn"]["wait_bars"]
            == d["drawn"]["starting_bars"]
            == len(raw["jobs"])
        )
        assert sorted(b["unique_job_name"] for b in d["bars"]) == sorted(
            j["unique_job_name"] for j in raw["jobs"]
        )
        by_name = {j["unique_job_name"]: j for j in raw["jobs"]}
        for b in d["bars"]:
            j = by_name[b["unique_job_name"]]
            o = j["metrics"]["orchestrator_data"]
            assert b["host"] == o["execution_host"]
            assert abs(b["wait"] + b["starting"] + b["run"] - j["duration"]) < 0.01
            # start-up and run end-anchored as measured; the orchestrator's seconds may exceed
            # the server's by a few seconds, then start-up gives way first
            assert b["run"] == min(o["execution_seconds"], j["duration"])
            assert b["starting"] <= o["starting_seconds"]
            assert b["starting"] == o["starting_seconds"] or b["wait"] == 0
        # bars sharing a lane never overlap
        lanes: dict[int, list[tuple[float, float]]] = {}
        for b in d["bars"]:
            lanes.setdefault(b["y"], []).append(
                (b["start"], b["start"] + b["wait"] + b["starting"] + b["run"])
            )
        for spans in lanes.values():
            spans.sort()
            assert all(a[1] <= b[0] + 1e-6 for a, b in zip(spans, spans[1:], strict=False))
        assert d["makespan"] == raw["stats"]["makespan_seconds"]
        assert d["drawn"]["node_marks"] == len(raw.get("node_timeline", []))
        check_png(fig.png, fig.width_px, fig.height_px, [COLORS["run"], COLORS["starting"]])


def test_timeline_node_events_and_queue_colour() -> None:
    phase = phase_views(study_results())[2]  # autoscaling: has node_timeline
    fig = timeline_figure(phase)
    events = fig.data["node_events"]
    assert [e["event"] for e in events] == ["ready", "added", "ready", "removed"]
    assert events[0]["time"] < 0 < events[1]["time"]  # before the phase and inside it
    assert fig.data["drawn"]["node_marks"] == 4
    check_png(
        fig.png,
        fig.width_px,
        fig.height_px,
        [COLORS["run"], COLORS["wait"], COLORS["added"], COLORS["removed"]],
    )


def test_timeline_without_node_timeline_or_orchestrator_data() -> None:
    results = study_results()
    phase_raw = results["phases"][1]
    assert "node_timeline" not in phase_raw
    for j in phase_raw["jobs"][:5]:  # five jobs never matched an orchestrator job
        j["metrics"]["orchestrator_data"] = None
    phase_raw["jobs"][5]["status"] = "failed"
    never = phase_raw["jobs"][6]  # never created: no server times at all
    never.update(
        status="submit_failed", submitted_at=None, ended_at=None, duration=None, error="HTTP 400"
    )
    never["metrics"]["orchestrator_data"] = None
    phase = phase_views(results)[1]
    fig = timeline_figure(phase)
    rows = {r["host"]: r for r in fig.data["rows"]}
    assert rows[UNKNOWN_HOST]["jobs"] == 6
    assert fig.data["drawn"]["host_labels"][-1] == UNKNOWN_HOST
    assert fig.data["drawn"]["run_bars"] == 54 and fig.data["drawn"]["node_marks"] == 0
    unsplit = [b for b in fig.data["bars"] if b["host"] == UNKNOWN_HOST]
    assert all(not b["split"] and b["wait"] == 0 for b in unsplit)
    # the never-created job has no length
    assert sorted(b["run"] > 0 for b in unsplit) == [False] + [True] * 5
    check_png(fig.png, fig.width_px, fig.height_px, [COLORS["run"], COLORS["failed"]])


def test_makespan_and_queue_wait_figures() -> None:
    results = study_results()
    phases = phase_views(results)
    fig = makespan_figure(phases)
    assert fig.data["drawn"] == {"makespan_bars": 3, "speedup_bars": 3, "perfect_split_marks": 2}
    assert fig.data["makespan_seconds"] == [
        p["stats"]["makespan_seconds"] for p in results["phases"]
    ]
    assert fig.data["speedup"] == [None, 3.123, 4.63]
    check_png(fig.png, fig.width_px, fig.height_px, [COLORS["run"]])

    qw = queue_wait_figure(phases)
    assert qw.data["drawn"] == {"rows": 3, "dots": 162}
    assert [s["max"] for s in qw.data["series"]] == [0, 662, 533]
    check_png(qw.png, qw.width_px, qw.height_px, [])


def test_study_figures_as_the_study_reported_them() -> None:
    """takeaway.md of the study: 47.0 min baseline, 2 nodes -> 23.5 min perfect split, 36 % / 56 % better."""
    seq, fixed, auto = phase_views(study_results())
    assert round(seq.makespan / 60, 1) == 46.9
    assert fixed.nodes_used == auto.nodes_used == 2
    assert fixed.perfect_split_seconds == auto.perfect_split_seconds == round(seq.makespan / 2, 3)
    assert fixed.vs_perfect_split_percent == 36.0 and auto.vs_perfect_split_percent == 56.8
    assert (
        fixed.per_node_efficiency_percent
        == round(seq.makespan / (fixed.makespan * 2) * 100, 1)
        == 156.2
    )
    assert seq.per_node_efficiency_percent == 100.0


def _big_phase(n_jobs: int, hosts: int) -> dict[str, Any]:
    t0 = datetime(2025, 9, 15, 20, 0, tzinfo=UTC)
    jobs = []
    for i in range(n_jobs):
        sub = t0 + timedelta(seconds=i * 0.5)
        wait, start, run = (i % 17) * 3.0, 6.0, 200.0 + i % 11
        jobs.append(
            {
                "name": f"job{i}",
                "unique_job_name": f"job{i}_big_{i}_1",
                "sequence": i + 1,
                "status": "completed",
                "submitted_at": sub.isoformat(),
                "ended_at": (sub + timedelta(seconds=wait + start + run)).isoformat(),
                "metrics": {
                    "orchestrator_data": {
                        "execution_host": f"node-{i % hosts}",
                        "queue_wait_seconds": wait,
                        "starting_seconds": start,
                        "execution_seconds": run,
                    }
                },
            }
        )
    return {
        "schema_version": 1,
        "run_id": "big",
        "status": "completed",
        "metadata": {},
        "phases": [
            {
                "name": "big",
                "context": "c",
                "mode": "all",
                "concurrency": n_jobs,
                "baseline": True,
                "status": "completed",
                "jobs": jobs,
                "unmatched_jobs": [],
                "stats": {},
                "vs_baseline": None,
            }
        ],
    }


def test_large_run_caps_lanes_and_stays_fast() -> None:
    phase = phase_views(_big_phase(1500, 3))[0]
    lay = timeline_layout(phase)
    assert [r["lanes"] for r in lay["rows"]] == [MAX_LANES_PER_HOST] * 3
    t = time.monotonic()
    fig = timeline_figure(phase)
    assert time.monotonic() - t < 30
    assert fig.data["drawn"]["run_bars"] == 1500
    assert fig.height_px <= 28 * 100 + 100
