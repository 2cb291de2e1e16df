"""1,000 concurrent jobs over HTTP: all accepted, all in flight at once, all completing."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from emu_support import ViyaClient, tiny_scenario

from jes_runner.emulator import Emulator

pytestmark = (
    pytest.mark.slow
)  # end-to-end runs of seconds: outside the fast selection (README, Development)

N = 1000


def test_thousand_concurrent_jobs(make_emu: Callable[..., Emulator]) -> None:
    # 10 nodes x 100 slots, no contention. A job lasts 2000 real seconds (far above any plausible
    # time to accept 1,000 jobs, however slow the machine), then the model clock is moved ahead
    # so they all end: nothing here races the wall clock.
    sc = tiny_scenario(slots=100, nodes=10, speed=100.0)
    emu = make_emu(sc)
    client = ViyaClient(emu)
    def_id = client.definition_id("short_job")
    body = {
        "jobDefinitionUri": f"/jobDefinitions/definitions/{def_id}",
        "arguments": {"_contextName": "SAS Job Execution compute context"},
    }

    def submit_many(start: int) -> list[str]:
        c = ViyaClient(emu)  # one connection per thread
        ids = []
        for i in range(start, N, 8):
            r = c.post("/jobExecution/jobs", json={**body, "name": f"scale_job_{i:04d}"})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        return ids

    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        ids = [i for chunk in pool.map(submit_many, range(8)) for i in chunk]
    accept_s = time.monotonic() - t0
    assert len(set(ids)) == N

    # poll many at once with in(id, ...) as a runner would
    chunk = ",".join(f'"{i}"' for i in ids[:100])
    r = client.get("/jobExecution/jobs", params={"filter": f"in(id,{chunk})", "limit": "100"})
    assert r.json()["count"] == 100

    # every job is in flight at once: none has ended, all are running (10 x 100 slots)
    running = client.get("/jobExecution/jobs", params={"filter": "eq(state,running)", "limit": "0"})
    assert running.json()["count"] == N, f"accepting took {accept_s:.1f} s"

    # move the model clock past every job's end (the job lasts 20 model s)
    emu.timeline.origin -= 2500

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = client.get(
            "/jobExecution/jobs", params={"filter": "eq(state,completed)", "limit": "0"}
        ).json()["count"]
        if done == N:
            break
        time.sleep(0.2)
    assert done == N

    gt = emu.ground_truth()
    jobs = gt["jobs"]
    assert len(jobs) == N and all(j["state"] == "completed" for j in jobs)
    # and the record agrees: the last submission came before the first end
    assert max(j["submit_epoch"] for j in jobs) < min(j["end_epoch"] for j in jobs)
    assert gt["requests"]["POST /jobExecution/jobs"] == N
    orch = client.get("/workloadOrchestrator/jobs", params={"limit": "500", "start": "500"}).json()
    assert orch["count"] == N and len(orch["items"]) == 500
    print(f"\naccepted {N} jobs in {accept_s:.2f} s ({N / accept_s:.0f} POST/s)")
