"""The HTML report: self-contained, its data block and table match the results file, and it
works in a real browser (headless Chromium: no console errors, sorting and filtering)."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from support.browser import Browser
from support.study import study_results

from jes_runner.sinks.report.html import build_report, write_report


def data_block(page: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert m, "no data block"
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_html_is_self_contained_and_matches_results() -> None:
    results = study_results()
    rep = build_report(results, source="study.json")
    page = rep.html
    # nothing fetched from anywhere: no external scripts, styles, images or fonts
    assert not re.search(r'<(script|img|link|iframe)[^>]+(src|href)="(?!data:)', page)
    assert "@import" not in page and "url(http" not in page
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(imgs) == len(rep.figures) == 2 + len(results["phases"])
    for b64, fig in zip(imgs, rep.figures, strict=True):
        assert base64.b64decode(b64) == fig.png
    data = data_block(page)
    assert data["run_id"] == results["run_id"]
    assert data["table_rows"] == sum(len(p["jobs"]) for p in results["phases"]) == 162
    for pd, raw in zip(data["phases"], results["phases"], strict=True):
        assert pd["jobs"] == len(raw["jobs"])
        assert pd["hosts"] == sorted(raw["stats"]["jobs_per_host"])
        tl = data["figures"][f"timeline_{raw['name']}"]
        assert tl["drawn"]["run_bars"] == len(raw["jobs"])
        assert tl["drawn"]["host_rows"] == raw["stats"]["hosts_used"]
        assert len(tl["bars"]) == len(raw["jobs"])
    # one table row per job execution, tagged with its phase
    rows = re.findall(r'<tr data-phase="([^"]+)"', page)
    assert len(rows) == 162
    assert {p["name"]: rows.count(p["name"]) for p in results["phases"]} == {
        "sequential": 54,
        "fixed_pool": 54,
        "autoscaling": 54,
    }
    # the study's figures in the phase table
    assert "3.12×" in page and "4.63×" in page
    assert "156.2 %" in page and "+56.8 %" in page and "23.5 min" in page


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_threshold_verdict_in_report() -> None:
    from jes_runner.analysis.thresholds import check_thresholds

    results = study_results()
    assert 'id="thresholds"' not in build_report(results).html  # nothing configured, no section
    results["thresholds"] = check_thresholds(results, min_speedup=4.0, max_failed_jobs=0)
    page = build_report(results).html
    assert "1 threshold(s) crossed" in page and "(exit code 6)" in page
    assert "phase fixed_pool: busy speedup 3.12x below min_speedup 4.0" in page
    results["thresholds"] = check_thresholds(results, min_speedup=3.0)
    assert "all thresholds met" in build_report(results).html


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_scaling_columns_when_the_node_watch_ran() -> None:
    results = study_results()
    assert "First node requested" not in build_report(results).html
    results["phases"][2]["scaling"] = {
        "source": "kubernetes",
        "peak_nodes": 2,
        "time_to_first_scale_up_seconds": 4.0,
        "node_seconds": 1195.6,
        "jobs_per_node": {},
        "nodes_added": 1,
        "nodes_removed": 1,
        "note": None,
    }
    page = build_report(results).html
    row = re.search(
        r"<tr><td class=wrap><strong>autoscaling</strong>.*?</tr>",
        page.split('id="scaling-table"')[1],
    ).group(0)
    # an older file's request time is shown as such; Ready and first-job times it never had
    assert 'data-v="4">4.0 s<' in row and "19.9 min" in row and ">1 / 1<" in row
    assert row.count(">none<") == 2
    assert "First node requested" in page and "Node time" in page


def test_escaping_of_hostile_names() -> None:
    results = study_results()
    job = results["phases"][1]["jobs"][0]
    job["name"] = '<script>alert("x")</script>'
    job["error"] = "</script><b>boom</b>"
    job["status"] = "failed"
    page = build_report(results).html
    assert '<script>alert("x")</script>' not in page
    assert html.escape('<script>alert("x")</script>') in page
    # the data block survived "</script>" in a job name
    assert data_block(page)["table_rows"] == 162


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_report_command_writes_html_and_pngs(
    tmp_path: Path, cli: Callable[..., Any], write_json: Callable[..., Path]
) -> None:
    src = write_json(study_results(), "pooled_jobs_comparison_20250915_194230.json")
    rc, out, err = cli("report", src)
    assert rc == 0, err
    out_dir = tmp_path / "pooled_jobs_comparison_20250915_194230_report"
    assert out.strip() == f"report: {out_dir / 'report.html'}"
    pngs = sorted(p.name for p in out_dir.glob("*.png"))
    assert pngs == [
        "makespan.png",
        "queue_wait.png",
        "timeline_autoscaling.png",
        "timeline_fixed_pool.png",
        "timeline_sequential.png",
    ]
    with Image.open(out_dir / "timeline_fixed_pool.png") as img:
        assert img.size[0] == 1400 and img.size[1] > 600
    rc, out, _ = cli("report", src, "--out", tmp_path / "only-html", "--no-png")
    assert rc == 0 and [p.name for p in (tmp_path / "only-html").iterdir()] == ["report.html"]


def test_report_command_refuses_non_results(
    tmp_path: Path, cli: Callable[..., Any], write_json: Callable[..., Path]
) -> None:
    for data, needle in (
        ({"hello": 1}, "not a jes-runner results file"),
        ({"schema_version": 99, "phases": []}, "unknown results schema_version 99"),
    ):
        rc, out, err = cli("report", write_json(data, "x.json"))
        assert rc == 2 and out == ""
        assert err.count("\n") == 1 and needle in err
    (tmp_path / "bad.json").write_text("{not json")
    rc, _, err = cli("report", tmp_path / "bad.json")
    assert rc == 2 and "not JSON" in err
    rc, _, err = cli("report", tmp_path / "missing.json")
    assert rc == 2 and "no such results file" in err


def test_seed_tool_file_is_reported(tmp_path: Path) -> None:
    """Version 0: the seed tool's files (client-clock times) still give a report."""
    seed = {
        "metadata": {"execution_timestamp": "2025-09-15T19:42:30+00:00", "base_url": "https://v"},
        "sequential_execution": {
            "context_name": "SAS Job Execution compute context",
            "total_duration": 100.0,
            "jobs": [
                {
                    "name": "a",
                    "sequence_number": 1,
                    "status": "completed",
                    "start_time": "2025-09-15T19:42:30+00:00",
                    "end_time": "2025-09-15T19:43:30+00:00",
                    "duration": 60.0,
                }
            ],
        },
        "async_execution": {
            "context_name": "Autoscaling POC Context",
            "total_duration": 40.0,
            "execution_mode": "all",
            "max_concurrent": 2,
            "jobs": [
                {
                    "name": "a",
                    "sequence_number": 1,
                    "status": "completed",
                    "start_time": "2025-09-15T19:45:00+00:00",
                    "end_time": "2025-09-15T19:45:40+00:00",
                    "duration": 40.0,
                    "metrics": {"orchestrator_data": {"execution_host": "node-a"}},
                }
            ],
        },
    }
    rep = build_report(seed, source="seed.json")
    d = data_block(rep.html)
    assert d["schema_version"] == 0 and [p["jobs"] for p in d["phases"]] == [1, 1]
    assert d["phases"][1]["speedup"] == 2.5 and d["phases"][1]["hosts"] == ["node-a"]


