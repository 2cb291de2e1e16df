"""Write the original tool's results files used by the compatibility tests (deterministic).

    python tests/results/make_original_fixtures.py

The shape follows the original tool's published format (its README's output section and its
results writer): top-level ``metadata`` {execution_timestamp, base_url}, ``jobs`` (the config's
enabled jobs), one block per phase -- ``sequential_execution`` and ``async_execution`` (two
phases) or ``sequential_execution``, ``async_regular_execution``, ``async_autoscaling_execution``
(three) -- each with ``context_name``, ``start_time``/``end_time``, ``total_duration`` (client
clock), ``successful_jobs``/``failed_jobs`` and ``jobs``; per job the client ``start_time``/
``end_time``/``duration``, ``status``, ``unique_job_name``, ``job_instance_id`` and
``job_metrics`` with the Job Execution server timestamps (``submission_time`` =
creationTimeStamp, ``completion_time`` = endTimeStamp, ``elapsed_time_ms``); the Workload
Orchestrator figures under ``metrics.orchestrator_data`` (two-phase file) or
``job_metrics.orchestrator_data`` (three-phase file); and the tool's ``comparison`` block.
The figures are invented, in the range of the 54-job pooled study.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent / "data"
T0 = datetime(2025, 9, 15, 19, 30, tzinfo=UTC)
JOBS = [
    ("cm_pooled", 22.8),
    ("ae_pooled", 61.2),
    ("dm_pooled", 34.5),
    ("ex_pooled", 40.1),
    ("lb_pooled", 128.7),
    ("vs_pooled", 26.3),
]
EPOCH = 1757964600


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def job(
    name: str,
    seq: int,
    phase: str,
    created: datetime,
    run_s: float,
    *,
    host: str,
    wait: float = 0.4,
    status: str = "completed",
    orchestrator_under: str = "metrics",
    poll_late: float = 3.1,
) -> dict:
    ended = created + timedelta(seconds=run_s)
    unique = f"{name}_{phase}_{seq}_{EPOCH}"
    od = {
        "execution_host": host,
        "queue_wait_seconds": wait,
        "starting_seconds": 5.2,
        "execution_seconds": round(run_s - wait - 5.2, 1),
        "cpu_cores": 0.15,
        "memory_mb": 250,
        "start_time": iso(created + timedelta(seconds=wait)),
        "end_time": iso(ended),
    }
    jm = {
        "job_id": f"{phase[:3]}-{seq:04d}-id",
        "job_name": unique,
        "state": status,
        "submission_time": iso(created),
        "completion_time": iso(ended),
        "elapsed_time_ms": int(run_s * 1000),
        "context_name": None,
    }
    out = {
        "name": name,
        "definition_id": f"def-{name}",
        "sequence_number": seq,
        "start_time": iso(created - timedelta(seconds=0.3)),
        "status": status,
        "duration": round(run_s + 0.3 + poll_late, 2),
        "session_metrics": {"note": "Session details not available"},
        "job_instance_id": jm["job_id"],
        "unique_job_name": unique,
        "end_time": iso(ended + timedelta(seconds=poll_late)),
        "job_metrics": jm,
    }
    if status != "completed":
        out["error"] = "job failed: ERROR: Execution terminated by an ABORT statement."
    if orchestrator_under == "metrics":
        out["metrics"] = {"orchestrator_data": od}
    else:
        jm["orchestrator_data"] = od
    return out


def sequential(under: str) -> dict:
    t, jobs = T0, []
    for i, (name, rt) in enumerate(JOBS, 1):
        jobs.append(
            job(
                name,
                i,
                "sequential",
                t,
                rt,
                host="aks-compute-36279683-vmss000001",
                orchestrator_under=under,
            )
        )
        # the original tool's 10 s polling: a few seconds idle per job
        t += timedelta(seconds=rt + 3.4)
    return block("SAS Job Execution compute context", jobs, mode="sequential")


def concurrent(
    phase: str,
    context: str,
    start: datetime,
    hosts: list[str],
    under: str,
    *,
    batch: int,
    fail: set[str] = frozenset(),
) -> dict:
    jobs = []
    for i, (name, rt) in enumerate(JOBS, 1):
        wave = (i - 1) // batch
        created = start + timedelta(seconds=wave * 140 + (i % batch) * 0.2)
        status = "error" if name in fail else "completed"
        run_s = rt * 1.3 if status == "completed" else rt * 0.3
        jobs.append(
            job(
                name,
                i,
                phase,
                created,
                run_s,
                host=hosts[i % len(hosts)],
                wait=2.5 + i,
                status=status,
                orchestrator_under=under,
            )
        )
    b = block(context, jobs, mode="asynchronous")
    b.update({"execution_mode": "batch", "max_concurrent": batch})
    return b


def block(context: str, jobs: list[dict], *, mode: str) -> dict:
    start = min(j["start_time"] for j in jobs)
    end = max(j["end_time"] for j in jobs)
    total = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    ok = sum(1 for j in jobs if j["status"] == "completed")
    return {
        "context_name": context,
        "mode": mode,
        "start_time": start,
        "end_time": end,
        "jobs": jobs,
        "total_duration": round(total, 2),
        "successful_jobs": ok,
        "failed_jobs": len(jobs) - ok,
        "summary": {},
    }


def config_jobs() -> list[dict]:
    return [
        {"definition_id": f"def-{n}", "name": n, "arguments": {}, "enabled": True} for n, _ in JOBS
    ]


def two_phase() -> dict:
    seq = sequential("metrics")
    asy = concurrent(
        "async",
        "Autoscaling POC Context",
        T0 + timedelta(hours=1),
        ["aks-computetmp-28320745-vmss000062", "aks-computetmp-28320745-vmss000063"],
        "metrics",
        batch=5,
        fail={"dm_pooled"},
    )
    saved = seq["total_duration"] - asy["total_duration"]
    return {
        "metadata": {"execution_timestamp": iso(T0), "base_url": "https://viya.example.com"},
        "jobs": config_jobs(),
        "sequential_execution": seq,
        "async_execution": asy,
        "comparison": {
            "execution_time": {
                "sequential_total": seq["total_duration"],
                "async_total": asy["total_duration"],
                "time_saved": round(saved, 2),
                "efficiency_gain": round(saved / seq["total_duration"] * 100, 2),
            }
        },
    }


def three_phase() -> dict:
    seq = sequential("job_metrics")
    reg = concurrent(
        "async_regular",
        "SAS Job Execution compute context",
        T0 + timedelta(hours=1),
        ["aks-compute-36279683-vmss000001"],
        "job_metrics",
        batch=6,
    )
    auto = concurrent(
        "async_autoscaling",
        "Autoscaling POC Context",
        T0 + timedelta(hours=2),
        ["aks-computetmp-28320745-vmss000062", "aks-computetmp-28320745-vmss000063"],
        "job_metrics",
        batch=6,
    )
    s, r, a = seq["total_duration"], reg["total_duration"], auto["total_duration"]
    return {
        "metadata": {"execution_timestamp": iso(T0), "base_url": "https://viya.example.com"},
        "jobs": config_jobs(),
        "sequential_execution": seq,
        "async_regular_execution": reg,
        "async_autoscaling_execution": auto,
        "comparison": {
            "execution_times": {
                "sequential_total": s,
                "async_regular_total": r,
                "async_autoscaling_total": a,
            },
            "performance_improvements": {
                "parallelization_benefit": {
                    "time_saved": round(s - r, 2),
                    "percentage": round((s - r) / s * 100, 2),
                },
                "autoscaling_benefit": {
                    "time_saved": round(r - a, 2),
                    "percentage": round((r - a) / r * 100, 2),
                },
                "total_improvement": {
                    "time_saved": round(s - a, 2),
                    "percentage": round((s - a) / s * 100, 2),
                },
            },
            "contexts": {
                "sequential": seq["context_name"],
                "async_regular": reg["context_name"],
                "async_autoscaling": auto["context_name"],
            },
        },
    }


if __name__ == "__main__":
    HERE.mkdir(parents=True, exist_ok=True)
    for name, doc in (
        ("original_two_phase.json", two_phase()),
        ("original_three_phase.json", three_phase()),
    ):
        (HERE / name).write_text(json.dumps(doc, indent=2) + "\n")
        print(HERE / name)
