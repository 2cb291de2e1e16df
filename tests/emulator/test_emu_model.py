"""The discrete-event model on a virtual clock: contention, scaling, determinism."""

from __future__ import annotations

import math

import pytest

from jes_runner.sim.model import Cluster, SimJob, base36, orchestrator_name
from jes_runner.sim.scenario import Scenario, parse_scenario


def scenario(**pool: object) -> Scenario:
    spec = {
        "min_nodes": 0,
        "max_nodes": 3,
        "slots_per_node": 2,
        "cpu_capacity": 2,
        "scale_up_delay": 100,
        "scale_down_idle": 300,
        "image_pull": 0,
        "vmss_id": "28320745",
        "first_index": 98,
    }
    spec.update(pool)
    return parse_scenario(
        {
            "profile": None,
            "start_overhead_s": 5,
            "completion_lag_s": 1,
            "jobs": {"j100": {"elapsed_s": 106}, "j10": {"elapsed_s": 16}},
            "pools": {"tmp": spec},
            "queues": {"q": {"pools": ["tmp"]}},
            "contexts": [{"name": "ctx", "queue": "q"}],
        },
        "<test>",
    )


def run_all(c: Cluster, jobs: list[SimJob]) -> None:
    while any(j.end_t is None for j in jobs):
        t = c.next_event_time()
        assert not math.isinf(t), "stalled"
        c.advance(t)


def test_alone_a_job_takes_its_profile_time() -> None:
    c = Cluster(scenario(min_nodes=1))
    j = c.submit(0, "j100", "ctx")
    run_all(c, [j])
    assert j.dispatch_t == 0 and j.run_t == pytest.approx(5) and j.end_t == pytest.approx(105)
    # +1 s completion lag: Job Execution elapsed equals the profile's 106 s
    assert j.end_t + c.scenario.completion_lag_s - j.submit_t == pytest.approx(106)


def test_processor_sharing_slows_jobs_down() -> None:
    c = Cluster(scenario(min_nodes=1, max_nodes=1, slots_per_node=4, cpu_capacity=1))
    jobs = [c.submit(0, "j100", "ctx") for _ in range(4)]
    run_all(c, jobs)
    # 4 CPU-bound jobs (1 core each, no cpu_time_s) share 1 core: their 100 s runs take 400 s;
    # the 5 s start-up uses no CPU share
    assert all(j.end_t == pytest.approx(405) for j in jobs)
    c2 = Cluster(scenario(min_nodes=1, max_nodes=1, slots_per_node=4, cpu_capacity=1))
    short, long_ = c2.submit(0, "j10", "ctx"), c2.submit(0, "j100", "ctx")
    run_all(c2, [short, long_])
    # both run at half speed until the short one ends (5 + 2 x 10 = 25), then the long one alone
    assert short.end_t == pytest.approx(25) and long_.end_t == pytest.approx(25 + 100 - 10)


def test_one_step_scale_up_for_the_whole_backlog() -> None:
    c = Cluster(scenario(max_nodes=8))
    jobs = [c.submit(0, "j100", "ctx") for _ in range(5)]
    # AKS asks for as many nodes as the pending pods need, at once: ceil(5 / 2) = 3
    assert [e["t"] for e in c.node_events if e["event"] == "add"] == [0, 0, 0]
    more = [c.submit(1, "j100", "ctx") for _ in range(20)]
    # 25 jobs need 13 nodes: the pool stops at its max of 8
    assert len(c.nodes) == 8
    run_all(c, jobs + more)
    assert all(n.jobs_run > 0 for n in c.nodes)  # no node that never ran a job


def test_scale_up_after_delay_and_never_beyond_max() -> None:
    c = Cluster(scenario(max_provisioning=1))
    jobs = [c.submit(0, "j100", "ctx") for _ in range(10)]
    adds = [e for e in c.node_events if e["event"] == "add"]
    assert len(adds) == 1 and adds[0]["t"] == 0  # one node at a time (max_provisioning 1)
    c.advance(99.9)
    assert all(j.state == "pending" for j in jobs)
    c.advance(100)
    assert sum(j.state == "starting" for j in jobs) == 2
    assert [n.name for n in c.live_nodes() if n.ready] == ["aks-tmp-28320745-vmss00002q"]
    # backlog: the next one is coming
    assert [n.state for n in c.live_nodes()] == [
        "READY",
        "PROVISIONING",
    ]
    run_all(c, jobs)
    ready = [e["t"] for e in c.node_events if e["event"] == "ready"]
    # each next node requested when the previous is ready
    assert ready == pytest.approx([100, 200, 300])
    assert len([e for e in c.node_events if e["event"] == "add"]) == 3  # max_nodes
    assert {n.name[-2:] for n in c.nodes} == {"2q", "2r", "2s"}
    assert all(j.dispatch_t >= 100 for j in jobs)


