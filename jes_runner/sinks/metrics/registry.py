"""Pushgateway sink: turn a results dict (docs/ARCHITECTURE.md, results file contract)
into Prometheus metrics and push them at the end of a run.

Batch-job guidance (prometheus.io/docs/practices/instrumentation/#batch-jobs,
/docs/practices/pushing/): one push per run, no client-side timestamps, every
name prefixed ``jes_`` (the Pushgateway of a Viya monitoring stack is shared
with the Workload Orchestrator; a type clash there rejects the whole push).

Grouping key: ``job="jes-runner"`` plus the deployment's ``cluster`` and
``environment`` -- constant per deployment, so the gateway holds exactly one
group per deployment and nothing piles up. The run id is a label of
``jes_run_info`` only.

How the registry is pushed (PUT or POST, auth, retries): :mod:`.push`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from jes_runner import __version__
from jes_runner._util import epoch_seconds
from jes_runner._util import finite as _num
from jes_runner.config.settings import DEFAULT_PROFILE

log = logging.getLogger(__name__)

JOB = "jes-runner"  # the `job` grouping label: constant, never per run
# every series; with job, the push's grouping key
LABEL_KEYS = ("cluster", "environment", "profile")
LABEL_FALLBACK = {"cluster": "default", "environment": "default", "profile": DEFAULT_PROFILE}
PHASE_LABELS = ("phase", "context", "mode")
JOB_LABELS = (*PHASE_LABELS, "sas_job_name")
OUTCOMES = ("completed", "failed", "canceled", "timed_out", "data_error", "unknown")
STATS = ("p50", "p95", "max")
SUCCESS_STATUS = "completed"


# -- building the registry ----------------------------------------------------------


def run_succeeded(results: Mapping[str, Any]) -> bool:
    return results.get("status") == SUCCESS_STATUS


class _Families(Collector):
    """A fixed set of gauge families (what one run pushes); every sample carries `const` labels."""

    def __init__(self, const: Mapping[str, str]) -> None:
        self._const = dict(const)
        self._families: dict[str, tuple[GaugeMetricFamily, tuple[str, ...]]] = {}

    def gauge(self, name: str, doc: str, labels: Sequence[str] = ()) -> str:
        self._families[name] = (
            GaugeMetricFamily(name, doc, labels=[*self._const, *labels]),
            tuple(labels),
        )
        return name

    def set(self, name: str, value: float | None, *labelvalues: str) -> None:
        if value is None:
            return
        fam, labels = self._families[name]
        assert len(labelvalues) == len(labels), name
        fam.add_metric([*self._const.values(), *labelvalues], value)

    def fill_empty(self) -> None:
        """One NaN series with empty labels in each empty family (POST must replace it)."""
        for fam, labels in self._families.values():
            if not fam.samples:
                fam.add_metric([*self._const.values(), *([""] * len(labels))], math.nan)

    def collect(self) -> Iterator[Metric]:
        return iter(fam for fam, _ in self._families.values())


def _phase_job_names(jobs: Iterable[Mapping[str, Any]]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(sas_job_name, record); a name repeated in one phase gets ' #2', ' #3' (no duplicate series)."""
    seen: dict[str, int] = {}
    for rec in jobs:
        name = str(rec.get("name") or rec.get("unique_job_name") or "unnamed")
        seen[name] = seen.get(name, 0) + 1
        yield (name if seen[name] == 1 else f"{name} #{seen[name]}"), rec


def _queue_wait(rec: Mapping[str, Any]) -> float | None:
    od = (rec.get("metrics") or {}).get("orchestrator_data") or {}
    return _num(od.get("queue_wait_seconds"))


def default_labels(results: Mapping[str, Any], settings: Any = None) -> dict[str, str]:
    """cluster/environment/profile recorded in the results file, else from settings, else the
    defaults ('default', 'default', 'adhoc': a file from before profiles joins the ad-hoc group)."""
    recorded = ((results.get("metadata") or {}).get("labels")) or {}
    out = {}
    for key in LABEL_KEYS:
        value = recorded.get(key) or getattr(settings, key, None) or LABEL_FALLBACK[key]
        out[key] = str(value)
    return out


