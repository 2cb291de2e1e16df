"""Helpers shared by the emulator tests (imported as a plain module: unique name)."""

from __future__ import annotations

import time
from typing import Any

import requests

from jes_runner.emulator import Emulator, Scenario, default_scenario


class ViyaClient:
    """A bare requests-based client: password grant via sas.cli, bearer on every call."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.url = emu.url
        self.http = requests.Session()
        self.token = self.login()
        self.http.headers["Authorization"] = f"Bearer {self.token['access_token']}"

    def login(self, client: tuple[str, str] = ("sas.cli", "")) -> dict[str, Any]:
        r = requests.post(
            f"{self.url}/SASLogon/oauth/token",
            data={
                "grant_type": "password",
                "username": self.emu.username,
                "password": self.emu.password,
            },
            auth=client,
            headers={"Accept": "application/json"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        return r.json()

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.http.get(self.url + path, timeout=30, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.http.post(self.url + path, timeout=30, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.http.put(self.url + path, timeout=30, **kw)

    def definition_id(self, name: str) -> str:
        r = self.get("/jobDefinitions/definitions", params={"filter": f"eq(name,'{name}')"})
        assert r.status_code == 200, r.text
        (item,) = r.json()["items"]
        return item["id"]

    def submit(
        self,
        definition: str,
        name: str | None = None,
        context: str = "SAS Job Execution compute context",
    ) -> dict[str, Any]:
        body = {
            "jobDefinitionUri": f"/jobDefinitions/definitions/{self.definition_id(definition)}",
            "name": name or definition,
            "arguments": {"_contextName": context},
        }
        r = self.post("/jobExecution/jobs", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    def wait_state(self, job_id: str, states: set[str], timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            state = self.get(
                f"/jobExecution/jobs/{job_id}/state", headers={"Accept": "text/plain"}
            ).text
            if state in states or time.monotonic() > deadline:
                return state
            time.sleep(0.02)


def scenario_with(**updates: Any) -> Scenario:
    """The default scenario with top-level fields replaced (pools/queues dicts merged)."""
    base = default_scenario()
    for key in ("pools", "queues"):
        if key in updates:
            merged = dict(getattr(base, key))
            for name, fields in updates.pop(key).items():
                merged[name] = merged[name].model_copy(update=fields) if name in merged else fields
            updates[key] = merged
    return base.model_copy(update=updates)


def tiny_scenario(slots: int = 1, nodes: int = 1, speed: float = 0.01, **extra: Any) -> Scenario:
    """One fixed pool of ``nodes`` x ``slots`` behind one context, plus a long and a short job."""
    from jes_runner.sim.scenario import parse_scenario

    data: dict[str, Any] = {
        "name": "tiny",
        "speed_factor": speed,
        "profile": None,
        "jobs": {"long_job": {"elapsed_s": 2000}, "short_job": {"elapsed_s": 20}},
        "pools": {
            "p": {
                "min_nodes": nodes,
                "max_nodes": nodes,
                "slots_per_node": slots,
                "cpu_capacity": slots,
            }
        },
        "queues": {"q": {"pools": ["p"]}},
        "contexts": [{"name": "SAS Job Execution compute context", "queue": "q"}],
    }
    data.update(extra)
    return parse_scenario(data, "<test>")
