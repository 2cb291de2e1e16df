"""Autoscaling seen through /workloadOrchestrator/hosts and the ground truth, on the wall clock."""

from __future__ import annotations

import time
from collections.abc import Callable

from emu_support import ViyaClient, scenario_with

from jes_runner.emulator import Emulator


def test_autoscaling_context_scales_up_then_down(make_emu: Callable[..., Emulator]) -> None:
    speed = 0.002
    sc = scenario_with(
        speed_factor=speed, pools={"computetmp": {"scale_down_idle": 150, "delay_jitter": 0}}
    )
    emu = make_emu(sc)
    client = ViyaClient(emu)

    def hosts() -> dict[str, str]:
        items = client.get("/workloadOrchestrator/hosts").json()["items"]
        return {h["name"]: h["state"] for h in items if h["pool"] == "computetmp"}

    assert hosts() == {}  # min_nodes 0: nothing before the first job
    jobs = [
        client.submit("ae_pooled", f"ae_{i}", context="Autoscaling POC Context") for i in range(10)
    ]
    # one step, as AKS: 10 jobs need both nodes the pool may have (max_nodes 2)
    assert hosts() == {
        "aks-computetmp-28320745-vmss00002q": "PROVISIONING",
        "aks-computetmp-28320745-vmss00002r": "PROVISIONING",
    }
    assert client.get(f"/jobExecution/jobs/{jobs[0]['id']}/state").text == "pending"
    for j in jobs:
        assert client.wait_state(j["id"], {"completed"}, timeout=30) == "completed"
    # max_nodes 2
    assert set(hosts()) == {
        "aks-computetmp-28320745-vmss00002q",
        "aks-computetmp-28320745-vmss00002r",
    }

    gt = emu.ground_truth()
    ev = [
        (e["event"], e["node"][-2:], e["model_t"])
        for e in gt["node_events"]
        if e["node"].startswith("aks-computetmp")
    ]
    add_q, ready_q = (
        next(t for k, n, t in ev if k == kind and n == "2q") for kind in ("add", "ready")
    )
    assert abs(ready_q - add_q - 275) < 1e-6  # Ready after the scale-up delay (model seconds)
    first_start = min(j["start_epoch"] for j in gt["jobs"])
    # nobody ran before the node was Ready
    assert first_start >= gt["origin_epoch"] + ready_q * speed - 0.001
    per_host = {j["host"] for j in gt["jobs"]}
    assert per_host == {"aks-computetmp-28320745-vmss00002q", "aks-computetmp-28320745-vmss00002r"}

    last_end = max(j["end_epoch"] for j in gt["jobs"])
    # idle 150 model s (0.3 real s)
    time.sleep(max(0.0, last_end + 160 * speed - time.time()) + 0.1)
    assert hosts() == {}  # scaled back down to min_nodes 0
    removed = {e["node"][-2:] for e in emu.ground_truth()["node_events"] if e["event"] == "remove"}
    assert removed == {"2q", "2r"}
