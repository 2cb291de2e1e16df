"""Fidelity suite: the default scenario against the measured 54-job session, and model properties.

Replays run on the virtual clock, ten seeds each; a figure is the median over
the seeds (one seed can be lucky or unlucky: the spread is printed by
``benchmarks/fidelity.py``). Bounds are the issue's: per concurrent phase, KS
of queue wait, start-up and run time <= 0.2; per-job run-time correlation
>= 0.7; makespans within 10 %.
"""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jes_runner.sim.calibration import replay
from jes_runner.sim.fidelity import METRICS, PhaseFidelity, ks_2samp, session_fidelity
from jes_runner.sim.model import Cluster
from jes_runner.sim.scenario import Scenario, default_scenario, parse_scenario

SEEDS = range(10)
CONCURRENT = ("concurrent_fixed_pool", "concurrent_autoscaling")


@pytest.fixture(scope="module")
def fidelity() -> dict[str, list[PhaseFidelity]]:
    base = default_scenario()
    out: dict[str, list[PhaseFidelity]] = {}
    for seed in SEEDS:
        for name, f in session_fidelity(replay(base.model_copy(update={"seed": seed}))).items():
            out.setdefault(name, []).append(f)
    return out


@pytest.mark.parametrize("phase", CONCURRENT)
@pytest.mark.parametrize("metric", METRICS)
def test_ks_per_phase(fidelity: dict[str, list[PhaseFidelity]], phase: str, metric: str) -> None:
    ks = statistics.median(f.ks[metric] for f in fidelity[phase])
    print(f"{phase} {metric}: median KS {ks:.3f}")
    assert ks <= 0.2


@pytest.mark.parametrize("phase", CONCURRENT)
def test_per_job_run_time_correlation(fidelity: dict[str, list[PhaseFidelity]], phase: str) -> None:
    assert statistics.median(f.run_corr for f in fidelity[phase]) >= 0.7


@pytest.mark.parametrize("phase", ["sequential", *CONCURRENT])
def test_makespan_within_10_percent(fidelity: dict[str, list[PhaseFidelity]], phase: str) -> None:
    assert abs(statistics.median(f.makespan_error for f in fidelity[phase])) <= 0.10


def test_replays_are_deterministic_per_seed_and_spread_across_seeds(
    fidelity: dict[str, list[PhaseFidelity]],
) -> None:
    sc = default_scenario().model_copy(update={"seed": 3})
    a, b = replay(sc), replay(sc)
    assert a == b
    spans = {round(f.emulated_makespan_s, 3) for f in fidelity["concurrent_fixed_pool"]}
    assert len(spans) > 1  # seeded noise: repeated runs give a spread


def test_ks_statistic() -> None:
    assert ks_2samp([1, 2, 3], [1, 2, 3]) == 0
    assert ks_2samp([1, 2], [3, 4]) == 1
    assert ks_2samp([1, 2, 3, 4], [3, 4, 5, 6]) == pytest.approx(0.5)


# ----- properties of the model (hypothesis) ---------------------------------------------


def pool_scenario(max_nodes: int, slots: int, seed: int, jitter: float = 0.15) -> Scenario:
    return parse_scenario(
        {
            "profile": None,
            "seed": seed,
            "start_overhead_s": 6,
            "start_load_exponent": 0.5,
            "start_sigma": 0.6,
            "run_noise_sigma": 0.1,
            "jobs": {
                f"j{i}": {"elapsed_s": 10 + 37 * i, "cpu_time_s": 5 + 25 * i} for i in range(6)
            },
            "pools": {
                "tmp": {
                    "min_nodes": 0,
                    "max_nodes": max_nodes,
                    "slots_per_node": slots,
                    "cpu_capacity": 1.5,
                    "scale_up_delay": 275,
                    "image_pull": 78,
                    "delay_jitter": jitter,
                }
            },
            "queues": {"q": {"pools": ["tmp"]}},
            "contexts": [{"name": "ctx", "queue": "q"}],
        },
        "<test>",
    )


def makespan(sc: Scenario, workload: list[tuple[float, int]]) -> tuple[float, Cluster]:
    c = Cluster(sc)
    jobs = [c.submit(t, f"j{k}", "ctx") for t, k in sorted(workload, key=lambda w: w[0])]
    while any(j.end_t is None for j in jobs):
        t = c.next_event_time()
        assert not math.isinf(t), "model stalled"
        c.advance(t)
    return max(j.end_t or 0 for j in jobs) - min(j.submit_t for j in jobs), c


