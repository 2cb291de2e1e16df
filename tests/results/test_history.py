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
    # served seconds read back in the modelled cluster's (the job config's unit): 0.05 / 0.005
    assert emu is not None and emu.runtimes["a"] == pytest.approx(10.0)
    assert (
        newest_history(tmp_path, emulated=True, speed_factor=0.02) is None
    )  # another speed: not comparable
    assert newest_history(tmp_path / "missing", emulated=False) is None


def test_runtimes_from_an_empty_directory_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(JesError, match="no results file"):
        runtimes_from_results(tmp_path)


def test_emulated_durations_are_read_in_model_seconds_whatever_the_speed(tmp_path: Path) -> None:
    # the same modelled 40 s job served at two speeds: one expected runtime, the config's unit
    for n, speed in ((1, 0.005), (2, 0.02)):
        doc = _results(f"emu{n}", {"a": 40.0 * speed}, emulator=True, speed=speed)
        (tmp_path / f"pooled_jobs_comparison_2026010{n}_000000.json").write_text(json.dumps(doc))
        assert runtimes_of(doc)["a"] == pytest.approx(40.0)
    assert runtimes_from_results(tmp_path)["a"] == pytest.approx(40.0)  # discover --with-runtimes


def test_emulated_file_without_speed_factor_is_not_history(tmp_path: Path) -> None:
    doc = _results("emu", {"a": 0.2}, emulator=True)  # no emulator_model: unit unknown
    (tmp_path / "pooled_jobs_comparison_20260101_000000.json").write_text(json.dumps(doc))
    assert newest_history(tmp_path, emulated=True, speed_factor=None) is None
    with pytest.raises(JesError, match="speed_factor"):
        runtimes_from_results(tmp_path)
