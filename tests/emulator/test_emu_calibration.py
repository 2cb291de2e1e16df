"""The default scenario reproduces the three measured phases (virtual clock, speed factor undone)."""

from __future__ import annotations

import time

import pytest

from jes_runner.sim.calibration import replay_session, table
from jes_runner.sim.scenario import default_scenario

# makespans (minutes) of the real runs, as the issue states them
REAL_MAKESPAN_MIN = {
    "sequential": 47.0,
    "concurrent_fixed_pool": 15.1,
    "concurrent_autoscaling": 10.2,
}


@pytest.fixture(scope="module")
def results() -> dict:
    t0 = time.perf_counter()
    res = replay_session(default_scenario())
    elapsed = time.perf_counter() - t0
    print(f"\nreplayed ~72 model minutes in {elapsed * 1000:.0f} ms\n" + table(res))
    assert elapsed < 5  # 50+ real minutes simulated in (milli)seconds
    return res


@pytest.mark.parametrize("phase", list(REAL_MAKESPAN_MIN))
def test_makespan_within_15_percent(results: dict, phase: str) -> None:
    real, emu = results[phase]
    assert abs(emu.makespan_s / 60 - REAL_MAKESPAN_MIN[phase]) / REAL_MAKESPAN_MIN[phase] <= 0.15
    assert abs(emu.makespan_s - real.makespan_s) / real.makespan_s <= 0.15  # and vs the data file


def test_queue_wait_and_hosts_are_plausible(results: dict) -> None:
    seq_real, seq = results["sequential"]
    assert seq.pending_max_s == 0 and seq.hosts == 1
    assert abs(seq.starting_mean_s - seq_real.starting_mean_s) < 1
    for phase in ("concurrent_fixed_pool", "concurrent_autoscaling"):
        real, emu = results[phase]
        assert emu.hosts == real.hosts == 2
        assert abs(emu.pending_mean_s - real.pending_mean_s) / real.pending_mean_s < 0.25
        assert abs(emu.pending_max_s - real.pending_max_s) / real.pending_max_s < 0.25
        # CPU contention
        assert abs(emu.running_sum_s - real.running_sum_s) / real.running_sum_s < 0.20
        busiest_real, busiest_emu = (
            max(real.jobs_per_host.values()),
            max(emu.jobs_per_host.values()),
        )
        assert abs(busiest_emu - busiest_real) <= 6
    # the same node names as on the real cluster
    assert set(results["concurrent_fixed_pool"][1].jobs_per_host) == {
        "aks-compute-36279683-vmss000001",
        "aks-computetmp-28320745-vmss00002q",
    }
    assert set(results["concurrent_autoscaling"][1].jobs_per_host) == {
        "aks-computetmp-28320745-vmss00002q",
        "aks-computetmp-28320745-vmss00002r",
    }
    # contention: concurrent runs take several times the sequential run time
    assert results["concurrent_fixed_pool"][1].running_sum_s > 4 * seq.running_sum_s
    assert (
        1.4 * seq.running_sum_s
        < results["concurrent_autoscaling"][1].running_sum_s
        < 2.2 * seq.running_sum_s
    )
