"""sim/model.py: a queue's host limit and the autoscaler that may see past it."""

from __future__ import annotations

import math

import pytest

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
    node = unused[0]
    assert node.ready_t is not None and node.idle_since is not None
    # needed while the backlog that asked for it waited: its idle time began when the backlog
    # cleared, long after an idle clock started at Ready would have removed it
    assert node.idle_since > node.ready_t + node.spec.scale_down_idle
    assert node.removed_t is None
    while not math.isinf(t := c.next_event_time()):
        c.advance(t)
    assert node.removed_t == pytest.approx(node.idle_since + node.spec.scale_down_idle)


def test_a_node_asked_for_by_a_backlog_is_kept_while_the_backlog_waits() -> None:
    """The node requested past the host limit is not removed while jobs of its queue wait,
    whatever the scale-down delay; once they are placed it goes after that delay."""
    sc = default_scenario()
    pools = dict(sc.pools)
    pools["computetmp"] = pools["computetmp"].model_copy(update={"scale_down_idle": 60})
    c = Cluster(sc.model_copy(update={"pools": pools}))
    jobs = [c.submit(0, "ae_pooled", "SAS Job Execution compute context") for _ in range(216)]
    while any(j.end_t is None for j in jobs):
        c.advance(c.next_event_time())
        waiting = bool(c.pending["default"])
        for n in c.nodes:
            if n.jobs_run == 0 and n.ready_t is not None and waiting:
                assert n.removed_t is None, "removed while the backlog that asked for it waited"
    (node,) = [n for n in c.nodes if n.jobs_run == 0]
    assert node.removed_t is not None
