"""Helpers of the metrics tests: results dicts built by the contract, the rules file and
its documented parameter substitution, the dashboard's queries.

Unit tests use `make_results` for edge cases a real run rarely produces (failures,
nulls, duplicate names); the server tests push real demo runs.
"""

from __future__ import annotations

import json
import re
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from support.servers import Server, prometheus, pushgateway

BASE = datetime(2026, 1, 5, 2, 0, 0, tzinfo=UTC)
PROFILE = "nightly"  # the profile of the runs the server tests push, and of the rules' absent alert


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _job(
    name: str,
    phase: str,
    context: str,
    seq: int,
    start: datetime,
    duration: float,
    status: str = "completed",
    queue_wait: float | None = 1.5,
    host: str = "node-a",
) -> dict[str, Any]:
    end = start + timedelta(seconds=duration)
    od = (
        None
        if queue_wait is None
        else {
            "orchestrator_job_id": seq,
            "orchestrator_name": f"{name}_{phase}_1_{seq}",
            "queue": "default",
            "state": "DONE",
            "exit_code": 0,
            "execution_host": host,
            "execution_ip": "10.0.0.1",
            "submit_time": _iso(start),
            "start_time": _iso(start + timedelta(seconds=queue_wait)),
            "end_time": _iso(end),
            "queue_wait_seconds": queue_wait,
            "starting_seconds": 0.5,
            "execution_seconds": duration - queue_wait,
            "cpu_cores": 2,
            "memory_mb": 4096,
            "limits": {},
        }
    )
    return {
        "name": name,
        "unique_job_name": f"{name}_{phase}_1_{seq}",
        "job_instance_id": str(uuid.uuid4()),
        "phase": phase,
        "context": context,
        "sequence": seq,
        "status": status,
        "submitted_at": _iso(start),
        "started_at": _iso(start),
        "ended_at": _iso(end),
        "duration": None if status == "submit_failed" else duration,
        "elapsed_time_ms": int(duration * 1000),
        "timing_source": "server",
        "client_submitted_at": _iso(start),
        "client_ended_at": _iso(end),
        "client_duration": duration,
        "error": None if status == "completed" else status,
        "metrics": {"orchestrator_data": od},
    }


def _stats(jobs: list[dict[str, Any]], makespan: float | None, peak: int) -> dict[str, Any]:
    def count(s: str) -> int:
        return sum(1 for j in jobs if j["status"] == s)

    return {
        "makespan_seconds": makespan,
        "jobs_total": len(jobs),
        "jobs_completed": count("completed"),
        "jobs_failed": count("failed"),
        "jobs_canceled": count("canceled"),
        "jobs_timed_out": count("timed_out"),
        "duration_p50_seconds": 10.0,
        "duration_p95_seconds": 19.0,
        "duration_max_seconds": 20.0,
        "queue_wait_p50_seconds": 1.5,
        "queue_wait_p95_seconds": 2.5,
        "queue_wait_max_seconds": 3.0,
        "hosts_used": 2,
        "jobs_per_host": {"node-a": 2, "node-b": 1},
        "sum_run_seconds": 45.0,
        "concurrency_achieved": 2.5,
        "peak_nodes": peak,
    }


