"""The terminal summary: one table row per phase, figures versus the baseline.

What it must never let a reader miss: that the figures come from the emulator (a
banner, and the makespans also in the modelled cluster's seconds), and that a
comparison is not comparable (failures, timeouts, an abort) -- the speedup is then
marked, with the reason below the table.
"""

from __future__ import annotations

from typing import Any

from jes_runner.console import fmt_number, render_table
from jes_runner.results.cost import cost_currency, fmt_cost


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


def time_scale(results: dict[str, Any]) -> tuple[float, str]:
    """(factor, unit) for the durations a reader is shown: model seconds for an emulated run."""
    sf = ((results.get("metadata") or {}).get("emulator_model") or {}).get("speed_factor")
    if results.get("emulator") and isinstance(sf, int | float) and sf > 0:
        return 1.0 / sf, "model s"
    return 1.0, "s"


def _scaled(value: Any, factor: float) -> float | None:
    return value * factor if isinstance(value, int | float) else None


def _head(unit: str, emulated: bool, currency: str | None) -> list[str]:
    return [
        "phase",
        "context",
        "mode",
        "concurrency cfg/achieved",
        "ok/planned",
        f"makespan {unit}",
        *(["served s"] if emulated else []),
        "idle %",
        f"p50 {unit}",
        f"p95 {unit}",
        f"queue p95 {unit}",
        "hosts",
        "peak nodes",
        f"saved {unit}",
        "speedup",
        "busy speedup",
        # priced runs only: node-hours x price (an emulated run's: the modelled cluster's)
        *([f"cost {currency}".rstrip()] if currency is not None else []),
    ]


def _row(p: dict[str, Any], factor: float, emulated: bool, currency: str | None) -> list[str]:
    s, vb = p["stats"], p.get("vs_baseline") or {}
    mode = p["mode"] + ("" if p["mode"] in ("sequential", "all") else f" {p['concurrency']}")
    planned = s.get("jobs_planned", s["jobs_total"])
    mark = "" if vb.get("comparable", True) else " !"
    digits = 1 if emulated else 2

    def sec(v: Any) -> str:
        return fmt_number(_scaled(v, factor), digits)

    def ratio(v: Any) -> str:
        return (fmt_number(v, 2) + "x" + mark) if v else "-"

    return [
        p["name"] + (" *" if p.get("baseline") else ""),
        p["context"],
        mode,
        f"{p.get('concurrency', '-')}/{fmt_number(s.get('concurrency_achieved'), 2)}",
        f"{s['jobs_completed']}/{planned}",
        sec(s["makespan_seconds"]),
        *([fmt_number(s["makespan_seconds"], 2)] if emulated else []),
        fmt_number(s.get("idle_percent"), 1),
        sec(s["duration_p50_seconds"]),
        sec(s["duration_p95_seconds"]),
        sec(s["queue_wait_p95_seconds"]),
        fmt_number(s["hosts_used"]),
        fmt_number(s["peak_nodes"]),
        sec(vb.get("time_saved_seconds")),
        ratio(vb.get("speedup")),
        ratio(vb.get("busy_speedup")),
        *([fmt_cost((p.get("cost") or {}).get("amount"))] if currency is not None else []),
    ]


def _scaling_line(p: dict[str, Any], factor: float, unit: str) -> str | None:
    sc = p.get("scaling") or {}
    ready = sc.get("time_to_first_node_ready_seconds")
    request = sc.get("time_to_first_node_request_seconds", sc.get("time_to_first_scale_up_seconds"))
    if ready is None and request is None:
        return None
    job = sc.get("time_to_first_job_on_new_node_seconds")
    return (
        f"phase {p['name']}: its demand added nodes: first requested after "
        f"{fmt_number(_scaled(request, factor), 1)} {unit}, first Ready after "
        f"{fmt_number(_scaled(ready, factor), 1)} {unit}, first job on one after "
        f"{fmt_number(_scaled(job, factor), 1)} {unit} (from the phase's first job creation)"
    )


def _notes(p: dict[str, Any], factor: float, unit: str) -> list[str]:
    out = []
    vb = p.get("vs_baseline") or {}
    if vb and not vb.get("comparable", True):
        out.append(
            f"phase {p['name']}: NOT COMPARABLE (!): {vb.get('reason')}; figures over the "
            f"{vb.get('jobs_compared')} job(s) completed in both phases"
        )
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
    slot_idle = (p.get("stats") or {}).get("slot_idle_percent")
    if p.get("mode") == "window" and slot_idle is not None:
        out.append(
            f"phase {p['name']}: its {p.get('concurrency')} slots stood empty "
            f"{fmt_number(slot_idle, 1)} % of the time waiting for the runner to see an end "
            "(inside the makespan; idle % counts only times with no job at all)"
        )
    scaling = _scaling_line(p, factor, unit)
    if scaling:
        out.append(scaling)
    cold = p.get("cold_start")
    if cold:
        out.append(f"phase {p['name']}: cold start: {cold.get('note')}")
    return out


def render_summary(results: dict[str, Any]) -> str:
    """The terminal table at the end of a run (an emulated run's durations in model seconds)."""
    factor, unit = time_scale(results)
    emulated = unit == "model s"
    currency = cost_currency(results)
    head = _head(unit, emulated, currency)
    phases = results.get("phases", [])
    rows = [_row(p, factor, emulated, currency) for p in phases]
    out = []
    banner = emulator_banner(results)
    if banner:
        out.append(banner)
    out += [
        f"run {results.get('run_id')}: {results.get('status')}  (* = baseline; times from Viya server "
        "timestamps; speedup = baseline / phase makespan, busy speedup = the same without idle gaps, "
        "both over the jobs completed in both phases; thresholds judge the busy speedup)",
        *render_table(head, rows, right=set(range(3, len(head)))),
    ]
    for p in phases:
        out += _notes(p, factor, unit)
    return "\n".join(out)
