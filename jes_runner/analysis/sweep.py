"""`jes-runner sweep --concurrency 1,5,10,20`: the concurrent phase at several levels.

One run: the sequential baseline once, then one phase per level (``c1``, ``c5``, ...) in
the concurrent context, in increasing order. The run writes its own results file (and
report); the sweep adds ``concurrency_sweep_YYYYMMDD_HHMMSS.json`` (+ a PNG) with, per
level, makespan, speedup, queue wait and node usage, and the *knee*: the smallest level
whose makespan is within 5 % of the best one -- more concurrency than that buys little.

Levels run one after another on the same cluster, so an autoscaling pool grown by one
level may still be warm for the next; the node figures per level show it.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from jes_runner.errors import ConfigError, ExitCode, JesError
from jes_runner.results.views import fmt_seconds, phase_views

log = logging.getLogger("jes_runner.analysis.sweep")

SWEEP_SCHEMA_VERSION = 1
SWEEP_PREFIX = "concurrency_sweep_"
DEFAULT_TOLERANCE = 5.0


def parse_levels(text: str) -> list[int]:
    try:
        levels = sorted({int(x) for x in str(text).split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 1,5,10,20 (got {text!r})") from None
    if not levels or levels[0] < 1:
        raise argparse.ArgumentTypeError("concurrency levels must be integers of at least 1")
    return levels


def level_phase_name(level: int) -> str:
    return f"c{level}"


def find_knee(points: list[dict[str, Any]], tolerance_percent: float = DEFAULT_TOLERANCE) -> dict[str, Any] | None:
    """Smallest level whose makespan is within ``tolerance_percent`` of the best makespan."""
    measured = [p for p in points if isinstance(p.get("makespan_seconds"), int | float) and p["makespan_seconds"] > 0]
    if not measured:
        return None
    best = min(measured, key=lambda p: (p["makespan_seconds"], p["concurrency"]))
    limit = best["makespan_seconds"] * (1 + tolerance_percent / 100)
    knee = min((p for p in measured if p["makespan_seconds"] <= limit), key=lambda p: p["concurrency"])
    return {"concurrency": knee["concurrency"], "makespan_seconds": knee["makespan_seconds"],
            "best_concurrency": best["concurrency"], "best_makespan_seconds": best["makespan_seconds"],
            "tolerance_percent": tolerance_percent,
            "rule": f"smallest level whose makespan is within {tolerance_percent:g} % of the best"}


def sweep_document(results: dict[str, Any], levels: list[int], *, results_file: str | None,
                   context: str, mode: str, tolerance_percent: float = DEFAULT_TOLERANCE) -> dict[str, Any]:
    """The sweep results JSON from the run's results (phases ``c<level>`` plus the baseline)."""
    phases = {p.name: p for p in phase_views(results)}
    base = next((p for p in phases.values() if p.baseline), None)
    points = []
    for level in levels:
        p = phases.get(level_phase_name(level))
        if p is None:  # the run was aborted before this level
            continue
        s = p.stats
        points.append({
            "concurrency": level, "phase": p.name, "status": p.status,
            "makespan_seconds": p.makespan, "speedup": p.speedup,
            "jobs_total": s.get("jobs_total"), "jobs_completed": s.get("jobs_completed"),
            "queue_wait_p50_seconds": s.get("queue_wait_p50_seconds"),
            "queue_wait_p95_seconds": s.get("queue_wait_p95_seconds"),
            "queue_wait_max_seconds": s.get("queue_wait_max_seconds"),
            "hosts_used": p.nodes_used, "peak_nodes": s.get("peak_nodes"),
            "concurrency_achieved": s.get("concurrency_achieved"),
            "per_node_efficiency_percent": p.per_node_efficiency_percent,
        })
    return {
        "schema_version": SWEEP_SCHEMA_VERSION,
        "kind": "concurrency_sweep",
        "sweep": {
            "run_id": results.get("run_id"), "status": results.get("status"), "results_file": results_file,
            "context": context, "mode": mode, "levels": levels,
            "baseline": {"phase": base.name if base else None, "makespan_seconds": base.makespan if base else None},
            "points": points,
            "knee": find_knee(points, tolerance_percent),
        },
    }


