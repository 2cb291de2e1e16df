"""Node-pool timeline: list + watch against the emulator's autoscaler, per-phase figures, fallback."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.kube_support import Viya, latest_results, run_cli, wait_for, write_job_config

from jes_runner._util import parse_ts
from jes_runner.kube import NodeWatcher, connect
from jes_runner.kube.nodes import NodeEvent, NodeState, ObservedNodes
from jes_runner.kube.scaling import scaling_for_phase

TMP = "aks-computetmp-28320745-vmss"
SHORT = [f"short_{i}" for i in range(1, 8)]


def _epoch(iso: str) -> float:
    ts = parse_ts(iso)
    assert ts is not None
    return ts.timestamp()


def test_watcher_sees_nodes_added_and_removed_and_relists_after_410(
    make_emulator: Callable[..., Any],
) -> None:
    emu = make_emulator(speed_factor=0.002, pools={"computetmp": {"scale_down_idle": 100}})
    access = connect(emu.url)
    watcher = NodeWatcher(access, "workload.sas.com/class=compute", watch_timeout_s=1).start()
    viya = Viya(emu)
    for i in range(6):
        viya.submit("cm_pooled", f"t_{i}")
    wait_for(
        lambda: any(
            e["event"] == "ready" and e["node"].endswith("2q")
            for e in emu.ground_truth()["node_events"]
        ),
        what="first node ready",
    )
    emu.k8s.expire_watches()  # etcd compaction: the open watch gets ERROR 410 and must re-list
    wait_for(
        lambda: sum(e["event"] == "remove" for e in emu.ground_truth()["node_events"]) == 2,
        timeout=30,
        what="scale-down of both nodes",
    )
    time.sleep(0.2)
    obs = watcher.stop()
    access.close()

    assert obs.source == "kubernetes" and list(obs.initial) == ["aks-compute-36279683-vmss000001"]
    assert obs.relists >= 1
    truth = [e for e in emu.ground_truth()["node_events"] if e["node"].startswith(TMP)]
    kinds = {"add": "added", "ready": "ready", "remove": "removed"}
    assert sorted((kinds[e["event"]], e["node"]) for e in truth) == sorted(
        (e.event, e.node) for e in obs.events
    )
    for ev in obs.events:
        t = next(e for e in truth if e["node"] == ev.node and kinds[e["event"]] == ev.event)
        # added/ready: the server's timestamps (ms); removed: when the watch saw it
        tol = 0.25 if ev.event == "removed" else 0.002
        assert abs(ev.time.timestamp() - t["epoch"]) <= tol, (ev, t["time"])
        assert ev.pool == "computetmp"


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_run_records_timeline_with_a_node_removed_mid_phase(
    make_emulator: Callable[..., Any],
    kube_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    jobs = {"long_job": {"elapsed_s": 400}, **{n: {"elapsed_s": 30} for n in SHORT}}
    emu = make_emulator(
        speed_factor=0.004, jobs=jobs, pools={"computetmp": {"scale_down_idle": 10}}
    )
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", emu.password)
    monkeypatch.setenv("JES_KUBE_API_URL", emu.url)
    cfg = write_job_config(tmp_path / "jobs.json", ["long_job", *SHORT])
    assert (
        run_cli(
            [
                "run",
                "--viya-url",
                emu.url,
                "--config",
                str(cfg),
                "--async-only",
                "--mode",
                "all",
                "--no-report",
            ]
        )
        == 0
    )
    (phase,) = latest_results(kube_env)["phases"]
    sc, tl = phase["scaling"], phase["node_timeline"]
    assert sc["source"] == "kubernetes" and sc["note"] is None and sc["pools"] == ["computetmp"]
    got = [(e["event"], e["node"][-2:]) for e in tl]
    # 8 jobs on 4-slot nodes: both nodes requested in one step (as AKS does), Ready in that order
    assert got[:5] == [
        ("added", "2q"),
        ("added", "2r"),
        ("ready", "2q"),
        ("ready", "2r"),
        ("removed", "2r"),
    ]
    assert got[5:] in ([], [("removed", "2q")])  # 2q may go before the watch stops

    truth = {(e["event"], e["node"][-2:]): e["epoch"] for e in emu.ground_truth()["node_events"]}
    start, end = _epoch(phase["started_at"]), _epoch(phase["ended_at"])
    assert truth[("remove", "2r")] < end  # removed while the phase still ran
    assert sc["peak_nodes"] == phase["stats"]["peak_nodes"] == 2
    assert sc["time_to_first_node_request_seconds"] == pytest.approx(
        truth[("add", "2q")] - start, abs=0.01
    )
    removed_seen = _epoch(next(e["time"] for e in tl if e["event"] == "removed"))
    expect = (end - truth[("add", "2q")]) + (removed_seen - truth[("add", "2r")])
    assert sc["node_seconds"] == pytest.approx(expect, abs=0.01)
    assert abs(removed_seen - truth[("remove", "2r")]) < 0.25
    by_host: dict[str, int] = {}
    for j in phase["jobs"]:
        host = j["metrics"]["orchestrator_data"]["execution_host"]
        by_host[host] = by_host.get(host, 0) + 1
    # 2r ran four short jobs and was scaled down mid-phase, while 2q still ran the long one
    assert sc["jobs_per_node"] == {TMP + "00002q": 4, TMP + "00002r": 4} == by_host
    assert sc["nodes_added"] == 2 and sc["nodes_at_start"] == []


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
@pytest.mark.parametrize("case", ["forbidden", "no-cluster"])
def test_no_permission_falls_back_to_orchestrator_hosts(
    case: str, make_emulator: Callable[..., Any], kube_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = make_emulator(speed_factor=0.002, kubernetes={"forbidden": case == "forbidden"})
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", emu.password)
    monkeypatch.setenv("JES_NODE_POLL_INTERVAL_S", "0.05")
    if case == "forbidden":
        monkeypatch.setenv("JES_KUBE_API_URL", emu.url)
    assert (
        run_cli(["run", "--viya-url", emu.url, "--limit-jobs", "6", "--mode", "all", "--no-report"])
        == 0
    )
    res = latest_results(kube_env)
    why = "HTTP 403" if case == "forbidden" else "not in a cluster"
    for phase in res["phases"]:
        sc = phase["scaling"]
        assert sc["source"] == "orchestrator"
        assert why in sc["note"] and "Workload Orchestrator's hosts" in sc["note"]
        assert phase["stats"]["peak_nodes"] == sc["peak_nodes"] >= 1
    seq, asy = res["phases"]
    assert seq["scaling"]["pools"] == ["compute"] and seq["scaling"]["peak_nodes"] == 1
    # the autoscaling phase: the hosts poll saw the scale-up, with the orchestrator's own times
    # (6 jobs on 4-slot nodes: both nodes requested in one step, Ready in that order)
    got = [(e["event"], e["node"][-2:]) for e in asy["node_timeline"]]
    assert got[:4] == [("added", "2q"), ("added", "2r"), ("ready", "2q"), ("ready", "2r")]
    assert asy["scaling"]["time_to_first_node_request_seconds"] is not None
    gt = emu.ground_truth()
    window = (_epoch(asy["started_at"]), _epoch(asy["ended_at"]))
    assert asy["scaling"]["peak_nodes"] == max(1, _ready_peak(gt, "computetmp", *window))
    truth = {(e["event"], e["node"]): e["epoch"] for e in gt["node_events"]}
    first = asy["node_timeline"][0]
    assert abs(_epoch(first["time"]) - truth[("add", first["node"])]) < 0.002


def _ready_peak(gt: dict[str, Any], pool: str, start: float, end: float) -> int:
    """Most nodes of a pool Ready at once within [start, end], from the emulator's ground truth."""
    marks = []
    for n in gt["nodes"]:
        if n["pool"] != pool or n["ready_epoch"] is None:
            continue
        r0, r1 = max(n["ready_epoch"], start), min(n["removed_epoch"] or end, end)
        if r1 > r0:
            marks += [(r0, 1), (r1, -1)]
    cur = peak = 0
    for _, d in sorted(marks):
        cur += d
        peak = max(peak, cur)
    return peak


