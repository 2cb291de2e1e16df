"""Nightly runs in the real results format, for the trend tests and benchmark.

Job timings go in; the project's own code makes everything else: ``JobRecord`` ->
``phase_document`` (stats), ``vs_baseline`` (speedups, comparability), ``run_document``
and ``write_results`` (the runner's file, its name and layout). So a planted slowdown
reaches `trend` only through the figures the runner itself would compute.
"""

from __future__ import annotations

import json
import random
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jes_runner._util import iso
from jes_runner.measure.executor import PhaseOutcome
from jes_runner.measure.plan import PhasePlan, PlannedJob
from jes_runner.measure.records import JobRecord
from jes_runner.measure.stats import not_comparable_reason, spans, vs_baseline
from jes_runner.results.document import phase_document, run_document
from jes_runner.results.files import write_results

NIGHT0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
SEQ_CONTEXT, CONC_CONTEXT = "SAS Job Execution compute context", "Autoscaling POC Context"
GAP_S = 0.5  # the runner's reaction between one job's end and the next submission
NODE_HOUR_PRICE = 1.2


@dataclass(slots=True)
class Night:
    """One run: when, which labels, and what its jobs did."""

    started: datetime
    environment: str = "prod"
    profile: str = "nightly"
    jobs: int = 12
    concurrency: int = 4
    slowdown: float = 1.0  # the concurrent phase's jobs run this much longer (a planted regression)
    failed: int = 0  # concurrent-phase jobs that failed (the phase is then not comparable)
    emulated: bool = False
    speed_factor: float = 0.005  # emulated runs: served seconds = model seconds x this
    node_ready_s: float | None = 120.0  # concurrent phase: first new node ready
    priced: bool = True  # phases carry a cost (issue 24's `cost`)
    seed: int = 0


def _job_seconds(n: int, rng: random.Random) -> list[float]:
    """Each job's run time: a fixed workload (60..170 s) with +-2 % night-to-night noise."""
    return [(60.0 + 10.0 * (k % 12)) * rng.uniform(0.98, 1.02) for k in range(n)]


def _record(
    name: str,
    phase: str,
    context: str,
    seq: int,
    t: datetime,
    seconds: float,
    status: str,
    wait: float,
    host: str,
) -> JobRecord:
    end = t + timedelta(seconds=seconds)
    return JobRecord(
        name=name,
        unique_job_name=f"{name}_{phase}_{seq}_{int(t.timestamp())}_{uuid.uuid4().hex[:6]}",
        phase=phase,
        context=context,
        sequence=seq,
        definition_id=f"def-{name}",
        job_instance_id=str(uuid.uuid4()),
        status=status,
        server_state=status,
        submitted_at=t,
        started_at=t + timedelta(seconds=wait),
        ended_at=end,
        elapsed_time_ms=int(seconds * 1000),
        client_submitted_at=t,
        client_ended_at=end + timedelta(seconds=0.2),
        error=None if status == "completed" else "job failed",
        orchestrator={  # the fields the runner's correlation copies from the orchestrator
            "orchestrator_job_id": seq,
            "orchestrator_name": f"{name}{phase}{seq}-{uuid.uuid4()}",
            "queue": "default-queue",
            "state": "DONE",
            "exit_code": 0,
            "execution_host": host,
            "execution_ip": "10.244.2.3",
            "submit_time": iso(t),
            "start_time": iso(t + timedelta(seconds=wait)),
            "end_time": iso(end),
            "queue_wait_seconds": round(wait, 3),
            "starting_seconds": 2.0,
            "execution_seconds": round(seconds - wait - 2.0, 3),
            "requeue_count": 0,
            "cpu_cores": 1.0,
            "memory_mb": 2048.0,
            "limits": {"maxMemory": 0.03, "maxCpuTime": 37.7, "maxClockTime": round(seconds, 3)},
        },
    )