def render(doc: dict[str, Any]) -> str:
    sw = doc["sweep"]
    knee = sw["knee"] or {}
    lines = [f"concurrency sweep in '{sw['context']}' ({sw['mode']} mode); baseline "
             f"{fmt_seconds(sw['baseline']['makespan_seconds'])}",
             f"{'level':>5}  {'makespan':>10}  {'speedup':>8}  {'queue p50':>10}  {'queue p95':>10}  "
             f"{'hosts':>5}  {'peak nodes':>10}  {'ok/total':>8}"]
    for p in sw["points"]:
        mark = "  <- knee" if p["concurrency"] == knee.get("concurrency") else ""
        speed = f"{p['speedup']:.2f}x" if p["speedup"] else "–"
        lines.append(f"{p['concurrency']:>5}  {fmt_seconds(p['makespan_seconds']):>10}  {speed:>8}  "
                     f"{fmt_seconds(p['queue_wait_p50_seconds']):>10}  {fmt_seconds(p['queue_wait_p95_seconds']):>10}  "
                     f"{p['hosts_used']:>5}  {str(p['peak_nodes']):>10}  "
                     f"{str(p['jobs_completed']) + '/' + str(p['jobs_total']):>8}{mark}")
    if knee:
        lines.append(f"knee: concurrency {knee['concurrency']} ({knee['rule']}; best "
                     f"{fmt_seconds(knee['best_makespan_seconds'])} at {knee['best_concurrency']})")
    else:
        lines.append("knee: none (no level measured a makespan)")
    return "\n".join(lines) + "\n"


