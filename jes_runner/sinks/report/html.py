"""`jes-runner report`: one self-contained HTML file and PNG figures from a results file.

The HTML needs no network: CSS and JS are inline, figures are base64 PNGs. A JSON
block (``<script type="application/json" id="report-data">``) carries what every
figure drew (rows per host, bars per job, node marks), so tests and scripts can check
the pictures against the results file without reading pixels.
"""

from __future__ import annotations

import base64
import html
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jes_runner import __version__
from jes_runner._util import finite, redact_url
from jes_runner.console import fmt_seconds
from jes_runner.errors import JesError, missing_extra
from jes_runner.results.cost import cost_currency, fmt_cost
from jes_runner.results.views import PhaseView, normalize_results, phase_views
from jes_runner.sinks.report.assets import CSS, ERROR_HOOK_JS, TABLE_JS

if TYPE_CHECKING:  # matplotlib (the `report` extra) loads only when figures are drawn
    from jes_runner.sinks.report.figures import Figure

log = logging.getLogger("jes_runner.sinks.report.html")

REPORT_HTML = "report.html"
MAX_BARS_IN_JSON = 5000  # beyond this the data block keeps counts, not every bar


@dataclass(slots=True)
class Report:
    html: str
    figures: list[Figure]
    data: dict[str, Any]


def default_out_dir(results_path: Path) -> Path:
    """`results/X.json` -> `results/X_report/`."""
    return results_path.with_name(f"{results_path.stem}_report")


def build_report(results: dict[str, Any], *, source: str = "") -> Report:
    results = normalize_results(results, source or "results")
    phases = phase_views(results)
    if not phases:
        raise JesError(f"{source or 'results'}: no phases to report on")
    from jes_runner.sinks.report.figures import all_figures

    figures = all_figures(phases)
    data = _data_block(results, phases, figures)
    return Report(html=_html(results, phases, figures, data, source), figures=figures, data=data)


def write_report(
    results: dict[str, Any], out_dir: Path, *, source: str = "", pngs: bool = True
) -> Path:
    """Write `report.html` (and the figures as PNG files) into ``out_dir``; return the HTML path."""
    rep = build_report(results, source=source)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if pngs:
            for f in rep.figures:
                (out_dir / f"{f.name}.png").write_bytes(f.png)
        path = out_dir / REPORT_HTML
        path.write_text(rep.html, encoding="utf-8")
    except OSError as e:
        raise JesError(f"cannot write report to {out_dir}: {e.strerror or e}") from None
    return path


def write_report_beside(results_path: Path, results: dict[str, Any]) -> Path | None:
    """The `run` sink: the report next to the results file; a failure is a warning, not a lost run."""
    try:
        out_dir = _new_dir(default_out_dir(results_path))
        return write_report(results, out_dir, source=results_path.name)
    except ImportError as e:  # the `report` extra is not installed (the container image)
        extra = missing_extra(e)
        if extra is None:
            raise
        log.warning("report not written: %s; or set JES_REPORT=false", extra)
        return None
    except Exception as e:  # the measurement is already safe on disk
        log.warning("report not written: %s", " ".join(str(e).split()) or e.__class__.__name__)
        return None


