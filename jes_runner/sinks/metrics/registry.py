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

Push semantics (why not "PUT, then POST last-success": a later failed run's PUT
would replace the whole group and erase the last success):

* run succeeded (status ``completed``): **PUT** -- the group becomes exactly this
  run's series, including ``jes_last_success_timestamp_seconds``; series of
  earlier runs (other jobs, renamed phases, retired metric names) disappear.
* run did not succeed: **POST** -- the gateway replaces every pushed metric
  *family* wholesale (all its series) and keeps families not in the push, so the
  last success survives. The Pushgateway ignores a family without samples, so
  a family that would be empty (e.g. no job got a duration) gets one NaN
  placeholder series with empty labels; that still replaces the earlier run's
  series instead of leaving them to look current.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import math
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from prometheus_client import CollectorRegistry, push_to_gateway, pushadd_to_gateway
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from jes_runner import __version__
from jes_runner.errors import ExitCode, JesError
from jes_runner.measure.records import finite as _num

log = logging.getLogger(__name__)

JOB = "jes-runner"  # the `job` grouping label: constant, never per run
LABEL_KEYS = ("cluster", "environment")
PHASE_LABELS = ("phase", "context", "mode")
JOB_LABELS = (*PHASE_LABELS, "sas_job_name")
OUTCOMES = ("completed", "failed", "canceled", "timed_out")
STATS = ("p50", "p95", "max")
SUCCESS_STATUS = "completed"
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_S = 0.5
DEFAULT_TIMEOUT_S = 10.0
RETRYABLE_HTTP = frozenset({408, 429, 500, 502, 503, 504})

Handler = Callable[..., Callable[[], None]]


# -- building the registry ----------------------------------------------------------




def _ts(value: Any) -> float | None:
    """ISO 8601 (server timestamps, with Z or offset) -> unix seconds."""
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None:  # the contract's timestamps are UTC
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


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
    """cluster/environment recorded in the results file, else from settings, else 'default'."""
    recorded = ((results.get("metadata") or {}).get("labels")) or {}
    out = {}
    for key in LABEL_KEYS:
        value = recorded.get(key) or getattr(settings, key, None) or "default"
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
    f.gauge("jes_run_info", "Identity of the latest run (value 1).", ("run_id", "version", "status"))
    f.gauge("jes_run_timestamp_seconds", "When the latest run ended (unix seconds).")
    f.gauge("jes_run_duration_seconds", "Wall-clock duration of the latest run.")
    f.gauge("jes_run_success", "1 if the latest run completed with every job completed, else 0.")
    f.set(
        "jes_run_info",
        1.0,
        str(results.get("run_id") or ""),
        str(meta.get("tool_version") or __version__),
        str(results.get("status") or "unknown"),
    )
    ended = _ts(meta.get("ended_at"))
    f.set("jes_run_timestamp_seconds", ended)
    f.set("jes_run_duration_seconds", _num(meta.get("duration_seconds")))
    f.set("jes_run_success", 1.0 if ok else 0.0)
    if ok:  # never present in a failed run's push: the POST then leaves the old value alone
        f.gauge("jes_last_success_timestamp_seconds", "When the last successful run ended (unix seconds).")
        f.set("jes_last_success_timestamp_seconds", ended)

    # per phase
    pl = PHASE_LABELS
    f.gauge("jes_phase_makespan_seconds", "Phase makespan: first job created to last job ended (server time).", pl)
    f.gauge("jes_phase_jobs", "Jobs of the phase by outcome ('other': e.g. submit failures).", (*pl, "outcome"))
    f.gauge("jes_phase_unmatched_jobs", "Jobs without a Workload Orchestrator match.", pl)
    f.gauge("jes_phase_job_duration_seconds", "Server job duration across the phase (stat: p50, p95, max).", (*pl, "stat"))
    f.gauge("jes_phase_queue_wait_seconds", "Orchestrator queue wait across the phase (stat: p50, p95, max).", (*pl, "stat"))
    f.gauge("jes_phase_hosts_used", "Distinct execution hosts used by the phase.", pl)
    f.gauge("jes_phase_peak_nodes", "Peak number of nodes running the phase's jobs at once.", pl)
    f.gauge("jes_phase_summed_run_seconds", "Sum of the phase's job run times.", pl)
    f.gauge("jes_phase_concurrency", "Configured concurrency of the phase.", pl)
    f.gauge("jes_phase_concurrency_achieved", "Concurrency the phase achieved.", pl)
    f.gauge("jes_phase_speedup_ratio", "Baseline makespan / phase makespan (absent for the baseline).", pl)
    f.gauge("jes_phase_time_saved_seconds", "Baseline makespan minus phase makespan.", pl)
    f.gauge("jes_phase_efficiency_gain_ratio", "Efficiency gain vs the baseline as a ratio (results file: percent).", pl)
    # node-pool scaling (phases[].scaling: from Kubernetes, else the orchestrator's hosts)
    f.gauge("jes_phase_scaling_info", "Where the phase's node figures came from (value 1).", (*pl, "source"))
    f.gauge("jes_phase_time_to_first_scale_up_seconds", "Phase start to the first node added.", pl)
    f.gauge("jes_phase_node_seconds", "Node-seconds the phase's pools were up during the phase.", pl)
    f.gauge("jes_phase_nodes_added", "Nodes added during the phase.", pl)
    f.gauge("jes_phase_nodes_removed", "Nodes removed during the phase.", pl)
    f.gauge("jes_phase_node_jobs", "Jobs of the phase that ran on each node.", (*pl, "node"))
    # per job (bounded: jobs x phases)
    f.gauge("jes_job_duration_seconds", "Server duration of one job in one phase.", JOB_LABELS)
    f.gauge("jes_job_queue_wait_seconds", "Orchestrator queue wait of one job in one phase.", JOB_LABELS)

    for phase in results.get("phases") or []:
        pv = (str(phase.get("name") or ""), str(phase.get("context") or ""), str(phase.get("mode") or ""))
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
            f.set("jes_phase_job_duration_seconds", _num(st.get(f"duration_{stat}_seconds")), *pv, stat)
            f.set("jes_phase_queue_wait_seconds", _num(st.get(f"queue_wait_{stat}_seconds")), *pv, stat)
        f.set("jes_phase_hosts_used", _num(st.get("hosts_used")), *pv)
        f.set("jes_phase_peak_nodes", _num(st.get("peak_nodes")), *pv)
        f.set("jes_phase_summed_run_seconds", _num(st.get("sum_run_seconds")), *pv)
        f.set("jes_phase_concurrency", _num(phase.get("concurrency")), *pv)
        f.set("jes_phase_concurrency_achieved", _num(st.get("concurrency_achieved")), *pv)
        vs = phase.get("vs_baseline") or {}
        f.set("jes_phase_speedup_ratio", _num(vs.get("speedup")), *pv)
        f.set("jes_phase_time_saved_seconds", _num(vs.get("time_saved_seconds")), *pv)
        gain = _num(vs.get("efficiency_gain_percent"))
        f.set("jes_phase_efficiency_gain_ratio", None if gain is None else gain / 100.0, *pv)
        sc = phase.get("scaling") or {}
        if sc.get("source"):
            f.set("jes_phase_scaling_info", 1.0, *pv, str(sc["source"]))
        f.set("jes_phase_time_to_first_scale_up_seconds", _num(sc.get("time_to_first_scale_up_seconds")), *pv)
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


