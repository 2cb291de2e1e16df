"""The fidelity a client sees: the measured 54-job session run by jes-runner over the
emulator's HTTP API (default scenario, no measured-outcome injection), per seed; prints, per
concurrent phase, the median over seeds [min-max] of the KS statistics of queue wait,
start-up and run time and of the makespan, beside the real figures.

    PYTHONPATH=.:tests python3 benchmarks/fidelity_http.py [--seeds 0,...,9] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from support.http_fidelity import SPEED_FACTOR, session

from jes_runner.sim.fidelity import METRICS, PhaseFidelity


def _spread(xs: list[float], fmt: str) -> str:
    return f"{format(statistics.median(xs), fmt)} [{format(min(xs), fmt)}-{format(max(xs), fmt)}]"


def table(runs: dict[str, list[PhaseFidelity]]) -> str:
    rows = [
        "| phase | KS queue wait | KS start-up | KS run time | makespan real (min) | "
        "makespan emulated (min) | error |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for phase, fs in runs.items():
        ks = [_spread([f.ks[m] for f in fs], ".2f") for m in METRICS]
        emu = [f.emulated_makespan_s / 60 for f in fs]
        err = [(f.emulated_makespan_s / f.real_makespan_s - 1) * 100 for f in fs]
        rows.append(
            f"| {phase} | {' | '.join(ks)} | {fs[0].real_makespan_s / 60:.1f} | "
            f"{_spread(emu, '.1f')} | {_spread(err, '+.1f')} % |"
        )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default=",".join(map(str, range(10))))
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="jes-fidelity-http-"))
    runs: dict[str, list[PhaseFidelity]] = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        for phase, f in session(work, seed).items():
            runs.setdefault(phase, []).append(f)
        print(f"seed {seed} done", flush=True)
    print(f"\nover HTTP, jes-runner as the client, speed factor {SPEED_FACTOR}, seeds {args.seeds}")
    print(table({k: v for k, v in runs.items() if k != "sequential"}))
    print("\n(sequential, for reference: the runner's own polling sets its gaps)")
    print(table({"sequential": runs["sequential"]}))


if __name__ == "__main__":
    main()
