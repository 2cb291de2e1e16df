"""Fixtures for the Kubernetes-lifecycle tests: a clean environment without cluster access, a real control plane."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.kube_control_plane import (
    ControlPlane,
    ControlPlaneError,
    start_control_plane,
    stop_control_plane,
)


@pytest.fixture
def kube_env(runner_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """runner_env + no kubeconfig, not in a cluster (HOME is a fresh directory); returns the results dir."""
    for k in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(k, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return runner_env


@pytest.fixture(scope="session")
def kube_control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """One real etcd + kube-apiserver + kube-controller-manager per session (.ci/kube-control-plane)."""
    directory = tmp_path_factory.mktemp("kube-control-plane")
    try:
        cp = start_control_plane(directory, controller_manager=True)
    except (ControlPlaneError, subprocess.TimeoutExpired) as e:
        pytest.fail(f"the Kubernetes control plane did not start: {e}", pytrace=False)
    try:
        yield cp
    finally:
        stop_control_plane(directory)
