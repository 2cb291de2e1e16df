"""The report's figures (matplotlib, Agg canvas, no pyplot state).

Every figure comes back as a :class:`Figure` with its PNG bytes and a ``data`` dict
describing what was drawn -- counted from the artists themselves -- so tests (and the
HTML's embedded JSON block) can check rows, bars and marks against the results file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from jes_runner._util import median, parse_ts
from jes_runner.config.phases import slug
from jes_runner.console import fmt_seconds
from jes_runner.results.views import UNKNOWN_HOST, PhaseView

if TYPE_CHECKING:
    from jes_runner.analysis.whatif import WhatIf

COLORS = {
    "wait": "#f2b134",
    "starting": "#9aa9bd",
    "run": "#2f6fd6",
    "failed": "#d64545",
    "other": "#8c8c8c",  # canceled, timed out
    "added": "#2e9e55",
    "ready": "#1b8a8a",
    "removed": "#c0392b",
    "makespan": "#222222",
    "perfect": "#7a4fbf",
}
DPI = 100
MAX_LANES_PER_HOST = 40  # beyond this, bars share lanes (10,000-job runs stay readable)


@dataclass(slots=True)
class Figure:
    name: str  # file stem, e.g. "timeline_autoscaling"
    title: str
    png: bytes
    width_px: int
    height_px: int
    data: dict[str, Any] = field(default_factory=dict)


def _render(fig: MplFigure, name: str, title: str, data: dict[str, Any]) -> Figure:
    canvas = FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    w, h = canvas.get_width_height()
    return Figure(
        name=name, title=title, png=buf.getvalue(), width_px=int(w), height_px=int(h), data=data
    )


def _time_unit(span: float) -> tuple[float, str]:
    return (60.0, "minutes") if span > 600 else (1.0, "seconds")


# -- timeline --------------------------------------------------------------------------


def timeline_layout(phase: PhaseView) -> dict[str, Any]:
    """Rows (one band per host, lanes inside it for overlapping jobs) and one bar per job."""
    by_host: dict[str, list[Any]] = {}
    for j in phase.jobs:
        by_host.setdefault(j.host or UNKNOWN_HOST, []).append(j)
    hosts = sorted(h for h in by_host if h != UNKNOWN_HOST)
    if UNKNOWN_HOST in by_host:
        hosts.append(UNKNOWN_HOST)
    rows: list[dict[str, Any]] = []
    bars: list[dict[str, Any]] = []
    y = 0
    for host in hosts:
        jobs = sorted(by_host[host], key=lambda j: (phase.offset(j.submitted) or 0.0, j.sequence))
        lane_end: list[float] = []
        placed = []
        for j in jobs:
            start = phase.offset(j.submitted)
            wait, starting, run, split = j.segments()
            if start is None:  # no server creation time: cannot place it on the time axis
                start, wait, starting, run = 0.0, 0.0, 0.0, 0.0
            end = start + wait + starting + run
            lane = next((i for i, e in enumerate(lane_end) if e <= start + 1e-9), None)
            if lane is None:
                if len(lane_end) < MAX_LANES_PER_HOST:
                    lane = len(lane_end)
                    lane_end.append(end)
                else:  # share the lane that frees first
                    lane = min(range(len(lane_end)), key=lane_end.__getitem__)
            lane_end[lane] = max(lane_end[lane], end)
            placed.append((j, lane, start, wait, starting, run, split))
        n_lanes = max(1, len(lane_end))
        rows.append({"host": host, "y0": y, "lanes": n_lanes, "jobs": len(jobs)})
        for j, lane, start, wait, starting, run, split in placed:
            bars.append(
                {
                    "job": j.name,
                    "unique_job_name": j.unique_job_name,
                    "sequence": j.sequence,
                    "host": host,
                    "y": y + lane,
                    "status": j.status,
                    "start": round(start, 3),
                    "wait": wait,
                    "starting": starting,
                    "run": run,
                    "split": split,
                }
            )
        y += n_lanes + 1  # one empty lane between hosts
    events = []
    for e in phase.node_timeline:
        t = phase.offset(parse_ts(e.get("time")))
        if t is not None and e.get("event") in ("added", "ready", "removed"):
            events.append(
                {"time": round(t, 3), "event": e["event"], "node": str(e.get("node") or "")}
            )
    return {
        "phase": phase.name,
        "rows": rows,
        "bars": bars,
        "node_events": events,
        "makespan": phase.makespan,
        "total_lanes": max(y - 1, 1),
    }


def _bars(
    ax: Any,
    ys: list[float],
    lefts: list[float],
    widths: list[float],
    colors: list[str],
    gid: str,
    edge: str | None = None,
    height: float = 0.8,
) -> PolyCollection:
    h = height / 2
    verts = [
        [(x, y - h), (x, y + h), (x + w, y + h), (x + w, y - h)]
        for y, x, w in zip(ys, lefts, widths, strict=True)
    ]
    coll = PolyCollection(
        verts, facecolors=colors, edgecolors=edge or "none", linewidths=0.3 if edge else 0, gid=gid
    )
    ax.add_collection(coll)
    return coll


def timeline_figure(phase: PhaseView) -> Figure:
    """One band per host, one bar per job (queue wait, start-up, run), node events marked."""
    lay = timeline_layout(phase)
    bars, rows, events = lay["bars"], lay["rows"], lay["node_events"]
    ends = [b["start"] + b["wait"] + b["starting"] + b["run"] for b in bars]
    span = max([lay["makespan"] or 0.0, *ends, *(e["time"] for e in events)]) or 1.0
    scale, unit = _time_unit(span)
    height_in = min(28.0, 1.6 + 0.16 * lay["total_lanes"] + 0.3 * len(rows))
    fig = MplFigure(
        figsize=(14, max(3.2, height_in + (0.9 if events else 0))), layout="constrained"
    )
    if events:  # a strip above the bands names each node event
        ev_ax, ax = fig.subplots(2, 1, sharex=True, height_ratios=[0.9, max(height_in, 2.3)])
    else:
        ev_ax, ax = None, fig.add_subplot()
    collections = _job_bars(ax, bars, scale)
    _host_bands(ax, rows, lay["total_lanes"])
    marks = _node_events(ax, ev_ax, events, rows, scale)
    (ev_ax or ax).set_title(
        f"Phase '{phase.name}' — {phase.context} ({phase.mode}, concurrency {phase.concurrency}): "
        f"{len(bars)} jobs on {len([r for r in rows if r['host'] != UNKNOWN_HOST])} host(s)",
        fontsize=10,
        loc="left",
    )
    if len(bars) <= 150:
        _job_names(ax, bars, ends, span, scale)
    _time_axis(ax, lay["makespan"], events, span, scale, unit)
    _timeline_legend(fig, events)
    lay["drawn"] = {
        "wait_bars": len(collections[0].get_paths()),
        "starting_bars": len(collections[1].get_paths()),
        "run_bars": len(collections[2].get_paths()),
        "host_rows": len(ax.get_yticks()),
        "host_labels": [t.get_text().split("\n")[0] for t in ax.get_yticklabels()],
        "node_marks": marks,
        "time_unit": unit,
    }
    return _render(fig, f"timeline_{slug(phase.name)}", f"Timeline: {phase.name}", lay)


def _job_bars(ax: Any, bars: list[dict[str, Any]], scale: float) -> tuple[Any, Any, Any]:
    """One PolyCollection per segment kind, one rectangle per job: fast at 10,000 jobs."""
    ys = [b["y"] for b in bars]
    lefts = [b["start"] / scale for b in bars]
    waits = [b["wait"] / scale for b in bars]
    startings = [b["starting"] / scale for b in bars]
    runs = [b["run"] / scale for b in bars]
    run_colors = [
        COLORS["run"]
        if b["status"] == "completed"
        else COLORS["failed"]
        if b["status"] in ("failed", "submit_failed")
        else COLORS["other"]
        for b in bars
    ]
    starts_s = [a + b for a, b in zip(lefts, waits, strict=True)]
    starts_r = [a + b for a, b in zip(starts_s, startings, strict=True)]
    return (
        _bars(ax, ys, lefts, waits, [COLORS["wait"]], "wait"),
        _bars(ax, ys, starts_s, startings, [COLORS["starting"]], "starting"),
        _bars(ax, ys, starts_r, runs, run_colors, "run", edge="white"),
    )


def _host_bands(ax: Any, rows: list[dict[str, Any]], total_lanes: int) -> None:
    """Label in the middle of each host's band, light shading behind alternate hosts."""
    ticks, labels = [], []
    for i, r in enumerate(rows):
        if i % 2:
            ax.axhspan(r["y0"] - 0.5, r["y0"] + r["lanes"] - 0.5, color="#f3f5f8", zorder=0)
        ticks.append(r["y0"] + (r["lanes"] - 1) / 2)
        labels.append(f"{r['host']}\n{r['jobs']} job{'s' if r['jobs'] != 1 else ''}")
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_ylim(total_lanes + 0.5, -1.5)  # first host at the top