def _new_dir(path: Path) -> Path:
    """Create ``path`` (or ``path_2``, ...) exclusively: a run's report never shares a folder with another's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for candidate in [path, *(path.with_name(f"{path.name}_{i}") for i in range(2, 100))]:
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"{path} and its numbered variants exist")


# -- CLI ---------------------------------------------------------------------------------


# -- data block ------------------------------------------------------------------------------


def _data_block(
    results: dict[str, Any], phases: list[PhaseView], figures: list[Figure]
) -> dict[str, Any]:
    figs: dict[str, Any] = {}
    for f in figures:
        d = dict(f.data)
        if len(d.get("bars", [])) > MAX_BARS_IN_JSON:
            d["bars"] = []
            d["bars_omitted"] = True
        figs[f.name] = {"title": f.title, "width_px": f.width_px, "height_px": f.height_px, **d}
    return {
        "generator": f"jes-runner {__version__}",
        "run_id": results.get("run_id"),
        "status": results.get("status"),
        "schema_version": results.get("schema_version"),
        "phases": [
            {
                "name": p.name,
                "jobs": len(p.jobs),
                "hosts": p.hosts,
                "makespan_seconds": p.makespan,
                "speedup": p.speedup,
                "nodes_used": p.nodes_used,
                "perfect_split_seconds": p.perfect_split_seconds,
                "per_node_efficiency_percent": p.per_node_efficiency_percent,
                "vs_perfect_split_percent": p.vs_perfect_split_percent,
                "unmatched_jobs": len(p.unmatched),
            }
            for p in phases
        ],
        "table_rows": sum(len(p.jobs) for p in phases),
        "figures": figs,
    }


# -- HTML ------------------------------------------------------------------------------------


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _n(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def _num_td(v: float | None, text: str | None = None) -> str:
    data = "" if v is None else f"{v:g}"
    return f'<td class="n" data-v="{data}">{_e(text if text is not None else _n(v))}</td>'


def _badge(status: str | None) -> str:
    s = status or "unknown"
    return f'<span class="badge {_e(s)}">{_e(s.replace("_", " "))}</span>'


def _html(
    results: dict[str, Any],
    phases: list[PhaseView],
    figures: list[Figure],
    data: dict[str, Any],
    source: str,
) -> str:
    meta = results.get("metadata") or {}
    labels = meta.get("labels") or {}
    n_jobs = sum(len(p.jobs) for p in phases)
    n_failed = sum(1 for p in phases for j in p.jobs if j.status != "completed")
    concurrent = [p for p in phases if not p.baseline and p.speedup]
    best = max(concurrent, key=lambda p: p.speedup or 0, default=None)
    base = next((p for p in phases if p.baseline), None)
    title = f"jes-runner report — {results.get('run_id') or source}"

    cards = [
        ("status", _badge(results.get("status"))),
        ("phases", _e(len(phases))),
        (
            "job executions",
            f"{n_jobs}"
            + (f' <span class="err">({n_failed} not completed)</span>' if n_failed else ""),
        ),
        ("baseline makespan", _e(_card_seconds(results, base.makespan) if base else "–")),
        ("best speedup", _e(f"{best.speedup:.2f}× ({best.name})" if best else "–")),
        ("run duration", _e(_card_seconds(results, meta.get("duration_seconds")))),
    ]
    meta_line = " · ".join(
        _e(x)
        for x in [
            f"started {meta.get('started_at')}" if meta.get("started_at") else None,
            # redacted again: a results file from an older version may hold user:pass@ in the URL
            f"Viya {redact_url(str(meta.get('viya_url')))}" if meta.get("viya_url") else None,
            f"cluster {labels.get('cluster')}" if labels.get("cluster") else None,
            f"environment {labels.get('environment')}" if labels.get("environment") else None,
            f"schema {results.get('schema_version')}",
            source or None,
        ]
        if x
    )

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style>",
        f"<script>{ERROR_HOOK_JS}</script>",
        "</head><body>",
        f'<header><h1>{_e(title)}</h1><div class="meta">{meta_line}</div></header><main>',
        '<div id="js-errors"></div>',
        _emulator_banner(results),
        _comparability_section(phases),
        '<section><div class="cards">'
        + "".join(
            f'<div class="card"><div class="k">{k}</div><div class="v">{v}</div></div>'
            for k, v in cards
        )
        + "</div></section>",
        _thresholds_section(results),
        _phase_table(phases, results),
        _figures_section(figures),
        _jobs_table(phases),
        _unmatched_section(phases),
        _log_tails_section(phases),
        '<script type="application/json" id="report-data">'
        + json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
        + "</script>",
        f"<script>{TABLE_JS}</script>",
        f'<p class="note">Generated by jes-runner {_e(__version__)}. Times are server times '
        "(Job Execution creation → end); queue wait, start-up and run come from the SAS Workload "
        "Orchestrator.</p>",
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _emulator_banner(results: dict[str, Any]) -> str:
    from jes_runner.sinks.summary import emulator_banner

    line = emulator_banner(results)
    return (
        f'<section id="emulated" class="banner err"><strong>{_e(line)}</strong></section>'
        if line
        else ""
    )


def _comparability_section(phases: list[PhaseView]) -> str:
    """Phases not comparable (with why) and jobs whose server timestamps are impossible."""
    items = [
        f"<li>{_e(p.name)}: {_e(p.reason or ', '.join(p.reasons))} -- speedup and time saved over the "
        f"{_e((p.vs_baseline or {}).get('jobs_compared'))} job(s) completed in both phases</li>"
        for p in phases
        if not p.baseline and p.comparable is False
    ]
    items += [
        f"<li>{_e(p.name)}: {len(p.data_errors)} job(s) with impossible server timestamps "
        f"(data_error: {_e(', '.join(p.data_errors[:5]))}) left out of every figure</li>"
        for p in phases
        if p.data_errors
    ]
    if not items:
        return ""
    return (
        f'<section id="not-comparable"><h2 class="err">Not comparable</h2><ul>{"".join(items)}</ul>'
        "</section>"
    )


def _thresholds_section(results: dict[str, Any]) -> str:
    th = results.get("thresholds")
    if not isinstance(th, dict) or not th.get("checked"):
        return ""
    breaches = th.get("breaches") or []
    rows = "".join(
        f'<li class="err">{_e(b.get("message") if isinstance(b, dict) else b)}</li>'
        for b in breaches
    )
    checked = ", ".join(f"{_e(k)} = {_e(v)}" for k, v in (th.get("checked") or {}).items())
    if th.get("speedup_basis"):
        checked += f"; min_speedup judges the {_e(th['speedup_basis'])}"
    for nj in th.get("not_judged") or []:
        checked += f"; phase {_e(nj.get('phase'))} not judged (not comparable)"
    verdict = (
        f'<p class="err"><strong>{len(breaches)} threshold(s) crossed</strong> (exit code 6)</p><ul>{rows}</ul>'
        if breaches
        else '<p><span class="badge completed">all thresholds met</span></p>'
    )
    return f'<section id="thresholds"><h2>Thresholds</h2>{verdict}<p class="note">Checked: {checked}</p></section>'


def _concurrency_td(configured: int, achieved: float | None) -> str:
    """Configured and achieved concurrency side by side in one cell (the table fits 1400 px)."""
    shown = "–" if achieved is None else f"{achieved:.1f}"
    return f'<td class=n data-v="{configured}">{configured} / {_e(shown)}</td>'


def _card_seconds(results: dict[str, Any], served: Any) -> str:
    """A headline duration: the modelled cluster's seconds for an emulated run (said so)."""
    from jes_runner.sinks.summary import model_seconds

    model = model_seconds(results, served if isinstance(served, int | float) else None)
    return f"{fmt_seconds(model)} (model)" if model is not None else fmt_seconds(served)


