"""`jes-runner whatif RESULTS.json`: the cluster model fitted to a run, other configurations replayed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jes_runner.cli.commands import SUMMARIES
from jes_runner.errors import ExitCode, JesError


def _levels(text: str) -> list[int | None]:
    out: list[int | None] = []
    for part in str(text).split(","):
        part = part.strip().lower()
        if part == "all":
            out.append(None)
            continue
        try:
            n = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected integers or 'all', e.g. 1,5,10,all (got {text!r})"
            ) from None
        if n < 1:
            raise argparse.ArgumentTypeError("concurrency levels must be at least 1 (or 'all')")
        out.append(n)
    return sorted(set(out), key=lambda x: (x is None, x or 0))


def _counts(text: str) -> list[int]:
    try:
        out = sorted({int(x) for x in str(text).split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 1,2,4,8 (got {text!r})"
        ) from None
    if not out or out[0] < 1:
        raise argparse.ArgumentTypeError("node counts must be integers of at least 1")
    return out


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number (got {text!r})") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {n})")
    return n


def _positive_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number (got {text!r})") from None
    if not 0 < x < 1024:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1024 (got {text})")
    return x


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "whatif",
        help=SUMMARIES["whatif"],
        description="Fit the emulator's cluster model to a measured run (per-job run times from the "
        "sequential phase, contention and pool behaviour from the concurrent phases, the "
        "cluster's shape from the hosts), replay each configuration on a virtual clock and "
        "print makespan, node-minutes and p95 queue wait with p10-p90 intervals over "
        "replicates, marking the fastest and the cheapest within 10 % of it. Reads "
        "jes-runner results files and the measurements' format.",
    )
    p.add_argument("results", metavar="RESULTS.json", type=Path, help="a measured run")
    p.add_argument(
        "--concurrency",
        type=_levels,
        default=_levels("1,5,10,all"),
        metavar="N,...",
        help="jobs in flight at most, 'all' = all at once (default 1,5,10,all)",
    )
    p.add_argument(
        "--max-nodes",
        type=_counts,
        default=_counts("1,2,4,8"),
        metavar="N,...",
        help="the autoscaling pool's maximum node counts (default 1,2,4,8)",
    )
    p.add_argument(
        "--node-cores",
        type=_positive_float,
        default=None,
        metavar="N",
        help="cores per autoscaling node (scales CPU and slots; default: as measured)",
    )
    p.add_argument(
        "--measured-node-cores",
        type=_positive_float,
        default=4.0,
        metavar="N",
        help="cores of the measured nodes, which results do not record (default 4)",
    )
    p.add_argument(
        "--jobs-multiplier",
        type=_positive_int,
        default=1,
        metavar="K",
        help="run the sequential phase's jobs K times over (default 1)",
    )
    p.add_argument(
        "--replicates",
        type=_positive_int,
        default=20,
        metavar="N",
        help="seeded replays per configuration (default 20)",
    )
    p.add_argument(
        "--leave-out",
        default=None,
        metavar="PHASE",
        help="fit without this phase and print its predicted makespan beside the measured one",
    )
    p.add_argument(
        "--json", action="store_true", help="print the answer as JSON instead of a table"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="PNG",
        help="figure path (default: <RESULTS stem>_whatif.png in the current directory)",
    )
    p.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    from jes_runner.analysis import whatif

    study = whatif.load_study(args.results)
    loo = None
    if args.leave_out is not None:
        loo, fit = whatif.leave_out(study, args.leave_out, replicates=min(args.replicates, 10))
    else:
        fit = whatif.fit(study)
    answer = whatif.run_whatif(
        fit,
        args.concurrency,
        args.max_nodes,
        node_cores=args.node_cores,
        jobs_multiplier=args.jobs_multiplier,
        replicates=args.replicates,
        measured_node_cores=args.measured_node_cores,
    )
    out = args.out or Path(f"{args.results.stem}_whatif.png")
    try:
        whatif.figure(answer, out)
    except OSError as e:
        raise JesError(f"cannot write the figure {out}: {e.strerror or e}; fix --out") from None
    if args.json:
        doc = answer.as_dict()
        doc["figure"] = str(out)
        if loo is not None:
            doc["leave_out"] = {
                "phase": loo.phase,
                "measured_makespan_seconds": round(loo.measured_makespan_s, 1),
                "predicted_makespan_seconds": {
                    "median": round(loo.predicted.median, 1),
                    "p10": round(loo.predicted.low, 1),
                    "p90": round(loo.predicted.high, 1),
                },
                "error_percent": round(loo.error * 100, 1),
            }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return int(ExitCode.OK)
    if loo is not None:
        sys.stdout.write(
            f"leave-out {loo.phase}: predicted makespan {loo.predicted.median / 60:.1f} min "
            f"[{loo.predicted.low / 60:.1f}-{loo.predicted.high / 60:.1f}] vs measured "
            f"{loo.measured_makespan_s / 60:.1f} min ({loo.error * 100:+.1f} %)\n"
        )
    sys.stdout.write(whatif.table(answer) + f"\nfigure: {out}\n")
    return int(ExitCode.OK)
