"""`recover` after a SIGKILL in the second phase, judged against the emulator's ground truth.

The emulator runs in this process, so it outlives the killed runner: jobs in flight at
the kill go on to finish on the "server", and `recover` must measure them from the
server's timestamps (not drop them, not invent them); `report`, `export`, `compare`
and `push` must then read the recovered file.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.cli_output import jes_cli

pytestmark = (
    pytest.mark.slow
)  # end-to-end runs of seconds: outside the fast selection (README, Development)

ROOT = Path(__file__).resolve().parents[2]
JOBS = 16
TOLERANCE_S = 0.05  # server durations: the emulator's ms stamps, rounded
PHASES = [
    {
        "name": "window",
        "context": "SAS Job Execution compute context",
        "mode": "window",
        "concurrency": 8,
        "baseline": True,
    },
    {"name": "all", "context": "Autoscaling POC Context", "mode": "all"},
]


def _env(url: str, out_dir: Path, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JES_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
            "JES_VIYA_URL": url,
            "JES_USERNAME": "jes",
            "JES_PASSWORD": "jes-demo-password",
            "JES_SECRETS_DIR": str(workdir / "no-secrets"),
            "JES_OUTPUT_DIR": str(out_dir),
            "JES_PHASES": json.dumps(PHASES),
            "JES_CORRELATION_DEADLINE_S": "10",
            "JES_RETRY_BACKOFF_S": "0.02",
        }
    )
    return env


def _lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        with contextlib.suppress(ValueError):  # a line being written
            out.append(json.loads(line))
    return out


@dataclass
class Sink:
    """A stand-in Pushgateway's address and the bodies it was sent."""

    url: str
    received: list[bytes] = field(default_factory=list)