class PushHTTPError(OSError):
    """The Pushgateway answered with an error status (body kept short, no request headers)."""

    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(f"HTTP {status} {reason}".strip() + (f": {body}" if body else ""))
        self.status = status


def _secret(settings: Any, name: str) -> str | None:
    value = getattr(settings, name, None)
    if value is None:
        return None
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    return str(value) or None


def pushgateway_handler(
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    ca_bundle: str | Path | None = None,
) -> Handler:
    """A prometheus_client push handler with basic auth or a bearer token and a CA bundle.

    Errors carry the status and the gateway's (short) answer, never the request headers.
    """
    auth: str | None = None
    if token:
        auth = f"Bearer {token}"
    elif username is not None and password is not None:
        auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        def send() -> None:
            req = urllib.request.Request(url, data=data, method=method)
            for k, v in headers:
                req.add_header(k, v)
            if auth:
                req.add_header("Authorization", auth)
            try:
                with opener.open(req, timeout=timeout) as resp:
                    resp.read()
            except urllib.error.HTTPError as e:
                body = " ".join(e.read(300).decode("utf-8", "replace").split())
                raise PushHTTPError(e.code, str(e.reason or ""), body) from None

        return send

    return handler


def redact_url(url: str) -> str:
    """The URL without user:password@ and query (where tokens sometimes hide)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, PushHTTPError):
        return exc.status in RETRYABLE_HTTP
    if isinstance(getattr(exc, "reason", None), ssl.SSLCertVerificationError):
        return False  # an untrusted certificate stays untrusted
    return isinstance(exc, OSError)  # URLError, refused, reset, timeout


def _reason(exc: BaseException, secrets: Iterable[str | None]) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        text = f"{exc.reason.__class__.__name__}: {exc.reason}" if isinstance(exc.reason, BaseException) else str(exc.reason)
    else:
        text = f"{exc}" or exc.__class__.__name__
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return " ".join(text.split())


def push_results(
    results: Mapping[str, Any],
    settings: Any,
    *,
    labels: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Push one run's metrics (PUT if it succeeded, POST if not -- see the module doc).

    ``settings``: anything with ``pushgateway_url`` and optionally ``cluster``,
    ``environment``, ``pushgateway_username``, ``pushgateway_password``,
    ``pushgateway_token``, ``pushgateway_ca_bundle``, ``pushgateway_timeout_s``,
    ``pushgateway_retries``, ``pushgateway_backoff_s``. Retries connection errors and
    5xx/408/429 with exponential backoff; then logs one line and raises
    ``JesError(exit_code=ExitCode.PUSH_FAILED)``.
    """
    url = getattr(settings, "pushgateway_url", None)
    if not url:
        raise JesError("no Pushgateway URL: set JES_PUSHGATEWAY_URL")
    url = str(url).strip().rstrip("/")
    safe_url = redact_url(url)
    parts = urlsplit(url if "://" in url else f"http://{url}")
    username = getattr(settings, "pushgateway_username", None) or parts.username
    password = _secret(settings, "pushgateway_password") or parts.password
    token = _secret(settings, "pushgateway_token")
    if parts.username or parts.password or parts.query:  # credentials go in a header, not the URL
        url = safe_url
    ca_bundle = getattr(settings, "pushgateway_ca_bundle", None)
    timeout = float(getattr(settings, "pushgateway_timeout_s", None) or DEFAULT_TIMEOUT_S)
    retries = getattr(settings, "pushgateway_retries", None)
    retries = DEFAULT_RETRIES if retries is None else int(retries)
    backoff = getattr(settings, "pushgateway_backoff_s", None)
    backoff = DEFAULT_BACKOFF_S if backoff is None else float(backoff)

    grouping = dict(labels) if labels is not None else default_labels(results, settings)
    registry = build_registry(results, grouping)
    method, push = ("PUT", push_to_gateway) if run_succeeded(results) else ("POST", pushadd_to_gateway)
    group = ",".join(f"{k}={v}" for k, v in {"job": JOB, **grouping}.items())
    try:
        handler = pushgateway_handler(username, password, token, ca_bundle)
    except (OSError, ssl.SSLError) as e:  # unreadable CA bundle
        msg = f"Pushgateway push to {safe_url} not attempted: CA bundle {ca_bundle}: {e.__class__.__name__}"
        log.warning(msg)
        raise JesError(msg, ExitCode.PUSH_FAILED) from None

    attempts = retries + 1
    for attempt in range(1, attempts + 1):
        try:
            push(url, job=JOB, registry=registry, grouping_key=grouping, timeout=timeout, handler=handler)
        except Exception as e:  # anything the transport raises is a push failure
            reason = _reason(e, (password, token))
            if attempt < attempts and _retryable(e):
                delay = backoff * 2 ** (attempt - 1)
                log.debug("Pushgateway push attempt %d/%d failed (%s); retrying in %.1fs", attempt, attempts, reason, delay)
                sleep(delay)
                continue
            msg = (
                f"Pushgateway push ({method}, group {group}) to {safe_url} failed after "
                f"{attempt} attempt(s): {reason}"
            )
            log.warning(msg)
            raise JesError(msg, ExitCode.PUSH_FAILED) from None
        log.info("pushed metrics (%s, group %s) to %s", method, group, safe_url)
        return


