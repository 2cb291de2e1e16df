"""Helpers for the Kubernetes-lifecycle tests (a plain module with a unique name)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import requests
import yaml
from kubernetes import client

from jes_runner.cli.main import main
from jes_runner.results.schema import validate_results
from support.servers import stop_process

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


def kube_api(url: str, token: str | None = None) -> Any:
    """The real kubernetes client, pointed at the emulator (never patched)."""
    cfg = client.Configuration(host=url)
    if token:
        cfg.api_key = {"BearerToken": token}
        cfg.api_key_prefix = {"BearerToken": "Bearer"}
    return client.CoreV1Api(client.ApiClient(cfg))


def token_grant(
    url: str, form: dict[str, str], client_auth: tuple[str, str] = ("sas.cli", "")
) -> requests.Response:
    return requests.post(
        f"{url}/SASLogon/oauth/token",
        data=form,
        auth=client_auth,
        headers={"Accept": "application/json"},
        timeout=10,
    )


def password_login(emu: Any) -> dict[str, Any]:
    r = token_grant(
        emu.url, {"grant_type": "password", "username": emu.username, "password": emu.password}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def refresh_ok(url: str, refresh_token: str) -> bool:
    return (
        token_grant(
            url, {"grant_type": "refresh_token", "refresh_token": refresh_token}
        ).status_code
        == 200
    )


class Viya:
    """A bare authenticated client for submitting jobs to the emulator."""

    def __init__(self, emu: Any) -> None:
        self.url = emu.url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {password_login(emu)['access_token']}"
        self.http.headers["Accept"] = "application/json"

    def definition_id(self, name: str) -> str:
        r = self.http.get(
            f"{self.url}/jobDefinitions/definitions", params={"filter": f"eq(name,'{name}')"}
        )
        (item,) = r.json()["items"]
        return str(item["id"])

    def submit(
        self, definition: str, name: str, context: str = "Autoscaling POC Context"
    ) -> dict[str, Any]:
        body = {
            "jobDefinitionUri": f"/jobDefinitions/definitions/{self.definition_id(definition)}",
            "name": name,
            "arguments": {"_contextName": context},
        }
        r = self.http.post(f"{self.url}/jobExecution/jobs", json=body, timeout=10)
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out


def wait_for(
    pred: Callable[[], T], timeout: float = 20.0, step: float = 0.02, what: str = "condition"
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def run_cli(argv: list[str]) -> int:
    return main(argv)


def latest_results(out_dir: Path) -> dict[str, Any]:
    files = sorted(out_dir.glob("pooled_jobs_comparison_*.json"))
    assert files, f"no results file in {out_dir}"
    doc: dict[str, Any] = json.loads(files[-1].read_text())
    errors = validate_results(doc)
    assert not errors, errors[:5]
    return doc


def write_job_config(path: Path, names: list[str]) -> Path:
    jobs: list[dict[str, Any]] = [
        {
            "definition_id": None,
            "name": n,
            "description": "",
            "arguments": {},
            "context_name": None,
            "enabled": True,
            "expected_runtime_s": None,
        }
        for n in names
    ]
    path.write_text(json.dumps({"jobs": jobs, "settings": {}, "metadata": {}}))
    return path


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("JES_") and k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")
    }
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


@contextmanager
def emulator_process(
    tmp: Path, scenario: dict[str, Any], speed_factor: float
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`python -m jes_runner emulator` in its own process: its ground truth outlives the runner."""
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jes_runner",
            "emulator",
            "--port",
            "0",
            "--scenario",
            str(path),
            "--speed-factor",
            str(speed_factor),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=tmp,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"listening on (http://\S+)", line)
        assert m, f"emulator did not start: {line!r}"
        yield m.group(1), proc
    finally:
        stop_process(proc)


def ground_truth(url: str) -> dict[str, Any]:
    r = requests.get(f"{url}/emulator/ground-truth", timeout=10)
    r.raise_for_status()
    doc: dict[str, Any] = r.json()
    return doc