def _plan(
    name: str, context: str, mode: str, concurrency: int, baseline: bool, names: list[str]
) -> PhasePlan:
    return PhasePlan(
        name=name,
        slug=name,
        context=context,
        mode=mode,  # type: ignore[arg-type]
        concurrency=concurrency,
        baseline=baseline,
        jobs=[PlannedJob(n, f"def-{n}", {}, None) for n in names],
    )


def _scale(records: list[JobRecord], t0: datetime, factor: float) -> None:
    """Served (emulator) times: model seconds x speed factor from the run's start."""
    for r in records:
        for attr in (
            "submitted_at",
            "started_at",
            "ended_at",
            "client_submitted_at",
            "client_ended_at",
        ):
            v = getattr(r, attr)
            if v is not None:
                setattr(r, attr, t0 + (v - t0) * factor)
        o = r.orchestrator or {}
        for key in ("queue_wait_seconds", "starting_seconds", "execution_seconds"):
            o[key] = round(o[key] * factor, 6)


def night_document(night: Night) -> dict[str, Any]:
    """One run's results document, built the runner's way."""
    rng = random.Random(night.seed)
    names = [f"job{k:02d}" for k in range(night.jobs)]
    seconds = _job_seconds(night.jobs, rng)
    t = night.started + timedelta(seconds=5)
    seq_records = []
    for k, (n, s) in enumerate(zip(names, seconds, strict=True), 1):
        seq_records.append(
            _record(n, "sequential", SEQ_CONTEXT, k, t, s, "completed", 0.3, "node-a")
        )
        t += timedelta(seconds=s + GAP_S)
    conc_start = t + timedelta(seconds=10)
    conc_records, t = [], conc_start
    for b in range(0, night.jobs, night.concurrency):
        batch_end = t
        for k in range(b, min(b + night.concurrency, night.jobs)):
            status = "failed" if k >= night.jobs - night.failed else "completed"
            run_s = seconds[k] * night.slowdown * rng.uniform(0.98, 1.02)
            wait = 1.0 + 0.5 * (k - b)
            r = _record(
                names[k],
                "concurrent",
                CONC_CONTEXT,
                k + 1,
                t,
                run_s + wait,
                status,
                wait,
                f"node-{k % 2}",
            )
            conc_records.append(r)
            batch_end = max(batch_end, r.ended_at or t)
        t = batch_end + timedelta(seconds=GAP_S)
    if night.emulated:
        _scale(seq_records + conc_records, night.started, night.speed_factor)
    seq_plan = _plan("sequential", SEQ_CONTEXT, "sequential", 1, True, names)
    conc_plan = _plan("concurrent", CONC_CONTEXT, "batch", night.concurrency, False, names)
    seq = phase_document(PhaseOutcome(seq_plan, seq_records), [])
    conc = phase_document(PhaseOutcome(conc_plan, conc_records), [])
    base_spans, conc_spans = spans(seq_records), spans(conc_records)
    conc["vs_baseline"] = vs_baseline(
        base_spans,
        conc_spans,
        baseline_reason=not_comparable_reason("sequential", base_spans, False, night.jobs),
        reason=not_comparable_reason("concurrent", conc_spans, False, night.jobs),
    )
    if night.node_ready_s is not None:
        served = night.node_ready_s * (night.speed_factor if night.emulated else 1.0)
        conc["scaling"] = {
            "source": "kubernetes",
            "time_to_first_node_ready_seconds": round(served, 3),
        }
    if night.priced:
        for p, nodes in ((seq, 1), (conc, 2)):
            # model seconds for emulated runs: what the modelled cluster's nodes would cost
            served_s = p["stats"]["makespan_seconds"] * nodes
            node_s = served_s / night.speed_factor if night.emulated else served_s
            p["cost"] = {
                "amount": round(node_s / 3600 * NODE_HOUR_PRICE, 4),
                "currency": "EUR",
                "node_hour_price": NODE_HOUR_PRICE,
            }
    ended = (conc_records[-1].ended_at or t) + timedelta(seconds=1)
    return run_document(
        [seq, conc],
        run_id=str(uuid.UUID(int=rng.getrandbits(128))),
        started=night.started,
        ended=ended,
        elapsed_s=(ended - night.started).total_seconds(),
        aborted=False,
        viya_url="http://emulator" if night.emulated else "https://viya.example.com",
        labels={"cluster": "aks", "environment": night.environment, "profile": night.profile},
        job_config="config/job_configs.json",
        settings={
            "environment": night.environment,
            "profile": night.profile,
            "password": "********",
        },
        emulated=night.emulated,
        viya_requests={"total": 0, "by_kind": {}},
        emulator={"scenario": "default", "speed_factor": night.speed_factor}
        if night.emulated
        else None,
    )


