"""The terminal summary: one table row per phase, figures versus the baseline.

What it must never let a reader miss: that the figures come from the emulator (a
banner, and the makespans also in the modelled cluster's seconds), and that a
comparison is not comparable (failures, timeouts, an abort) -- the speedup is then
marked, with the reason below the table.
"""

from __future__ import annotations

from typing import Any

from jes_runner.console import fmt_number, render_table


def emulator_banner(results: dict[str, Any]) -> str | None:
    """One line saying the figures are emulated, and how served seconds map to the model's."""
    if not results.get("emulator", (results.get("metadata") or {}).get("emulator")):
        return None
    model = (results.get("metadata") or {}).get("emulator_model") or {}
    sf = model.get("speed_factor")
    scale = f"; served seconds x {1 / sf:g} = the modelled cluster's seconds" if sf else ""
    return (
        f"EMULATED: these figures come from the embedded Viya emulator "
        f"(scenario {model.get('scenario', '?')}){scale}, not from a SAS Viya cluster"
    )


def model_seconds(results: dict[str, Any], served: float | None) -> float | None:
    """Served (emulator) seconds in the modelled cluster's seconds; None when not emulated."""
    sf = ((results.get("metadata") or {}).get("emulator_model") or {}).get("speed_factor")
    if served is None or not sf or not results.get("emulator"):
        return None
    return round(served / sf, 1)


def render_summary(results: dict[str, Any]) -> str:
    """The terminal table at the end of a run."""
    emulated = bool(results.get("emulator")) and model_seconds(results, 1.0) is not None
    head = [
        "phase",
        "context",
        "mode",
        "ok/planned",
        "makespan s",
        *(["model s"] if emulated else []),
        "idle %",
        "p50 s",
        "p95 s",
        "queue p95 s",
        "hosts",
        "peak nodes",
        "concurrency",
        "saved s",
        "speedup",
        "busy speedup",
    ]
    rows: list[list[str]] = []
    for p in results.get("phases", []):
        s, vb = p["stats"], p.get("vs_baseline") or {}
        mode = p["mode"] + ("" if p["mode"] in ("sequential", "all") else f" {p['concurrency']}")
        planned = s.get("jobs_planned", s["jobs_total"])
        mark = "" if vb.get("comparable", True) else " !"
        rows.append(
            [
                p["name"] + (" *" if p.get("baseline") else ""),
                p["context"],
                mode,
                f"{s['jobs_completed']}/{planned}",
                fmt_number(s["makespan_seconds"], 2),
                *(
                    [fmt_number(model_seconds(results, s["makespan_seconds"]), 1)]
                    if emulated
                    else []
                ),
                fmt_number(s.get("idle_percent"), 1),
                fmt_number(s["duration_p50_seconds"], 2),
                fmt_number(s["duration_p95_seconds"], 2),
                fmt_number(s["queue_wait_p95_seconds"], 2),
                fmt_number(s["hosts_used"]),
                fmt_number(s["peak_nodes"]),
                fmt_number(s["concurrency_achieved"], 2),
                fmt_number(vb.get("time_saved_seconds"), 2),
                (fmt_number(vb.get("speedup"), 2) + "x" + mark) if vb.get("speedup") else "-",
                (fmt_number(vb.get("busy_speedup"), 2) + "x" + mark)
                if vb.get("busy_speedup")
                else "-",
            ]
        )
    out = []
    banner = emulator_banner(results)
    if banner:
        out.append(banner)
    out += [
        f"run {results.get('run_id')}: {results.get('status')}  (* = baseline; times from Viya server "
        "timestamps; speedup = baseline / phase makespan, busy speedup = the same without idle gaps, "
        "both over the jobs completed in both phases)",
        *render_table(head, rows, right=set(range(3, len(head)))),
    ]
    for p in results.get("phases", []):
        vb = p.get("vs_baseline") or {}
        if vb and not vb.get("comparable", True):
            out.append(
                f"phase {p['name']}: NOT COMPARABLE (!): {vb.get('reason')}; figures over the "
                f"{vb.get('jobs_compared')} job(s) completed in both phases"
            )
    for p in results.get("phases", []):
        if p.get("unmatched_jobs"):
            out.append(
                f"phase {p['name']}: {len(p['unmatched_jobs'])} job(s) without Workload Orchestrator data"
            )
        bad = [j for j in p["jobs"] if j["status"] != "completed"]
        for j in bad[:10]:
            out.append(
                f"phase {p['name']}: {j['unique_job_name']} {j['status']}"
                + (f": {j['error']}" if j.get("error") else "")
            )
        if len(bad) > 10:
            out.append(f"phase {p['name']}: ... and {len(bad) - 10} more not completed")
        cold = p.get("cold_start")
        if cold:
            out.append(f"phase {p['name']}: cold start: {cold.get('note')}")
    return "\n".join(out)