def make_results(
    job_names: tuple[str, ...] = ("DM", "AE", "LB"),
    status: str = "completed",
    failed: tuple[str, ...] = (),
    started: datetime = BASE,
    speedup: float | None = 2.5,
    cluster: str = "test-cluster",
    environment: str = "ci",
    profile: str = PROFILE,
) -> dict[str, Any]:
    """Two phases (sequential baseline, batch of 5) over the given job names."""
    ctx_seq, ctx_async = "SAS Job Execution compute context", "Autoscaling POC Context"
    seq_jobs = [
        _job(n, "sequential", ctx_seq, i + 1, started + timedelta(seconds=20 * i), 10.0 + i)
        for i, n in enumerate(job_names)
    ]
    t = started + timedelta(seconds=100)
    async_jobs = [
        _job(
            n,
            "async",
            ctx_async,
            i + 1,
            t,
            12.0 + i,
            "failed" if n in failed else "completed",
            queue_wait=2.0 + i,
            host="node-b",
        )
        for i, n in enumerate(job_names)
    ]
    ended = t + timedelta(seconds=40)
    base_makespan = 60.0
    makespan = base_makespan / speedup if speedup else None
    phases = [
        {
            "name": "sequential",
            "context": ctx_seq,
            "mode": "sequential",
            "concurrency": 1,
            "baseline": True,
            "status": "completed",
            "started_at": _iso(started),
            "ended_at": _iso(started + timedelta(seconds=60)),
            "jobs": seq_jobs,
            "unmatched_jobs": [],
            "stats": _stats(seq_jobs, base_makespan, 1),
            "vs_baseline": None,
        },
        {
            "name": "async",
            "context": ctx_async,
            "mode": "batch",
            "concurrency": 5,
            "baseline": False,
            "status": "completed_with_failures" if failed else "completed",
            "started_at": _iso(t),
            "ended_at": _iso(ended),
            "jobs": async_jobs,
            "unmatched_jobs": [async_jobs[-1]["unique_job_name"]],
            "stats": _stats(async_jobs, makespan, 3),
            "vs_baseline": None
            if makespan is None
            else {
                "time_saved_seconds": base_makespan - makespan,
                "efficiency_gain_percent": (base_makespan - makespan) / base_makespan * 100.0,
                "speedup": speedup,
            },
        },
    ]

    def seed(p: dict[str, Any]) -> dict[str, Any]:
        return {
            "context_name": p["context"],
            "mode": p["mode"],
            "jobs": [
                {"name": j["name"], "status": j["status"], "duration": j["duration"]}
                for j in p["jobs"]
            ],
            "total_duration": p["stats"]["makespan_seconds"] or 0.0,
            "successful_jobs": p["stats"]["jobs_completed"],
            "failed_jobs": p["stats"]["jobs_failed"],
        }

    return {
        "schema_version": 1,
        "run_id": str(uuid.uuid4()),
        "status": status,
        "metadata": {
            "started_at": _iso(started),
            "ended_at": _iso(ended),
            "duration_seconds": (ended - started).total_seconds(),
            "tool_version": "0.1.0",
            "viya_url": "http://127.0.0.1:1",
            "labels": {"cluster": cluster, "environment": environment, "profile": profile},
            "job_config": "config/job_configs.json",
            "settings": {"password": "********"},
        },
        "phases": phases,
        "sequential_execution": seed(phases[0]),
        "async_execution": seed(phases[1]),
        "comparison": {
            "execution_time": {
                "sequential_total": base_makespan,
                "async_total": makespan or 0.0,
                "time_saved": base_makespan - (makespan or base_makespan),
                "efficiency_gain": 0.0,
            },
            "job_performance": {},
            "resource_utilization": {},
        },
    }


# -- rules and dashboard ------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "helm" / "jes-runner" / "files" / "prometheus-rules.yaml"
RULES_TEST = Path(__file__).with_name("rules_test.yaml")
DASHBOARD = ROOT / "helm" / "jes-runner" / "files" / "grafana-dashboard.json"

# the documented substitution (helm/jes-runner/files/README.md): token -> occurrences
SCOPE_TOKEN = 'profile!="adhoc"'  # every rule's scope: the scheduled profile(s)
ABSENT_EXPR = "absent(jes_run_info{%s})"
RULE_TOKENS = {
    "2 * 86400": 2,
    "for: 172800s": 1,
    "0.8 * quantile_over_time": 1,
    SCOPE_TOKEN: 7,
}
RUNBOOK_BASE = "https://github.com/jes-runner/jes-runner/blob/main/docs/RUNBOOK.md"


def promql_regex_literal(name: str) -> str:
    """``name`` matched literally inside a PromQL double-quoted regex (as the chart's
    regexQuoteMeta plus doubled backslashes)."""
    return re.sub(r"([.+*?()|\[\]{}^$\\])", r"\\\\\1", name)


