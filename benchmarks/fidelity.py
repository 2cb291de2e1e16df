"""Print how faithfully the default scenario replays the measured 54-job session.

Virtual-clock replays (deterministic per seed) of the three measured phases;
per phase: real vs emulated p10/p50/p90 of queue wait, start-up and run time,
their two-sample KS statistics, the per-job run-time correlation and the
makespan error. With several seeds, each figure is shown as the median over the
seeds and its range.

    PYTHONPATH=. python3 benchmarks/fidelity.py [--seeds 0,1,2,3,4]
"""

from __future__ import annotations

import argparse
import statistics

from jes_runner.sim.calibration import replay
from jes_runner.sim.fidelity import METRICS, PhaseFidelity, session_fidelity
from jes_runner.sim.scenario import default_scenario


def run(seeds: list[int]) -> dict[str, list[PhaseFidelity]]:
    base = default_scenario()
    out: dict[str, list[PhaseFidelity]] = {}
    for seed in seeds:
        for phase, f in session_fidelity(replay(base.model_copy(update={"seed": seed}))).items():
            out.setdefault(phase, []).append(f)
    return out


def _spread(xs: list[float], fmt: str) -> str:
    med = statistics.median(xs)
    if len(xs) == 1 or min(xs) == max(xs):
        return format(med, fmt)
    return f"{format(med, fmt)} [{format(min(xs), fmt)}-{format(max(xs), fmt)}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated scenario seeds")
    seeds = [int(s) for s in ap.parse_args().seeds.split(",")]
    res = run(seeds)
    print(f"seeds: {seeds}; figures: median over seeds [min-max]")
    print("| phase | metric | real p10/p50/p90 (s) | emulated p10/p50/p90 (s) | KS |")
    print("| --- | --- | --- | --- | --- |")
    for phase, fs in res.items():
        for m in METRICS:
            real = "/".join(f"{q:.0f}" for q in fs[0].real_q[m])
            emu = "/".join(f"{statistics.median(f.emu_q[m][i] for f in fs):.0f}" for i in range(3))
            print(f"| {phase} | {m} | {real} | {emu} | {_spread([f.ks[m] for f in fs], '.2f')} |")
    print()
    print(
        "| phase | per-job run-time correlation | per-job slowdown correlation "
        "| makespan real (min) | emulated (min) | error |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for phase, fs in res.items():
        print(
            f"| {phase} | {_spread([f.run_corr for f in fs], '.2f')} "
            f"| {_spread([f.slowdown_corr for f in fs], '.2f')} "
            f"| {fs[0].real_makespan_s / 60:.1f} "
            f"| {_spread([f.emulated_makespan_s / 60 for f in fs], '.1f')} "
            f"| {_spread([100 * f.makespan_error for f in fs], '+.1f')} % |"
        )


if __name__ == "__main__":
    main()