def _t(s: float) -> datetime:
    return datetime(2025, 9, 15, 20, 0, tzinfo=UTC) + timedelta(seconds=s)


def _job(host: str, start: float, end: float) -> dict[str, Any]:
    iso = lambda s: _t(s).isoformat().replace("+00:00", "Z")  # noqa: E731
    return {
        "submitted_at": iso(start),
        "ended_at": iso(end),
        "status": "completed",
        "metrics": {
            "orchestrator_data": {
                "execution_host": host,
                "start_time": iso(start),
                "end_time": iso(end),
            }
        },
    }


def test_scaling_figures_from_synthetic_events() -> None:
    fixed, a, b = (
        "aks-compute-1-vmss000001",
        "aks-computetmp-2-vmss00002q",
        "aks-computetmp-2-vmss00002r",
    )
    obs = ObservedNodes(
        "kubernetes",
        _t(-5),
        _t(200),
        initial={fixed: NodeState(fixed, "compute", _t(-1000), True, _t(-999))},
        events=[
            NodeEvent(_t(10), "added", a, "computetmp"),
            NodeEvent(_t(100), "ready", a, "computetmp"),
            NodeEvent(_t(20), "added", b, "computetmp"),
            NodeEvent(_t(110), "ready", b, "computetmp"),
            NodeEvent(_t(150), "removed", b, "computetmp"),
        ],
    )
    pd = {
        "started_at": _t(0).isoformat(),
        "ended_at": _t(180).isoformat(),
        "stats": {"peak_nodes": 1},
        "jobs": [_job(a, 100, 180), _job(a, 100, 120), _job(b, 110, 140)],
    }
    timeline, sc = scaling_for_phase(pd, obs)
    assert [e["event"] for e in timeline] == ["added", "added", "ready", "ready", "removed"]
    assert sc["pools"] == ["computetmp"] and sc["source"] == "kubernetes"
    assert sc["peak_nodes"] == 2  # a and b Ready from 110 to 150; the fixed pool does not count
    assert sc["time_to_first_node_request_seconds"] == 10.0
    assert sc["node_seconds"] == pytest.approx((180 - 10) + (150 - 20))
    assert sc["jobs_per_node"] == {a: 2, b: 1}
    assert sc["nodes_removed"] == 1 and sc["note"] is None

    # no node data at all: the jobs' hosts give a lower bound, and the note says so
    _, none = scaling_for_phase(pd, None, extra_note="no Kubernetes node data (HTTP 403)")
    assert none["source"] == "orchestrator" and none["peak_nodes"] == 1
    assert none["node_seconds"] == pytest.approx(80 + 30)
    assert none["time_to_first_node_request_seconds"] is None and "HTTP 403" in none["note"]
