"""The runner's SecretStore and NodeWatcher against a real kube-apiserver.

Nodes are created, changed and deleted through the API as a kubelet and the
cloud's node controller would (there is no kubelet here); each test labels its
nodes with its own selector so tests never see each other's nodes. The 410 Gone
is the server's own answer to a watch from a resourceVersion older than its
watch cache holds.

Still only on the emulator's fake API (jes_runner/emulator/k8s.py), because a
real server here cannot do it: nodes that scale with the SAS jobs a run submits
(no cluster autoscaler, no kubelet, no SAS Workload Orchestrator); whole runs
through ``jes-runner run`` whose node timeline is checked against the emulator's
ground truth; and switching the API to "forbidden" or dropping watches in the
middle of a run (tests/kube/test_kube_timeline.py, test_kube_tokens.py).
"""

from __future__ import annotations

import base64
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.kube_control_plane import ControlPlane, wait_for

from jes_runner.kube import NodeWatcher, SecretStore, StoreError
from jes_runner.kube.tokens import FIELD_MANAGER

pytestmark = pytest.mark.services  # see README, Contributing: the fast selection


def _node(name: str, label: str, pool: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {
                "jes-test": label,
                "kubernetes.azure.com/agentpool": pool,
                "workload.sas.com/class": "compute",
            },
        }
    }