def write_night(directory: Path, night: Night) -> Path:
    """The run's results file, written and named by the runner's writer."""
    directory.mkdir(parents=True, exist_ok=True)
    return write_results(directory, night_document(night), night.started)


def nights(count: int, start: datetime = NIGHT0, **kw: Any) -> list[Night]:
    """``count`` runs one day apart (seeded per night: reproducible noise)."""
    tag = repr(sorted(kw.items()))
    return [
        Night(started=start + timedelta(days=i), seed=zlib.crc32(f"{i} {tag}".encode()), **kw)
        for i in range(count)
    ]


ORIGINAL_TWO_PHASE = Path(__file__).parents[1] / "results" / "data" / "original_two_phase.json"
PLANTED = ("prod", "nightly", "concurrent", "viya")  # environment, profile, phase, source
# what a 1.6x slower concurrent phase moves beyond tolerance: its makespan, its busy speedup
# and its cost (node-seconds x price)
PLANTED_FIGURES = ("makespan", "busy_speedup", "cost")


@dataclass(slots=True)
class Volume:
    root: Path
    corrupt: Path
    foreign: Path
    not_comparable_run: str  # run id in the planted series' history, failed jobs
    other_config_run: str  # run id in prod/weekly of another concurrency
    emulated_runs: list[str]


def planted_volume(root: Path, *, slowdown: float = 1.6, noise: bool = True) -> Volume:
    """A results volume: several environments and profiles, one planted regression (the last
    prod/nightly run's concurrent jobs ``slowdown`` x longer), and, with ``noise``, what must
    not change the verdicts: a not-comparable run in its history, emulated runs of the same
    labels (newer than every real one), another configuration, a not-comparable last run
    elsewhere, the original tool's file, a corrupt and a foreign file."""
    prod = nights(10)
    prod[-1].slowdown = slowdown
    bad = prod[4]
    if noise:
        bad.failed, bad.slowdown = 3, 0.5  # failures: faster, but not the same work
    written = [write_night(root / "prod" / "nightly", n) for n in prod]
    vol = Volume(root, root / "broken.json", root / "config" / "job_configs.json", "", "", [])
    vol.not_comparable_run = _run_id(written[4])
    if not noise:
        return vol
    weekly = nights(6, profile="weekly", start=NIGHT0 + timedelta(hours=6))
    weekly[2].concurrency = 8
    w = [write_night(root / "prod" / "weekly", n) for n in weekly]
    vol.other_config_run = _run_id(w[2])
    test = nights(6, environment="test")
    test[-1].failed, test[-1].slowdown = 2, 1.8  # would regress, but is not comparable
    for n in test:
        write_night(root / "test" / "nightly", n)
    emu = nights(8, emulated=True, start=NIGHT0 + timedelta(days=20))  # newer than every real run
    vol.emulated_runs = [_run_id(write_night(root / "emulated", n)) for n in emu]
    (root / "original").mkdir(parents=True, exist_ok=True)
    (root / "original" / ORIGINAL_TWO_PHASE.name).write_bytes(ORIGINAL_TWO_PHASE.read_bytes())
    text = written[1].read_text()
    vol.corrupt.write_text(text[: len(text) // 2])  # cut short, as a full disk leaves it
    vol.foreign.parent.mkdir(parents=True, exist_ok=True)
    vol.foreign.write_text('{"jobs": [{"name": "job00", "enabled": true}]}')
    return vol


def _run_id(path: Path) -> str:
    return str(json.loads(path.read_text())["run_id"])