@dataclass(frozen=True, slots=True)
class _Gauge:
    """One per-phase gauge: its name, help, where its value comes from and whether it is a duration
    (an emulated run's durations are shown in the modelled cluster's seconds)."""

    name: str
    doc: str
    value: Callable[[Mapping[str, Any]], Any]
    seconds: bool = False


def _stat(key: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda phase: (phase.get("stats") or {}).get(key)


def _vs(key: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda phase: (phase.get("vs_baseline") or {}).get(key)


def _scaling(key: str, old: str | None = None) -> Callable[[Mapping[str, Any]], Any]:
    def get(phase: Mapping[str, Any]) -> Any:
        sc = phase.get("scaling") or {}
        return sc.get(key, sc.get(old) if old else None)

    return get


def _gain_ratio(phase: Mapping[str, Any]) -> float | None:
    gain = _num((phase.get("vs_baseline") or {}).get("efficiency_gain_percent"))
    return None if gain is None else gain / 100.0


PHASE_GAUGES = (
    _Gauge(
        "jes_phase_makespan_seconds",
        "Phase makespan: first job created to last job ended (server time).",
        _stat("makespan_seconds"),
        seconds=True,
    ),
    _Gauge(
        "jes_phase_unmatched_jobs",
        "Jobs without a Workload Orchestrator match.",
        lambda p: float(len(p.get("unmatched_jobs") or [])),
    ),
    _Gauge(
        "jes_phase_hosts_used", "Distinct execution hosts used by the phase.", _stat("hosts_used")
    ),
    _Gauge(
        "jes_phase_peak_nodes",
        "Peak number of nodes running the phase's jobs at once.",
        _stat("peak_nodes"),
    ),
    _Gauge(
        "jes_phase_summed_run_seconds",
        "Sum of the phase's job run times.",
        _stat("sum_run_seconds"),
        seconds=True,
    ),
    _Gauge(
        "jes_phase_concurrency",
        "Configured concurrency of the phase (beside jes_phase_concurrency_achieved).",
        lambda p: p.get("concurrency"),
    ),
    _Gauge(
        "jes_phase_concurrency_achieved",
        "Concurrency the phase achieved: summed run time / makespan.",
        _stat("concurrency_achieved"),
    ),
    _Gauge(
        "jes_phase_speedup_ratio",
        "Baseline makespan / phase makespan (absent for the baseline).",
        _vs("speedup"),
    ),
    _Gauge(
        "jes_phase_time_saved_seconds",
        "Baseline makespan minus phase makespan.",
        _vs("time_saved_seconds"),
        seconds=True,
    ),
    _Gauge(
        "jes_phase_efficiency_gain_ratio",
        "Efficiency gain vs the baseline as a ratio (results file: percent).",
        _gain_ratio,
    ),
    _Gauge(
        "jes_phase_idle_seconds",
        "Time in the phase window with none of its jobs on the server.",
        _stat("idle_seconds"),
        seconds=True,
    ),
    _Gauge(
        "jes_phase_busy_makespan_seconds",
        "Phase makespan without its idle gaps.",
        _stat("busy_makespan_seconds"),
        seconds=True,
    ),
    _Gauge(
        "jes_phase_busy_speedup_ratio",
        "Baseline busy time / phase busy time (jobs completed in both): what thresholds judge.",
        _vs("busy_speedup"),
    ),
    _Gauge(
        "jes_phase_api_error_seconds",
        "Time Viya answered the phase's requests with errors.",
        _stat("api_error_seconds"),
        seconds=True,
    ),
    _Gauge(
        "jes_phase_cold_start_wait_seconds",
        "Wait before the phase for its pool to be back at its minimum nodes (cold_start phases).",
        lambda p: (p.get("cold_start") or {}).get("waited_seconds"),
        seconds=True,
    ),
    _Gauge(
        "jes_phase_warm_nodes_at_start",
        "Nodes of the phase's pools already up when it started.",
        lambda p: p.get("warm_nodes_at_start"),
    ),
    # node-pool scaling (phases[].scaling: from Kubernetes, else the orchestrator's hosts)
    _Gauge(
        "jes_phase_time_to_first_node_request_seconds",
        "Phase start to the first node its demand requested (not yet able to run anything).",
        _scaling("time_to_first_node_request_seconds", old="time_to_first_scale_up_seconds"),
        seconds=True,
    ),
    _Gauge(
        "jes_phase_time_to_first_node_ready_seconds",
        "Phase start (first job created) to the first node its demand added being Ready.",
        _scaling("time_to_first_node_ready_seconds"),
        seconds=True,
    ),
    _Gauge(
        "jes_phase_time_to_first_job_on_new_node_seconds",
        "Phase start to the first of its jobs starting on a node it added.",
        _scaling("time_to_first_job_on_new_node_seconds"),
        seconds=True,
    ),
    _Gauge(
        "jes_phase_node_seconds",
        "Node-seconds the phase's pools were up during the phase.",
        _scaling("node_seconds"),
        seconds=True,
    ),
    _Gauge("jes_phase_nodes_added", "Nodes added during the phase.", _scaling("nodes_added")),
    _Gauge("jes_phase_nodes_removed", "Nodes removed during the phase.", _scaling("nodes_removed")),
)


def model_scale(results: Mapping[str, Any]) -> float:
    """Served seconds -> seconds shown: 1 / speed_factor for an emulated run, else 1."""
    meta = results.get("metadata") or {}
    speed = _num((meta.get("emulator_model") or {}).get("speed_factor"))
    return 1.0 / speed if is_emulated(results) and speed else 1.0


def is_emulated(results: Mapping[str, Any]) -> bool:
    return bool(results.get("emulator", (results.get("metadata") or {}).get("emulator")))


def _scaled(value: Any, scale: float) -> float | None:
    v = _num(value)
    return None if v is None else v * scale


def _run_metrics(f: _Families, results: Mapping[str, Any], ok: bool, scale: float) -> None:
    meta = results.get("metadata") or {}
    # emulated="true" (also a label of every series): the figures come from the embedded emulator
    f.gauge(
        "jes_run_info",
        "Identity of the latest run (value 1).",
        ("run_id", "version", "status", "speed_factor"),
    )
    f.gauge("jes_run_timestamp_seconds", "When the latest run ended (unix seconds).")
    f.gauge("jes_run_duration_seconds", "Duration of the latest run (emulated: model seconds).")
    f.gauge("jes_run_success", "1 if the latest run completed with every job completed, else 0.")
    speed = (meta.get("emulator_model") or {}).get("speed_factor")
    f.set(
        "jes_run_info",
        1.0,
        str(results.get("run_id") or ""),
        str(meta.get("tool_version") or __version__),
        str(results.get("status") or "unknown"),
        "" if speed is None or not is_emulated(results) else str(speed),
    )
    ended = epoch_seconds(meta.get("ended_at"))
    f.set("jes_run_timestamp_seconds", ended)
    f.set("jes_run_duration_seconds", _scaled(meta.get("duration_seconds"), scale))
    f.set("jes_run_success", 1.0 if ok else 0.0)
    if ok:  # never present in a failed run's push: the POST then leaves the old value alone
        f.gauge(
            "jes_last_success_timestamp_seconds",
            "When the last successful run ended (unix seconds).",
        )
        f.set("jes_last_success_timestamp_seconds", ended)


def _declare_phase_families(f: _Families) -> None:
    pl = PHASE_LABELS
    f.gauge(
        "jes_phase_jobs",
        "Jobs of the phase by outcome ('other': e.g. submit failures).",
        (*pl, "outcome"),
    )
    for stat_name, doc in (
        ("jes_phase_job_duration_seconds", "Server job duration across the phase"),
        ("jes_phase_queue_wait_seconds", "Orchestrator queue wait across the phase"),
    ):
        f.gauge(stat_name, f"{doc} (stat: p50, p95, max).", (*pl, "stat"))
    for g in PHASE_GAUGES:
        f.gauge(g.name, g.doc, pl)
    f.gauge(
        "jes_phase_comparable",
        '1 if the phase is comparable with the baseline; reason: why not ("" when it is).',
        (*pl, "reason"),
    )
    f.gauge(
        "jes_phase_scaling_info",
        "Where the phase's node figures came from (value 1).",
        (*pl, "source"),
    )
    f.gauge("jes_phase_node_jobs", "Jobs of the phase that ran on each node.", (*pl, "node"))
    f.gauge(
        "jes_phase_cost",
        "What the phase's nodes cost: node-hours x the run's node-hour price (emulated: the "
        "modelled cluster's node-hours); only from priced runs.",
        (*pl, "currency"),
    )
    # per job (bounded: jobs x phases)
    f.gauge("jes_job_duration_seconds", "Server duration of one job in one phase.", JOB_LABELS)
    f.gauge(
        "jes_job_queue_wait_seconds", "Orchestrator queue wait of one job in one phase.", JOB_LABELS
    )


def _phase_jobs(f: _Families, st: Mapping[str, Any], pv: tuple[str, ...]) -> None:
    counted = 0.0
    for outcome in OUTCOMES:
        n = _num(st.get(f"jobs_{outcome}")) or 0.0
        counted += n
        f.set("jes_phase_jobs", n, *pv, outcome)
    total = _num(st.get("jobs_total"))
    f.set("jes_phase_jobs", max((total or counted) - counted, 0.0), *pv, "other")


def _phase_metrics(
    f: _Families, phase: Mapping[str, Any], pv: tuple[str, ...], scale: float
) -> None:
    st = phase.get("stats") or {}
    _phase_jobs(f, st, pv)
    for stat in STATS:
        for name, key in (
            ("jes_phase_job_duration_seconds", f"duration_{stat}_seconds"),
            ("jes_phase_queue_wait_seconds", f"queue_wait_{stat}_seconds"),
        ):
            f.set(name, _scaled(st.get(key), scale), *pv, stat)
    for g in PHASE_GAUGES:
        f.set(g.name, _scaled(g.value(phase), scale if g.seconds else 1.0), *pv)
    vs = phase.get("vs_baseline") or {}
    if isinstance(vs.get("comparable"), bool):
        reason = "" if vs["comparable"] else ",".join(vs.get("reasons") or ["unknown"])
        f.set("jes_phase_comparable", 1.0 if vs["comparable"] else 0.0, *pv, reason)
    sc = phase.get("scaling") or {}
    if sc.get("source"):
        f.set("jes_phase_scaling_info", 1.0, *pv, str(sc["source"]))
    cost = phase.get("cost") or {}
    # already in the modelled cluster's node-hours for an emulated run (results/cost.py)
    f.set("jes_phase_cost", _num(cost.get("amount")), *pv, str(cost.get("currency") or ""))
    for node, n in sorted((sc.get("jobs_per_node") or {}).items()):
        f.set("jes_phase_node_jobs", _num(n), *pv, str(node))
    for name, rec in _phase_job_names(phase.get("jobs") or []):
        f.set("jes_job_duration_seconds", _scaled(rec.get("duration"), scale), *pv, name)
        f.set("jes_job_queue_wait_seconds", _scaled(_queue_wait(rec), scale), *pv, name)


def build_registry(
    results: Mapping[str, Any], labels: Mapping[str, str] | None = None
) -> CollectorRegistry:
    """All metrics of one run, from a results dict of the contract (pure: no I/O, no clock).

    ``labels`` (default: the file's metadata.labels) are added to every series; the
    push uses the same values in the grouping key. Every series also carries
    ``emulated`` ("true"/"false"); an emulated run's durations are model seconds.
    """
    labels = dict(labels) if labels is not None else default_labels(results)
    ok = run_succeeded(results)
    scale = model_scale(results)
    f = _Families({**labels, "emulated": "true" if is_emulated(results) else "false"})
    _run_metrics(f, results, ok, scale)
    _declare_phase_families(f)
    for phase in results.get("phases") or []:
        pv = tuple(str(phase.get(k) or "") for k in ("name", "context", "mode"))
        _phase_metrics(f, phase, pv, scale)
    if not ok:
        f.fill_empty()
    registry = CollectorRegistry(auto_describe=True)
    registry.register(f)
    return registry


# -- pushing ------------------------------------------------------------------------


# -- `jes-runner push RESULTS.json` -------------------------------------------------
