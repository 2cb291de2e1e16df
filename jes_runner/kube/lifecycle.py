"""The Kubernetes lifecycle of one run, as hooks the run calls (``cli.session`` wires them).

* phase start: re-read the secrets directory (a refreshed Secret is picked up
  without a restart), then start watching the compute nodes (Kubernetes list +
  watch; the orchestrator's hosts when there is no cluster access);
* phase end (enricher): stop the watch, write ``node_timeline`` / ``scaling``
  into the phase and update ``stats.peak_nodes``;
* a new refresh token from SASLogon: persisted to the Secret (under its mapped key;
  to the runner-owned Secret when an operator owns it) or the token file;
* at start: a rotated token a previous run kept in the runner-owned Secret is read
  back first (see tokens.read_back).

Nothing here can fail a run: every problem becomes a warning line or a note.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jes_runner.kube.config import KubeAccess, connect, pod_namespace
from jes_runner.kube.nodes import (
    HostPoller,
    KubeUnavailable,
    NodeWatcher,
    ObservedNodes,
    node_state,
    pool_from_name,
)
from jes_runner.kube.scaling import apply_to_phase
from jes_runner.kube.tokens import (
    FileStore,
    SecretsDirReloader,
    SecretStore,
    TokenPersister,
    WriteBack,
    fingerprint,
    read_back,
)
from jes_runner.viya import ViyaClient

if TYPE_CHECKING:
    from jes_runner.config.settings import Settings
    from jes_runner.measure.executor import PhaseOutcome
    from jes_runner.measure.plan import PhasePlan

log = logging.getLogger("jes_runner.kube")


class KubeLifecycle:
    def __init__(self, settings: Settings, *, emulated: bool = False) -> None:
        self.settings = settings
        self.emulated = emulated
        # set by the caller once the client exists (the client's refresh hook is this object's)
        self._client: ViyaClient | None = None
        self._kept_token: str | None = None  # read back from the runner-owned Secret
        self._access: KubeAccess | None = None
        self._watcher: NodeWatcher | HostPoller | None = None
        self._fallback_note: str | None = None
        self._kube_refused: str | None = None
        self.reloader = SecretsDirReloader(self.settings.secrets_dir)
        self._refresh = self.settings.secret("refresh_token")
        self._own_store: SecretStore | None = None
        self.persister = self._make_persister()
        self._read_back()
        self.observed: dict[str, ObservedNodes | None] = {}  # phase name -> what was seen
        self.grown_pools: set[str] = set()  # pools that gained nodes during this run
        self.context_pools: dict[str, set[str]] = {}  # compute context -> pools its jobs ran on
        self.cold: dict[str, dict[str, Any]] = {}  # phase name -> the cold-start wait
        self._sleep: Callable[[float], None] = time.sleep
        self._now: Callable[[], float] = time.monotonic

    @property
    def client(self) -> ViyaClient | None:
        return self._client

    @client.setter
    def client(self, client: ViyaClient | None) -> None:
        """The run's client; it starts from the token kept by a previous run, if any."""
        self._client = client
        if client is not None and self._kept_token:
            client.auth.update_credentials(refresh_token=self._kept_token)

    # ----- access ---------------------------------------------------------------------

    def access(self) -> KubeAccess:
        if self._access is None:
            s = self.settings
            self._access = connect(s.kube_api_url, s.secret("kube_api_token"))
        return self._access

    def namespace(self) -> str:
        return self.settings.token_secret_namespace or pod_namespace() or "default"

    # ----- tokens ---------------------------------------------------------------------

    def _make_persister(self) -> TokenPersister:
        s = self.settings
        mode = s.persist_tokens
        store: WriteBack | FileStore | None = None
        why: str | None = None
        if mode == "off":
            return TokenPersister(None)
        if mode in ("secret", "auto") and s.token_secret_name:
            access = self.access()
            if access.ok:
                target = SecretStore(
                    access, self.namespace(), s.token_secret_name, key_map=s.token_secret_keys
                )
                if s.token_store_secret_name:
                    self._own_store = SecretStore(
                        access, self.namespace(), s.token_store_secret_name
                    )
                store = WriteBack(
                    target,
                    self._own_store,
                    operator_managed=s.token_secret_operator_managed,
                    replaces=fingerprint(self._refresh) if self._refresh else None,
                )
            else:
                why = f"no Kubernetes API for Secret {s.token_secret_name}: {access.reason}"
        elif mode == "secret":
            why = "persist_tokens=secret needs JES_TOKEN_SECRET_NAME"
        if store is None and mode in ("file", "auto"):
            d = s.secrets_dir
            writable = d.is_dir() and os.access(d, os.W_OK)
            if mode == "file" or writable:
                store = FileStore(d)
            elif why is None:
                why = (
                    f"the secrets directory {d} is not writable; set JES_TOKEN_SECRET_NAME to write "
                    "it back to its Secret"
                )
        on_saved = (
            (lambda tok: self.reloader.wrote("refresh_token", tok))
            if isinstance(store, FileStore)
            else None
        )
        return TokenPersister(store, on_saved=on_saved, unavailable=why)

    def _read_back(self) -> None:
        """Before the first token request: a newer token a previous run kept in the runner-owned Secret."""
        if self._own_store is None or self.emulated:
            return
        token = read_back(self._own_store, self._refresh)
        if token and token != self._refresh:
            self.reloader.replaced(self._refresh)
            self._refresh = token
            self._kept_token = token

    def new_refresh_token(self, token: str) -> None:
        self.reloader.replaced(self._refresh)
        self._refresh = token
        if self.settings.persist_tokens != "off":
            self.persister(token)

    def reload_credentials(self) -> list[str]:
        """Apply what changed in the secrets directory since the last look; returns the key names."""
        if self.emulated or self.client is None:  # demo: the emulator's own credentials only
            return []
        changes = self.reloader.changes()  # the credential keys only (config.secrets)
        if not changes:
            return []
        self.client.auth.update_credentials(**changes)
        if "refresh_token" in changes:
            self._refresh = changes["refresh_token"]
        log.info(
            "secrets directory changed: using the new %s",
            ", ".join(sorted(changes)),
            extra={"event": "credentials_reloaded", "keys": sorted(changes)},
        )
        return sorted(changes)

    # ----- node timeline -----------------------------------------------------------------

    def _start_watch(self) -> None:
        s = self.settings
        self._fallback_note = None
        if s.node_timeline == "off":
            return
        if s.node_timeline == "auto" and self._kube_refused is None:
            access = self.access()
            if access.ok:
                try:
                    self._watcher = NodeWatcher(
                        access, s.node_selector, request_timeout_s=min(15.0, s.request_timeout_s)
                    ).start()
                    return
                except KubeUnavailable as e:
                    self._kube_refused = str(e)
            else:
                self._kube_refused = access.reason or "unavailable"
            log.warning(
                "no Kubernetes node data (%s); the node timeline falls back to the Workload "
                "Orchestrator's hosts",
                self._kube_refused,
            )
        if s.node_timeline == "auto":
            self._fallback_note = (
                f"no Kubernetes node data ({self._kube_refused}); timeline from the "
                "Workload Orchestrator's hosts"
            )
        client = self.client
        if client is None:
            return

        def fetch() -> list[dict[str, Any]]:
            page = client.get_json(
                "/workloadOrchestrator/hosts", {"start": 0, "limit": 1000}, retry=False
            )
            items = page.get("items") if isinstance(page, dict) else None
            return [h for h in items or [] if isinstance(h, dict)]

        self._watcher = HostPoller(fetch, s.node_poll_interval_s).start()

    # ----- cold start -------------------------------------------------------------------

    def list_nodes(self) -> tuple[str, dict[str, str | None]] | None:
        """(source, node name -> pool) now: Kubernetes when reachable, else the orchestrator's hosts."""
        s = self.settings
        if s.node_timeline == "auto" and self._kube_refused is None:
            access = self.access()
            if access.ok:
                try:
                    nl = access.core().list_node(
                        label_selector=s.node_selector or None,
                        _request_timeout=min(15.0, s.request_timeout_s),
                    )
                    return "kubernetes", {
                        n.metadata.name: node_state(n).pool for n in nl.items or []
                    }
                except Exception as e:  # noqa: BLE001 - fall back to the orchestrator
                    log.warning(
                        "cold start: cannot list nodes (%s); counting orchestrator hosts", e
                    )
        if self.client is None:
            return None
        try:
            page = self.client.get_json(
                "/workloadOrchestrator/hosts", {"start": 0, "limit": 1000}, retry=False
            )
        except Exception as e:  # noqa: BLE001
            log.warning("cold start: orchestrator hosts unavailable (%s)", e)
            return None
        items = page.get("items") if isinstance(page, dict) else None
        return "orchestrator", {
            str(h["name"]): (h.get("pool") or pool_from_name(str(h["name"])))
            for h in items or []
            if isinstance(h, dict) and h.get("name")
        }

    def cold_pools(self, phase: PhasePlan) -> list[str]:
        """The phase's pools: configured, else where its context's jobs ran, else those this run grew."""
        if phase.pools:
            return list(phase.pools)
        return sorted(self.context_pools.get(phase.context) or self.grown_pools)

    def wait_for_cold_pool(self, phase: PhasePlan) -> dict[str, Any]:
        """Wait (at most cold_start_timeout_s) until the phase's pools hold at most min_nodes nodes."""
        s = self.settings
        pools = self.cold_pools(phase)
        t0 = self._now()
        out: dict[str, Any] = {
            "pools": pools,
            "minimum_nodes": phase.min_nodes,
            "waited_seconds": 0.0,
            "reached_minimum": None,
            "nodes_at_start": None,
            "source": None,
            "note": None,
        }
        while True:
            seen = self.list_nodes()
            if seen is None:
                out["note"] = "no node data (Kubernetes or orchestrator hosts): not waited"
                break
            out["source"], nodes = seen
            if not pools:
                out["note"] = (
                    "the context's pool is not known yet (set pools: on the phase): not waited; "
                    f"{len(nodes)} node(s) up in all pools"
                )
                break
            n = sum(1 for p in nodes.values() if p in pools)
            out["nodes_at_start"] = n
            waited = self._now() - t0
            out["waited_seconds"] = round(waited, 3)
            if n <= phase.min_nodes:
                out["reached_minimum"] = True
                out["note"] = (
                    f"pool {', '.join(pools)} at {n} node(s) (minimum {phase.min_nodes}) "
                    f"after {waited:.1f} s"
                )
                break
            if waited >= s.cold_start_timeout_s:
                out["reached_minimum"] = False
                out["note"] = (
                    f"pool {', '.join(pools)} still at {n} node(s) (minimum {phase.min_nodes}) after "
                    f"{waited:.1f} s (cold_start_timeout_s): the phase started warm"
                )
                log.warning("phase %s: %s", phase.name, out["note"])
                break
            self._sleep(min(s.cold_start_poll_s, max(0.0, s.cold_start_timeout_s - waited)))
        log.info(
            "phase %s: cold start: %s",
            phase.name,
            out["note"],
            extra={"event": "cold_start", "phase": phase.name, **out},
        )
        return out

    def job_pending(self) -> None:
        """A job of the phase is queued: the orchestrator-hosts fallback takes a look (rate-limited)."""
        w = self._watcher
        if isinstance(w, HostPoller):
            w.poke()

    def phase_started(self, phase: PhasePlan) -> None:
        try:
            self.reload_credentials()
        except Exception as e:  # noqa: BLE001 - a bad file must not stop the run
            log.warning("could not re-read the secrets directory: %s", e.__class__.__name__)
        self._stop_watch()
        if phase.cold_start:
            try:
                self.cold[phase.name] = self.wait_for_cold_pool(phase)
            except Exception as e:  # noqa: BLE001 - the phase runs warm, said in the results
                self.cold[phase.name] = {
                    "waited_seconds": 0.0,
                    "reached_minimum": None,
                    "nodes_at_start": None,
                    "note": f"cold start failed: {e.__class__.__name__}: {e}",
                }
        try:
            self._start_watch()
        except Exception as e:  # noqa: BLE001
            log.warning("node timeline unavailable for phase %s: %s", phase.name, e)
            self._watcher = None

    def _stop_watch(self) -> ObservedNodes | None:
        w, self._watcher = self._watcher, None
        return w.stop() if w is not None else None

    def phase_ended(self, outcome: PhaseOutcome, pd: dict[str, Any]) -> None:
        if self.settings.node_timeline == "off":
            return
        if pd["name"] in self.cold:
            pd["cold_start"] = self.cold[pd["name"]]
        try:
            obs = self._stop_watch()
            self.observed[pd["name"]] = obs
            apply_to_phase(pd, obs, outcome.records, self._fallback_note)
            sc = pd.get("scaling") or {}
            # nodes of the phase's pools already up when it started: what a warm pool gave it
            pd["warm_nodes_at_start"] = (
                len(sc.get("nodes_at_start") or []) if obs is not None and obs.available else None
            )
            self.context_pools.setdefault(pd["context"], set()).update(sc.get("pools") or [])
            self.grown_pools.update(
                e["pool"]
                for e in pd.get("node_timeline") or []
                if e.get("event") == "added" and e.get("pool")
            )
        except Exception as e:  # noqa: BLE001 - figures are a bonus: the phase stays as measured
            log.warning("node timeline for phase %s failed: %s", pd.get("name"), e)

    # ----- wiring -----------------------------------------------------------------------

    def close(self, flush_s: float = 5.0) -> None:
        self._stop_watch()
        if not self.persister.flush(flush_s):
            log.warning("the new refresh token was not persisted before the end of the run")
        if self._access is not None:
            self._access.close()
