"""The fault matrix: one 108-execution run (54 jobs x 2 phases) per fault, judged from ground truth.

Shared by ``tests/faults/test_fault_matrix.py`` (one parametrized test) and
``benchmarks/fault_matrix.py`` (prints the table). Each case starts a fresh
emulator in this process with the fault injected over real HTTP, runs
``python -m jes_runner run`` as a subprocess against it (real exit code, real
stdout/stderr, real signals), then compares what the runner wrote with the
emulator's ground truth:

* lost        jobs the server ran (or the plan had) that the results do not carry
* duplicated  job names created twice on the server, or recorded twice
* orphaned    server jobs no record points at, or left pending/running at the end
* max timing error  |recorded duration - true server duration| over all jobs

Distinctive secrets (password, client secret, the access and refresh tokens
handed to the runner, a Pushgateway token) are planted in every case and looked
for in stdout, stderr, the results file, the checkpoint, the HTML report, every
other text file the run wrote, and a real Pushgateway's /metrics.

Issue 11's rows (``ISOLATION_CASES`` and ``emulator-slow``, at the end) are runs that
overlap, crash or hang: some are ordinary cases (a trickling Pushgateway, a skewed
SASLogon clock, credentials planted in URLs), the others have their own shape
(``Case.special``): two runners sharing one emulator and one output directory,
judged per run on its own slice of the ground truth (job names carry the run
token) and across runs; kill -9 then two restarts and ``recover``; a runner
against a loopback server trickling one byte every 3 s; the emulator itself
under 800 slow connections.

Time scaling: the cluster runs at ``SPEED`` (real s per model s, 0.002: a 40 s
job takes 80 ms). Orchestrator lags/outages are model seconds, scaled with it.
HTTP-side faults act on real seconds: the "2 s latency" case adds 50 ms to
every request (2 s / 40) -- a milder divisor than the cluster's, so relative to
job lengths it is 12x harsher than 2 s on a real 40 s job.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.cli_output import non_log_lines

ROOT = Path(__file__).resolve().parents[2]

SPEED = 0.002
JOBS = 54
TOLERANCE_S = 0.05
LATENCY_MS = 2000 / 40  # "2 s added latency", scaled (see module docstring)

USERNAME = "jes"
PASSWORD = "pw-Fm7Qz2-matrix-only-9e41"  # distinctive: grep-able if it ever leaks
CLIENT_ID = "jes-runner"
CLIENT_SECRET = "cs-Kx3Vr8-matrix-only-51ad"
PUSHGATEWAY_TOKEN = "pgt-Wn5Hc1-matrix-only-0b7e"
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")

BASELINE_CONTEXT = "SAS Job Execution compute context"
ASYNC_CONTEXT = "Autoscaling POC Context"
PHASES = [
    {
        "name": "window",
        "context": BASELINE_CONTEXT,
        "mode": "window",
        "concurrency": 8,
        "baseline": True,
    },
    {"name": "all", "context": ASYNC_CONTEXT, "mode": "all"},
]
STUCK_JOB = "cm_pooled"  # the first job of the shipped config


# -- cases ---------------------------------------------------------------------------------------


@dataclass
class Ctx:
    """What a case's driver thread gets while the runner runs."""

    emu: Any
    out_dir: Path
    proc: subprocess.Popen[str]
    stop: threading.Event
    log: list[str] = field(default_factory=list)


@dataclass
class Case:
    id: str
    fault: str  # the table's first column
    exit_code: int
    scenario: dict[str, Any] = field(default_factory=dict)  # overrides of the default scenario
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    driver: Callable[[Ctx], None] | None = None  # runs in a thread during the run
    volume: str | None = None  # "full" (64 KiB tmpfs) | "readonly" results volume
    pushgateway: bool = True  # False: JES_PUSHGATEWAY_URL is a closed port
    injected: tuple[str, ...] = ()  # ground-truth fault kinds that must have happened
    check: Callable[[Outcome], list[str]] | None = None
    status: str | None = None  # expected results status
    trickle_push: bool = False  # JES_PUSHGATEWAY_URL is a server trickling one byte every 3 s
    url_credentials: bool = False  # planted user:password@ in the Viya and Pushgateway URLs
    # a case with its own shape (issue 11)
    special: Callable[[Case, Path, str | None], Row] | None = None
    # the run leaves jobs it could not cancel (auth refused): the ground truth is read once the
    # server finished them, so "orphaned" counts jobs no record points at, not jobs still ending
    settle: bool = False
    # runs once the runner exited, the emulator still up (e.g. `recover` on its checkpoint)
    after_run: Callable[[Ctx, dict[str, str]], None] | None = None


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = (
            deep_merge(out[k], v)
            if isinstance(v, dict) and isinstance(out.get(k), dict)
            else copy.deepcopy(v)
        )
    return out


def _rules(*rules: dict[str, Any], seed: int = 11, **extra: Any) -> dict[str, Any]:
    return {"faults": {"seed": seed, "rules": list(rules), **extra}}


