"""trend.html: self-contained, one inline-SVG small-multiples figure per series, drawn without
matplotlib, and looked at in headless Chromium (no console error, figures laid out)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from support.browser import Browser
from support.trend_runs import PLANTED_FIGURES, planted_volume

from jes_runner.analysis.trend import build_trend
from jes_runner.sinks.report.trend import trend_html, write_trend_html

ROOT = Path(__file__).resolve().parents[3]


def data_block(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="trend-data">(.*?)</script>', text, re.S)
    assert m
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_trend_html_is_self_contained_and_draws_every_series(tmp_path: Path) -> None:
    trend = build_trend(planted_volume(tmp_path / "vol").root)
    text = trend_html(trend)
    # nothing fetched: no external script, style, image or font
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', text)
    assert "<link" not in text and "<img" not in text and "@import" not in text
    assert text.count("<svg xmlns=") == len(trend.series)
    assert data_block(text)["regressions"] == trend.regressions
    i, planted = next(
        (i, s) for i, s in enumerate(trend.series) if s.title == "prod / nightly / concurrent"
    )
    section = text.split(f'id="series-{i}"')[1].split("</section>")[0]
    for fig in PLANTED_FIGURES:
        panel = section.split(f'data-figure="{fig}"')[1].split("</g>")[0]
        assert panel.startswith(' data-verdict="regression"'), fig
        assert re.search(r'data-kind="last"[^>]*fill="#d64545"', panel), fig
    assert section.count('fill="#d64545"') == len(PLANTED_FIGURES)
    # the not-comparable night: a hollow mark in each panel where it has a value
    bad = next(p for p in planted.points if not p.comparable)
    hollow = re.findall(r'data-kind="not-comparable"[^>]*fill="#fff"', section)
    assert len(hollow) == sum(v is not None for v in bad.values.values()) > 0
    emulated = [i for i, s in enumerate(trend.series) if s.emulated]
    for i in emulated:
        assert "EMULATED" in text.split(f'id="series-{i}"')[1].split("</section>")[0]


def test_trend_html_without_matplotlib(tmp_path: Path) -> None:
    """The container image has no matplotlib; the chart runs `trend --out` after each run."""
    vol = planted_volume(tmp_path / "vol", noise=False)
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from jes_runner.cli.main import main\n"
        f"raise SystemExit(main(['trend', {str(vol.root)!r}, '--out', {str(tmp_path / 'out')!r}]))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert r.returncode == 6, r.stderr
    assert "matplotlib" not in r.stderr
    assert (tmp_path / "out" / "trend.html").read_text().count("<svg xmlns=") == 2


def test_trend_html_replaces_the_previous_one(tmp_path: Path) -> None:
    vol = planted_volume(tmp_path / "vol", noise=False)
    out = tmp_path / "out"
    first = write_trend_html(build_trend(vol.root), out)
    second = write_trend_html(build_trend(vol.root, tolerances={"makespan": 90.0}), out)
    assert first == second and sorted(p.name for p in out.iterdir()) == ["trend.html"]


@pytest.mark.services
def test_trend_html_in_headless_chromium(tmp_path: Path, artifacts: Path) -> None:
    trend = build_trend(planted_volume(tmp_path / "vol").root)
    path = write_trend_html(trend, tmp_path / "out")
    with Browser(width=1100, height=1800) as b:
        b.open(path.as_uri())
        assert b.js("document.documentElement.getAttribute('data-trend-ready')") == "1"
        assert b.js("document.documentElement.getAttribute('data-js-errors')") is None
        assert b.js("document.documentElement.getAttribute('data-trend-figures')") == str(
            len(trend.series)
        )
        # every figure laid out at its size, six panels each, with marks where there are values
        boxes = b.js(
            "Array.from(document.querySelectorAll('.series-fig svg')).map(s => {"
            " const r = s.getBoundingClientRect(); return [r.width, r.height,"
            " s.querySelectorAll('g.panel').length, s.querySelectorAll('.pt').length]; })"
        )
        assert len(boxes) == len(trend.series)
        for (w, h, panels, marks), s in zip(boxes, trend.series, strict=True):
            assert w > 900 and h > 300 and panels == 6
            assert marks == sum(v is not None for p in s.points for v in p.values.values())
        # the planted series' last makespan mark is drawn in the regression colour
        fill = b.js(
            'getComputedStyle(document.querySelector(\'[data-title="prod / nightly / concurrent"]'
            " g.panel[data-figure=makespan] [data-kind=last]')).fill"
        )
        assert fill == "rgb(214, 69, 69)"
        regressions = b.js("document.querySelectorAll('#verdict li.err').length")
        assert regressions == len(PLANTED_FIGURES)
        b.screenshot(artifacts / "trend-top.png")
        assert b.errors == []
    with Image.open(artifacts / "trend-top.png") as img:
        assert len(img.convert("RGB").getcolors(1 << 20) or []) > 50
