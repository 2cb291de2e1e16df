"""The emulator's Kubernetes API, driven by the real kubernetes client over HTTP."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from support.kube_support import Viya, kube_api, password_login, refresh_ok, token_grant

FAST = 0.002
TMP = "aks-computetmp-28320745-vmss"


def _status(e: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(e.body or "{}")
    return body


def test_node_list_selectors_and_node_json(make_emulator: Callable[..., Any]) -> None:
    emu = make_emulator(speed_factor=FAST)
    api = kube_api(emu.url)
    nl = api.list_node(label_selector="workload.sas.com/class=compute")
    (node,) = nl.items
    assert node.metadata.name == "aks-compute-36279683-vmss000001"
    assert int(nl.metadata.resource_version) >= 2  # added + ready
    labels = node.metadata.labels
    assert labels["agentpool"] == labels["kubernetes.azure.com/agentpool"] == "compute"
    assert labels["node.kubernetes.io/instance-type"] == "Standard_D4s_v5"
    ready = next(c for c in node.status.conditions if c.type == "Ready")
    assert ready.status == "True" and ready.reason == "KubeletReady"
    assert node.spec.provider_id.endswith(
        "/virtualMachineScaleSets/aks-compute-36279683-vmss/virtualMachines/1"
    )
    assert node.status.node_info.kubelet_version.startswith("v1.")

    raw = requests.get(f"{emu.url}/api/v1/nodes", timeout=5).json()
    assert raw["kind"] == "NodeList" and raw["apiVersion"] == "v1"
    for selector, expect in [
        ("agentpool in (compute, computetmp)", 1),
        ("agentpool notin (compute)", 0),
        ("agentpool!=compute", 0),
        ("workload.sas.com/class", 1),
        ("!workload.sas.com/class", 0),
        ("agentpool==compute,kubernetes.io/os=linux", 1),
    ]:
        assert len(api.list_node(label_selector=selector).items) == expect, selector
    assert len(api.list_node(field_selector="metadata.name=nope").items) == 0
    with pytest.raises(ApiException) as bad:
        api.list_node(label_selector="a in b")
    assert bad.value.status == 400 and _status(bad.value)["reason"] == "BadRequest"
    with pytest.raises(ApiException) as missing:
        api.read_node("nope")
    st = _status(missing.value)
    assert (st["kind"], st["apiVersion"], st["status"], st["reason"], st["code"]) == (
        "Status",
        "v1",
        "Failure",
        "NotFound",
        404,
    )


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_watch_streams_scale_up_and_down_with_timeout_and_bookmarks(
    make_emulator: Callable[..., Any],
) -> None:
    emu = make_emulator(
        speed_factor=FAST,
        pools={"computetmp": {"scale_down_idle": 100}},
        kubernetes={"bookmark_interval_s": 0.3},
    )
    api = kube_api(emu.url)
    rv = api.list_node(label_selector="agentpool=computetmp").metadata.resource_version
    events: list[tuple[str, str, str]] = []
    t0 = time.monotonic()

    def consume() -> None:
        w = watch.Watch()
        for ev in w.stream(
            api.list_node,
            label_selector="agentpool=computetmp",
            resource_version=rv,
            timeout_seconds=3,
            allow_watch_bookmarks=True,
        ):
            obj = ev["raw_object"]
            events.append(
                (ev["type"], obj["metadata"].get("name", ""), obj["metadata"]["resourceVersion"])
            )

    th = threading.Thread(target=consume)
    th.start()
    viya = Viya(emu)
    for i in range(6):
        viya.submit("cm_pooled", f"w_{i}")
    th.join(10)
    elapsed = time.monotonic() - t0
    assert 2.9 < elapsed < 5, "timeoutSeconds ends the stream"
    changes = [(k, n[-2:]) for k, n, _ in events if k != "BOOKMARK"]
    # 6 jobs need both nodes: requested in one step (as AKS does), Ready in request order
    assert changes[:4] == [("ADDED", "2q"), ("ADDED", "2r"), ("MODIFIED", "2q"), ("MODIFIED", "2r")]
    assert sorted(changes[4:]) == [("DELETED", "2q"), ("DELETED", "2r")]
    assert sum(1 for k, _, _ in events if k == "BOOKMARK") >= 3
    rvs = [int(r) for k, _, r in events if k != "BOOKMARK"]
    assert rvs == sorted(rvs) and len(set(rvs)) == len(rvs)
    # the same story in the model's ground truth
    truth = [
        (e["event"], e["node"][-2:])
        for e in emu.ground_truth()["node_events"]
        if e["node"].startswith(TMP)
    ]
    kinds = {"add": "ADDED", "ready": "MODIFIED", "remove": "DELETED"}
    assert [(kinds[k], n) for k, n in truth] == changes

    # a watch from a resourceVersion older than the kept window answers ERROR 410 (the client raises)
    raw = requests.get(
        f"{emu.url}/api/v1/nodes",
        params={"watch": "true", "resourceVersion": "1", "timeoutSeconds": "1"},
        stream=True,
        timeout=5,
    )
    assert raw.headers["Transfer-Encoding"] == "chunked"
    first = json.loads(next(raw.iter_lines()))
    raw.close()
    # still kept
    assert (first["type"], first["object"]["metadata"]["resourceVersion"]) == (
        "MODIFIED",
        "2",
    )
    emu.k8s.expire_watches()
    with pytest.raises(ApiException) as gone:
        for _ in watch.Watch().stream(api.list_node, resource_version="1", timeout_seconds=1):
            pass
    assert gone.value.status == 410


def test_secret_get_patch_create_conflict(make_emulator: Callable[..., Any]) -> None:
    emu = make_emulator(
        kubernetes={
            "secrets": [
                {
                    "namespace": "jes",
                    "name": "tokens",
                    "string_data": {"refresh_token": "r1", "username": "jes"},
                }
            ]
        }
    )
    api = kube_api(emu.url)
    s = api.read_namespaced_secret("tokens", "jes")
    assert s.kind == "Secret" and s.type == "Opaque"
    assert base64.b64decode(s.data["refresh_token"]) == b"r1"
    rv1 = int(s.metadata.resource_version)

    b64 = lambda v: base64.b64encode(v.encode()).decode()  # noqa: E731
    # strategic merge
    s2 = api.patch_namespaced_secret("tokens", "jes", {"data": {"refresh_token": b64("r2")}})
    assert int(s2.metadata.resource_version) > rv1
    s3 = api.patch_namespaced_secret(
        "tokens",
        "jes",
        {"data": {"access_token": b64("a1")}},
        _content_type="application/merge-patch+json",
    )
    # JSON patch
    s4 = api.patch_namespaced_secret(
        "tokens", "jes", [{"op": "replace", "path": "/data/access_token", "value": b64("a2")}]
    )
    assert int(s4.metadata.resource_version) > int(s3.metadata.resource_version)
    assert emu.k8s.secret_data("jes", "tokens") == {
        "refresh_token": "r2",
        "username": "jes",
        "access_token": "a2",
    }

    # optimistic concurrency on a stale resourceVersion
    with pytest.raises(ApiException) as conflict:
        api.patch_namespaced_secret(
            "tokens",
            "jes",
            {"metadata": {"resourceVersion": str(rv1)}, "data": {"refresh_token": b64("r3")}},
        )
    assert conflict.value.status == 409 and _status(conflict.value)["reason"] == "Conflict"
    with pytest.raises(ApiException) as missing:
        api.read_namespaced_secret("other", "jes")
    assert missing.value.status == 404
    created = api.create_namespaced_secret(
        "jes", {"metadata": {"name": "other"}, "stringData": {"k": "v"}}
    )
    assert created.metadata.name == "other" and base64.b64decode(created.data["k"]) == b"v"
    with pytest.raises(ApiException) as exists:
        api.create_namespaced_secret("jes", {"metadata": {"name": "other"}, "data": {}})
    assert _status(exists.value)["reason"] == "AlreadyExists"
    bad = requests.patch(
        f"{emu.url}/api/v1/namespaces/jes/secrets/tokens",
        data="{}",
        headers={"Content-Type": "text/plain"},
        timeout=5,
    )
    assert bad.status_code == 415 and bad.json()["kind"] == "Status"


def test_bearer_token_and_forbidden_switch(make_emulator: Callable[..., Any]) -> None:
    emu = make_emulator(kubernetes={"token": "kube-secret-token"})
    with pytest.raises(ApiException) as unauth:
        kube_api(emu.url).list_node()
    assert unauth.value.status == 401 and _status(unauth.value)["reason"] == "Unauthorized"
    api = kube_api(emu.url, token="kube-secret-token")
    assert len(api.list_node().items) == 1
    requests.post(f"{emu.url}/emulator/k8s", json={"forbidden": True}, timeout=5).raise_for_status()
    with pytest.raises(ApiException) as denied:
        api.list_node()
    st = _status(denied.value)
    assert (
        denied.value.status == 403
        and st["reason"] == "Forbidden"
        and "cannot list resource" in st["message"]
    )
    with pytest.raises(ApiException):
        api.read_namespaced_secret("x", "jes")
    assert emu.k8s.state()["forbidden"] is True


def test_refresh_token_rotation_flag(make_emulator: Callable[..., Any]) -> None:
    plain = make_emulator()
    rt = password_login(plain)["refresh_token"]
    again = token_grant(plain.url, {"grant_type": "refresh_token", "refresh_token": rt}).json()
    assert again["refresh_token"] == rt  # UAA default: not rotated

    emu = make_emulator(auth={"rotate_refresh_tokens": True})
    rt1 = password_login(emu)["refresh_token"]
    rt2 = token_grant(emu.url, {"grant_type": "refresh_token", "refresh_token": rt1}).json()[
        "refresh_token"
    ]
    assert rt2 != rt1
    assert not refresh_ok(emu.url, rt1)  # the old one is revoked
    assert refresh_ok(emu.url, rt2)
    assert emu.tokens.rotated == 2
