"""Fault injection: every kind, per endpoint, from the scenario and at runtime, repeatable."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests
from emu_support import ViyaClient, scenario_with

from jes_runner.emulator import Emulator
from jes_runner.errors import ConfigError
from jes_runner.sim.scenario import FaultsSpec


def set_faults(emu: Emulator, spec: dict) -> dict:
    r = requests.post(f"{emu.url}/emulator/faults", json=spec, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_error_statuses(client: ViyaClient, emu: Emulator) -> None:
    set_faults(
        emu, {"seed": 1, "rules": [{"endpoint": "GET /compute/contexts", "error_rate": 1.0}]}
    )
    seen = set()
    for _ in range(30):
        r = client.get("/compute/contexts")
        assert r.status_code in (500, 502, 503)
        assert r.json()["httpStatusCode"] == r.status_code
        seen.add(r.status_code)
    assert seen == {500, 502, 503}
    assert client.get("/jobExecution/jobs").status_code == 200  # other endpoints untouched
    gt = emu.ground_truth()
    assert gt["faults_injected_counts"] == {"error GET /compute/contexts": 30}
    set_faults(emu, {})
    assert client.get("/compute/contexts").status_code == 200


def test_throttle_with_retry_after(client: ViyaClient, emu: Emulator) -> None:
    set_faults(
        emu,
        {
            "rules": [
                {"endpoint": "GET /jobExecution/jobs/*", "throttle_rate": 1.0, "retry_after_s": 2}
            ]
        },
    )
    job = client.submit("co_pooled")
    r = client.get(f"/jobExecution/jobs/{job['id']}")
    assert (
        r.status_code == 429
        and r.headers["Retry-After"] == "2"
        and r.json()["httpStatusCode"] == 429
    )
    # glob covers the template with /state too
    r = client.get(f"/jobExecution/jobs/{job['id']}/state")
    assert r.status_code == 429


def test_connection_reset(client: ViyaClient, emu: Emulator) -> None:
    set_faults(emu, {"rules": [{"endpoint": "GET /workloadOrchestrator/jobs", "reset_rate": 1.0}]})
    with pytest.raises(requests.ConnectionError) as info:
        client.get("/workloadOrchestrator/jobs")
    assert "reset" in str(info.value).lower() or "aborted" in str(info.value).lower()
    assert client.get("/workloadOrchestrator/hosts").status_code == 200
    assert emu.ground_truth()["faults_injected"][0]["kind"] == "reset"


def test_added_latency(client: ViyaClient, emu: Emulator) -> None:
    set_faults(emu, {"rules": [{"endpoint": "GET /compute/*", "latency_ms": 300}]})
    t0 = time.monotonic()
    assert client.get("/compute/contexts").status_code == 200
    slow = time.monotonic() - t0
    t0 = time.monotonic()
    assert client.get("/jobDefinitions/definitions").status_code == 200
    fast = time.monotonic() - t0
    assert slow >= 0.3 and fast < 0.2


def test_post_accepted_but_reply_dropped(client: ViyaClient, emu: Emulator) -> None:
    set_faults(emu, {"rules": [{"endpoint": "POST /jobExecution/jobs", "drop_reply_rate": 1.0}]})
    def_id = client.definition_id("cm_pooled")
    with pytest.raises(requests.ConnectionError):
        client.post(
            "/jobExecution/jobs",
            json={
                "jobDefinitionUri": f"/jobDefinitions/definitions/{def_id}",
                "name": "lost_reply_1",
            },
        )
    # the job exists although the client never saw it
    r = client.get("/jobExecution/jobs", params={"filter": "eq(name,'lost_reply_1')"})
    assert r.status_code == 200 and r.json()["count"] == 1
    gt = emu.ground_truth()
    assert [j["name"] for j in gt["jobs"]] == ["lost_reply_1"]
    assert gt["faults_injected"][-1]["kind"] == "drop"


def test_job_failure_rate(client: ViyaClient, emu: Emulator) -> None:
    set_faults(emu, {"job_failure_rate": 1.0})
    job = client.submit("co_pooled")
    assert client.wait_state(job["id"], {"failed", "completed"}) == "failed"
    doc = client.get(f"/jobExecution/jobs/{job['id']}").json()
    assert "Injected failure" in doc["error"]["message"]
    set_faults(emu, {"job_failure_rate": 0.0})
    ok = client.submit("co_pooled")
    assert client.wait_state(ok["id"], {"failed", "completed"}) == "completed"


def test_orchestrator_outage_window(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(speed_factor=0.002)
    client = ViyaClient(emu)
    set_faults(emu, {"orchestrator_outage": {"start_s": 0, "duration_s": 400}})  # 0.8 real s
    r = client.get("/workloadOrchestrator/jobs")
    assert r.status_code == 503 and r.json()["httpStatusCode"] == 503
    assert client.get("/workloadOrchestrator/hosts").status_code == 503
    assert client.get("/jobExecution/jobs").status_code == 200
    time.sleep(1.0)
    assert client.get("/workloadOrchestrator/jobs").status_code == 200


def test_scenario_faults_are_seeded_and_repeatable(make_emu: Callable[..., Emulator]) -> None:
    faults = {
        "seed": 42,
        "rules": [{"endpoint": "GET /jobDefinitions/*", "error_rate": 0.3, "throttle_rate": 0.2}],
    }

    def run() -> list[int]:
        emu = make_emu(scenario_with(faults=FaultsSpec.model_validate(faults)))
        client = ViyaClient(emu)
        return [client.get("/jobDefinitions/definitions").status_code for _ in range(40)]

    first, second = run(), run()
    assert first == second
    assert {200, 429} <= set(first) and set(first) & {500, 502, 503}
    # a different seed gives a different sequence
    faults["seed"] = 43
    assert run() != first


def test_bad_fault_spec_is_rejected(emu: Emulator) -> None:
    r = requests.post(f"{emu.url}/emulator/faults", json={"rules": [{"error_rate": 2}]}, timeout=10)
    assert r.status_code == 400 and "rules.0.error_rate" in r.json()["message"]
    with pytest.raises(ConfigError, match="job_failure_rate"):
        emu.set_faults({"job_failure_rate": -1})
    assert requests.get(f"{emu.url}/emulator/faults", timeout=10).json()["rules"] == []