def _node_events(
    ax: Any, ev_ax: Any, events: list[dict[str, Any]], rows: list[dict[str, Any]], scale: float
) -> int:
    """A node's added / ready / removed: a line in its own band (or across), a named mark in the strip."""
    marks = 0
    band = {r["host"]: r for r in rows}
    markers = {"added": "^", "ready": "o", "removed": "v"}
    for k, e in enumerate(sorted(events, key=lambda e: e["time"])):
        x = e["time"] / scale
        color = COLORS[e["event"]]
        r = band.get(e["node"])
        ls = "--" if e["event"] == "ready" else "-"
        if r:  # mark inside the node's own band
            ax.plot([x, x], [r["y0"] - 0.5, r["y0"] + r["lanes"] - 0.5], color=color, lw=2, ls=ls)
        else:
            ax.axvline(x, color=color, lw=1.5, ls=":")
        if ev_ax is not None:
            level = k % 3
            ev_ax.plot([x], [level], marker=markers[e["event"]], color=color, ms=7)
            ev_ax.annotate(
                f"{e['event']} {e['node'].rsplit('-', 1)[-1]}",
                (x, level),
                fontsize=7,
                color=color,
                ha="left",
                va="center",
                xytext=(5, 0),
                textcoords="offset points",
            )
        marks += 1
    if ev_ax is not None:
        ev_ax.set_ylim(2.7, -0.7)
        ev_ax.set_yticks([])
        ev_ax.set_ylabel("nodes", fontsize=8)
        ev_ax.grid(axis="x", color="#dddddd", lw=0.6)
    return marks


