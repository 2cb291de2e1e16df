"""Skimming many results files: each run's and phase's figures, without the per-job records.

`jes-runner trend` reads every results file on a volume (2,000 in under 5 s). A nightly
results file is about half a megabyte, over 90 % of it per-job records, and ``json.loads``
of all of it costs ~4 ms, so reading them whole would take ~8 s for 2,000 files.

The runner writes its files with ``json.dump(indent=2)`` (results/files.py), and JSON
strings never hold a raw newline: inside the ``phases`` array a line ``\\n      "stats": ``
can only be a phase's own key. The skim decodes just those values (``raw_decode`` at
their offset) and the small top-level ones. Any file that does not look exactly like that
(another indentation, the original tool's files, a figure only the jobs can give) is read
by ``views.load_results`` + ``phase_views``, the one reader of every schema version, so
both paths give the same summary (tests/results/test_skim.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jes_runner._util import parse_ts
from jes_runner.errors import JesError
from jes_runner.results.views import load_results, phase_views

# what the runner's json.dump(indent=2) puts at the start of every results file
_RUNNER_HEAD = b'{\n  "schema_version": 1,'
_TOP_KEY = re.compile(rb'\n  "([A-Za-z_]+)": ')  # depth 1: two spaces, then the key
_PHASES_OPEN = b'\n  "phases": [\n'
# the phases array line by line: its close (depth 1), a phase object's start (depth 2) or one
# of a phase's own keys (depth 3); deeper lines fail at their sixth space
_PHASE_LINE = re.compile(rb'\n(?:(  \])|(    \{)|      "([A-Za-z_]+)": )')
_PHASE_ARRAY_CLOSE = b"\n      ]"  # a phase's own array (jobs, node_timeline) closing
TOP_KEYS = ("schema_version", "run_id", "status", "emulator", "metadata")
PHASE_KEYS = (
    "name",
    "context",
    "mode",
    "concurrency",
    "baseline",
    "status",
    "stats",
    "vs_baseline",
    "scaling",
    "cost",
    "cold_start",
)
LABEL_KEYS = ("cluster", "environment", "profile")
_DECODER = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class PhaseSummary:
    """One phase's plan and figures (no job records)."""

    name: str
    baseline: bool
    context: str
    mode: str
    concurrency: int
    status: str
    cold_start: bool
    stats: dict[str, Any]
    vs_baseline: dict[str, Any] | None
    scaling: dict[str, Any] | None
    cost: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One results file's run: identity, labels, emulator model, phases."""

    source: str
    schema_version: int
    run_id: str
    status: str
    started: datetime | None
    emulated: bool
    labels: dict[str, str]  # cluster / environment / profile as recorded (absent: not recorded)
    speed_factor: float | None  # emulated runs: model seconds = served seconds / speed_factor
    scenario: str | None
    tool_version: str | None
    phases: list[PhaseSummary]
    skimmed: bool  # True: read by the fast path (figures only), False: read whole


def summarize(path: str | Path) -> RunSummary:
    """The run summary of one results file; one-line JesError when it is not a results file."""
    p = Path(path)
    if p.name.endswith(".checkpoint.jsonl"):
        load_results(p)  # the one message for a checkpoint
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise JesError(f"{p}: no such results file") from None
    except OSError as e:
        raise JesError(f"{p}: cannot read results file ({e.__class__.__name__})") from None
    fast = _skim(data, str(p))
    return fast if fast is not None else _whole(p)


def _whole(p: Path) -> RunSummary:
    """Through the one reader: every schema version and the original tool's files."""
    results = load_results(p)
    phases = [
        PhaseSummary(
            name=v.name,
            baseline=v.baseline,
            context=v.context,
            mode=v.mode,
            concurrency=v.concurrency,
            status=v.status,
            cold_start=bool(v.raw.get("cold_start")),
            stats=v.stats,
            vs_baseline=v.vs_baseline,
            scaling=_dict_or_none(v.raw.get("scaling")),
            cost=_dict_or_none(v.raw.get("cost")),
        )
        for v in phase_views(results)
    ]
    return _run(results, phases, str(p), skimmed=False)


def _skim(data: bytes, source: str) -> RunSummary | None:
    """The fast path for the runner's own files; None: read the file whole instead."""
    if not data.startswith(_RUNNER_HEAD) or not data[-64:].rstrip().endswith(b"\n}"):
        return None  # not the runner's layout, or cut short (the whole read names the damage)
    start = data.find(_PHASES_OPEN)
    if start < 0:
        return None  # no phases array, or an empty one written inline
    try:
        top = _top_values(data, start)
        raw = _phase_values(data, start + len(_PHASES_OPEN) - 1)
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    phases = [_skim_phase(d) for d in raw]
    if not phases or None in phases or not isinstance(top.get("metadata"), dict):
        return None
    return _run(top, [p for p in phases if p is not None], source, skimmed=True)


