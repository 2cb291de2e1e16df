"""Reaching the Kubernetes API: an explicit URL, in-cluster config, or a kubeconfig.

Order: ``kube_api_url`` (tests, the emulator, a proxy) -> in-cluster (the pod's
service account) -> kubeconfig (``KUBECONFIG`` or ``~/.kube/config``). No access
at all is normal (a laptop, CI): :func:`connect` then returns the reason instead
of raising, and the callers fall back.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("jes_runner.kube")

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass
class KubeAccess:
    """An ``ApiClient`` (None when unavailable), where its config came from, or why there is none."""

    api: Any  # kubernetes.client.ApiClient | None
    source: str  # "kube_api_url" | "in-cluster" | "kubeconfig" | ""
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.api is not None

    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    def close(self) -> None:
        if self.api is not None:
            with contextlib.suppress(Exception):  # closing pools must never fail a run
                self.api.close()


def in_cluster(sa_dir: Path = SERVICE_ACCOUNT_DIR) -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (sa_dir / "token").is_file()


def pod_namespace(sa_dir: Path = SERVICE_ACCOUNT_DIR) -> str | None:
    """The pod's namespace from the service account mount (None outside a pod)."""
    try:
        ns = (sa_dir / "namespace").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return ns or None


def _kubeconfig_path() -> Path | None:
    env = os.environ.get("KUBECONFIG")
    if env:
        first = next((p for p in env.split(os.pathsep) if p), "")
        return Path(first) if first and Path(first).is_file() else None
    default = Path.home() / ".kube" / "config"
    return default if default.is_file() else None


def connect(
    url: str | None = None,
    token: str | None = None,
    *,
    verify_tls: bool = True,
    ca_cert: str | None = None,
    timeout_s: float = 10.0,
) -> KubeAccess:
    """An ApiClient for the first available config; never raises."""
    from kubernetes import client, config

    try:
        if url:
            cfg = client.Configuration(host=url.rstrip("/"))
            if token:
                cfg.api_key = {"BearerToken": token}
                cfg.api_key_prefix = {"BearerToken": "Bearer"}
            cfg.verify_ssl = verify_tls
            if ca_cert:
                cfg.ssl_ca_cert = ca_cert
            cfg.retries = 1
            return KubeAccess(client.ApiClient(cfg), "kube_api_url")
        if in_cluster():
            cfg = client.Configuration()
            config.load_incluster_config(client_configuration=cfg)
            cfg.retries = 1
            return KubeAccess(client.ApiClient(cfg), "in-cluster")
        path = _kubeconfig_path()
        if path is not None:
            return KubeAccess(config.new_client_from_config(config_file=str(path)), "kubeconfig")
    except Exception as e:  # noqa: BLE001 - a broken kubeconfig is a fallback, not a failure
        return KubeAccess(
            None, "", f"Kubernetes config unusable ({e.__class__.__name__}: {_one_line(e)})"
        )
    return KubeAccess(None, "", "not in a cluster (no service account) and no kubeconfig")


def describe_api_error(e: BaseException) -> str:
    """One line for an ApiException / connection error (never a body with secrets: Status messages only)."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(e, ApiException):
        reason = ""
        try:
            import json

            body = json.loads(e.body or "{}")
            reason = str(body.get("message") or body.get("reason") or "")
        except (ValueError, TypeError, AttributeError):
            reason = str(e.reason or "")
        return f"HTTP {e.status}" + (f" {reason}" if reason else "")
    return f"{e.__class__.__name__}: {_one_line(e)}"


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:300]