def _merge(*parts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in parts:
        out = deep_merge(out, p)
    return out


# drivers ---------------------------------------------------------------------------------------


def _checkpoint_lines(out_dir: Path) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for f in out_dir.glob("*.checkpoint.jsonl"):
        with contextlib.suppress(OSError):
            for ln in f.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    lines.append(json.loads(ln))
    return lines


def burst_429(ctx: Ctx, burst: float = 1.5) -> None:
    """Two 1.5 s bursts in which every Viya request is answered 429 + Retry-After: 1, each starting at
    the first submission of a phase (the second one's is a storm: 54 jobs at once). With at most 2
    retries 10 ms apart (JES_MAX_RETRIES=2, JES_RETRY_BACKOFF_S=0.01), only a client that waits the
    Retry-After gets through: its third attempt, 2 s later, is past the burst."""
    on = {"seed": 5, "rules": [{"endpoint": "*", "throttle_rate": 1.0, "retry_after_s": 1}]}
    posts = ctx.emu.requests  # "METHOD /template" -> count, updated by the server threads
    for threshold in (1, JOBS + 1):
        while posts.get("POST /jobExecution/jobs", 0) < threshold:
            if ctx.stop.wait(0.002):
                return
        ctx.emu.set_faults(on)
        ctx.stop.wait(burst)
        ctx.emu.set_faults({})
        ctx.log.append(f"burst from POST {threshold}")


def viya_down(ctx: Ctx, down: float = 3.0) -> None:
    """Every Viya endpoint answers 503 for 3 s, twice: in the first phase (after its 20th submission:
    polls fail) and as the second phase starts (its 54 submissions are on their way)."""
    off = {"seed": 9, "rules": [{"endpoint": "*", "error_rate": 1.0, "error_statuses": [503]}]}
    posts = ctx.emu.requests
    for threshold in (20, JOBS + 1):
        while posts.get("POST /jobExecution/jobs", 0) < threshold:
            if ctx.stop.wait(0.005):
                return
        ctx.emu.set_faults(off)
        ctx.stop.wait(down)
        ctx.emu.set_faults({})
        ctx.log.append(f"Viya down {down} s from POST {threshold}")


def end_outage_after_first_phase(ctx: Ctx) -> None:
    """The orchestrator answers 503 from the start until the first phase is over (correlated)."""
    while not ctx.stop.wait(0.05):
        if any(ln.get("type") == "phase" for ln in _checkpoint_lines(ctx.out_dir)):
            ctx.emu.set_faults({})
            ctx.log.append("outage ended after phase 1")
            return


def sigterm_mid_phase(ctx: Ctx) -> None:
    """SIGTERM once 10 jobs of the second (all-at-once) phase have finished: ~44 still in flight."""
    while not ctx.stop.wait(0.02):
        done = [
            ln
            for ln in _checkpoint_lines(ctx.out_dir)
            if ln.get("type") == "job" and ln.get("phase") == "all"
        ]
        if len(done) >= 10:
            ctx.proc.send_signal(signal.SIGTERM)
            ctx.log.append(f"SIGTERM after {len(done)} jobs of phase 'all'")
            return


def _wait_server_idle(emu: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(t["jes_state"] not in ("pending", "running") for t in emu.ground_truth()["jobs"]):
            return
        time.sleep(0.1)


def _phase_lines(ctx: Ctx, kind: str, phase: str) -> list[dict[str, Any]]:
    return [
        ln
        for ln in _checkpoint_lines(ctx.out_dir)
        if ln.get("type") == kind and (ln.get("phase") or ln.get("name")) == phase
    ]


def sigterm_correlating(ctx: Ctx) -> None:
    """SIGTERM 1 s into the first phase's correlation (the orchestrator lags far behind)."""
    while not ctx.stop.wait(0.02):
        if len(_phase_lines(ctx, "job", "window")) >= JOBS:
            time.sleep(1.0)
            ctx.proc.send_signal(signal.SIGTERM)
            ctx.log.append("SIGTERM 1 s after the last job of phase 'window' ended")
            return


def double_sigterm(ctx: Ctx) -> None:
    """Two SIGTERMs 50 ms apart while the all-at-once phase has every job in flight."""
    while not ctx.stop.wait(0.01):
        if len(_phase_lines(ctx, "submitted", "all")) >= JOBS - 4:
            ctx.proc.send_signal(signal.SIGTERM)
            time.sleep(0.05)
            ctx.proc.send_signal(signal.SIGTERM)
            ctx.log.append("two SIGTERMs 50 ms apart in phase 'all'")
            return


def kill_in_phase_two(ctx: Ctx) -> None:
    """SIGKILL once 20 jobs of the all-at-once phase were submitted and some are still running."""
    while not ctx.stop.wait(0.01):
        if len(_phase_lines(ctx, "submitted", "all")) >= 20:
            ctx.proc.kill()
            ctx.log.append("SIGKILL after 20 submissions of phase 'all'")
            return


def settle_and_recover(ctx: Ctx, env: dict[str, str]) -> None:
    """The server outlives the killed runner: its jobs finish, then `recover` measures them."""
    _wait_server_idle(ctx.emu)
    recover_checkpoint(ctx, env)


def revoke_refresh(ctx: Ctx) -> None:
    """SASLogon revokes every refresh token once 10 jobs of the first phase ended (an admin
    revoked the session): the runner's next refresh is refused and it has no other grant."""
    while not ctx.stop.wait(0.02):
        if len(_phase_lines(ctx, "job", "window")) >= 10:
            with ctx.emu.tokens._lock:
                ctx.emu.tokens._refresh.clear()
            ctx.log.append("refresh tokens revoked after 10 jobs of phase 'window'")
            return


def rename_context(ctx: Ctx) -> None:
    """The second phase's compute context is renamed once 10 of its jobs were submitted."""
    while not ctx.stop.wait(0.01):
        if len(_phase_lines(ctx, "submitted", "all")) >= 10:
            cat = ctx.emu.catalog
            c = cat.context_by_name.pop(ASYNC_CONTEXT)
            cat.contexts = [x for x in cat.contexts if x is not c]
            ctx.log.append("context renamed after 10 submissions of phase 'all'")
            return


def recover_checkpoint(ctx: Ctx, env: dict[str, str]) -> None:
    """`jes-runner recover` on the dead run's checkpoint, Viya reachable; the file lands beside it."""
    for cp in ctx.out_dir.glob("*.checkpoint.jsonl"):
        r = subprocess.run(
            [sys.executable, "-m", "jes_runner", "recover", str(cp), "--viya-url", ctx.emu.url],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        ctx.log.append(f"recover exit {r.returncode}: {r.stderr.strip()[-300:]}")


def check_recovered_all(o: Outcome) -> list[str]:
    """Every job the server ran is in the recovered file, completed ones measured as completed."""
    recs = [j for p in (o.results or {}).get("phases") or [] for j in p["jobs"]]
    by_id = {t["id"]: t for t in o.truth["jobs"]}
    problems = []
    if o.results_source != "file":
        problems.append("recover wrote no results file")
    if {j["job_instance_id"] for j in recs} != set(by_id):
        problems.append(f"{len(recs)} recovered records for {len(by_id)} server jobs")
    mis = [
        j["unique_job_name"]
        for j in recs
        if j["status"] != by_id[j["job_instance_id"]]["jes_state"]
    ]
    if mis:
        problems.append(f"recovered status differs from the server's: {mis[:3]}")
    planned = {p["name"]: p["stats"]["jobs_planned"] for p in (o.results or {}).get("phases") or []}
    if planned != {"window": JOBS, "all": JOBS}:
        problems.append(f"jobs_planned {planned}")
    return problems


def check_double_signal(o: Outcome) -> list[str]:
    err = o.stderr.strip().splitlines()
    problems = []
    if not err or "again: exiting now" not in err[-1]:
        problems.append(f"last stderr line {err[-1:]}")
    elif "could not be canceled" in err[-1] and "--cancel-orphans" not in err[-1]:
        problems.append("the line names jobs left running but not the command that cancels them")
    if o.results_source != "file":
        problems.append("recover wrote no results file")
    return problems


def delete_definition(ctx: Ctx) -> None:
    """The last job's definition is deleted once 10 jobs of the first phase were submitted."""
    while not ctx.stop.wait(0.01):
        if len(_phase_lines(ctx, "submitted", "window")) >= 10:
            cat = ctx.emu.catalog
            gone = next(d for d in cat.definitions if d.name == "vs_pooled")
            cat.definition_by_id.pop(gone.id)
            cat.definitions = [d for d in cat.definitions if d is not gone]
            ctx.log.append("definition vs_pooled deleted after 10 submissions of phase 'window'")
            return


def check_correlation_cut(o: Outcome) -> list[str]:
    res = o.results or {}
    phases = res.get("phases") or []
    problems = []
    if o.results_source != "file":
        problems.append(f"results came from {o.results_source}, expected the file")
    if [p["name"] for p in phases] != ["window"]:
        problems.append(f"phases {[p['name'] for p in phases]}, expected only 'window'")
    elif len(phases[0]["jobs"]) != JOBS or not phases[0]["unmatched_jobs"]:
        problems.append("phase 'window' should hold every job, the uncorrelated listed unmatched")
    if o.elapsed > 60:
        problems.append(f"took {o.elapsed:.0f} s")
    return problems


def check_auth_unknown(o: Outcome) -> list[str]:
    res = o.results or {}
    phases = res.get("phases") or []
    jobs = [j for p in phases for j in p["jobs"]]
    problems = []
    if [p["name"] for p in phases] != ["window"]:
        problems.append(f"phases {[p['name'] for p in phases]}: the next phase must not start")
    if any(j["status"] in ("failed", "submit_failed") for j in jobs):
        problems.append("a job was marked failed for the refused authentication")
    if not any(j["status"] == "unknown" for j in jobs):
        problems.append("no job listed as unknown (may still run on the server)")
    err = o.stderr.strip().splitlines()
    if not err or "authentication failed" not in err[-1]:
        problems.append(f"last stderr line {err[-1:]}")
    return problems


def check_drift(o: Outcome) -> list[str]:
    err = o.stderr.strip().splitlines()
    problems = []
    if not err or "disappeared from Viya" not in err[-1]:
        problems.append(f"last stderr line {err[-1:]}, expected the one configuration line")
    jobs = [j for p in (o.results or {}).get("phases") or [] for j in p["jobs"]]
    if sum(1 for j in jobs if j["status"] in ("failed", "submit_failed")) > 0:
        problems.append("jobs marked failed for a configuration change")
    return problems


# per-case checks (problems as strings) --------------------------------------------------------


def _logs_have(o: Outcome, needle: str) -> list[str]:
    return [] if needle in o.stderr else [f"the log (stderr) lacks {needle!r}"]


def check_no_lost_poll(o: Outcome) -> list[str]:
    problems = [
        f"log: {ln}"
        for ln in o.stderr.splitlines()
        if "polling failed" in ln or "refused the access" in ln
    ]
    by_kind = ((o.results or {}).get("metadata") or {}).get("viya_requests", {}).get("by_kind", {})
    tokens = by_kind.get("POST /SASLogon/oauth", 0)
    if tokens < 3:
        problems.append(f"only {tokens} token requests: the short token was not outlived")
    return problems


def check_outage_phase(o: Outcome) -> list[str]:
    phases = (o.results or {}).get("phases") or []
    if len(phases) != 2:
        return ["expected two phases"]
    first, second = phases
    problems = []
    if sorted(first["unmatched_jobs"]) != sorted(j["unique_job_name"] for j in first["jobs"]):
        problems.append(
            f"phase 1: {len(first['unmatched_jobs'])} unmatched, expected all {len(first['jobs'])}"
        )
    if second["unmatched_jobs"]:
        problems.append(f"phase 2 (after the outage): {len(second['unmatched_jobs'])} unmatched")
    return problems + _logs_have(o, "not found in the Workload Orchestrator")


def check_all_matched(o: Outcome) -> list[str]:
    return [
        f"phase {p['name']}: {len(p['unmatched_jobs'])} unmatched"
        for p in (o.results or {}).get("phases", [])
        if p["unmatched_jobs"]
    ]


def check_throttled(o: Outcome) -> list[str]:
    kinds = o.truth["faults_injected_counts"]
    posts = kinds.get("throttle POST /jobExecution/jobs", 0)
    return [] if posts >= 10 else [f"only {posts} submissions were throttled: {kinds}"]


def check_rode_out(o: Outcome) -> list[str]:
    failed = [ln for ln in o.stderr.splitlines() if "polling failed" in ln]
    problems = [] if failed else ["no poll failed: the outage missed the phases"]
    if len(o.driver_log) < 2:
        problems.append(f"outages: {o.driver_log}")
    posts = o.truth["faults_injected_counts"].get("error POST /jobExecution/jobs", 0)
    if not posts:
        problems.append("no submission met the outage")
    return problems + [ln for ln in o.stderr.splitlines() if "lost contact" in ln]


def check_lag_waited_for(o: Outcome) -> list[str]:
    """Nothing is visible when a phase ends (3 s lag, ~2.5 s phases): correlation must retry, then match all."""
    scans = o.truth["requests"].get("GET /workloadOrchestrator/jobs", 0)
    return check_all_matched(o) + (
        [] if scans >= 2 * len(PHASES) else [f"only {scans} orchestrator listings"]
    )


def check_stuck(o: Outcome) -> list[str]:
    problems = []
    truth = {t["id"]: t for t in o.truth["jobs"]}
    for p in (o.results or {}).get("phases", []):
        stuck = [j for j in p["jobs"] if j["name"] == STUCK_JOB]
        if len(stuck) != 1 or stuck[0]["status"] != "timed_out":
            problems.append(f"phase {p['name']}: {STUCK_JOB} not recorded as timed_out")
            continue
        if truth.get(stuck[0]["job_instance_id"], {}).get("state") != "canceled":
            problems.append(f"phase {p['name']}: {STUCK_JOB} was not canceled in Viya")
        if p["stats"]["jobs_timed_out"] != 1 or p["stats"]["jobs_completed"] != JOBS - 1:
            problems.append(f"phase {p['name']}: stats {p['stats']['jobs_timed_out']} timed out")
    return problems


def check_aborted(o: Outcome) -> list[str]:
    phases = (o.results or {}).get("phases") or []
    problems = []
    canceled = [j for p in phases for j in p["jobs"] if j["status"] == "canceled"]
    if not canceled:
        problems.append("no job was canceled by the SIGTERM")
    if phases and phases[-1]["status"] != "aborted":
        problems.append(f"last phase status {phases[-1]['status']}, expected aborted")
    return problems


def check_results_volume(o: Outcome) -> list[str]:
    problems = []
    err = o.stderr.strip().splitlines()
    if not err or not err[-1].startswith("error: cannot write results file"):
        problems.append(f"stderr does not end with the results error line: {err[-1:]}")
    if o.results_source != "stdout":
        problems.append(f"results came from {o.results_source}, expected the stdout copy")
    if "makespan" not in o.stdout:
        problems.append("the summary table is not on stdout")
    return problems


def check_push_failed(o: Outcome) -> list[str]:
    lines = [
        ln
        for ln in (o.stdout + o.stderr).splitlines()
        if "ushgateway" in ln and ("fail" in ln or "error" in ln)
    ]
    return [] if lines else ["no line says the Pushgateway push failed"]


def check_duplicate_guard(o: Outcome) -> list[str]:
    # every POST timed out: each job needed a lookup, and none was posted twice
    posts = o.truth["requests"].get("POST /jobExecution/jobs", 0)
    lookups = o.truth["requests"].get("GET /jobExecution/jobs", 0)
    return (
        []
        if posts == 2 * JOBS and lookups >= 2 * JOBS
        else [f"{posts} POSTs / {lookups} GETs for {2 * JOBS} jobs"]
    )


FIVE_XX = {"endpoint": "*", "error_rate": 0.05, "error_statuses": [500, 503]}
RESETS = {"endpoint": "*", "reset_rate": 0.03}
LOST_REPLIES = {"endpoint": "POST /jobExecution/jobs", "drop_reply_rate": 0.15}
SHORT_TOKEN = {"auth": {"access_token_lifetime_s": 0.8}}

CASES: list[Case] = [
    Case("none", "no fault (reference)", 0, check=check_all_matched),
    Case("5xx", "5 % HTTP 500/503", 0, _rules(FIVE_XX), injected=("error",)),
    Case(
        "429",
        "429 bursts + Retry-After: 1",
        0,
        driver=burst_429,
        injected=("throttle",),
        check=check_throttled,
        # 2 retries 10 ms apart fit inside a 1.5 s burst: only honouring Retry-After gets through
        env={"JES_MAX_RETRIES": "2", "JES_RETRY_BACKOFF_S": "0.01"},
    ),
    Case("resets", "3 % connection resets", 0, _rules(RESETS), injected=("reset",)),
    Case("lost-replies", "15 % lost POST replies", 0, _rules(LOST_REPLIES), injected=("drop",)),
    Case(
        "post-timeout",
        "every POST reply late (timeout)",
        0,
        # the client gives up after 0.2 s; the server creates the job 50 ms later
        _rules({"endpoint": "POST /jobExecution/jobs", "latency_ms": 250}),
        env={"JES_REQUEST_TIMEOUT_S": "0.2"},
        check=check_duplicate_guard,
    ),
    Case(
        "viya-down",
        "Viya API 503 for 3 s, twice",
        0,
        driver=viya_down,
        injected=("error",),
        check=check_rode_out,
    ),
    Case(
        "latency",
        "2 s latency (x1/40: 50 ms)",
        0,
        _rules({"endpoint": "*", "latency_ms": LATENCY_MS}),
    ),
    Case("short-token", "token lifetime 0.8 s < phase", 0, SHORT_TOKEN, check=check_no_lost_poll),
    Case(
        "lag",
        "orchestrator registration lag 30 s",
        0,
        {"registration_lag_s": 30},
        check=check_all_matched,
    ),
    Case(
        "lag-long",
        "orchestrator registration lag 1500 s (> a phase)",
        0,
        {"registration_lag_s": 1500},
        check=check_lag_waited_for,
    ),
    Case(
        "outage",
        "orchestrator 503 for a whole phase",
        0,
        {"faults": {"orchestrator_outage": {"start_s": 0, "duration_s": 1e9}}},
        env={"JES_CORRELATION_DEADLINE_S": "1"},
        driver=end_outage_after_first_phase,
        injected=("outage",),
        check=check_outage_phase,
    ),
    Case(
        "stuck",
        "job stuck past its timeout",
        3,
        {"jobs": {STUCK_JOB: {"elapsed_s": 1e6}}},
        args=["--job-timeout", "4"],
        check=check_stuck,
        status="completed_with_failures",
    ),
    Case(
        "pushgateway-down",
        "Pushgateway down (closed port)",
        4,
        pushgateway=False,
        check=check_push_failed,
    ),
    Case(
        "sigterm",
        "SIGTERM mid-phase",
        143,
        driver=sigterm_mid_phase,
        check=check_aborted,
        status="aborted",
    ),
    Case(
        "disk-full",
        "results volume full (64 KiB tmpfs)",
        5,
        volume="full",
        check=check_results_volume,
    ),
    Case("read-only", "results volume read-only", 5, volume="readonly", check=check_results_volume),
    Case(
        "5xx+lost",
        "5 % 5xx + 15 % lost POST replies",
        0,
        _rules(FIVE_XX, LOST_REPLIES),
        injected=("error", "drop"),
    ),
    Case(
        "resets+token",
        "3 % resets + 0.8 s token",
        0,
        _merge(_rules(RESETS), SHORT_TOKEN),
        injected=("reset",),
        check=check_no_lost_poll,
    ),
    Case(
        "sigterm-correlating",
        "SIGTERM during correlation (orchestrator lagging)",
        143,
        {"registration_lag_s": 1e6},
        env={"JES_CORRELATION_DEADLINE_S": "120", "JES_GRACE_PERIOD_SECONDS": "8"},
        driver=sigterm_correlating,
        check=check_correlation_cut,
        status="aborted",
    ),
    Case(
        "double-sigterm",
        "two SIGTERMs 50 ms apart, 50 jobs in flight",
        143,
        driver=double_sigterm,
        pushgateway=False,  # the second signal exits at once: `recover` writes the results
        after_run=recover_checkpoint,
        check=check_double_signal,
        status="aborted",
    ),
    Case(
        "kill9-phase2",
        "kill -9 in phase 2, server finishes, recover",
        -9,
        driver=kill_in_phase_two,
        pushgateway=False,  # killed: `recover` writes the results
        after_run=settle_and_recover,
        check=check_recovered_all,
        status="aborted",
    ),
    Case(
        "auth-revoked",
        "refresh token revoked mid-phase (no other grant)",
        7,
        # the client may refresh only: no password (unset below), no client_credentials grant
        {
            "auth": {
                "access_token_lifetime_s": 1.0,
                "clients": {CLIENT_ID: {"grants": ["password", "refresh_token"]}},
            }
        },
        env={"JES_USERNAME": "", "JES_PASSWORD": ""},
        driver=revoke_refresh,
        check=check_auth_unknown,
        status="aborted",
        settle=True,
    ),
    Case(
        "definition-deleted",
        "job definition deleted mid-run",
        2,
        driver=delete_definition,
        check=check_drift,
        status="aborted",
    ),
    Case(
        "context-renamed",
        "compute context renamed mid-phase",
        2,
        driver=rename_context,
        check=check_drift,
        status="aborted",
    ),
]
CASE_IDS = [c.id for c in CASES]


# -- running one case ------------------------------------------------------------------------------


def make_scenario(overrides: dict[str, Any]) -> Any:
    from jes_runner.emulator import default_scenario
    from jes_runner.sim.scenario import parse_scenario

    base = default_scenario().model_dump(mode="json")
    secret_client = {
        "auth": {"clients": {CLIENT_ID: {"secret": CLIENT_SECRET}}},
        "speed_factor": SPEED,
    }
    return parse_scenario(deep_merge(deep_merge(base, secret_client), overrides), "<fault-matrix>")


def obtain_tokens(url: str) -> tuple[str, str]:
    """A real access + refresh token pair from the emulator: what a user would put in JES_*_TOKEN."""
    import base64
    from urllib.parse import urlencode

    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    req = urllib.request.Request(
        url + "/SASLogon/oauth/token",
        method="POST",
        data=urlencode(
            {"grant_type": "password", "username": USERNAME, "password": PASSWORD}
        ).encode(),
        headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = json.loads(resp.read())
    return body["access_token"], body["refresh_token"]


@dataclass
class Outcome:
    case: Case
    exit_code: int
    stdout: str
    stderr: str
    elapsed: float
    results: dict[str, Any] | None
    results_source: str | None  # "file" | "stdout" | None
    checkpoint_text: str
    truth: dict[str, Any]
    artifacts: dict[str, str]  # name -> text, scanned for secrets
    secrets: list[str]
    driver_log: list[str]
    ended_wall: float = 0.0  # time.time() when the runner exited
    results_mtime: float | None = None  # when the results file was written


@contextlib.contextmanager
def results_volume(path: Path, kind: str | None) -> Iterator[Callable[[], None] | None]:
    """A real small or read-only filesystem at ``path`` (tmpfs; we run as root in CI).

    Yields a preexec function for the runner's process when mounting is refused
    (unprivileged): a 64 KiB RLIMIT_FSIZE for "full", a 0555 directory for
    "readonly" -- the same errors (EFBIG / EACCES instead of ENOSPC / EROFS)."""
    path.mkdir(parents=True, exist_ok=True)
    if kind is None:
        yield None
        return
    opts = "size=64k" + (",ro" if kind == "readonly" else "")
    mounted = (
        shutil.which("mount") is not None
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )
    try:
        if mounted:
            yield None
        elif kind == "readonly":
            path.chmod(0o555)
            yield None
        else:

            def limit() -> None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

            yield limit
    finally:
        if mounted:
            for _ in range(20):
                if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)
            else:
                subprocess.run(["umount", "-l", str(path)], capture_output=True)
        else:
            path.chmod(0o755)


def pushgateway_metrics(url: str | None) -> str:
    if not url:
        return ""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        return str(resp.read().decode("utf-8", "replace"))


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PG_URL_SECRET = "pgu-Qd4Lm9-matrix-only-77c2"  # planted as the password in the Pushgateway URL


def runner_env(
    case: Case, workdir: Path, out_dir: Path, pg: str | None, access: str, refresh: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JES_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
            "JES_USERNAME": USERNAME,
            "JES_PASSWORD": PASSWORD,
            "JES_CLIENT_ID": CLIENT_ID,
            "JES_CLIENT_SECRET": CLIENT_SECRET,
            "JES_ACCESS_TOKEN": access,
            "JES_REFRESH_TOKEN": refresh,
            "JES_SECRETS_DIR": str(workdir / "no-secrets-dir"),
            "JES_OUTPUT_DIR": str(out_dir),
            "JES_PHASES": json.dumps(PHASES),
            "JES_RETRY_BACKOFF_S": "0.02",
            "JES_CORRELATION_DEADLINE_S": "15",
            "JES_CLUSTER": "fault-matrix",
            "JES_ENVIRONMENT": case.id,
            "JES_PUSHGATEWAY_TOKEN": PUSHGATEWAY_TOKEN,
            "JES_PUSHGATEWAY_RETRIES": "1",
            "JES_PUSHGATEWAY_BACKOFF_S": "0.05",
            "JES_PUSHGATEWAY_TIMEOUT_S": "3",
        }
    )
    if pg:
        env["JES_PUSHGATEWAY_URL"] = pg
    env.update(case.env)
    return env


def with_credentials(url: str, user: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest}"


def collect_artifacts(
    out_dir: Path, texts: dict[str, str], pushgateway_url: str | None
) -> dict[str, str]:
    """Every text the run left (output, files, the pushed metrics): scanned for planted secrets."""
    artifacts = dict(texts)
    for f in sorted(out_dir.rglob("*")) if out_dir.exists() else []:
        if f.is_file():
            with contextlib.suppress(OSError):
                data = f.read_bytes()
                artifacts[f"file {f.name}"] = (
                    data.decode("utf-8", "replace") if b"\0" not in data else ""
                )
    with contextlib.suppress(OSError):
        artifacts["pushgateway /metrics"] = pushgateway_metrics(pushgateway_url)
    return artifacts


def run_case(
    case: Case, workdir: Path, pushgateway_url: str | None, timeout: float = 150.0
) -> Outcome:
    from jes_runner.emulator import Emulator

    workdir.mkdir(parents=True, exist_ok=True)
    out_dir = workdir / "results"
    with (
        Emulator(
            scenario=make_scenario(case.scenario), port=0, username=USERNAME, password=PASSWORD
        ) as emu,
        results_volume(out_dir, case.volume) as preexec,
        contextlib.ExitStack() as stack,
    ):
        access, refresh = obtain_tokens(emu.url)
        secrets = [PASSWORD, CLIENT_SECRET, PUSHGATEWAY_TOKEN, access, refresh]
        pg = pushgateway_url if case.pushgateway else f"http://127.0.0.1:{closed_port()}"
        scanned_pg = pushgateway_url
        if case.trickle_push:
            from support.trickle import trickle_server

            pg = stack.enter_context(trickle_server(interval=3.0)).url
            scanned_pg = None  # reading its /metrics would trickle too
        viya_url = emu.url
        if case.url_credentials:
            viya_url = with_credentials(emu.url, USERNAME, PASSWORD)
            pg = with_credentials(pg, "pusher", PG_URL_SECRET) if pg else pg
            secrets.append(PG_URL_SECRET)
        env = runner_env(case, workdir, out_dir, pg, access, refresh)
        argv = [sys.executable, "-m", "jes_runner", "run", "--viya-url", viya_url, *case.args]
        t0 = time.monotonic()
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=preexec,
        )
        ctx = Ctx(emu, out_dir, proc, threading.Event())
        driver = (
            threading.Thread(target=case.driver, args=(ctx,), daemon=True) if case.driver else None
        )
        if driver:
            driver.start()
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            stderr += f"\n[fault matrix: killed after {timeout} s]"
        finally:
            ctx.stop.set()
            if driver:
                driver.join(10)
        elapsed = time.monotonic() - t0
        ended_wall = time.time()
        if case.after_run is not None:
            case.after_run(ctx, env)
        if case.settle:
            _wait_server_idle(emu)
        truth = emu.ground_truth()
        artifacts = collect_artifacts(out_dir, {"stdout": stdout, "stderr": stderr}, scanned_pg)

        results, source, mtime = None, None, None
        files = sorted(out_dir.glob("pooled_jobs_comparison_*.json"))
        if files:
            results, source, mtime = (
                json.loads(files[-1].read_text()),
                "file",
                files[-1].stat().st_mtime,
            )
        else:
            for ln in stdout.splitlines():
                if ln.startswith('{"schema_version"'):
                    results, source = json.loads(ln), "stdout"
        checkpoint = "".join(v for k, v in artifacts.items() if k.endswith(".checkpoint.jsonl"))
    return Outcome(
        case,
        proc.returncode,
        stdout,
        stderr,
        elapsed,
        results,
        source,
        checkpoint,
        truth,
        artifacts,
        secrets,
        ctx.log,
        ended_wall,
        mtime,
    )


def run_and_judge(case: Case, workdir: Path, pushgateway_url: str | None) -> tuple[Row, str]:
    """One case's row, and what to show when it has problems."""
    if case.special is not None:
        row = case.special(case, workdir, pushgateway_url)
        return row, ""
    outcome = run_case(case, workdir, pushgateway_url)
    detail = (
        f"\n--- driver: {outcome.driver_log}\n--- stdout (tail) ---\n{outcome.stdout[-4000:]}"
        f"\n--- stderr ---\n{outcome.stderr[-2000:]}"
    )
    return judge(outcome), detail


# -- judging ---------------------------------------------------------------------------------------


@dataclass
class Row:
    fault: str
    jobs: int
    lost: int
    duplicated: int
    orphaned: int
    max_timing_error: float | None
    exit_code: int
    expected_exit: int
    seconds: float
    problems: list[str]
    exit_label: str | None = None  # several processes: their exit codes, e.g. "0/0"


def judge(o: Outcome) -> Row:
    from jes_runner.results.schema import validate_results

    case, problems = o.case, []
    res = o.results
    if o.exit_code != case.exit_code:
        problems.append(f"exit code {o.exit_code}, expected {case.exit_code}")
    if "Traceback" in o.stderr or "Traceback" in o.stdout:
        problems.append("a traceback was printed")
    # log lines are on stderr; besides them, at most the one error line
    errors = non_log_lines(o.stderr)
    if len(errors) > 1:
        problems.append(
            f"stderr has {len(errors)} lines besides log lines, expected at most one: {errors[:3]}"
        )
    if errors and o.stderr.strip().splitlines()[-1] != errors[-1]:
        problems.append("the error line is not the last line on stderr")
    recs: list[dict[str, Any]] = []
    if res is None:
        problems.append("no results (neither file nor stdout copy)")
    else:
        errors = validate_results(res)
        if errors:
            problems.append(f"schema: {errors[:3]}")
        if case.status and res["status"] != case.status:
            problems.append(f"status {res['status']}, expected {case.status}")
        recs = [j for p in res["phases"] for j in p["jobs"]]

    truth_jobs = o.truth["jobs"]
    by_id = {t["id"]: t for t in truth_jobs}
    server_names = Counter(t["name"] for t in truth_jobs)
    recorded = Counter(j["unique_job_name"] for j in recs)
    duplicated = sum(c - 1 for c in server_names.values()) + sum(c - 1 for c in recorded.values())
    lost_names = set(server_names) - set(recorded)
    if res is not None and res["status"] != "aborted":
        for p, spec in zip(res["phases"], PHASES, strict=False):
            missing = JOBS - len({j["unique_job_name"] for j in p["jobs"]})
            if missing > 0:
                lost_names |= {f"{spec['name']}#{i}" for i in range(missing)}
        if len(res["phases"]) < len(PHASES):
            problems.append(f"{len(res['phases'])} phases in the results")
    ids = {j["job_instance_id"] for j in recs if j.get("job_instance_id")}
    orphaned = [
        t for t in truth_jobs if t["id"] not in ids or t["jes_state"] in ("pending", "running")
    ]
    errors_s: list[float] = []
    for j in recs:
        t = by_id.get(j.get("job_instance_id"))
        if t is None:
            if j["status"] != "submit_failed":
                problems.append(
                    f"{j['unique_job_name']}: id {j.get('job_instance_id')} unknown to the server"
                )
            continue
        if t["name"] != j["unique_job_name"]:
            problems.append(f"{j['unique_job_name']} points at server job {t['name']}")
        if j["timing_source"] == "server" and t["jes_end_epoch"] is not None:
            errors_s.append(abs(j["duration"] - (t["jes_end_epoch"] - t["submit_epoch"])))
        if j["status"] in ("completed", "failed", "canceled") and t["jes_state"] != j["status"]:
            problems.append(
                f"{j['unique_job_name']}: recorded {j['status']}, server says {t['jes_state']}"
            )
    max_err = max(errors_s) if errors_s else None
    if lost_names:
        problems.append(f"lost: {sorted(lost_names)[:5]}")
    if duplicated:
        problems.append(f"duplicated: {[n for n, c in server_names.items() if c > 1][:5]}")
    if orphaned:
        problems.append(f"orphaned: {[(t['name'], t['jes_state']) for t in orphaned][:5]}")
    if max_err is not None and max_err > TOLERANCE_S:
        problems.append(f"timing error {max_err:.3f} s > {TOLERANCE_S} s")
    if case.exit_code in (0, 4) and not recs:
        problems.append("no job records")

    kinds = Counter(f["kind"] for f in o.truth["faults_injected"])
    for kind in case.injected:
        if not kinds.get(kind):
            problems.append(f"no '{kind}' fault was injected (injected: {dict(kinds)})")

    problems += find_leaks(o.artifacts, o.secrets)
    if case.pushgateway and not case.trickle_push and case.exit_code != 4:
        pushed = o.artifacts.get("pushgateway /metrics", "")
        if f'environment="{case.id}"' not in pushed:
            problems.append("the run's metrics are not on the Pushgateway")
    if case.check:
        problems += case.check(o)
    return Row(
        case.fault,
        len(recs),
        len(lost_names),
        duplicated,
        len(orphaned),
        max_err,
        o.exit_code,
        case.exit_code,
        o.elapsed,
        problems,
    )


def find_leaks(artifacts: dict[str, str], secrets: list[str]) -> list[str]:
    """Every artifact (name -> text) holding a planted secret or anything shaped like a JWT."""
    problems = []
    for name, text in artifacts.items():
        for s in secrets:
            if s and s in text:
                problems.append(f"SECRET LEAK: a planted secret ({s[:6]}...) appears in {name}")
        if JWT.search(text):
            problems.append(f"SECRET LEAK: a JWT appears in {name}")
    return problems


def table(rows: list[Row]) -> str:
    head = ["fault", "jobs", "lost", "duplicated", "orphaned", "max timing error", "exit code"]
    body = [
        [
            r.fault,
            str(r.jobs),
            str(r.lost),
            str(r.duplicated),
            str(r.orphaned),
            "-" if r.max_timing_error is None else f"{r.max_timing_error:.3f} s",
            (r.exit_label or str(r.exit_code))
            + ("" if r.exit_code == r.expected_exit else f" (expected {r.expected_exit})"),
        ]
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(head), line(["-" * w for w in widths]), *(line(b) for b in body)])