# -- `jes-runner push RESULTS.json` -------------------------------------------------


def load_results_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JesError(f"results file {path}: not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise JesError(f"results file {path}: cannot read ({e.__class__.__name__})") from None
    except json.JSONDecodeError as e:
        raise JesError(f"results file {path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("phases"), list) or "status" not in data:
        raise JesError(f"results file {path}: not a jes-runner results file (needs 'status' and 'phases')")
    return data


def _cmd_push(args: argparse.Namespace) -> int:
    from jes_runner.config.settings import load_settings

    results = load_results_file(Path(args.results))
    settings = load_settings(pushgateway_url=args.pushgateway_url)
    if not settings.pushgateway_url:
        raise JesError("no Pushgateway URL: pass --pushgateway-url or set JES_PUSHGATEWAY_URL")
    labels = default_labels(results, settings)
    for key in LABEL_KEYS:
        if getattr(args, key):
            labels[key] = getattr(args, key)
    try:
        push_results(results, settings, labels=labels)
    except JesError as e:
        if e.exit_code == ExitCode.PUSH_FAILED:
            return int(ExitCode.PUSH_FAILED)  # already logged in one line
        raise
    verb = "PUT" if run_succeeded(results) else "POST"
    print(f"pushed run {results.get('run_id')} ({verb}) to {redact_url(settings.pushgateway_url)}")
    return int(ExitCode.OK)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "push",
        help="push an existing results file to the Pushgateway",
        description="Push the metrics of an existing results file (same metrics and semantics as a run's push).",
    )
    p.add_argument("results", metavar="RESULTS.json", help="a results file written by `jes-runner run`")
    p.add_argument("--pushgateway-url", help="Pushgateway URL (default: JES_PUSHGATEWAY_URL)")
    p.add_argument("--cluster", help="cluster label (default: the file's metadata.labels.cluster)")
    p.add_argument("--environment", help="environment label (default: the file's metadata.labels.environment)")
    p.set_defaults(func=_cmd_push)
