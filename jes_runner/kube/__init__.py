"""Kubernetes lifecycle: tokens from and back to Secrets, the node-pool timeline.

* :mod:`.config` -- reaching the API (explicit URL, in-cluster, kubeconfig).
* :mod:`.nodes` -- list + watch of the compute nodes; orchestrator hosts as the fallback.
* :mod:`.tokens` -- Secret / file token stores, the refresh-token write-back, secrets-dir reload (the directory is read by config.secrets).
* :mod:`.lifecycle` -- wiring into a Runner (phase start/end hooks, refresh-token hook).
"""

from jes_runner.kube.config import KubeAccess, connect, in_cluster, pod_namespace
from jes_runner.kube.nodes import (
    HostPoller,
    KubeUnavailable,
    NodeEvent,
    NodeState,
    NodeWatcher,
    ObservedNodes,
)
from jes_runner.kube.tokens import (
    FileStore,
    SecretStore,
    StoreError,
    TokenPersister,
)

__all__ = [
    "FileStore",
    "HostPoller",
    "KubeAccess",
    "KubeUnavailable",
    "NodeEvent",
    "NodeState",
    "NodeWatcher",
    "ObservedNodes",
    "SecretStore",
    "StoreError",
    "TokenPersister",
    "connect",
    "in_cluster",
    "pod_namespace",
]
