"""Job Execution, definitions, contexts and Workload Orchestrator over real HTTP."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime

import requests
from emu_support import ViyaClient, tiny_scenario

from jes_runner.emulator import Emulator

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_submit_follows_the_job_shape(client: ViyaClient) -> None:
    def_id = client.definition_id("co_pooled")
    body = {
        "jobDefinitionUri": f"/jobDefinitions/definitions/{def_id}",
        "name": "co_pooled_20250915_3",
        "arguments": {"_contextName": "SAS Job Execution compute context", "_omitJsonLog": "true"},
        "createdByApplication": "jes-runner",
    }
    r = client.post(
        "/jobExecution/jobs",
        json=body,
        headers={
            "Content-Type": "application/vnd.sas.job.execution.job.request+json",
            "Accept": "application/vnd.sas.job.execution.job+json",
        },
    )
    assert r.status_code == 201
    job = r.json()
    assert r.headers["Location"] == f"/jobExecution/jobs/{job['id']}"
    assert r.headers["Content-Type"].startswith("application/vnd.sas.job.execution.job+json")
    assert r.headers["ETag"] and r.headers["Last-Modified"].endswith("GMT")
    assert "name" not in job and job["jobRequest"]["name"] == "co_pooled_20250915_3"
    assert job["jobRequest"]["arguments"]["_contextName"] == "SAS Job Execution compute context"
    assert job["state"] in ("pending", "running") and job["version"] == 4
    assert ISO_MS.match(job["creationTimeStamp"]) and re.fullmatch(UUID_RE, job["id"])
    assert {lk["rel"] for lk in job["links"]} >= {
        "self",
        "state",
        "updateState",
        "delete",
        "jobDefinition",
    }

    assert client.wait_state(job["id"], {"completed"}) == "completed"
    r = client.get(f"/jobExecution/jobs/{job['id']}")
    done = r.json()
    assert ISO_MS.match(done["endTimeStamp"])
    elapsed_ms = (ts(done["endTimeStamp"]) - ts(done["creationTimeStamp"])) * 1000
    assert abs(done["elapsedTime"] - elapsed_ms) <= 1.5
    # co_pooled ran 26.8 s alone on the real cluster; here 26.8 model s x 0.002
    assert abs(done["elapsedTime"] - 26.8 * 0.002 * 1000) < 5
    assert done["results"]["COMPUTE_CONTEXT"] == "SAS Job Execution compute context"
    cj = done["results"]["COMPUTE_JOB"]
    assert cj == cj.upper() and f"{cj}.log.txt" in done["results"]
    assert done["results"]["COMPUTE_SESSION"].endswith("-ses0000 ended.")
    # conditional GET
    r2 = client.get(f"/jobExecution/jobs/{job['id']}", headers={"If-None-Match": r.headers["ETag"]})
    assert r2.status_code == 304 and r2.content == b""
    # plain JSON accepted on request
    r3 = client.get(f"/jobExecution/jobs/{job['id']}", headers={"Accept": "application/json"})
    assert r3.headers["Content-Type"].startswith("application/json")


def test_orchestrator_record_follows_the_name_rule(client: ViyaClient) -> None:
    job = client.submit(
        "suppcm_pooled", "SUPPcm_Pooled_run_2", context="SAS Studio compute context"
    )
    assert client.wait_state(job["id"], {"completed"}) == "completed"
    done = client.get(f"/jobExecution/jobs/{job['id']}").json()
    items = client.get(
        "/workloadOrchestrator/jobs", params={"limit": "500", "sortBy": "submitTime:descending"}
    ).json()["items"]
    (orch,) = [o for o in items if o["request"]["name"].startswith("suppcmpooledrun2-")]
    name = orch["request"]["name"]
    assert re.fullmatch(rf"suppcmpooledrun2-{UUID_RE}", name)
    assert job["id"] not in name  # the UUID is unrelated to the Job Execution id
    info = orch["processingInfo"]
    assert orch["request"]["queue"] == "default" and isinstance(orch["id"], int)
    assert info["state"] == "DONE" and info["exitCode"] == 0
    assert info["executionHost"] == "aks-compute-36279683-vmss000001"
    assert re.fullmatch(r"10\.244\.\d+\.\d+", info["executionIP"])
    for key in ("submitTime", "startTime", "endTime"):
        assert ISO_MS.match(info[key])
    total = info["totalTimePending"] + info["totalTimeStarting"] + info["totalTimeRunning"]
    # pending+starting+running is a little under the Job Execution elapsed time, as on the real cluster
    assert 0 <= done["elapsedTime"] / 1000 - total < 0.01
    assert {c["name"]: c["value"] for c in info["consumedResources"]} == {
        "cores": 0.15,
        "memory": 250,
    }
    assert {lv["name"] for lv in info["limitValues"]} >= {"maxMemory", "maxCpuTime", "maxClockTime"}
    assert info["hostSchedulingInfo"][0]["hostName"] == info["executionHost"]


def test_errors_are_sas_error_bodies(client: ViyaClient) -> None:
    def_id = client.definition_id("cm_pooled")
    cases = [
        (
            {
                "jobDefinitionUri": f"/jobDefinitions/definitions/{def_id}",
                "arguments": {"_contextName": "No Such Context"},
            },
            400,
            "No Such Context",
        ),
        (
            {"jobDefinitionUri": "/jobDefinitions/definitions/not-there", "arguments": {}},
            400,
            "not-there",
        ),
        ({"arguments": {}}, 400, "jobDefinitionUri"),
    ]
    for body, status, fragment in cases:
        r = client.post("/jobExecution/jobs", json=body)
        assert r.status_code == status
        assert r.headers["Content-Type"].startswith("application/vnd.sas.error+json")
        err = r.json()
        assert set(err) >= {"errorCode", "message", "details", "links", "version", "httpStatusCode"}
        assert (
            err["httpStatusCode"] == status and err["version"] == 2 and fragment in err["message"]
        )
    r = client.post(
        "/jobExecution/jobs", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and "JSON" in r.json()["message"]
    for path in (
        "/jobExecution/jobs/nope",
        "/jobDefinitions/definitions/nope",
        "/compute/contexts/nope",
        "/workloadOrchestrator/jobs/999999",
        "/no/such/path",
    ):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["httpStatusCode"] == 404, path
    r = client.http.patch(client.url + "/jobExecution/jobs")
    assert r.status_code == 405 and "GET" in r.headers["Allow"]
    # inline job definition with aborting code fails the job
    r = client.post(
        "/jobExecution/jobs",
        json={"jobDefinition": {"type": "Compute", "code": "abort;"}, "name": "inline_fail"},
    )
    assert r.status_code == 201
    assert client.wait_state(r.json()["id"], {"failed"}) == "failed"


def test_paging_with_next_links(client: ViyaClient) -> None:
    ids = [client.submit("co_pooled", f"page_job_{i:02d}")["id"] for i in range(25)]
    seen: list[str] = []
    url = "/jobExecution/jobs?limit=10&filter=startsWith(name,'page_job_')&sortBy=creationTimeStamp:ascending"
    pages = 0
    while url:
        r = client.get(url)
        assert r.status_code == 200
        doc = r.json()
        assert doc["count"] == 25 and doc["limit"] == 10 and doc["version"] == 2 and doc["accept"]
        seen += [j["id"] for j in doc["items"]]
        links = {lk["rel"]: lk["href"] for lk in doc["links"]}
        assert "first" in links and ("prev" in links) == (doc["start"] > 0)
        url = links.get("next", "")
        pages += 1
    assert pages == 3 and seen == ids
    r = client.get(
        "/jobExecution/jobs",
        params={
            "filter": "startsWith(name,'page_job_')",
            "sortBy": "name:descending",
            "limit": "3",
        },
    )
    assert [j["jobRequest"]["name"] for j in r.json()["items"]] == [
        "page_job_24",
        "page_job_23",
        "page_job_22",
    ]
    assert client.get("/jobExecution/jobs", params={"limit": "x"}).status_code == 400
    assert client.get("/jobExecution/jobs", params={"sortBy": "name:sideways"}).status_code == 400
    # the orchestrator pages too, newest first
    time.sleep(0.05)
    r = client.get(
        "/workloadOrchestrator/jobs", params={"limit": "10", "sortBy": "submitTime:descending"}
    )
    doc = r.json()
    assert doc["count"] == 25 and len(doc["items"]) == 10
    times = [o["processingInfo"]["submitTime"] for o in doc["items"]]
    assert times == sorted(times, reverse=True)
    assert any(lk["rel"] == "next" for lk in doc["links"])
    last = client.get("/workloadOrchestrator/jobs", params={"start": "20", "limit": "10"}).json()
    assert len(last["items"]) == 5 and not any(lk["rel"] == "next" for lk in last["links"])


def test_registration_lag(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(tiny_scenario(slots=4, speed=0.05, registration_lag_s=20))  # 1 real second
    client = ViyaClient(emu)
    job = client.submit("short_job")
    assert client.get("/workloadOrchestrator/jobs").json()["count"] == 0
    time.sleep(1.2)
    items = client.get("/workloadOrchestrator/jobs").json()["items"]
    assert [o["request"]["name"].split("-")[0] for o in items] == ["shortjob"]
    assert job["id"]


def test_cancel_pending_running_and_terminal(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(tiny_scenario(slots=1, speed=0.01))
    client = ViyaClient(emu)
    running = client.submit("long_job", "long_a")
    pending = client.submit("long_job", "long_b")
    short = client.submit("short_job", "short_c")
    assert client.wait_state(running["id"], {"running"}) == "running"
    assert client.get(f"/jobExecution/jobs/{pending['id']}/state").text == "pending"

    r = client.put(
        f"/jobExecution/jobs/{pending['id']}/state",
        params={"value": "canceled"},
        headers={"Accept": "text/plain"},
    )
    assert r.status_code == 200 and r.text == "canceled"
    assert client.get(f"/jobExecution/jobs/{pending['id']}").json()["state"] == "canceled"
    r = client.put(f"/jobExecution/jobs/{running['id']}/state?value=canceled")
    assert r.status_code == 200
    # the slot is free again: the short job runs and completes
    assert client.wait_state(short["id"], {"completed"}) == "completed"
    for jid in (pending["id"], running["id"]):
        r = client.put(f"/jobExecution/jobs/{jid}/state?value=canceled")
        assert r.status_code == 405 and r.json()["httpStatusCode"] == 405
    r = client.put(f"/jobExecution/jobs/{short['id']}/state?value=canceled")
    assert r.status_code == 405 and "completed" in r.json()["message"]
    assert client.put(f"/jobExecution/jobs/{short['id']}/state?value=running").status_code == 400
    orch = {
        o["request"]["name"].split("-")[0]: o["processingInfo"]
        for o in client.get("/workloadOrchestrator/jobs").json()["items"]
    }
    assert orch["longa"]["state"] == "KILLED" and orch["longa"]["exitCode"] != 0
    assert orch["longb"]["state"] == "KILLED" and orch["longb"]["executionHost"] is None
    truth = {j["name"]: j for j in emu.ground_truth()["jobs"]}
    assert truth["long_b"]["start_time"] is None and truth["long_b"]["state"] == "canceled"
    # delete removes it from the listing
    assert client.http.delete(f"{client.url}/jobExecution/jobs/{short['id']}").status_code == 204
    assert client.get(f"/jobExecution/jobs/{short['id']}").status_code == 404


def test_failing_definition_fails_with_error_details(client: ViyaClient) -> None:
    job = client.submit("failing_job")
    assert client.wait_state(job["id"], {"failed", "completed"}) == "failed"
    doc = client.get(f"/jobExecution/jobs/{job['id']}").json()
    assert "abort" in doc["error"]["message"].lower() and doc["stateDetails"]["exitCode"] != 0
    orch = [
        o
        for o in client.get("/workloadOrchestrator/jobs").json()["items"]
        if o["request"]["name"].startswith("failingjob-")
    ]
    assert (
        orch[0]["processingInfo"]["state"] == "FAILED"
        and orch[0]["processingInfo"]["exitCode"] != 0
    )


def test_hosts_queues_and_ground_truth(client: ViyaClient, emu: Emulator) -> None:
    job = client.submit("ae_pooled", context="SAS Job Execution compute context")
    client.wait_state(job["id"], {"running"})
    hosts = client.get("/workloadOrchestrator/hosts").json()["items"]
    (h,) = [x for x in hosts if x["name"] == "aks-compute-36279683-vmss000001"]
    assert (
        h["state"] == "READY"
        and h["maxJobs"] == 14
        and h["numJobs"] == 1
        and h["pool"] == "compute"
    )
    assert h["jobs"][0]["name"].startswith("aepooled-") and "default" in h["queues"]
    one = client.get(f"/workloadOrchestrator/hosts/{h['name']}")
    assert one.status_code == 200 and one.headers["ETag"]
    queues = {q["name"]: q for q in client.get("/workloadOrchestrator/queues").json()["items"]}
    assert set(queues) == {"default", "autoscaling-poc-queue"}
    assert queues["default"]["numRunningJobs"] == 1
    assert "Autoscaling POC Context" in queues["autoscaling-poc-queue"]["contexts"]
    # ground truth over HTTP without auth equals the Python API's
    r = requests.get(f"{emu.url}/emulator/ground-truth", timeout=10)
    gt = r.json()
    (rec,) = gt["jobs"]
    assert rec["id"] == job["id"] and rec["host"] == h["name"] and rec["queue"] == "default"
    assert (
        ISO_MS.match(rec["submit_time"])
        and abs(rec["submit_epoch"] - ts(job["creationTimeStamp"])) < 0.002
    )
    assert rec["orchestrator_name"].startswith("aepooled-")
    assert gt["requests"]["POST /jobExecution/jobs"] == 1
    assert gt["requests"]["GET /workloadOrchestrator/hosts/{name}"] == 1
    assert {e["event"] for e in gt["node_events"]} >= {"add", "ready"}
    assert emu.ground_truth()["jobs"][0]["id"] == job["id"]
    sc = requests.get(f"{emu.url}/emulator/scenario", timeout=10).json()
    assert sc["name"] == "default" and sc["speed_factor"] == 0.002


def test_job_shape_while_running_and_the_log_of_a_failed_job(client: ViyaClient) -> None:
    """SAS's public sample (sassoftware/devsascom-rest-api-samples, Compute/jobExecution.md): a
    running job already has elapsedTime and results, jobRequest.properties is a list of
    name/value pairs; heartbeatInterval 600 and expirationTimeStamp as on the measured cluster."""
    body = {
        "jobDefinitionUri": f"/jobDefinitions/definitions/{client.definition_id('ae_pooled')}",
        "name": "ae_pooled_shape",
        "arguments": {"_contextName": "SAS Job Execution compute context"},
        "properties": [{"name": "jes_runner_run_id", "value": "r1"}],
        "expiresAfter": "PT2H",
    }
    r = client.post("/jobExecution/jobs", json=body)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["jobRequest"]["properties"] == [{"name": "jes_runner_run_id", "value": "r1"}]
    assert job["heartbeatInterval"] == 600 and job["results"] == {}
    assert isinstance(job["elapsedTime"], int) and job["elapsedTime"] >= 0
    assert ts(job["expirationTimeStamp"]) - ts(job["creationTimeStamp"]) == 2 * 3600
    # an object of properties (older clients) is accepted and served as pairs
    old = client.post("/jobExecution/jobs", json={**body, "properties": {"a": "1"}}).json()
    assert old["jobRequest"]["properties"] == [{"name": "a", "value": "1"}]
    bad = client.post("/jobExecution/jobs", json={**body, "properties": "x"})
    assert bad.status_code == 400 and "name, value" in bad.json()["message"]

    failing = client.submit("failing_job", "failing_job_1")
    assert client.wait_state(failing["id"], {"failed"}) == "failed"
    done = client.get(f"/jobExecution/jobs/{failing['id']}").json()
    log_href = next(lk["href"] for lk in done["links"] if lk["rel"] == "log")
    assert log_href == done["logLocation"] + "/content"
    text = client.get(log_href)
    assert text.status_code == 200 and text.headers["Content-Type"].startswith("text/plain")
    assert "abort abend" in text.text and "ERROR: The SAS program aborted" in text.text
    assert (
        client.get("/files/files/00000000-0000-0000-0000-000000000000/content").status_code == 404
    )