def _job_names(
    ax: Any, bars: list[dict[str, Any]], ends: list[float], span: float, scale: float
) -> None:
    """Name each job after its bar where the lane leaves room for it."""
    starts_by_lane: dict[int, list[float]] = {}
    for b in bars:
        starts_by_lane.setdefault(b["y"], []).append(b["start"])
    for b, end in zip(bars, ends, strict=True):
        nxt = min((s for s in starts_by_lane[b["y"]] if s > b["start"]), default=float("inf"))
        if nxt - end >= (len(b["job"]) + 1) * 0.0035 * span:
            ax.annotate(
                b["job"],
                (end / scale, b["y"]),
                fontsize=5.5,
                color="#333333",
                ha="left",
                va="center",
                xytext=(2, 0),
                textcoords="offset points",
            )


def _time_axis(
    ax: Any,
    makespan: float | None,
    events: list[dict[str, Any]],
    span: float,
    scale: float,
    unit: str,
) -> None:
    if makespan is not None:
        ax.axvline(makespan / scale, color=COLORS["makespan"], lw=1.2, ls="--")
        ax.annotate(
            f"makespan {fmt_seconds(makespan)}",
            (makespan / scale, -1.0),
            fontsize=8,
            ha="right",
            va="center",
            xytext=(-3, 0),
            textcoords="offset points",
        )
    first = min([0.0, *(e["time"] for e in events)])
    ax.set_xlim((first - 0.01 * span) / scale if first < 0 else 0, span / scale * 1.06)
    ax.set_xlabel(f"{unit} since the phase's first job was created (server time)")
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)


def _timeline_legend(fig: Any, events: list[dict[str, Any]]) -> None:
    handles = [
        Patch(color=COLORS["wait"], label="queue wait (incl. submission)"),
        Patch(color=COLORS["starting"], label="start-up"),
        Patch(color=COLORS["run"], label="run"),
        Patch(color=COLORS["failed"], label="failed"),
        Line2D([], [], color=COLORS["makespan"], ls="--", label="makespan"),
    ]
    handles += [
        Line2D([], [], color=COLORS[k], lw=2, label=f"node {k}")
        for k in ("added", "ready", "removed")
        if any(e["event"] == k for e in events)
    ]
    fig.legend(
        handles=handles, loc="outside lower center", fontsize=7, ncols=len(handles), frameon=False
    )


# -- makespan and speedup ------------------------------------------------------------------