def test_parallel_provisioning() -> None:
    c = Cluster(scenario(max_provisioning=3))
    jobs = [c.submit(0, "j10", "ctx") for _ in range(5)]
    assert len([e for e in c.node_events if e["event"] == "add"]) == 3  # ceil(5 / 2) at once
    run_all(c, jobs)
    assert [e["t"] for e in c.node_events if e["event"] == "ready"] == [100, 100, 100]


def test_scale_down_after_idle_to_min() -> None:
    c = Cluster(scenario(min_nodes=1, initial_nodes=1, max_nodes=2, slots_per_node=1))
    a, b = c.submit(0, "j100", "ctx"), c.submit(0, "j10", "ctx")
    run_all(c, [a, b])
    assert b.node is not None and b.node.name.endswith("2r") and b.dispatch_t == 100
    assert a.end_t == pytest.approx(105) and b.end_t == pytest.approx(115)
    c.advance(404)
    assert len(c.live_nodes()) == 2
    c.advance(406)  # 2q idle since 105 for 300 s: removed
    assert [n.name[-2:] for n in c.live_nodes()] == ["2r"]
    c.advance(5000)  # 2r idle too, but the pool is at min_nodes
    assert len(c.live_nodes()) == 1
    removes = [e for e in c.node_events if e["event"] == "remove"]
    assert len(removes) == 1 and removes[0]["t"] == pytest.approx(405)


def test_image_pull_delays_the_first_jobs_on_a_fresh_node() -> None:
    c = Cluster(scenario(image_pull=80, slots_per_node=4))
    jobs = [c.submit(0, "j10", "ctx") for _ in range(2)]
    run_all(c, jobs)
    assert all(j.dispatch_t == 100 and j.run_t == pytest.approx(100 + 80 + 5 * 2 / 2) for j in jobs)
    later = c.submit(c.now, "j10", "ctx")  # the image is there now
    run_all(c, [later])
    assert later.run_t - later.dispatch_t == pytest.approx(5)


def test_queue_host_cap_limits_placement_and_scaling() -> None:
    sc = scenario(slots_per_node=1, scale_up_delay=10)
    sc = sc.model_copy(update={"queues": {"q": sc.queues["q"].model_copy(update={"max_nodes": 1})}})
    c = Cluster(sc)
    jobs = [c.submit(0, "j10", "ctx") for _ in range(3)]
    run_all(c, jobs)
    assert {j.node.name for j in jobs if j.node} == {"aks-tmp-28320745-vmss00002q"}
    # no phantom nodes: the backlog asks only for nodes the queue may use
    assert len(c.nodes) == 1


def test_cancel_frees_the_slot_and_failures_stop_early() -> None:
    c = Cluster(scenario(min_nodes=1, max_nodes=1, slots_per_node=1))
    a = c.submit(0, "j100", "ctx")
    b = c.submit(0, "j10", "ctx", code="data _null_; abort abend; run;")
    c.advance(50)
    assert c.cancel(50, a.id) and a.state == "canceled" and a.end_t == 50
    assert b.state == "starting" and b.dispatch_t == 50
    run_all(c, [b])
    assert b.state == "failed" and b.fail_reason and b.end_t == pytest.approx(50 + 5 + 10 * 0.3)
    assert not c.cancel(c.now, b.id)


def test_same_seed_same_history() -> None:
    def history(seed: int) -> list[tuple]:
        sc = scenario().model_copy(update={"seed": seed})
        c = Cluster(sc)
        jobs = [c.submit(i * 3.0, "j10" if i % 2 else "j100", "ctx") for i in range(12)]
        run_all(c, jobs)
        return [
            (j.id, j.orch_name, j.node.name if j.node else None, j.dispatch_t, j.end_t)
            for j in jobs
        ]

    assert history(7) == history(7)
    assert history(7) != history(8)


def test_names() -> None:
    assert base36(98) == "00002q" and base36(1) == "000001"
    import random

    name = orchestrator_name("SUPPcm_Pooled_1", random.Random(0))
    assert name.startswith("suppcmpooled1-") and len(name) == len("suppcmpooled1-") + 36


def test_profile_lookup() -> None:
    c = Cluster(scenario())
    assert c.profile_for("j100").elapsed_s == 106
    assert c.profile_for("j100_run_3").elapsed_s == 106  # longest profile-name prefix
    assert c.profile_for("x", definition_name="j10").elapsed_s == 16
    assert c.profile_for("unknown") is c.scenario.default_job
