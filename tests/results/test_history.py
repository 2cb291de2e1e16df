"""Runtime history: the newest results measured on the same kind of target seed the expected runtimes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jes_runner.errors import JesError
from jes_runner.results.history import newest_history, runtimes_from_results, runtimes_of


def _results(
    name: str,
    durations: dict[str, float],
    *,
    emulator: bool,
    speed: float | None = None,
    failed: tuple[str, ...] = (),
) -> dict:
    jobs = [
        {
            "name": n,
            "sequence": i,
            "status": "failed" if n in failed else "completed",
            "duration": d,
            "timing_source": "server",
        }
        for i, (n, d) in enumerate(durations.items(), 1)
    ]
    meta = {"emulator": emulator, **({"emulator_model": {"speed_factor": speed}} if speed else {})}
    return {
        "schema_version": 1,
        "run_id": name,
        "status": "completed",
        "emulator": emulator,
        "metadata": meta,
        "phases": [
            {"name": "sequential", "baseline": True, "jobs": jobs},
            {
                "name": "async",
                "baseline": False,
                "jobs": [dict(j, duration=j["duration"] * 3) for j in jobs]
                + [
                    {
                        "name": "only_async",
                        "sequence": 9,
                        "status": "completed",
                        "duration": 7.0,
                        "timing_source": "server",
                    }
                ],
            },
        ],
    }


def test_baseline_durations_win_and_failed_jobs_do_not_count() -> None:
    r = _results("r", {"a": 10.0, "b": 20.0}, emulator=False, failed=("b",))
    assert runtimes_of(r) == {"a": 10.0, "only_async": 7.0}  # b failed in both phases


def test_newest_same_target_file_is_used(tmp_path: Path) -> None:
    def write(n: int, doc: dict) -> None:
        (tmp_path / f"pooled_jobs_comparison_2026010{n}_000000.json").write_text(json.dumps(doc))

    write(1, _results("real-old", {"a": 10.0}, emulator=False))
    write(2, _results("real-new", {"a": 11.0}, emulator=False))
    write(3, _results("emu", {"a": 0.05}, emulator=True, speed=0.005))
    real = newest_history(tmp_path, emulated=False)
    assert (
        real is not None
        and real.runtimes == {"a": 11.0, "only_async": 7.0}
        and real.source.endswith("20260102_000000.json")
    )
    emu = newest_history(tmp_path, emulated=True, speed_factor=0.005)
    assert emu is not None and emu.runtimes["a"] == 0.05
    assert (
        newest_history(tmp_path, emulated=True, speed_factor=0.02) is None
    )  # another speed: not comparable
    assert newest_history(tmp_path / "missing", emulated=False) is None


def test_runtimes_from_an_empty_directory_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(JesError, match="no results file"):
        runtimes_from_results(tmp_path)