def _label_bars(ax: Any, bars: Any, texts: list[str]) -> None:
    """Each bar's value written just above it."""
    for rect, text in zip(bars.patches, texts, strict=True):
        ax.annotate(
            text,
            (rect.get_x() + rect.get_width() / 2, rect.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
            xytext=(0, 2),
            textcoords="offset points",
        )


def makespan_figure(phases: list[PhaseView]) -> Figure:
    names = [p.name for p in phases]
    spans = [p.makespan or 0.0 for p in phases]
    scale, unit = _time_unit(max(spans or [1.0]))
    fig = MplFigure(figsize=(12, 4.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[3, 2])
    colors = ["#7f8c8d" if p.baseline else COLORS["run"] for p in phases]
    c1 = ax1.bar(names, [s / scale for s in spans], color=colors, gid="makespan")
    _label_bars(ax1, c1, [fmt_seconds(p.makespan) for p in phases])
    perfect = [
        (i, p.perfect_split_seconds / scale)
        for i, p in enumerate(phases)
        if p.perfect_split_seconds is not None and not p.baseline
    ]
    if perfect:
        ax1.hlines(
            [v for _, v in perfect],
            [i - 0.3 for i, _ in perfect],
            [i + 0.3 for i, _ in perfect],
            colors=COLORS["perfect"],
            linewidth=3,
            zorder=3,
            label="perfect split (baseline ÷ nodes used)",
            path_effects=[patheffects.withStroke(linewidth=5.5, foreground="white")],
        )
        ax1.legend(fontsize=8, loc="best")
    tops = [s / scale for s in spans] + [v for _, v in perfect]
    ax1.set_ylim(0, max(tops + [1e-9]) * 1.18)  # room for the labels above the bars
    ax1.set_ylabel(f"makespan ({unit})")
    ax1.set_title("Makespan per phase (first creation → last end)", fontsize=10, loc="left")
    ax1.grid(axis="y", color="#dddddd", lw=0.6)
    ax1.set_axisbelow(True)

    speed = [p.speedup if p.speedup is not None else (1.0 if p.baseline else 0.0) for p in phases]
    c2 = ax2.bar(names, speed, color=colors, gid="speedup")
    _label_bars(ax2, c2, [f"{v:.2f}×" for v in speed])
    ax2.axhline(1.0, color="#555555", lw=1, ls=":")
    ax2.set_ylim(0, max(speed + [1.0]) * 1.15)
    ax2.set_ylabel("speedup vs baseline (×)")
    ax2.set_title("Speedup (baseline makespan ÷ phase makespan)", fontsize=10, loc="left")
    ax2.grid(axis="y", color="#dddddd", lw=0.6)
    ax2.set_axisbelow(True)
    for ax in (ax1, ax2):
        ax.tick_params(axis="x", labelsize=8, rotation=15 if len(phases) > 4 else 0)
    data = {
        "phases": names,
        "makespan_seconds": [p.makespan for p in phases],
        "speedup": [p.speedup for p in phases],
        "perfect_split_seconds": [p.perfect_split_seconds for p in phases],
        "drawn": {
            "makespan_bars": len(c1.patches),
            "speedup_bars": len(c2.patches),
            "perfect_split_marks": len(perfect),
        },
    }
    return _render(fig, "makespan", "Makespan and speedup per phase", data)


# -- queue wait ------------------------------------------------------------------------------


def queue_wait_figure(phases: list[PhaseView]) -> Figure:
    """One row per phase: a box (quartiles, whiskers at 1.5 IQR) over every job's wait as a dot."""
    series = [(p.name, [j.queue_wait for j in p.jobs if j.queue_wait is not None]) for p in phases]
    series = [(n, w) for n, w in series if w]
    fig = MplFigure(figsize=(12, max(2.6, 1.3 + 0.6 * len(series))), layout="constrained")
    ax = fig.add_subplot()
    top = max((max(w) for _, w in series), default=0.0)
    scale, unit = _time_unit(top)
    dots = 0
    if series:
        data = [[w / scale for w in waits] for _, waits in series]
        ax.boxplot(
            data,
            orientation="horizontal",
            widths=0.5,
            showfliers=False,
            medianprops={"color": COLORS["makespan"]},
            boxprops={"color": "#555555"},
        )
        for i, vals in enumerate(data, 1):
            # deterministic jitter so identical waits stay visible
            ys = [i + ((k * 37) % 21 - 10) / 50 for k in range(len(vals))]
            ax.scatter(
                vals, ys, s=9, alpha=0.6, color=COLORS["wait"], edgecolors="#a07010", linewidths=0.3
            )
            dots += len(vals)
        ax.set_yticks(
            range(1, len(series) + 1),
            [
                f"{n}\nn={len(w)}, p50 {fmt_seconds(median(w))}, max {fmt_seconds(max(w))}"
                for n, w in series
            ],
            fontsize=8,
        )
        ax.invert_yaxis()
    else:
        ax.text(
            0.5,
            0.5,
            "no queue wait recorded (no orchestrator data)",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=10,
            color="#555555",
        )
        ax.set_yticks([])
    ax.set_xlabel(f"queue wait ({unit}, Workload Orchestrator totalTimePending)")
    ax.set_title("Queue wait per phase (one dot per job)", fontsize=10, loc="left")
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    out = {
        "series": [{"phase": n, "jobs": len(w), "max": max(w)} for n, w in series],
        "drawn": {"rows": len(series), "dots": dots},
    }
    return _render(fig, "queue_wait", "Queue wait per phase", out)


def all_figures(phases: list[PhaseView]) -> list[Figure]:
    figs = [makespan_figure(phases), queue_wait_figure(phases)]
    figs += [timeline_figure(p) for p in phases if p.jobs]
    return figs


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
    ax1.plot(
        xs, [p["makespan_seconds"] for p in pts], marker="o", color="#2f6fd6", label="makespan"
    )
    if sw["baseline"]["makespan_seconds"]:
        ax1.axhline(
            sw["baseline"]["makespan_seconds"], color="#7f8c8d", ls=":", label="sequential baseline"
        )
    knee = sw["knee"]
    if knee:
        ax1.plot(
            [knee["concurrency"]],
            [knee["makespan_seconds"]],
            marker="*",
            ms=16,
            color="#d64545",
            ls="none",
            label=f"knee: {knee['concurrency']}",
        )
    ax1.set_xlabel("concurrency level")
    ax1.set_ylabel("makespan (s)")
    ax1.set_title("Makespan per concurrency level", fontsize=10, loc="left")
    ax1.legend(fontsize=8)
    ax1.grid(color="#dddddd", lw=0.6)
    ax2.plot(
        xs,
        [p["queue_wait_p95_seconds"] or 0 for p in pts],
        marker="o",
        color="#f2b134",
        label="queue wait p95 (s)",
    )
    ax2.set_xlabel("concurrency level")
    ax2.set_ylabel("queue wait p95 (s)")
    ax3 = ax2.twinx()
    ax3.step(
        xs, [p["peak_nodes"] or 0 for p in pts], where="mid", color="#2e9e55", label="peak nodes"
    )
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


def whatif_figure(w: WhatIf, unit: str = "s") -> bytes:
    """Three panels (makespan, node-minutes, p95 queue wait) per configuration, with p10-p90
    whiskers; red the fastest, green the cheapest within 10 % of it. PNG bytes."""
    labels = [
        f"c={'all' if c.concurrency is None else c.concurrency}\nn={c.max_nodes}" for c in w.configs
    ]
    fig = MplFigure(figsize=(max(6.0, 0.6 * len(labels) + 2), 8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 1, sharex=True)
    panels = (
        (f"makespan (min, {unit})", lambda c: c.makespan_s, 60.0),
        ("node-minutes", lambda c: c.node_minutes, 1.0),
        (f"p95 queue wait ({unit})", lambda c: c.queue_wait_p95_s, 1.0),
    )
    xs = list(range(len(labels)))
    colors = [
        "#d62728" if c.fastest else "#2ca02c" if c.cheapest_near_fastest else "#1f77b4"
        for c in w.configs
    ]
    for ax, (title, get, k) in zip(axes, panels, strict=True):
        mids = [get(c).median / k for c in w.configs]
        err = [
            [(get(c).median - get(c).low) / k for c in w.configs],
            [(get(c).high - get(c).median) / k for c in w.configs],
        ]
        ax.bar(xs, mids, yerr=err, color=colors, capsize=3)
        ax.set_ylabel(title)
    axes[-1].set_xticks(xs, labels, fontsize=7)
    axes[0].set_title(
        f"what-if: {w.jobs} jobs, {w.replicates} replicates (bars: median, "
        "whiskers p10-p90; red fastest, green cheapest within 10 %)",
        fontsize=9,
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()
