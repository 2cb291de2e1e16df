"""`jes-runner whatif RESULTS.json`: the cluster model fitted to a run, other configurations replayed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jes_runner.cli.commands import SUMMARIES
from jes_runner.console import render_table
from jes_runner.errors import ExitCode, JesError, extra_installed

if TYPE_CHECKING:
    from jes_runner.analysis.whatif import Interval, LeaveOut, WhatIf


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
        description="Fit the cluster model (the one the emulator serves) to a measured run "
        "(per-job run times from the sequential phase, contention and pool behaviour from the "
        "concurrent phases replayed as one continuous history, the cluster's shape from the "
        "hosts), replay each configuration on a virtual clock and print makespan, node-minutes "
        "(and cost with --node-hour-price) and p95 queue wait with p10-p90 intervals over "
        "replicates, marking the fastest and the cheapest within 10 % of it. Reads jes-runner "
        "results files (an emulated run in its modelled cluster's seconds) and the "
        "measurements' format.",
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
        help="fit without this phase and predict it blind, from its inputs only (jobs, context, "
        "mode, submission times, node inventory), beside the measured makespan; or say why "
        "it cannot be predicted",
    )
    p.add_argument(
        "--node-hour-price",
        type=_price,
        default=None,
        metavar="PRICE",
        help="price of one node-hour: adds a cost column and marks the cheapest within 10 %% "
        "of the fastest in money (default: JES_NODE_HOUR_PRICE, the price runs are costed at)",
    )
    p.add_argument(
        "--currency",
        default=None,
        metavar="CODE",
        help="currency of --node-hour-price, shown beside the cost (e.g. EUR; default: "
        "JES_CURRENCY when the price is JES_NODE_HOUR_PRICE)",
    )
    p.add_argument(
        "--mode",
        choices=["batch", "window"],
        default=None,
        help="how a concurrency level submits: batch (waves of N, the next when all have "
        "ended) or window (the next job when one ends); default: the run's concurrent phase's "
        "mode, window when the file records none",
    )
    p.add_argument(
        "--json", action="store_true", help="print the answer as JSON instead of a table"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="PNG",
        help="write the figure here (needs matplotlib). Without --out the figure is written "
        "next to RESULTS as <stem>_whatif.png when matplotlib is installed and --json is not given",
    )
    p.set_defaults(func=_cmd)


def _price_and_currency(args: argparse.Namespace) -> tuple[float | None, str]:
    """--node-hour-price, else the runs' own price (JES_NODE_HOUR_PRICE): one price everywhere."""
    if args.node_hour_price is not None:
        return args.node_hour_price, args.currency or ""
    from jes_runner.config.settings import load_settings

    settings = load_settings(currency=args.currency)
    return settings.node_hour_price, settings.currency


