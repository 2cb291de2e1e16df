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
from pathlib import Path
from typing import Any

import pytest
from support.cli_output import jes_cli

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


@pytest.fixture
def sink_server() -> Iterator[str]:
    """A stand-in Pushgateway that accepts every push (push must read the file and send it)."""
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
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        assert received, "push sent nothing"


def test_recover_after_sigkill_in_phase_two(tmp_path: Path, sink_server: str) -> None:
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
        ["push", str(files[0]), "--pushgateway-url", sink_server],
    ):
        r = jes_cli(args, env, tmp_path, timeout=180)
        assert r.returncode == 0, (args[0], r.stderr)
