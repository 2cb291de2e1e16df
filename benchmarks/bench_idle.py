"""Sequential idle overhead and polling cost: jes-runner (without and with runtime history) next to
an original-tool-style client, on the same emulated cluster at the same speed factor.

    python benchmarks/bench_idle.py                  # speed factor 0.02, the 54 shipped jobs
    python benchmarks/bench_idle.py --speed 0.05 --jobs 20

Idle time is what the client's own reaction adds to a phase: the time in the phase window with
none of its jobs on the server (one job's end to the next job's creation, from the emulator's
ground truth). It enters a sequential makespan, and so the time saved and the speedup.

Clients, each on a fresh emulator (default scenario, ``--speed``; identical starting state):

* ``original-style``: polls each job ``GET /jobExecution/jobs/{id}`` every 5 s of model time
  (the original tool's ``poll_interval``), batches of 5 with its 5 s pause between batches;
* ``jes-runner, no history``: the job config as ``discover`` writes it (``expected_runtime_s``
  null), an empty results directory;
* ``jes-runner, history``: the same config, the results directory holding the first run's file
  (the CronJob's normal case: expected runtimes from the newest results).

jes-runner's poll interval bounds are the real-cluster defaults scaled by the speed factor
(a real cluster's 0.05 s floor and 30 s ceiling are the emulator's 0.05*S and 30*S: the bench
passes the floor, the runner scales the ceiling of an emulated run itself), like the original's
5 s. Job-polling requests = the phase's Viya requests minus its submissions.

Targets: sequential idle <= 1 % of the makespan with history, <= 5 % without; <= 4 job-polling
requests per job with history. Exit status 1 if one is missed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1]))

TARGETS = {"idle_history_pct": 1.0, "idle_no_history_pct": 5.0, "polls_per_job_history": 4.0}
BASELINE_CONTEXT = "SAS Job Execution compute context"
ASYNC_CONTEXT = "Autoscaling POC Context"


def serve(speed: float, conn: Any) -> None:
    from jes_runner.emulator import Emulator, default_scenario

    sc = default_scenario().model_copy(update={"speed_factor": speed})
    with Emulator(scenario=sc, port=0) as emu:
        conn.send((emu.url, emu.username, emu.password))
        conn.recv()


class EmulatorProcess:
    """A fresh emulator in its own process (its threads do not share this process's GIL)."""

    def __init__(self, speed: float) -> None:
        ctx = mp.get_context("spawn")
        self.parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(speed, child), daemon=True)

    def __enter__(self) -> EmulatorProcess:
        self.proc.start()
        self.url, self.user, self.password = self.parent.recv()
        return self

    def truth(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/emulator/ground-truth", timeout=120) as r:
            return json.loads(r.read())

    def __exit__(self, *exc: Any) -> None:
        self.parent.send("stop")
        self.proc.join(timeout=30)


def idle_figures(truth: dict[str, Any], names: set[str]) -> dict[str, float]:
    """Makespan, busy time and idle % of the jobs named, from the emulator's ground truth."""
    spans = sorted(
        (j["submit_epoch"], j["jes_end_epoch"])
        for j in truth["jobs"]
        if j["name"] in names and j.get("jes_end_epoch") is not None
    )
    busy, cur0, cur1 = 0.0, None, None
    for a, b in spans:
        if cur1 is None or a > cur1:
            if cur1 is not None:
                busy += cur1 - cur0
            cur0, cur1 = a, b
        else:
            cur1 = max(cur1, b)
    if cur1 is not None:
        busy += cur1 - cur0
    makespan = spans[-1][1] - spans[0][0] if spans else 0.0
    makespan = max(b for _, b in spans) - spans[0][0] if spans else 0.0
    idle = makespan - busy
    return {
        "makespan_s": makespan,
        "idle_s": idle,
        "idle_pct": 100 * idle / makespan if makespan else 0.0,
    }


def slot_idle_pct(truth: dict[str, Any], names: set[str], slots: int) -> float:
    """Window mode keeps ``slots`` jobs in flight, so a late look rarely leaves the cluster with none
    of them (idle %) -- it leaves one slot empty: the k-th end to the (slots+k)-th submission, from
    the ground truth, as a share of slots x makespan."""
    jobs = [j for j in truth["jobs"] if j["name"] in names and j.get("jes_end_epoch") is not None]
    if len(jobs) <= slots:
        return 0.0
    ends = sorted(j["jes_end_epoch"] for j in jobs)
    starts = sorted(j["submit_epoch"] for j in jobs)
    empty = sum(max(0.0, c - e) for e, c in zip(ends, starts[slots:], strict=False))
    makespan = ends[-1] - starts[0]
    return 100 * empty / (slots * makespan) if makespan else 0.0


def discovered_config(out: Path, limit: int | None) -> Path:
    """The shipped jobs as `discover` writes them: no expected runtimes."""
    from jes_runner.config.settings import packaged_job_config

    cfg = json.loads(packaged_job_config().read_text())
    jobs = [dict(j, expected_runtime_s=None) for j in cfg["jobs"] if j.get("enabled", True)]
    cfg["jobs"] = jobs[:limit] if limit else jobs
    path = out / "job_configs.json"
    path.write_text(json.dumps(cfg))
    return path


def run_jes(
    emu: EmulatorProcess, cfg: Path, results_dir: Path, speed: float, mode: str = "batch"
) -> dict[str, Any]:
    import logging

    from jes_runner.cli.session import Target, apply_runtime_history, make_client
    from jes_runner.config.settings import load_settings
    from jes_runner.console import Progress, configure_logging
    from jes_runner.measure.plan import build_plan, load_jobs, select_phases
    from jes_runner.runner import Runner

    settings = load_settings(
        viya_url=emu.url,
        username=emu.user,
        password=emu.password,
        job_config=cfg,
        output_dir=results_dir,
        secrets_dir=results_dir / "no-secrets",
        report=False,
        poll_interval_min=0.05 * speed,
        node_timeline="off",
        correlation_deadline_s=5.0,
    )
    configure_logging("text", level=logging.WARNING)
    plan = build_plan(select_phases(settings, mode=mode), load_jobs(settings)[1], cfg)
    model = {"scenario": "default", "speed_factor": speed}
    history = apply_runtime_history(Target(settings, emulated=True, emulator_model=model), plan)
    devnull = open(os.devnull, "w")  # noqa: SIM115
    client = make_client(settings)
    try:
        ctx = Runner(
            settings,
            plan,
            client=client,
            progress=Progress(devnull, live=False),
            stdout=devnull,
            emulated=True,
            emulator_model=model,
            runtime_history=history,
            sinks=[],
        ).run()
    finally:
        client.close()
    truth = emu.truth()
    out: dict[str, Any] = {"history": history, "phases": {}}
    for p in ctx.results["phases"]:
        names = {j["unique_job_name"] for j in p["jobs"]}
        fig = idle_figures(truth, names)
        fig["slot_idle_pct"] = slot_idle_pct(truth, names, int(p.get("concurrency") or 1))
        fig["polls_per_job"] = (p["viya_requests"] - len(p["jobs"])) / len(p["jobs"])
        fig["requests_per_job"] = p["viya_requests"] / len(p["jobs"])
        out["phases"][p["name"]] = fig
    out["requests_per_job"] = ctx.results["metadata"]["viya_requests"]["total"] / sum(
        len(p["jobs"]) for p in ctx.results["phases"]
    )
    return out


def run_original_style(
    emu: EmulatorProcess, cfg: Path, speed: float, batch: int = 5
) -> dict[str, Any]:
    """The original tool's loop: submit, then GET the job every poll_interval until it ends."""
    from jes_runner.cli.session import make_client
    from jes_runner.config.settings import load_settings

    settings = load_settings(
        viya_url=emu.url,
        username=emu.user,
        password=emu.password,
        secrets_dir=Path(tempfile.gettempdir()) / "no-secrets",
    )
    client = make_client(settings)
    poll = 5.0 * speed  # its poll_interval: 5 s of model time
    jobs = json.loads(cfg.read_text())["jobs"]
    defs = {d["name"]: d["id"] for d in client.list_job_definitions()}
    epoch = int(time.time())
    out: dict[str, Any] = {"phases": {}}
    try:
        for phase, context, size in (
            ("sequential", BASELINE_CONTEXT, 1),
            ("async", ASYNC_CONTEXT, batch),
        ):
            names: set[str] = set()
            polls = 0
            for start in range(0, len(jobs), size):
                wave = []
                for i, j in enumerate(jobs[start : start + size], start + 1):
                    unique = f"{j['name']}_{phase}_{i}_{epoch}"
                    names.add(unique)
                    body = {
                        "jobDefinitionUri": f"/jobDefinitions/definitions/{defs[j['name']]}",
                        "name": unique,
                        "arguments": {**j.get("arguments", {}), "_contextName": context},
                    }
                    wave.append(client.submit_job(body)["id"])
                pending = set(wave)
                while pending:
                    time.sleep(poll)
                    for job_id in list(pending):
                        polls += 1
                        job = client.get_job(job_id) or {}
                        if job.get("state") in ("completed", "failed", "canceled"):
                            pending.discard(job_id)
                if size > 1 and start + size < len(jobs):
                    time.sleep(poll)  # its "brief pause before next batch" (5 s)
            fig = idle_figures(emu.truth(), names)
            fig["polls_per_job"] = polls / len(names)
            out["phases"][phase] = fig
    finally:
        client.close()
    return out


TARGETS_CONCURRENT = {"requests_per_job_no_history": 3.0}
TARGETS_FIRST_RUN = {"seq_status_requests_per_job": 25.0}


def matrix(speed: float, job_counts: list[int], modes: list[str]) -> list[dict[str, Any]]:
    """jes-runner alone: each job count and concurrent mode, a first run (no history) and the run
    after it (the first one's runtimes), each on a fresh emulator."""
    rows = []
    for n in job_counts:
        for mode in modes:
            with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
                cfg = discovered_config(Path(tmp), n)
                results = Path(tmp) / "results"
                for history in (False, True):
                    with EmulatorProcess(speed) as emu:
                        r = run_jes(emu, cfg, results, speed, mode)
                    seq, conc = r["phases"]["sequential"], r["phases"]["async"]
                    rows.append(
                        {
                            "jobs": n,
                            "mode": mode,
                            "history": history,
                            "seq_idle_pct": seq["idle_pct"],
                            "seq_status_requests_per_job": seq["polls_per_job"],
                            "conc_idle_pct": conc["idle_pct"],
                            "conc_slot_idle_pct": conc["slot_idle_pct"],
                            "conc_requests_per_job": conc["requests_per_job"],
                            "requests_per_job_all": r["requests_per_job"],
                        }
                    )
    return rows


def matrix_misses(rows: list[dict[str, Any]]) -> list[str]:
    misses = []
    for r in rows:
        tag = f"{r['jobs']} jobs, {r['mode']}, {'history' if r['history'] else 'no history'}"
        limit = TARGETS["idle_history_pct"] if r["history"] else TARGETS["idle_no_history_pct"]
        if r["seq_idle_pct"] > limit:
            misses.append(f"{tag}: sequential idle {r['seq_idle_pct']:.2f} % > {limit} %")
        polls = (
            TARGETS["polls_per_job_history"]
            if r["history"]
            else TARGETS_FIRST_RUN["seq_status_requests_per_job"]
        )
        if r["seq_status_requests_per_job"] > polls:
            misses.append(
                f"{tag}: sequential {r['seq_status_requests_per_job']:.2f} job-status requests/job > {polls}"
            )
        if (
            not r["history"]
            and r["conc_requests_per_job"] > TARGETS_CONCURRENT["requests_per_job_no_history"]
        ):
            misses.append(
                f"{tag}: concurrent phase {r['conc_requests_per_job']:.2f} requests/job > "
                f"{TARGETS_CONCURRENT['requests_per_job_no_history']}"
            )
    return misses


def print_matrix(rows: list[dict[str, Any]], speed: float) -> None:
    print(f"jes-runner alone, speed factor {speed}; idle = % of the phase makespan (ground truth)")
    print(
        f"{'jobs':>4} {'mode':<6} {'history':<8} {'seq idle %':>10} {'seq status req/job':>19} "
        f"{'conc idle %':>11} {'slot idle %':>11} {'conc req/job':>12} {'all req/job':>11}"
    )
    for r in rows:
        print(
            f"{r['jobs']:>4} {r['mode']:<6} {'yes' if r['history'] else 'no':<8} "
            f"{r['seq_idle_pct']:>10.2f} {r['seq_status_requests_per_job']:>19.2f} "
            f"{r['conc_idle_pct']:>11.2f} {r['conc_slot_idle_pct']:>11.2f} "
            f"{r['conc_requests_per_job']:>12.2f} "
            f"{r['requests_per_job_all']:>11.2f}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--speed", type=float, default=0.02, help="emulator speed factor (real s per model s)"
    )
    ap.add_argument("--jobs", type=int, default=None, help="first N jobs (default: all 54)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--matrix",
        action="store_true",
        help="jes-runner alone: 12 and 54 jobs, batch, window and all, without and with history",
    )
    ap.add_argument("--matrix-jobs", default="12,54", help="job counts of --matrix")
    ap.add_argument(
        "--matrix-modes", default="batch,window,all", help="concurrent modes of --matrix"
    )
    args = ap.parse_args()
    if args.matrix:
        rows = matrix(
            args.speed,
            [int(n) for n in args.matrix_jobs.split(",")],
            args.matrix_modes.split(","),
        )
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            print_matrix(rows, args.speed)
        misses = matrix_misses(rows)
        for m in misses:
            print("MISSED:", m)
        return 1 if misses else 0
    return compare_with_original(args)


def compare_with_original(args: argparse.Namespace) -> int:
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        cfg = discovered_config(Path(tmp), args.jobs)
        results = Path(tmp) / "results"
        with EmulatorProcess(args.speed) as emu:
            rows["original-style (5 s polls)"] = run_original_style(emu, cfg, args.speed)
        with EmulatorProcess(args.speed) as emu:
            rows["jes-runner, no history"] = run_jes(emu, cfg, results, args.speed)
        with EmulatorProcess(args.speed) as emu:
            rows["jes-runner, history"] = run_jes(emu, cfg, results, args.speed)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(
            f"speed factor {args.speed} (served s = model s x {args.speed}); idle = % of the phase makespan"
        )
        print(
            f"{'client':<28} {'seq idle %':>10} {'seq polls/job':>13} {'batch idle %':>12} "
            f"{'batch polls/job':>15} {'seq makespan (model s)':>22}"
        )
        for name, r in rows.items():
            s, b = r["phases"]["sequential"], r["phases"]["async"]
            print(
                f"{name:<28} {s['idle_pct']:>10.2f} {s['polls_per_job']:>13.2f} {b['idle_pct']:>12.2f} "
                f"{b['polls_per_job']:>15.2f} {s['makespan_s'] / args.speed:>22.0f}"
            )
        for name in ("jes-runner, no history", "jes-runner, history"):
            print(
                f"{name}: {rows[name]['requests_per_job']:.2f} Viya requests per job execution in all "
                f"(history: {rows[name]['history']})"
            )
    misses = []
    hist, nohist = (
        rows["jes-runner, history"]["phases"]["sequential"],
        rows["jes-runner, no history"]["phases"]["sequential"],
    )
    if hist["idle_pct"] > TARGETS["idle_history_pct"]:
        misses.append(
            f"sequential idle with history {hist['idle_pct']:.2f} % > {TARGETS['idle_history_pct']} %"
        )
    if nohist["idle_pct"] > TARGETS["idle_no_history_pct"]:
        misses.append(
            f"sequential idle without history {nohist['idle_pct']:.2f} % > {TARGETS['idle_no_history_pct']} %"
        )
    if hist["polls_per_job"] > TARGETS["polls_per_job_history"]:
        misses.append(
            f"sequential polls/job with history {hist['polls_per_job']:.2f} > {TARGETS['polls_per_job_history']}"
        )
    for m in misses:
        print("MISSED:", m)
    return 1 if misses else 0


if __name__ == "__main__":
    raise SystemExit(main())
