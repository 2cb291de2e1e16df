"""The checkpoint: one JSON object per line at ``<output_dir>/<run_id>.checkpoint.jsonl``.

The one home of its format -- the writer, a builder per line kind and the reader.
Line kinds, in the order a run writes them:

* ``run`` (first): the plan and the metadata a results document needs (``recover``);
* ``submitted``: a job Viya accepted (its id and name), written the moment the answer
  arrives, so ``recover`` and ``--cancel-orphans`` know every job in flight, whatever
  phase a crash interrupts;
* ``job``: a job that reached its end (the whole record);
* ``orchestrator``: a job's Workload Orchestrator data, once correlated;
* ``phase``: a phase that ended (status, statistics, unmatched jobs).

Each line is flushed at once, so a crash loses nothing already measured; it is
fsynced at most once a second (and on close) because an fsync per job would cost
more than the measurement at 10,000 jobs. A line cut short by the crash is skipped
when read.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from jes_runner._util import iso
from jes_runner.config.phases import slug
from jes_runner.errors import ConfigError
from jes_runner.measure.plan import PhasePlan, PlannedJob, RunPlan
from jes_runner.measure.records import JobRecord

log = logging.getLogger("jes_runner.results.checkpoint")

CHECKPOINT_SUFFIX = ".checkpoint.jsonl"
FSYNC_INTERVAL_S = 1.0  # at most one fsync a second: durability without an fsync per job


def checkpoint_path(output_dir: Path, run_id: str) -> Path:
    return Path(output_dir) / f"{run_id}{CHECKPOINT_SUFFIX}"


# -- writer ------------------------------------------------------------------------


class Checkpoint:
    """Append-only JSON lines; never raises (a checkpoint that cannot be written costs the run nothing)."""

    def __init__(self, output_dir: Path, run_id: str) -> None:
        self.path = checkpoint_path(output_dir, run_id)
        self.run_id = run_id
        self.error: str | None = None
        self._fh: IO[str] | None = None
        self._last_sync = 0.0
        self.lines = 0

    def open(self) -> bool:
        """Create the file exclusively: a run id is a UUID, so an existing file is another process's."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "x", encoding="utf-8")  # noqa: SIM115 - lives for the whole run
        except OSError as e:
            self.error = f"cannot write checkpoint {self.path}: {e.strerror or e}"
            return False
        return True

    def append(self, entry: dict[str, Any]) -> None:
        if self._fh is None:
            return
        try:
            self._fh.write(json.dumps(entry, separators=(",", ":")) + "\n")
            self._fh.flush()
            self.lines += 1
            now = time.monotonic()
            if now - self._last_sync >= FSYNC_INTERVAL_S:
                os.fsync(self._fh.fileno())
                self._last_sync = now
        except OSError as e:
            self.error = f"checkpoint {self.path} stopped: {e.strerror or e}"
            log.warning("%s; figures continue on stdout", self.error)
            self._close_quietly()

    def close(self) -> None:
        if self._fh is None:
            return
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as e:
            self.error = f"checkpoint {self.path}: {e.strerror or e}"
        self._close_quietly()

    def _close_quietly(self) -> None:
        try:
            if self._fh:
                self._fh.close()
        except OSError:
            pass
        self._fh = None

    # the line kinds, written through their builders below
    def submitted(self, record: JobRecord) -> None:
        self.append(submitted_line(self.run_id, record))

    def job(self, record: JobRecord) -> None:
        self.append(job_line(self.run_id, record))

    def orchestrator(self, record: JobRecord) -> None:
        if record.orchestrator:
            self.append(orchestrator_line(self.run_id, record))

    def phase(self, name: str, status: str, stats: dict[str, Any], unmatched: list[str]) -> None:
        self.append(phase_line(self.run_id, name, status, stats, unmatched))


# -- line builders ---------------------------------------------------------------------