def _phase_table(phases: list[PhaseView], results: dict[str, Any] | None = None) -> str:
    from jes_runner.sinks.summary import model_seconds, time_scale

    res = results or {}
    emulated = model_seconds(res, 1.0) is not None
    factor, unit = time_scale(res)
    u = f" ({unit})" if emulated else ""  # an emulated run's durations: the modelled cluster's
    currency = cost_currency(res)  # priced runs only: each phase's node-hours x the price
    cost_head = (
        f"<th class=n title='node-hours{' (model)' if emulated else ''} x the node-hour price'>"
        f"Cost ({_e(currency or '?')})</th>"
        if currency is not None
        else ""
    )

    def sec(v: Any) -> str:
        v = v * factor if isinstance(v, int | float) else None
        return _num_td(v, fmt_seconds(v))

    head1 = (
        "<tr><th>Phase</th><th>Context</th><th>Mode</th>"
        "<th class=n>Concurrency configured / achieved</th><th>Status</th>"
        "<th class=n>Jobs ok / submitted / planned</th>"
        # an emulated run: one makespan column in model seconds, the served one in its tooltip
        # (and in the file), so the table fits a 1400 px window
        + ("<th class=n>Makespan (model s)</th>" if emulated else "<th class=n>Makespan</th>")
        + f"<th class=n>Idle{u}</th><th class=n>Busy makespan{u}</th><th class=n>Speedup (makespan)</th>"
        f"<th class=n>Speedup (busy)</th><th class=n>Time saved{u}</th>{cost_head}<th class=n>Comparable</th><th class=n>Unmatched</th></tr>"
    )
    head2 = (
        f"<tr><th>Phase</th><th class=n>Nodes used</th><th class=n>Peak nodes</th><th class=n>Perfect split{u}</th>"
        "<th class=n>Per-node efficiency</th><th class=n>vs perfect split</th>"
        f"<th class=n>Queue wait p50 / p95 / max{u}</th><th class=n>Duration p50 / p95 / max{u}</th>"
        "<th class=n>Concurrency achieved</th>"
    )
    # node figures from the node watch (phases[].scaling), when the run had one
    has_scaling = any(isinstance(p.raw.get("scaling"), dict) for p in phases)
    if has_scaling:
        head2 += (
            f"<th class=n>First node requested{u}</th><th class=n>First new node Ready{u}</th>"
            f"<th class=n>First job on a new node{u}</th><th class=n>Node time{u}</th>"
            "<th class=n>Nodes added / removed</th>"
        )
    head2 += "</tr>"
    rows1, rows2 = [], []
    for p in phases:
        s, vb = p.stats, p.vs_baseline or {}
        vps = p.vs_perfect_split_percent
        name = f"<td class=wrap><strong>{_e(p.name)}</strong>{' <span class=muted>(baseline)</span>' if p.baseline else ''}</td>"
        mark = " (not comparable)" if vb.get("comparable") is False else ""
        busy_sp = vb.get("busy_speedup")
        model_s = model_seconds(res, p.makespan)
        rows1.append(
            f"<tr>{name}<td class=wrap>{_e(p.context)}</td><td>{_e(p.mode)}</td>"
            f"{_concurrency_td(p.concurrency, finite(s.get('concurrency_achieved')))}"
            f"<td>{_badge(p.status)}</td>"
            f"<td class=n>{_e(s.get('jobs_completed'))} / {_e(s.get('jobs_submitted', '–'))} / "
            f"{_e(s.get('jobs_planned', s.get('jobs_total')))}</td>"
            + (
                f'<td class=n data-v="{model_s}" title="served {_e(fmt_seconds(p.makespan))}">'
                f"{_e(fmt_seconds(model_s))}</td>"
                if emulated
                else _num_td(p.makespan, fmt_seconds(p.makespan))
            )
            + f"{sec(s.get('idle_seconds'))}{sec(s.get('busy_makespan_seconds'))}"
            f"{_num_td(p.speedup, (f'{p.speedup:.2f}×' + mark) if p.speedup else '–')}"
            f"{_num_td(busy_sp, (f'{busy_sp:.2f}×' + mark) if busy_sp else '–')}"
            f"{_num_td(_scaled_saved(vb, factor), _saved(_scaled_vb(vb, factor)))}"
            + (_cost_td(p.raw) if currency is not None else "")
            + f"<td>{_comparable(p)}</td>"
            f"{_num_td(len(p.unmatched), str(len(p.unmatched)))}</tr>"
        )
        achieved = s.get("concurrency_achieved")
        rows2.append(
            f"<tr>{name}{_num_td(p.nodes_used, str(p.nodes_used))}"
            f"{_num_td(s.get('peak_nodes'), _e('–' if s.get('peak_nodes') is None else s.get('peak_nodes')))}"
            f"{sec(p.perfect_split_seconds)}"
            f"{_num_td(p.per_node_efficiency_percent, _pct(p.per_node_efficiency_percent))}"
            f"{_num_td(vps, ('–' if vps is None else f'{vps:+.1f} %'))}"
            f"<td class=n>{_triple(s, 'queue_wait', factor)}</td><td class=n>{_triple(s, 'duration', factor)}</td>"
            f"{_num_td(achieved if isinstance(achieved, int | float) else None)}{_scaling_tds(p, factor) if has_scaling else ''}</tr>"
        )
    note = (
        "<p class=note><strong>Perfect split</strong> = baseline makespan ÷ nodes used: what the phase "
        "would take if the nodes only shared the sequential work. <strong>Per-node efficiency</strong> = "
        "baseline ÷ (phase makespan × nodes used); above 100 % the nodes did more than split the "
        "sequential work (jobs overlap on each node). <strong>vs perfect split</strong>: how much faster "
        "(+) or slower (−) than that estimate. <strong>Concurrency achieved</strong> = sum of job "
        "durations ÷ makespan."
        + (
            " <strong>First node requested / Ready / first job on a new node</strong>: from the phase's "
            "first job creation to the first node its demand added being asked for, becoming Ready "
            "(able to run jobs), and running the first of its jobs -- the wait the autoscaler caused. "
            "<strong>Node time</strong> = seconds each node of the phase's pools existed during the "
            "phase, summed."
            if has_scaling
            else ""
        )
        + "</p>"
    )
    return (
        f'<section id="phases"><h2>Phases</h2><div class="scroll"><table id="phase-table"><thead>{head1}</thead>'
        f"<tbody>{''.join(rows1)}</tbody></table></div>"
        f'<h2 style="margin-top:14px">Scaling and waiting</h2><div class="scroll"><table id="scaling-table">'
        f"<thead>{head2}</thead><tbody>{''.join(rows2)}</tbody></table></div>{note}</section>"
    )