# -- issue 11: runs that overlap, crash or hang ---------------------------------------------------

TRICKLE_PUSH_TIMEOUT_S = 2.0
GRACE_S = 8.0


# `python -m jes_runner`, with the plan's clock pinned: both runs of a pair get the same <epoch>
# (the second their names are stamped with) however long each interpreter takes to start
PINNED_EPOCH = """
import sys, types
import jes_runner.measure.plan as plan
plan.time = types.SimpleNamespace(time=lambda: {epoch})
from jes_runner.cli.main import main
sys.argv[0] = "jes-runner"
raise SystemExit(main())
"""


def _spawn(
    argv: list[str], workdir: Path, env: dict[str, str], epoch: int | None = None
) -> subprocess.Popen[str]:
    head = ["-m", "jes_runner"] if epoch is None else ["-c", PINNED_EPOCH.format(epoch=epoch)]
    return subprocess.Popen(
        [sys.executable, *head, *argv],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 150.0) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return out, err + f"\n[fault matrix: killed after {timeout} s]"


def _row(
    case: Case, rows: list[Row], exit_codes: list[int], seconds: float, problems: list[str]
) -> Row:
    """One table row from several runs' rows (their sums) plus the case's own problems."""
    errs = [r.max_timing_error for r in rows if r.max_timing_error is not None]
    row = Row(
        case.fault,
        sum(r.jobs for r in rows),
        sum(r.lost for r in rows),
        sum(r.duplicated for r in rows),
        sum(r.orphaned for r in rows),
        max(errs) if errs else None,
        max(exit_codes, default=0),
        case.exit_code,
        seconds,
        [p for r in rows for p in r.problems] + problems,
    )
    row.exit_label = "/".join(str(c) for c in exit_codes)
    return row


