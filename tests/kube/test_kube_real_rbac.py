"""The chart's ServiceAccount on a real API server: what its token may do, and nothing else.

A TokenRequest token (what the CronJob's pod mounts) is used through the
runner's own code (``SecretStore``, ``NodeWatcher``); the server's RBAC
authorizer answers. The complete list of what the account may do comes from a
SelfSubjectRulesReview made with its own token.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from support.kube_control_plane import CHART, RESTRICTED, ControlPlane

from jes_runner.kube import KubeUnavailable, NodeWatcher, SecretStore, StoreError

pytestmark = pytest.mark.services  # see README, Contributing: the fast selection

RELEASE, FULLNAME = "bench", "bench-jes-runner"
# What every authenticated user may do (system:basic-user, system:discovery): not the chart's doing.
SELF_REVIEWS = {"selfsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews"}


def _rules(cp: ControlPlane, token: str, ns: str) -> set[tuple[str, ...]]:
    from kubernetes import client

    review = client.AuthorizationV1Api(cp.api_client(token)).create_self_subject_rules_review(
        {"spec": {"namespace": ns}}
    )
    assert not review.status.incomplete, review.status.evaluation_error
    out: set[tuple[str, ...]] = set()
    for r in review.status.resource_rules:
        if set(r.resources) <= SELF_REVIEWS:
            continue
        out.add(
            (
                ",".join(sorted(r.resources)),
                ",".join(sorted(r.verbs)),
                ",".join(r.resource_names or []),
            )
        )
    return out


def _one_line(text: str, token: str) -> str:
    assert "\n" not in text and token not in text
    return text


@pytest.mark.parametrize("node_reader", [True, False], ids=["nodeReader", "no-nodeReader"])
def test_service_account_can_do_its_job_and_nothing_else(
    node_reader: bool, kube_control_plane: ControlPlane
) -> None:
    cp = kube_control_plane
    ns = cp.namespace("rbac", RESTRICTED)
    values = {
        "runner.viyaUrl": "https://viya.example.com",
        "credentials.refreshToken": "seed-refresh",
        "rbac.nodeReader": str(node_reader).lower(),
    }
    cp.run(
        shutil.which("helm") or "helm",
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        ns,
        *[a for k, v in values.items() for a in ("--set", f"{k}={v}")],
    )
    cp.core().create_namespaced_secret(
        ns, {"metadata": {"name": "someone-elses"}, "stringData": {"k": "v"}}
    )
    token = cp.service_account_token(ns, FULLNAME)
    access = cp.access(token)

    # its own Secret: get and patch, through the runner's store
    store = SecretStore(access, ns, FULLNAME)
    assert store.load()["refresh_token"] == "seed-refresh"
    assert store.save({"refresh_token": "rotated"}) == ["refresh_token"]
    assert store.load()["refresh_token"] == "rotated"

    # everything it may do, in its namespace (cluster-wide rules included)
    expected = {("secrets", "get,patch", FULLNAME)}
    if node_reader:
        expected.add(("nodes", "get,list,watch", ""))
    assert _rules(cp, token, ns) == expected
    assert _rules(cp, token, "default") == (
        {("nodes", "get,list,watch", "")} if node_reader else set()
    )

    # a forbidden request is one line from the runner, naming the account and what was refused
    with pytest.raises(StoreError) as other:
        SecretStore(access, ns, "someone-elses").load()
    msg = _one_line(str(other.value), token)
    assert msg.startswith(f"cannot read Secret {ns}/someone-elses (HTTP 403 ")
    assert f'User "system:serviceaccount:{ns}:{FULLNAME}" cannot get resource "secrets"' in msg
    with pytest.raises(StoreError) as create:
        SecretStore(access, ns, "new-one").save({"refresh_token": "x"}, create=True)
    assert _one_line(str(create.value), token).startswith(
        f"cannot read Secret {ns}/new-one (HTTP 403 "
    )

    watcher = NodeWatcher(access, "workload.sas.com/class=compute", watch_timeout_s=5)
    if node_reader:
        watcher.start()
        obs = watcher.stop()
        assert obs.source == "kubernetes" and watcher.errors == 0
    else:
        with pytest.raises(KubeUnavailable) as refused:
            watcher.start()
        msg = _one_line(str(refused.value), token)
        assert (
            msg.startswith("HTTP 403 nodes is forbidden: ")
            and 'cannot list resource "nodes"' in msg
        )

    # nothing else: pods, the CronJob, other namespaces
    core: Any = cp.core(token)
    from kubernetes.client.exceptions import ApiException

    for call in (
        lambda: core.list_namespaced_pod(ns),
        lambda: core.list_namespaced_secret(ns),
        lambda: core.read_namespaced_secret(FULLNAME, "default"),
        lambda: core.list_namespace(),
    ):
        with pytest.raises(ApiException) as denied:
            call()
        assert denied.value.status == 403
    cp.core().delete_namespace(ns)