def _cost_td(phase: dict[str, Any]) -> str:
    """The phase's cost cell; its basis (node-seconds, price) as the tooltip."""
    cost = phase.get("cost") or {}
    amount = finite(cost.get("amount"))
    text = "–" if amount is None else fmt_cost(amount)
    data = "" if amount is None else f"{amount:g}"
    return f'<td class="n" data-v="{data}" title="{_e(cost.get("basis") or "")}">{_e(text)}</td>'


SCALING_LATENCIES = (
    "time_to_first_node_request_seconds",
    "time_to_first_node_ready_seconds",
    "time_to_first_job_on_new_node_seconds",
)


def _scaling_tds(p: PhaseView, factor: float = 1.0) -> str:
    """Node latencies (from the phase's first job creation), node time, node changes."""
    sc = p.scaling
    cells = []
    for key in (*SCALING_LATENCIES, "node_seconds"):
        v = sc.get(key)
        v = v * factor if isinstance(v, int | float) else None
        empty = "none" if sc and key != "node_seconds" else "–"
        cells.append(_num_td(v, fmt_seconds(v) if v is not None else empty))
    added, removed = sc.get("nodes_added"), sc.get("nodes_removed")
    changes = "–" if added is None and removed is None else f"{added or 0} / {removed or 0}"
    return "".join(cells) + f"<td class=n>{_e(changes)}</td>"


