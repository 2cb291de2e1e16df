"""Seeded discrete-event model of the Viya compute cluster.

Everything here is in *model seconds* on a clock the caller drives: the HTTP
server advances it lazily to "now" (wall clock / speed_factor) on each request
and from a ticker; the calibration and ``whatif`` replay submit times on a
virtual clock. Nothing here reads the wall clock or takes a lock (the caller
holds one). The same scenario and seed give the same history; every random
draw comes from a generator named by (seed, job profile, its count) or (seed, node), so two
configurations replayed with one seed share their jobs' and nodes' draws
(common random numbers: a what-if compares configurations, not luck).

The model, fitted to the measured 54-job runs (docs/CALIBRATION.md):

* Each compute context submits to one orchestrator queue; a queue may place
  jobs on the nodes of its pools, in preference order (first free slot wins:
  nodes are packed, which leaves idle nodes idle long enough to scale down),
  on at most ``max_nodes`` hosts at once when the queue sets it.
* A node has ``slots_per_node`` slots; a job holds one from dispatch to end.
* A dispatched job is STARTING while it does its start-up work: log-normal,
  median ``start_overhead_s``, log-sigma ``start_sigma * (1 - 1 / load) ** 2``
  (load = the CPU demand of the jobs on the node over its cores, at least 1,
  a starting job counting ``start_cpu_share`` of its demand, as it starts),
  done at speed ``load ** -start_load_exponent`` (re-evaluated whenever the
  node's jobs change): skewed, with a long tail on a busy node and
  none on an idle one, as measured. Then it is RUNNING for its run work (the
  profile's time alone, times its seeded log-normal noise of sigma
  ``run_noise_sigma`` and mean 1).
* Image pull: the first job placed on a fresh node triggers the compute image
  pull; jobs placed there start when it ends. A job is placed on such a cold
  node only when the pull ends before the warm slot it would otherwise wait
  for frees up (estimated at current speeds, the jobs ahead of it in the queue
  taking the slots first and each freed slot coming back after its next job's
  start-up and run), so a late node never makes a job later than waiting would.
* CPU contention: a job uses ``d`` cores when alone (its profile's CPU time over
  its run time). On a node whose running jobs demand ``D`` cores of its
  ``job_cores``, a job runs ``(1 - d) + d * max(1, D / job_cores)`` times
  slower: only its CPU-bound share stretches, so node size matters and an
  I/O-bound job suffers less than a CPU-bound one.
* Autoscaling: a queue's waiting jobs not covered by free slots or nodes
  already coming ask, in one step, for as many nodes as they need (at most
  ``max_provisioning`` at once when set, the pool's ``max_nodes``, and -- so no
  node is added that the queue cannot use -- its host limit minus the hosts it
  occupies or has coming; with the queue's ``scale_past_host_limit``, once per
  backlog, past that limit: unreserved nodes the queue cannot use, another queue
  of the pool can). Each node is Ready its own seeded delay later
  (median ``scale_up_delay``, log-sigma ``delay_jitter``; the pull likewise),
  but no sooner than the pool's node requested before it. A
  node idle for ``scale_down_idle`` is removed while the pool is above
  ``min_nodes``; a node added for a queue's backlog is needed while that
  backlog waits, so its idle time starts when the backlog clears (measured: node
  ``00002r``, added for the fixed phase's backlog past its host limit, never
  used there, was still up 656 s after it was Ready, the backlog gone 276 s).
* A job fails when its definition's code aborts, or by the seeded
  ``job_failure_rate`` draw; it then stops after ``failed_run_fraction`` of its
  run work with a non-zero exit code.

Speeds on a node change only when its set of jobs changes, so each node keeps
its active jobs' speeds and its next completion time, brought up to date
lazily: a step costs O(nodes), a change O(jobs on that node).
"""

from __future__ import annotations

