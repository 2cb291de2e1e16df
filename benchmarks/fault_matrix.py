"""The fault matrix as a table: one 54-job, two-phase run per fault, judged from ground truth.

    python benchmarks/fault_matrix.py                    # every case (~4 minutes on 2 cores)
    python benchmarks/fault_matrix.py --only 5xx,sigterm # some of them
    python benchmarks/fault_matrix.py --json out.json    # the rows as JSON too

Columns: fault, jobs (records in the results), lost (run by the server or planned,
absent from the results), duplicated (names created twice on the server or
recorded twice), orphaned (server jobs no record points at, or left pending /
running), max timing error (|recorded - true| server duration), exit code.
The cases, the judging and the time scaling live in tests/faults/faultmatrix.py (the
same code `python3 -m pytest tests/faults` runs). Needs Debian's
prometheus-pushgateway; mounting the tmpfs results volumes needs root (else a
file-size limit / read-only directory stands in). Exit status 1 when any case
has a problem (listed under the table).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path[:0] = [
    str(HERE.parents[1]),
    str(HERE.parents[1] / "tests"),
    str(HERE.parents[1] / "tests" / "faults"),
]

import faultmatrix as matrix  # noqa: E402  (tests/faults/faultmatrix.py)
from support.servers import pushgateway  # noqa: E402  (tests/support/servers.py)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated case ids: " + ", ".join(matrix.CASE_IDS))
    ap.add_argument("--json", type=Path, help="also write the rows to this file")
    args = ap.parse_args(argv)
    wanted = args.only.split(",") if args.only else matrix.CASE_IDS
    unknown = sorted(set(wanted) - set(matrix.CASE_IDS))
    if unknown:
        ap.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(matrix.CASE_IDS)}")
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="fault-matrix-") as tmp,
        pushgateway(Path(tmp) / "pushgateway") as pg,
    ):
        for case in matrix.CASES:
            if case.id not in wanted:
                continue
            print(f"... {case.fault}", file=sys.stderr, flush=True)
            rows.append(matrix.run_and_judge(case, Path(tmp) / case.id, pg.url)[0])
    print(matrix.table(rows))
    bad = [r for r in rows if r.problems]
    for r in bad:
        print(f"\n{r.fault}:", *(f"  - {p}" for p in r.problems), sep="\n")
    print(
        f"\n{len(rows)} case(s), {sum(r.jobs for r in rows)} job records, "
        f"{sum(r.seconds for r in rows):.0f} s of runs; {len(bad)} with problems"
    )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
