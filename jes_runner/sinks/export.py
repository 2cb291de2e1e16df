"""`jes-runner export`: a results file as spreadsheet rows.

One row per job execution with every timing, orchestrator and resource field, plus
one summary row per phase: CSV writes ``FILE`` and ``FILE_phases.csv``; xlsx writes
sheets ``Jobs``, ``Phases``, ``Run`` and one summary sheet per phase (its figures and
jobs per host).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from jes_runner._util import redact_url
from jes_runner.errors import JesError
from jes_runner.results.views import PhaseView, phase_views

JOB_FIELDS = [
    "name",
    "unique_job_name",
    "job_instance_id",
    "definition_id",
    "sequence",
    "status",
    "server_state",
    "submitted_at",
    "started_at",
    "ended_at",
    "duration",
    "elapsed_time_ms",
    "timing_source",
    "client_submitted_at",
    "client_ended_at",
    "client_duration",
    "error",
]
ORCH_FIELDS = [
    "orchestrator_job_id",
    "orchestrator_name",
    "queue",
    "state",
    "exit_code",
    "execution_host",
    "execution_ip",
    "submit_time",
    "start_time",
    "end_time",
    "queue_wait_seconds",
    "starting_seconds",
    "execution_seconds",
    "cpu_cores",
    "memory_mb",
]
STAT_FIELDS = [
    "makespan_seconds",
    "jobs_total",
    "jobs_completed",
    "jobs_failed",
    "jobs_canceled",
    "jobs_timed_out",
    "duration_p50_seconds",
    "duration_p95_seconds",
    "duration_max_seconds",
    "queue_wait_p50_seconds",
    "queue_wait_p95_seconds",
    "queue_wait_max_seconds",
    "hosts_used",
    "sum_run_seconds",
    "concurrency_achieved",
    "peak_nodes",
    "jobs_planned",
    "jobs_submitted",
    "busy_makespan_seconds",
    "idle_seconds",
]
VS_FIELDS = ["comparable", "reason", "jobs_compared", "busy_time_saved_seconds", "busy_speedup"]
SCALING_FIELDS = [
    "time_to_first_node_request_seconds",
    "time_to_first_node_ready_seconds",
    "time_to_first_job_on_new_node_seconds",
    "node_seconds",
]
# phases[].cost (priced runs): an emulated run's already in the modelled cluster's node-hours
COST_FIELDS = ["amount", "currency", "node_hour_price", "node_seconds"]
# an emulated run: these served-second figures also in the modelled cluster's seconds (``*_model``)
MODEL_JOB_FIELDS = ["duration"]
MODEL_PHASE_FIELDS = [
    "makespan_seconds",
    "busy_makespan_seconds",
    "idle_seconds",
    "duration_p50_seconds",
    "duration_p95_seconds",
    "queue_wait_p95_seconds",
    "time_saved_seconds",
    *SCALING_FIELDS,
]


def _model(results: dict[str, Any]) -> float | None:
    """1 / speed factor for an emulated run (served s -> model s), else None."""
    from jes_runner.sinks.summary import time_scale

    factor, unit = time_scale(results)
    return factor if unit == "model s" else None


def _times(v: Any, factor: float) -> float | None:
    return round(v * factor, 3) if isinstance(v, int | float) else None


def job_rows(
    results: dict[str, Any], phases: list[PhaseView] | None = None
) -> tuple[list[str], list[dict[str, Any]]]:
    """Header and rows: phase columns, the JobRecord, the orchestrator figures, one column per limit."""
    phases = phases if phases is not None else phase_views(results)
    limit_keys = sorted(
        {k for p in phases for j in p.jobs for k in ((j.orchestrator or {}).get("limits") or {})}
    )
    factor = _model(results)
    model_cols = [f"{k}_model_seconds" for k in MODEL_JOB_FIELDS] if factor else []
    header = (
        ["run_id", "emulated", "phase", "context", "mode", "concurrency", "baseline"]
        + JOB_FIELDS
        + model_cols
        + ["orchestrator_matched"]
        + ORCH_FIELDS
        + [f"limit_{k}" for k in limit_keys]
    )
    rows = []
    for p in phases:
        for j in p.jobs:
            o = j.orchestrator or {}
            row: dict[str, Any] = {
                "run_id": results.get("run_id"),
                "emulated": factor is not None,
                "phase": p.name,
                "context": j.raw.get("context") or p.context,
                "mode": p.mode,
                "concurrency": p.concurrency,
                "baseline": p.baseline,
            }
            row.update({k: j.raw.get(k) for k in JOB_FIELDS})
            row["status"] = j.status  # data_error even where an older file took the job as measured
            if factor:
                row.update({f"{k}_model_seconds": _times(row[k], factor) for k in MODEL_JOB_FIELDS})
            row["orchestrator_matched"] = bool(j.orchestrator)
            row.update({k: o.get(k) for k in ORCH_FIELDS})
            limits = o.get("limits") or {}
            row.update({f"limit_{k}": limits.get(k) for k in limit_keys})
            rows.append(row)
    return header, rows


def phase_rows(
    phases: list[PhaseView], results: dict[str, Any] | None = None
) -> tuple[list[str], list[dict[str, Any]]]:
    factor = _model(results or {})
    header = (
        ["phase", "context", "mode", "concurrency", "baseline", "status", "started_at", "ended_at"]
        + STAT_FIELDS
        + [
            "jobs_per_host",
            "unmatched_jobs",
            "time_saved_seconds",
            "efficiency_gain_percent",
            "speedup",
            *VS_FIELDS,
            "perfect_split_seconds",
            "per_node_efficiency_percent",
            "vs_perfect_split_percent",
            "reasons",
            "data_error_jobs",
            *SCALING_FIELDS,
            *[f"cost_{k}" for k in COST_FIELDS],
            *([f"{k}_model" for k in MODEL_PHASE_FIELDS] if factor else []),
        ]
    )
    rows = []
    for p in phases:
        vb = p.vs_baseline or {}
        per_host = p.stats.get("jobs_per_host") or {}
        rows.append(
            {
                "phase": p.name,
                "context": p.context,
                "mode": p.mode,
                "concurrency": p.concurrency,
                "baseline": p.baseline,
                "status": p.status,
                "started_at": p.raw.get("started_at"),
                "ended_at": p.raw.get("ended_at"),
                **{k: p.stats.get(k) for k in STAT_FIELDS},
                "jobs_per_host": "; ".join(f"{h}={n}" for h, n in sorted(per_host.items())),
                "unmatched_jobs": len(p.unmatched),
                "time_saved_seconds": vb.get("time_saved_seconds"),
                "efficiency_gain_percent": vb.get("efficiency_gain_percent"),
                "speedup": vb.get("speedup"),
                **{k: vb.get(k) for k in VS_FIELDS},
                "perfect_split_seconds": p.perfect_split_seconds,
                "per_node_efficiency_percent": p.per_node_efficiency_percent,
                "vs_perfect_split_percent": p.vs_perfect_split_percent,
                "comparable": p.comparable,  # false with data errors whatever an older file said
                "reasons": ",".join(p.reasons),
                "data_error_jobs": len(p.data_errors),
                **{k: p.scaling.get(k) for k in SCALING_FIELDS},
                **{f"cost_{k}": (p.raw.get("cost") or {}).get(k) for k in COST_FIELDS},
            }
        )
        if factor:
            row = rows[-1]
            row.update({f"{k}_model": _times(row[k], factor) for k in MODEL_PHASE_FIELDS})
    return header, rows


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, dict | list):
        return str(v)
    return v


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(v: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a string starting with ``= + - @`` (or tab/CR) is a
    formula to Excel and LibreOffice (``=HYPERLINK(...)`` as a job name), so it gets a leading ``'``
    (OWASP's CSV-injection advice). Numbers, negative ones included, stay numbers."""
    v = _cell(v)
    if isinstance(v, str) and v.startswith(FORMULA_START):
        return "'" + v
    return v