import heapq
import math
import random
import re
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from jes_runner.sim.scenario import ContextSpec, JobProfile, PoolSpec, Scenario

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


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    """A log-normal draw with this median (sigma 0: exactly the median)."""
    return median * math.exp(sigma * rng.gauss(0.0, 1.0)) if sigma else median


@dataclass(eq=False)
class SimJob:
    seq: int
    id: str
    name: str
    context: str
    queue: str
    definition_id: str | None
    profile: JobProfile
    run_work: float  # seconds of running when alone (noise and failure applied)
    demand: float  # cores it uses when alone
    start_z: float  # its standard-normal start-up draw (the median depends on the node's load)
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
    remaining: float = 0.0  # start-up or run work left at node.last_t (active jobs)
    speed: float = 1.0  # that work done per second on its node now (active jobs)
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
    pull_s: float  # this node's image pull time
    for_queue: str | None = None  # the queue whose backlog requested it, until it runs a job
    # the queue whose backlog asked for it (kept): while that backlog waits the node is needed
    requested_by: str | None = None
    due_t: float = 0.0  # when it is (or was) due Ready
    ready_t: float | None = None
    warm_t: float = math.inf  # image pulled (inf: not started)
    removed_t: float | None = None
    jobs: list[SimJob] = field(default_factory=list)
    active: list[SimJob] = field(default_factory=list)  # starting (image there) or running
    idle_since: float | None = None
    last_t: float = 0.0  # active jobs' ``remaining`` is as of this time
    next_done: float = math.inf  # the next end of an active job's start-up or run
    ip_counter: int = 1
    jobs_run: int = 0
    queue_jobs: dict[str, int] = field(default_factory=dict)  # queue -> jobs held here

    @property
    def ready(self) -> bool:
        return self.ready_t is not None and self.removed_t is None

    @property
    def provisioning(self) -> bool:
        return self.ready_t is None and self.removed_t is None

    @property
    def state(self) -> str:
        if self.removed_t is not None:
            return "REMOVED"
        return "READY" if self.ready_t is not None else "PROVISIONING"

    def warm(self, now: float) -> bool:
        return self.warm_t <= now

    def free_slots(self) -> int:
        return self.spec.slots_per_node - len(self.jobs) if self.ready else 0

    def run_load(self) -> float:
        """CPU demand of the running jobs over the node's cores, at least 1."""
        demand = sum(j.demand for j in self.active if j.state == "running")
        return max(1.0, demand / self.spec.job_cores)

    def start_load(self, start_share: float) -> float:
        """The load a start-up meets, at least 1: the CPU demand of the node's running jobs, and
        ``start_share`` of it for the jobs still starting (a compute server starting uses less
        CPU than a job running), over its cores."""
        demand = sum(
            j.demand if j.state == "running" else start_share * j.demand
            for j in self.jobs
            if not j.cold
        )
        return max(1.0, demand / self.spec.job_cores)

    def catch_up(self, now: float) -> None:
        """Bring the active jobs' remaining work up to ``now`` (speeds unchanged since last_t)."""
        dt = now - self.last_t
        if dt > 0:
            for j in self.active:
                j.remaining -= dt * j.speed
        self.last_t = now

    def reprice(self, now: float, start_exponent: float, start_share: float) -> None:
        """New speeds after the node's jobs changed (call catch_up first).

        Running: only the CPU-bound share ``d`` stretches with the load. Starting:
        the start-up slows as ``start_load ** start_exponent`` (fitted), so jobs
        arriving in a burst slow each other's start, as measured.
        """
        run_load = self.run_load()
        start_slow = self.start_load(start_share) ** start_exponent
        self.next_done = math.inf
        for j in self.active:
            if j.state == "running":
                d = min(1.0, j.demand)
                j.speed = 1.0 / ((1.0 - d) + d * run_load)
            else:
                j.speed = 1.0 / start_slow
            self.next_done = min(self.next_done, now + max(0.0, j.remaining) / j.speed)

    def slot_free_times(self, now: float, start_s: float) -> list[float]:
        """When each of its jobs is expected to end at today's speeds (an estimate)."""
        out = []
        load = self.run_load()
        for j in self.jobs:
            d = min(1.0, j.demand)
            run_at_load = j.run_work * ((1.0 - d) + d * load)
            left = (
                max(0.0, j.remaining - (now - self.last_t) * j.speed) / j.speed
                if j in self.active
                else 0.0
            )
            if j.state == "running":
                out.append(now + left)
            else:  # starting: what is left of its start-up (all of it while the image pulls),
                # then its run at today's load
                if j not in self.active:
                    left = start_s
                out.append(max(now, self.warm_t) + left + run_at_load)
        return out


