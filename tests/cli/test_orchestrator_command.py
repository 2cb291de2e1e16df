"""`jes-runner orchestrator` against the emulator: any job, newest first, with its figures."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jes_runner.viya import Credentials, ViyaClient


def _submit(emu: Any, names: list[str]) -> None:
    """Jobs submitted by someone else (not the runner), straight through the REST API."""
    client = ViyaClient(emu.url, Credentials(username=emu.username, password=emu.password))
    defs = {d["name"]: d["id"] for d in client.list_job_definitions()}
    for i, name in enumerate(names):
        definition = ["cm_pooled", "co_pooled", "da_pooled"][i % 3]
        client.submit_job(
            {
                "name": name,
                "jobDefinitionUri": f"/jobDefinitions/definitions/{defs[definition]}",
                "arguments": {"_contextName": "SAS Job Execution compute context"},
            }
        )
        time.sleep(0.05)  # distinct submit times: the listing is newest first
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until every job ended in the orchestrator
        items = [i for page in client.orchestrator_pages(100) for i in page]
        if len(items) >= len(names) and all(
            (i.get("processingInfo") or {}).get("endTime") for i in items
        ):
            return
        time.sleep(0.1)
    raise AssertionError("orchestrator jobs did not end")


def test_orchestrator_lists_recent_jobs(
    make_emulator: Callable[..., Any],
    runner_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Any],
) -> None:
    emu = make_emulator()
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", emu.password)
    names = ["adhoc_probe_1", "adhoc_probe_2", "nightly_etl_1", "nightly_etl_2", "nightly_etl_3"]
    _submit(emu, names)

    rc, out, err = cli("orchestrator", "--viya-url", emu.url, "--last", "3")
    assert rc == 0, err
    header, rule, *rows = out.splitlines()
    assert header.split()[:5] == ["id", "name", "queue", "state", "host"] and set(rule) <= {
        "-",
        " ",
    }
    assert len(rows) == 3
    # newest first: the last three submissions, in reverse order (name rule: lower-case, no "_")
    assert [r.split()[1].split("-")[0] for r in rows] == [
        "nightlyetl3",
        "nightlyetl2",
        "nightlyetl1",
    ]
    assert all("aks-compute-36279683-vmss000001" in r and "default" in r for r in rows)

    # a job name as the user knows it matches the orchestrator's form of it
    rc, out, _ = cli("orchestrator", "--viya-url", emu.url, "--name", "adhoc_probe", "--json")
    assert rc == 0
    doc = json.loads(out)
    assert [j["orchestrator_name"].split("-")[0] for j in doc["jobs"]] == [
        "adhocprobe2",
        "adhocprobe1",
    ]
    for j in doc["jobs"]:
        assert j["state"] == "DONE" and j["execution_host"].startswith("aks-")
        assert j["cpu_cores"] == 0.15 and j["memory_mb"] == 250
        assert (
            j["queue_wait_seconds"] >= 0
            and j["execution_seconds"] > 0
            and j["starting_seconds"] > 0
        )
        assert j["user"] == emu.username

    rc, out, _ = cli("orchestrator", "--viya-url", emu.url, "--name", "nothing_like_this")
    assert rc == 0 and out.strip() == "no Workload Orchestrator jobs named nothing_like_this*"


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_orchestrator_errors_are_one_line(
    make_emulator: Callable[..., Any],
    runner_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Any],
) -> None:
    rc, out, err = cli("orchestrator")
    assert rc == 2 and out == "" and "no Viya URL" in err and err.count("\n") == 1
    emu = make_emulator()
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", "wrong")
    rc, _, err = cli("orchestrator", "--viya-url", emu.url)
    assert rc == 2 and "authentication failed" in err and err.count("\n") == 1
    rc, _, err = cli("orchestrator", "--viya-url", "http://127.0.0.1:9", "--last", "1")
    assert rc == 2 and "cannot reach Viya" in err and err.count("\n") == 1
