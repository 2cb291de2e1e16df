"""Node-ready latency per autoscaling phase, from both node sources, judged against the emulator's
ground truth (node requested/ready times, job dispatch times)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.kube_support import latest_results, run_cli

from jes_runner._util import parse_ts
from jes_runner.kube.scaling import scaling_for_phase

SPEED = 0.01  # a node's ~4 model minutes of provisioning take ~2.5 s: well above timestamp rounding


def _epoch(iso: str) -> float:
    ts = parse_ts(iso)
    assert ts is not None
    return ts.timestamp()


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
@pytest.mark.parametrize("source", ["kubernetes", "orchestrator"])
def test_node_ready_latency_matches_ground_truth(
    source: str,
    make_emulator: Callable[..., Any],
    kube_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = make_emulator(speed_factor=SPEED)
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", emu.password)
    monkeypatch.setenv("JES_NODE_POLL_INTERVAL_S", "0.05")
    if source == "kubernetes":
        monkeypatch.setenv("JES_KUBE_API_URL", emu.url)
    argv = ["run", "--viya-url", emu.url, "--limit-jobs", "6", "--async-only", "--mode", "all"]
    assert run_cli([*argv, "--no-report"]) == 0
    (phase,) = latest_results(kube_env)["phases"]
    sc = phase["scaling"]
    assert sc["source"] == source

    gt = emu.ground_truth()
    names = {j["unique_job_name"] for j in phase["jobs"]}
    jobs = [j for j in gt["jobs"] if j["name"] in names]
    start = min(j["submit_epoch"] for j in jobs)  # the phase's first job creation
    new = [
        n for n in gt["nodes"] if n["requested_epoch"] is not None and n["requested_epoch"] >= start
    ]
    assert new, "the phase added no node: the test needs a cold autoscaling pool"
    first_ready = min(n["ready_epoch"] for n in new if n["ready_epoch"] is not None)
    new_names = {n["name"] for n in new}
    first_job = min(j["start_epoch"] for j in jobs if j["host"] in new_names)

    assert sc["time_to_first_node_request_seconds"] == pytest.approx(
        min(n["requested_epoch"] for n in new) - start, abs=0.01
    )
    assert sc["time_to_first_node_ready_seconds"] == pytest.approx(first_ready - start, abs=0.01)
    # orchestrator start times are whole seconds: within one
    assert sc["time_to_first_job_on_new_node_seconds"] == pytest.approx(first_job - start, abs=1.0)
    # it says more than the request time: the node was Ready minutes (model) after it was asked for
    assert sc["time_to_first_node_ready_seconds"] > sc["time_to_first_node_request_seconds"] + 1.0


def test_nodes_up_before_the_phase_are_not_its_demand() -> None:
    """A node requested before the phase's first job (a warm pool) gives no latency at all."""
    from datetime import UTC, datetime, timedelta

    from jes_runner.kube.nodes import NodeEvent, NodeState, ObservedNodes

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    at = lambda s: t0 + timedelta(seconds=s)  # noqa: E731
    node = "aks-computetmp-1-vmss000001"
    obs = ObservedNodes(
        "kubernetes",
        at(0),
        at(200),
        initial={node: NodeState(node, "computetmp", at(-300), True, at(-250))},
        events=[NodeEvent(at(50), "added", "aks-computetmp-1-vmss000002", "computetmp")],
    )
    job = {
        "submitted_at": at(100).isoformat(),
        "ended_at": at(150).isoformat(),
        "metrics": {"orchestrator_data": {"execution_host": node}},
    }
    pd = {"started_at": at(100).isoformat(), "ended_at": at(150).isoformat(), "jobs": [job]}
    _, sc = scaling_for_phase(pd, obs)
    assert sc["time_to_first_node_request_seconds"] is None  # added at 50 < the phase start at 100
    assert sc["time_to_first_node_ready_seconds"] is None
    assert sc["time_to_first_job_on_new_node_seconds"] is None
