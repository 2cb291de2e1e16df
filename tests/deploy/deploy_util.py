"""Helpers shared by the deployment tests (imported as a plain module)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "jes-runner"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
# "default" plus every ci/*-values.yaml scenario
SCENARIOS = ["default"] + [p.name for p in CI_VALUES]
HELMS = ["helm", "helm3"]
CONTAINERS_CONF = REPO / ".ci" / "containers.conf"
BASE_IMAGE = os.environ.get("JES_BASE_IMAGE", "localhost/python-base:3.11")
TEST_IMAGE = "localhost/jes-runner:test"


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"'{name}' is not installed: run .ci/install-deps", pytrace=False)
    return path


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    """(where, pod spec) of every workload in rendered manifests."""
    out = []
    for d in docs:
        kind, name = d.get("kind"), d.get("metadata", {}).get("name")
        if kind == "CronJob":
            out.append((f"CronJob/{name}", d["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
        elif kind == "Job":
            out.append((f"Job/{name}", d["spec"]["template"]["spec"]))
        elif kind == "Pod":
            out.append((f"Pod/{name}", d["spec"]))
        elif kind in ("Deployment", "StatefulSet", "DaemonSet"):
            out.append((f"{kind}/{name}", d["spec"]["template"]["spec"]))
    return out


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list[dict], kind: str) -> dict:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def env_of(container: dict) -> dict[str, object]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