def run_line(
    plan: RunPlan,
    *,
    started: datetime,
    viya_url: str,
    labels: dict[str, str],
    settings: dict[str, Any],
    emulated: bool,
    embedded_emulator: bool = False,
    emulator_model: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The first line: what ``recover`` needs to rebuild the results document. ``viya_url`` and
    ``settings`` must already be masked (they are stored as given). Each phase lists its planned
    job names, so a recovered phase counts what was planned, not only what was seen.
    ``embedded_emulator``: the Viya was an emulator inside the run's own process, so its URL died
    with the run (an emulator reached by URL is ``emulated`` too, but outlives the run and is
    asked like a Viya)."""
    return {
        "type": "run",
        "run_id": plan.run_id,
        "started_at": iso(started),
        "viya_url": viya_url,
        "labels": labels,
        "job_config": str(plan.job_config_path),
        "settings": settings,
        "emulator": emulated,
        "embedded_emulator": embedded_emulator,
        "emulator_model": emulator_model,
        "phases": [{**p.describe(), "jobs": [j.name for j in p.jobs]} for p in plan.phases],
    }


def submitted_line(run_id: str, record: JobRecord) -> dict[str, Any]:
    """A job Viya accepted: enough to ask Viya for it later (recover) or cancel it (--cancel-orphans)."""
    return {
        "type": "submitted",
        "run_id": run_id,
        "phase": record.phase,
        "name": record.name,
        "unique_job_name": record.unique_job_name,
        "job_instance_id": record.job_instance_id,
        "context": record.context,
        "sequence": record.sequence,
        "definition_id": record.definition_id,
        "client_submitted_at": iso(record.client_submitted_at),
        "submitted_at": iso(record.submitted_at),
    }


def job_line(run_id: str, record: JobRecord) -> dict[str, Any]:
    return {"type": "job", "run_id": run_id, **record.to_dict()}


def orchestrator_line(run_id: str, record: JobRecord) -> dict[str, Any]:
    return {
        "type": "orchestrator",
        "run_id": run_id,
        "phase": record.phase,
        "unique_job_name": record.unique_job_name,
        "orchestrator_data": record.orchestrator,
    }


def phase_line(
    run_id: str, name: str, status: str, stats: dict[str, Any], unmatched: list[str]
) -> dict[str, Any]:
    return {
        "type": "phase",
        "run_id": run_id,
        "name": name,
        "status": status,
        "stats": stats,
        "unmatched_jobs": unmatched,
    }


# -- reader ----------------------------------------------------------------------------


@dataclass
class Checkpointed:
    """What a checkpoint holds, by kind."""

    path: Path
    run: dict[str, Any] = field(default_factory=dict)
    # phase -> its "job" lines (finished jobs)
    jobs: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    # phase -> its "submitted" lines (every job Viya accepted), in submission order
    submitted: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    orchestrator: dict[str, dict[str, Any]] = field(default_factory=dict)  # unique name -> data
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)  # phase name -> "phase" line
    unreadable: int = 0  # lines skipped: the one the crash cut short, or not ours

    @property
    def run_id(self) -> str:
        return str(self.run.get("run_id") or self.path.name.removesuffix(CHECKPOINT_SUFFIX))

    def in_flight(self) -> list[dict[str, Any]]:
        """Submitted lines of jobs with no ``job`` line: in flight when the checkpoint ended."""
        finished = {str(j["unique_job_name"]) for lines in self.jobs.values() for j in lines}
        return [
            s
            for lines in self.submitted.values()
            for s in lines
            if str(s["unique_job_name"]) not in finished
        ]

    def viya_url(self) -> str | None:
        """The dead run's Viya URL, if it can outlive the run: not that of an emulator that ran
        inside the dead process. A checkpoint from before ``embedded_emulator`` was written only
        said ``emulator``, true then for an embedded one alone."""
        url = str(self.run.get("viya_url") or "")
        embedded = self.run.get("embedded_emulator", self.run.get("emulator"))
        return url if url and not embedded else None

    def phase_plans(self) -> list[PhasePlan]:
        """The run line's phases (planned jobs by name); an old checkpoint's from its job lines."""
        specs = self.run.get("phases") if self.run else None
        if not specs:  # a checkpoint from before the run line: phases as the job lines name them
            log.warning(
                "%s has no run line (an older version wrote it): phase modes are unknown, shown as 'window'",
                self.path.name,
            )
            names = list(dict.fromkeys([*self.submitted, *self.jobs]))
            specs = [
                {
                    "name": name,
                    "context": (self.jobs.get(name) or self.submitted.get(name) or [{}])[0].get(
                        "context"
                    )
                    or "?",
                    "mode": "window",
                    "concurrency": max(len(self.jobs.get(name, [])), 1),
                    "baseline": i == 0,
                }
                for i, name in enumerate(names)
            ]
        return [
            PhasePlan(
                name=str(s["name"]),
                slug=slug(str(s["name"])),
                context=str(s["context"]),
                mode=s["mode"],
                concurrency=int(s.get("concurrency") or 1),
                baseline=bool(s.get("baseline")),
                jobs=[PlannedJob(str(n), None, {}, None) for n in s.get("jobs") or []],
            )
            for s in specs
        ]


def read_checkpoint(path: Path) -> Checkpointed:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
    cp = Checkpointed(path)
    for line in text.splitlines():
        if line.strip():
            _take(cp, line)
    if not cp.run and not cp.jobs and not cp.submitted:
        raise ConfigError(
            f"{path}: not a jes-runner checkpoint (no run or job lines) -- pass the "
            f"<run_id>{CHECKPOINT_SUFFIX} file the dead run left in its output directory"
        )
    return cp


def _take(cp: Checkpointed, line: str) -> None:
    try:
        entry = json.loads(line)
    except ValueError:
        cp.unreadable += 1  # the line the crash cut short
        return
    if not isinstance(entry, dict):
        cp.unreadable += 1
        return
    kind = entry.get("type")
    if kind == "run" and not cp.run:
        cp.run = entry
    elif kind in ("job", "submitted") and entry.get("unique_job_name") and entry.get("phase"):
        (cp.jobs if kind == "job" else cp.submitted)[str(entry["phase"])].append(entry)
    elif kind == "orchestrator" and entry.get("unique_job_name"):
        cp.orchestrator[str(entry["unique_job_name"])] = entry.get("orchestrator_data") or {}
    elif kind == "phase" and entry.get("name"):
        cp.phases[str(entry["name"])] = entry
    else:
        cp.unreadable += 1