@pytest.fixture
def sink_server() -> Iterator[Sink]:
    """A stand-in Pushgateway that accepts every push (the test asserts push sent the file: a
    teardown assertion would add a second, misleading error to a test that failed before pushing)."""
    received: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _ok(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            received.append(self.rfile.read(n))
            self.send_response(200)
            self.end_headers()

        do_PUT = do_POST = _ok  # noqa: N815

        def log_message(self, *a: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield Sink(f"http://127.0.0.1:{srv.server_address[1]}", received)
    finally:
        srv.shutdown()


def test_recover_after_sigkill_in_phase_two(tmp_path: Path, sink_server: Sink) -> None:
    from jes_runner.emulator import Emulator, default_scenario
    from jes_runner.results.schema import validate_results

    out_dir = tmp_path / "results"
    scenario = default_scenario().model_copy(update={"speed_factor": 0.004})
    with Emulator(scenario=scenario, port=0) as emu:
        env = _env(emu.url, out_dir, tmp_path)
        proc = subprocess.Popen(
            [sys.executable, "-m", "jes_runner", "run", "--limit-jobs", str(JOBS), "--no-push"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        t0 = time.monotonic()
        checkpoint: Path | None = None
        while proc.poll() is None and time.monotonic() - t0 < 120:
            found = list(out_dir.glob("*.checkpoint.jsonl"))
            if found:
                checkpoint = found[0]
                lines = _lines(checkpoint)
                sub = [x for x in lines if x["type"] == "submitted" and x["phase"] == "all"]
                ended = {x["unique_job_name"] for x in lines if x["type"] == "job"}
                if len(sub) >= 4 and any(s["unique_job_name"] not in ended for s in sub):
                    break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed in phase 2"
        proc.kill()  # SIGKILL: no handler, no results file
        proc.communicate()
        assert checkpoint is not None
        assert not list(out_dir.glob("pooled_jobs_comparison_*.json"))
        # the server outlives the runner: let what it was running finish
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            truth = emu.ground_truth()["jobs"]
            if all(t["jes_state"] not in ("pending", "running") for t in truth):
                break
            time.sleep(0.1)
        truth = {t["id"]: t for t in emu.ground_truth()["jobs"]}

        # no URL given: recover asks the dead run's Viya (its checkpoint's run line), credentials
        # from the environment as for `run`
        no_url = {k: v for k, v in env.items() if k != "JES_VIYA_URL"}
        rec = jes_cli(
            ["recover", str(checkpoint), "--output-dir", str(tmp_path / "rec")],
            no_url,
            tmp_path,
            timeout=180,
        )
    assert rec.returncode == 0, rec.stderr
    files = sorted((tmp_path / "rec").glob("pooled_jobs_comparison_*.json"))
    assert len(files) == 1
    doc = json.loads(files[0].read_text())
    assert validate_results(doc) == []
    assert doc["status"] == "aborted"

    jobs = [j for p in doc["phases"] for j in p["jobs"]]
    ids = [j["job_instance_id"] for j in jobs if j["job_instance_id"]]
    assert len(ids) == len(set(ids)), "a job recorded twice"
    # every job the server created is in the results, none invented
    assert set(ids) == set(truth), (set(truth) - set(ids), set(ids) - set(truth))
    by_phase = {p["name"]: p for p in doc["phases"]}
    assert set(by_phase) == {"window", "all"}
    for name, p in by_phase.items():
        assert p["stats"]["jobs_planned"] == JOBS, name
        created = [t for t in truth.values() if f"_{name}_" in t["name"]]
        assert p["stats"]["jobs_submitted"] == len(created), name
    assert by_phase["window"]["stats"]["jobs_completed"] == JOBS  # every baseline job
    for j in jobs:
        t = truth[j["job_instance_id"]]
        if t["jes_state"] == "completed":  # the server completed it: measured, from its stamps
            assert j["status"] == "completed", j["unique_job_name"]
            assert j["timing_source"] == "server"
            true = t["jes_end_epoch"] - t["submit_epoch"]
            assert abs(j["duration"] - true) <= TOLERANCE_S, (
                j["unique_job_name"],
                j["duration"],
                true,
            )
        else:
            assert j["status"] == t["jes_state"], (j["unique_job_name"], j["status"], t)
    # jobs that were in flight at the kill and finished afterwards are among them
    assert any(j["status"] == "completed" and j["client_ended_at"] is None for j in jobs)

    # the recovered file reads like any other
    for args in (
        ["report", str(files[0]), "--no-png", "--out", str(tmp_path / "report")],
        ["export", str(files[0]), "--format", "csv", "--out", str(tmp_path / "jobs.csv")],
        ["compare", str(files[0]), str(files[0])],
        ["push", str(files[0]), "--pushgateway-url", sink_server.url],
    ):
        r = jes_cli(args, env, tmp_path, timeout=180)
        assert r.returncode == 0, (args[0], r.stderr)
    assert sink_server.received, "push exited 0 but sent nothing"
    assert any(doc["run_id"].encode() in body for body in sink_server.received)


RUN_ID = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
OTHER_RUN_ID = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"


def test_recover_asks_an_emulator_reached_by_url_for_the_job_whose_reply_the_kill_cut_off(
    tmp_path: Path,
) -> None:
    """The race, made deterministic: Viya created a job but the run died before its `submitted`
    line. The run was against an emulator reached by URL (labelled emulated, but it outlives the
    run), so `recover` with no URL asks it -- and finds the job by this run's mark, measured from
    the server's stamps; another run's job of the same shape is not taken."""
    from jes_runner._util import utcnow
    from jes_runner.cli.session import make_client
    from jes_runner.config.settings import load_settings
    from jes_runner.emulator import Emulator, default_scenario
    from jes_runner.measure.plan import PhasePlan, PlannedJob, RunPlan
    from jes_runner.measure.records import JobRecord
    from jes_runner.results.checkpoint import Checkpoint, run_line
    from jes_runner.results.schema import validate_results
    from jes_runner.viya import job_request

    scenario = default_scenario().model_copy(update={"speed_factor": 0.004})
    with Emulator(scenario=scenario, port=0) as emu:
        client = make_client(
            load_settings(viya_url=emu.url, username=emu.username, password=emu.password)
        )
        defs = {d["name"]: d["id"] for d in client.list_job_definitions()}
        job = PlannedJob("cm_pooled", defs["cm_pooled"], {}, None)
        phase = PhasePlan("all", "all", "Autoscaling POC Context", "all", 2, True, [job, job])
        plan = RunPlan(
            run_id=RUN_ID, epoch=1, phases=[phase], jobs=[job], job_config_path=Path("j.json")
        )

        def post(seq: int, run_id: str, token: str) -> dict[str, Any]:
            body = job_request(
                name=phase.unique_job_name(job, seq, 1, token),
                definition_id=defs["cm_pooled"],
                context=phase.context,
                arguments={},
                run_id=run_id,
                phase=phase.name,
                job_timeout_s=600,
            )
            return client.submit_job(body)

        cp = Checkpoint(tmp_path / "results", RUN_ID)
        assert cp.open()
        model = {"scenario": scenario.name, "speed_factor": scenario.speed_factor}
        cp.append(
            run_line(
                plan,
                started=utcnow(),
                viya_url=emu.url,
                labels={"cluster": "test", "environment": "unit"},
                settings={},
                emulated=True,  # the emulator named itself at preflight
                embedded_emulator=False,
                emulator_model=model,
            )
        )
        seen = post(1, RUN_ID, "0b1c2d")
        cp.submitted(
            JobRecord(
                "cm_pooled",
                phase.unique_job_name(job, 1, 1, "0b1c2d"),
                "all",
                phase.context,
                1,
                job_instance_id=seen["id"],
            )
        )
        hidden = post(2, RUN_ID, "0b1c2d")  # created by Viya; the kill came before its line
        post(1, OTHER_RUN_ID, "9f8e7d")  # another run's, still running or not: not this run's
        cp.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(
            t["jes_state"] in ("pending", "running") for t in emu.ground_truth()["jobs"]
        ):
            time.sleep(0.05)
        truth = {t["id"]: t for t in emu.ground_truth()["jobs"]}
        env = {k: v for k, v in _env(emu.url, tmp_path, tmp_path).items() if k != "JES_VIYA_URL"}
        rec = jes_cli(
            ["recover", str(cp.path), "--output-dir", str(tmp_path / "rec")], env, tmp_path
        )
    assert rec.returncode == 0, rec.stderr
    (path,) = (tmp_path / "rec").glob("pooled_jobs_comparison_*.json")
    doc = json.loads(path.read_text())
    assert validate_results(doc) == []
    (p,) = doc["phases"]
    by_id = {j["job_instance_id"]: j for j in p["jobs"]}
    assert set(by_id) == {seen["id"], hidden["id"]}
    assert p["stats"]["jobs_submitted"] == 2 and p["stats"]["jobs_planned"] == 2
    for job_id, j in by_id.items():
        t = truth[job_id]
        assert t["jes_state"] == "completed"
        assert (j["status"], j["timing_source"]) == ("completed", "server")
        assert abs(j["duration"] - (t["jes_end_epoch"] - t["submit_epoch"])) <= TOLERANCE_S
    assert by_id[hidden["id"]]["sequence"] == 2
    # the dead run's emulator model goes on, so its figures read in the modelled cluster's seconds
    assert doc["emulator"] is True
    assert doc["metadata"]["emulator_model"]["speed_factor"] == scenario.speed_factor