def sweep_figure(doc: dict[str, Any]) -> bytes:
    """Makespan (with the knee) and queue wait p95 / peak nodes per level, as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sw = doc["sweep"]
    pts = [p for p in sw["points"] if p["makespan_seconds"] is not None]
    fig = Figure(figsize=(12, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    xs = [p["concurrency"] for p in pts]
    ax1.plot(xs, [p["makespan_seconds"] for p in pts], marker="o", color="#2f6fd6", label="makespan")
    if sw["baseline"]["makespan_seconds"]:
        ax1.axhline(sw["baseline"]["makespan_seconds"], color="#7f8c8d", ls=":", label="sequential baseline")
    knee = sw["knee"]
    if knee:
        ax1.plot([knee["concurrency"]], [knee["makespan_seconds"]], marker="*", ms=16, color="#d64545",
                 ls="none", label=f"knee: {knee['concurrency']}")
    ax1.set_xlabel("concurrency level")
    ax1.set_ylabel("makespan (s)")
    ax1.set_title("Makespan per concurrency level", fontsize=10, loc="left")
    ax1.legend(fontsize=8)
    ax1.grid(color="#dddddd", lw=0.6)
    ax2.plot(xs, [p["queue_wait_p95_seconds"] or 0 for p in pts], marker="o", color="#f2b134", label="queue wait p95 (s)")
    ax2.set_xlabel("concurrency level")
    ax2.set_ylabel("queue wait p95 (s)")
    ax3 = ax2.twinx()
    ax3.step(xs, [p["peak_nodes"] or 0 for p in pts], where="mid", color="#2e9e55", label="peak nodes")
    ax3.set_ylabel("peak nodes")
    ax3.set_ylim(0, max([p["peak_nodes"] or 0 for p in pts] + [1]) + 1)
    ax2.set_title("Queue wait and node usage", fontsize=10, loc="left")
    ax2.grid(color="#dddddd", lw=0.6)
    h1, l1 = ax2.get_legend_handles_labels()
    h2, l2 = ax3.get_legend_handles_labels()
    ax2.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
    for ax in (ax1, ax2):
        ax.set_xticks(xs)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def write_sweep(doc: dict[str, Any], output_dir: Path, when: datetime) -> Path:
    from jes_runner.results.files import write_atomic

    path = output_dir / f"{SWEEP_PREFIX}{when.strftime('%Y%m%d_%H%M%S')}.json"
    try:
        write_atomic(path, json.dumps(doc, indent=2) + "\n")
        path.with_suffix(".png").write_bytes(sweep_figure(doc))
    except OSError as e:
        raise JesError(f"cannot write sweep results {path}: {e.strerror or e}", ExitCode.RESULTS_UNWRITABLE) from None
    return path


# -- CLI ----------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    from jes_runner.config.settings import ASYNC_CONTEXT, BASELINE_CONTEXT

    p = subparsers.add_parser(
        "sweep", help="run the concurrent phase at several concurrency levels and find the knee",
        description="Sequential baseline once, then the concurrent phase at each --concurrency level; "
                    "reports makespan, queue wait and node usage per level and marks the knee (the "
                    "smallest level within 5%% of the best makespan). Without --viya-url the embedded "
                    "emulator is used.")
    p.add_argument("--concurrency", type=parse_levels, required=True, metavar="N,N,...",
                   help="levels, e.g. 1,5,10,20")
    p.add_argument("--context", default=ASYNC_CONTEXT, help=f"context of the concurrent phases (default {ASYNC_CONTEXT})")
    p.add_argument("--baseline-context", default=BASELINE_CONTEXT, help="context of the sequential baseline")
    p.add_argument("--mode", choices=["window", "batch"], default="window",
                   help="window: keep N in flight (default); batch: waves of N")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, metavar="PCT",
                   help="knee: within this %% of the best makespan (default 5)")
    p.add_argument("--viya-url", help="Viya base URL (JES_VIYA_URL); unset: the embedded emulator")
    p.add_argument("--scenario", help="emulator scenario file (only without --viya-url)")
    p.add_argument("--config", dest="job_config", help="job config file (JES_JOB_CONFIG)")
    p.add_argument("--output-dir", help="results directory (JES_OUTPUT_DIR, default results/)")
    p.add_argument("--limit-jobs", type=int, help="first N enabled jobs")
    p.add_argument("--no-report", dest="report", action="store_const", const=False,
                   help="do not write the run's HTML report (JES_REPORT=false)")
    p.add_argument("--log-format", choices=["text", "json"])
    p.add_argument("--job-timeout", dest="job_timeout_s", type=float, help="seconds before a job is canceled")
    p.add_argument("--correlation-deadline", dest="correlation_deadline_s", type=float)
    p.add_argument("--cluster", help="run label (JES_CLUSTER)")
    p.add_argument("--environment", help="run label (JES_ENVIRONMENT)")
    p.add_argument("--ca-bundle", help="CA bundle for Viya's TLS certificate (JES_CA_BUNDLE)")
    p.add_argument("--no-verify-tls", dest="verify_tls", action="store_const", const=False)
    p.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    from jes_runner.measure.plan import build_plan, load_jobs
    from jes_runner.runner import Runner, settings_from_args
    from jes_runner.config.settings import PhaseSpec
    from jes_runner.console import configure_logging

    if args.tolerance < 0:
        raise ConfigError("--tolerance must not be negative")
    if args.limit_jobs is not None and args.limit_jobs < 1:
        raise ConfigError("--limit-jobs must be at least 1")
    settings = settings_from_args(args)
    if args.scenario and settings.viya_url:
        raise ConfigError("--scenario configures the embedded emulator; it cannot be used with a Viya URL")
    configure_logging(settings.log_format)
    specs = [PhaseSpec(name="sequential", context=args.baseline_context, mode="sequential", baseline=True)]
    specs += [PhaseSpec(name=level_phase_name(n), context=args.context, mode=args.mode, concurrency=n)
              for n in args.concurrency]
    path, jobs = load_jobs(settings, args.limit_jobs)
    plan = build_plan(specs, jobs, path)
    log.info("sweep: baseline + %d level(s) %s over %d job(s)", len(args.concurrency),
             ",".join(map(str, args.concurrency)), len(jobs))
    if settings.viya_url:
        ctx = Runner(settings, plan).run()
    else:
        from jes_runner.cli.commands.demo import embedded_emulator, emulator_settings

        with embedded_emulator(args.scenario) as emu:
            log.info("embedded Viya emulator listening on %s", emu.url)
            ctx = Runner(emulator_settings(settings, emu), plan, emulated=True).run()
    if ctx.results is None:  # pragma: no cover - run() raises before this
        raise JesError("the sweep's run produced no results", ExitCode.INTERNAL)
    doc = sweep_document(ctx.results, args.concurrency, results_file=str(ctx.results_path) if ctx.results_path else None,
                         context=args.context, mode=args.mode, tolerance_percent=args.tolerance)
    out = write_sweep(doc, Path(settings.output_dir), datetime.now().astimezone())
    sys.stdout.write("\n" + render(doc))
    sys.stdout.write(f"sweep results: {out}\n")
    return int(ctx.exit_code)
