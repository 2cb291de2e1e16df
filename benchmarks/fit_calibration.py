"""Grid search behind the default scenario's fitted values (docs/CALIBRATION.md, "Fit").

Scores each point by the replay's fidelity averaged over seeds: the sum over
the two concurrent phases of the KS statistics of queue wait, start-up and run
time, plus twice the largest of them, plus 3 x |makespan error|. Prints the
best points. (Earlier, wider grids led to this one.)

    PYTHONPATH=. python3 benchmarks/fit_calibration.py [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import itertools
import statistics

from jes_runner.sim.calibration import replay
from jes_runner.sim.fidelity import session_fidelity
from jes_runner.sim.scenario import Scenario, default_scenario

GRID = {
    "compute_cores": [1.1, 1.2],
    "tmp_cores": [1.4, 1.5],
    "start_load_exponent": [0.5, 0.6, 0.7, 0.8],
    "start_cpu_share": [0.25, 0.5, 1.0],
    "start_sigma": [0.4, 0.6, 0.9],
    "run_noise_sigma": [0.1],
}


def scenario_at(base: Scenario, point: dict[str, float], seed: int) -> Scenario:
    pools = dict(base.pools)
    pools["compute"] = pools["compute"].model_copy(update={"cpu_capacity": point["compute_cores"]})
    pools["computetmp"] = pools["computetmp"].model_copy(
        update={"cpu_capacity": point["tmp_cores"]}
    )
    return base.model_copy(
        update={
            "pools": pools,
            "seed": seed,
            "start_load_exponent": point["start_load_exponent"],
            "start_sigma": point["start_sigma"],
            "start_cpu_share": point["start_cpu_share"],
            "run_noise_sigma": point["run_noise_sigma"],
        }
    )


def score(base: Scenario, point: dict[str, float], seeds: list[int]) -> float:
    out = []
    for seed in seeds:
        fid = session_fidelity(replay(scenario_at(base, point, seed)))
        out.append(
            sum(
                sum(f.ks.values()) + 2 * max(f.ks.values()) + 3 * abs(f.makespan_error)
                for name, f in fid.items()
                if name != "sequential"
            )
        )
    return statistics.fmean(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2,3,4")
    seeds = [int(s) for s in ap.parse_args().seeds.split(",")]
    base = default_scenario()
    keys = list(GRID)
    scored = []
    for values in itertools.product(*(GRID[k] for k in keys)):
        point = dict(zip(keys, values, strict=True))
        scored.append((score(base, point, seeds), point))
    scored.sort(key=lambda sp: sp[0])
    for s, p in scored[:10]:
        print(f"{s:.3f} {p}")


if __name__ == "__main__":
    main()
