"""Deterministic discrete-event model of the Viya compute cluster.

Everything here is in *model seconds* on a clock the caller drives: the HTTP
server advances it lazily to "now" (wall clock / speed_factor) on each request
and from a ticker; the calibration replays measured submit times on a virtual
clock. Nothing here reads the wall clock or takes a lock (the caller holds one).

The model, fitted to the measured 54-job runs (CALIBRATION.md):

* Each compute context submits to one orchestrator queue; a queue may place
  jobs on the nodes of its pools, in preference order (first free slot wins:
  nodes are packed, which leaves idle nodes idle long enough to scale down),
  on at most ``max_nodes`` hosts at once when the queue sets it.
* A node has ``slots_per_node`` slots; a job holds one from dispatch to end.
  Pending = no free slot in any of the queue's pools.
* A dispatched job is STARTING while it does ``start_overhead_s`` of work (the
  compute server launch), then RUNNING for its profile's run work. The first
  job on a fresh node triggers the compute image pull: jobs placed there
  wait ``image_pull`` (no CPU used) -- the ~80-100 s "starting" seen twice.
* CPU contention is processor sharing: every job doing work on a node
  progresses at rate ``min(1, cpu_capacity / n_working)``. This is what makes
  14 jobs on one node each run ~6x slower than alone, as measured.
* Autoscaling: while jobs wait and a pool of their queue is below
  ``max_nodes``, up to ``max_provisioning`` nodes are requested at once; each is
  Ready ``scale_up_delay`` later. A node idle for ``scale_down_idle`` is removed
  while the pool is above ``min_nodes``.
* A job fails when its definition's code aborts, or by the seeded
  ``job_failure_rate`` draw; it then stops after ``failed_run_fraction`` of its
  run work with a non-zero exit code.

The implementation keeps per node a cumulative "service" counter (work each
working job has received), so a step costs O(nodes) not O(jobs), and a
completion is a heap pop: 1,000+ jobs stay cheap.
"""

from __future__ import annotations

import heapq
import math
import random
import re
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from jes_runner.emulator.scenario import ContextSpec, JobProfile, PoolSpec, Scenario

TERMINAL = frozenset({"completed", "failed", "canceled"})
_ABORT = re.compile(r"\babort\b", re.IGNORECASE)
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(n: int, width: int = 6) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if n == 0:
            break
    return out.rjust(width, "0")


def orchestrator_name(job_name: str, rng: random.Random) -> str:
    """Observed rule: lower-case, underscores removed, '-' + a UUID unrelated to the job id."""
    return f"{job_name.lower().replace('_', '')}-{uuid.UUID(int=rng.getrandbits(128), version=4)}"


@dataclass(eq=False)
class SimJob:
    seq: int
    id: str
    name: str
    context: str
    queue: str
    definition_id: str | None
    profile: JobProfile
    start_work: float
    run_work: float
    submit_t: float
    orch_id: int
    orch_name: str
    fail_reason: str | None = None
    state: str = "pending"  # pending | starting | running | completed | failed | canceled
    node: Node | None = None
    dispatch_t: float | None = None
    run_t: float | None = None
    end_t: float | None = None
    ip: str | None = None
    cold: bool = False  # dispatched to a node still pulling its image
    ps_token: int = 0  # invalidates stale heap entries (cancel, phase change)
    working: bool = False
    payload: dict[str, Any] = field(default_factory=dict)  # the HTTP layer's request data

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