class Cluster:
    """The cluster state machine; drive it with :meth:`advance`, :meth:`submit`, :meth:`cancel`."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.now = 0.0
        self.rng = random.Random(scenario.seed)  # ids, names, failure draws: in call order
        self.profiles = scenario.profiles()
        self.contexts: dict[str, ContextSpec] = {c.name: c for c in scenario.contexts}
        self.jobs: dict[str, SimJob] = {}
        self.by_orch_id: dict[int, SimJob] = {}
        self.job_list: list[SimJob] = []
        self.nodes: list[Node] = []
        self.node_events: list[dict[str, Any]] = []
        self.pending: dict[str, deque[SimJob]] = {q: deque() for q in scenario.queues}
        # queues whose current backlog already scaled a pool past their host limit: once per
        # backlog, so an unusable node removed at scale-down is not asked for again and again
        self._past_limit: set[str] = set()
        self._events: list[tuple[float, int, str, Node, float]] = []
        self._seq = 0
        self._profile_count: dict[str | None, int] = {}
        self._next_index = {p: spec.first_index for p, spec in scenario.pools.items()}
        self._next_orch_id = 1
        self.job_failure_rate = scenario.faults.job_failure_rate
        for pname, spec in scenario.pools.items():
            n = spec.min_nodes if spec.initial_nodes is None else spec.initial_nodes
            for _ in range(n):
                self.add_ready_node(pname, image_ready=True)

    # ----- public API -------------------------------------------------------

    def advance(self, t: float) -> None:
        """Run the model up to model time ``t`` (no-op when ``t`` is in the past)."""
        while True:
            te = self._events[0][0] if self._events else math.inf
            cnode = min(self.nodes, key=_next_done, default=None)
            tc = cnode.next_done if cnode is not None else math.inf
            tn = min(te, tc)
            if tn > t:
                self.now = max(self.now, t)
                return
            self.now = max(self.now, tn)
            if cnode is not None and tc <= te:
                self._complete_next(cnode)
            else:
                self._handle_event(heapq.heappop(self._events))

    def next_event_time(self) -> float:
        """Model time of the next internal change (inf when idle)."""
        te = self._events[0][0] if self._events else math.inf
        return min(te, min((n.next_done for n in self.nodes), default=math.inf))

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
        key = self.profile_key(name, payload.get("definition_name") if payload else None)
        profile = self.profiles[key] if key is not None else self.scenario.default_job
        fail = None
        if _ABORT.search(code or ""):
            fail = "The SAS program aborted (ABORT statement in the job code)."
        elif self.job_failure_rate and self.rng.random() < self.job_failure_rate:
            fail = "Injected failure: the compute server ended with errors."
        sc = self.scenario
        # draws named by (profile, how many of it so far), not by arrival order: concurrent
        # submitters that interleave differently still give each job the same draws
        nth = self._profile_count[key] = self._profile_count.get(key, 0) + 1
        draws = random.Random(f"{sc.seed}:job:{key}:{nth}")
        alone = max(0.5, profile.elapsed_s - sc.start_overhead_s - sc.completion_lag_s)
        sigma = sc.run_noise_sigma
        run_work = alone * math.exp(sigma * draws.gauss(0.0, 1.0) - sigma * sigma / 2)
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
            run_work=run_work,
            demand=self.cpu_demand(profile),
            start_z=draws.gauss(0.0, 1.0),
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
        key = self.profile_key(name, definition_name)
        return self.profiles[key] if key is not None else self.scenario.default_job

    def profile_key(self, name: str, definition_name: str | None = None) -> str | None:
        """The profile name :meth:`profile_for` uses (None: the scenario's default job)."""
        if name in self.profiles:
            return name
        if definition_name and definition_name in self.profiles:
            return definition_name
        return max((k for k in self.profiles if name.startswith(k)), key=len, default=None)

    def cpu_demand(self, profile: JobProfile) -> float:
        """Cores a job uses alone: its CPU time over its run time (the scenario's default without)."""
        sc = self.scenario
        if profile.cpu_time_s is None:
            return sc.default_cpu_demand
        alone = max(0.5, profile.elapsed_s - sc.start_overhead_s - sc.completion_lag_s)
        return min(1.0, max(0.05, profile.cpu_time_s / alone))

    def add_ready_node(self, pool: str, image_ready: bool) -> Node:
        """A node of ``pool`` Ready now (initial nodes; a replay's measured starting state)."""
        node = self._new_node(pool)
        self._node_ready(node, image_ready=image_ready)
        return node

    def live_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.removed_t is None]

    # ----- internals --------------------------------------------------------

    def _push_event(self, t: float, kind: str, node: Node, token: float = 0.0) -> None:
        self._seq += 1
        heapq.heappush(self._events, (t, self._seq, kind, node, token))

    def _new_node(
        self,
        pool: str,
        for_queue: str | None = None,
        not_before: float = 0.0,
        requested_by: str | None = None,
    ) -> Node:
        spec = self.scenario.pools[pool]
        index = self._next_index[pool]
        self._next_index[pool] += 1
        # per-node draws named by the node, not by call order: configurations stay comparable
        draws = random.Random(f"{self.scenario.seed}:node:{pool}:{index}")
        delay = lognormal(draws, spec.scale_up_delay, spec.delay_jitter)
        node = Node(
            number=len(self.nodes) + 1,
            name=f"aks-{pool}-{spec.vmss_id}-vmss{base36(index)}",
            pool=pool,
            spec=spec,
            requested_t=self.now,
            pull_s=lognormal(draws, spec.image_pull, spec.delay_jitter),
            for_queue=for_queue,
            requested_by=requested_by,
            last_t=self.now,
        )
        self.nodes.append(node)
        self.node_events.append({"t": self.now, "event": "add", "node": node.name, "pool": pool})
        if for_queue is not None or requested_by is not None:
            node.due_t = max(self.now + delay, not_before)
            self._push_event(node.due_t, "ready", node)
        return node

    def _node_ready(self, node: Node, image_ready: bool = False) -> None:
        node.ready_t = self.now
        # kubelet pulls the compute image when the first pod lands (no pre-pull)
        node.warm_t = self.now if image_ready or not node.pull_s else math.inf
        self.node_events.append(
            {"t": self.now, "event": "ready", "node": node.name, "pool": node.pool}
        )
        self._mark_idle(node)

    def _mark_idle(self, node: Node) -> None:
        if node.jobs or node.removed_t is not None:
            return
        if node.requested_by is not None and self.pending[node.requested_by]:
            node.idle_since = None  # still needed: the backlog that asked for it waits
            return
        node.idle_since = self.now
        self._push_event(self.now + node.spec.scale_down_idle, "idle", node, self.now)

    def _handle_event(self, ev: tuple[float, int, str, Node, float]) -> None:
        _, _, kind, node, token = ev
        if kind == "ready":
            self._node_ready(node)
            self._schedule()
        elif kind == "warm":
            for j in list(node.jobs):
                if j.cold:
                    j.cold = False
                    self._begin_start(j)
            self._schedule()  # its free slots are warm now
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

    def _reprice(self, node: Node) -> None:
        sc = self.scenario
        node.reprice(self.now, sc.start_load_exponent, sc.start_cpu_share)

    def _begin_start(self, job: SimJob) -> None:
        """Start-up work: the median alone, its spread growing with the node's load.

        5-7 s alone, 12-180 s on a saturated node (measured): the log-sigma is
        ``start_sigma * (1 - 1 / load) ** 2``, the load taken as the job starts.
        """
        node = job.node
        assert node is not None
        sc = self.scenario
        node.catch_up(self.now)
        spread = sc.start_sigma * (1.0 - 1.0 / node.start_load(sc.start_cpu_share)) ** 2
        job.remaining = sc.start_overhead_s * math.exp(spread * job.start_z)
        node.active.append(job)
        self._reprice(node)

    def _complete_next(self, node: Node) -> None:
        node.catch_up(self.now)
        # invariant: next_done is the earliest end, so that job's remaining is ~0 now
        job = min(node.active, key=lambda j: j.remaining / j.speed)
        if job.state == "starting":
            job.state = "running"
            job.run_t = self.now
            job.remaining = job.run_work
            self._reprice(node)
            return
        job.state = "failed" if job.fail_reason else "completed"
        job.end_t = self.now
        self._release(job)
        self._schedule()

    def _release(self, job: SimJob) -> None:
        node = job.node
        if node is None:
            return
        node.catch_up(self.now)
        if job in node.active:
            node.active.remove(job)
        node.jobs.remove(job)
        self._reprice(node)
        node.queue_jobs[job.queue] -= 1
        self._mark_idle(node)

    def _dispatch(self, job: SimJob, node: Node) -> None:
        self.pending[job.queue].remove(job)
        job.node = node
        job.state = "starting"
        job.dispatch_t = self.now
        job.ip = f"10.244.{node.number % 250}.{node.ip_counter % 250 + 2}"
        node.ip_counter += 1
        node.jobs_run += 1
        node.jobs.append(job)
        node.queue_jobs[job.queue] = node.queue_jobs.get(job.queue, 0) + 1
        node.idle_since = None
        node.for_queue = None  # reserved no more: it is in use
        if math.isinf(node.warm_t):
            node.warm_t = self.now + node.pull_s
            self._push_event(node.warm_t, "warm", node)
        if self.now < node.warm_t:
            job.cold = True
        else:
            self._begin_start(job)  # the node's load changed: every start-up there slows

    def _hosts_of(self, queue: str) -> int:
        """Hosts the queue occupies or has reserved (requested for it, no job yet): its limit
        counts both, so no node is requested that the queue could not use."""
        return sum(
            1
            for n in self.nodes
            if n.removed_t is None and (n.queue_jobs.get(queue) or n.for_queue == queue)
        )

    def _queue_nodes(self, queue: str) -> list[Node]:
        """Ready nodes the queue may place on now, in pool preference order."""
        spec = self.scenario.queues[queue]
        used = self._hosts_of(queue) if spec.max_nodes else 0
        out = []
        for pool in spec.pools:
            for node in self.nodes:
                if node.pool == pool and node.ready:
                    counted = node.queue_jobs.get(queue) or node.for_queue == queue
                    if spec.max_nodes and not counted and used >= spec.max_nodes:
                        continue
                    out.append(node)
        return out

    def _place_warm(self) -> bool:
        """The oldest waiting job with a free warm slot goes there; False when none can."""
        best: tuple[SimJob, Node] | None = None
        for q, waiting in self.pending.items():
            if not waiting or (best and waiting[0].seq > best[0].seq):
                continue
            node = next(
                (n for n in self._queue_nodes(q) if n.free_slots() > 0 and n.warm(self.now)),
                None,
            )
            if node is not None:
                best = (waiting[0], node)
        if best is None:
            return False
        self._dispatch(*best)
        return True

    def _place_cold(self, queue: str) -> bool:
        """Put waiting jobs on a cold node only when its pull ends before their warm slot frees.

        The waiting jobs take the warm slots in queue order as they free up, a slot
        coming back once the job that took it has started up and run (alone): the first
        waiting job whose slot would free after the pull ends goes to the cold node; the
        ones before it keep waiting.
        """
        waiting = self.pending[queue]
        if not waiting:
            return False
        nodes = self._queue_nodes(queue)
        cold = [n for n in nodes if n.free_slots() > 0 and not n.warm(self.now)]
        if not cold:
            return False
        node = min(cold, key=lambda n: n.warm_t if n.warm_t < math.inf else self.now + n.pull_s)
        ready_at = node.warm_t if node.warm_t < math.inf else self.now + node.pull_s
        # slots on every other node count, those still pulling too (they free up after the pull)
        frees = [
            t
            for n in nodes
            if n is not node
            for t in n.slot_free_times(self.now, self.scenario.start_overhead_s)
        ]
        heapq.heapify(frees)
        start = self.scenario.start_overhead_s
        for job in waiting:
            warm_at = heapq.heappop(frees) if frees else math.inf
            if warm_at > ready_at:
                self._dispatch(job, node)
                return True
            # that slot frees again once this job is done with it: the next waiting job may
            # get it before a later slot (counting each slot once made a cold node look
            # better than it was, and one more node slower, as seen)
            heapq.heappush(frees, warm_at + start + job.run_work)
        return False

    def _schedule(self) -> None:
        """Place waiting jobs (oldest first across queues), then request nodes."""
        while self._place_warm() or any(self._place_cold(q) for q in self.pending):
            pass
        self._autoscale()

    def _autoscale(self) -> None:
        """Request, in one step, the nodes each queue's uncovered backlog can use."""
        pools = self.scenario.pools
        # slots coming: provisioning nodes, and free slots on ready nodes (cold ones included:
        # a job that prefers waiting to a cold node would prefer it to a later new node too)
        spare = {p: 0 for p in pools}
        for n in self.nodes:
            if n.provisioning:
                spare[n.pool] += n.spec.slots_per_node
            elif n.ready:
                spare[n.pool] += n.free_slots()
        for qname, qspec in self.scenario.queues.items():
            waiting = len(self.pending[qname])
            if not waiting:
                self._past_limit.discard(qname)
                self._release_held(qname)
                continue
            for p in qspec.pools:
                take = min(waiting, spare[p])
                spare[p] -= take
                waiting -= take
            room = (qspec.max_nodes - self._hosts_of(qname)) if qspec.max_nodes else math.inf
            for p in qspec.pools:
                spec = pools[p]
                alive = sum(1 for n in self.nodes if n.pool == p and n.removed_t is None)
                coming = sum(1 for n in self.nodes if n.pool == p and n.provisioning)
                cap = math.inf if spec.max_provisioning is None else spec.max_provisioning - coming
                want = math.ceil(waiting / spec.slots_per_node) if waiting > 0 else 0
                # past the host limit (scale_past_host_limit) a node comes unreserved: the
                # queue cannot use it, another queue of the pool can
                past = qspec.scale_past_host_limit and qname not in self._past_limit
                limit = math.inf if past else room
                n_new = int(max(0, min(want, spec.max_nodes - alive, cap, limit)))
                # a pool's nodes are Ready in request order, each no sooner than the one before:
                # asking for more nodes never brings an earlier one sooner (more jobs never
                # run faster for it)
                ready_t = max(
                    (n.due_t for n in self.nodes if n.pool == p and n.provisioning),
                    default=self.now,
                )
                if n_new > room:
                    self._past_limit.add(qname)
                for i in range(n_new):
                    owner = qname if i < room else None
                    node = self._new_node(p, owner, not_before=ready_t, requested_by=qname)
                    ready_t = node.due_t
                waiting -= n_new * spec.slots_per_node
                room -= min(n_new, room)

    def _release_held(self, queue: str) -> None:
        """The backlog of ``queue`` cleared: the empty nodes it asked for start their idle time."""
        for n in self.nodes:
            if n.requested_by == queue and n.ready and n.idle_since is None:
                self._mark_idle(n)


def _next_done(node: Node) -> float:
    return node.next_done
