"""A small Kubernetes API on the emulator's HTTP server: Nodes (list + watch) and Secrets.

Enough of the real API for the ``kubernetes`` Python client, unpatched, pointed
at the emulator (``Configuration(host=emu.url)``):

* ``GET /api/v1/nodes`` -- ``NodeList`` with ``metadata.resourceVersion``;
  ``labelSelector`` (``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``,
  ``k notin (a,b)``), ``fieldSelector`` (``metadata.name``), ``limit`` + ``continue``.
* ``GET /api/v1/nodes?watch=true&resourceVersion=N`` -- chunked JSON lines
  ``{"type": "ADDED|MODIFIED|DELETED|BOOKMARK|ERROR", "object": ...}``;
  ``timeoutSeconds`` ends the stream cleanly, ``allowWatchBookmarks`` sends
  bookmarks every ``bookmark_interval_s``; a resourceVersion older than the
  retained window (``event_window`` events) gets an ``ERROR`` event with a 410
  ``Expired`` Status, as a real API server does after etcd compaction.
* ``GET /api/v1/nodes/{name}``.
* ``GET|PATCH|PUT /api/v1/namespaces/{ns}/secrets/{name}``, ``POST
  /api/v1/namespaces/{ns}/secrets``: base64 ``data`` (``stringData`` accepted on
  writes); PATCH takes merge / strategic-merge (same thing for a Secret) and
  JSON-patch bodies; a ``metadata.resourceVersion`` that is not the current one
  answers 409 ``Conflict``. Every change bumps the one global resourceVersion.

Errors are ``Status`` objects (``kind: Status``, ``status: Failure``, ``reason``,
``code``): 400, 401 (``kubernetes.token`` set and not sent), 403 (``kubernetes.forbidden``),
404, 409, 410, 415, 422.

Nodes come from the pool model's node events: ``add`` (provisioning starts)
-> ADDED with ``Ready=False``, ``ready`` -> MODIFIED ``Ready=True``, ``remove``
-> DELETED. Invented but plausible (documented): timestamps keep milliseconds
(a real API server gives whole seconds) because model time runs scaled down,
the Node is created when provisioning starts (on AKS it appears once the VM
registers, a minute or two later), and the AKS labels/providerID are built
from the pool name and VMSS id.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from jes_runner.emulator.clock import iso_ms
from jes_runner.emulator.http import Request, Response

if TYPE_CHECKING:
    from jes_runner.emulator.app import Emulator
    from jes_runner.sim.model import Node

JSON = "application/json"
DEFAULT_WATCH_TIMEOUT_S = 1800.0
_B36 = re.compile(r"vmss([0-9a-z]{6})$")


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return Response(code, body, JSON)


class KubeError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.response = status(code, reason, message, details)


# ----- selectors ----------------------------------------------------------------------

_SET_TERM = re.compile(r"^\s*([A-Za-z0-9._/-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_TERM = re.compile(r"^\s*([A-Za-z0-9._/-]+)\s*(==|!=|=)\s*([A-Za-z0-9._-]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([A-Za-z0-9._/-]+)\s*$")

Predicate = Callable[[dict[str, str]], bool]


def _split_terms(text: str) -> list[str]:
    terms, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    return [t for t in terms if t.strip()]


def _label_term(term: str) -> Predicate:
    if m := _SET_TERM.match(term):
        key, op, vals = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
        if op == "in":
            return lambda lb: lb.get(key) in vals
        return lambda lb: lb.get(key) not in vals
    if m := _EQ_TERM.match(term):
        key, op, val = m.groups()
        if op == "!=":
            return lambda lb: lb.get(key) != val
        return lambda lb: lb.get(key) == val
    if m := _EXISTS.match(term):
        neg, key = m.group(1) == "!", m.group(2)
        return lambda lb: (key in lb) != neg
    raise KubeError(400, "BadRequest", f'unable to parse requirement: "{term.strip()}"')


def label_selector(text: str | None) -> Predicate:
    """Parse a label selector (equality- and set-based); KubeError 400 when malformed."""
    preds = [_label_term(t) for t in _split_terms(text or "")]
    return lambda labels: all(p(labels) for p in preds)


def _field_term(term: str) -> Callable[[dict[str, Any]], bool]:
    m = _EQ_TERM.match(term)
    if not m or m.group(1) != "metadata.name":
        raise KubeError(
            400, "BadRequest", f'field label not supported: "{term.strip().split("=")[0]}"'
        )
    _, op, val = m.groups()
    if op == "!=":
        return lambda o: bool(o["metadata"]["name"] != val)
    return lambda o: bool(o["metadata"]["name"] == val)


def field_selector(text: str | None) -> Callable[[dict[str, Any]], bool]:
    """Only ``metadata.name`` (``=``, ``==``, ``!=``), as the API server supports for nodes."""
    preds = [_field_term(t) for t in _split_terms(text or "")]
    return lambda obj: all(p(obj) for p in preds)


# ----- the API state ------------------------------------------------------------------


class KubeApi:
    """Nodes mirrored from the pool model, Secrets, the watch event log; guarded by app.lock."""

    def __init__(self, app: Emulator) -> None:
        self.app = app
        spec = app.scenario.kubernetes
        self.spec = spec
        self.token: str | None = spec.token
        self.forbidden: bool = spec.forbidden
        self.rv = 0
        self.nodes: dict[str, dict[str, Any]] = {}
        self.events: deque[tuple[int, str, dict[str, Any]]] = deque(maxlen=spec.event_window)
        self.compacted = 0  # a watch from a resourceVersion below this gets 410
        self.expired = 0  # bumped by expire_watches(): open watches end with a 410
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.counts: Counter[str] = Counter()
        self.cond = threading.Condition(app.lock)
        self._cursor = 0
        for s in spec.secrets:
            self._store_secret(s.namespace, s.name, _b64_map(s.string_data), {})

    # ----- model -> nodes (lock held) -------------------------------------------------

    def sync(self) -> None:
        """Turn new pool-model node events into Node changes; wake watchers."""
        events = self.app.cluster.node_events
        if self._cursor >= len(events):
            return
        by_name = {n.name: n for n in self.app.cluster.nodes}
        for ev in events[self._cursor :]:
            node = by_name[ev["node"]]
            if ev["event"] == "add":
                obj = self._node_object(node, ready_t=None)
                self._emit("ADDED", obj)
            elif ev["event"] == "ready":
                self._emit("MODIFIED", self._node_object(node, ready_t=ev["t"]))
            elif ev["event"] == "remove":
                last = self.nodes.get(node.name)
                if last is not None:
                    self._emit("DELETED", last)
        self._cursor = len(events)
        self.cond.notify_all()

    def _bump(self) -> int:
        self.rv += 1
        return self.rv

    def _emit(self, kind: str, obj: dict[str, Any]) -> None:
        rv = self._bump()
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(rv)}}
        if kind == "DELETED":
            self.nodes.pop(obj["metadata"]["name"], None)
        else:
            self.nodes[obj["metadata"]["name"]] = obj
        if len(self.events) == self.events.maxlen:
            self.compacted = self.events[0][0]
        self.events.append((rv, kind, obj))

    def _node_object(self, n: Node, ready_t: float | None) -> dict[str, Any]:
        tl = self.app.timeline
        created = iso_ms(tl.epoch(n.requested_t))
        ready = ready_t is not None
        changed = iso_ms(tl.epoch(ready_t)) if ready_t is not None else created
        spec = n.spec
        cores, mem = spec.cores_per_node, spec.memory_mb_per_node
        itype = self.spec.instance_type or (
            f"Standard_{'E' if mem / cores >= 8192 else 'D'}{int(cores)}s_v5"
        )
        m = _B36.search(n.name)
        index = int(m.group(1), 36) if m else n.number
        ident = uuid.uuid5(uuid.NAMESPACE_URL, f"jes-emulator/node/{n.name}")
        labels = {
            "agentpool": n.pool,
            "kubernetes.azure.com/agentpool": n.pool,
            "kubernetes.azure.com/mode": "user",
            "kubernetes.azure.com/role": "agent",
            "kubernetes.io/hostname": n.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/role": "agent",
            "node.kubernetes.io/instance-type": itype,
            "topology.kubernetes.io/region": "eastus",
            "topology.kubernetes.io/zone": "0",
            "workload.sas.com/class": "compute",
        }
        taints = [{"key": "workload.sas.com/class", "value": "compute", "effect": "NoSchedule"}]
        if not ready:
            taints.append(
                {
                    "key": "node.kubernetes.io/not-ready",
                    "effect": "NoSchedule",
                    "timeAdded": created,
                }
            )

        def cond(type_: str, ok: bool, reason: str, message: str) -> dict[str, Any]:
            return {
                "type": type_,
                "status": "True" if ok else "False",
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": changed,
                "lastTransitionTime": changed if type_ == "Ready" else created,
            }

        alloc_mem = int(mem * 0.8)
        return {
            "kind": "Node",
            "apiVersion": "v1",
            "metadata": {
                "name": n.name,
                "uid": str(ident),
                "resourceVersion": "0",
                "creationTimestamp": created,
                "labels": labels,
                "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            },
            "spec": {
                "providerID": (
                    "azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
                    f"mc_viya_emulator_eastus/providers/Microsoft.Compute/virtualMachineScaleSets/"
                    f"aks-{n.pool}-{spec.vmss_id}-vmss/virtualMachines/{index}"
                ),
                "taints": taints,
            },
            "status": {
                "capacity": {"cpu": f"{cores:g}", "memory": f"{int(mem)}Mi", "pods": "110"},
                "allocatable": {
                    "cpu": f"{int(cores * 1000 - 140)}m",
                    "memory": f"{alloc_mem}Mi",
                    "pods": "110",
                },
                "conditions": [
                    cond(
                        "MemoryPressure",
                        False,
                        "KubeletHasSufficientMemory",
                        "kubelet has sufficient memory available",
                    ),
                    cond(
                        "DiskPressure",
                        False,
                        "KubeletHasNoDiskPressure",
                        "kubelet has no disk pressure",
                    ),
                    cond(
                        "PIDPressure",
                        False,
                        "KubeletHasSufficientPID",
                        "kubelet has sufficient PID available",
                    ),
                    cond(
                        "Ready",
                        ready,
                        "KubeletReady" if ready else "KubeletNotReady",
                        "kubelet is posting ready status"
                        if ready
                        else "container runtime network not ready: NetworkReady=false",
                    ),
                ],
                "addresses": [
                    {
                        "type": "InternalIP",
                        "address": f"10.224.{n.number // 250}.{n.number % 250 + 4}",
                    },
                    {"type": "Hostname", "address": n.name},
                ],
                "nodeInfo": {
                    "architecture": "amd64",
                    "bootID": str(uuid.uuid5(ident, "boot")),
                    "containerRuntimeVersion": "containerd://1.7.22-1",
                    "kernelVersion": "5.15.0-1073-azure",
                    "kubeProxyVersion": "v1.30.6",
                    "kubeletVersion": "v1.30.6",
                    "machineID": ident.hex,
                    "operatingSystem": "linux",
                    "osImage": "Ubuntu 22.04.5 LTS",
                    "systemUUID": str(uuid.uuid5(ident, "system")),
                },
            },
        }

    # ----- admin API ------------------------------------------------------------------

    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /emulator/k8s: ``token``, ``forbidden``, ``secrets`` [{namespace, name, string_data}],
        ``expire_watches`` (end open watches with a 410 and forget the event log)."""
        with self.app.lock:
            self.app.sync()
            if "token" in body:
                self.token = body["token"] or None
            if "forbidden" in body:
                self.forbidden = bool(body["forbidden"])
            for s in body.get("secrets") or []:
                self.put_secret(
                    s.get("namespace", "default"), s["name"], s.get("string_data") or {}
                )
            if body.get("expire_watches"):
                self.expire_watches()
            return self.state()

    def expire_watches(self) -> None:
        """Compact the event log: open watches get ERROR 410 and must re-list (as after etcd compaction)."""
        with self.app.lock:
            self.events.clear()
            self.compacted = self.rv
            self.expired += 1
            self.cond.notify_all()

    def state(self) -> dict[str, Any]:
        with self.app.lock:
            return {
                "resourceVersion": str(self.rv),
                "token_required": self.token is not None,
                "forbidden": self.forbidden,
                "nodes": sorted(self.nodes),
                "secrets": {
                    f"{ns}/{name}": {
                        "resourceVersion": s["metadata"]["resourceVersion"],
                        "data": self.secret_data(ns, name),
                    }
                    for (ns, name), s in sorted(self.secrets.items())
                },
                "requests": dict(sorted(self.counts.items())),
            }

    def put_secret(
        self,
        namespace: str,
        name: str,
        string_data: dict[str, str],
        owner_references: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Create or replace a Secret's data (test setup); ``owner_references`` as an operator sets them."""
        with self.app.lock:
            old = self.secrets.get((namespace, name))
            extra = {"ownerReferences": owner_references} if owner_references else None
            return self._store_secret(
                namespace,
                name,
                _b64_map(string_data),
                old["metadata"] if old else {},
                extra_meta=extra,
            )

    def secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        """The Secret's data, decoded (None when absent)."""
        with self.app.lock:
            s = self.secrets.get((namespace, name))
            if s is None:
                return None
            return {k: base64.b64decode(v).decode() for k, v in (s.get("data") or {}).items()}

    def _store_secret(
        self,
        namespace: str,
        name: str,
        data: dict[str, str],
        meta: dict[str, Any],
        type_: str = "Opaque",
        extra_meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        created = meta.get("creationTimestamp") or iso_ms(time.time())
        md: dict[str, Any] = {
            "name": name,
            "namespace": namespace,
            "uid": meta.get("uid") or str(uuid.uuid4()),
            "resourceVersion": str(self._bump()),
            "creationTimestamp": created,
        }
        for key in ("labels", "annotations", "ownerReferences"):
            val = (extra_meta or {}).get(key, meta.get(key))
            if val:
                md[key] = val
        obj = {"kind": "Secret", "apiVersion": "v1", "metadata": md, "type": type_, "data": data}
        self.secrets[(namespace, name)] = obj
        return obj

    # ----- request guard ------------------------------------------------------------------

    def guard(self, req: Request, verb: str, resource: str, namespace: str | None = None) -> None:
        if self.token is not None:
            header = req.headers.get("Authorization") or ""
            if header != f"Bearer {self.token}":
                raise KubeError(401, "Unauthorized", "Unauthorized")
        if self.forbidden:
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            raise KubeError(
                403,
                "Forbidden",
                f'{resource} is forbidden: User "system:serviceaccount:jes:jes-runner" cannot {verb} '
                f'resource "{resource}" in API group "" {scope}',
                {"kind": resource},
            )


def _b64_map(data: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(str(v).encode()).decode() for k, v in data.items()}


def _rv_param(raw: str | None) -> int | None:
    if raw in (None, "", "0"):
        return None
    try:
        return int(str(raw))
    except ValueError:
        raise KubeError(400, "BadRequest", f"invalid resource version: {raw}") from None


def _kube(func: Callable[[Emulator, Request], Response]) -> Callable[[Emulator, Request], Response]:
    """Turn KubeError into its Status response."""

    def wrapper(app: Emulator, req: Request) -> Response:
        try:
            return func(app, req)
        except KubeError as e:
            return e.response

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


# ----- nodes -------------------------------------------------------------------------


@_kube
def list_nodes(app: Emulator, req: Request) -> Response:
    k = app.k8s
    q = req.query
    watch = q.get("watch", "").lower() in ("true", "1")
    k.guard(req, "watch" if watch else "list", "nodes")
    match_labels = label_selector(q.get("labelSelector"))
    match_fields = field_selector(q.get("fieldSelector"))

    def matches(obj: dict[str, Any]) -> bool:
        return match_labels(obj["metadata"].get("labels") or {}) and match_fields(obj)

    if watch:
        return _watch(app, req, matches)
    with app.lock:
        app.sync()
        k.counts["list nodes"] += 1
        items = [o for _, o in sorted(k.nodes.items()) if matches(o)]
        rv = k.rv
    start = 0
    if q.get("continue"):
        try:
            token = json.loads(base64.urlsafe_b64decode(q["continue"]))
            start, token_rv = int(token["start"]), int(token["rv"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise KubeError(400, "BadRequest", "continue key is not valid") from None
        if token_rv < k.compacted:
            raise KubeError(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result.",
            )
    limit = int(q["limit"]) if q.get("limit", "").isdigit() and int(q["limit"]) > 0 else 0
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if limit:
        page = items[start : start + limit]
        if start + limit < len(items):
            meta["continue"] = base64.urlsafe_b64encode(
                json.dumps({"start": start + limit, "rv": rv}).encode()
            ).decode()
            meta["remainingItemCount"] = len(items) - start - limit
        items = page
    return Response(
        200, {"kind": "NodeList", "apiVersion": "v1", "metadata": meta, "items": items}, JSON
    )


def _line(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"


def _watch(app: Emulator, req: Request, matches: Callable[[dict[str, Any]], bool]) -> Response:
    k = app.k8s
    q = req.query
    since = _rv_param(q.get("resourceVersion"))
    try:
        timeout = float(q.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT_S)
    except ValueError:
        raise KubeError(400, "BadRequest", "timeoutSeconds must be a number") from None
    bookmarks = q.get("allowWatchBookmarks", "").lower() in ("true", "1")
    with app.lock:
        app.sync()
        k.counts["watch nodes"] += 1
        first: list[bytes] = []
        if since is None:  # "most recent": synthetic ADDED for what exists now
            first = [_line("ADDED", o) for _, o in sorted(k.nodes.items()) if matches(o)]
            since = k.rv
        elif since < k.compacted:
            gone = status(
                410, "Expired", f"too old resource version: {since} ({k.compacted + 1})"
            ).body
            return Response(200, None, JSON, stream=iter([_line("ERROR", gone)]))
        generation = k.expired

    def stream() -> Iterator[bytes]:
        last = since
        yield from first
        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + k.spec.bookmark_interval_s
        while not app._stop.is_set():
            out: list[bytes] = []
            with k.cond:
                now = time.monotonic()
                if now >= deadline:
                    return
                wait = min(deadline, next_bookmark if bookmarks else deadline, now + 0.5) - now
                if not any(rv > last for rv, _, _ in k.events) and k.expired == generation:
                    k.cond.wait(max(0.0, wait))
                if k.expired != generation:
                    gone = status(410, "Expired", f"too old resource version: {last} ({k.rv})").body
                    out.append(_line("ERROR", gone))
                else:
                    for rv, kind, obj in k.events:
                        if rv > last:
                            last = rv
                            if matches(obj):
                                out.append(_line(kind, obj))
                    if bookmarks and time.monotonic() >= next_bookmark:
                        next_bookmark = time.monotonic() + k.spec.bookmark_interval_s
                        out.append(
                            _line(
                                "BOOKMARK",
                                {
                                    "kind": "Node",
                                    "apiVersion": "v1",
                                    "metadata": {"resourceVersion": str(k.rv)},
                                },
                            )
                        )
                        last = max(last, k.rv)
            yield from out
            if out and out[-1].startswith(b'{"type":"ERROR"'):
                return

    return Response(200, None, JSON, stream=stream())


@_kube
def get_node(app: Emulator, req: Request) -> Response:
    k = app.k8s
    k.guard(req, "get", "nodes")
    with app.lock:
        app.sync()
        obj = k.nodes.get(req.params["name"])
    if obj is None:
        raise KubeError(
            404,
            "NotFound",
            f'nodes "{req.params["name"]}" not found',
            {"name": req.params["name"], "kind": "nodes"},
        )
    return Response(200, obj, JSON)


# ----- secrets -----------------------------------------------------------------------


def _not_found(name: str) -> KubeError:
    return KubeError(
        404, "NotFound", f'secrets "{name}" not found', {"name": name, "kind": "secrets"}
    )


def _data_from(body: dict[str, Any], base: dict[str, str]) -> dict[str, str]:
    data = dict(base)
    raw = body.get("data")
    if raw is not None and not isinstance(raw, dict):
        raise KubeError(400, "BadRequest", "data: must be an object of base64 strings")
    for key, val in (raw or {}).items():
        if val is None:  # merge patch: null deletes the key
            data.pop(key, None)
            continue
        try:
            base64.b64decode(str(val), validate=True)
        except (binascii.Error, ValueError):
            raise KubeError(
                422, "Invalid", f'Secret "data[{key}]" is invalid: illegal base64 data'
            ) from None
        data[key] = str(val)
    for key, val in (body.get("stringData") or {}).items():
        data[key] = base64.b64encode(str(val).encode()).decode()
    return data


def _check_rv(body: dict[str, Any], current: dict[str, Any], name: str) -> None:
    want = (body.get("metadata") or {}).get("resourceVersion")
    if want is not None and str(want) != current["metadata"]["resourceVersion"]:
        raise KubeError(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on secrets "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again",
            {"name": name, "kind": "secrets"},
        )


@_kube
def get_secret(app: Emulator, req: Request) -> Response:
    k, ns, name = app.k8s, req.params["namespace"], req.params["name"]
    k.guard(req, "get", "secrets", ns)
    with app.lock:
        k.counts["get secret"] += 1
        obj = k.secrets.get((ns, name))
    if obj is None:
        raise _not_found(name)
    return Response(200, obj, JSON)


@_kube
def create_secret(app: Emulator, req: Request) -> Response:
    k, ns = app.k8s, req.params["namespace"]
    k.guard(req, "create", "secrets", ns)
    body = _json_object(req)
    name = (body.get("metadata") or {}).get("name")
    if not name:
        raise KubeError(
            422, "Invalid", 'Secret "" is invalid: metadata.name: Required value: name is required'
        )
    with app.lock:
        k.counts["create secret"] += 1
        if (ns, name) in k.secrets:
            raise KubeError(
                409,
                "AlreadyExists",
                f'secrets "{name}" already exists',
                {"name": name, "kind": "secrets"},
            )
        obj = k._store_secret(
            ns, name, _data_from(body, {}), {}, body.get("type") or "Opaque", body.get("metadata")
        )
    return Response(201, obj, JSON)


@_kube
def replace_secret(app: Emulator, req: Request) -> Response:
    k, ns, name = app.k8s, req.params["namespace"], req.params["name"]
    k.guard(req, "update", "secrets", ns)
    body = _json_object(req)
    with app.lock:
        k.counts["replace secret"] += 1
        cur = k.secrets.get((ns, name))
        if cur is None:
            raise _not_found(name)
        _check_rv(body, cur, name)
        obj = k._store_secret(
            ns, name, _data_from(body, {}), cur["metadata"], cur["type"], body.get("metadata")
        )
    return Response(200, obj, JSON)


@_kube
def patch_secret(app: Emulator, req: Request) -> Response:
    k, ns, name = app.k8s, req.params["namespace"], req.params["name"]
    k.guard(req, "patch", "secrets", ns)
    ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip()
    try:
        body = json.loads(req.body or b"null")
    except ValueError:
        raise KubeError(400, "BadRequest", "the request body is not valid JSON") from None
    with app.lock:
        k.counts["patch secret"] += 1
        cur = k.secrets.get((ns, name))
        if cur is None:
            raise _not_found(name)
        if ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            if not isinstance(body, dict):
                raise KubeError(400, "BadRequest", "a merge patch must be a JSON object")
            _check_rv(body, cur, name)
            data = _data_from(body, cur.get("data") or {})
            meta = _merge_meta(cur["metadata"], body.get("metadata") or {})
        elif ctype == "application/json-patch+json":
            data, meta = _json_patch(cur, body, name)
        else:
            raise KubeError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {ctype or 'none'})",
            )
        obj = k._store_secret(ns, name, data, cur["metadata"], cur["type"], meta)
    return Response(200, obj, JSON)


def _merge_meta(cur: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("labels", "annotations"):
        merged = dict(cur.get(key) or {})
        for k, v in (patch.get(key) or {}).items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = str(v)
        out[key] = merged
    return out


def _json_patch(cur: dict[str, Any], ops: Any, name: str) -> tuple[dict[str, str], dict[str, Any]]:
    """RFC 6902 on data/metadata.labels/annotations: add, replace, remove, test."""
    if not isinstance(ops, list):
        raise KubeError(400, "BadRequest", "a JSON patch must be a list of operations")
    doc = {
        "data": dict(cur.get("data") or {}),
        "metadata": {
            "labels": dict(cur["metadata"].get("labels") or {}),
            "annotations": dict(cur["metadata"].get("annotations") or {}),
            "resourceVersion": cur["metadata"]["resourceVersion"],
        },
    }
    for op in ops:
        if not isinstance(op, dict) or "path" not in op:
            raise KubeError(400, "BadRequest", "each JSON patch operation needs op and path")
        parts = [p.replace("~1", "/").replace("~0", "~") for p in str(op["path"]).split("/")[1:]]
        target: Any = doc
        for p in parts[:-1]:
            if not isinstance(target, dict) or p not in target:
                raise KubeError(422, "Invalid", f"jsonpatch: path {op['path']} does not exist")
            target = target[p]
        leaf = parts[-1] if parts else ""
        kind = op.get("op")
        if kind == "test":
            if target.get(leaf) != op.get("value"):
                if parts == ["metadata", "resourceVersion"]:
                    _check_rv({"metadata": {"resourceVersion": op.get("value")}}, cur, name)
                raise KubeError(
                    422, "Invalid", f"jsonpatch: test operation for path {op['path']} failed"
                )
        elif kind in ("add", "replace"):
            if kind == "replace" and leaf not in target:
                raise KubeError(
                    422,
                    "Invalid",
                    f"jsonpatch replace operation does not apply: doc is missing key: {op['path']}",
                )
            target[leaf] = op.get("value")
        elif kind == "remove":
            if leaf not in target:
                raise KubeError(
                    422,
                    "Invalid",
                    f"jsonpatch remove operation does not apply: doc is missing key: {op['path']}",
                )
            del target[leaf]
        else:
            raise KubeError(400, "BadRequest", f"jsonpatch: unsupported operation {kind!r}")
    data = _data_from({"data": doc["data"]}, {})
    return data, {
        "labels": doc["metadata"]["labels"],
        "annotations": doc["metadata"]["annotations"],
    }


def _json_object(req: Request) -> dict[str, Any]:
    try:
        body = json.loads(req.body or b"null")
    except ValueError:
        raise KubeError(400, "BadRequest", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise KubeError(400, "BadRequest", "the request body must be a JSON object")
    return body


# ----- admin --------------------------------------------------------------------------


def admin_get(app: Emulator, req: Request) -> Response:
    return Response(200, app.k8s.state())


def admin_post(app: Emulator, req: Request) -> Response:
    try:
        body = json.loads(req.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return status(400, "BadRequest", "the body must be a JSON object")
    try:
        return Response(200, app.k8s.configure(body))
    except (KeyError, TypeError) as e:
        return status(400, "BadRequest", f"bad admin request: {e}")
