"""Time `whatif` on the measured 54-job study: fit + the default 4 x 4 configurations x 20
replicates (target: under 10 s on the 2-core CI machine; 53-75 s before the prefix bound and
the caps' branch and bound, about 3 s before the monotone construction), a larger
configuration (the workload twice over, caps up to 16), then the blind leave-one-phase-out
errors. Prints wall times; asserts nothing (speed targets live here, not in unit tests).

    PYTHONPATH=. python3 benchmarks/bench_whatif.py [MEASUREMENTS.json]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from jes_runner.analysis import whatif
from jes_runner.cli.commands.whatif import leave_out_line, table

DEFAULT = Path(__file__).parent.parent / "tests" / "analysis" / "data" / "pooled-54-measured.json"


def main() -> None:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    t0 = time.perf_counter()
    study = whatif.load_study(src)
    fit = whatif.fit(study)
    t1 = time.perf_counter()
    answer = whatif.run_whatif(fit, [1, 5, 10, None], [1, 2, 4, 8], replicates=20)
    t2 = time.perf_counter()
    print(table(answer))
    print(
        f"\nfit {t1 - t0:.2f} s, default 16 configurations x 20 replicates {t2 - t1:.2f} s, "
        f"total {t2 - t0:.2f} s (target < 10 s)"
    )
    for levels in ([1], [5], [10], [None]):
        t = time.perf_counter()
        whatif.run_whatif(fit, levels, [1, 2, 4, 8], replicates=20)
        name = "all" if levels[0] is None else levels[0]
        print(f"  concurrency {name}, max nodes 1,2,4,8: {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    whatif.run_whatif(fit, [5, 10, None], [4, 8, 16], jobs_multiplier=2, replicates=20)
    print(
        f"larger: 108 jobs, concurrency 5,10,all x max nodes 4,8,16 x 20 replicates "
        f"{time.perf_counter() - t:.2f} s\n"
    )
    print("blind leave-one-phase-out (each phase predicted from its inputs only):")
    for phase in study.phases:
        loo, _ = whatif.leave_out(study, phase.name, replicates=10)
        print(leave_out_line(loo, study.unit))


if __name__ == "__main__":
    main()