def _own_truth(truth: dict[str, Any], token: str) -> dict[str, Any]:
    """Ground truth cut down to one run's jobs (their names end with its run token)."""
    return {**truth, "jobs": [t for t in truth["jobs"] if t["name"].endswith("_" + token)]}


def same_second(case: Case, workdir: Path, pushgateway_url: str | None) -> Row:
    """Two runners, one job config, one output directory, started in the same second, 40 % of POST
    replies lost. Judged per run against its own slice of the ground truth, plus across runs."""
    from jes_runner.emulator import Emulator

    workdir.mkdir(parents=True, exist_ok=True)
    out_dir = workdir / "results"
    problems: list[str] = []
    with Emulator(
        scenario=make_scenario(case.scenario), port=0, username=USERNAME, password=PASSWORD
    ) as emu:
        access, refresh = obtain_tokens(emu.url)
        secrets = [PASSWORD, CLIENT_SECRET, PUSHGATEWAY_TOKEN, access, refresh]
        env = runner_env(case, workdir, out_dir, pushgateway_url, access, refresh)
        t0 = time.monotonic()
        epoch = int(time.time())
        procs = [
            _spawn(["run", "--viya-url", emu.url, *case.args], workdir, env, epoch)
            for _ in range(2)
        ]
        outputs = [_finish(p) for p in procs]
        elapsed = time.monotonic() - t0
        truth = emu.ground_truth()
    files = sorted(out_dir.glob("pooled_jobs_comparison_*.json"))
    docs = [json.loads(f.read_text()) for f in files]
    if len(docs) != 2 or len({d["run_id"] for d in docs}) != 2:
        problems.append(f"{len(files)} results file(s) for 2 runs: {[f.name for f in files]}")
    epochs = {
        m.group(1)
        for d in docs
        for p in d["phases"]
        for j in p["jobs"]
        if (m := re.search(r"_(\d{9,})(?:_[0-9a-f]+)?$", j["unique_job_name"]))
    }
    if len(epochs) != 1:
        problems.append(
            f"the runs' names do not share one second (epochs {sorted(epochs)}): the case proves nothing"
        )
    rows = []
    for doc in docs:
        token = doc["run_id"].replace("-", "")[:6]
        mine = next((i for i, (out, _) in enumerate(outputs) if doc["run_id"] in out), 0)
        outcome = Outcome(
            case,
            procs[mine].returncode,
            outputs[mine][0],
            outputs[mine][1],
            elapsed,
            doc,
            "file",
            "",
            _own_truth(truth, token),
            {},
            secrets,
            [],
        )
        outcome.artifacts["pushgateway /metrics"] = pushgateway_metrics(pushgateway_url)
        rows.append(judge(outcome))
    ids = [
        {j["job_instance_id"] for p in d["phases"] for j in p["jobs"] if j.get("job_instance_id")}
        for d in docs
    ]
    if len(ids) == 2 and ids[0] & ids[1]:
        problems.append(f"{len(ids[0] & ids[1])} job id(s) in both results files")
    canceled = [t["name"] for t in truth["jobs"] if t["jes_state"] == "canceled"]
    # no fault here makes a run cancel anything: every cancel hit a job it must not touch
    if canceled:
        problems.append(f"{len(canceled)} job(s) canceled: {canceled[:3]}")
    by_id = {t["id"]: t for t in truth["jobs"]}
    foreign = [
        j["unique_job_name"]
        for d in docs
        for p in d["phases"]
        for j in p["jobs"]
        if (o := j["metrics"]["orchestrator_data"])
        and o.get("orchestrator_job_id")
        != by_id.get(j.get("job_instance_id"), {}).get("orchestrator_id")
    ]
    if foreign:
        problems.append(
            f"{len(foreign)} orchestrator record(s) attached to another job: {foreign[:3]}"
        )
    drops = Counter(f["kind"] for f in truth["faults_injected"])["drop"]
    if drops < 20:
        problems.append(f"only {drops} POST replies were lost")
    problems += find_leaks(
        collect_artifacts(
            out_dir,
            {"stdout": "".join(o for o, _ in outputs), "stderr": "".join(e for _, e in outputs)},
            None,
        ),
        secrets,
    )
    return _row(case, rows, [p.returncode for p in procs], elapsed, problems)


