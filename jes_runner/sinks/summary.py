"""The terminal summary: one table row per phase, figures versus the baseline."""

from __future__ import annotations

from typing import Any

from jes_runner.console import fmt_number, render_table


def render_summary(results: dict[str, Any]) -> str:
    """The terminal table at the end of a run."""
    head = ["phase", "context", "mode", "ok/total", "makespan s", "p50 s", "p95 s", "queue p95 s",
            "hosts", "peak nodes", "concurrency", "saved s", "gain %", "speedup"]
    rows: list[list[str]] = []
    for p in results.get("phases", []):
        s, vb = p["stats"], p.get("vs_baseline") or {}
        mode = p["mode"] + ("" if p["mode"] in ("sequential", "all") else f" {p['concurrency']}")
        rows.append([
            p["name"] + (" *" if p.get("baseline") else ""), p["context"], mode,
            f"{s['jobs_completed']}/{s['jobs_total']}", fmt_number(s["makespan_seconds"], 2),
            fmt_number(s["duration_p50_seconds"], 2), fmt_number(s["duration_p95_seconds"], 2),
            fmt_number(s["queue_wait_p95_seconds"], 2), fmt_number(s["hosts_used"]), fmt_number(s["peak_nodes"]),
            fmt_number(s["concurrency_achieved"], 2), fmt_number(vb.get("time_saved_seconds"), 2),
            fmt_number(vb.get("efficiency_gain_percent"), 1), (fmt_number(vb.get("speedup"), 2) + "x") if vb.get("speedup") else "-",
        ])
    out = [f"run {results.get('run_id')}: {results.get('status')}  (* = baseline; times from Viya server timestamps)",
           *render_table(head, rows, right=set(range(3, len(head))))]
    for p in results.get("phases", []):
        if p.get("unmatched_jobs"):
            out.append(f"phase {p['name']}: {len(p['unmatched_jobs'])} job(s) without Workload Orchestrator data")
        bad = [j for j in p["jobs"] if j["status"] != "completed"]
        for j in bad[:10]:
            out.append(f"phase {p['name']}: {j['unique_job_name']} {j['status']}" + (f": {j['error']}" if j.get("error") else ""))
        if len(bad) > 10:
            out.append(f"phase {p['name']}: ... and {len(bad) - 10} more not completed")
    return "\n".join(out)
