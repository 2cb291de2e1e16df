"""sim/model.py: a queue's host limit and the autoscaler that may see past it."""

from __future__ import annotations

from jes_runner.sim.model import Cluster
from jes_runner.sim.scenario import default_scenario


def _default_queue_backlog(past_limit: bool) -> Cluster:
    """216 jobs in the default context; its queue may use 2 hosts of 3 (compute + 2 computetmp)."""
    sc = default_scenario()
    queues = dict(sc.queues)
    queues["default"] = queues["default"].model_copy(update={"scale_past_host_limit": past_limit})
    c = Cluster(sc.model_copy(update={"queues": queues}))
    jobs = [c.submit(0, "ae_pooled", "SAS Job Execution compute context") for _ in range(216)]
    while any(j.end_t is None for j in jobs):
        c.advance(c.next_event_time())
    return c


def test_no_phantom_nodes_behind_a_queue_host_limit() -> None:
    """Without scale_past_host_limit no node comes up that the queue could not use."""
    c = _default_queue_backlog(past_limit=False)
    assert len(c.nodes) == 2 and all(n.jobs_run > 0 for n in c.nodes)


def test_a_backlog_past_the_host_limit_asks_once() -> None:
    """With it (the default scenario), the backlog brings the pool's second node up once:
    unused by the queue, removed at scale-down, not asked for again for the same backlog."""
    c = _default_queue_backlog(past_limit=True)
    unused = [n for n in c.nodes if n.jobs_run == 0]
    assert len(c.nodes) == 3 and len(unused) == 1
    assert unused[0].removed_t is not None
