"""Benchmark the runner against the emulator: timing error, Viya requests per job, CPU, peak RSS.

    python benchmarks/bench_runner.py                  # 54, 1000 and 10000 jobs
    python benchmarks/bench_runner.py --sizes 54,1000  # skip the 10,000-job RSS run

Each size gets a fresh emulator in its own process and a fresh runner process,
so the CPU and peak-RSS figures are the runner's alone. Figures come from the
emulator's ground truth (true server durations, request counts):

* 54 jobs: the default comparison (sequential, then batches of 5) on the
  default scenario, i.e. what `jes-runner demo` does: 108 executions.
* 1,000 and 10,000 jobs: one phase, all at once, on a large fixed pool, with
  config runtimes off by up to ±15 % (as real estimates are).

The runner goes through the CLI's one run path (``cli.session.managed_run``) with the
Kubernetes lifecycle on, on a machine without cluster access: the node timeline falls back
to the Workload Orchestrator's hosts, and those requests count too.

Targets: |measured − true| duration ≤ 0.05 s; ≤ 3 Viya requests/job at 54 and ≤ 2
at 1,000 (node fallback included); peak RSS < 200 MB at 10,000 jobs. Exit status 1 if a
target is missed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
BENCH_CONTEXT = "Bench Context"
TARGETS = {"error_s": 0.05, "requests_per_job": {54: 3.0, 1000: 2.0}, "rss_mb_10000": 200.0}


# -- the emulator, in its own process ---------------------------------------------------------


def bench_jobs(n: int, seed: int = 42) -> dict[str, float]:
    rng = random.Random(seed)
    return {f"bench_{i:05d}": round(rng.uniform(20, 150), 1) for i in range(1, n + 1)}


def bench_scenario(n: int) -> dict[str, Any]:
    from jes_runner.emulator import default_scenario

    sc = default_scenario().model_dump(mode="json")
    sc["name"] = f"bench-{n}"
    sc["profile"] = None
    sc["jobs"] = {name: {"elapsed_s": s} for name, s in bench_jobs(n).items()}
    sc["pools"]["bench"] = {
        "vmss_id": "55500000",
        "min_nodes": 100,
        "max_nodes": 100,
        "slots_per_node": 100,
        "cpu_capacity": 100.0,
        "scale_up_delay": 60,
        "scale_down_idle": 6000,
    }
    sc["queues"]["bench"] = {"pools": ["bench"]}
    sc["contexts"].append(
        {"name": BENCH_CONTEXT, "queue": "bench", "description": "benchmark pool"}
    )
    return sc


def serve(n: int, conn: Any) -> None:
    from jes_runner.emulator import Emulator
    from jes_runner.sim.scenario import parse_scenario

    scenario = None if n == 54 else parse_scenario(bench_scenario(n), f"<bench-{n}>")
    with Emulator(scenario=scenario, port=0) as emu:
        conn.send((emu.url, emu.username, emu.password))
        conn.recv()  # any message: stop


def ground_truth(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/emulator/ground-truth", timeout=120) as r:
        return json.loads(r.read())


# -- the runner, in its own process -----------------------------------------------------------


def worker(args: argparse.Namespace) -> None:
    """Run the runner in this (fresh) process and print one JSON line of figures."""
    import logging

    from jes_runner.cli.session import Target, managed_run
    from jes_runner.config.settings import load_settings
    from jes_runner.console import configure_logging
    from jes_runner.measure.plan import build_plan, load_jobs, select_phases

    out = Path(args.out)
    if args.size == 54:
        cfg = None
        phases = None
    else:
        rng = random.Random(7)
        jobs = [
            {
                "definition_id": None,
                "name": name,
                "arguments": {},
                "enabled": True,
                "expected_runtime_s": round(s * rng.uniform(0.85, 1.15), 1),
            }
            for name, s in bench_jobs(args.size).items()
        ]
        cfg = out / "jobs.json"
        cfg.write_text(json.dumps({"jobs": jobs}))
        phases = [{"name": "all", "context": BENCH_CONTEXT, "mode": "all"}]
    # the HTML report is a separate sink, measured on its own
    kw: dict[str, Any] = {
        "viya_url": args.url,
        "username": args.user,
        "password": args.password,
        "output_dir": out,
        "secrets_dir": out / "no-secrets",
        "persist_tokens": "off",
        # no cluster access here: the node timeline falls back to the orchestrator's hosts
        "node_timeline": "orchestrator",
        "report": False,
    }
    if cfg:
        kw["job_config"] = cfg
    if phases:
        kw["phases"] = phases
    settings = load_settings(**kw)
    configure_logging("text", level=logging.WARNING)
    plan = build_plan(
        select_phases(settings), load_jobs(settings)[1], settings.resolved_job_config()
    )
    t0 = time.monotonic()
    # no summary table, no report
    ctx = managed_run(Target(settings, emulated=False), plan, sinks=[])
    wall = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "results": str(ctx.results_path),
                "exit_code": ctx.exit_code,
                "wall_s": round(wall, 2),
                "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
                "peak_rss_mb": round(ru.ru_maxrss / 1024, 1),
                "client_requests": ctx.results["metadata"]["viya_requests"]
                if ctx.results
                else None,
            }
        )
    )


# -- one size -----------------------------------------------------------------------------


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def bench(n: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve, args=(n, child), daemon=True)
    proc.start()
    try:
        url, user, password = parent.recv()
        with tempfile.TemporaryDirectory(prefix=f"bench{n}-") as tmp:
            cmd = [
                sys.executable,
                str(HERE),
                "--worker",
                "--size",
                str(n),
                "--url",
                url,
                "--user",
                user,
                "--password",
                password,
                "--out",
                tmp,
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                raise SystemExit(f"runner worker failed ({done.returncode}): {done.stderr[-2000:]}")
            fig = json.loads(done.stdout.strip().splitlines()[-1])
            results = json.loads(Path(fig["results"]).read_text())
        truth = ground_truth(url)
    finally:
        parent.send("stop")
        proc.join(timeout=30)
    by_id = {j["id"]: j for j in truth["jobs"]}
    errors = []
    statuses: dict[str, int] = {}
    for p in results["phases"]:
        for j in p["jobs"]:
            statuses[j["status"]] = statuses.get(j["status"], 0) + 1
            t = by_id.get(j["job_instance_id"])
            if t and j["timing_source"] == "server" and t.get("jes_end_epoch") is not None:
                errors.append(abs(j["duration"] - (t["jes_end_epoch"] - t["submit_epoch"])))
    executions = sum(len(p["jobs"]) for p in results["phases"])
    viya_requests = sum(v for k, v in truth["requests"].items() if "/emulator/" not in k)
    client_err = [
        abs(j["client_duration"] - j["duration"])
        for p in results["phases"]
        for j in p["jobs"]
        if j["client_duration"] is not None and j["duration"] is not None
    ]
    return {
        "jobs": n,
        "executions": executions,
        "statuses": statuses,
        "timing_error_max_s": round(max(errors), 4) if errors else None,
        "timing_error_p95_s": round(percentile(errors, 95), 4) if errors else None,
        "client_clock_error_p95_s": round(percentile(client_err, 95), 3) if client_err else None,
        "viya_requests": viya_requests,
        "requests_per_job": round(viya_requests / executions, 3),
        "requests_by_endpoint": truth["requests"],
        "runner_cpu_s": fig["cpu_s"],
        "runner_peak_rss_mb": fig["peak_rss_mb"],
        "runner_wall_s": fig["wall_s"],
        "makespans_s": {p["name"]: p["stats"]["makespan_seconds"] for p in results["phases"]},
        "unmatched": sum(len(p["unmatched_jobs"]) for p in results["phases"]),
    }


def check(r: dict[str, Any]) -> list[str]:
    misses = []
    if r["timing_error_max_s"] is None or r["timing_error_max_s"] > TARGETS["error_s"]:
        misses.append(
            f"{r['jobs']} jobs: timing error {r['timing_error_max_s']} s > {TARGETS['error_s']} s"
        )
    limit = TARGETS["requests_per_job"].get(r["jobs"])
    if limit is not None and r["requests_per_job"] > limit:
        misses.append(f"{r['jobs']} jobs: {r['requests_per_job']} requests/job > {limit}")
    if r["jobs"] == 10000 and r["runner_peak_rss_mb"] >= TARGETS["rss_mb_10000"]:
        misses.append(
            f"10000 jobs: peak RSS {r['runner_peak_rss_mb']} MB >= {TARGETS['rss_mb_10000']} MB"
        )
    return misses


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="54,1000,10000")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--user", help=argparse.SUPPRESS)
    ap.add_argument("--password", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return 0
    rows, misses = [], []
    for n in (int(x) for x in args.sizes.split(",")):
        t0 = time.monotonic()
        r = bench(n)
        r["bench_wall_s"] = round(time.monotonic() - t0, 1)
        rows.append(r)
        misses += check(r)
        if not args.json:
            print(
                f"{n:>6} jobs ({r['executions']} runs): timing error max {r['timing_error_max_s']} s, "
                f"p95 {r['timing_error_p95_s']} s (client clock p95 {r['client_clock_error_p95_s']} s) | "
                f"{r['requests_per_job']} Viya requests/job ({r['viya_requests']}) | runner CPU {r['runner_cpu_s']} s, "
                f"peak RSS {r['runner_peak_rss_mb']} MB, wall {r['runner_wall_s']} s | {r['statuses']}",
                flush=True,
            )
    if args.json:
        print(json.dumps(rows, indent=2))
    for m in misses:
        print("MISSED:", m)
    return 1 if misses else 0


if __name__ == "__main__":
    raise SystemExit(main())