@dataclass(eq=False)
class Node:
    number: int  # global creation order, used for IPs
    name: str
    pool: str
    spec: PoolSpec
    requested_t: float
    ready_t: float | None = None
    warm_t: float = math.inf
    removed_t: float | None = None
    jobs: list[SimJob] = field(default_factory=list)
    idle_since: float | None = None
    service: float = 0.0
    heap: list[tuple[float, int, int, SimJob]] = field(default_factory=list)
    n_working: int = 0
    ip_counter: int = 1
    jobs_run: int = 0
    queue_jobs: dict[str, int] = field(default_factory=dict)  # queue -> jobs held here

    @property
    def ready(self) -> bool:
        return self.ready_t is not None and self.removed_t is None

    @property
    def state(self) -> str:
        if self.removed_t is not None:
            return "REMOVED"
        return "READY" if self.ready_t is not None else "PROVISIONING"

    def free_slots(self) -> int:
        return self.spec.slots_per_node - len(self.jobs) if self.ready else 0

    def rate(self) -> float:
        return min(1.0, self.spec.cpu_capacity / self.n_working) if self.n_working else 0.0

    def _top(self) -> tuple[float, int, int, SimJob] | None:
        while self.heap:
            entry = self.heap[0]
            if entry[3].working and entry[2] == entry[3].ps_token:
                return entry
            heapq.heappop(self.heap)
        return None

    def next_completion(self, now: float) -> float:
        top = self._top() if self.n_working else None
        if top is None:
            return math.inf
        return now + max(0.0, top[0] - self.service) / self.rate()