def _set_ready(cp: ControlPlane, name: str, status: str, when: datetime) -> None:
    """What a kubelet reports: the Ready condition through the status subresource."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    cond = {
        "type": "Ready",
        "status": status,
        "reason": "KubeletReady" if status == "True" else "KubeletNotReady",
        "message": "test",
        "lastHeartbeatTime": stamp,
        "lastTransitionTime": stamp,
    }
    cp.core().patch_node_status(name, {"status": {"conditions": [cond]}})


def _delete_nodes(cp: ControlPlane, label: str) -> None:
    cp.core().delete_collection_node(label_selector=f"jes-test={label}")


def test_node_watcher_sees_nodes_added_ready_and_removed(kube_control_plane: ControlPlane) -> None:
    cp = kube_control_plane
    label = uuid.uuid4().hex[:8]
    names = [f"aks-computetmp-{label}-vmss00000{i}" for i in range(3)]
    core = cp.core()
    core.create_node(_node(names[0], label, "computetmp"))
    ready0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    _set_ready(cp, names[0], "True", ready0)

    # a short watch timeout: the server ends the stream and the watcher watches again from where it was
    watcher = NodeWatcher(cp.access(), f"jes-test={label}", watch_timeout_s=2).start()
    try:
        created = core.create_node(_node(names[1], label, "computetmp"))
        core.create_node(_node(names[2], label, "other-pool"))
        wait_for(lambda: len(watcher.rec.obs.events) >= 2, what="two nodes added")
        ready1 = datetime.now(UTC).replace(microsecond=0)
        _set_ready(cp, names[1], "True", ready1)
        _set_ready(cp, names[2], "False", ready1)  # not Ready: no event
        core.delete_node(names[0])
        wait_for(
            lambda: any(e.event == "removed" for e in watcher.rec.obs.events), what="node removed"
        )
        wait_for(lambda: any(e.event == "ready" for e in watcher.rec.obs.events), what="node ready")
        # outlive two watch timeouts: re-watching from the last resourceVersion repeats nothing
        time.sleep(4)
    finally:
        obs = watcher.stop()
        _delete_nodes(cp, label)

    assert list(obs.initial) == [names[0]]
    first = obs.initial[names[0]]
    assert (first.pool, first.ready, first.ready_at) == ("computetmp", True, ready0)
    got = sorted((e.event, e.node, e.pool) for e in obs.events)
    assert got == sorted(
        [
            ("added", names[1], "computetmp"),
            ("added", names[2], "other-pool"),
            ("ready", names[1], "computetmp"),
            ("removed", names[0], "computetmp"),
        ]
    )
    by = {(e.event, e.node): e for e in obs.events}
    # server timestamps: creationTimestamp for added, the condition's lastTransitionTime for ready
    assert by[("added", names[1])].time == created.metadata.creation_timestamp
    assert by[("ready", names[1])].time == ready1
    assert watcher.errors == 0 and obs.relists == 0 and obs.notes == []


@pytest.mark.slow
def test_a_watcher_fallen_behind_gets_410_gone_and_relists(
    kube_control_plane: ControlPlane,
) -> None:
    """A watch from a resourceVersion the watch cache no longer holds is 410 Gone; the watcher re-lists.

    The API server keeps at least 75 s of events per resource (capacity from 100 up,
    growing only while its oldest event is younger than that): a list made 75 s and
    more than 100 node events ago is past it, as for a watcher that fell behind.
    """
    from kubernetes import watch
    from kubernetes.client.exceptions import ApiException

    cp = kube_control_plane
    label = uuid.uuid4().hex[:8]
    a, b, c = (f"aks-computetmp-{label}-vmss00000{i}" for i in "abc")
    core = cp.core()
    core.create_node(_node(a, label, "computetmp"))
    watcher = NodeWatcher(cp.access(), f"jes-test={label}", watch_timeout_s=30)
    # a real list and its resourceVersion, kept as a stalled watcher would
    old_nodes, old_rv = watcher._list()
    assert list(old_nodes) == [a]
    core.create_node(_node(b, label, "computetmp"))  # changes while it was behind
    core.delete_node(a)
    time.sleep(80)
    churn = f"aks-churn-{label}"
    core.create_node(_node(churn, f"{label}-churn", "churn"))
    for i in range(250):  # push the old events out of the cache
        core.patch_node(churn, {"metadata": {"annotations": {"churn": str(i)}}})
    core.delete_node(churn)

    with pytest.raises(ApiException) as gone:  # the server itself
        for _ in watch.Watch().stream(
            core.list_node,
            label_selector=f"jes-test={label}",
            resource_version=old_rv,
            timeout_seconds=5,
        ):
            pass
    assert gone.value.status == 410 and "too old resource version" in str(gone.value.reason)

    real_list = watcher._list
    calls = 0

    def list_then_fall_behind() -> tuple[dict[str, Any], str]:
        nonlocal calls
        calls += 1
        return (old_nodes, old_rv) if calls == 1 else real_list()

    watcher._list = list_then_fall_behind  # type: ignore[method-assign]
    watcher.start()
    try:
        wait_for(lambda: watcher.relists >= 1, what="a re-list after 410")
        core.create_node(_node(c, label, "computetmp"))  # the new watch carries on from the re-list
        wait_for(lambda: any(e.node == c for e in watcher.rec.obs.events), what="node c")
    finally:
        obs = watcher.stop()
        _delete_nodes(cp, label)
    assert list(obs.initial) == [a]
    assert sorted((e.event, e.node) for e in obs.events) == [
        ("added", b),
        ("added", c),
        ("removed", a),
    ]
    # a 410 is routine, not trouble
    assert obs.relists == 1 and watcher.errors == 0 and obs.notes == []


def test_secret_store_reads_patches_creates_and_retries_a_conflict(
    kube_control_plane: ControlPlane,
) -> None:
    cp = kube_control_plane
    ns = cp.namespace("store")
    core = cp.core()
    store = SecretStore(cp.access(), ns, "tokens")
    assert store.load() == {}
    with pytest.raises(StoreError, match=f"Secret {ns}/tokens does not exist"):
        store.save({"refresh_token": "r0"})
    assert store.save({"refresh_token": "r1", "client_id": "sas.cli"}, create=True) == [
        "client_id",
        "refresh_token",
    ]
    created = core.read_namespaced_secret("tokens", ns)
    assert created.metadata.labels["app.kubernetes.io/component"] == "tokens"
    # a Secret only the runner manages keeps its owner (nobody else could take the keys over)
    assert [e.manager for e in created.metadata.managed_fields] == [FIELD_MANAGER]
    assert store.save({"refresh_token": "r1"}) == []  # unchanged: no write
    assert (
        core.read_namespaced_secret("tokens", ns).metadata.resource_version
        == created.metadata.resource_version
    )

    # someone else writes between the store's read and its patch: the server answers 409, the store
    # reads again and patches again, keeping the other writer's key
    real_read = store._read
    reads = 0

    def read_then_someone_writes() -> Any:
        nonlocal reads
        reads += 1
        secret = real_read()
        if reads == 1:
            core.patch_namespaced_secret(
                "tokens", ns, {"data": {"other": base64.b64encode(b"o").decode()}}
            )
        return secret

    store._read = read_then_someone_writes  # type: ignore[method-assign]
    assert store.save({"refresh_token": "r2"}) == ["refresh_token"]
    assert reads == 2
    assert SecretStore(cp.access(), ns, "tokens").load() == {
        "refresh_token": "r2",
        "client_id": "sas.cli",
        "other": "o",
    }
    core.delete_namespace(ns)
