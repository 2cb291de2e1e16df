"""A real Kubernetes control plane for the tests (shared test support).

``.ci/kube-control-plane`` builds kube-apiserver and kube-controller-manager from
the official k8s.io/kubernetes module (once, cached) and starts them with
Debian's etcd on loopback. :func:`start_control_plane` runs it and hands back a
:class:`ControlPlane`: the admin kubeconfig, API URL, CA and token, clients for
the admin or any other bearer token, and helpers for what the tests repeat
(namespaces, ServiceAccount tokens, Helm, waiting).

There is no kubelet and no scheduler: pods are created and stay Pending.
A control plane that cannot start fails the tests that need it (never a skip).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from support.kube_support import wait_for as _wait_for

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / ".ci" / "kube-control-plane"
CHART = REPO / "helm" / "jes-runner"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}

T = TypeVar("T")


class ControlPlaneError(RuntimeError):
    """The control plane could not be built or started (message carries the script's output)."""


@dataclass(frozen=True)
class ControlPlane:
    directory: Path
    kubeconfig: Path
    url: str
    ca_file: Path
    admin_token: str
    version: str
    controller_manager: bool

    # ----- clients ------------------------------------------------------------------

    def api_client(self, token: str | None = None) -> Any:
        """A kubernetes ``ApiClient`` for ``token`` (default: the admin token), verifying the test CA."""
        from kubernetes import client

        cfg = client.Configuration(host=self.url)
        cfg.api_key = {"BearerToken": token or self.admin_token}
        cfg.api_key_prefix = {"BearerToken": "Bearer"}
        cfg.ssl_ca_cert = str(self.ca_file)
        return client.ApiClient(cfg)

    def core(self, token: str | None = None) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api_client(token))

    def batch(self) -> Any:
        from kubernetes import client

        return client.BatchV1Api(self.api_client())

    def access(self, token: str | None = None) -> Any:
        """The runner's own way in (``jes_runner.kube.connect``) with an explicit URL, token and CA."""
        from jes_runner.kube import connect

        return connect(self.url, token or self.admin_token, ca_cert=str(self.ca_file))

    def kubeconfig_for(self, token: str, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig using ``token`` (e.g. a ServiceAccount's) against this server."""
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: t, cluster: {{server: '{self.url}', certificate-authority: '{self.ca_file}'}}}}]\n"
            f"users: [{{name: u, user: {{token: '{token}'}}}}]\n"
            f"contexts: [{{name: t, context: {{cluster: t, user: u, namespace: '{namespace}'}}}}]\n"
            "current-context: t\n"
        )
        path.chmod(0o600)
        return path

    # ----- objects ------------------------------------------------------------------

    def namespace(self, prefix: str, labels: dict[str, str] | None = None) -> str:
        """A new namespace with a unique name (labels e.g. :data:`RESTRICTED`)."""
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.core().create_namespace({"metadata": {"name": name, "labels": labels or {}}})
        return name

    def service_account_token(self, namespace: str, name: str, seconds: int = 3600) -> str:
        """A bound token for a ServiceAccount through the TokenRequest API (what a pod's mount holds)."""
        body = {"spec": {"audiences": [], "expirationSeconds": seconds}}
        resp = self.core().create_namespaced_service_account_token(name, namespace, body)
        return str(resp.status.token)

    # ----- tools --------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("JES_", "KUBERNETES_SERVICE"))
        }
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def run(
        self, *argv: str, check: bool = True, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """A tool (helm, helm3, kubectl) against this server; a failure shows its output."""
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, env=self.env(), timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc


def start_control_plane(directory: Path, *, controller_manager: bool = True) -> ControlPlane:
    """Run ``.ci/kube-control-plane start``; raises ControlPlaneError with its output when it fails."""
    argv = [str(SCRIPT), "start", "--dir", str(directory), "--stop-with", str(os.getpid())]
    if controller_manager:
        argv.append("--controller-manager")
    # A first start on a fresh machine builds the binaries (~15 min): .ci/run builds before pytest.
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise ControlPlaneError(
            f"{SCRIPT.name} start failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    env = dict(
        line.split("=", 1) for line in (directory / "env").read_text().splitlines() if "=" in line
    )
    return ControlPlane(
        directory=directory,
        kubeconfig=Path(env["KUBECONFIG"]),
        url=env["KUBE_API_URL"],
        ca_file=Path(env["KUBE_CA_FILE"]),
        admin_token=Path(env["KUBE_TOKEN_FILE"]).read_text().strip(),
        version=env["KUBE_VERSION"],
        controller_manager=env.get("KUBE_CONTROLLER_MANAGER") == "1",
    )


def stop_control_plane(directory: Path) -> None:
    subprocess.run(
        [str(SCRIPT), "stop", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def wait_for(
    pred: Callable[[], T], timeout: float = 60.0, step: float = 0.2, what: str = "condition"
) -> T:
    """Poll ``pred`` until truthy; generous timeouts (a shared 2-core machine), never a race on the clock."""
    return _wait_for(pred, timeout=timeout, step=step, what=what)