class Cluster:
    """The cluster state machine; drive it with :meth:`advance`, :meth:`submit`, :meth:`cancel`."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.now = 0.0
        self.rng = random.Random(scenario.seed)
        self.profiles = scenario.profiles()
        self.contexts: dict[str, ContextSpec] = {c.name: c for c in scenario.contexts}
        self.jobs: dict[str, SimJob] = {}
        self.by_orch_id: dict[int, SimJob] = {}
        self.job_list: list[SimJob] = []
        self.nodes: list[Node] = []
        self.node_events: list[dict[str, Any]] = []
        self.pending: dict[str, deque[SimJob]] = {q: deque() for q in scenario.queues}
        self._events: list[tuple[float, int, str, Node, float]] = []
        self._seq = 0
        self._next_index = {p: spec.first_index for p, spec in scenario.pools.items()}
        self._next_orch_id = 1
        self.job_failure_rate = scenario.faults.job_failure_rate
        for pname, spec in scenario.pools.items():
            n = spec.min_nodes if spec.initial_nodes is None else spec.initial_nodes
            for _ in range(n):
                node = self._new_node(pname)
                self._node_ready(node, image_ready=True)

    # ----- public API -------------------------------------------------------

    def advance(self, t: float) -> None:
        """Run the model up to model time ``t`` (no-op when ``t`` is in the past)."""
        while True:
            te = self._events[0][0] if self._events else math.inf
            tc, cnode = math.inf, None
            for node in self.nodes:
                if node.n_working:
                    nc = node.next_completion(self.now)
                    if nc < tc:
                        tc, cnode = nc, node
            tn = min(te, tc)
            if tn > t:
                self._progress(t)
                return
            self._progress(tn)
            if cnode is not None and tc <= te:
                self._complete_top(cnode)
            else:
                self._handle_event(heapq.heappop(self._events))

    def next_event_time(self) -> float:
        """Model time of the next internal change (inf when idle)."""
        te = self._events[0][0] if self._events else math.inf
        tc = min((n.next_completion(self.now) for n in self.nodes if n.n_working), default=math.inf)
        return min(te, tc)

    def submit(
        self,
        t: float,
        name: str,
        context: str,
        definition_id: str | None = None,
        code: str = "",
        payload: dict[str, Any] | None = None,
        job_id: str | None = None,
    ) -> SimJob:
        """Submit a job at model time ``t`` (>= now) to ``context`` (must exist)."""
        self.advance(t)
        ctx = self.contexts[context]
        profile = self.profile_for(name, payload.get("definition_name") if payload else None)
        fail = None
        if _ABORT.search(code or ""):
            fail = "The SAS program aborted (ABORT statement in the job code)."
        elif self.job_failure_rate and self.rng.random() < self.job_failure_rate:
            fail = "Injected failure: the compute server ended with errors."
        sc = self.scenario
        run_work = max(0.5, profile.elapsed_s - sc.start_overhead_s - sc.completion_lag_s)
        if fail:
            run_work *= sc.failed_run_fraction
        self._seq += 1
        job = SimJob(
            seq=self._seq,
            id=job_id or str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            name=name,
            context=context,
            queue=ctx.queue,
            definition_id=definition_id,
            profile=profile,
            start_work=sc.start_overhead_s,
            run_work=run_work,
            submit_t=self.now,
            orch_id=self._next_orch_id,
            orch_name=orchestrator_name(name, self.rng),
            fail_reason=fail,
            payload=payload or {},
        )
        self._next_orch_id += 1
        self.jobs[job.id] = job
        self.by_orch_id[job.orch_id] = job
        self.job_list.append(job)
        self.pending[job.queue].append(job)
        self._schedule()
        return job

    def evict_ended_before(self, t: float) -> list[str]:
        """Forget jobs that ended before model time ``t`` (a long-running demo server's memory stays
        bounded); returns their ids. Only terminal jobs go: nothing scheduled refers to them."""
        gone = [j for j in self.job_list if j.terminal and j.end_t is not None and j.end_t < t]
        if not gone:
            return []
        ids = {j.id for j in gone}
        self.job_list = [j for j in self.job_list if j.id not in ids]
        for j in gone:
            del self.jobs[j.id]
            self.by_orch_id.pop(j.orch_id, None)
        return sorted(ids)

    def cancel(self, t: float, job_id: str) -> bool:
        """Cancel a job; False when it already ended (the API answers 405)."""
        self.advance(t)
        job = self.jobs[job_id]
        if job.terminal:
            return False
        if job.state == "pending":
            self.pending[job.queue].remove(job)
        else:
            self._release(job)
        job.state = "canceled"
        job.end_t = self.now
        self._schedule()
        return True

    def profile_for(self, name: str, definition_name: str | None = None) -> JobProfile:
        """Exact job name, else the definition's name, else the longest profile name prefix."""
        if name in self.profiles:
            return self.profiles[name]
        if definition_name and definition_name in self.profiles:
            return self.profiles[definition_name]
        best = max((k for k in self.profiles if name.startswith(k)), key=len, default=None)
        return self.profiles[best] if best else self.scenario.default_job

    def live_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.removed_t is None]

    # ----- internals --------------------------------------------------------

    def _progress(self, t: float) -> None:
        if t <= self.now:
            return
        dt = t - self.now
        for node in self.nodes:
            if node.n_working:
                node.service += dt * node.rate()
        self.now = t

    def _push_event(self, t: float, kind: str, node: Node, token: float = 0.0) -> None:
        self._seq += 1
        heapq.heappush(self._events, (t, self._seq, kind, node, token))

    def _new_node(self, pool: str) -> Node:
        spec = self.scenario.pools[pool]
        index = self._next_index[pool]
        self._next_index[pool] += 1
        node = Node(
            number=len(self.nodes) + 1,
            name=f"aks-{pool}-{spec.vmss_id}-vmss{base36(index)}",
            pool=pool,
            spec=spec,
            requested_t=self.now,
        )
        self.nodes.append(node)
        self.node_events.append({"t": self.now, "event": "add", "node": node.name, "pool": pool})
        return node

    def _node_ready(self, node: Node, image_ready: bool = False) -> None:
        node.ready_t = self.now
        # kubelet pulls the compute image when the first pod lands (no pre-pull)
        node.warm_t = self.now if image_ready or not node.spec.image_pull else math.inf
        self.node_events.append(
            {"t": self.now, "event": "ready", "node": node.name, "pool": node.pool}
        )
        self._mark_idle(node)

    def _mark_idle(self, node: Node) -> None:
        if node.jobs or node.removed_t is not None:
            return
        node.idle_since = self.now
        self._push_event(self.now + node.spec.scale_down_idle, "idle", node, self.now)

    def _handle_event(self, ev: tuple[float, int, str, Node, float]) -> None:
        _, _, kind, node, token = ev
        if kind == "ready":
            self._node_ready(node)
            self._schedule()
        elif kind == "warm":
            for job in node.jobs:
                if job.cold:
                    job.cold = False
                    self._work(job, job.start_work)
        elif (
            kind == "idle" and node.idle_since == token and not node.jobs and node.removed_t is None
        ):
            ready_in_pool = sum(1 for n in self.nodes if n.pool == node.pool and n.ready)
            if ready_in_pool > node.spec.min_nodes:
                node.removed_t = self.now
                self.node_events.append(
                    {"t": self.now, "event": "remove", "node": node.name, "pool": node.pool}
                )
                self._schedule()

    def _work(self, job: SimJob, amount: float) -> None:
        node = job.node
        assert node is not None
        job.ps_token += 1
        job.working = True
        node.n_working += 1
        self._seq += 1
        heapq.heappush(node.heap, (node.service + amount, self._seq, job.ps_token, job))

    def _complete_top(self, node: Node) -> None:
        fs, _, _, job = heapq.heappop(node.heap)
        node.service = max(node.service, fs)
        job.working = False
        node.n_working -= 1
        if job.state == "starting":
            job.state = "running"
            job.run_t = self.now
            self._work(job, job.run_work)
            return
        job.state = "failed" if job.fail_reason else "completed"
        job.end_t = self.now
        self._release(job)
        self._schedule()

    def _release(self, job: SimJob) -> None:
        node = job.node
        if node is None:
            return
        if job.working:
            job.working = False
            job.ps_token += 1
            node.n_working -= 1
        node.jobs.remove(job)
        node.queue_jobs[job.queue] -= 1
        self._mark_idle(node)

    def _dispatch(self, job: SimJob, node: Node) -> None:
        self.pending[job.queue].popleft()  # _schedule only ever picks a queue's head
        job.node = node
        job.state = "starting"
        job.dispatch_t = self.now
        job.ip = f"10.244.{node.number % 250}.{node.ip_counter % 250 + 2}"
        node.ip_counter += 1
        node.jobs_run += 1
        node.jobs.append(job)
        node.queue_jobs[job.queue] = node.queue_jobs.get(job.queue, 0) + 1
        node.idle_since = None
        if math.isinf(node.warm_t):
            node.warm_t = self.now + node.spec.image_pull
            self._push_event(node.warm_t, "warm", node)
        if self.now < node.warm_t:
            job.cold = True
        else:
            self._work(job, job.start_work)

    def _queue_nodes(self, queue: str) -> Iterable[Node]:
        spec = self.scenario.queues[queue]
        used = sum(1 for n in self.nodes if n.queue_jobs.get(queue)) if spec.max_nodes else 0
        for pool in spec.pools:
            for node in self.nodes:
                if node.pool == pool and node.ready:
                    if spec.max_nodes and not node.queue_jobs.get(queue) and used >= spec.max_nodes:
                        continue
                    yield node

    def _schedule(self) -> None:
        """Place waiting jobs (oldest first across queues), then request nodes."""
        while True:
            best: tuple[SimJob, Node] | None = None
            for q, waiting in self.pending.items():
                if not waiting or (best and waiting[0].seq > best[0].seq):
                    continue
                node = next((n for n in self._queue_nodes(q) if n.free_slots() > 0), None)
                if node is not None:
                    best = (waiting[0], node)
            if best is None:
                break
            self._dispatch(*best)
        self._autoscale()

    def _autoscale(self) -> None:
        pools = self.scenario.pools
        provisioning = {
            p: [n for n in self.nodes if n.pool == p and n.ready_t is None and n.removed_t is None]
            for p in pools
        }
        incoming = {p: len(v) * pools[p].slots_per_node for p, v in provisioning.items()}
        for qname, qspec in self.scenario.queues.items():
            waiting = len(self.pending[qname])
            if not waiting:
                continue
            for p in qspec.pools:
                take = min(waiting, incoming[p])
                incoming[p] -= take
                waiting -= take
            for p in qspec.pools:
                spec = pools[p]
                while waiting > 0:
                    alive = sum(1 for n in self.nodes if n.pool == p and n.removed_t is None)
                    if alive >= spec.max_nodes or len(provisioning[p]) >= spec.max_provisioning:
                        break
                    node = self._new_node(p)
                    provisioning[p].append(node)
                    self._push_event(self.now + spec.scale_up_delay, "ready", node)
                    waiting -= spec.slots_per_node