def _triple(s: dict[str, Any], kind: str, factor: float) -> str:
    keys = (f"{kind}_p50_seconds", f"{kind}_p95_seconds", f"{kind}_max_seconds")
    return " / ".join(
        fmt_seconds(v * factor if isinstance(v, int | float) else None) for v in map(s.get, keys)
    )


def _scaled_saved(vb: dict[str, Any], factor: float) -> float | None:
    v = vb.get("time_saved_seconds")
    return v * factor if isinstance(v, int | float) else None


def _scaled_vb(vb: dict[str, Any], factor: float) -> dict[str, Any]:
    return {**vb, "time_saved_seconds": _scaled_saved(vb, factor)}


def _comparable(p: PhaseView) -> str:
    """Yes / no with the reasons (data errors flagged whatever the file says)."""
    if p.baseline:
        return "baseline"
    if p.comparable is None:
        return "–"
    if p.comparable:
        return "yes"
    return f'<span class="err">no: {_e(", ".join(p.reasons) or "see reason")}</span>'


def _saved(vb: dict[str, Any]) -> str:
    if vb.get("time_saved_seconds") is None:
        return "–"
    gain = vb.get("efficiency_gain_percent")
    return fmt_seconds(vb["time_saved_seconds"]) + ("" if gain is None else f" ({gain:.1f} %)")


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f} %"