@pytest.mark.services
def test_report_in_headless_chromium(tmp_path: Path, artifacts: Path) -> None:
    """Opens with no console error, sorts and filters the job table, and looks right (screenshot)."""
    path = write_report(study_results(), tmp_path / "rep")
    with Browser(width=1400, height=2000) as b:
        b.open(path.as_uri())
        assert b.js("document.documentElement.getAttribute('data-report-ready')") == "1"
        assert b.js("document.documentElement.getAttribute('data-js-errors')") is None
        assert b.js("document.querySelectorAll('#jobs tbody tr').length") == 162
        assert (
            b.js("document.getElementById('job-count').textContent") == "162 of 162 job executions"
        )
        # every embedded figure decoded and laid out
        sizes = b.js("Array.from(document.images).map(i => [i.naturalWidth, i.complete])")
        assert len(sizes) == 5 and all(w >= 1200 and ok for w, ok in sizes)
        b.screenshot(artifacts / "report-top.png")

        col = b.js(
            "Array.from(document.querySelectorAll('#jobs th')).findIndex(t => t.textContent === 'Queue wait')"
        )
        b.js(f"document.querySelectorAll('#jobs th')[{col}].click()")
        waits = b.js(
            f"Array.from(document.querySelectorAll('#jobs tbody tr')).map(r => Number(r.cells[{col}].dataset.v))"
        )
        assert waits == sorted(waits, reverse=True) and waits[0] == 662
        b.js(f"document.querySelectorAll('#jobs th')[{col}].click()")  # second click: ascending
        waits = b.js(
            f"Array.from(document.querySelectorAll('#jobs tbody tr')).map(r => Number(r.cells[{col}].dataset.v))"
        )
        assert waits == sorted(waits)
        dur = b.js(
            "Array.from(document.querySelectorAll('#jobs th')).findIndex(t => t.textContent === 'Duration')"
        )
        b.js(f"document.querySelectorAll('#jobs th')[{dur}].click()")
        first = b.js("document.querySelector('#jobs tbody tr').cells[2].textContent")
        assert first == "ae_pooled"  # 14.9 min in the fixed pool: the longest duration of the study

        b.js(
            "var s = document.getElementById('phase-filter'); s.value = 'autoscaling';"
            "s.dispatchEvent(new Event('change'))"
        )
        assert (
            b.js("document.getElementById('job-count').textContent") == "54 of 162 job executions"
        )
        b.js("document.getElementById('job-section').scrollIntoView()")
        b.screenshot(artifacts / "report-jobs.png")
        assert b.errors == []
        # the hook itself works: a thrown error lands in the DOM
        b.js(
            "setTimeout(function () { throw new Error('probe'); }, 0); new Promise(r => setTimeout(r, 50))"
        )
        assert b.js("document.documentElement.getAttribute('data-js-errors')") == "1"
        assert "probe" in b.js("document.getElementById('js-errors').textContent")
    with Image.open(artifacts / "report-top.png") as img:
        assert img.size == (1400, 2000)
        assert len(img.convert("RGB").getcolors(1 << 20) or []) > 100
    print(f"screenshots: {artifacts}")


@pytest.mark.services
def test_phase_tables_fit_a_1400px_window_for_an_emulated_priced_run(
    tmp_path: Path, artifacts: Path
) -> None:
    """The widest phase table (emulated: model seconds; priced: a cost column; node figures)
    scrolls sideways at no width of 1400 px or more (issue 23: it did at 1400 px)."""
    doc = study_results()
    doc["emulator"] = True
    doc["metadata"]["emulator_model"] = {"scenario": "default", "speed_factor": 0.005}
    for p in doc["phases"]:
        p["cost"] = {"amount": 1.234, "currency": "EUR", "node_hour_price": 2.5}
    path = write_report(doc, tmp_path / "rep")
    with Browser(width=1400, height=1200) as b:
        b.open(path.as_uri())
        assert b.js("document.documentElement.getAttribute('data-report-ready')") == "1"
        overflow = b.js(
            "['phase-table', 'scaling-table'].map(id => { var w = document.getElementById(id)"
            ".parentElement; return [id, w.scrollWidth - w.clientWidth]; })"
        )
        b.screenshot(artifacts / "report-phases-emulated-priced.png")
    assert all(extra <= 0 for _, extra in overflow), overflow
    assert "Cost (EUR)" in path.read_text() and "(model)" in path.read_text()
