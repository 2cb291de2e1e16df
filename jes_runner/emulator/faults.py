"""Fault injection: per-endpoint HTTP faults, job failures, orchestrator outage.

Endpoints are named "METHOD /path/template" (e.g. ``POST /jobExecution/jobs``,
``GET /jobExecution/jobs/{id}/state``) and rules match them with fnmatch globs
(``*``, ``GET /workloadOrchestrator/*``). Admin paths (``/emulator/...``) are
never faulted. For each request the matching rules add their latency, then
decide in this order, first hit wins: connection reset, 429, 5xx error, and
(POST only) drop the reply after processing. Draws come from one seeded RNG and
only for non-zero rates, so a given request sequence gives the same faults.
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass
from typing import Any

from jes_runner.sim.scenario import FaultRule, FaultsSpec


@dataclass
class Decision:
    latency_s: float = 0.0
    action: str | None = None  # "reset" | "throttle" | "error" | "drop"
    status: int = 0
    retry_after: int = 0


class FaultInjector:
    """Holds the active fault set; the caller serialises access (emulator lock)."""

    def __init__(self, spec: FaultsSpec, now_model: float) -> None:
        self.injected: list[dict[str, Any]] = []
        self.apply(spec, now_model)

    def apply(self, spec: FaultsSpec, now_model: float) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.applied_at = now_model

    def _rules(self, endpoint: str, now_model: float | None = None) -> list[FaultRule]:
        return [
            r
            for r in self.spec.rules
            if fnmatch.fnmatchcase(endpoint, r.endpoint) and self._active(r, now_model)
        ]

    def _active(self, rule: FaultRule, now_model: float | None) -> bool:
        if rule.active_for_s is None or now_model is None:
            return rule.active_for_s is None
        start = self.applied_at + rule.active_from_s
        return start <= now_model < start + rule.active_for_s

    def impossible_end(self, job_name: str) -> bool:
        """Serve this job's endTimeStamp before its creation (bad server data)."""
        return any(fnmatch.fnmatchcase(job_name, g) for g in self.spec.impossible_end_jobs)

    def _hit(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def decide(self, endpoint: str, method: str, now_model: float | None = None) -> Decision:
        rules = self._rules(endpoint, now_model)
        d = Decision(latency_s=sum(r.latency_ms for r in rules) / 1000.0)
        for r in rules:
            if self._hit(r.reset_rate):
                d.action = "reset"
            elif self._hit(r.throttle_rate):
                d.action, d.status, d.retry_after = "throttle", 429, r.retry_after_s
            elif self._hit(r.error_rate):
                d.action, d.status = "error", self.rng.choice(r.error_statuses)
            elif method == "POST" and self._hit(r.drop_reply_rate):
                d.action = "drop"
            elif self._hit(r.garbage_rate):
                d.action, d.status = "garbage", 200
            if d.action:
                break
        return d

    def outage(self, now_model: float) -> bool:
        o = self.spec.orchestrator_outage
        if o is None:
            return False
        start = self.applied_at + o.start_s
        return start <= now_model < start + o.duration_s

    def record(
        self, when: str, epoch: float, endpoint: str, kind: str, status: int | None = None
    ) -> None:
        self.injected.append(
            {"time": when, "epoch": epoch, "endpoint": endpoint, "kind": kind, "status": status}
        )
