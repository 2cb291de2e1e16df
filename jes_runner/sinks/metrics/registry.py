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
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
LABEL_KEYS = (
    "cluster",
    "environment",
    "profile",
)  # every series; with job, the push's grouping key
LABEL_FALLBACK = {"cluster": "default", "environment": "default", "profile": DEFAULT_PROFILE}
PHASE_LABELS = ("phase", "context", "mode")
JOB_LABELS = (*PHASE_LABELS, "sas_job_name")
OUTCOMES = ("completed", "failed", "canceled", "timed_out")
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


def build_registry(
    results: Mapping[str, Any], labels: Mapping[str, str] | None = None
) -> CollectorRegistry:
    """All metrics of one run, from a results dict of the contract (pure: no I/O, no clock).

    ``labels`` (default: the file's metadata.labels) are added to every series; the
    push uses the same values in the grouping key.
    """
    labels = dict(labels) if labels is not None else default_labels(results)
    meta = results.get("metadata") or {}
    ok = run_succeeded(results)
    f = _Families(labels)

    # run outcome
    # emulated="true": the figures come from the embedded emulator, whatever the cluster label says
    f.gauge(
        "jes_run_info",
        "Identity of the latest run (value 1).",
        ("run_id", "version", "status", "emulated"),
    )
    f.gauge("jes_run_timestamp_seconds", "When the latest run ended (unix seconds).")
    f.gauge("jes_run_duration_seconds", "Wall-clock duration of the latest run.")
    f.gauge("jes_run_success", "1 if the latest run completed with every job completed, else 0.")
    f.set(
        "jes_run_info",
        1.0,
        str(results.get("run_id") or ""),
        str(meta.get("tool_version") or __version__),
        str(results.get("status") or "unknown"),
        "true" if results.get("emulator", meta.get("emulator")) else "false",
    )
    ended = epoch_seconds(meta.get("ended_at"))
    f.set("jes_run_timestamp_seconds", ended)
    f.set("jes_run_duration_seconds", _num(meta.get("duration_seconds")))
    f.set("jes_run_success", 1.0 if ok else 0.0)
    if ok:  # never present in a failed run's push: the POST then leaves the old value alone
        f.gauge(
            "jes_last_success_timestamp_seconds",
            "When the last successful run ended (unix seconds).",
        )
        f.set("jes_last_success_timestamp_seconds", ended)

    # per phase
    pl = PHASE_LABELS
    f.gauge(
        "jes_phase_makespan_seconds",
        "Phase makespan: first job created to last job ended (server time).",
        pl,
    )
    f.gauge(
        "jes_phase_jobs",
        "Jobs of the phase by outcome ('other': e.g. submit failures).",
        (*pl, "outcome"),
    )
    f.gauge("jes_phase_unmatched_jobs", "Jobs without a Workload Orchestrator match.", pl)
    f.gauge(
        "jes_phase_job_duration_seconds",
        "Server job duration across the phase (stat: p50, p95, max).",
        (*pl, "stat"),
    )
    f.gauge(
        "jes_phase_queue_wait_seconds",
        "Orchestrator queue wait across the phase (stat: p50, p95, max).",
        (*pl, "stat"),
    )
    f.gauge("jes_phase_hosts_used", "Distinct execution hosts used by the phase.", pl)
    f.gauge("jes_phase_peak_nodes", "Peak number of nodes running the phase's jobs at once.", pl)
    f.gauge("jes_phase_summed_run_seconds", "Sum of the phase's job run times.", pl)
    f.gauge("jes_phase_concurrency", "Configured concurrency of the phase.", pl)
    f.gauge("jes_phase_concurrency_achieved", "Concurrency the phase achieved.", pl)
    f.gauge(
        "jes_phase_speedup_ratio",
        "Baseline makespan / phase makespan (absent for the baseline).",
        pl,
    )
    f.gauge("jes_phase_time_saved_seconds", "Baseline makespan minus phase makespan.", pl)
    f.gauge(
        "jes_phase_efficiency_gain_ratio",
        "Efficiency gain vs the baseline as a ratio (results file: percent).",
        pl,
    )
    f.gauge(
        "jes_phase_idle_seconds",
        "Time in the phase window with none of its jobs on the server.",
        pl,
    )
    f.gauge("jes_phase_busy_makespan_seconds", "Phase makespan without its idle gaps.", pl)
    f.gauge(
        "jes_phase_busy_speedup_ratio",
        "Baseline busy time / phase busy time (jobs completed in both).",
        pl,
    )
    f.gauge(
        "jes_phase_comparable",
        "1 if the phase is comparable with the baseline (no failure, timeout, abort).",
        pl,
    )
    # node-pool scaling (phases[].scaling: from Kubernetes, else the orchestrator's hosts)
    f.gauge(
        "jes_phase_scaling_info",
        "Where the phase's node figures came from (value 1).",
        (*pl, "source"),
    )
    f.gauge("jes_phase_time_to_first_scale_up_seconds", "Phase start to the first node added.", pl)
    f.gauge(
        "jes_phase_node_seconds", "Node-seconds the phase's pools were up during the phase.", pl
    )
    f.gauge("jes_phase_nodes_added", "Nodes added during the phase.", pl)
    f.gauge("jes_phase_nodes_removed", "Nodes removed during the phase.", pl)
    f.gauge("jes_phase_node_jobs", "Jobs of the phase that ran on each node.", (*pl, "node"))
    # per job (bounded: jobs x phases)
    f.gauge("jes_job_duration_seconds", "Server duration of one job in one phase.", JOB_LABELS)
    f.gauge(
        "jes_job_queue_wait_seconds", "Orchestrator queue wait of one job in one phase.", JOB_LABELS
    )

    for phase in results.get("phases") or []:
        pv = (
            str(phase.get("name") or ""),
            str(phase.get("context") or ""),
            str(phase.get("mode") or ""),
        )
        st = phase.get("stats") or {}
        f.set("jes_phase_makespan_seconds", _num(st.get("makespan_seconds")), *pv)
        counted = 0.0
        for outcome in OUTCOMES:
            n = _num(st.get(f"jobs_{outcome}")) or 0.0
            counted += n
            f.set("jes_phase_jobs", n, *pv, outcome)
        total = _num(st.get("jobs_total"))
        f.set("jes_phase_jobs", max((total or counted) - counted, 0.0), *pv, "other")
        f.set("jes_phase_unmatched_jobs", float(len(phase.get("unmatched_jobs") or [])), *pv)
        for stat in STATS:
            f.set(
                "jes_phase_job_duration_seconds",
                _num(st.get(f"duration_{stat}_seconds")),
                *pv,
                stat,
            )
            f.set(
                "jes_phase_queue_wait_seconds",
                _num(st.get(f"queue_wait_{stat}_seconds")),
                *pv,
                stat,
            )
        f.set("jes_phase_hosts_used", _num(st.get("hosts_used")), *pv)
        f.set("jes_phase_peak_nodes", _num(st.get("peak_nodes")), *pv)
        f.set("jes_phase_summed_run_seconds", _num(st.get("sum_run_seconds")), *pv)
        f.set("jes_phase_concurrency", _num(phase.get("concurrency")), *pv)
        f.set("jes_phase_concurrency_achieved", _num(st.get("concurrency_achieved")), *pv)
        vs = phase.get("vs_baseline") or {}
        f.set("jes_phase_speedup_ratio", _num(vs.get("speedup")), *pv)
        f.set("jes_phase_time_saved_seconds", _num(vs.get("time_saved_seconds")), *pv)
        f.set("jes_phase_idle_seconds", _num(st.get("idle_seconds")), *pv)
        f.set("jes_phase_busy_makespan_seconds", _num(st.get("busy_makespan_seconds")), *pv)
        f.set("jes_phase_busy_speedup_ratio", _num(vs.get("busy_speedup")), *pv)
        if isinstance(vs.get("comparable"), bool):
            f.set("jes_phase_comparable", 1.0 if vs["comparable"] else 0.0, *pv)
        gain = _num(vs.get("efficiency_gain_percent"))
        f.set("jes_phase_efficiency_gain_ratio", None if gain is None else gain / 100.0, *pv)
        sc = phase.get("scaling") or {}
        if sc.get("source"):
            f.set("jes_phase_scaling_info", 1.0, *pv, str(sc["source"]))
        f.set(
            "jes_phase_time_to_first_scale_up_seconds",
            _num(sc.get("time_to_first_scale_up_seconds")),
            *pv,
        )
        f.set("jes_phase_node_seconds", _num(sc.get("node_seconds")), *pv)
        f.set("jes_phase_nodes_added", _num(sc.get("nodes_added")), *pv)
        f.set("jes_phase_nodes_removed", _num(sc.get("nodes_removed")), *pv)
        for node, n in sorted((sc.get("jobs_per_node") or {}).items()):
            f.set("jes_phase_node_jobs", _num(n), *pv, str(node))
        for name, rec in _phase_job_names(phase.get("jobs") or []):
            f.set("jes_job_duration_seconds", _num(rec.get("duration")), *pv, name)
            f.set("jes_job_queue_wait_seconds", _queue_wait(rec), *pv, name)

    if not ok:
        f.fill_empty()
    registry = CollectorRegistry(auto_describe=True)
    registry.register(f)
    return registry


# -- pushing ------------------------------------------------------------------------


# -- `jes-runner push RESULTS.json` -------------------------------------------------
