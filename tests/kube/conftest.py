"""Fixtures for the Kubernetes-lifecycle tests: a clean environment without cluster access."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def kube_env(runner_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """runner_env + no kubeconfig, not in a cluster (HOME is a fresh directory); returns the results dir."""
    for k in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(k, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return runner_env
