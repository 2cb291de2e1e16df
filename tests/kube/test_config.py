"""kube/config.py: which Kubernetes config is used (explicit URL, in-cluster, kubeconfig), that no
access is a reason and never an exception, and one-line API errors without response bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from jes_runner.kube.config import (
    KubeAccess,
    connect,
    describe_api_error,
    in_cluster,
    pod_namespace,
)


@pytest.fixture
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Outside any pod, an empty HOME (no ~/.kube/config), no KUBECONFIG: returns that HOME."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def _kubeconfig(path: Path, server: str, token: str) -> Path:
    path.write_text(
        json.dumps(  # JSON is YAML: the kubernetes client reads it as a kubeconfig
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": token}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def test_an_explicit_url_wins_and_carries_the_token(no_cluster: Path) -> None:
    _kubeconfig(no_cluster / "kc", "https://from-kubeconfig:6443", "kc-token")
    access = connect("http://127.0.0.1:8001/", "t0ken", verify_tls=False)
    try:
        assert access.ok and access.source == "kube_api_url" and access.reason is None
        cfg = access.api.configuration
        assert cfg.host == "http://127.0.0.1:8001"  # trailing slash dropped
        assert cfg.get_api_key_with_prefix("BearerToken") == "Bearer t0ken"
        assert cfg.verify_ssl is False
    finally:
        access.close()


def test_no_config_at_all_is_a_reason_not_an_error(no_cluster: Path) -> None:
    access = connect()
    assert not access.ok and access.source == "" and access.api is None
    assert access.reason == "not in a cluster (no service account) and no kubeconfig"
    access.close()  # nothing to close: still fine


def test_kubeconfig_from_the_environment_first_path(
    no_cluster: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _kubeconfig(no_cluster / "first", "https://first.example:6443", "tok-1")
    second = _kubeconfig(no_cluster / "second", "https://second.example:6443", "tok-2")
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    access = connect()
    try:
        assert access.ok and access.source == "kubeconfig"
        assert access.api.configuration.host == "https://first.example:6443"
    finally:
        access.close()


def test_the_default_kubeconfig_in_home(no_cluster: Path) -> None:
    (no_cluster / ".kube").mkdir()
    _kubeconfig(no_cluster / ".kube" / "config", "https://home.example:6443", "tok")
    access = connect()
    try:
        assert access.source == "kubeconfig"
        assert access.api.configuration.host == "https://home.example:6443"
    finally:
        access.close()


def test_a_kubeconfig_env_naming_a_missing_file_is_no_config(
    no_cluster: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (no_cluster / ".kube").mkdir()  # the default exists but KUBECONFIG says otherwise
    _kubeconfig(no_cluster / ".kube" / "config", "https://home.example:6443", "tok")
    monkeypatch.setenv("KUBECONFIG", str(no_cluster / "missing"))
    assert connect().reason == "not in a cluster (no service account) and no kubeconfig"


def test_a_broken_kubeconfig_is_one_line_without_its_secret(
    no_cluster: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = no_cluster / "kc"
    # a context naming a cluster that is not there, beside a credential that must not be echoed
    bad.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "contexts:\n- name: x\n  context: {cluster: nowhere, user: u}\n"
        "users:\n- name: u\n  user: {token: s3cr3t-token}\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(bad))
    access = connect()
    assert not access.ok and access.source == ""
    assert access.reason is not None and access.reason.startswith("Kubernetes config unusable (")
    assert "\n" not in access.reason and "s3cr3t-token" not in access.reason


def test_in_cluster_needs_both_the_env_and_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    assert not in_cluster(tmp_path)  # no token mounted
    (tmp_path / "token").write_text("sa-token")
    assert in_cluster(tmp_path)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    assert not in_cluster(tmp_path)


def test_pod_namespace(tmp_path: Path) -> None:
    assert pod_namespace(tmp_path) is None  # not mounted
    (tmp_path / "namespace").write_text("")
    assert pod_namespace(tmp_path) is None
    (tmp_path / "namespace").write_text("jes-runner\n")
    assert pod_namespace(tmp_path) == "jes-runner"


def test_api_errors_in_one_line() -> None:
    denied = ApiException(status=403, reason="Forbidden")
    denied.body = json.dumps(
        {"kind": "Status", "message": 'secrets "jes" is forbidden', "reason": "Forbidden"}
    )
    assert describe_api_error(denied) == 'HTTP 403 secrets "jes" is forbidden'
    html = ApiException(status=502, reason="Bad Gateway")
    html.body = "<html>proxy error</html>"  # not a Status: the body is never shown
    assert describe_api_error(html) == "HTTP 502 Bad Gateway"
    assert describe_api_error(ApiException(status=404)) == "HTTP 404"
    err = describe_api_error(ConnectionRefusedError("connection\n   refused"))
    assert err == "ConnectionRefusedError: connection refused"


def test_close_never_fails() -> None:
    class Exploding:
        def close(self) -> Any:
            raise RuntimeError("pool already closed")

    KubeAccess(Exploding(), "kube_api_url").close()


def test_the_client_reaches_a_kubernetes_api(emulator: Any) -> None:
    """The explicit-URL client really talks to an API (the emulator's Kubernetes API)."""
    access = connect(emulator.url)
    try:
        nodes = access.core().list_node()
        assert nodes.kind == "NodeList" and isinstance(nodes.items, list)
    finally:
        access.close()
