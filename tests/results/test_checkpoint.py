"""The checkpoint format: what the writer's line builders write, the reader reads back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jes_runner.errors import ConfigError
from jes_runner.measure.plan import PhasePlan, PlannedJob, RunPlan
from jes_runner.measure.records import JobRecord
from jes_runner.results.checkpoint import Checkpoint, read_checkpoint, run_line

RUN_ID = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
LABELS = {"cluster": "test", "environment": "unit"}
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _plan() -> RunPlan:
    jobs = [PlannedJob(n, None, {}, None) for n in ("a_pooled", "b_pooled", "c_pooled")]
    phases = [
        PhasePlan("sequential", "sequential", "ctx-1", "sequential", 1, True, list(jobs)),
        PhasePlan("concurrent", "concurrent", "ctx-2", "all", 3, False, list(jobs)),
    ]
    return RunPlan(run_id=RUN_ID, epoch=1, phases=phases, jobs=jobs, job_config_path=Path("j.json"))


def _record(name: str, phase: str, seq: int, job_id: str) -> JobRecord:
    return JobRecord(
        name,
        f"{name}_{phase}_{seq}_1700000000_0b1c2d",
        phase,
        "ctx",
        seq,
        job_instance_id=job_id,
        client_submitted_at=T0,
    )


def test_lines_round_trip_and_in_flight(tmp_path: Path) -> None:
    cp = Checkpoint(tmp_path, RUN_ID)
    assert cp.open()
    cp.append(
        run_line(
            _plan(), started=T0, viya_url="https://viya", labels=LABELS, settings={}, emulated=False
        )
    )
    done, flying = (
        _record("a_pooled", "concurrent", 1, "j1"),
        _record("b_pooled", "concurrent", 2, "j2"),
    )
    cp.submitted(done)
    cp.submitted(flying)
    done.status = "completed"
    cp.job(done)
    cp.close()
    with cp.path.open("a") as fh:
        fh.write('{"type":"job","unique_job_name":"cut sh')  # the line a crash cut short

    read = read_checkpoint(cp.path)
    assert read.run_id == RUN_ID and read.unreadable == 1
    assert [s["job_instance_id"] for s in read.in_flight()] == ["j2"]
    plans = read.phase_plans()
    assert [(p.name, p.mode, len(p.jobs)) for p in plans] == [
        ("sequential", "sequential", 3),
        ("concurrent", "all", 3),
    ]
    assert JobRecord.from_dict(read.jobs["concurrent"][0]).status == "completed"


def test_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "x.checkpoint.jsonl"
    path.write_text(json.dumps({"schema_version": 1}) + "\n")
    with pytest.raises(ConfigError, match="not a jes-runner checkpoint"):
        read_checkpoint(path)


def test_recover_without_viya_keeps_in_flight_jobs_as_unknown(tmp_path: Path) -> None:
    from jes_runner.results.recovery import recover
    from jes_runner.results.schema import validate_results

    cp = Checkpoint(tmp_path, RUN_ID)
    cp.open()
    cp.append(
        run_line(_plan(), started=T0, viya_url="", labels=LABELS, settings={}, emulated=False)
    )
    cp.submitted(_record("a_pooled", "sequential", 1, "j1"))
    cp.close()
    doc = recover(cp.path)
    assert validate_results(doc) == []
    (phase,) = doc["phases"]
    assert [j["status"] for j in phase["jobs"]] == ["unknown"]
    assert phase["stats"]["jobs_planned"] == 3 and phase["stats"]["jobs_failed"] == 0


@pytest.mark.parametrize(
    ("emulated", "embedded", "asked"),
    [
        (False, False, True),  # a Viya
        (True, False, True),  # an emulator reached by URL: it outlives the run
        (True, True, False),  # the run's own in-process emulator died with it
    ],
)
def test_the_dead_runs_viya_url_unless_its_emulator_died_with_it(
    tmp_path: Path, emulated: bool, embedded: bool, asked: bool
) -> None:
    cp = Checkpoint(tmp_path, RUN_ID)
    cp.open()
    cp.append(
        run_line(
            _plan(),
            started=T0,
            viya_url="http://127.0.0.1:8123",
            labels=LABELS,
            settings={},
            emulated=emulated,
            embedded_emulator=embedded,
        )
    )
    cp.close()
    assert read_checkpoint(cp.path).viya_url() == ("http://127.0.0.1:8123" if asked else None)


def test_an_older_checkpoint_without_the_embedded_flag_reads_emulator_as_embedded(
    tmp_path: Path,
) -> None:
    line = run_line(
        _plan(),
        started=T0,
        viya_url="http://127.0.0.1:8123",
        labels=LABELS,
        settings={},
        emulated=True,
    )
    del line["embedded_emulator"]
    path = tmp_path / f"{RUN_ID}.checkpoint.jsonl"
    path.write_text(json.dumps(line) + "\n")
    assert read_checkpoint(path).viya_url() is None