def _figures_section(figures: list[Figure]) -> str:
    out = ['<section id="figures"><h2>Figures</h2>']
    for f in figures:
        b64 = base64.b64encode(f.png).decode("ascii")
        out.append(
            f'<figure class="fig" id="fig-{_e(f.name)}"><img alt="{_e(f.title)}" width="{f.width_px}" '
            f'height="{f.height_px}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{_e(f.title)} ({_e(f.name)}.png)</figcaption></figure>"
        )
    out.append("</section>")
    return "".join(out)


JOB_COLUMNS = [  # (header, numeric)
    ("Phase", False),
    ("#", True),
    ("Job", False),
    ("Status", False),
    ("Host", False),
    ("Created +", True),
    ("Queue wait", True),
    ("Start-up", True),
    ("Run", True),
    ("Duration", True),
    ("Client duration", True),
    ("Cores", True),
    ("Memory MB", True),
    ("Error", False),
]


def _jobs_table(phases: list[PhaseView]) -> str:
    head = "".join(
        f'<th class="sortable{" n" if num else ""}">{_e(h)}</th>' for h, num in JOB_COLUMNS
    )
    rows = []
    for p in phases:
        for j in p.jobs:
            created = p.offset(j.submitted)
            client = j.raw.get("client_duration")
            client = client if isinstance(client, int | float) else None
            cls = ' class="failed"' if j.status != "completed" else ""
            rows.append(
                f'<tr data-phase="{_e(p.name)}"{cls}><td>{_e(p.name)}</td>{_num_td(j.sequence, str(j.sequence))}'
                f'<td title="{_e(j.unique_job_name)}">{_e(j.name)}</td><td>{_badge(j.status)}</td>'
                f"<td>{_e(j.host or '–')}</td>"
                f"{_num_td(created)}{_num_td(j.queue_wait)}{_num_td(j.starting)}{_num_td(j.execution)}"
                f"{_num_td(j.duration, _n(j.duration, 2 if (j.duration or 0) < 10 else 1))}"
                f"{_num_td(client, _n(client, 2 if (client or 0) < 10 else 1))}"
                f"{_num_td(j.cores, _n(j.cores, 2))}{_num_td(j.memory_mb, _n(j.memory_mb, 0))}"
                f"<td class=err>{_e(j.raw.get('error') or '')}</td></tr>"
            )
    options = "".join(f'<option value="{_e(p.name)}">{_e(p.name)}</option>' for p in phases)
    return (
        '<section id="job-section"><h2>Job executions</h2>'
        '<div class="controls"><label>Phase <select id="phase-filter"><option value="">all</option>'
        f'{options}</select></label><label>Search <input id="job-search" type="search" placeholder="job, host, status"></label>'
        '<span id="job-count" class="muted"></span></div>'
        f'<div class="scroll"><table id="jobs"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
        '<p class="note">Seconds. Click a column to sort (numbers: largest first). "Created +" is seconds after the '
        "phase's first job was created; duration is server end − creation; client duration is the runner's "
        "own clock, for comparison only.</p></section>"
    )


def _log_tails_section(phases: list[PhaseView]) -> str:
    """The last lines of each failed job's SAS log, where its ERROR lines are."""
    items = [(p.name, j) for p in phases for j in p.jobs if isinstance(j.raw.get("log_tail"), str)]
    if not items:
        return ""
    blocks = "".join(
        f'<details class="log-tail"><summary><strong>{_e(ph)}</strong>: {_e(j.unique_job_name or j.name)}'
        f" ({_e(j.status)})</summary><pre>{_e(j.raw['log_tail'])}</pre></details>"
        for ph, j in items
    )
    return (
        '<section id="log-tails"><h2>Logs of failed jobs</h2>'
        "<p class=note>The end of each failed job's SAS log, as the files service served it.</p>"
        f"{blocks}</section>"
    )


def _unmatched_section(phases: list[PhaseView]) -> str:
    items = [(p.name, u) for p in phases for u in p.unmatched]
    if not items:
        return ""
    li = "".join(f"<li><strong>{_e(ph)}</strong>: {_e(u)}</li>" for ph, u in items)
    return (
        '<section id="unmatched"><h2>Jobs without an orchestrator match</h2>'
        f"<p class=note>No Workload Orchestrator job matched these before the deadline: no host, "
        f"queue wait or resources for them.</p><ul>{li}</ul></section>"
    )