def _decode_at(data: bytes, at: int, end: int) -> Any:
    """The JSON value starting at ``at`` (the bytes up to ``end`` hold it whole)."""
    value, _ = _DECODER.raw_decode(data[at:end].decode("utf-8"))
    return value


def _top_values(data: bytes, end: int) -> dict[str, Any]:
    """The wanted top-level values before the phases array."""
    keys = list(_TOP_KEY.finditer(data, 0, end))
    out: dict[str, Any] = {}
    for m, nxt in zip(keys, [*(k.start() for k in keys[1:]), end], strict=True):
        name = m.group(1).decode("ascii")
        if name in TOP_KEYS:
            out[name] = _decode_at(data, m.end(), nxt)
    return out


def _phase_values(data: bytes, pos: int) -> list[dict[str, Any]]:
    """Each phase's wanted own keys; a phase's arrays (its jobs) are jumped over, not scanned."""
    phases: list[dict[str, Any]] = []
    pending: tuple[str, int] | None = None  # a wanted key whose value runs to the next line found
    while (m := _PHASE_LINE.search(data, pos)) is not None:
        if pending is not None:
            phases[-1][pending[0]] = _decode_at(data, pending[1], m.start())
            pending = None
        if m.group(1):  # the phases array closed
            return phases
        pos = m.end()
        if m.group(2):
            phases.append({})
            continue
        name = m.group(3).decode("ascii")
        if not phases:
            break
        if name in PHASE_KEYS:
            pending = (name, m.end())
        elif data[m.end() : m.end() + 2] == b"[\n":
            pos = _array_close(data, m.end())  # the jobs: ~90 % of the file
    raise ValueError("phases array not closed")


def _array_close(data: bytes, pos: int) -> int:
    """Offset of the line closing a phase's own array: a search for the rare byte `]` (memchr
    speed) checked for its indentation beats a search for the whole line, which is mostly spaces."""
    indent = len(_PHASE_ARRAY_CLOSE) - 1
    while True:
        i = data.index(b"]", pos)
        if data[i - indent : i] == _PHASE_ARRAY_CLOSE[:-1]:
            return i - indent
        pos = i + 1


def _skim_phase(d: dict[str, Any]) -> PhaseSummary | None:
    """A phase from its own keys; None when a figure needs the jobs (the whole read derives it)."""
    stats, vs = d.get("stats"), d.get("vs_baseline")
    if not isinstance(stats, dict) or stats.get("makespan_seconds") is None:
        return None
    if not d.get("baseline") and not isinstance(vs, dict):
        return None
    return PhaseSummary(
        name=str(d.get("name") or "phase"),
        baseline=bool(d.get("baseline")),
        context=str(d.get("context") or ""),
        mode=str(d.get("mode") or ""),
        concurrency=int(d.get("concurrency") or 1),
        status=str(d.get("status") or ""),
        cold_start=bool(d.get("cold_start")),
        stats=stats,
        vs_baseline=vs if isinstance(vs, dict) else None,
        scaling=_dict_or_none(d.get("scaling")),
        cost=_dict_or_none(d.get("cost")),
    )


def _run(
    top: dict[str, Any], phases: list[PhaseSummary], source: str, *, skimmed: bool
) -> RunSummary:
    meta = _dict_or_empty(top.get("metadata"))
    labels = _dict_or_empty(meta.get("labels"))
    settings = _dict_or_empty(meta.get("settings"))
    # a label the file does not record under labels may still be in its (masked) settings
    labels = {
        k: labels.get(k) or settings.get(k) for k in LABEL_KEYS if labels.get(k) or settings.get(k)
    }
    model = _dict_or_empty(meta.get("emulator_model"))
    emulated = bool(top.get("emulator", meta.get("emulator")))
    sf = model.get("speed_factor")
    return RunSummary(
        source=source,
        schema_version=int(top.get("schema_version") or 0),
        run_id=str(top.get("run_id") or ""),
        status=str(top.get("status") or ""),
        started=parse_ts(meta.get("started_at") or meta.get("execution_timestamp")),
        emulated=emulated,
        labels={k: str(v) for k, v in labels.items()},
        speed_factor=float(sf) if emulated and isinstance(sf, int | float) and sf > 0 else None,
        scenario=str(model["scenario"]) if emulated and model.get("scenario") else None,
        tool_version=str(meta["tool_version"]) if meta.get("tool_version") else None,
        phases=phases,
        skimmed=skimmed,
    )


def _dict_or_none(v: Any) -> dict[str, Any] | None:
    return v if isinstance(v, dict) else None


def _dict_or_empty(v: Any) -> dict[str, Any]:
    """A section of the document, or {} when an older or damaged file lacks it."""
    return v if isinstance(v, dict) else {}
