"""Regenerate data/pooled54_study.json: the real study (shared/workloads/pooled-54-measured.json)
as a version-1 results file, built with the runner's own JobRecord and comparison code.

    python tests/support/make_study_fixture.py /path/to/pooled-54-measured.json
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from jes_runner._util import iso, parse_ts
from jes_runner.measure.records import JobRecord
from jes_runner.measure.stats import phase_stats, vs_baseline
from jes_runner.results.document import seed_comparison, seed_execution

OUT = Path(__file__).parent / "data" / "pooled54_study.json"
PHASES = {  # measured phase -> (name, mode, concurrency, baseline)
    "sequential": ("sequential", "sequential", 1, True),
    "concurrent_fixed_pool": ("fixed_pool", "all", 54, False),
    "concurrent_autoscaling": ("autoscaling", "all", 54, False),
}


def main(src: str) -> None:
    measured = json.loads(Path(src).read_text())
    phases, orch_id, base = [], 1000, None
    for key, (name, mode, conc, baseline) in PHASES.items():
        m = measured["phases"][key]
        records = []
        for j in m["jobs"]:
            o = j["orchestrator"]
            sub, end = parse_ts(j["submitted"]), parse_ts(j["ended"])
            r = JobRecord(
                name=j["name"],
                unique_job_name=f"{j['name']}_{name}_{j['sequence']}_1757965350",
                phase=name,
                context=m["context"],
                sequence=j["sequence"],
                job_instance_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{j['name']}")),
                status="completed",
                server_state="completed",
                submitted_at=sub,
                ended_at=end,
                elapsed_time_ms=round(j["server_elapsed_s"] * 1000),
                client_submitted_at=sub + timedelta(seconds=0.21),
                client_ended_at=sub + timedelta(seconds=0.21 + j["client_duration_s"]),
            )
            orch_id += 1
            o_sub = (sub + timedelta(seconds=2)).replace(microsecond=0)
            o_start = o_sub + timedelta(seconds=o["total_time_pending_s"])
            o_end = o_start + timedelta(
                seconds=o["total_time_starting_s"] + o["total_time_running_s"]
            )
            r.started_at = o_start
            r.orchestrator = {
                "orchestrator_job_id": orch_id,
                "orchestrator_name": r.unique_job_name.lower().replace("_", "")
                + "-"
                + str(uuid.uuid5(uuid.NAMESPACE_DNS, r.unique_job_name)),
                "queue": o["queue"],
                "state": "DONE",
                "exit_code": 0,
                "execution_host": o["execution_host"],
                "execution_ip": f"10.244.{orch_id % 7}.{orch_id % 250}",
                "submit_time": iso(o_sub).replace(".000", ""),
                "start_time": iso(o_start).replace(".000", ""),
                "end_time": iso(o_end).replace(".000", ""),
                "queue_wait_seconds": o["total_time_pending_s"],
                "starting_seconds": o["total_time_starting_s"],
                "execution_seconds": o["total_time_running_s"],
                "cpu_cores": o["consumed_cores"],
                "memory_mb": o["consumed_memory_mb"],
                "limits": {"maxCpuTime": o["max_cpu_time_s"], "maxMemory": o["max_memory_used"]},
            }
            records.append(r)
        stats = phase_stats(records)
        if baseline:
            base = stats["makespan_seconds"]
        phase = {
            "name": name,
            "context": m["context"],
            "mode": mode,
            "concurrency": conc,
            "baseline": baseline,
            "status": "completed",
            "started_at": iso(min(r.submitted_at for r in records)),
            "ended_at": iso(max(r.ended_at for r in records)),
            "jobs": [r.to_dict() for r in records],
            "unmatched_jobs": [],
            "stats": stats,
            "vs_baseline": None if baseline else vs_baseline(base, stats["makespan_seconds"]),
        }
        # node events in the shape the runner records under a phase's node_timeline
        if key == "concurrent_autoscaling":
            t0 = parse_ts(phase["started_at"])
            on_r = [r for r in records if r.orchestrator["execution_host"].endswith("2r")]
            on_q = [r for r in records if r.orchestrator["execution_host"].endswith("2q")]
            phase["node_timeline"] = [
                {
                    "time": iso(t0 - timedelta(seconds=30)),
                    "event": "ready",
                    "node": "aks-computetmp-28320745-vmss00002q",
                },
                {
                    "time": iso(t0 + timedelta(seconds=4)),
                    "event": "added",
                    "node": "aks-computetmp-28320745-vmss00002r",
                },
                {
                    "time": iso(min(r.started_at for r in on_r) - timedelta(seconds=3)),
                    "event": "ready",
                    "node": "aks-computetmp-28320745-vmss00002r",
                },
                {
                    "time": iso(max(r.ended_at for r in on_q) + timedelta(seconds=20)),
                    "event": "removed",
                    "node": "aks-computetmp-28320745-vmss00002q",
                },
            ]
        phases.append(phase)
    starts = [parse_ts(p["started_at"]) for p in phases]
    ends = [parse_ts(p["ended_at"]) for p in phases]
    results = {
        "schema_version": 1,
        "run_id": "5c0f7a52-9d1e-4a8e-9a61-2025091517a0",
        "status": "completed",
        "metadata": {
            "started_at": iso(min(starts)),
            "ended_at": iso(max(ends)),
            "duration_seconds": round((max(ends) - min(starts)).total_seconds(), 3),
            "tool_version": "0.1.0",
            "viya_url": "https://viya.example.com",
            "labels": {"cluster": "aks-study", "environment": "poc"},
            "job_config": "config/job_configs.json",
            "settings": {"password": "********"},
        },
        "phases": phases,
    }
    seq = seed_execution(phases[0], mode_label="sequential")
    asy = seed_execution(phases[2], mode_label="asynchronous")
    results.update(
        sequential_execution=seq, async_execution=asy, comparison=seed_comparison(seq, asy)
    )
    OUT.write_text(json.dumps(results, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(
            "usage: make_study_fixture.py MEASUREMENTS.json (the study's pooled-54 measurements)"
        )
    main(sys.argv[1])
