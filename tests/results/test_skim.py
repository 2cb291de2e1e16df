"""The skim (fast path for the runner's own files) gives what the one reader gives, or steps aside."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from support.trend_runs import Night, nights, write_night

from jes_runner.errors import JesError
from jes_runner.results.skim import _whole, summarize

DATA = Path(__file__).parent / "data"
STUDY = Path(__file__).parents[1] / "support" / "data" / "pooled54_study.json"


def same(path: Path) -> tuple[bool, bool]:
    """(fast path taken, summary equal to the whole read's)."""
    fast, whole = dataclasses.asdict(summarize(path)), dataclasses.asdict(_whole(path))
    skimmed = fast.pop("skimmed")
    whole.pop("skimmed")
    return skimmed, fast == whole


@pytest.mark.parametrize(
    "night",
    [
        Night(started=nights(1)[0].started),
        Night(started=nights(1)[0].started, failed=3, seed=4),
        Night(started=nights(1)[0].started, emulated=True, seed=5),
        Night(started=nights(1)[0].started, priced=False, node_ready_s=None, seed=6),
        Night(started=nights(1)[0].started, jobs=54, concurrency=54, seed=7),
    ],
    ids=["completed", "failures", "emulated", "no-cost-no-scaling", "54-all"],
)
def test_runner_files_are_skimmed_to_the_same_summary(tmp_path: Path, night: Night) -> None:
    path = write_night(tmp_path, night)
    assert same(path) == (True, True)


@pytest.mark.parametrize(
    "path", [DATA / "original_two_phase.json", DATA / "original_three_phase.json", STUDY]
)
def test_other_layouts_are_read_whole(path: Path) -> None:
    """The original tool's files and compact JSON: the fast path steps aside."""
    assert same(path) == (False, True)


def test_a_figure_only_the_jobs_give_is_read_whole(tmp_path: Path) -> None:
    """No vs_baseline in the file: phase_views derives it from the makespans, so must the skim."""
    path = write_night(tmp_path, Night(started=nights(1)[0].started))
    doc = json.loads(path.read_text())
    doc["phases"][1]["vs_baseline"] = None
    path.write_text(json.dumps(doc, indent=2))
    run = summarize(path)
    assert not run.skimmed and run.phases[1].vs_baseline is not None
    base, conc = (p.stats["makespan_seconds"] for p in run.phases)
    assert run.phases[1].vs_baseline["speedup"] == pytest.approx(base / conc, rel=1e-3)


def test_damage_is_named_not_skimmed(tmp_path: Path) -> None:
    path = write_night(tmp_path, Night(started=nights(1)[0].started))
    text = path.read_text()
    path.write_text(text[: int(len(text) * 0.9)])  # cut inside the seed keys, after the phases
    with pytest.raises(JesError, match="not JSON"):
        summarize(path)
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({"schema_version": 1, "kind": "concurrency_sweep"}, indent=2))
    with pytest.raises(JesError, match="sweep results file"):
        summarize(sweep)