def write_csv(results: dict[str, Any], path: Path) -> list[Path]:
    phases = phase_views(results)
    phases_path = path.with_name(f"{path.stem}_phases.csv")
    for target, (header, rows) in (
        (path, job_rows(results, phases)),
        (phases_path, phase_rows(phases, results)),
    ):
        with open(target, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=header)
            w.writeheader()
            w.writerows({k: _csv_cell(v) for k, v in r.items()} for r in rows)
    return [path, phases_path]


def _sheet_title(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "_", f"Phase {name}")[:31]
    title, n = base, 2
    while title.lower() in used:
        suffix = f" ({n})"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(title.lower())
    return title


def write_xlsx(results: dict[str, Any], path: Path) -> list[Path]:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    phases = phase_views(results)
    wb = Workbook()
    bold = Font(bold=True)

    def table(ws: Any, header: list[str], rows: list[dict[str, Any]]) -> None:
        ws.append(header)
        for c in ws[1]:
            c.font = bold
        for r in rows:
            ws.append([_cell(r.get(k)) for k in header])
            for c in ws[ws.max_row]:
                if c.data_type == "f":  # a value starting with "=" is text here, never a formula
                    c.data_type = "s"
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = ws.dimensions
        for i, h in enumerate(header, 1):
            ws.column_dimensions[get_column_letter(i)].width = max(10, min(40, len(h) + 2))

    jobs = wb.active
    jobs.title = "Jobs"
    table(jobs, *job_rows(results, phases))
    table(wb.create_sheet("Phases"), *phase_rows(phases, results))

    run = wb.create_sheet("Run")
    meta = results.get("metadata") or {}
    run.append(["field", "value"])
    for k, v in [
        ("run_id", results.get("run_id")),
        ("status", results.get("status")),
        ("schema_version", results.get("schema_version")),
        ("emulated", bool(results.get("emulator"))),
        ("emulator_model", meta.get("emulator_model")),
    ] + [
        (k, meta.get(k))
        for k in (
            "started_at",
            "ended_at",
            "duration_seconds",
            "tool_version",
            "viya_url",
            "job_config",
        )
    ]:
        if k == "viya_url" and v:  # a file from an older version may hold user:pass@ in it
            v = redact_url(str(v))
        run.append([k, _cell(v)])
    for k, v in (meta.get("labels") or {}).items():
        run.append([f"label_{k}", _cell(v)])

    used = {"jobs", "phases", "run"}
    _, prow = phase_rows(phases, results)
    for p, summary in zip(phases, prow, strict=True):
        ws = wb.create_sheet(_sheet_title(p.name, used))
        ws.append(["figure", "value"])
        for k, v in summary.items():
            if k != "jobs_per_host":
                ws.append([k, _cell(v)])
        ws.append([])
        ws.append(["host", "jobs"])
        for h, n in sorted((p.stats.get("jobs_per_host") or {}).items()):
            ws.append([h, n])
        for u in p.unmatched:
            ws.append(["unmatched", u])
        ws.column_dimensions["A"].width = 34
        ws.column_dimensions["B"].width = 40
    wb.save(path)
    return [path]


def export(results: dict[str, Any], fmt: str, out: Path) -> list[Path]:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return write_csv(results, out) if fmt == "csv" else write_xlsx(results, out)
    except OSError as e:
        raise JesError(f"cannot write {out}: {e.strerror or e}") from None