# last jobs of the config: in flight when killed
STUCK_AT_KILL = [
    "ta_pooled",
    "te_pooled",
    "ts_pooled",
]


def kill9_restart(case: Case, workdir: Path, pushgateway_url: str | None) -> Row:
    """kill -9 mid-phase, three long jobs in flight; then (1) a run at once: the dead run's jobs are
    listed but left alone (it could be alive: within its job timeout); (2) a run past that timeout
    with --cancel-orphans: listed and canceled; (3) `recover` on the dead run's checkpoint: a
    schema-valid results file (aborted) that `export` reads."""
    from jes_runner.emulator import Emulator
    from jes_runner.results.schema import validate_results

    workdir.mkdir(parents=True, exist_ok=True)
    out_dir = workdir / "results"
    problems: list[str] = []
    dead_timeout = 3.0
    with Emulator(
        scenario=make_scenario(case.scenario), port=0, username=USERNAME, password=PASSWORD
    ) as emu:
        access, refresh = obtain_tokens(emu.url)
        secrets = [PASSWORD, CLIENT_SECRET, PUSHGATEWAY_TOKEN, access, refresh]
        env = runner_env(case, workdir, out_dir, pushgateway_url, access, refresh)
        t0 = time.monotonic()
        dead = _spawn(
            ["run", "--viya-url", emu.url, "--job-timeout", str(dead_timeout)], workdir, env
        )
        # kill once the long jobs are running
        while dead.poll() is None and time.monotonic() - t0 < 60:
            running = [
                t
                for t in emu.ground_truth()["jobs"]
                if t["jes_state"] == "running"
                and t["name"].split("_")[0] + "_pooled" in STUCK_AT_KILL
            ]
            if len(running) == len(STUCK_AT_KILL):
                break
            time.sleep(0.05)
        dead.kill()
        dead_out, dead_err = dead.communicate()
        killed_at = time.monotonic()
        left = [t for t in emu.ground_truth()["jobs"] if t["jes_state"] in ("pending", "running")]
        if len(left) < len(STUCK_AT_KILL):
            problems.append(f"only {len(left)} job(s) left in Viya by the killed run")
        quick = [
            "run",
            "--viya-url",
            emu.url,
            "--limit-jobs",
            "3",
            "--sequential-only",
            "--no-report",
        ]
        first_out, first_err = _finish(_spawn([*quick, "--cancel-orphans"], workdir, env))
        after_first = {t["id"]: t["jes_state"] for t in emu.ground_truth()["jobs"]}
        if any(after_first[t["id"]] == "canceled" for t in left):
            problems.append("a run canceled jobs of a run still within its job timeout")
        if "may still be running -- left alone" not in first_err:
            problems.append("the immediate restart did not list the dead run's jobs as left alone")
        # past its timeout + the 5 s slack (+ 1.5 s: the server's Date header has whole seconds)
        time.sleep(max(0.0, killed_at + dead_timeout + 6.5 - time.monotonic()))
        second = _spawn([*quick, "--cancel-orphans"], workdir, env)
        second_out, second_err = _finish(second)
        truth = emu.ground_truth()
        states = {t["id"]: t["jes_state"] for t in truth["jobs"]}
        if "the run is gone -- canceled" not in second_err:
            problems.append(
                "the restart with --cancel-orphans did not say it canceled the dead run's jobs"
            )
        still = [t["name"] for t in left if states[t["id"]] in ("pending", "running")]
        orphaned = len(still)
        if still:
            problems.append(f"{len(still)} orphan(s) still pending/running: {still[:3]}")
        checkpoints = [
            c
            for c in out_dir.glob("*.checkpoint.jsonl")
            if c.read_text().count('"type":"job"') > 10
        ]
        if len(checkpoints) != 1:
            problems.append(f"{len(checkpoints)} checkpoint(s) of the killed run")
            return _row(
                case, [], [dead.returncode, second.returncode], time.monotonic() - t0, problems
            )
        rec = subprocess.run(
            [
                sys.executable,
                "-m",
                "jes_runner",
                "recover",
                str(checkpoints[0]),
                "--viya-url",
                emu.url,
                "--output-dir",
                str(workdir / "recovered"),
            ],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    seconds = time.monotonic() - t0
    recovered = sorted((workdir / "recovered").glob("pooled_jobs_comparison_*.json"))
    if rec.returncode != 0 or not recovered:
        problems.append(f"recover exit {rec.returncode}: {rec.stderr.strip()[-300:]}")
        return _row(
            case, [], [dead.returncode, second.returncode, rec.returncode], seconds, problems
        )
    doc = json.loads(recovered[0].read_text())
    errors = validate_results(doc)
    if errors:
        problems.append(f"recovered file: schema {errors[:3]}")
    if doc["status"] != "aborted":
        problems.append(f"recovered status {doc['status']}")
    token = doc["run_id"].replace("-", "")[:6]
    recs = [j for p in doc["phases"] for j in p["jobs"]]
    finished = [
        t
        for t in _own_truth(truth, token)["jobs"]
        if t["jes_end_epoch"] is not None
        and t["name"].split("_")[0] + "_pooled" not in STUCK_AT_KILL
    ]
    recorded = {j["job_instance_id"] for j in recs}
    # the dead run's checkpoint has every job that ended before the kill; ones ending after it are not measured
    before_kill = [t for t in finished if t["id"] in recorded]
    by_id = {t["id"]: t for t in truth["jobs"]}
    errs = [
        abs(
            j["duration"]
            - (
                by_id[j["job_instance_id"]]["jes_end_epoch"]
                - by_id[j["job_instance_id"]]["submit_epoch"]
            )
        )
        for j in recs
        if j["timing_source"] == "server" and j["job_instance_id"] in by_id
    ]
    wrong = [
        j["unique_job_name"]
        for j in recs
        if by_id.get(j["job_instance_id"], {}).get("name") != j["unique_job_name"]
    ]
    if wrong:
        problems.append(f"recovered records pointing at other jobs: {wrong[:3]}")
    unmatched = sum(len(p["unmatched_jobs"]) for p in doc["phases"])
    if unmatched:
        problems.append(f"{unmatched} recovered job(s) left uncorrelated")
    readers = [
        ["export", str(recovered[0]), "--format", "csv", "--out", str(workdir / "recovered.csv")],
        ["report", str(recovered[0]), "--no-png", "--out", str(workdir / "recovered_report")],
        ["compare", str(recovered[0]), str(recovered[0])],
    ]
    if pushgateway_url:
        readers.append(["push", str(recovered[0]), "--pushgateway-url", pushgateway_url])
    for argv in readers:
        done = subprocess.run(
            [sys.executable, "-m", "jes_runner", *argv],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            problems.append(
                f"{argv[0]} of the recovered file: exit {done.returncode} {done.stderr.strip()[-200:]}"
            )
    texts = {
        "stdout": dead_out + first_out + second_out + rec.stdout,
        "stderr": dead_err + first_err + second_err + rec.stderr,
    }
    problems += find_leaks(collect_artifacts(workdir, texts, None), secrets)
    checkpointed = {
        json.loads(ln)["unique_job_name"]
        for ln in checkpoints[0].read_text().splitlines()
        if '"type":"job"' in ln
    }
    lost = checkpointed - {j["unique_job_name"] for j in recs}
    if lost:
        problems.append(
            f"{len(lost)} checkpointed job(s) missing from the recovered file: {sorted(lost)[:3]}"
        )
    # every job of the dead run on the server is recovered -- the ones in flight at the kill too,
    # asked of Viya: each with the server's final state (the stuck ones: canceled by the restart)
    own = _own_truth(truth, token)["jobs"]
    if {j["job_instance_id"] for j in recs} != {t["id"] for t in own}:
        problems.append(f"{len(recs)} recovered records for {len(own)} server jobs of the run")
    mis = [
        j["unique_job_name"]
        for j in recs
        if j["status"] != by_id.get(j["job_instance_id"], {}).get("jes_state")
    ]
    if mis:
        problems.append(f"recovered status differs from the server's: {mis[:3]}")
    if len(before_kill) + len(STUCK_AT_KILL) > len(recs):
        problems.append(f"{len(recs)} recovered records, fewer than the finished + in flight")
    row = Row(
        case.fault,
        len(recs),
        len(lost),
        0,
        orphaned,
        max(errs) if errs else None,
        second.returncode,
        case.exit_code,
        seconds,
        problems,
    )
    row.exit_label = f"-9/{second.returncode}/recover {rec.returncode}"
    return row


def trickle_viya(case: Case, workdir: Path, pushgateway_url: str | None) -> Row:
    """Viya trickles one byte every 3 s: each request ends at JES_REQUEST_TIMEOUT_S, the run soon after."""
    from support.trickle import trickle_server

    workdir.mkdir(parents=True, exist_ok=True)
    env = runner_env(case, workdir, workdir / "results", None, "", "")
    env.pop("JES_ACCESS_TOKEN"), env.pop("JES_REFRESH_TOKEN")
    with trickle_server(interval=3.0) as t:
        t0 = time.monotonic()
        proc = _spawn(["run", "--viya-url", t.url, "--limit-jobs", "3"], workdir, env)
        out, err = _finish(proc, timeout=120)
        seconds = time.monotonic() - t0
    problems = []
    timeout = float(case.env["JES_REQUEST_TIMEOUT_S"])
    # the token grant, retried; nothing gets further
    attempts = (1 + int(case.env["JES_MAX_RETRIES"])) * 2
    bound = attempts * timeout + 5.0  # + interpreter start and backoff
    if seconds > bound:
        problems.append(f"the run took {seconds:.1f} s, more than {attempts} x {timeout:g} s + 5 s")
    if proc.returncode != case.exit_code:
        problems.append(f"exit code {proc.returncode}, expected {case.exit_code}")
    if "timed out" not in err:
        problems.append(f"no line says Viya timed out: {err.strip()[-200:]}")
    if "Traceback" in err:
        problems.append("a traceback was printed")
    problems += find_leaks({"stdout": out, "stderr": err}, [PASSWORD, CLIENT_SECRET])
    return Row(case.fault, 0, 0, 0, 0, None, proc.returncode, case.exit_code, seconds, problems)


def check_push_bounded(o: Outcome) -> list[str]:
    """The push (2 attempts of at most 2 s each) ends that long after the results file was written."""
    problems = check_push_failed(o)
    push_s = o.ended_wall - o.results_mtime if o.results_mtime else None
    limit = 2 * TRICKLE_PUSH_TIMEOUT_S + 0.05 + 4.0  # + the summary and the interpreter's exit
    if push_s is None or push_s > limit:
        problems.append(f"push phase took {push_s} s (limit {limit:g} s)")
    return problems


def check_grace_kept(o: Outcome) -> list[str]:
    problems = check_aborted(o) + check_push_failed(o)
    if "exhausted" in o.stderr:
        problems.append("the watchdog had to end the run: the push overran the grace period")
    return problems


def check_grants(o: Outcome) -> list[str]:
    # the matrix itself asked for one (obtain_tokens: the tokens handed to the runner)
    grants = o.truth["requests"].get("POST /SASLogon/oauth/token", 0) - 1
    by_kind = ((o.results or {}).get("metadata") or {}).get("viya_requests", {}).get("by_kind", {})
    problems = (
        []
        if grants <= 2
        else [f"{grants} token grants (client clock 2 h ahead), expected at most 2"]
    )
    if by_kind.get("POST /SASLogon/oauth", 0) != grants:
        problems.append(
            f"the runner counted {by_kind.get('POST /SASLogon/oauth')} grants, the server {grants}"
        )
    return problems


ISOLATION_CASES: list[Case] = [
    Case(
        "same-second",
        "2 runs in one second + 40 % lost POST replies",
        0,
        _rules({"endpoint": "POST /jobExecution/jobs", "drop_reply_rate": 0.4}),
        special=same_second,
    ),
    Case(
        "kill9",
        "kill -9 mid-phase, restart, recover",
        0,
        {"jobs": {name: {"elapsed_s": 1e6} for name in STUCK_AT_KILL}},
        special=kill9_restart,
    ),
    Case(
        "trickle-push",
        "Pushgateway trickling 1 byte / 3 s",
        4,
        trickle_push=True,
        args=["--no-report"],
        env={
            "JES_PUSHGATEWAY_TIMEOUT_S": str(TRICKLE_PUSH_TIMEOUT_S),
            "JES_PUSHGATEWAY_RETRIES": "1",
        },
        check=check_push_bounded,
    ),
    Case(
        "sigterm+trickle-push",
        "SIGTERM + trickling Pushgateway (grace 8 s)",
        143,
        trickle_push=True,
        driver=sigterm_mid_phase,
        status="aborted",
        check=check_grace_kept,
        env={
            "JES_GRACE_PERIOD_SECONDS": str(GRACE_S),
            "JES_PUSHGATEWAY_TIMEOUT_S": "30",
            "JES_PUSHGATEWAY_RETRIES": "3",
        },
    ),
    Case(
        "trickle-viya",
        "Viya trickling 1 byte / 3 s",
        2,
        special=trickle_viya,
        env={"JES_REQUEST_TIMEOUT_S": "2", "JES_MAX_RETRIES": "1"},
    ),
    Case(
        "clock-skew",
        "client clock 2 h ahead of SASLogon",
        0,
        {"auth": {"clock_offset_s": -7200}},
        check=check_grants,
    ),
    Case(
        "url-credentials",
        "credentials planted in the Viya and Pushgateway URLs",
        0,
        url_credentials=True,
    ),
]
CASES += ISOLATION_CASES
CASE_IDS = [c.id for c in CASES]


SLOW_CLIENTS = 800


def emulator_slow_clients(case: Case, workdir: Path, pushgateway_url: str | None) -> Row:
    """800 loopback connections that never finish their request, one announcing a 1 GB body, one a
    bogus Content-Length, 500 probes of unknown paths: a normal client is still served at once, the
    slow ones are cut at the request/idle timeout, memory and the request counters stay bounded."""
    import socket

    import psutil
    import requests

    from jes_runner.emulator import Emulator

    problems: list[str] = []
    me = psutil.Process()
    limits = {"request_timeout_s": 3.0, "idle_timeout_s": 3.0}
    t0 = time.monotonic()
    with Emulator(port=0, limits=limits) as emu:
        host, port = "127.0.0.1", emu.port
        rss0 = me.memory_info().rss
        slow: list[socket.socket] = []
        for i in range(SLOW_CLIENTS):
            s = socket.create_connection((host, port), timeout=10)
            if i % 2:  # half get as far as a header, half say nothing at all
                s.sendall(b"GET /jobExecution/jobs HTTP/1.1\r\nHost: x\r\n")
            slow.append(s)
        big = socket.create_connection((host, port), timeout=10)
        big.sendall(
            b"POST /jobExecution/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n"
            + b"x" * 65536
        )
        bogus = socket.create_connection((host, port), timeout=10)
        bogus.sendall(
            b"POST /jobExecution/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n"
        )
        time.sleep(0.5)
        threads_peak = me.num_threads()
        rss_peak = me.memory_info().rss
        t_normal = time.monotonic()
        try:
            tok = requests.post(
                emu.url + "/SASLogon/oauth/token",
                auth=("sas.cli", ""),
                timeout=10,
                data={"grant_type": "password", "username": emu.username, "password": emu.password},
            )
            ctxs = requests.get(
                emu.url + "/compute/contexts",
                timeout=10,
                headers={"Authorization": f"Bearer {tok.json()['access_token']}"},
            )
            served = tok.status_code == 200 and ctxs.status_code == 200 and ctxs.json()["items"]
        except (requests.RequestException, ValueError, KeyError) as e:
            served, ctxs = False, None
            problems.append(f"the normal client failed: {e.__class__.__name__}")
        normal_s = time.monotonic() - t_normal
        if not served:
            problems.append("the normal client was not served")
        if normal_s > 2.0:
            problems.append(f"the normal client waited {normal_s:.1f} s")
        for s, expect in ((big, b" 413 "), (bogus, b" 400 ")):
            head = s.recv(200)
            if expect not in head:
                problems.append(f"expected{expect.decode()}got {head[:40]!r}")
        for _ in range(500):
            requests.get(emu.url + f"/probe/{time.monotonic_ns()}", timeout=10)
        buckets = [k for k in emu.requests if "no route" in k or k.startswith("GET /probe")]
        if len(buckets) != 1:
            problems.append(f"{len(buckets)} request counters for 500 unknown paths")
        deadline = time.monotonic() + limits["request_timeout_s"] + 5
        open_slow = SLOW_CLIENTS
        while time.monotonic() < deadline:
            with emu._server.conns_lock:
                open_slow = len(emu._server.conns)
            if open_slow == 0:
                break
            time.sleep(0.2)
        cut_s = time.monotonic() - t_normal
        if open_slow:
            problems.append(f"{open_slow} connection(s) still open {cut_s:.0f} s later")
        closed = 0
        for s in slow:
            s.settimeout(0.5)
            with contextlib.suppress(OSError):
                if s.recv(1) == b"":
                    closed += 1
            s.close()
        big.close()
        bogus.close()
        if closed < SLOW_CLIENTS:
            problems.append(
                f"only {closed} of {SLOW_CLIENTS} slow connections were closed by the emulator"
            )
    grown_mb = (rss_peak - rss0) / 2**20
    if grown_mb > 256:
        problems.append(f"memory grew {grown_mb:.0f} MB under {SLOW_CLIENTS} slow connections")
    seconds = time.monotonic() - t0
    print(
        f"[emulator-slow-clients] threads at peak {threads_peak}, RSS +{grown_mb:.0f} MB, normal client "
        f"{normal_s * 1000:.0f} ms, all slow connections cut within {cut_s:.1f} s",
        file=sys.stderr,
    )
    row = Row(case.fault, 0, 0, 0, 0, None, 0 if served else 1, case.exit_code, seconds, problems)
    row.exit_label = "served" if served else "not served"
    return row


CASES.append(
    Case(
        "emulator-slow",
        f"emulator: {SLOW_CLIENTS} slow connections + 1 GB Content-Length",
        0,
        special=emulator_slow_clients,
    )
)
CASE_IDS = [c.id for c in CASES]
