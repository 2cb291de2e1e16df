"""Watching compute nodes during a phase: Kubernetes list + watch, or orchestrator hosts.

:class:`NodeWatcher` lists the nodes matching a label selector, then watches
from the list's resourceVersion in a background thread (re-watching when a
stream times out, re-listing on 410 Gone, backing off on other errors), and
records when nodes were added, became Ready and were removed.
:class:`HostPoller` is the fallback without cluster access: it polls the
Workload Orchestrator's hosts. Both hand back an :class:`ObservedNodes`.

Times: ``added`` is the Node's creationTimestamp and ``ready`` the Ready
condition's lastTransitionTime (server clocks); ``removed`` is when the watch
saw the deletion (this process's clock). Orchestrator hosts use their
``requestedTime``/``readyTime`` when served, else when first seen.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jes_runner._util import iso, parse_aks_node_name, parse_ts, utcnow
from jes_runner.kube.config import KubeAccess, describe_api_error

log = logging.getLogger("jes_runner.kube")

POOL_LABELS = (
    "kubernetes.azure.com/agentpool",
    "agentpool",
    "eks.amazonaws.com/nodegroup",
    "cloud.google.com/gke-nodepool",
)


def pool_from_name(name: str) -> str | None:
    """AKS node names carry their pool: ``aks-<pool>-<vmss id>-vmss<index>``."""
    parsed = parse_aks_node_name(name)
    return parsed.pool if parsed else None


@dataclass
class NodeState:
    name: str
    pool: str | None
    added_at: datetime | None
    ready: bool = False
    ready_at: datetime | None = None
    removed_at: datetime | None = None


@dataclass(frozen=True)
class NodeEvent:
    time: datetime
    event: str  # added | ready | removed
    node: str
    pool: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"time": iso(self.time), "event": self.event, "node": self.node, "pool": self.pool}


@dataclass
class ObservedNodes:
    """What one watcher saw: nodes present when it started, then every change."""

    source: str  # "kubernetes" | "orchestrator"
    started_at: datetime
    ended_at: datetime | None = None
    initial: dict[str, NodeState] = field(default_factory=dict)
    events: list[NodeEvent] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    available: bool = True  # False: the source answered nothing usable (no host data at all)
    relists: int = 0

    def states(self) -> dict[str, NodeState]:
        """Every node seen (initial + added), with its final state."""
        out = {n: NodeState(**vars(s)) for n, s in self.initial.items()}
        for ev in sorted(self.events, key=lambda e: e.time):
            st = out.get(ev.node)
            if st is None:
                st = out[ev.node] = NodeState(ev.node, ev.pool, None)
            if ev.event == "added":
                st.added_at, st.removed_at = ev.time, None
            elif ev.event == "ready":
                st.ready, st.ready_at = True, ev.time
            elif ev.event == "removed":
                st.removed_at = ev.time
        return out


class _Recorder:
    """Thread-safe state machine shared by both sources."""

    def __init__(self, source: str, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.obs = ObservedNodes(source, clock())
        self.known: dict[str, NodeState] = {}
        self._noted: set[str] = set()

    def snapshot(self, nodes: dict[str, NodeState], initial: bool) -> None:
        """A full listing: the first one seeds ``initial``; later ones are diffed into events."""
        with self.lock:
            if initial:
                self.known = {n: NodeState(**vars(s)) for n, s in nodes.items()}
                self.obs.initial = {n: NodeState(**vars(s)) for n, s in nodes.items()}
                return
            now = self.clock()
            for st in nodes.values():
                self._upsert(st)
            for name in [n for n in self.known if n not in nodes]:
                self._remove(name, now)

    def upsert(self, st: NodeState) -> None:
        with self.lock:
            self._upsert(st)

    def remove(self, name: str, when: datetime | None = None) -> None:
        with self.lock:
            self._remove(name, when or self.clock())

    def note(self, text: str) -> None:
        with self.lock:
            if text not in self._noted:
                self._noted.add(text)
                self.obs.notes.append(text)

    def _upsert(self, st: NodeState) -> None:
        cur = self.known.get(st.name)
        if cur is None:
            added = st.added_at or self.clock()
            self.obs.events.append(NodeEvent(added, "added", st.name, st.pool))
            cur = self.known[st.name] = NodeState(st.name, st.pool, added)
        if st.ready and not cur.ready:
            when = st.ready_at or self.clock()
            if cur.added_at and when < cur.added_at:
                when = cur.added_at
            self.obs.events.append(NodeEvent(when, "ready", st.name, cur.pool))
            cur.ready, cur.ready_at = True, when
        elif not st.ready and cur.ready:
            cur.ready = False  # NotReady again: no event kind for it; Ready again will be recorded

    def _remove(self, name: str, when: datetime) -> None:
        cur = self.known.pop(name, None)
        if cur is not None:
            self.obs.events.append(NodeEvent(when, "removed", name, cur.pool))

    def finish(self) -> ObservedNodes:
        with self.lock:
            self.obs.ended_at = self.clock()
            self.obs.events.sort(key=lambda e: e.time)
            return self.obs


# ----- Kubernetes -----------------------------------------------------------------------


class KubeUnavailable(Exception):
    """The API refused or could not be reached on the first list: fall back."""


def node_state(node: Any) -> NodeState:
    """A NodeState from a kubernetes ``V1Node``."""
    md = node.metadata
    labels = md.labels or {}
    pool = next((labels[k] for k in POOL_LABELS if labels.get(k)), None) or pool_from_name(md.name)
    ready_cond = (
        next((c for c in (node.status.conditions or []) if c.type == "Ready"), None)
        if node.status
        else None
    )
    ready = ready_cond is not None and ready_cond.status == "True"
    return NodeState(
        name=md.name,
        pool=pool,
        added_at=_aware(md.creation_timestamp),
        ready=ready,
        ready_at=_aware(ready_cond.last_transition_time) if ready and ready_cond else None,
    )


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class NodeWatcher:
    """List + watch nodes in a background thread; ``start()`` raises KubeUnavailable on a refused list."""

    def __init__(
        self,
        access: KubeAccess,
        label_selector: str,
        *,
        watch_timeout_s: int = 300,
        request_timeout_s: float = 15.0,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        self.access = access
        self.selector = label_selector
        self.watch_timeout_s = max(1, int(watch_timeout_s))
        self.request_timeout_s = request_timeout_s
        self.rec = _Recorder("kubernetes", clock)
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._thread: threading.Thread | None = None
        self._watch: Any = None
        self.errors = 0

    @property
    def relists(self) -> int:
        return self.rec.obs.relists

    def _list(self) -> tuple[dict[str, NodeState], str]:
        nl = self.access.core().list_node(
            label_selector=self.selector or None, _request_timeout=self.request_timeout_s
        )
        nodes = {n.metadata.name: node_state(n) for n in nl.items or []}
        return nodes, str(nl.metadata.resource_version or "")

    def start(self) -> NodeWatcher:
        try:
            nodes, rv = self._list()
        except Exception as e:  # noqa: BLE001 - 403, unreachable, bad config: all mean "fall back"
            raise KubeUnavailable(describe_api_error(e)) from None
        self.rec.snapshot(nodes, initial=True)
        if not nodes:
            self.rec.note(
                f"no node matched the label selector '{self.selector}' when the phase started"
            )
        self._thread = threading.Thread(
            target=self._run, args=(rv,), name="node-watch", daemon=True
        )
        self._thread.start()
        return self

    def _run(self, rv: str) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        core = self.access.core()
        backoff = 0.5
        while not self._stop.is_set():
            try:
                w = watch.Watch()
                self._watch = w
                for ev in w.stream(
                    core.list_node,
                    label_selector=self.selector or None,
                    resource_version=rv,
                    timeout_seconds=self.watch_timeout_s,
                    allow_watch_bookmarks=True,
                    _request_timeout=(self.request_timeout_s, self.watch_timeout_s + 30),
                ):
                    if self._stop.is_set():
                        break
                    kind = ev.get("type")
                    raw = ev.get("raw_object") or {}
                    rv = str((raw.get("metadata") or {}).get("resourceVersion") or rv)
                    if kind in ("ADDED", "MODIFIED"):
                        self.rec.upsert(node_state(ev["object"]))
                    elif kind == "DELETED":
                        self.rec.remove(ev["object"].metadata.name)
                backoff = 0.5  # a clean end (timeoutSeconds): watch again from rv
            except ApiException as e:
                if self._stop.is_set():
                    break
                if e.status == 410:  # our resourceVersion was compacted away: list again
                    rv = self._relist(rv)
                    continue
                self._trouble(e)
                if self._sleep(backoff):
                    break
                backoff = min(backoff * 2, 30.0)
                rv = self._relist(rv)
            except Exception as e:  # noqa: BLE001 - connection drops: retry after a pause, never crash
                if self._stop.is_set():
                    break
                self._trouble(e)
                if self._sleep(backoff):
                    break
                backoff = min(backoff * 2, 30.0)
                rv = self._relist(rv)
            finally:
                self._watch = None

    def _relist(self, rv: str) -> str:
        try:
            nodes, new_rv = self._list()
        except Exception as e:  # noqa: BLE001
            self._trouble(e)
            return rv
        with self.rec.lock:
            self.rec.obs.relists += 1
        self.rec.snapshot(nodes, initial=False)
        return new_rv

    def _trouble(self, e: BaseException) -> None:
        self.errors += 1
        text = describe_api_error(e)
        if self.errors == 1:
            log.warning("node watch interrupted (%s); retrying", text)
        self.rec.note(f"node watch interrupted at least once ({text}); changes were re-listed")

    def stop(self) -> ObservedNodes:
        self._stop.set()
        w = self._watch
        if w is not None:
            w.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return self.rec.finish()


# ----- Workload Orchestrator hosts (fallback) -----------------------------------------------


class HostPoller:
    """The orchestrator's hosts, fetched when they can change the answer (the fallback without
    cluster access): when the phase starts, when it ends, and when a job is seen pending (``poke``),
    at most once per ``interval_s`` -- not on a clock, which cost more requests than all job polling.

    Host times (``requestedTime``/``readyTime``) are the server's, so fewer looks lose no timing;
    a host that comes and goes between two looks is missed (noted in the phase's scaling note).
    """

    def __init__(
        self,
        fetch: Callable[[], list[dict[str, Any]]],
        interval_s: float = 10.0,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.fetch = fetch
        self.interval_s = interval_s
        self.rec = _Recorder("orchestrator", clock)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        """A job is pending: the pool may be scaling; look at the hosts soon (rate-limited)."""
        self._wake.set()

    def _states(self) -> dict[str, NodeState] | None:
        try:
            hosts = self.fetch()
        except Exception as e:  # noqa: BLE001 - the orchestrator may be missing (404/403) or down
            self.rec.note(
                f"orchestrator hosts unavailable ({e}); figures from the jobs' execution hosts"
            )
            return None
        out: dict[str, NodeState] = {}
        for h in hosts:
            name = str(h.get("name") or "")
            if not name:
                continue
            state = str(h.get("state") or "").upper()
            ready = (
                state in ("", "READY", "OK", "OPEN", "ACTIVE")
                or parse_ts(h.get("readyTime")) is not None
            )
            out[name] = NodeState(
                name=name,
                pool=h.get("pool") or pool_from_name(name),
                added_at=parse_ts(h.get("requestedTime")),
                ready=ready,
                ready_at=parse_ts(h.get("readyTime")),
            )
        return out

    def start(self) -> HostPoller:
        first = self._states()
        self.rec.snapshot(first or {}, initial=True)
        if first is None:
            self.rec.obs.available = False
        self._thread = threading.Thread(target=self._run, name="host-poll", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                break
            self._wake.clear()
            self._poll()
            self._stop.wait(self.interval_s)  # at most one look per interval, however many pokes

    def _poll(self) -> None:
        states = self._states()
        if states is not None:
            if not self.rec.obs.available:  # the first poll failed: this one seeds the state
                self.rec.obs.available = True
                self.rec.snapshot(states, initial=True)
            else:
                self.rec.snapshot(states, initial=False)

    def stop(self) -> ObservedNodes:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._poll()  # one last look at the end of the phase
        return self.rec.finish()