def _price(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 0.42 (got {text!r})") from None
    if not 0 <= x < 1e6 or x != x:
        raise argparse.ArgumentTypeError(f"must be a price of 0 or more (got {text})")
    return x


def _iv(i: Interval, k: float = 1.0, digits: int = 1) -> str:
    return f"{i.median / k:.{digits}f} [{i.low / k:.{digits}f}-{i.high / k:.{digits}f}]"


def table(w: WhatIf) -> str:
    """The what-if answer as the terminal table (median [p10-p90] over replicates)."""
    unit = w.fit.unit
    money = w.currency is not None
    cur = f" {w.currency}" if w.currency else ""
    head = [
        "concurrency",
        "max nodes",
        f"makespan min ({unit})",
        "node-minutes",
        *([f"cost{cur}"] if money else []),
        f"p95 queue wait {unit}",
        "mark",
    ]
    rows = []
    for c in w.configs:
        cheap = "cheapest within 10 %" + (
            f" ({c.cost.median:.2f}{cur})" if money and c.cost is not None else ""
        )
        mark = ", ".join(
            m for m, on in (("fastest", c.fastest), (cheap, c.cheapest_near_fastest)) if on
        )
        rows.append(
            [
                "all" if c.concurrency is None else str(c.concurrency),
                str(c.max_nodes),
                _iv(c.makespan_s, 60),
                _iv(c.node_minutes),
                *([_iv(c.cost, 1, 2) if c.cost is not None else "–"] if money else []),
                _iv(c.queue_wait_p95_s),
                mark,
            ]
        )
    lines = [
        f"what-if for {w.jobs} jobs in {w.fit.target_context!r}, {w.replicates} replicates each "
        "(median [p10-p90]); concurrency N in "
        + (
            "batch mode (waves of N, the next when all have ended)"
            if w.fit.mode == "batch"
            else "window mode (the next job when one ends)"
        ),
    ]
    base = next((c for c in w.configs if c.baseline), None)
    if base is not None:
        lines.append(
            f"concurrency 1 is the sequential baseline: replayed in {base.context!r} (the "
            "sequential phase's context and pool, as the measured baseline ran); the other "
            f"levels in {w.fit.target_context!r} from a cold autoscaling pool"
        )
    if w.emulated:
        lines.append(f"{w.emulated}: every time in the modelled cluster's seconds (model s)")
    lines += render_table(head, rows, right=set(range(len(head) - 1)))
    lines += [f"note: {n}" for n in w.fit.notes]
    return "\n".join(lines)


def leave_out_line(loo: LeaveOut, unit: str) -> str:
    if loo.predicted is None:
        return f"leave-out {loo.phase}: not identifiable blind: {loo.reason}"
    return (
        f"leave-out {loo.phase} (blind: its inputs only): predicted makespan "
        f"{loo.predicted.median / 60:.1f} min [{loo.predicted.low / 60:.1f}-"
        f"{loo.predicted.high / 60:.1f}] vs measured {loo.measured_makespan_s / 60:.1f} min "
        f"({(loo.error or 0.0) * 100:+.1f} %)"
        + ("" if unit == "s" else f", in {unit}")
        + _start_state_text(loo)
    )


def _start_state_text(loo: LeaveOut) -> str:
    """The fast end when the start state is not identifiable (the number above is the slow end)."""
    fast = loo.configured_start
    if fast is None:
        return ""
    return (
        f"; with every inventory node up at the start {fast.median / 60:.1f} min "
        f"[{fast.low / 60:.1f}-{fast.high / 60:.1f}] "
        f"({(loo.configured_start_error or 0.0) * 100:+.1f} %): {loo.start_state}"
    )


def leave_out_doc(loo: LeaveOut) -> dict[str, Any]:
    pred = loo.predicted
    return {
        "phase": loo.phase,
        "blind": True,
        "measured_makespan_seconds": round(loo.measured_makespan_s, 1),
        "predicted_makespan_seconds": None
        if pred is None
        else {
            "median": round(pred.median, 1),
            "p10": round(pred.low, 1),
            "p90": round(pred.high, 1),
        },
        "error_percent": None if loo.error is None else round(loo.error * 100, 1),
        "not_identifiable": loo.reason,
        # start state not identifiable: the prediction from every inventory node up (fast end)
        "configured_start_makespan_seconds": None
        if loo.configured_start is None
        else {
            "median": round(loo.configured_start.median, 1),
            "p10": round(loo.configured_start.low, 1),
            "p90": round(loo.configured_start.high, 1),
        },
        "configured_start_error_percent": None
        if loo.configured_start_error is None
        else round(loo.configured_start_error * 100, 1),
        "start_state_not_identifiable": loo.start_state,
    }


def _figure_path(args: argparse.Namespace) -> Path | None:
    """--out, else next to RESULTS when matplotlib is there and no --json: never the cwd."""
    if args.out is not None:
        return Path(args.out)
    if args.json or not extra_installed("matplotlib"):
        return None
    return args.results.with_name(f"{args.results.stem}_whatif.png")


def _write_figure(answer: WhatIf, out: Path) -> None:
    try:
        from jes_runner.sinks.report.figures import whatif_figure
    except ImportError:
        raise JesError(
            f"--out {out}: the figure needs matplotlib; pip install 'jes-runner[report]' "
            "(the table and --json need nothing more)"
        ) from None
    try:
        out.write_bytes(whatif_figure(answer, answer.fit.unit))
    except OSError as e:
        raise JesError(f"cannot write the figure {out}: {e.strerror or e}; fix --out") from None


def _cmd(args: argparse.Namespace) -> int:
    from jes_runner.analysis import whatif

    price, currency = _price_and_currency(args)
    study = whatif.load_study(args.results)
    loo = None
    if args.leave_out is not None:
        loo, fit = whatif.leave_out(study, args.leave_out, replicates=min(args.replicates, 10))
    else:
        fit = whatif.fit(study)
    if args.mode is not None:
        fit.mode = args.mode
    answer = whatif.run_whatif(
        fit,
        args.concurrency,
        args.max_nodes,
        node_cores=args.node_cores,
        jobs_multiplier=args.jobs_multiplier,
        replicates=args.replicates,
        measured_node_cores=args.measured_node_cores,
        node_hour_price=price,
        currency=currency,
        emulated=study.emulated,
    )
    out = _figure_path(args)
    if out is not None:
        _write_figure(answer, out)
    if args.json:
        doc = answer.as_dict()
        doc["figure"] = str(out) if out is not None else None
        if loo is not None:
            doc["leave_out"] = leave_out_doc(loo)
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return int(ExitCode.OK)
    if loo is not None:
        sys.stdout.write(leave_out_line(loo, fit.unit) + "\n")
    sys.stdout.write(table(answer))
    sys.stdout.write(
        f"\nfigure: {out}\n"
        if out is not None
        else "\nfigure: none (matplotlib absent; --out to ask)\n"
    )
    return int(ExitCode.OK)
