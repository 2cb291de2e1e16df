"""The :class:`Emulator`: scenario + model + auth + faults behind a threaded HTTP server.

One lock guards all state. Every request (and a ticker thread every
``tick_interval`` real seconds) first advances the model to "now" (wall clock /
speed_factor), so the cluster evolves even when nobody asks.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from jes_runner.emulator.catalog import Catalog
from jes_runner.emulator.clock import Timeline, iso_ms
from jes_runner.emulator.faults import FaultInjector
from jes_runner.emulator.http import emulator_identity
from jes_runner.emulator.k8s import KubeApi
from jes_runner.emulator.tokens import TokenService
from jes_runner.emulator.views import Views
from jes_runner.errors import ConfigError, JesError
from jes_runner.sim.model import Cluster
from jes_runner.sim.scenario import FaultsSpec, Scenario, default_scenario, load_scenario

DEFAULT_USER = "jes"
DEFAULT_PASSWORD = "jes-demo-password"


log = logging.getLogger("jes_runner.emulator")

EVICT_EVERY_S = 10.0  # how often the ticker forgets ended jobs past the retention window


class Emulator:
    """An in-process SAS Viya emulator; use as a context manager or start()/stop().

    ``scenario``: a :class:`Scenario`, a path to a YAML/JSON scenario, or None for
    the default. ``speed_factor``, ``seed``, ``access_token_lifetime`` (real s) and
    ``faults`` (a FaultsSpec-shaped dict) override the scenario's values.
    """

    def __init__(
        self,
        scenario: Scenario | str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = DEFAULT_USER,
        password: str = DEFAULT_PASSWORD,
        *,
        speed_factor: float | None = None,
        seed: int | None = None,
        access_token_lifetime: float | None = None,
        faults: dict[str, Any] | None = None,
        tick_interval: float = 0.05,
        limits: dict[str, Any] | None = None,
    ) -> None:
        if scenario is None:
            sc = default_scenario()
        elif isinstance(scenario, Scenario):
            sc = scenario
        else:
            sc = load_scenario(scenario)
        updates: dict[str, Any] = {}
        if speed_factor is not None:
            if speed_factor <= 0:
                raise ConfigError(f"speed_factor: must be > 0 (got {speed_factor})")
            updates["speed_factor"] = speed_factor
        if seed is not None:
            updates["seed"] = seed
        if access_token_lifetime is not None:
            updates["auth"] = sc.auth.model_copy(
                update={"access_token_lifetime_s": access_token_lifetime}
            )
        if faults is not None:
            updates["faults"] = _faults_spec(faults)
        self.scenario = sc.model_copy(update=updates) if updates else sc
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.tick_interval = tick_interval
        self.limits = dict(limits or {})  # HTTP limits (server.py): idle/request timeouts, body cap
        self.lock = threading.RLock()
        self.timeline = Timeline(self.scenario.speed_factor)
        self.cluster = Cluster(self.scenario)
        self.catalog = Catalog(self.scenario)
        self.faults = FaultInjector(self.scenario.faults, 0.0)
        self.views = Views(self.cluster, self.timeline, self.faults)
        self.tokens = TokenService(self.scenario.auth, {username: password})
        self.requests: Counter[str] = Counter()
        self.deleted: set[str] = set()
        self.k8s = KubeApi(self)  # the small Kubernetes API: nodes of the pool model, Secrets
        self._server: Any = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    # ----- lifecycle ----------------------------------------------------------

    def start(self) -> Emulator:
        # late: server imports this module's types
        from jes_runner.emulator.server import make_server

        try:
            self._server = make_server(self, self.host, self.port, **self.limits)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise JesError(
                    f"emulator: port {self.port} on {self.host} is already in use; fix: pass --port with a free port (or 0 for any)"
                ) from e
            raise JesError(
                f"emulator: cannot listen on {self.host}:{self.port} ({e.strerror}); fix: check --host/--port"
            ) from e
        self.port = self._server.server_address[1]
        if not _loopback(self.host):
            log.warning(
                "emulator: listening on %s, beyond loopback: anyone who can reach it can use its admin "
                "endpoints (/emulator/*, no auth) and the demo credentials -- bind 127.0.0.1 unless "
                "that is what you want",
                self.host,
            )
        self.tokens.issuer = f"{self.url}/SASLogon/oauth/token"
        with self.lock:
            self.timeline.origin = time.time()  # model t=0 is now
        self._stop.clear()
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="emulator-http",
                daemon=True,
            ),
            threading.Thread(target=self._tick, name="emulator-ticker", daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _tick(self) -> None:
        next_evict = time.monotonic() + EVICT_EVERY_S
        while not self._stop.wait(self.tick_interval):
            with self.lock:
                now = self.sync()
                if time.monotonic() >= next_evict:
                    next_evict = time.monotonic() + EVICT_EVERY_S
                    self.evict(now)

    def evict(self, now: float) -> int:
        """Forget jobs that ended more than ``job_retention_s`` real seconds ago; call with the lock held."""
        cutoff = now - self.scenario.job_retention_s / self.timeline.scale
        gone = self.cluster.evict_ended_before(cutoff)
        self.deleted.difference_update(gone)
        return len(gone)

    # ----- state --------------------------------------------------------------

    def sync(self) -> float:
        """Advance the model to the wall clock; call with the lock held."""
        now = self.timeline.model_now()
        self.cluster.advance(now)
        self.k8s.sync()
        return self.cluster.now

    def count(self, endpoint: str) -> None:
        """One request to ``endpoint`` ("METHOD /template"; unknown paths share one bucket)."""
        with self.lock:
            self.requests[endpoint] += 1

    def set_faults(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Replace the active faults (same body as POST /emulator/faults)."""
        parsed = _faults_spec(spec)
        with self.lock:
            now = self.sync()
            self.faults.apply(parsed, now)
            self.cluster.job_failure_rate = parsed.job_failure_rate
            return parsed.model_dump()

    def identity(self) -> str:
        """What every response says about this emulator (the ``X-Jes-Emulator`` header)."""
        return emulator_identity(self.scenario.speed_factor, self.scenario.name)

    def ground_truth(self) -> dict[str, Any]:
        """The true history: jobs, nodes, node events, request counts, injected faults."""
        with self.lock:
            now = self.sync()
            tl, v = self.timeline, self.views

            def stamp(prefix: str, t: float | None) -> dict[str, Any]:
                return {
                    f"{prefix}_time": tl.iso(t),
                    f"{prefix}_epoch": None if t is None else round(tl.epoch(t), 6),
                }

            jobs = []
            for j in self.cluster.job_list:
                rec: dict[str, Any] = {
                    "id": j.id,
                    "name": j.name,
                    "state": j.state,
                    "jes_state": v.jes_state(j),
                    "context": j.context,
                    "queue": j.queue,
                    "host": j.node.name if j.node else None,
                    "orchestrator_id": j.orch_id,
                    "orchestrator_name": j.orch_name,
                    "definition_id": j.definition_id,
                    "failure": j.fail_reason,
                    "deleted": j.id in self.deleted,
                }
                rec.update(stamp("submit", j.submit_t))
                rec.update(stamp("start", j.dispatch_t))
                rec.update(stamp("running", j.run_t))
                rec.update(stamp("end", j.end_t))
                rec.update(stamp("jes_end", v.jes_end(j)))
                end = j.end_t if j.end_t is not None else now
                rec["pending_seconds"] = tl.real_seconds(
                    (j.dispatch_t if j.dispatch_t is not None else end) - j.submit_t
                )
                rec["starting_seconds"] = tl.real_seconds(
                    ((j.run_t if j.run_t is not None else end) - j.dispatch_t)
                    if j.dispatch_t is not None
                    else 0.0
                )
                rec["running_seconds"] = tl.real_seconds(
                    end - j.run_t if j.run_t is not None else 0.0
                )
                jobs.append(rec)
            nodes = []
            for n in self.cluster.nodes:
                rec = {
                    "name": n.name,
                    "pool": n.pool,
                    "state": n.state,
                    "slots": n.spec.slots_per_node,
                    "jobs_run": n.jobs_run,
                    "jobs_now": len(n.jobs),
                }
                rec.update(stamp("requested", n.requested_t))
                rec.update(stamp("ready", n.ready_t))
                rec.update(stamp("removed", n.removed_t))
                nodes.append(rec)
            events = [{**e, **stamp("", e["t"])} for e in self.cluster.node_events]
            for e in events:
                e["time"], e["epoch"] = e.pop("_time"), e.pop("_epoch")
                e["model_t"] = round(e.pop("t"), 6)
            return {
                "generated_time": iso_ms(time.time()),
                "scenario": self.scenario.name,
                "speed_factor": self.scenario.speed_factor,
                "model_now_s": round(now, 6),
                "origin_epoch": tl.origin,
                "jobs": jobs,
                "nodes": nodes,
                "node_events": events,
                "requests": dict(sorted(self.requests.items())),
                "faults_injected": list(self.faults.injected),
                "faults_injected_counts": dict(
                    Counter(f"{f['kind']} {f['endpoint']}" for f in self.faults.injected)
                ),
                "faults": self.faults.spec.model_dump(),
            }


def _faults_spec(spec: dict[str, Any] | FaultsSpec) -> FaultsSpec:
    if isinstance(spec, FaultsSpec):
        return spec
    try:
        return FaultsSpec.model_validate(spec)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"faults: {loc}: {err['msg']}") from e


def _loopback(host: str) -> bool:
    import ipaddress

    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