def render_rules(
    schedule_seconds: int = 86400,
    multiple: float = 2,
    speedup_fraction: float = 0.8,
    profile: str = "jes-runner",
    no_for: bool = False,
) -> str:
    """The rules file with the parameters substituted exactly as the chart does for one
    scheduled profile; ``no_for``: every `for:` set to 0s, as the chart's per-rule `for`
    override would (tests cannot wait 15 min)."""
    text = RULES.read_text()
    text = text.replace("2 * 86400", f"{multiple} * {int(schedule_seconds)}")
    text = text.replace("for: 172800s", f"for: {int(multiple * schedule_seconds)}s")
    text = text.replace(ABSENT_EXPR % SCOPE_TOKEN, ABSENT_EXPR % f'profile="{profile}"')
    text = text.replace(SCOPE_TOKEN, f'profile=~"{promql_regex_literal(profile)}"')
    if no_for:
        text = re.sub(r"(?m)^(\s+)for: \S+$", r"\1for: 0s", text)
    return text.replace("0.8 * quantile_over_time", f"{speedup_fraction} * quantile_over_time")


def alert_rules(text: str | None = None) -> list[dict[str, Any]]:
    doc = yaml.safe_load(text if text is not None else RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def bool_form(expr: str) -> str:
    """The expression with `bool` after every top-level comparison: the alert's full query
    (thresholds, joins) returning 0/1 per series instead of filtering them away."""
    out: list[str] = []
    depth, quote, i = 0, "", 0
    while i < len(expr):
        c = expr[i]
        if quote:
            out.append(c)
            if c == "\\":
                out.append(expr[i + 1])
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'`":
            quote = c
            out.append(c)
        elif c == "{":
            depth += 1
            out.append(c)
        elif c == "}":
            depth -= 1
            out.append(c)
        elif depth == 0 and (m := re.match(r"(==|!=|>=|<=|>|<)", expr[i:])):
            op = m.group(1)
            out.append(op)
            i += len(op)
            if not re.match(r"\s*bool\b", expr[i:]):
                out.append(" bool")
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_panels(dash: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every panel (rows' nested panels included) that has targets."""
    dash = dash or dashboard()
    out = []
    for p in dash["panels"]:
        out.extend([p, *p.get("panels", [])])
    return [p for p in out if p.get("targets")]


def substitute(expr: str, values: dict[str, str]) -> str:
    """Grafana variables ($x, ${x}, ${x:regex}) replaced by regex values (Prometheus formats multi values as (a|b))."""

    def rep(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError(f"unknown dashboard variable ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", rep, expr)


def label_values_query(definition: str) -> tuple[str, str]:
    """label_values(selector, label) -> (selector, label)."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", definition)
    if not m:
        raise ValueError(f"not a label_values() query: {definition!r}")
    return m.group(1), m.group(2)


# -- a Pushgateway + Prometheus stack ------------------------------------------------


SCRAPES = ("honor_labels", "exported_job")  # the two ways a Pushgateway is scraped in the wild


@dataclass
class Stack:
    """A Pushgateway and two Prometheus servers scraping it every second, the alert rules loaded
    in both: one with honor_labels, one the viya4-monitoring way (pushed job -> exported_job)."""

    pushgateway: Server
    prometheus: Server  # honor_labels: true
    exported: Server  # honor_labels: false
    rules: Path

    def prom(self, scrape: str) -> str:
        return {"honor_labels": self.prometheus, "exported_job": self.exported}[scrape].url


def start_stack(stack: ExitStack, base: Path, **rule_params: Any) -> Stack:
    """Start the servers inside ``stack``; ``rule_params`` go to render_rules (chart substitution)."""
    base.mkdir(parents=True, exist_ok=True)
    rules = base / "jes-rules.yaml"
    rules.write_text(render_rules(**rule_params))
    pg = stack.enter_context(pushgateway(base / "pushgateway"))
    prom = stack.enter_context(prometheus(base / "prometheus", [pg.address], rule_files=[rules]))
    exported = stack.enter_context(
        prometheus(
            base / "prometheus-exported", [pg.address], rule_files=[rules], honor_labels=False
        )
    )
    return Stack(pg, prom, exported, rules)