workloads = st.lists(
    st.tuples(st.floats(0, 600, allow_nan=False).map(lambda x: round(x, 1)), st.integers(0, 5)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200, deadline=None, database=None)
@given(
    workload=workloads,
    nodes=st.integers(1, 7),
    seed=st.integers(0, 9),
    jitter=st.sampled_from([0.0, 0.15]),
)
def test_more_nodes_never_slower(workload: list, nodes: int, seed: int, jitter: float) -> None:
    # with and without per-node delay jitter: node k draws the same delays whatever the cap.
    # One-slot nodes: on shared nodes first-free-slot packing can make one more node slower by
    # CPU contention (a list-scheduling anomaly, ~0.7 % of random configurations); whatif
    # bounds what it prints over the caps for that (test_whatif's property). Seen before the
    # cold-node fix: 8 jobs, 4 nodes 380.05 s, 5 nodes 380.53 s (seed 0, no jitter).
    fewer, _ = makespan(pool_scenario(nodes, 1, seed, jitter=jitter), workload)
    more, _ = makespan(pool_scenario(nodes + 1, 1, seed, jitter=jitter), workload)
    assert more <= fewer + 1e-6


@settings(max_examples=60, deadline=None)
@given(
    workload=workloads,
    extra=st.tuples(st.floats(0, 600).map(lambda x: round(x, 1)), st.integers(0, 5)),
    nodes=st.integers(1, 8),
    slots=st.integers(1, 6),
    seed=st.integers(0, 9),
)
def test_more_jobs_never_faster(
    workload: list, extra: tuple, nodes: int, slots: int, seed: int
) -> None:
    # the extra job is submitted last (ties: after the others), so the others keep their draws.
    # Nodes are alike here (no per-node delay jitter): with jitter, a bigger backlog requests one
    # more node, whose own draw may pull its image sooner than the node a job would have waited
    # for -- more work finishing sooner by luck of the draw, as on a real cluster (seen: 2 jobs
    # 423.9 s, 3 jobs 410.9 s on 3 one-slot nodes, seed 1). The property is about the model.
    extra = (max([extra[0], *(t for t, _ in workload)]), extra[1])
    base, _ = makespan(pool_scenario(nodes, slots, seed, jitter=0.0), workload)
    more, _ = makespan(pool_scenario(nodes, slots, seed, jitter=0.0), [*workload, extra])
    assert more >= base - 1e-6


@settings(max_examples=60, deadline=None)
@given(
    workload=workloads,
    nodes=st.integers(1, 8),
    limit=st.integers(1, 8),
    slots=st.integers(1, 6),
    seed=st.integers(0, 9),
)
def test_no_node_the_queue_cannot_use(
    workload: list, nodes: int, limit: int, slots: int, seed: int
) -> None:
    """A queue limited to ``limit`` hosts never makes the pool hold more nodes than that.

    (A node can still end up idle when a job found a slot elsewhere before it
    was Ready; the cluster autoscaler does that too. It must never be one the
    queue could not have used.)
    """
    sc = pool_scenario(nodes, slots, seed)
    sc = sc.model_copy(
        update={"queues": {"q": sc.queues["q"].model_copy(update={"max_nodes": limit})}}
    )
    _, c = makespan(sc, workload)
    events = sorted(
        (e["t"], e["event"] == "remove", e["event"]) for e in c.node_events if e["event"] != "ready"
    )
    alive = peak = 0
    for _, _, kind in events:
        alive += 1 if kind == "add" else -1
        peak = max(peak, alive)
    assert peak <= min(nodes, limit)


# What a client sees: jes-runner itself runs the session over the emulator's HTTP API (no
# measured-outcome injection). Five seeds keep CI at ~5 minutes and the median steady (one
# seed's KS moves by a job or two with the runner's own pace: 0.09-0.24 seen); the ten-seed
# table is benchmarks/fidelity_http.py's (docs/CALIBRATION.md).
HTTP_SEEDS = range(5)


@pytest.fixture(scope="module")
def http_fidelity(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[PhaseFidelity]]:
    from support.http_fidelity import session

    work = tmp_path_factory.mktemp("http-fidelity")
    out: dict[str, list[PhaseFidelity]] = {}
    for seed in HTTP_SEEDS:
        for phase, f in session(work, seed).items():
            out.setdefault(phase, []).append(f)
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("phase", "metric"),
    [(p, m) for p in CONCURRENT for m in METRICS],
)
def test_http_ks_per_phase(
    http_fidelity: dict[str, list[PhaseFidelity]], phase: str, metric: str
) -> None:
    ks = statistics.median(f.ks[metric] for f in http_fidelity[phase])
    print(f"{phase} {metric}: KS {ks:.3f} over HTTP")
    assert ks <= 0.2


@pytest.mark.slow
@pytest.mark.parametrize("phase", CONCURRENT)
def test_http_makespan_within_10_percent(
    http_fidelity: dict[str, list[PhaseFidelity]], phase: str
) -> None:
    err = statistics.median(
        f.emulated_makespan_s / f.real_makespan_s - 1 for f in http_fidelity[phase]
    )
    print(f"{phase}: makespan {err * 100:+.1f} % over HTTP")
    assert abs(err) <= 0.10
